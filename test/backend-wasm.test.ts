/**
 * Conformance of the wasm backend against the raw Backend interface: buffers round-trip every
 * dtype, the allocator reuses and grows its memory without losing data, hand-built kernels give
 * bit for bit what the js backend (the reference) gives, and compile to wasm (not the js
 * fallback), and the dot routine (wasm GEMM, and the system BLAS when one is installed) matches a
 * float64 reference on odd sizes.
 */
import { describe, expect, it } from "vitest";
import type { Buf, HostArray } from "../src/ir/backend.ts";
import type { DType } from "../src/ir/dtype.ts";
import { IndexError } from "../src/ir/errors.ts";
import { flatIndex, ladd, lconst, ldiv, lmod, lval, lvar, lmul } from "../src/ir/index-expr.ts";
import type { Kernel, VExpr } from "../src/ir/kernel.ts";
import type { ConvParams } from "../src/ir/ops.ts";
import { JsBackend } from "../src/backends/js/backend.ts";
import { loadBlas } from "../src/backends/wasm/blas.ts";
import { WasmBackend } from "../src/backends/wasm/backend.ts";

const ALL: DType[] = ["float32", "float64", "float16", "bfloat16", "int32", "int64", "uint8", "bool"];
const SAMPLE: Record<DType, (number | bigint)[]> = {
  float32: [0, -1.5, 3.25, 1e30, -0, Infinity, -Infinity, NaN, 1 / 3],
  float64: [0, -1.5, 1e300, 5e-324, Infinity, NaN, Math.PI],
  float16: [0, 1, -2.5, 65504, Infinity, NaN, 0.1],
  bfloat16: [0, 1, -2.5, 3e38, Infinity, NaN, 0.1],
  int32: [0, 1, -1, 2147483647, -2147483648, 12345],
  int64: [0n, 1n, -1n, 9007199254740991n, -123456789012n],
  uint8: [0, 1, 127, 128, 255],
  bool: [0, 1, 1, 0],
};

const same = (a: HostArray, b: HostArray): boolean =>
  a.length === b.length && Array.from(a as ArrayLike<number | bigint>).every((v, i) => Object.is(v, (b as ArrayLike<number | bigint>)[i]));

function put(be: JsBackend | WasmBackend, dtype: DType, values: ArrayLike<number> | ArrayLike<bigint>): Buf {
  const b = be.alloc(dtype, values.length);
  be.write(b, values);
  return b;
}

/** Runs one kernel on both backends with the same inputs; returns [wasm, js] outputs. */
function runBoth(k: Kernel, inputs: (ArrayLike<number> | ArrayLike<bigint>)[], wasm = new WasmBackend({ strict: true, blas: "off" })): [HostArray, HostArray] {
  const js = new JsBackend();
  const outs = ([wasm, js] as const).map((be) => {
    const bufs = [be.alloc(k.bufs[0]!.dtype, k.bufs[0]!.size), ...inputs.map((v, i) => put(be, k.bufs[i + 1]!.dtype, v))];
    be.run(be.compile(k), bufs, k.scalars);
    return be.readSync(bufs[0]!);
  });
  return [outs[0]!, outs[1]!];
}

const o = (i: number, n: number) => lvar(`o${i}`, n);
const ld = (buf: number, idx: ReturnType<typeof lvar>, dt: DType, valid: Kernel["store"]["idx"][] = []): VExpr =>
  ({ k: "load", buf, idx, valid: valid.map((lin) => ({ lin, lo: 0, hi: 4 })), dt });
const alu = (op: Extract<VExpr, { k: "alu" }>["op"], srcs: VExpr[], dt: DType): VExpr => ({ k: "alu", op, srcs, dt });

describe("wasm backend: buffers", () => {
  for (const dt of ALL) {
    it(`${dt} round-trips through write and read`, async () => {
      const w = new WasmBackend({ blas: "off" }), j = new JsBackend();
      const vals = SAMPLE[dt] as ArrayLike<number> | ArrayLike<bigint>;
      const bw = put(w, dt, vals), bj = put(j, dt, vals);
      expect(bw.bytes).toBe(bj.bytes);
      expect(same(w.readSync(bw), j.readSync(bj))).toBe(true);
      expect(same(await w.read(bw), j.readSync(bj))).toBe(true);
    });
  }
  it("zeroes new buffers, reuses freed memory, and keeps data when the memory grows", () => {
    const w = new WasmBackend({ blas: "off" });
    const a = put(w, "float32", [1, 2, 3, 4]);
    const b = w.alloc("float32", 1000);
    w.write(b, new Float32Array(1000).fill(7));
    w.free(b);
    const c = w.alloc("float32", 1000); // the freed block, zeroed again
    expect(w.offset(c)).toBe(w.offset(b));
    expect(Array.from(w.readSync(c) as Float32Array).every((v) => v === 0)).toBe(true);
    const before = w.mem.size;
    const big = w.alloc("float64", 1 << 20); // 8 MiB: past the initial memory
    expect(w.mem.size).toBeGreaterThan(before);
    w.write(big, new Float64Array(1 << 20).fill(0.5));
    expect(Array.from(w.readSync(a) as Float32Array)).toEqual([1, 2, 3, 4]);
    expect((w.readSync(big) as Float64Array)[(1 << 20) - 1]).toBe(0.5);
    w.free(big);
    w.free(c);
    w.free(a);
    expect(w.mem.stats().freeBlocks).toBe(0); // everything merged back into the top
    const empty = w.alloc("int32", 0);
    expect(w.readSync(empty).length).toBe(0);
    w.free(empty);
  });
});

describe("wasm backend: kernels match the js backend bit for bit", () => {
  it("float32 elementwise chain with transcendental functions", () => {
    const x = o(0, 6), dt = "float32";
    const a = ld(1, x, dt), b = ld(2, x, dt);
    const v = alu("add", [alu("mul", [alu("exp", [a], dt), alu("sin", [b], dt)], dt), alu("div", [alu("sqrt", [a], dt), alu("erf", [b], dt)], dt)], dt);
    const k: Kernel = { bufs: [{ dtype: dt, size: 6 }, { dtype: dt, size: 6 }, { dtype: dt, size: 6 }], shape: [6], reduce: null, value: v, store: { idx: x, mode: "set" }, scalars: [] };
    const [w, j] = runBoth(k, [[0.5, 1, 2, 3.5, 0, 9], [-1, 0.25, 2, NaN, 0, -3]]);
    expect(same(w, j)).toBe(true);
  });
  it("sum, max and prod reductions over a transposed view", () => {
    for (const op of ["sum", "amax", "prod"] as const) {
      for (const dt of ["float32", "float64", "int32"] as const) {
        const i = o(0, 3), r = lvar("r0", 4);
        const body = ld(1, ladd(lmul(r, 3), i), dt); // x^T: reads column i
        const k: Kernel = { bufs: [{ dtype: dt, size: 3 }, { dtype: dt, size: 12 }], shape: [3], reduce: { op, shape: [4], body }, value: { k: "acc", dt }, store: { idx: i, mode: "set" }, scalars: [] };
        const [w, j] = runBoth(k, [[1, -2, 3, 4.5, 5, -6, 7, 8, 9, -1, 0.5, 2].map((v) => (dt === "int32" ? Math.trunc(v) : v))]);
        expect(same(w, j), `${op} ${dt}`).toBe(true);
      }
    }
  });
  it("padded loads (validity conditions), div/mod index atoms and integer edge cases", () => {
    const i = o(0, 8), dt = "int32";
    const shifted = ladd(i, -2); // pad 2 on the left: valid where 0 <= i-2 < 4
    const a = ld(1, shifted, dt, [shifted]);
    const q = ld(2, lmod(ldiv(ladd(lmul(i, 3), -5), 2), 4), dt); // floor((3i-5)/2) mod 4, negative at first
    const v = alu("add", [alu("idiv", [a, q], dt), alu("mod", [q, a], dt)], dt);
    const k: Kernel = { bufs: [{ dtype: dt, size: 8 }, { dtype: dt, size: 4 }, { dtype: dt, size: 4 }], shape: [8], reduce: null, value: v, store: { idx: i, mode: "set" }, scalars: [] };
    const [w, j] = runBoth(k, [[-2147483648, 7, -9, 0], [-1, 0, 3, -4]]);
    expect(same(w, j)).toBe(true);
  });
  it("casts between float, integer and bool dtypes", () => {
    const i = o(0, 8);
    const src = ld(1, i, "float64");
    for (const to of ["float32", "int32", "uint8", "bool", "int64"] as const) {
      const k: Kernel = { bufs: [{ dtype: to, size: 8 }, { dtype: "float64", size: 8 }], shape: [8], reduce: null, value: alu("cast", [src], to), store: { idx: i, mode: "set" }, scalars: [] };
      // (int64 holds no NaN: the js backend cannot read one back either)
      const [w, j] = runBoth(k, [[0, -1.5, 2.7, 300, -300, to === "int64" ? 7.5 : NaN, 1e10, -0]]);
      expect(same(w, j), `float64 -> ${to}`).toBe(true);
    }
  });
  it("random numbers equal the js backend's for one key and offset", () => {
    for (const dt of ["float32", "float64"] as const) {
      const i = o(0, 64);
      const k: Kernel = { bufs: [{ dtype: dt, size: 64 }], shape: [64], reduce: null, value: { k: "random", state: 0, counter: i, dt }, store: { idx: i, mode: "set" }, scalars: [12345, 678, 1000] };
      const [w, j] = runBoth(k, []);
      expect(same(w, j)).toBe(true);
    }
  });
  it("gathers through checked indices, and raises IndexError on a bad one", () => {
    const i = o(0, 4), dt = "float32";
    const idx = ld(2, i, "int64");
    const checked: VExpr = { k: "check", src: idx, size: 3, valid: [], what: "gather", dt: "int64" };
    const v = ld(1, lval(checked, 0, 2), dt);
    const k: Kernel = { bufs: [{ dtype: dt, size: 4 }, { dtype: dt, size: 3 }, { dtype: "int64", size: 4 }], shape: [4], reduce: null, value: v, store: { idx: i, mode: "set" }, scalars: [] };
    const [w, j] = runBoth(k, [[10, 20, 30], [2, 0, 1, 2]]);
    expect(same(w, j)).toBe(true);
    expect(Array.from(w as Float32Array)).toEqual([30, 10, 20, 30]);
    expect(() => runBoth(k, [[10, 20, 30], [2, 0, 3, 2]])).toThrow(IndexError);
    expect(() => runBoth(k, [[10, 20, 30], [2, 0, 3, 2]])).toThrow("gather: index 3 is out of bounds for dimension with size 3");
  });
  it("scatter-add stores (store mode add)", () => {
    const i = o(0, 5), dt = "float32";
    const at = lval({ k: "check", src: ld(2, i, "int32"), size: 3, valid: [], what: "scatterAdd", dt: "int32" }, 0, 2);
    const k: Kernel = { bufs: [{ dtype: dt, size: 3 }, { dtype: dt, size: 5 }, { dtype: "int32", size: 5 }], shape: [5], reduce: null, value: ld(1, i, dt), store: { idx: flatIndex([at], [3]), mode: "add" }, scalars: [] };
    const [w, j] = runBoth(k, [[1, 2, 3, 4, 5], [0, 2, 0, 1, 2]]);
    expect(Array.from(w as Float32Array)).toEqual([4, 4, 7]);
    expect(same(w, j)).toBe(true);
  });
  it("falls back to the js renderer for half precision, with the same results", () => {
    const i = o(0, 4), dt = "float16";
    const k: Kernel = { bufs: [{ dtype: dt, size: 4 }, { dtype: dt, size: 4 }], shape: [4], reduce: null, value: alu("exp", [ld(1, i, dt)], dt), store: { idx: i, mode: "set" }, scalars: [] };
    expect(() => runBoth(k, [[0, 1, -1, 2]])).toThrow(/float16/); // strict: no fallback
    const lenient = new WasmBackend({ blas: "off" });
    const [w, j] = runBoth(k, [[0, 1, -1, 2]], lenient);
    expect(same(w, j)).toBe(true);
    expect(lenient.stats.jsKernels).toBe(1);
  });
  it("a constant-index kernel over an empty reduction", () => {
    const i = o(0, 2);
    const k: Kernel = { bufs: [{ dtype: "float32", size: 2 }, { dtype: "float32", size: 1 }], shape: [2], reduce: { op: "sum", shape: [0], body: ld(1, lconst(0), "float32") }, value: { k: "acc", dt: "float32" }, store: { idx: i, mode: "set" }, scalars: [] };
    const [w, j] = runBoth(k, [[5]]);
    expect(Array.from(w as Float32Array)).toEqual([0, 0]);
    expect(same(w, j)).toBe(true);
  });
});

describe("wasm backend: dot routine", () => {
  const blas = loadBlas();
  // [batch, m, k, n]; [8, 5, 9, 16] and [7, 12, 20, 24]: batches that threads share by products.
  const cases: [number, number, number, number][] = [[1, 1, 1, 1], [2, 7, 13, 19], [1, 65, 300, 33], [3, 4, 8, 8], [1, 130, 257, 17], [2, 98, 300, 24], [8, 5, 9, 16], [7, 12, 20, 24]];
  const paths: [string, "off" | "on", number][] = [["wasm GEMM", "off", 1], ["wasm GEMM on 3 threads", "off", 3], ...(blas ? [[`BLAS (${blas.library})`, "on", 1] as [string, "on", number]] : [])];
  for (const [label, mode, threads] of paths) {
    for (const dt of ["float32", "float64", "int32"] as const) {
      it(`${label} ${dt} matches a float64 reference`, () => {
        const w = new WasmBackend({ blas: mode as "off" | "on", threads });
        let seed = 1;
        const rnd = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 4 - 2;
        // Every case with each operand stored as is and transposed.
        const runs = cases.flatMap((c) => [[false, false], [true, false], [false, true], [true, true]].map(([ta, tb]) => [c, ta, tb] as const));
        for (const [[batch, m, k, n], ta, tb] of runs) {
          const av = Array.from({ length: batch * m * k }, () => (dt === "int32" ? Math.round(rnd() * 3) : rnd()));
          const bv = Array.from({ length: batch * k * n }, () => (dt === "int32" ? Math.round(rnd() * 3) : rnd()));
          /** [batch, r, c] values stored as [batch, c, r]. */
          const T = (v: number[], r: number, c: number) => v.map((_, f) => { const q = Math.floor(f / (r * c)), j = Math.floor(f / r) % c, i = f % r; return v[q * r * c + i * c + j]!; });
          const a = put(w, dt, ta ? T(av, m, k) : av), b = put(w, dt, tb ? T(bv, k, n) : bv), out = w.alloc(dt, batch * m * n);
          w.routines.dot!(out, a, b, batch, m, k, n, ta, tb);
          const got = w.readSync(out) as Float32Array;
          for (let q = 0; q < batch; q++) {
            for (let i = 0; i < m; i++) {
              for (let j = 0; j < n; j++) {
                let s = 0;
                for (let r = 0; r < k; r++) s += av[q * m * k + i * k + r]! * bv[q * k * n + r * n + j]!;
                const g = got[q * m * n + i * n + j]!;
                const tol = dt === "float32" ? 1e-5 * (1 + Math.abs(s)) * Math.sqrt(k) : dt === "float64" ? 1e-12 * (1 + Math.abs(s)) : 0;
                if (Math.abs(g - s) > tol) throw new Error(`${label} ${dt} [${batch},${m},${k},${n}] ta=${ta} tb=${tb} at (${q},${i},${j}): got ${g}, want ${s}`);
              }
            }
          }
        }
        if (dt === "int32") expect(w.stats.genericDotCalls).toBe(runs.length);
        else if (mode === "on") expect(w.stats.blasCalls).toBe(runs.length);
        else expect(w.stats.gemmCalls).toBe(runs.length);
      });
    }
  }
  it.skipIf(!blas?.threads)("a small BLAS product runs on one thread and leaves the library's thread count as it was", () => {
    const w = new WasmBackend({ blas: "on" });
    const before = blas!.threads!.get();
    const a = put(w, "float32", new Float32Array(128 * 10).fill(1)), b = put(w, "float32", new Float32Array(10 * 512).fill(0.5));
    const out = w.alloc("float32", 128 * 512);
    let seen = 0;
    const sgemm = blas!.sgemm;
    (blas as { sgemm: typeof sgemm }).sgemm = (...args) => { seen = blas!.threads!.get(); sgemm(...args); };
    try {
      w.routines.dot!(out, a, b, 1, 128, 10, 512, false, false);
    } finally {
      (blas as { sgemm: typeof sgemm }).sgemm = sgemm;
    }
    expect(seen).toBe(1);
    expect(blas!.threads!.get()).toBe(before);
    expect(Array.from(w.readSync(out) as Float32Array).every((v) => v === 5)).toBe(true);
  });
  it("the wasm GEMM leaves its scratch memory free afterwards", () => {
    const w = new WasmBackend({ blas: "off" });
    const a = put(w, "float32", new Float32Array(9 * 11).fill(1)), b = put(w, "float32", new Float32Array(11 * 5).fill(2));
    const out = w.alloc("float32", 45);
    const before = w.mem.stats();
    w.routines.dot!(out, a, b, 1, 9, 11, 5, false, true);
    expect(w.mem.stats()).toEqual(before);
    expect(Array.from(w.readSync(out) as Float32Array).every((v) => v === 22)).toBe(true);
  });
});

describe("wasm backend: conv routine", () => {
  /** Plain loops over NCHW (any spatial rank), float64: the reference. */
  function refConv(x: number[], xs: number[], w: number[], ws: number[], p: ConvParams): number[] {
    const G = p.groups, cinG = ws[1]!, coutG = ws[0]! / G;
    const ys = xs.slice(2).map((X, i) => Math.floor((X + p.padding[i]![0] + p.padding[i]![1] - p.dilation[i]! * (ws[i + 2]! - 1) - 1) / p.stride[i]!) + 1);
    const P = ys.reduce((a, b) => a * b, 1), K = ws.slice(2).reduce((a, b) => a * b, 1), X = xs.slice(2).reduce((a, b) => a * b, 1);
    const unflat = (f: number, shape: number[]) => shape.map((_, i) => Math.floor(f / shape.slice(i + 1).reduce((a, b) => a * b, 1)) % shape[i]!);
    const out = new Array<number>(xs[0]! * ws[0]! * P).fill(0);
    for (let n = 0; n < xs[0]!; n++) for (let co = 0; co < ws[0]!; co++) for (let q = 0; q < P; q++) {
      const y = unflat(q, ys);
      let s = 0;
      for (let ci = 0; ci < cinG; ci++) for (let t = 0; t < K; t++) {
        const k = unflat(t, ws.slice(2));
        const at = y.map((yy, i) => yy * p.stride[i]! + k[i]! * p.dilation[i]! - p.padding[i]![0]);
        if (at.some((a, i) => a < 0 || a >= xs[i + 2]!)) continue;
        const xi = at.reduce((acc, a, i) => acc * xs[i + 2]! + a, 0);
        s += x[(n * xs[1]! + Math.floor(co / coutG) * cinG + ci) * X + xi]! * w[(co * cinG + ci) * K + t]!;
      }
      out[(n * ws[0]! + co) * P + q] = s;
    }
    return out;
  }
  const cases: [string, number[], number[], ConvParams][] = [
    ["2d 3x3", [2, 3, 6, 5], [4, 3, 3, 3], { stride: [1, 1], padding: [[0, 0], [0, 0]], dilation: [1, 1], groups: 1 }],
    ["2d stride, padding, dilation, groups", [2, 4, 9, 8], [6, 2, 3, 2], { stride: [2, 1], padding: [[1, 2], [0, 1]], dilation: [2, 1], groups: 2 }],
    ["1d 1x1", [3, 4, 7], [6, 2, 1], { stride: [1], padding: [[0, 0]], dilation: [1], groups: 2 }],
    ["2d full correlation (transposed conv path)", [3, 3, 5, 4], [4, 3, 3, 2], { stride: [1, 1], padding: [[2, 2], [1, 1]], dilation: [1, 1], groups: 1 }],
    ["2d full correlation, rows with a vector part and a scalar tail", [4, 3, 5, 6], [5, 3, 3, 3], { stride: [1, 1], padding: [[2, 2], [2, 2]], dilation: [1, 1], groups: 1 }],
    ["1d full correlation", [2, 5, 7], [3, 5, 4], { stride: [1], padding: [[3, 3]], dilation: [1], groups: 1 }],
    ["2d unfolded by rows (a weight gradient's shape: kernel wider than the output)", [3, 4, 12, 13], [5, 4, 9, 10], { stride: [1, 1], padding: [[0, 0], [1, 0]], dilation: [1, 1], groups: 1 }],
    ["2d unfolded by rows, strided and dilated", [2, 3, 15, 17], [4, 3, 3, 12], { stride: [2, 1], padding: [[1, 1], [0, 2]], dilation: [2, 1], groups: 1 }],
    ["3d", [1, 2, 4, 5, 3], [3, 2, 2, 3, 2], { stride: [1, 2, 1], padding: [[1, 0], [1, 1], [0, 0]], dilation: [1, 1, 2], groups: 1 }],
    ["2d chunked over images (8 images, 6 per chunk)", [8, 1, 260, 260], [2, 1, 3, 3], { stride: [1, 1], padding: [[1, 1], [1, 1]], dilation: [1, 1], groups: 1 }],
  ];
  const blas = loadBlas();
  for (const mode of ["off", ...(blas ? ["on"] : [])] as const) {
    for (const [label, xs, ws, p] of cases) {
      for (const dt of ["float32", "float64", "int32"] as const) {
        it(`${label}, ${dt}, BLAS ${mode}: matches plain loops and frees its scratch`, () => {
          const be = new WasmBackend({ blas: mode as "on" | "off", strict: true });
          let seed = 3;
          const rnd = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 4 - 2;
          const num = (s: number[]) => s.reduce((a, b) => a * b, 1);
          const xv = Array.from({ length: num(xs) }, () => (dt === "int32" ? Math.round(rnd()) : rnd()));
          const wv = Array.from({ length: num(ws) }, () => (dt === "int32" ? Math.round(rnd()) : rnd()));
          const want = refConv(xv, xs, wv, ws, p);
          const x = put(be, dt, xv), w = put(be, dt, wv), out = be.alloc(dt, want.length);
          const before = be.mem.stats();
          be.routines.conv!(out, x, w, xs, ws, p);
          expect(be.mem.stats()).toEqual(before);
          const got = be.readSync(out) as Float32Array;
          const tol = dt === "float32" ? 1e-4 : dt === "float64" ? 1e-10 : 0;
          for (let i = 0; i < want.length; i++) {
            if (Math.abs(got[i]! - want[i]!) > tol * (1 + Math.abs(want[i]!))) throw new Error(`${label} ${dt} at ${i}: got ${got[i]}, want ${want[i]}`);
          }
          if (dt === "int32") expect(be.stats.convDirectCalls).toBe(1);
          else expect(be.stats.convGemmCalls).toBe(1);
          expect(be.stats.jsKernels).toBe(0);
        });
      }
    }
  }
});

describe("wasm backend: worker threads", () => {
  it("splits kernels over threads with the same results as one thread, and reports its runs", () => {
    const k: Kernel = {
      bufs: [{ dtype: "float32", size: 37 * 5 }, { dtype: "float32", size: 37 * 5 * 3 }],
      shape: [37, 5],
      reduce: { op: "sum", shape: [3], body: alu("exp", [ld(1, flatIndex([o(0, 37), o(1, 5), lvar("r0", 3)], [37, 5, 3]), "float32")], "float32") },
      value: { k: "acc", dt: "float32" },
      store: { idx: flatIndex([o(0, 37), o(1, 5)], [37, 5]), mode: "set" },
      scalars: [],
    };
    const input = Array.from({ length: 37 * 15 }, (_, i) => Math.sin(i) * 3);
    const one = new WasmBackend({ threads: 1 });
    const many = new WasmBackend({ threads: 3, parallelMinWork: 1 });
    const [a] = runBoth(k, [input], one);
    const [b] = runBoth(k, [input], many);
    expect(many.pool?.threads).toBe(3);
    // The first run may find workers still starting (their shares then run on the caller).
    for (let i = 0; i < 20; i++) runBoth(k, [input], many);
    expect(same(a, b)).toBe(true);
    expect(many.stats.parallelRuns).toBeGreaterThan(0);
    expect(one.stats.parallelRuns).toBe(0);
  });
});

describe("wasm backend: engine and routines", () => {
  it("a dot reads transposed operands in place (no copy kernels), forward and backward", async () => {
    const st = await import("../src/index.ts");
    st.registerBackend("wasm-sched", () => new WasmBackend({ name: "wasm-sched" }));
    const x = st.randn([6, 5], { device: "wasm-sched" }), w = st.randn([4, 5], { device: "wasm-sched" }).requiresGrad_();
    st.realize(x, w);
    const y = x.matmul(w.t());
    const items = st.engine.schedule(y);
    expect(items.map((i) => i.kind)).toEqual(["routine"]);
    expect(items[0]!.kind === "routine" && items[0]!.trans).toEqual([false, true]);
    // The weight's gradient, dY^T @ X, reads dY transposed in place as well.
    const g = st.randn([6, 4], { device: "wasm-sched" });
    st.realize(g);
    y.backward(g);
    const host = (t: typeof g) => Array.from(t.dataSync() as Float32Array);
    const want = st.tensor(host(g), { device: "js" }).reshape([6, 4]).t().matmul(st.tensor(host(x), { device: "js" }).reshape([6, 5]));
    const got = host(w.grad!), ref = host(want);
    got.forEach((v, i) => expect(v).toBeCloseTo(ref[i]!, 4));
    // The input's gradient, dY @ (W^T)^T, reads W as stored: the two transposes cancel, no copy.
    const xr = st.randn([6, 5], { device: "wasm-sched" }).requiresGrad_();
    const dx = st.grad(xr.matmul(w.t()).mul(g).sum(), [xr])[0]!;
    const dxItems = st.engine.schedule(dx);
    expect(dxItems.filter((i) => i.out.op === "permute")).toHaveLength(0);
    const dot = dxItems.find((i) => i.kind === "routine");
    expect(dot?.kind === "routine" && dot.trans).toEqual([false, false]);
    expect(dot!.ins[1]).toBe(w.node);
    const dxRef = st.tensor(host(g), { device: "js" }).reshape([6, 4]).matmul(st.tensor(host(w), { device: "js" }).reshape([4, 5]));
    host(dx).forEach((v, i) => expect(v).toBeCloseTo(host(dxRef)[i]!, 4));
    // A sequence through a linear map folds into one product: [2, 3, 5] @ [5, 4].
    const seq = st.randn([2, 3, 5], { device: "wasm-sched" });
    st.realize(seq);
    const kinds = st.engine.schedule(seq.matmul(w.t())).map((i) => i.kind);
    expect(kinds).toEqual(["routine", "kernel"]); // the product, then its reshape to [2, 3, 4]
  });

  it("self-attention projects q, k and v with one product, and batch-first inputs are not transposed", async () => {
    const st = await import("../src/index.ts");
    st.registerBackend("wasm-sched", () => new WasmBackend({ name: "wasm-sched" }));
    const before = st.getDefaultDevice();
    st.device("wasm-sched");
    try {
      const mha = new st.nn.MultiheadAttention(16, 4, { batchFirst: true });
      const x = st.randn([2, 5, 16]);
      st.realize(x);
      const [y] = mha.forward(x, x, x, { needWeights: false });
      const items = st.engine.schedule(y);
      const dots = items.filter((i) => i.kind === "routine" && i.name === "dot");
      // The packed in-projection [10, 16] @ [16, 48], the scores, the context, the out-projection.
      expect(dots.map((d) => d.kind === "routine" && d.dims)).toEqual([[10, 48], [2, 4, 5, 5], [2, 4, 5, 4], [10, 16]]);
      expect(dots[0]!.ins[0]).toBe(x.node); // x itself, not a transposed copy
      // Against the three separate projections the module uses for distinct query, key and value.
      const [ref] = mha.forward(x, x.mul(1), x.mul(1), { needWeights: false });
      const a = y.dataSync() as Float32Array, b = ref.dataSync() as Float32Array;
      a.forEach((v, i) => expect(v).toBeCloseTo(b[i]!, 5));
    } finally {
      st.device(before);
    }
  });

  it("a weight's gradient through a sequence is computed in the weight's orientation (no transpose kernel)", async () => {
    const st = await import("../src/index.ts");
    st.registerBackend("wasm-sched", () => new WasmBackend({ name: "wasm-sched" }));
    const w = st.randn([4, 5], { device: "wasm-sched" }).requiresGrad_();
    const seq = st.randn([2, 3, 5], { device: "wasm-sched" }), g = st.randn([2, 3, 4], { device: "wasm-sched" });
    st.realize(w, seq, g);
    const dw = st.grad(seq.matmul(w.t()).mul(g).sum(), [w])[0]!;
    const items = st.engine.schedule(dw);
    // dW = G^T @ X, [4, 6] @ [6, 5], as one routine storing dW itself: (X^T G)^T computed transposed.
    expect(items.filter((i) => i.kind === "kernel" && i.out.op === "permute")).toHaveLength(0);
    expect(items.find((i) => i.kind === "routine")?.out).toBe(dw.node);
    const host = (t: typeof g) => Array.from(t.dataSync() as Float32Array);
    const ref = st.tensor(host(g), { device: "js" }).reshape([6, 4]).t().matmul(st.tensor(host(seq), { device: "js" }).reshape([6, 5]));
    const got = host(dw), want = host(ref);
    got.forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 4));
  });
});

describe("wasm backend: exp and log of float32 kernels", () => {
  it("round to the same float32 as Math.exp and Math.log, special values included", async () => {
    const { ModuleBuilder } = await import("../src/backends/wasm/encoder.ts");
    const { expFn, logFn } = await import("../src/backends/wasm/math.ts");
    const { Wasm } = await import("../src/backends/wasm/wasm-api.ts");
    const mb = new ModuleBuilder();
    mb.addFunc("exp", expFn());
    mb.addFunc("log", logFn());
    const ex = new Wasm.Instance(new Wasm.Module(mb.encode()), { env: { memory: new Wasm.Memory({ initial: 1 }) } }).exports as Record<"exp" | "log", (x: number) => number>;
    const f = Math.fround;
    let seed = 7;
    const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    const xs = [0, -0, 1, -1, 88.7, 89, -103, -104, -746, 710, 709.7, Infinity, -Infinity, NaN, 1e-300, 5e-324, ...Array.from({ length: 50000 }, () => f((rnd() - 0.5) * 200))];
    for (const x of xs) expect(Object.is(f(ex.exp(x)), f(Math.exp(x))), `exp(${x})`).toBe(true);
    const ls = [0, -0, 1, 2, 0.5, Infinity, -1, NaN, 5e-324, 1e-310, 1e300, Math.SQRT2, ...Array.from({ length: 50000 }, () => f(Math.exp((rnd() - 0.5) * 160)))];
    for (const x of ls) expect(Object.is(f(ex.log(x)), f(Math.log(x))), `log(${x})`).toBe(true);
  });
});

describe("wasm backend: bias gradients as products", () => {
  it("the gradient of a bias broadcast over many rows is a product with ones, and equals the column sums", async () => {
    const st = await import("../src/index.ts");
    st.registerBackend("wasm-bias", () => new WasmBackend({ name: "wasm-bias" }));
    for (const dtype of ["float32", "float64"] as const) {
      const g = st.randn([3, 40, 70], { device: "wasm-bias", dtype }), b = st.zeros([70], { device: "wasm-bias", dtype }).requiresGrad_();
      st.realize(g);
      const y = b.expand([3, 40, 70]);
      const [lazy] = st.grad(y, [b], { gradOutputs: [g] });
      // One routine call (its ones operand a fill kernel, its result reshaped), and no reduction kernel.
      const items = st.engine.schedule(lazy!);
      expect(items.filter((i) => i.kind === "routine")).toHaveLength(1);
      expect(items.some((i) => i.kind === "kernel" && i.kernel.reduce)).toBe(false);
      const gv = Array.from(g.dataSync() as Float64Array), got = Array.from(lazy!.dataSync() as Float64Array);
      for (let j = 0; j < 70; j++) {
        let s = 0;
        for (let r = 0; r < 120; r++) s += gv[r * 70 + j]!;
        expect(got[j]).toBeCloseTo(s, dtype === "float32" ? 3 : 10);
      }
    }
  });
});

describe("wasm backend: relaxed SIMD multiply-adds in the GEMM", () => {
  it("the feature check says what the engine has: on from V8 11.4, before that only under its flag", async () => {
    const { hasRelaxedSimd } = await import("../src/backends/wasm/features.ts");
    const [major, minor] = process.versions.v8.split(".").map(Number) as [number, number];
    const expected = major > 11 || (major === 11 && minor >= 4) || process.execArgv.includes("--experimental-wasm-relaxed-simd");
    expect(hasRelaxedSimd()).toBe(expected);
  });

  it("the GEMM holds relaxed_madd exactly when the engine has it and it is not turned off", async () => {
    const { hasRelaxedSimd } = await import("../src/backends/wasm/features.ts");
    const { emitGemm } = await import("../src/backends/wasm/gemm.ts");
    /** Whether the module holds the 0xfd-prefixed opcode, LEB128-encoded. */
    const holds = (bytes: Uint8Array, op: number) => Buffer.from(bytes).includes(Buffer.from([0xfd, 0x80 | (op & 0x7f), op >> 7]));
    for (const [dt, op] of [["float32", 0x105], ["float64", 0x107]] as const) {
      expect(holds(emitGemm(dt, false), op)).toBe(hasRelaxedSimd());
      expect(holds(emitGemm(dt, true), op)).toBe(hasRelaxedSimd());
      expect(holds(emitGemm(dt, false, false), op)).toBe(false);
    }
  });

  it("products with and without it match a float64 reference within the dtype's rounding bound", async () => {
    const { hasRelaxedSimd } = await import("../src/backends/wasm/features.ts");
    let seed = 11;
    const rnd = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 4 - 2;
    // Across a k-block (KC 256), an A block (MC 64), a ragged panel and leftover rows.
    const cases: [number, number, number][] = [[1, 1, 1], [5, 3, 9], [70, 300, 45], [9, 513, 17]];
    for (const relaxedSimd of [true, false]) {
      for (const threads of [1, 2]) {
        const w = new WasmBackend({ blas: "off", threads, relaxedSimd });
        for (const dt of ["float32", "float64"] as const) {
          // Recursive summation of k products (each rounded, or fused) is off by at most
          // (k + 1)·u·Σ|a·b|; the float64 reference's own error counts once more for float64.
          const u = dt === "float32" ? 2 ** -24 : 2 ** -53, refErr = dt === "float32" ? 0 : 1;
          for (const [m, k, n] of cases) {
            const round = dt === "float32" ? Math.fround : (x: number) => x;
            const av = Array.from({ length: m * k }, () => round(rnd())), bv = Array.from({ length: k * n }, () => round(rnd()));
            const a = put(w, dt, av), b = put(w, dt, bv), out = w.alloc(dt, m * n);
            w.routines.dot!(out, a, b, 1, m, k, n, false, false);
            const got = w.readSync(out) as Float32Array | Float64Array;
            for (let i = 0; i < m; i++) {
              for (let j = 0; j < n; j++) {
                let s = 0, abs = 0;
                for (let r = 0; r < k; r++) {
                  const p = av[i * k + r]! * bv[r * n + j]!;
                  s += p;
                  abs += Math.abs(p);
                }
                const tol = (k + 1 + refErr * (k + 1)) * u * abs * 1.01;
                const g = got[i * n + j]!;
                if (!(Math.abs(g - s) <= tol)) throw new Error(`relaxedSimd=${relaxedSimd} (engine: ${hasRelaxedSimd()}) threads=${threads} ${dt} [${m},${k},${n}] at (${i},${j}): got ${g}, want ${s} ± ${tol}`);
              }
            }
            w.free(a);
            w.free(b);
            w.free(out);
          }
        }
        expect(w.stats.gemmCalls).toBe(2 * cases.length);
      }
    }
  });

  it("a fused multiply-add keeps the product's low bits, an unfused one may not; off, never", async () => {
    const { hasRelaxedSimd } = await import("../src/backends/wasm/features.ts");
    // (-1)·(1 + 2^-11) + x·x with x = 1 + 2^-12: exactly 2^-24, which the product rounded to
    // float32 alone (1 + 2^-11) loses.
    const x = 1 + 2 ** -12;
    const run = (relaxedSimd: boolean) => {
      const w = new WasmBackend({ blas: "off", threads: 1, relaxedSimd });
      const a = put(w, "float32", [-1, x]), b = put(w, "float32", [1 + 2 ** -11, x]), out = w.alloc("float32", 1);
      w.routines.dot!(out, a, b, 1, 1, 2, 1, false, false);
      return (w.readSync(out) as Float32Array)[0]!;
    };
    // Relaxed SIMD may fuse or not where the engine has it; without it the GEMM multiplies and adds.
    if (hasRelaxedSimd()) expect([0, 2 ** -24]).toContain(run(true));
    else expect(run(true)).toBe(0);
    expect(run(false)).toBe(0);
  });
});
