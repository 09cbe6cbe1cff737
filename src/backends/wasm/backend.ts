/**
 * The wasm backend: every buffer lives in one WebAssembly.Memory, kernels are WebAssembly
 * modules emitted at run time from the kernel IR (codegen.ts), and `dot` is a routine: a system
 * BLAS through an FFI when one is found (Node), else a blocked SIMD GEMM in wasm (gemm.ts).
 *
 * Storage matches the js backend's typed arrays, laid in the memory: float32, float64, int32,
 * uint8/bool as bytes, float16/bfloat16 as 16-bit patterns, int64 as float64. So a kernel the wasm
 * emitter does not handle (half precision, a few rare op and dtype pairs) runs through the js
 * renderer on typed-array views of the same memory, with identical results: the backend is
 * complete, and every kernel computes exactly what the js backend computes (bar the GEMM's order
 * of float32 additions).
 */
import type { Backend, Buf, DotEpilogue, HostArray, Routines } from "../../ir/backend.ts";
import { DTYPES, type DType } from "../../ir/dtype.ts";
import { DeviceError, IndexError } from "../../ir/errors.ts";
import { lvar, flatIndex } from "../../ir/index-expr.ts";
import { type Kernel, topoExprs, type VExpr } from "../../ir/kernel.ts";
import { type ConvParams, EXPENSIVE_ALU } from "../../ir/ops.ts";
import { mergeDims } from "../../ir/merge-dims.ts";
import { JsBackend } from "../js/backend.ts";
import { readStorage, type Storage, STORAGE, writeStorage } from "../js/storage.ts";
import { erf, uniform } from "../js/runtime.ts";
import { type Blas, loadBlas } from "./blas.ts";
import { emitKernel, splitDim, Unsupported } from "./codegen.ts";
import { col2imKernel, convKey, directConvKernel, im2colKernel, im2rowKernel, isFullCorrelation, planConv, prefersRows } from "./conv.ts";
import { transposeKernel, unpermuteKernel } from "./layout-kernels.ts";
import { emitGemm, EPI_BIAS, EPI_RELU, type GemmExports, KC, MC } from "./gemm.ts";
import { epilogueKernel } from "./epilogue-kernel.ts";
import { type Col2imExports, emitCol2im } from "./col2im.ts";
import { WasmMemory } from "./memory.ts";
import { defaultThreads, type PoolOptions, share, ThreadPool } from "./threads.ts";
import { Wasm } from "./wasm-api.ts";


class WasmBuf implements Buf {
  readonly bytes: number;
  constructor(
    readonly dtype: DType,
    readonly size: number,
    /** Byte offset in the backend's memory (0 for an empty buffer). */
    readonly off: number,
  ) {
    this.bytes = size * DTYPES[dtype].bytes;
  }
}

export interface WasmBackendOptions {
  /** Device name (default "wasm"). */
  name?: string;
  /**
   * Contractions through a system BLAS: "auto" (default) uses one when found, "off" never does
   * (the wasm GEMM, as in a browser), "on" requires one (the constructor throws without it).
   */
  blas?: "auto" | "off" | "on";
  /** Throw instead of falling back to the js renderer when a kernel cannot be emitted as wasm. */
  strict?: boolean;
  /**
   * Threads kernels and the wasm GEMM are split over (default: STRATA_THREADS, else the number of
   * cores, at most 8). 1 runs everything on the calling thread; so do engines without worker
   * threads, and browser pages that are not cross-origin isolated (no SharedArrayBuffer).
   */
  threads?: number;
  /** Which workers the threads are and how the caller waits for them (ThreadPool.create); for testing. */
  workers?: PoolOptions;
  /** Work (output elements times operations per element) below which a kernel runs on one thread (2^17). */
  parallelMinWork?: number;
  /**
   * The wasm GEMM's multiply-adds as relaxed SIMD's relaxed_madd where the engine has it (default
   * true); false keeps mul + add, whose rounding is the same on every engine.
   */
  relaxedSimd?: boolean;
}

/** Work per output element (elementCost) below which a kernel is memory-bound: one thread. */
const MIN_PARALLEL_COST = 8;

/**
 * Rough operations per output element: ALU ops (div and sqrt 4, exp/log/sin/erf/pow and mod 16,
 * others 1) and loads, the reduction's body once per step.
 */
function elementCost(k: Kernel): number {
  const count = (roots: VExpr[]) => topoExprs(roots).reduce((a, e) => a + (e.k === "alu" ? (e.op === "div" || e.op === "sqrt" ? 4 : EXPENSIVE_ALU.has(e.op) || e.op === "mod" ? 16 : 1) : e.k === "load" ? 1 : 0), 0);
  const steps = k.reduce ? k.reduce.shape.reduce((a, b) => a * b, 1) : 0;
  return Math.max(1, count([k.value]) + (k.reduce ? steps * Math.max(1, count([k.reduce.body])) : 0));
}

/** Multiply-adds below which the wasm GEMM runs on one thread. */
const GEMM_PARALLEL_MIN = 1 << 18;
/**
 * Products below this many flops run the BLAS on the calling thread alone (see gemmAt); the
 * STRATA_SMALL_GEMM environment variable sets another bound (0: never), for machines where
 * waking the library's threads costs more or less than on the 2-vCPU machine this was measured on.
 */
const SMALL_GEMM_FLOPS = Number((globalThis as { process?: { env?: Record<string, string> } }).process?.env?.STRATA_SMALL_GEMM ?? 24e6);
/** ... and move less than this many bytes (A, B and C). */
const SMALL_GEMM_BYTES = 1 << 20;

/** Math-only imports, which worker threads provide. */
const WORKER_IMPORTS = new Set(["exp", "log", "sin", "pow", "fmod"]);

/** A compiled kernel: a wasm function over buffer offsets, or a js function over views. */
type Compiled =
  | {
    kind: "wasm"; fn: (...args: number[]) => void;
    /** Pool id when worker threads may run it (else -1), the split loop's size, and the work. */
    par: number; splitSize: number; work: number;
  }
  | { kind: "js"; fn: (s: readonly number[], ...bufs: Storage[]) => void; why: string };

/** A kernel a routine built, with its compiled form. */
interface RoutineKernel {
  readonly k: Kernel;
  readonly c: Compiled;
}

export interface WasmStats {
  /** Kernels compiled to wasm, and those that fell back to the js renderer. */
  wasmKernels: number;
  /** Of the wasm kernels, those whose output loop runs in SIMD lanes. */
  vectorKernels: number;
  jsKernels: number;
  /** Why kernels fell back (reason -> count). */
  fallbacks: Record<string, number>;
  /** dot routine calls by path. */
  blasCalls: number;
  gemmCalls: number;
  genericDotCalls: number;
  /** dot epilogues run as a kernel after the product (BLAS, lowered dot; the wasm GEMM's store applies its own). */
  epilogueKernels: number;
  /** conv routine calls: through GEMM, or as one direct kernel (dtypes the GEMM does not take). */
  convGemmCalls: number;
  convDirectCalls: number;
  /** Kernel runs split over worker threads. */
  parallelRuns: number;
}

/** Elements of im2col scratch per chunk of images (16 MB of float32). */
const IM2COL_CHUNK = 1 << 22;

export class WasmBackend implements Backend {
  readonly name: string;
  readonly mem: WasmMemory;
  /** Worker threads sharing `mem`, or null (one thread). */
  readonly pool: ThreadPool | null;
  private readonly parallelMinWork: number;
  readonly blas: Blas | null;
  /** The BLAS library's own thread count (1 when it cannot be set). */
  private readonly blasThreads: number;
  /** The thread count the BLAS library is set to now (set only when it changes: an FFI call). */
  private blasThreadsNow: number;
  readonly strict: boolean;
  private readonly relaxedSimd: boolean;
  readonly stats: WasmStats = { wasmKernels: 0, vectorKernels: 0, jsKernels: 0, fallbacks: {}, blasCalls: 0, gemmCalls: 0, genericDotCalls: 0, epilogueKernels: 0, convGemmCalls: 0, convDirectCalls: 0, parallelRuns: 0 };
  readonly routines: Partial<Routines>;
  private readonly js = new JsBackend();
  private readonly gemms = new Map<string, GemmExports & { par: number; batchPar: number }>();
  private readonly col2ims = new Map<string, Col2imExports>();
  /** Kernels the routines build (unfold, permute, transpose, gather, direct conv, lowered dot, epilogue) by short key. */
  private readonly routineKernels = new Map<string, RoutineKernel>();

  constructor(opts: WasmBackendOptions = {}) {
    this.name = opts.name ?? "wasm";
    this.strict = opts.strict ?? false;
    this.relaxedSimd = opts.relaxedSimd ?? true;
    const threads = opts.threads ?? defaultThreads();
    this.parallelMinWork = opts.parallelMinWork ?? 1 << 17;
    this.mem = new WasmMemory(threads > 1 && typeof SharedArrayBuffer !== "undefined");
    this.pool = this.mem.shared ? ThreadPool.create(this.mem.memory, threads, opts.workers) : null;
    const mode = opts.blas ?? "auto";
    this.blas = mode === "off" ? null : loadBlas();
    this.blasThreads = this.blasThreadsNow = this.blas?.threads?.get() ?? 1;
    if (mode === "on" && !this.blas) throw new DeviceError(`${this.name}: no system BLAS found (install OpenBLAS, e.g. Debian's libopenblas0, and the koffi package)`);
    this.routines = {
      dot: (out, a, b, batch, m, k, n, ta, tb, epi) => this.dot(out as WasmBuf, a as WasmBuf, b as WasmBuf, batch, m, k, n, ta, tb, epi),
      conv: (out, x, w, xShape, wShape, p) => this.conv(out as WasmBuf, x as WasmBuf, w as WasmBuf, xShape, wShape, p),
    };
  }

  // ---- memory ----------------------------------------------------------------------------------

  alloc(dtype: DType, size: number): Buf {
    const bytes = size * DTYPES[dtype].bytes;
    return new WasmBuf(dtype, size, bytes ? this.mem.alloc(bytes) : 0);
  }
  free(b: Buf): void {
    const w = b as WasmBuf;
    if (w.bytes) this.mem.release(w.off, w.bytes);
  }
  /** A typed-array view of a buffer's storage (valid until the memory grows). */
  view(b: Buf): Storage {
    const w = b as WasmBuf;
    return new STORAGE[w.dtype](this.mem.buffer, w.off, w.size);
  }
  /** Byte offset of a buffer in `mem`. */
  offset(b: Buf): number {
    return (b as WasmBuf).off;
  }
  write(b: Buf, src: ArrayLike<number> | ArrayLike<bigint>): void {
    writeStorage(this.view(b), b.dtype, src);
  }
  readSync(b: Buf): HostArray {
    return readStorage(this.view(b), b.dtype);
  }

  read(b: Buf): Promise<HostArray> {
    return Promise.resolve(this.readSync(b));
  }
  sync(): Promise<void> {
    return Promise.resolve();
  }

  // ---- kernels -----------------------------------------------------------------------------------

  /**
   * `byWork`: split over threads by work alone (a routine's layout kernels, whose index arithmetic
   * costs more than their one load suggests).
   */
  compile(kernel: Kernel, byWork = false): Compiled {
    // Dims read as one row-major index loop as one (a [64, 32, 5, 5] update: one loop of 51200).
    const k = mergeDims(kernel);
    try {
      const { bytes, whats, imports, vectorized } = emitKernel(k, this.mem.shared);
      const oob = (w: number, v: number, size: number): never => {
        throw new IndexError(`${whats[w]}: index ${v} is out of bounds for dimension with size ${size}`);
      };
      const env = {
        memory: this.mem.memory, exp: Math.exp, log: Math.log, sin: Math.sin, erf, pow: Math.pow,
        fmod: (a: number, b: number) => a % b, uniform, oob,
      };
      const module = new Wasm.Module(bytes);
      const inst = new Wasm.Instance(module, { env });
      this.stats.wasmKernels++;
      if (vectorized) this.stats.vectorKernels++;
      const sd = splitDim(k.shape);
      const perElement = elementCost(k), work = k.shape.reduce((a, b) => a * b, 1) * perElement;
      // Threads share a kernel's outputs: not for scatter-adds (two threads could add to one
      // element), nor for kernels importing functions workers lack, nor for kernels that mostly
      // move memory (a second core adds no bandwidth; measured slower on two cores).
      const par = this.pool && sd >= 0 && k.store.mode === "set" && imports.every((i) => WORKER_IMPORTS.has(i))
        && work >= this.parallelMinWork && (byWork || perElement >= MIN_PARALLEL_COST)
        ? this.pool.register(module, "kernel") : -1;
      return { kind: "wasm", fn: inst.exports.kernel as (...args: number[]) => void, par, splitSize: sd >= 0 ? k.shape[sd]! : 1, work };
    } catch (e) {
      if (!(e instanceof Unsupported) || this.strict) throw e;
      this.stats.jsKernels++;
      this.stats.fallbacks[e.message] = (this.stats.fallbacks[e.message] ?? 0) + 1;
      return { kind: "js", fn: this.js.compile(k), why: e.message };
    }
  }
  run(p: unknown, bufs: readonly Buf[], scalars: readonly number[]): void {
    const c = p as Compiled;
    if (c.kind === "wasm") {
      const args = new Array<number>(bufs.length + scalars.length + 2);
      for (let i = 0; i < bufs.length; i++) args[i] = (bufs[i] as WasmBuf).off;
      for (let i = 0; i < scalars.length; i++) args[bufs.length + i] = scalars[i]!;
      this.exec(c, args);
    } else {
      c.fn(scalars, ...bufs.map((b) => this.view(b)));
    }
  }

  /** Runs a wasm kernel on `args` (offsets, scalars, and two slots for the split range). */
  private exec(c: Extract<Compiled, { kind: "wasm" }>, args: number[]): void {
    const n = args.length;
    const pool = this.pool;
    if (c.par < 0 || !pool) {
      args[n - 2] = 0;
      args[n - 1] = c.splitSize;
      c.fn(...args);
      return;
    }
    const T = Math.min(pool.threads, c.splitSize);
    const parts: number[][] = [];
    for (let t = 0; t < T; t++) {
      const a = args.slice();
      [a[n - 2], a[n - 1]] = share(c.splitSize, T, t);
      parts.push(a);
    }
    this.stats.parallelRuns++;
    pool.run(c.par, parts, c.fn);
  }

  // ---- routines ----------------------------------------------------------------------------------

  private gemm(dt: "float32" | "float64"): GemmExports & { par: number; batchPar: number } {
    let g = this.gemms.get(dt);
    if (!g) {
      const module = new Wasm.Module(emitGemm(dt, this.mem.shared, this.relaxedSimd));
      const inst = new Wasm.Instance(module, { env: { memory: this.mem.memory } });
      g = {
        ...(inst.exports as unknown as GemmExports),
        par: this.pool ? this.pool.register(module, "gemm") : -1,
        batchPar: this.pool ? this.pool.register(module, "gemmBatch") : -1,
      };
      this.gemms.set(dt, g);
    }
    return g;
  }

  /**
   * out[b] = a[b] @ b[b] (a stored transposed when `ta`, b when `tb`): BLAS, the wasm GEMM, or
   * (other dtypes) the lowered dot kernel.
   */
  dot(out: WasmBuf, a: WasmBuf, b: WasmBuf, batch: number, m: number, k: number, n: number, ta = false, tb = false, epi?: DotEpilogue): void {
    if (out.size === 0) return;
    const dt = out.dtype;
    if (k === 0 || (dt !== "float32" && dt !== "float64")) {
      this.genericDot(out, a, b, batch, m, k, n, ta, tb);
      return this.epilogue(out, batch * m, n, epi);
    }
    const E = DTYPES[dt].bytes;
    if (this.blas) {
      // A BLAS call takes no activation, so the epilogue is one pass over the result after it.
      this.stats.blasCalls++;
      for (let i = 0; i < batch; i++) this.gemmAt(dt, out.off + i * m * n * E, a.off + i * m * k * E, b.off + i * k * n * E, m, k, n, ta, tb, batch);
      return this.epilogue(out, batch * m, n, epi);
    }
    this.stats.gemmCalls++;
    // The wasm GEMM packs B with any strides (a transposed B costs nothing) but reads A by rows:
    // a transposed A is copied first.
    const at = ta ? this.transposed(dt, a.off, batch, m, k) : 0;
    try {
      this.wasmGemm(dt, out.off, ta ? at : a.off, b.off, batch, m, k, n, tb, epi);
    } finally {
      if (ta) this.mem.release(at, batch * m * k * E);
    }
  }

  /** Applies a dot's epilogue to its result `out` ([rows, cols]) in place, as one kernel. */
  private epilogue(out: WasmBuf, rows: number, cols: number, epi: DotEpilogue | undefined): void {
    if (!epi || (!epi.bias && !epi.relu)) return;
    this.stats.epilogueKernels++;
    // A bias add and a ReLU are a few ops per element: threaded (or not) as the memory-bound
    // kernel they replace, not by work alone.
    const key = `epilogue:${out.dtype}:${rows}:${cols}:${epi.bias !== null}:${epi.relu}`;
    const e = this.routineKernel(key, () => epilogueKernel(out.dtype, rows, cols, epi.bias !== null, epi.relu), false);
    this.runAt(e, epi.bias ? [out.off, out.off, (epi.bias as WasmBuf).off] : [out.off, out.off]);
  }

  /** A scratch block holding src [batch, cols, rows] transposed to [batch, rows, cols]. */
  private transposed(dt: DType, src: number, batch: number, rows: number, cols: number): number {
    const dst = this.mem.allocScratch(batch * rows * cols * DTYPES[dt].bytes);
    this.runAt(this.routineKernel(`transpose:${dt}:${batch}:${rows}:${cols}`, () => transposeKernel(dt, batch, rows, cols)), [dst, src]);
    return dst;
  }

  /**
   * One product C (m x n) = A (m x k) @ B (k x n) on byte offsets into `mem` (A, B stored
   * transposed when ta, tb), one of `runs` such products called back to back.
   */
  private gemmAt(dt: "float32" | "float64", c: number, a: number, b: number, m: number, k: number, n: number, ta = false, tb = false, runs = 1): void {
    if (this.blas) {
      this.pool?.quiet();
      const buf = this.mem.buffer;
      // A small product runs on the calling thread alone: waking the library's sleeping threads
      // costs more than they save (measured about 0.3 ms on this 2-vCPU machine after wasm
      // kernels ran, for products of a few MFLOP that take 0.05 ms on one thread). One that reads
      // megabytes (a bias gradient's ones[1, R] @ g[R, C]) is memory-bound, and two threads
      // stream it faster (9 x [1,2048]@[2048,256]: 1.7-2.5 ms alone, 0.9-1.2 ms on two). The
      // products of a batch count together: once awake, the threads stay so from one call to
      // the next (attention's 64 x [128,128]@[128,64]: 1.7-2.0 ms alone, 1.1 ms on two).
      const bytes = (m * k + k * n + m * n) * DTYPES[dt].bytes * runs;
      const alone = 2 * m * n * k * runs < SMALL_GEMM_FLOPS && bytes < SMALL_GEMM_BYTES;
      const threads = alone ? 1 : this.blasThreads;
      if (threads !== this.blasThreadsNow) this.blas.threads!.set((this.blasThreadsNow = threads));
      if (dt === "float32") this.blas.sgemm(m, n, k, new Float32Array(buf, a, m * k), new Float32Array(buf, b, k * n), new Float32Array(buf, c, m * n), ta, tb);
      else this.blas.dgemm(m, n, k, new Float64Array(buf, a, m * k), new Float64Array(buf, b, k * n), new Float64Array(buf, c, m * n), ta, tb);
    } else if (!ta) {
      this.wasmGemm(dt, c, a, b, 1, m, k, n, tb);
    } else {
      throw new Error("internal: the wasm GEMM takes a transposed A through dot()");
    }
  }

  /**
   * A routine's kernel, built and compiled once per `key` (which names everything the kernel
   * depends on): building a kernel and its structural key on every call cost as much as running a
   * small one (13-58 us). Split over threads by work alone unless `byWork` is false.
   */
  private routineKernel(key: string, build: () => Kernel, byWork = true): RoutineKernel {
    let r = this.routineKernels.get(key);
    if (!r) {
      const k = build();
      this.routineKernels.set(key, (r = { k, c: this.compile(k, byWork) }));
    }
    return r;
  }

  /**
   * out = conv(x, w): per chunk of images, unfold the input into columns (a compiled kernel), one
   * GEMM per group, and a permute into the output (conv.ts). Dtypes other than float32/float64
   * run one direct kernel.
   */
  conv(out: WasmBuf, x: WasmBuf, w: WasmBuf, xShape: readonly number[], wShape: readonly number[], p: ConvParams): void {
    if (out.size === 0) return;
    const dt = out.dtype;
    if (x.size === 0 || w.size === 0 || (dt !== "float32" && dt !== "float64")) {
      this.stats.convDirectCalls++;
      this.run(this.routineKernel(`direct:${dt}:${convKey(xShape, wShape, p)}`, () => directConvKernel(dt, xShape, wShape, p)).c, [out, x, w], []);
      return;
    }
    this.stats.convGemmCalls++;
    if (isFullCorrelation(wShape, p)) return this.fullCorrelation(out, x, w, xShape, wShape);
    if (prefersRows(xShape, wShape, p)) return this.convByRows(out, x, w, xShape, wShape, p);
    const E = DTYPES[dt].bytes;
    const { n, groups: G, coutG, rows, positions: P, imageSize } = planConv(xShape, wShape, p);
    const nb = Math.max(1, Math.min(n, Math.floor(IM2COL_CHUNK / (G * rows * P))));
    const colsBytes = nb * G * rows * P * E, prodBytes = nb > 1 ? nb * G * coutG * P * E : 0;
    const cols = this.mem.allocScratch(colsBytes), prodAt = prodBytes ? this.mem.allocScratch(prodBytes) : 0;
    try {
      for (let n0 = 0; n0 < n; n0 += nb) {
        const count = Math.min(nb, n - n0);
        const unfold = this.routineKernel(`im2col:${dt}:${count}:${convKey(xShape, wShape, p)}`, () => im2colKernel(dt, count, xShape, wShape, p));
        this.runAt(unfold, [cols, x.off + n0 * imageSize * E]);
        // With one image the products are already in the output's layout.
        const dst = count > 1 ? prodAt : out.off + n0 * G * coutG * P * E;
        for (let g = 0; g < G; g++) {
          this.gemmAt(dt, dst + g * coutG * count * P * E, w.off + g * coutG * rows * E, cols + g * rows * count * P * E, coutG, rows, count * P, false, false, G);
        }
        if (count > 1) {
          const perm = this.routineKernel(`unpermute:${dt}:${count}:${G}:${coutG}:${P}`, () => unpermuteKernel(dt, count, G, coutG, P));
          this.runAt(perm, [out.off + n0 * G * coutG * P * E, prodAt]);
        }
      }
    } finally {
      this.mem.release(cols, colsBytes);
      if (prodBytes) this.mem.release(prodAt, prodBytes);
    }
  }

  /**
   * A conv unfolded by rows (conv.ts, `prefersRows`): per chunk of images, rows [nb·P, Cin·K]
   * (an unfold kernel whose vector lanes run along the kernel's last dim), one product with the
   * weights read transposed, [nb·P, Cout], and a transpose kernel into [nb, Cout, P].
   */
  private convByRows(out: WasmBuf, x: WasmBuf, w: WasmBuf, xShape: readonly number[], wShape: readonly number[], p: ConvParams): void {
    const dt = out.dtype as "float32" | "float64", E = DTYPES[dt].bytes;
    const { n, coutG: cout, rows, positions: P, imageSize } = planConv(xShape, wShape, p);
    const nb = Math.max(1, Math.min(n, Math.floor(IM2COL_CHUNK / (rows * P))));
    const colsBytes = nb * P * rows * E, prodBytes = nb * P * cout * E;
    const cols = this.mem.allocScratch(colsBytes), prodAt = this.mem.allocScratch(prodBytes);
    try {
      for (let n0 = 0; n0 < n; n0 += nb) {
        const count = Math.min(nb, n - n0);
        const unfold = this.routineKernel(`im2row:${dt}:${count}:${convKey(xShape, wShape, p)}`, () => im2rowKernel(dt, count, xShape, wShape, p));
        this.runAt(unfold, [cols, x.off + n0 * imageSize * E]);
        this.gemmAt(dt, prodAt, cols, w.off, count * P, rows, cout, false, true);
        this.runAt(this.routineKernel(`transpose:${dt}:${count}:${cout}:${P}`, () => transposeKernel(dt, count, cout, P)), [out.off + n0 * cout * P * E, prodAt]);
      }
    } finally {
      this.mem.release(cols, colsBytes);
      this.mem.release(prodAt, prodBytes);
    }
  }

  /**
   * A full correlation (conv.ts, `isFullCorrelation`) as a transposed conv: the weights as
   * [C, K, Cin] (a transpose kernel), a chunk of images as [Cin, B, X] (a permute), one GEMM
   * cols = W' @ x ([C·K, Cin] @ [Cin, B·X]: one large product, not one small one per image), and a
   * gather-reduction over the taps into the output. It multiplies no padding.
   */
  private fullCorrelation(out: WasmBuf, x: WasmBuf, w: WasmBuf, xShape: readonly number[], wShape: readonly number[]): void {
    const dt = out.dtype as "float32" | "float64", E = DTYPES[dt].bytes;
    const [n, cin] = xShape as [number, number], c = wShape[0]!, ks = wShape.slice(2), xs = xShape.slice(2);
    const K = ks.reduce((a, b) => a * b, 1), X = xs.reduce((a, b) => a * b, 1), Y = xs.reduce((a, v, i) => a * (v + ks[i]! - 1), 1);
    const wt = this.mem.allocScratch(c * K * cin * E);
    const perImage = c * K * X;
    const nb = Math.max(1, Math.min(n, Math.floor(IM2COL_CHUNK / perImage)));
    const cols = this.mem.allocScratch(nb * perImage * E), xp = this.mem.allocScratch(nb * cin * X * E);
    try {
      this.runAt(this.routineKernel(`transpose:${dt}:${c}:${K}:${cin}`, () => transposeKernel(dt, c, K, cin)), [wt, w.off]);
      for (let n0 = 0; n0 < n; n0 += nb) {
        const count = Math.min(nb, n - n0);
        // xp[ci, b, x] = x[b, ci, x]
        this.runAt(this.routineKernel(`unpermute:${dt}:${cin}:1:${count}:${X}`, () => unpermuteKernel(dt, cin, 1, count, X)), [xp, x.off + n0 * cin * X * E]);
        this.gemmAt(dt, cols, wt, xp, c * K, cin, count * X);
        this.col2im(dt, out.off + n0 * c * Y * E, cols, count, c, ks, xs);
      }
    } finally {
      this.mem.release(wt, c * K * cin * E);
      this.mem.release(cols, nb * perImage * E);
      this.mem.release(xp, nb * cin * X * E);
    }
  }

  /**
   * out[b, c, y...] = Σ_k cols[c, k..., b, y + k - (K-1)...] for `nb` images (the gather of a
   * full correlation): the hand-written slab adds of col2im.ts for 1 or 2 spatial dims, on one
   * thread (an add per element read is memory-bound, and on two cores measured slower split in
   * two: 1.4 vs 0.95 ms for the CNN's conv); the compiled gather kernel (conv.ts) for more.
   */
  private col2im(dt: "float32" | "float64", out: number, cols: number, nb: number, c: number, ks: readonly number[], xs: readonly number[]): void {
    if (ks.length > 2) {
      this.runAt(this.routineKernel(`col2im:${dt}:${nb}:${c}:${ks}:${xs}`, () => col2imKernel(dt, nb, c, ks, xs)), [out, cols]);
      return;
    }
    const [k1, k2] = ks.length === 2 ? ks as [number, number] : [1, ks[0]!];
    const [x1, x2] = xs.length === 2 ? xs as [number, number] : [1, xs[0]!];
    let g = this.col2ims.get(dt);
    if (!g) {
      const module = new Wasm.Module(emitCol2im(dt, this.mem.shared));
      g = new Wasm.Instance(module, { env: { memory: this.mem.memory } }).exports as unknown as Col2imExports;
      this.col2ims.set(dt, g);
    }
    this.mem.zero(out, nb * c * (x1 + k1 - 1) * (x2 + k2 - 1) * DTYPES[dt].bytes);
    g.col2im(out, cols, nb, c, k1, k2, x1, x2);
  }

  /** Runs a routine's kernel on raw byte offsets (slices of buffers). */
  private runAt({ c, k }: RoutineKernel, offs: readonly number[]): void {
    if (c.kind === "wasm") this.exec(c, [...offs, 0, 0]);
    else c.fn(k.scalars, ...offs.map((off, i) => new STORAGE[k.bufs[i]!.dtype](this.mem.buffer, off, k.bufs[i]!.size)));
  }

  /**
   * The wasm GEMM on byte offsets into `mem` (also used by the benchmark). B is packed once per
   * product; with worker threads, each thread then computes a band of C's rows (whole 4-row
   * tiles) with its own scratch for A's blocks.
   */
  wasmGemm(dt: "float32" | "float64", c: number, a: number, b: number, batch: number, m: number, k: number, n: number, tb = false, epilogue?: DotEpilogue): void {
    const g = this.gemm(dt);
    const E = DTYPES[dt].bytes, W = dt === "float32" ? 8 : 4;
    const np = Math.ceil(n / W) * W;
    // The store reads the bias a whole panel at a time: where n is not whole panels, a copy
    // padded to np columns.
    const epi = epilogue ? (epilogue.bias ? EPI_BIAS : 0) | (epilogue.relu ? EPI_RELU : 0) : 0;
    const given = epilogue?.bias ? (epilogue.bias as WasmBuf).off : 0;
    const padded = given && np !== n ? this.mem.alloc(np * E) : 0;
    try {
      if (padded) this.mem.copy(padded, given, n * E);
      this.wasmGemmWith(g, dt, c, a, b, batch, m, k, n, np, tb, epi, padded || given);
    } finally {
      if (padded) this.mem.release(padded, np * E);
    }
  }

  /** wasmGemm with B's panel width applied (np) and the epilogue as the GEMM takes it (flags, padded bias). */
  private wasmGemmWith(g: GemmExports & { par: number; batchPar: number }, dt: "float32" | "float64", c: number, a: number, b: number, batch: number, m: number, k: number, n: number, np: number, tb: boolean, epi: number, bias: number): void {
    const E = DTYPES[dt].bytes;
    // A batch of products (attention's per-head ones) is shared by items: each thread packs and
    // multiplies whole products, one dispatch for the batch rather than one per product.
    if (this.pool && g.par >= 0 && np === n && batch >= 2 * this.pool.threads) {
      const T = this.pool.threads, bpBytes = k * np * E, apBytes = MC * KC * E;
      const scratch = this.mem.allocScratch(T * (bpBytes + apBytes));
      try {
        const parts: number[][] = [];
        for (let t = 0; t < T; t++) {
          const [lo, hi] = share(batch, T, t), bp = scratch + t * (bpBytes + apBytes);
          parts.push([a, b, c, lo, hi, m, k, n, m * k * E, k * n * E, m * n * E, tb ? 1 : n, tb ? k : 1, bp, bp + bpBytes, epi, bias]);
        }
        this.pool.run(g.batchPar, parts, g.gemmBatch as (...x: number[]) => void);
      } finally {
        this.mem.release(scratch, T * (bpBytes + apBytes));
      }
      return;
    }
    const pool = this.pool && g.par >= 0 && m >= 8 && m * k * n >= GEMM_PARALLEL_MIN ? this.pool : null;
    const T = pool ? Math.min(pool.threads, Math.floor(m / 4)) : 1;
    const bp = this.mem.allocScratch(k * np * E), ap = this.mem.allocScratch(T * MC * KC * E);
    const padded = np !== n;
    const cp = padded ? this.mem.allocScratch(m * np * E) : 0;
    try {
      for (let i = 0; i < batch; i++) {
        const ci = c + i * m * n * E, ai = a + i * m * k * E;
        const cc = padded ? cp : ci, ldc = padded ? np : n;
        g.pack(b + i * k * n * E, bp, k, n, np, tb ? 1 : n, tb ? k : 1);
        if (T > 1) {
          const parts: number[][] = [];
          for (let t = 0; t < T; t++) {
            const [t0, t1] = share(Math.floor(m / 4), T, t);
            const lo = t0 * 4, hi = t === T - 1 ? m : t1 * 4;
            parts.push([ai + lo * k * E, bp, cc + lo * ldc * E, hi - lo, k, np, k, ldc, ap + t * MC * KC * E, epi, bias]);
          }
          pool!.run(g.par, parts, g.gemm as (...x: number[]) => void);
        } else {
          g.gemm(ai, bp, cc, m, k, np, k, ldc, ap, epi, bias);
        }
        if (padded) for (let r = 0; r < m; r++) this.mem.copy(ci + r * n * E, cp + r * np * E, n * E);
      }
    } finally {
      this.mem.release(bp, k * np * E);
      this.mem.release(ap, T * MC * KC * E);
      if (padded) this.mem.release(cp, m * np * E);
    }
  }

  /** The engine's lowered dot (a reduction kernel), for dtypes the GEMM does not take. */
  private genericDot(out: WasmBuf, a: WasmBuf, b: WasmBuf, batch: number, m: number, k: number, n: number, ta: boolean, tb: boolean): void {
    this.stats.genericDotCalls++;
    const dt = out.dtype;
    const p = this.routineKernel(`dot:${dt}:${batch}:${m}:${k}:${n}:${ta}:${tb}`, () => {
      const o0 = lvar("o0", batch), o1 = lvar("o1", m), o2 = lvar("o2", n), r0 = lvar("r0", k);
      const ia = ta ? flatIndex([o0, r0, o1], [batch, k, m]) : flatIndex([o0, o1, r0], [batch, m, k]);
      const ib = tb ? flatIndex([o0, o2, r0], [batch, n, k]) : flatIndex([o0, r0, o2], [batch, k, n]);
      const la = { k: "load", buf: 1, idx: ia, valid: [], dt } as const;
      const lb = { k: "load", buf: 2, idx: ib, valid: [], dt } as const;
      const kernel: Kernel = {
        bufs: [{ dtype: dt, size: batch * m * n }, { dtype: dt, size: batch * m * k }, { dtype: dt, size: batch * k * n }],
        shape: [batch, m, n],
        reduce: { op: "sum", shape: [k], body: { k: "alu", op: "mul", srcs: [la, lb], dt } },
        value: { k: "acc", dt },
        store: { idx: flatIndex([o0, o1, o2], [batch, m, n]), mode: "set" },
        scalars: [],
      };
      return kernel;
    }, false);
    this.run(p.c, [out, a, b], []);
  }

}
