/**
 * The thread pool's workers in a browser: Web Workers running a classic script made at run time
 * (a Blob's object URL), so that nothing needs bundling beside the library.
 *
 * A Web Worker receives messages only from its event loop, and its job loop blocks in Atomics.wait,
 * outside it. So when a job names a function the worker has not instantiated (its module is in a
 * message not yet delivered), the worker declines the job (DECLINED, then DONE, so the caller runs
 * that share itself) and returns to its event loop. The caller posts a job's modules before the
 * job, so a message is always pending then: the worker takes it, instantiates its modules and
 * re-enters the loop, picking up any job posted meanwhile. No thread ever waits on another's event
 * loop, so nothing deadlocks, whichever thread the caller is.
 *
 * Browsers give SharedArrayBuffer (and shared wasm memories) only to cross-origin isolated pages;
 * elsewhere the pool is not created and the backend runs on one thread.
 */
import type { ControlLayout, PoolWorker, WorkerApi } from "./threads.ts";
import type { WasmMemoryObject } from "./wasm-api.ts";

/** The Web Worker API, typed here: the project's libraries do not include the DOM's. */
interface WebWorker {
  postMessage(message: unknown): void;
  terminate(): void;
}
interface WebGlobals {
  Worker?: new (url: string) => WebWorker;
  Blob?: new (parts: string[], opts: { type: string }) => object;
  URL?: { createObjectURL?(blob: object): string; revokeObjectURL?(url: string): void };
}

/** The worker's program: the same job loop as Node's worker, with modules taken from onmessage. */
function workerSource(L: ControlLayout): string {
  return `"use strict";
let I = null, F = null, env = null, seq = 0, away = false;
const fns = [];
function instantiate(list) {
  for (const [mod, name] of list) {
    try {
      fns.push(new WebAssembly.Instance(mod, { env }).exports[name]);
    } catch (e) {
      // A function that fails when run: its jobs report an error instead of never finishing.
      fns.push(() => { throw e; });
    }
  }
}
function loop() {
  for (;;) {
    // Spin a little before sleeping: kernels come in bursts, and waking a sleeping thread costs
    // more than most kernels take.
    for (let i = 0; i < ${L.SPIN} && Atomics.load(I, ${L.SEQ}) === seq && Atomics.load(I, ${L.QUIET}) === 0; i++);
    Atomics.wait(I, ${L.SEQ}, seq);
    const next = Atomics.load(I, ${L.SEQ});
    if (next < 0) return;
    if (next === seq) continue;
    seq = next;
    const id = I[${L.FN}];
    if (id >= fns.length) {
      // Its module is in a message this loop cannot receive: hand the job back, and go and get it.
      away = true;
      I[${L.DECLINED}] = 1;
      Atomics.store(I, ${L.DONE}, seq);
      Atomics.notify(I, ${L.DONE});
      return;
    }
    const n = I[${L.NARGS}], args = new Array(n);
    for (let i = 0; i < n; i++) args[i] = F[${L.ARGS} + i];
    try {
      fns[id](...args);
    } catch (e) {
      I[${L.ERROR}] = 1;
    }
    Atomics.store(I, ${L.DONE}, seq);
    Atomics.notify(I, ${L.DONE});
  }
}
self.onmessage = (e) => {
  const d = e.data;
  if (I === null) {
    I = new Int32Array(d.control);
    F = new Float64Array(d.control);
    env = { memory: d.memory, exp: Math.exp, log: Math.log, sin: Math.sin, pow: Math.pow, fmod: (a, b) => a % b };
    Atomics.store(I, ${L.READY}, 1);
    loop();
    return;
  }
  instantiate(d);
  if (away) {
    away = false;
    loop();
  }
};
`;
}

/**
 * Web Workers for the pool, or null where the API (or SharedArrayBuffer) is missing. One object
 * URL serves every worker of a pool; closing the pool revokes it.
 */
export function webWorkers(layout: ControlLayout): WorkerApi | null {
  const g = globalThis as WebGlobals;
  const { Worker, Blob, URL } = g;
  if (typeof Worker !== "function" || typeof Blob !== "function" || typeof URL?.createObjectURL !== "function" || typeof SharedArrayBuffer === "undefined") return null;
  let url: string | null = null;
  return {
    kind: "web",
    start(memory: WasmMemoryObject, control: SharedArrayBuffer): PoolWorker {
      url ??= URL.createObjectURL!(new Blob([workerSource(layout)], { type: "text/javascript" }));
      const worker = new Worker(url);
      worker.postMessage({ memory, control });
      return { send: (m) => worker.postMessage(m), stop: () => worker.terminate() };
    },
    close() {
      if (url !== null) URL.revokeObjectURL?.(url);
      url = null;
    },
  };
}
