/**
 * A dot epilogue as a kernel of the kernel IR (compiled and split over threads like any other),
 * for the products the wasm GEMM's store cannot finish: BLAS calls and the lowered dot. It runs in
 * place, each element read and written at the same index.
 */
import type { DType } from "../../ir/dtype.ts";
import { flatIndex, lvar } from "../../ir/index-expr.ts";
import type { Kernel, VExpr } from "../../ir/kernel.ts";

/**
 * out[i, j] = relu(c[i, j] + bias[j]) (either step optional) for c, out [rows, cols]: the ops
 * `linear(...).relu()` builds, in their order, so the values are the unfused graph's.
 */
export function epilogueKernel(dt: DType, rows: number, cols: number, bias: boolean, relu: boolean): Kernel {
  const shape = [rows, cols];
  const o = shape.map((s, i) => lvar(`o${i}`, s));
  const zero: VExpr = { k: "const", v: 0, dt };
  let v: VExpr = { k: "load", buf: 1, idx: flatIndex(o, shape), valid: [], dt };
  if (bias) v = { k: "alu", op: "add", srcs: [v, { k: "load", buf: 2, idx: o[1]!, valid: [], dt }], dt };
  if (relu) {
    const lt: VExpr = { k: "alu", op: "cmplt", srcs: [v, zero], dt: "bool" };
    const eq: VExpr = { k: "alu", op: "cmpeq", srcs: [v, zero], dt: "bool" };
    v = { k: "alu", op: "where", srcs: [{ k: "alu", op: "max", srcs: [lt, eq], dt: "bool" }, zero, v], dt };
  }
  return {
    bufs: [{ dtype: dt, size: rows * cols }, { dtype: dt, size: rows * cols }, ...(bias ? [{ dtype: dt, size: cols }] : [])],
    shape, reduce: null, value: v,
    store: { idx: flatIndex(o, shape), mode: "set" }, scalars: [],
  };
}
