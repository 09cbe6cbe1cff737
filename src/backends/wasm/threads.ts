/**
 * Worker threads that run wasm functions on the backend's shared memory, so that one kernel's
 * outputs (or one GEMM's rows) are computed by every core.
 *
 * Each worker has a control block in a SharedArrayBuffer: the function to run, its arguments, and
 * two counters (a job's sequence number, and the last one done). The calling thread writes a job,
 * wakes the worker with Atomics.notify, runs its own share, then waits on the done counters.
 * Compiled modules travel once to every worker over a MessagePort, and the worker takes them
 * synchronously (`receiveMessageOnPort`) when a job names a function it has not instantiated, so
 * no job waits for an event loop. Node only: where `worker_threads` is missing (browsers), the
 * backend runs on one thread.
 *
 * Functions a worker runs may import only the memory and Math functions (exp, log, sin, pow,
 * fmod); kernels needing other imports run on the calling thread alone.
 */
import type { WasmMemoryObject } from "./wasm-api.ts";

/** Int32 slots of a control block, then float64 arguments from ARGS (in float64 units). */
const SEQ = 0, DONE = 1, FN = 2, NARGS = 3, ERROR = 4, READY = 5, QUIET = 6;
const ARGS = 4; // float64 index: bytes 32..
const MAX_ARGS = 60;
/**
 * Polls of a control word before a thread sleeps on it (a few microseconds). Longer spins measured
 * slower: a spinning worker slows the calling thread (two vCPUs may share one core).
 */
const SPIN = 2000;
const BLOCK_BYTES = (ARGS + MAX_ARGS) * 8;

/** The worker's program, plain JavaScript so that it runs without the TypeScript loader. */
const WORKER_SOURCE = `
const { workerData, receiveMessageOnPort } = require("node:worker_threads");
const { memory, control, port } = workerData;
const I = new Int32Array(control), F = new Float64Array(control);
const env = { memory, exp: Math.exp, log: Math.log, sin: Math.sin, pow: Math.pow, fmod: (a, b) => a % b };
const fns = [];
let seq = 0;
Atomics.store(I, ${READY}, 1);
for (;;) {
  // Spin a little before sleeping: kernels come in bursts, and waking a sleeping thread costs
  // more than most kernels take.
  for (let i = 0; i < ${SPIN} && Atomics.load(I, ${SEQ}) === seq && Atomics.load(I, ${QUIET}) === 0; i++);
  Atomics.wait(I, ${SEQ}, seq);
  seq = Atomics.load(I, ${SEQ});
  if (seq < 0) break;
  const id = I[${FN}];
  while (fns.length <= id) {
    const m = receiveMessageOnPort(port);
    if (m) for (const [mod, name] of m.message) fns.push(new WebAssembly.Instance(mod, { env }).exports[name]);
  }
  const n = I[${NARGS}], args = new Array(n);
  for (let i = 0; i < n; i++) args[i] = F[${ARGS} + i];
  try {
    fns[id](...args);
  } catch (e) {
    I[${ERROR}] = 1;
  }
  Atomics.store(I, ${DONE}, seq);
  Atomics.notify(I, ${DONE});
}
`;

interface NodeWorkerThreads {
  Worker: new (src: string, opts: { eval: true; workerData: unknown; transferList?: unknown[]; execArgv?: string[] }) => { unref(): void; terminate(): Promise<number> };
  MessageChannel: new () => { port1: { postMessage(m: unknown): void; close(): void }; port2: unknown };
}

function nodeWorkerThreads(): NodeWorkerThreads | null {
  const proc = (globalThis as { process?: { getBuiltinModule?: (m: string) => unknown } }).process;
  const wt = proc?.getBuiltinModule?.("node:worker_threads") as NodeWorkerThreads | undefined;
  return wt?.Worker && wt.MessageChannel ? wt : null;
}

/** Cores to use by default: STRATA_THREADS when set, else the machine's (at most 8). */
export function defaultThreads(): number {
  const proc = (globalThis as { process?: { env?: Record<string, string | undefined>; getBuiltinModule?: (m: string) => unknown } }).process;
  const env = Number(proc?.env?.STRATA_THREADS);
  if (Number.isInteger(env) && env > 0) return env;
  const os = proc?.getBuiltinModule?.("node:os") as { availableParallelism?: () => number } | undefined;
  return Math.max(1, Math.min(8, os?.availableParallelism?.() ?? 1));
}

interface WorkerSlot {
  i32: Int32Array;
  f64: Float64Array;
  port: { postMessage(m: unknown): void; close(): void };
  worker: { unref(): void; terminate(): Promise<number> };
  /** Functions this worker has been sent. */
  sent: number;
  /** The worker has started (it set READY). */
  ready: boolean;
  /** QUIET is set: the worker sleeps as soon as it is idle. */
  quiet: boolean;
  seq: number;
}

export class ThreadPool {
  private readonly workers: WorkerSlot[] = [];
  private readonly modules: [object, string][] = [];

  private constructor(memory: WasmMemoryObject, helpers: number, wt: NodeWorkerThreads) {
    for (let w = 0; w < helpers; w++) {
      const control = new SharedArrayBuffer(BLOCK_BYTES);
      const { port1, port2 } = new wt.MessageChannel();
      // No execArgv: the worker is plain JavaScript and needs none of the parent's loaders.
      const worker = new wt.Worker(WORKER_SOURCE, { eval: true, workerData: { memory, control, port: port2 }, transferList: [port2], execArgv: [] });
      worker.unref(); // an idle pool never keeps the process alive
      this.workers.push({ i32: new Int32Array(control), f64: new Float64Array(control), port: port1, worker, sent: 0, seq: 0, ready: false, quiet: false });
    }
  }

  /** A pool of `threads - 1` workers (the caller is the last thread), or null when not possible. */
  static create(memory: WasmMemoryObject, threads: number): ThreadPool | null {
    if (threads < 2) return null;
    const wt = nodeWorkerThreads();
    if (!wt || typeof SharedArrayBuffer === "undefined") return null;
    return new ThreadPool(memory, threads - 1, wt);
  }

  /** Threads a job is split over: the workers and the caller. */
  get threads(): number {
    return this.workers.length + 1;
  }

  /** Makes export `name` of a compiled module runnable by the workers; returns its id. */
  register(module: object, name: string): number {
    this.modules.push([module, name]);
    return this.modules.length - 1;
  }

  /**
   * Runs function `id` once per share of `args`: share 0 on the calling thread with `fn` (the same
   * function, instantiated here), share w + 1 on worker w. Shares without a started worker run
   * on the calling thread too. Returns when all are done; throws if a worker's call failed.
   */
  run(id: number, args: readonly (readonly number[])[], fn: (...a: number[]) => void): void {
    const ws = this.workers;
    const started: WorkerSlot[] = [], mine: (readonly number[])[] = [args[0]!];
    for (let w = 0; w + 1 < args.length; w++) {
      const s = ws[w], a = args[w + 1]!;
      // No worker for this share, or one still starting up: it runs here instead of waiting.
      if (!s || (!s.ready && !(s.ready = Atomics.load(s.i32, READY) === 1))) { mine.push(a); continue; }
      started.push(s);
      if (a.length > MAX_ARGS) throw new Error(`internal: ${a.length} arguments for a worker job (at most ${MAX_ARGS})`);
      if (s.sent < this.modules.length) {
        s.port.postMessage(this.modules.slice(s.sent));
        s.sent = this.modules.length;
      }
      if (s.quiet) { s.i32[QUIET] = 0; s.quiet = false; }
      s.i32[FN] = id;
      s.i32[NARGS] = a.length;
      for (let i = 0; i < a.length; i++) s.f64[ARGS + i] = a[i]!;
      s.seq++;
      Atomics.store(s.i32, SEQ, s.seq);
      Atomics.notify(s.i32, SEQ);
    }
    let failed = false;
    try {
      for (const a of mine) fn(...a);
    } finally {
      for (const s of started) {
        // Wait on the value just loaded: reading it again could see the worker's store, and a
        // wait on that value would sleep through the only wake-up.
        let d = Atomics.load(s.i32, DONE);
        for (let i = 0; i < SPIN && d !== s.seq; i++) d = Atomics.load(s.i32, DONE);
        for (; d !== s.seq; d = Atomics.load(s.i32, DONE)) Atomics.wait(s.i32, DONE, d);
        if (s.i32[ERROR]) { failed = true; s.i32[ERROR] = 0; }
      }
    }
    if (failed) throw new Error("wasm: a kernel failed on a worker thread");
  }

  /**
   * Tells spinning workers to sleep now: the caller is about to hand both cores to someone else
   * (a BLAS call with its own threads), and a spinning worker would take one from it.
   */
  quiet(): void {
    for (const s of this.workers) if (!s.quiet) { Atomics.store(s.i32, QUIET, 1); s.quiet = true; }
  }

  /** Stops the workers. */
  close(): void {
    for (const s of this.workers) {
      Atomics.store(s.i32, SEQ, -1);
      Atomics.notify(s.i32, SEQ);
      s.port.close();
    }
    this.workers.length = 0;
  }
}

/** [lo, hi) of part `i` of `n` parts of 0..size, as even as whole numbers allow. */
export function share(size: number, n: number, i: number): [number, number] {
  return [Math.floor((size * i) / n), Math.floor((size * (i + 1)) / n)];
}
