/**
 * Vectorized wasm kernels (src/backends/wasm/vector.ts) give bit for bit what the js backend
 * gives: tensor programs on inputs with special values (NaN, ±Infinity, -0, huge and tiny
 * numbers), with innermost dims that leave a scalar tail (9, 13, 67), contiguous and strided
 * loads, broadcasts, padding, reductions along and across the vectorized dim, and every dtype the
 * lanes hold. Each program must also have run at least one vectorized kernel, so a planner that
 * stopped vectorizing would fail here rather than pass on the scalar path.
 */
import { describe, expect, it } from "vitest";
import * as st from "../src/index.ts";
import { WasmBackend } from "../src/backends/wasm/backend.ts";

let wasm: WasmBackend | undefined;
// Three threads from one output of work: every split kernel splits, the vectorized dim included.
st.registerBackend("wasm-vec", () => (wasm = new WasmBackend({ name: "wasm-vec", blas: "off", threads: 3, parallelMinWork: 1, strict: true })));

const SPECIAL = [NaN, Infinity, -Infinity, -0, 0, 1e30, -1e-30, 88.5, -104, 1e-45, 3.4e38];

/** Deterministic inputs: mostly moderate values, with special ones sprinkled in. */
function data(n: number, seed: number, specials = true): number[] {
  let s = seed >>> 0;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const u = s / 2 ** 32;
    out.push(specials && i % 7 === 3 ? SPECIAL[(s >>> 8) % SPECIAL.length]! : (u - 0.5) * 8);
  }
  return out;
}

type Inputs = Record<string, { shape: number[]; dtype?: st.DType; specials?: boolean }>;

function bothDevices(inputs: Inputs, program: (t: Record<string, st.Tensor>) => st.Tensor): [ArrayLike<number>, ArrayLike<number>, number] {
  const results: ArrayLike<number>[] = [];
  let vec = 0;
  for (const device of ["js", "wasm-vec"]) {
    const t: Record<string, st.Tensor> = {};
    let seed = 1;
    for (const [name, { shape, dtype, specials }] of Object.entries(inputs)) {
      const n = shape.reduce((a, b) => a * b, 1);
      let v = data(n, seed++, specials ?? true);
      if (dtype === "int32") v = v.map((x) => (Number.isFinite(x) ? Math.round(x * 1000) : 7));
      if (dtype === "uint8") v = v.map((x) => (Number.isFinite(x) ? Math.abs(Math.round(x * 30)) & 255 : 3));
      if (dtype === "bool") v = v.map((x) => (x > 0 ? 1 : 0));
      t[name] = st.tensor(v, { dtype: dtype ?? "float32", device }).reshape(shape);
    }
    const before = device === "js" ? 0 : wasm?.stats.vectorKernels ?? 0;
    const out = program(t);
    const arr = out.dataSync();
    results.push(Array.from(arr as ArrayLike<number>, (x) => (typeof x === "boolean" ? Number(x) : x)));
    if (device !== "js") vec = wasm!.stats.vectorKernels - before;
  }
  return [results[1]!, results[0]!, vec];
}

const sameBits = (a: ArrayLike<number>, b: ArrayLike<number>): string | null => {
  if (a.length !== b.length) return `length ${a.length} vs ${b.length}`;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i]) && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) return `at ${i}: wasm ${a[i]} vs js ${b[i]}`;
  return null;
};

const CASES: [string, Inputs, (t: Record<string, st.Tensor>) => st.Tensor][] = [
  ["add, mul, div, sub with a row broadcast", { a: { shape: [5, 67] }, b: { shape: [1, 67] } }, ({ a, b }) => a!.add(b!).mul(a!).div(b!.sub(0.5))],
  ["column broadcast (a scalar per row) and constants", { a: { shape: [6, 13] }, b: { shape: [6, 1] } }, ({ a, b }) => a!.sub(b!).mul(2.5).add(-1)],
  ["exp of special values", { a: { shape: [3, 67] } }, ({ a }) => a!.exp()],
  ["exp over the whole float32 range", { a: { shape: [4, 67], specials: false } }, ({ a }) => a!.mul(30).exp()],
  ["softmax over the vectorized dim", { a: { shape: [9, 13], specials: false } }, ({ a }) => a!.softmax(-1)],
  ["softmax across rows", { a: { shape: [13, 9], specials: false } }, ({ a }) => a!.softmax(0)],
  ["log, sin, sqrt, reciprocal, trunc (some lane by lane)", { a: { shape: [2, 67] } }, ({ a }) => a!.abs().log().add(a!.sin()).add(a!.sqrt()).add(a!.reciprocal()).add(a!.trunc())],
  ["relu, maximum, minimum, clamp, where", { a: { shape: [4, 13] }, b: { shape: [4, 13] } }, ({ a, b }) => a!.relu().add(a!.maximum(b!)).add(a!.minimum(b!)).add(a!.clamp(-1, 2)).add(st.where(a!.gt(b!), a!, b!))],
  ["compares to bool and back", { a: { shape: [3, 67] }, b: { shape: [3, 67] } }, ({ a, b }) => a!.lt(b!).logicalOr(a!.eq(b!)).logicalXor(a!.isnan()).float()],
  ["int32 arithmetic and casts", { a: { shape: [3, 13], dtype: "int32" }, b: { shape: [3, 13], dtype: "int32" } }, ({ a, b }) => a!.add(b!).mul(a!).neg().float().add(a!.lt(b!).int().float())],
  ["uint8 arithmetic wraps", { a: { shape: [2, 67], dtype: "uint8" }, b: { shape: [2, 67], dtype: "uint8" } }, ({ a, b }) => a!.add(b!).mul(b!)],
  ["bool logic", { a: { shape: [2, 67], dtype: "bool" }, b: { shape: [2, 67], dtype: "bool" } }, ({ a, b }) => a!.logicalAnd(b!).logicalOr(a!.logicalNot())],
  ["sum along rows (four rows a step)", { a: { shape: [21, 67] } }, ({ a }) => a!.sum(-1)],
  ["sum and mean down columns", { a: { shape: [67, 21] } }, ({ a }) => a!.sum(0).add(a!.mean(0))],
  ["prod and amax down columns, amin along rows", { a: { shape: [11, 13] } }, ({ a }) => a!.prod(0).add(a!.amax(0)).add(a!.amin(1).sum())],
  ["int32 sum, prod and max down columns", { a: { shape: [9, 13], dtype: "int32" } }, ({ a }) => a!.sum(0).add(a!.prod(0)).add(a!.amax(0)).add(a!.amin(0))],
  ["uint8 and bool reductions", { a: { shape: [9, 67], dtype: "uint8" }, b: { shape: [5, 67], dtype: "bool" } }, ({ a, b }) => a!.amax(0).int().add(a!.sum(0, { dtype: "int32" })).add(b!.any(0).int())],
  ["argmax and argmin along and across the vectorized dim", { a: { shape: [9, 13] } }, ({ a }) => a!.argmax(0).add(a!.argmin(0)).float().add(a!.argmax(1).float().sum())],
  ["max pooling windows (stride 2 loads)", { a: { shape: [2, 3, 18, 18] } }, ({ a }) => st.nn.functional.maxPool2d(a!, 2)],
  ["max pooling with padding and stride", { a: { shape: [1, 2, 17, 17] } }, ({ a }) => st.nn.functional.maxPool2d(a!, 3, { stride: 2, padding: 1 })],
  ["bias, relu and max pooling in one kernel, 4 to 7 outputs wide (stride 2 loads up to the buffer's end)", { a: { shape: [2, 3, 8, 8] }, b: { shape: [2, 3, 14, 14] }, c: { shape: [3] } }, ({ a, b, c }) => {
    const bias = c!.reshape([1, 3, 1, 1]);
    const pool = (x: st.Tensor) => st.nn.functional.maxPool2d(x.add(bias).relu(), 2).flatten();
    return st.cat([pool(a!), pool(b!)]);
  }],
  ["int32, uint8 and bool maximum in lanes", { a: { shape: [3, 13], dtype: "int32" }, b: { shape: [3, 13], dtype: "int32" }, u: { shape: [3, 13], dtype: "uint8" }, v: { shape: [3, 13], dtype: "uint8" } }, ({ a, b, u, v }) =>
    a!.maximum(b!).float().add(u!.maximum(v!).float()).add(a!.le(b!).float()).add(a!.ge(0).logicalOr(u!.gt(9)).float())],
  ["short reductions (unrolled) and a longer one", { a: { shape: [6, 13, 3] }, b: { shape: [6, 13, 10] } }, ({ a, b }) => a!.sum(-1).add(a!.amax(-1)).add(b!.sum(-1)).add(b!.prod(-1))],
  ["every other column (strided view)", { a: { shape: [5, 34] } }, ({ a }) => a!.reshape([5, 17, 2]).narrow(2, 0, 1).mul(3)],
  ["padding (gated loads)", { a: { shape: [3, 13] } }, ({ a }) => st.nn.functional.pad(a!, [3, 2, 1, 1]).add(1)],
  ["gathers along the vectorized dim (lane by lane), with the rest in lanes", { a: { shape: [4, 40] }, i: { shape: [4, 40], dtype: "int32", specials: false } }, ({ a, i }) => a!.gather(1, i!.abs().remainder(40)).mul(a!).add(1)],
  ["max pooling's gradient (window indices divided along the dim)", { a: { shape: [2, 3, 16, 16], specials: false } }, ({ a }) => {
    const x = a!.requiresGrad_();
    st.nn.functional.maxPool2d(x, 2).square().sum().backward();
    return x.grad!;
  }],
  ["max pooling's gradient through relu, 16 to 18 wide (lanes at x / 2 and x mod 2, a tail of two)", { a: { shape: [2, 3, 18, 18], specials: false }, b: { shape: [1, 2, 16, 17], specials: false } }, ({ a, b }) => {
    const grads = [a!, b!].map((t) => {
      const x = t.requiresGrad_();
      st.nn.functional.maxPool2d(x.relu(), 2).mul(t.shape[3]! === 18 ? 1.5 : -2).sum().backward();
      return x.grad!.flatten();
    });
    return st.cat(grads);
  }],
  ["stride-4 windows' gradients (lanes at x / 4 and x mod 4)", { a: { shape: [2, 2, 16, 16], specials: false } }, ({ a }) => {
    const x = a!.requiresGrad_();
    st.nn.functional.maxPool2d(x, 4).square().sum().add(st.nn.functional.avgPool2d(x, 4).sum()).backward();
    return x.grad!;
  }],
  ["un-windowing along the one dim there is (split between threads: lane by lane)", { a: { shape: [20] }, b: { shape: [40] } }, ({ a, b }) =>
    a!.reshape([20, 1]).expand([20, 2]).reshape([40]).add(b!)],
  ["layer norm", { a: { shape: [7, 67], specials: false }, w: { shape: [67] }, b: { shape: [67] } }, ({ a, w, b }) => st.nn.functional.layerNorm(a!, [67], w!, b!)],
  ["gelu and sigmoid", { a: { shape: [3, 67] } }, ({ a }) => a!.gelu().add(a!.sigmoid()).add(a!.tanh())],
  ["powers (pow lane by lane)", { a: { shape: [3, 13] }, b: { shape: [3, 13] } }, ({ a, b }) => a!.pow(2).add(a!.abs().pow(b!))],
  ["heads merged into packed rows (pieces 4-aligned: one condition per step, lanes at x / 16 and x mod 16)", { q: { shape: [2, 4, 5, 16] }, k: { shape: [2, 4, 5, 16] }, v: { shape: [2, 4, 5, 16] } }, ({ q, k, v }) =>
    st.cat([q!, k!.mul(2), v!].map((t) => t.permute([0, 2, 1, 3]).reshape([2, 5, 64])), -1).add(1)],
  ["pieces of 6 and 10 (conditions that differ between lanes)", { a: { shape: [3, 6] }, b: { shape: [3, 10] } }, ({ a, b }) => st.cat([a!, b!], -1).mul(3)],
  ["4-aligned pieces along the one dim there is (split between threads: lanes at any offset)", { a: { shape: [24] }, b: { shape: [40] } }, ({ a, b }) =>
    st.cat([a!, b!.mul(2)], 0).abs().sqrt().div(3)], // enough work per element to be split
];

describe("vectorized wasm kernels match the js backend bit for bit", () => {
  for (const [name, inputs, program] of CASES) {
    it(name, () => {
      const [w, j, vectorized] = bothDevices(inputs, program);
      expect(sameBits(w, j)).toBe(null);
      expect(vectorized, "vectorized kernels").toBeGreaterThan(0);
    });
  }

  it("outputs narrower than four lanes, and tails of one to three, stay scalar and correct", () => {
    for (const n of [1, 3, 7, 8, 9, 10, 11]) {
      const [w, j] = bothDevices({ a: { shape: [3, n] }, b: { shape: [3, n] } }, ({ a, b }) => a!.mul(b!).exp().add(a!.sum(-1, { keepdim: true })));
      expect(sameBits(w, j), `n=${n}`).toBe(null);
    }
  });
});
