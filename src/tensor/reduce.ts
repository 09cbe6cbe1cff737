/**
 * Reductions and the ops built on them (softmax, logsumexp, var, norms, cumsum).
 */
import { type DType, isFloat } from "../ir/dtype.ts";
import { DTypeError, IndexError, ValueError } from "../ir/errors.ts";
import type { ReducePrim } from "../ir/ops.ts";
import { normDim, normDims } from "../ir/shape.ts";
import { apply } from "./apply.ts";
import * as E from "./elementwise.ts";
import { expand, reshape, shrink, padZeros } from "./movement.ts";
import { type Dims, type Tensor, ValuesIndices } from "./tensor.ts";

export interface ReduceOpts {
  keepdim?: boolean;
}

function reduce(prim: ReducePrim, name: string, x: Tensor, dim: Dims | null | undefined, keepdim = false): Tensor {
  const axes = normDims(name, dim, x.ndim);
  if (prim !== "sum" && prim !== "prod") {
    for (const a of axes) if (x.shape[a] === 0) throw new IndexError(`${name}: expected reduction dim ${a} to have non-zero size`);
    if (x.ndim === 0 || (axes.length === x.ndim && x.numel() === 0)) {
      if (x.numel() === 0) throw new IndexError(`${name}: cannot reduce a tensor with no elements`);
    }
  }
  const r = axes.length ? apply(prim, [x], { axes }) : x.clone();
  return keepdim ? r : reshape(r, x.shape.filter((_, i) => !axes.includes(i)));
}

const sumType = (d: DType): DType => (isFloat(d) ? d : "int64");

/**
 * Sum over `dim` (all dims when omitted). Integer and bool inputs sum to int64, as in PyTorch.
 *
 * @example
 * x.sum()            // scalar
 * x.sum(1, { keepdim: true })
 */
export function sum(x: Tensor, dim?: Dims | null, opts: ReduceOpts & { dtype?: DType } = {}): Tensor {
  return reduce("sum", "sum", E.cast(x, opts.dtype ?? sumType(x.dtype)), dim, opts.keepdim);
}

export function mean(x: Tensor, dim?: Dims | null, opts: ReduceOpts = {}): Tensor {
  if (!isFloat(x.dtype)) throw new DTypeError(`mean: could not infer output dtype; input dtype must be floating point, got ${x.dtype}`);
  const axes = normDims("mean", dim, x.ndim);
  const count = axes.reduce((a, i) => a * x.shape[i]!, 1);
  return E.div(sum(x, dim, opts), count);
}

export function prod(x: Tensor, dim?: number | null, opts: ReduceOpts = {}): Tensor {
  return reduce("prod", "prod", E.cast(x, sumType(x.dtype)), dim, opts.keepdim);
}

export function amax(x: Tensor, dim?: Dims | null, opts: ReduceOpts = {}): Tensor {
  return reduce("amax", "amax", x, dim, opts.keepdim);
}
export function amin(x: Tensor, dim?: Dims | null, opts: ReduceOpts = {}): Tensor {
  return E.reverseOrder(amax(E.reverseOrder(x), dim, opts));
}
/**
 * Whether any element along `dim` is nonzero (NaN counts as nonzero). Counted with a sum, so that
 * reducing an empty dim gives false (and `all` true) with the right shape, where amax would raise.
 */
export const any = (x: Tensor, dim?: Dims | null, opts: ReduceOpts = {}): Tensor =>
  E.gt(sum(x.dtype === "bool" ? x : E.ne(x, 0), dim, opts), 0);
export const all = (x: Tensor, dim?: Dims | null, opts: ReduceOpts = {}): Tensor =>
  E.logicalNot(any(x.dtype === "bool" ? E.logicalNot(x) : E.eq(x, 0), dim, opts));

/** Index of the first maximum along `dim` (of the flattened tensor when omitted); int64. */
export function argmax(x: Tensor, dim?: number | null, opts: ReduceOpts = {}): Tensor {
  return argExtreme("argmax", x, dim, opts, false);
}
export function argmin(x: Tensor, dim?: number | null, opts: ReduceOpts = {}): Tensor {
  return argExtreme("argmin", x, dim, opts, true);
}

/**
 * argmax's indices as int32, for use inside the library (max pooling gathers with them): int32
 * kernels run in SIMD lanes, int64 ones compute in doubles.
 */
export function argmaxInt32(x: Tensor, dim: number, opts: ReduceOpts = {}): Tensor {
  return argExtreme("argmax", x, dim, opts, false, "int32");
}

function argExtreme(name: string, x: Tensor, dim: number | null | undefined, opts: ReduceOpts, min: boolean, indexDtype: "int32" | "int64" = "int64"): Tensor {
  if (dim === undefined || dim === null) {
    const r = argExtreme(name, reshape(x, [-1]), 0, {}, min, indexDtype);
    return opts.keepdim ? reshape(r, x.shape.map(() => 1)) : r;
  }
  const d = normDim(name, dim, x.ndim);
  // A 0-d tensor has one element, at index 0 (there is no axis for the iota below).
  if (x.ndim === 0) return reshape(argExtreme(name, reshape(x, [1]), 0, {}, min, indexDtype), []);
  if (x.shape[d] === 0) throw new IndexError(`${name}: expected reduction dim ${d} to have non-zero size`);
  const v = min ? E.reverseOrder(x) : x;
  const isNan = isFloat(x.dtype) ? E.isnan(v) : null;
  const best = amax(v, d, { keepdim: true });
  // PyTorch treats NaN as the extreme value.
  let hit = E.eq(v, best);
  if (isNan) hit = E.logicalOr(hit, E.logicalAnd(isNan, E.isnan(best)));
  const n = x.ndim ? x.shape[d]! : 1;
  // Positions in int32 (as any dim is short enough to be), int64 only for the result: int64
  // kernels compute in doubles, and int32 ones run four positions a step in SIMD lanes.
  const pos = apply("iota", [], { shape: [...x.shape], axis: d, dtype: "int32" }, x.device);
  const idx = E.where(hit, pos, n);
  const found = amin(idx, x.ndim ? d : null, opts);
  return indexDtype === "int64" ? found.to("int64") : found;
}

/**
 * Values and indices of the extreme along `dim`. The values are gathered at the indices, so that
 * among ties the gradient goes to the one element the index names, as PyTorch's `max(dim)` does
 * (`amax` instead shares it evenly between ties, as PyTorch's `amax` does).
 */
function extremeDim(name: string, x: Tensor, dim: number, opts: ReduceOpts, min: boolean): ValuesIndices {
  const idx = argExtreme(name, x, dim, { keepdim: true }, min);
  if (x.ndim === 0) return new ValuesIndices(x.clone(), idx);
  const d = normDim(name, dim, x.ndim);
  const values = apply("gather", [x, idx], { dim: d });
  if (opts.keepdim) return new ValuesIndices(values, idx);
  const shape = x.shape.filter((_, i) => i !== d);
  return new ValuesIndices(reshape(values, shape), reshape(idx, shape));
}
export const maxDim = (x: Tensor, dim: number, opts: ReduceOpts = {}): ValuesIndices => extremeDim("max", x, dim, opts, false);
export const minDim = (x: Tensor, dim: number, opts: ReduceOpts = {}): ValuesIndices => extremeDim("min", x, dim, opts, true);

/** Variance with Bessel's correction by default (`correction: 1`), like `torch.var`. */
export function variance(x: Tensor, dim?: Dims | null, opts: ReduceOpts & { correction?: number } = {}): Tensor {
  if (!isFloat(x.dtype)) throw new DTypeError(`var: expected a floating point input, got ${x.dtype}`);
  const axes = normDims("var", dim, x.ndim);
  const n = axes.reduce((a, i) => a * x.shape[i]!, 1);
  const c = opts.correction ?? 1;
  const mu = mean(x, axes, { keepdim: true });
  const d = E.sub(x, mu);
  return E.div(sum(E.mul(d, d), axes, { keepdim: opts.keepdim }), Math.max(0, n - c));
}
export const std = (x: Tensor, dim?: Dims | null, opts: ReduceOpts & { correction?: number } = {}): Tensor =>
  rootZeroSafe(variance(x, dim, opts), 2);

/**
 * s^(1/p) whose gradient at s = 0 is 0 instead of inf (which times the zero gradient of s there
 * gives NaN): the root is taken of 1 where s is 0, then masked. This is PyTorch's choice for the
 * gradient of norms of zero vectors and of std of constant data.
 */
function rootZeroSafe(s: Tensor, p: number): Tensor {
  const zero = E.eq(s, 0);
  const safe = E.where(zero, 1, s);
  return E.where(zero, 0, p === 2 ? E.sqrt(safe) : E.pow(safe, 1 / p));
}

export function logsumexp(x: Tensor, dim: Dims, opts: ReduceOpts = {}): Tensor {
  const xf = isFloat(x.dtype) ? x : E.cast(x, "float32");
  // Over no elements the sum is 0 and the result -inf (as in PyTorch); amax would raise there.
  if (normDims("logsumexp", dim, x.ndim).some((a) => x.shape[a] === 0)) return E.log(sum(E.exp(xf), dim, opts));
  // The result does not depend on the shift (it cancels), so no gradient flows through it:
  // detaching it spares backward a second amax and its tie-splitting gradient.
  const m = amax(xf, dim, { keepdim: true }).detach();
  // A max of ±inf would give inf - inf; shifting by zero there keeps the right answer.
  const shift = E.where(E.isinf(m), 0, m);
  const s = E.log(sum(E.exp(E.sub(xf, shift)), dim, { keepdim: true }));
  const r = E.add(s, shift);
  return opts.keepdim ? r : reshape(r, xf.shape.filter((_, i) => !normDims("logsumexp", dim, x.ndim).includes(i)));
}

export function softmax(x: Tensor, dim: number): Tensor {
  const xf = isFloat(x.dtype) ? x : E.cast(x, "float32");
  const d = normDim("softmax", dim, x.ndim);
  const m = amax(xf, d, { keepdim: true }).detach(); // a shift that cancels: no gradient (see logsumexp)
  const e = E.exp(E.sub(xf, m));
  return E.div(e, sum(e, d, { keepdim: true }));
}

export function logSoftmax(x: Tensor, dim: number): Tensor {
  const xf = isFloat(x.dtype) ? x : E.cast(x, "float32");
  const d = normDim("logSoftmax", dim, x.ndim);
  const m = amax(xf, d, { keepdim: true }).detach(); // a shift that cancels: no gradient (see logsumexp)
  const z = E.sub(xf, m);
  return E.sub(z, E.log(sum(E.exp(z), d, { keepdim: true })));
}

/**
 * Running sum along `dim`. Composed as a masked sum over a triangle, so its cost is n² along
 * that dim; fine for the sizes it is used at (sequence lengths, not whole datasets).
 */
export function cumsum(x: Tensor, dim: number): Tensor {
  const d = normDim("cumsum", dim, x.ndim);
  if (x.ndim === 0) return x.clone();
  const n = x.shape[d]!;
  const xt = E.cast(x, sumType(x.dtype));
  // y[..., i, j, ...] = x[..., j, ...] for j <= i: pad + window via reshape.
  const shape = [...xt.shape];
  const e = expand(reshape(xt, [...shape.slice(0, d), 1, n, ...shape.slice(d + 1)]), [...shape.slice(0, d), n, n, ...shape.slice(d + 1)]);
  const i = apply("iota", [], { shape: [n, n], axis: 0, dtype: "int32" }, x.device);
  const j = apply("iota", [], { shape: [n, n], axis: 1, dtype: "int32" }, x.device);
  const mask = reshape(E.le(j, i), [n, n, ...shape.slice(d + 1).map(() => 1)]);
  return sum(E.where(mask, e, 0), d + 1);
}

/**
 * Vector p-norm over `dim` (all dims when omitted): p = 2 (default), 1, Infinity, -Infinity, 0,
 * any other positive p, or "fro".
 */
export function norm(x: Tensor, p: number | "fro" = 2, dim?: Dims | null, opts: ReduceOpts = {}): Tensor {
  const xf = isFloat(x.dtype) ? x : E.cast(x, "float32");
  const a = E.abs(xf);
  if (p === "fro" || p === 2) return rootZeroSafe(sum(E.mul(xf, xf), dim, opts), 2);
  if (p === Infinity) return amax(a, dim, opts);
  if (p === -Infinity) return amin(a, dim, opts);
  if (p === 0) return sum(E.cast(E.ne(xf, 0), xf.dtype), dim, opts);
  if (p === 1) return sum(a, dim, opts);
  if (typeof p !== "number" || p < 0) throw new ValueError(`norm: unsupported p=${p}`);
  return rootZeroSafe(sum(E.pow(a, p), dim, opts), p);
}

export { shrink, padZeros };
