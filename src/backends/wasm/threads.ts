/**
 * Worker threads that run wasm functions on the backend's shared memory, so that one kernel's
 * outputs (or one GEMM's rows) are computed by every core.
 *
 * Each worker has a control block in a SharedArrayBuffer: the function to run, its arguments, and
 * two counters (a job's sequence number, and the last one done). The calling thread writes a job,
 * wakes the worker with Atomics.notify, runs its own share, then waits on the done counters.
 *
 * Two kinds of worker share this protocol and differ only in how compiled modules reach them.
 * Node's worker_threads take them synchronously (`receiveMessageOnPort`) when a job names a
 * function not yet instantiated, so no job waits for an event loop. A browser's Web Workers
 * (web-threads.ts; used where worker_threads is missing and the page is cross-origin isolated, so
 * that SharedArrayBuffer exists) can only receive messages from their event loop: a worker asked
 * for a function it lacks declines the job and goes back to the event loop for its modules, and
 * the calling thread runs the declined share itself. On a browser's main thread, where
 * Atomics.wait throws, the calling thread spins on the done counters instead of sleeping.
 *
 * Functions a worker runs may import only the memory and Math functions (exp, log, sin, pow,
 * fmod); kernels needing other imports run on the calling thread alone.
 */
import type { WasmMemoryObject } from "./wasm-api.ts";
import { webWorkers } from "./web-threads.ts";

/** Int32 slots of a control block, then float64 arguments from ARGS (in float64 units). */
const SEQ = 0, DONE = 1, FN = 2, NARGS = 3, ERROR = 4, READY = 5, QUIET = 6, DECLINED = 7;
const ARGS = 4; // float64 index: bytes 32..
const MAX_ARGS = 60;
/**
 * Polls of a control word before a thread sleeps on it (a few microseconds). Longer spins measured
 * slower: a spinning worker slows the calling thread (two vCPUs may share one core).
 */
const SPIN = 2000;
const BLOCK_BYTES = (ARGS + MAX_ARGS) * 8;

/** The control block's layout, for worker programs written elsewhere (web-threads.ts). */
export interface ControlLayout {
  SEQ: number; DONE: number; FN: number; NARGS: number; ERROR: number; READY: number; QUIET: number;
  /** Set by a worker that handed a job back (it had not received the job's function yet). */
  DECLINED: number;
  ARGS: number; SPIN: number;
}
const LAYOUT: ControlLayout = { SEQ, DONE, FN, NARGS, ERROR, READY, QUIET, DECLINED, ARGS, SPIN };

/** A started worker, whichever API made it. */
export interface PoolWorker {
  /** Sends compiled modules to instantiate, as `[module, exportName]` pairs in id order. */
  send(modules: [object, string][]): void;
  /** Lets the worker go; its SEQ is already -1. */
  stop(): void;
}

/** Starts workers that run jobs from a control block on a shared memory. */
export interface WorkerApi {
  readonly kind: "node" | "web";
  start(memory: WasmMemoryObject, control: SharedArrayBuffer): PoolWorker;
  /** Releases what the workers shared, once all are stopped. */
  close(): void;
}

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

function nodeWorkers(wt: NodeWorkerThreads): WorkerApi {
  return {
    kind: "node",
    start(memory, control) {
      const { port1, port2 } = new wt.MessageChannel();
      // No execArgv: the worker is plain JavaScript and needs none of the parent's loaders.
      const worker = new wt.Worker(WORKER_SOURCE, { eval: true, workerData: { memory, control, port: port2 }, transferList: [port2], execArgv: [] });
      worker.unref(); // an idle pool never keeps the process alive
      // Closing the port is enough: the worker leaves its loop on SEQ = -1 and exits.
      return { send: (m) => port1.postMessage(m), stop: () => port1.close() };
    },
    close() {},
  };
}

let callerMayWait: boolean | undefined;
/** Whether this thread may block in Atomics.wait (a browser's main thread may not). */
function mayWait(): boolean {
  if (callerMayWait === undefined) {
    try {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
      callerMayWait = true;
    } catch {
      callerMayWait = false;
    }
  }
  return callerMayWait;
}

/** Cores to use by default: STRATA_THREADS when set, else the machine's (at most 8). */
export function defaultThreads(): number {
  const proc = (globalThis as { process?: { env?: Record<string, string | undefined>; getBuiltinModule?: (m: string) => unknown } }).process;
  const env = Number(proc?.env?.STRATA_THREADS);
  if (Number.isInteger(env) && env > 0) return env;
  const os = proc?.getBuiltinModule?.("node:os") as { availableParallelism?: () => number } | undefined;
  const nav = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator;
  return Math.max(1, Math.min(8, os?.availableParallelism?.() ?? nav?.hardwareConcurrency ?? 1));
}

export interface PoolOptions {
  /**
   * Which workers: "auto" (default) Node's worker_threads where they exist, else a browser's Web
   * Workers; "node" or "web" only that kind. "web" under Node is for testing (with a Web Worker
   * shim installed as globalThis.Worker).
   */
  api?: "auto" | "node" | "web";
  /**
   * Whether the calling thread sleeps in Atomics.wait while workers finish (default: whether this
   * thread may). false makes it spin, as it must on a browser's main thread; tests set it to run
   * that path where waiting is allowed.
   */
  callerWaits?: boolean;
}

/** Where each share of `run` calls went. */
export interface PoolStats {
  /** Shares a worker ran. */
  worker: number;
  /** Shares a worker handed back because its modules had not arrived; the caller ran them. */
  declined: number;
  /** Shares the caller ran because their worker had not started yet. */
  unstarted: number;
}

interface WorkerSlot {
  i32: Int32Array;
  f64: Float64Array;
  worker: PoolWorker;
  /** Functions this worker has been sent. */
  sent: number;
  /** The worker has started (it set READY). */
  ready: boolean;
  /** QUIET is set: the worker sleeps as soon as it is idle. */
  quiet: boolean;
  seq: number;
  /** The arguments of the job last given to it, to run here if the worker declines it. */
  job: readonly number[];
}

export class ThreadPool {
  private readonly workers: WorkerSlot[] = [];
  private readonly modules: [object, string][] = [];
  readonly stats: PoolStats = { worker: 0, declined: 0, unstarted: 0 };

  private constructor(
    private readonly api: WorkerApi,
    /** The calling thread sleeps while it waits for workers (else it spins). */
    readonly callerWaits: boolean,
  ) {}

  /**
   * A pool of `threads - 1` workers (the caller is the last thread), or null when not possible
   * (no SharedArrayBuffer, no worker API, or workers failed to start).
   */
  static create(memory: WasmMemoryObject, threads: number, opts: PoolOptions = {}): ThreadPool | null {
    if (threads < 2 || typeof SharedArrayBuffer === "undefined") return null;
    const want = opts.api ?? "auto";
    const wt = want === "web" ? null : nodeWorkerThreads();
    const api = wt ? nodeWorkers(wt) : want === "node" ? null : webWorkers(LAYOUT);
    if (!api) return null;
    const pool = new ThreadPool(api, opts.callerWaits ?? mayWait());
    try {
      for (let w = 1; w < threads; w++) {
        const control = new SharedArrayBuffer(BLOCK_BYTES);
        const worker = api.start(memory, control);
        pool.workers.push({ i32: new Int32Array(control), f64: new Float64Array(control), worker, sent: 0, seq: 0, ready: false, quiet: false, job: [] });
      }
    } catch {
      pool.close();
      return null;
    }
    return pool;
  }

  /** Threads a job is split over: the workers and the caller. */
  get threads(): number {
    return this.workers.length + 1;
  }

  /** The kind of workers: Node's worker_threads or a browser's Web Workers. */
  get kind(): "node" | "web" {
    return this.api.kind;
  }

  /** Makes export `name` of a compiled module runnable by the workers; returns its id. */
  register(module: object, name: string): number {
    this.modules.push([module, name]);
    return this.modules.length - 1;
  }

  /**
   * Runs function `id` once per share of `args`: share 0 on the calling thread with `fn` (the same
   * function, instantiated here), share w + 1 on worker w. Shares without a started worker, and
   * shares a worker declines, run on the calling thread too. Returns when all are done; throws if
   * a worker's call failed.
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
        s.worker.send(this.modules.slice(s.sent));
        s.sent = this.modules.length;
      }
      if (s.quiet) { s.i32[QUIET] = 0; s.quiet = false; }
      s.i32[FN] = id;
      s.i32[NARGS] = a.length;
      for (let i = 0; i < a.length; i++) s.f64[ARGS + i] = a[i]!;
      s.job = a;
      s.seq++;
      Atomics.store(s.i32, SEQ, s.seq);
      Atomics.notify(s.i32, SEQ);
    }
    let failed = false, declined: (readonly number[])[] | null = null;
    try {
      for (const a of mine) fn(...a);
    } finally {
      for (const s of started) {
        // Wait on the value just loaded: reading it again could see the worker's store, and a
        // wait on that value would sleep through the only wake-up.
        let d = Atomics.load(s.i32, DONE);
        for (let i = 0; i < SPIN && d !== s.seq; i++) d = Atomics.load(s.i32, DONE);
        if (this.callerWaits) for (; d !== s.seq; d = Atomics.load(s.i32, DONE)) Atomics.wait(s.i32, DONE, d);
        else while (d !== s.seq) d = Atomics.load(s.i32, DONE);
        if (s.i32[ERROR]) { failed = true; s.i32[ERROR] = 0; }
        if (s.i32[DECLINED]) { (declined ??= []).push(s.job); s.i32[DECLINED] = 0; }
      }
    }
    if (failed) throw new Error("wasm: a kernel failed on a worker thread");
    const st = this.stats, back = declined?.length ?? 0;
    st.unstarted += mine.length - 1;
    st.declined += back;
    st.worker += started.length - back;
    // The same function on the same arguments: a share's result does not depend on its thread.
    if (declined) for (const a of declined) fn(...a);
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
      s.worker.stop();
    }
    this.workers.length = 0;
    this.api.close();
  }
}

/** [lo, hi) of part `i` of `n` parts of 0..size, as even as whole numbers allow. */
export function share(size: number, n: number, i: number): [number, number] {
  return [Math.floor((size * i) / n), Math.floor((size * (i + 1)) / n)];
}
