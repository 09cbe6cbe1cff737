/**
 * Convolution as GEMM: the input is unfolded (im2col) into columns, one row per (input channel,
 * kernel tap) and one column per output position, and each image's output is the weight matrix
 * times its columns: out[n, g] (Cout/G x P) = W[g] (Cout/G x Cin/G·K) @ cols[n, g] (Cin/G·K x P).
 *
 * Both backward passes are convs too (autograd/conv-vjp.ts), so they run through here as well.
 * The unfold and the permute are ordinary kernels of the kernel IR (a gated gather and a copy),
 * compiled like any other kernel; chunks of images bound the scratch memory.
 */
import { convOutSize, type ConvParams } from "../../ir/ops.ts";
import type { DType } from "../../ir/dtype.ts";
import { type Cond, convInputIndex, flatIndex, guardIndex, ladd, ldiv, lmul, lvar } from "../../ir/index-expr.ts";
import type { Kernel, VExpr } from "../../ir/kernel.ts";

/** The sizes a conv routine call works with. */
export interface ConvPlan {
  n: number;
  groups: number;
  cinG: number;
  coutG: number;
  /** Rows of the columns matrix: Cin/G · prod(kernel). */
  rows: number;
  /** Output positions per image: prod(output spatial). */
  positions: number;
  /** Input elements per image: Cin · prod(input spatial). */
  imageSize: number;
}

const prod = (a: readonly number[]): number => a.reduce((x, y) => x * y, 1);

/** The output's spatial dims. */
function outSpatial(xShape: readonly number[], wShape: readonly number[], p: ConvParams): number[] {
  return xShape.slice(2).map((x, i) => convOutSize(x, wShape[i + 2]!, p.stride[i]!, p.padding[i]!, p.dilation[i]!));
}

/** Names a conv's shapes and parameters, for caching what is built from them. */
export function convKey(xShape: readonly number[], wShape: readonly number[], p: ConvParams): string {
  return `${xShape}|${wShape}|${p.stride}|${p.padding.flat()}|${p.dilation}|${p.groups}`;
}

export function planConv(xShape: readonly number[], wShape: readonly number[], p: ConvParams): ConvPlan {
  const ks = wShape.slice(2), ys = outSpatial(xShape, wShape, p);
  const cinG = wShape[1]!, coutG = wShape[0]! / p.groups;
  return { n: xShape[0]!, groups: p.groups, cinG, coutG, rows: cinG * prod(ks), positions: prod(ys), imageSize: prod(xShape.slice(1)) };
}

/**
 * The unfold kernel for `nb` images: cols[g, ci, k..., b, y...] = x[b, g·Cin/G + ci,
 * y·stride + k·dilation - padLow], zero outside the input.
 */
export function im2colKernel(dt: DType, nb: number, xShape: readonly number[], wShape: readonly number[], p: ConvParams): Kernel {
  const nsp = xShape.length - 2, ks = wShape.slice(2), xs = xShape.slice(2), ys = outSpatial(xShape, wShape, p);
  const cin = xShape[1]!, cinG = wShape[1]!, G = p.groups;
  const shape = [nb, G, cinG, ...ks, ...ys];
  const o = shape.map((s, i) => lvar(`o${i}`, s));
  const ob = o[0]!, og = o[1]!, oc = o[2]!, ok = o.slice(3, 3 + nsp), oy = o.slice(3 + nsp);
  const conds: Cond[] = [];
  const at = xs.map((x, i) => convInputIndex(conds, oy[i]!, ok[i]!, i, p, x));
  const idx = flatIndex([ob, ladd(lmul(og, cinG), oc), ...at], [nb, cin, ...xs]);
  // An index outside the input is clamped by the gate's condition before the load is made.
  const load: VExpr = { k: "load", buf: 1, idx, valid: conds, dt };
  const value: VExpr = conds.length ? { k: "gate", valid: conds, src: load, dt } : load;
  const size = prod(shape);
  // Loops run in the input's order (reads stay near each other); stores go to [g, ci, k, b, y].
  const storeOrder = [og, oc, ...ok, ob, ...oy], storeShape = [G, cinG, ...ks, nb, ...ys];
  return {
    bufs: [{ dtype: dt, size }, { dtype: dt, size: nb * prod(xShape.slice(1)) }],
    shape, reduce: null, value, store: { idx: flatIndex(storeOrder, storeShape), mode: "set" }, scalars: [],
  };
}

/**
 * Whether to unfold by rows (`im2rowKernel`): for an ungrouped conv whose kernel's last dim is
 * longer than its output's, as in a weight gradient (autograd/conv-vjp.ts: the output gradient is
 * the kernel, the kernel's taps are the output). An unfold's innermost loop, the one that runs in
 * vector lanes, is the output's last dim by columns and the kernel's by rows.
 */
export function prefersRows(xShape: readonly number[], wShape: readonly number[], p: ConvParams): boolean {
  const ys = outSpatial(xShape, wShape, p), last = wShape.length - 1;
  return p.groups === 1 && ys.length > 0 && wShape[last]! > ys[ys.length - 1]!;
}

/**
 * The unfold by rows for `nb` images: rows[b, y..., ci, k...] = x[b, ci, y·stride + k·dilation -
 * padLow], zero outside the input; one row per output position, so the product is
 * rows [nb·P, Cin·K] @ W^T [Cin·K, Cout] (W read transposed), and its [nb, P, Cout] result is
 * transposed into the output.
 */
export function im2rowKernel(dt: DType, nb: number, xShape: readonly number[], wShape: readonly number[], p: ConvParams): Kernel {
  const nsp = xShape.length - 2, ks = wShape.slice(2), xs = xShape.slice(2), ys = outSpatial(xShape, wShape, p);
  const cin = xShape[1]!;
  const shape = [nb, ...ys, cin, ...ks];
  const o = shape.map((s, i) => lvar(`o${i}`, s));
  const ob = o[0]!, oy = o.slice(1, 1 + nsp), oc = o[1 + nsp]!, ok = o.slice(2 + nsp);
  const conds: Cond[] = [];
  const at = xs.map((x, i) => convInputIndex(conds, oy[i]!, ok[i]!, i, p, x));
  const load: VExpr = { k: "load", buf: 1, idx: flatIndex([ob, oc, ...at], [nb, cin, ...xs]), valid: conds, dt };
  const value: VExpr = conds.length ? { k: "gate", valid: conds, src: load, dt } : load;
  const size = prod(shape);
  return {
    bufs: [{ dtype: dt, size }, { dtype: dt, size: nb * prod(xShape.slice(1)) }],
    shape, reduce: null, value, store: { idx: flatIndex(o, shape), mode: "set" }, scalars: [],
  };
}

/**
 * The conv as one reduction kernel (output loops, reduction over input channels and taps), for
 * dtypes the GEMM does not take.
 */
export function directConvKernel(dt: DType, xShape: readonly number[], wShape: readonly number[], p: ConvParams): Kernel {
  const ks = wShape.slice(2), xs = xShape.slice(2);
  const cinG = wShape[1]!, coutG = wShape[0]! / p.groups;
  const shape = [xShape[0]!, wShape[0]!, ...outSpatial(xShape, wShape, p)];
  const o = shape.map((s, i) => lvar(`o${i}`, s));
  const rc = lvar("r0", cinG), rk = ks.map((k, i) => lvar(`r${i + 1}`, k));
  const ci = ladd(lmul(ldiv(o[1]!, coutG), cinG), rc);
  const conds: Cond[] = [];
  const at = xs.map((x, i) => convInputIndex(conds, o[i + 2]!, rk[i]!, i, p, x));
  const xv: VExpr = { k: "load", buf: 1, idx: flatIndex([o[0]!, ci, ...at], xShape), valid: conds, dt };
  const xg: VExpr = conds.length ? { k: "gate", valid: conds, src: xv, dt } : xv;
  const wv: VExpr = { k: "load", buf: 2, idx: flatIndex([o[1]!, rc, ...rk], wShape), valid: [], dt };
  return {
    bufs: [{ dtype: dt, size: prod(shape) }, { dtype: dt, size: prod(xShape) }, { dtype: dt, size: prod(wShape) }],
    shape, reduce: { op: "sum", shape: [cinG, ...ks], body: { k: "alu", op: "mul", srcs: [xg, wv], dt } },
    value: { k: "acc", dt }, store: { idx: flatIndex(o, shape), mode: "set" }, scalars: [],
  };
}

/**
 * A stride-1, undilated, ungrouped conv padded by K-1 on both sides of every spatial dim: a full
 * correlation, which is how the input gradient of a stride-1 conv arrives (autograd/conv-vjp.ts).
 * Unfolding its padded input would multiply mostly zeros; it runs as a transposed conv instead
 * (`col2imKernel`).
 */
export function isFullCorrelation(wShape: readonly number[], p: ConvParams): boolean {
  const ks = wShape.slice(2);
  // A 1x1 kernel's "full" padding is none: an ordinary pointwise conv, for the unfold path.
  return p.groups === 1 && ks.some((k) => k > 1) && ks.every((k, i) => p.stride[i] === 1 && p.dilation[i] === 1 && p.padding[i]![0] === k - 1 && p.padding[i]![1] === k - 1);
}

/**
 * The gather half of a transposed conv, for `nb` images: with cols[c, k..., b, x...] =
 * Σ_ci w[c, ci, k...]·x[b, ci, x...] (one GEMM for the chunk of images), a full correlation's
 * output is out[b, c, y...] = Σ_k cols[c, k..., b, y + k - (K-1)...], terms outside the input
 * left out.
 */
export function col2imKernel(dt: DType, nb: number, c: number, ks: readonly number[], xs: readonly number[]): Kernel {
  const ys = xs.map((x, i) => x + ks[i]! - 1);
  const shape = [nb, c, ...ys];
  const o = shape.map((s, i) => lvar(`o${i}`, s));
  const rk = ks.map((k, i) => lvar(`r${i}`, k));
  const conds: Cond[] = [];
  const at = ks.map((k, i) => guardIndex(conds, ladd(ladd(o[i + 2]!, rk[i]!), -(k - 1)), xs[i]!));
  const load: VExpr = { k: "load", buf: 1, idx: flatIndex([o[1]!, ...rk, o[0]!, ...at], [c, ...ks, nb, ...xs]), valid: conds, dt };
  const body: VExpr = conds.length ? { k: "gate", valid: conds, src: load, dt } : load;
  return {
    bufs: [{ dtype: dt, size: prod(shape) }, { dtype: dt, size: nb * c * prod(ks) * prod(xs) }],
    shape, reduce: { op: "sum", shape: [...ks], body }, value: { k: "acc", dt },
    store: { idx: flatIndex(o, shape), mode: "set" }, scalars: [],
  };
}
