/**
 * Indexing: gather / scatterAdd (the primitives), and what is composed from them or from views
 * (indexSelect, triangles, one-hot, NumPy-style `index`).
 */
import { DTypeError, IndexError, ShapeError, ValueError } from "../ir/errors.ts";
import { isInt } from "../ir/dtype.ts";
import { fmtShape, normDim } from "../ir/shape.ts";
import { apply } from "./apply.ts";
import * as E from "./elementwise.ts";
import { expand, reshape, stepSlice, unsqueeze } from "./movement.ts";
import type { Tensor } from "./tensor.ts";

function checkIndex(op: string, index: Tensor): void {
  if (!isInt(index.dtype)) throw new DTypeError(`${op}: expected an integer index tensor (int64 or int32), got ${index.dtype}`);
}

/**
 * out[i][j] = x[index[i][j]][j] for dim 0 (and so on), like `torch.gather`. Out-of-range indices raise.
 *
 * @example
 * logp.gather(1, target.unsqueeze(1)) // pick each row's target class
 */
export function gather(x: Tensor, dim: number, index: Tensor): Tensor {
  checkIndex("gather", index);
  const d = normDim("gather", dim, x.ndim);
  if (index.ndim !== x.ndim) throw new ShapeError(`gather: index ${fmtShape(index.shape)} must have as many dims as the input ${fmtShape(x.shape)}`);
  index.shape.forEach((s, i) => {
    if (i !== d && s > x.shape[i]!) throw new ShapeError(`gather: size of index ${fmtShape(index.shape)} does not fit the input ${fmtShape(x.shape)} at dim ${i} (${s} > ${x.shape[i]})`);
  });
  return apply("gather", [x, index], { dim: d });
}

/**
 * Adds `src` into a copy of `x` at the positions `index` names along `dim`, like `torch.scatter_add`.
 */
export function scatterAdd(x: Tensor, dim: number, index: Tensor, src: Tensor): Tensor {
  checkIndex("scatterAdd", index);
  const d = normDim("scatterAdd", dim, x.ndim);
  if (index.ndim !== x.ndim || src.ndim !== x.ndim) throw new ShapeError(`scatterAdd: index ${fmtShape(index.shape)}, src ${fmtShape(src.shape)} and input ${fmtShape(x.shape)} must have the same number of dims`);
  index.shape.forEach((s, i) => {
    if (s > src.shape[i]! || (i !== d && s > x.shape[i]!)) throw new ShapeError(`scatterAdd: index ${fmtShape(index.shape)} does not fit src ${fmtShape(src.shape)} or input ${fmtShape(x.shape)} at dim ${i}`);
  });
  const s = src.shape.every((v, i) => v === index.shape[i]) ? src : stepSliceTo(src, index.shape);
  return apply("scatterAdd", [x, index, E.cast(s, x.dtype)], { dim: d });
}

function stepSliceTo(t: Tensor, shape: readonly number[]): Tensor {
  let y = t;
  shape.forEach((s, i) => (y = stepSlice(y, i, 0, s, 1)));
  return y;
}

/**
 * The entries of `x` at positions `index` (1-D) along `dim`, like `torch.index_select`.
 *
 * @example
 * weight.indexSelect(0, tokenIds) // an embedding lookup
 */
export function indexSelect(x: Tensor, dim: number, index: Tensor): Tensor {
  checkIndex("indexSelect", index);
  if (index.ndim > 1) throw new ShapeError(`indexSelect: index must be 0-D or 1-D, got ${fmtShape(index.shape)}`);
  const d = normDim("indexSelect", dim, x.ndim);
  const idx = reshape(index, [-1]);
  const n = idx.shape[0]!;
  const outShape = x.shape.map((s, i) => (i === d ? n : s));
  const view = reshape(idx, x.shape.map((_, i) => (i === d ? n : 1)));
  return apply("gather", [x, expand(view, outShape)], { dim: d });
}

function triangle(x: Tensor, diagonal: number, upper: boolean, op: string): Tensor {
  if (x.ndim < 2) throw new ShapeError(`${op}: input tensor must have at least 2 dimensions, got ${fmtShape(x.shape)}`);
  const r = x.shape[x.ndim - 2]!, c = x.shape[x.ndim - 1]!;
  const i = apply("iota", [], { shape: [r, c], axis: 0, dtype: "int64" }, x.device);
  const j = apply("iota", [], { shape: [r, c], axis: 1, dtype: "int64" }, x.device);
  const keep = upper ? E.ge(E.sub(j, i), diagonal) : E.le(E.sub(j, i), diagonal);
  return E.where(keep, x, E.scalarZero(x));
}
export const triu = (x: Tensor, diagonal = 0): Tensor => triangle(x, diagonal, true, "triu");
export const tril = (x: Tensor, diagonal = 0): Tensor => triangle(x, diagonal, false, "tril");

/**
 * One-hot encoding of int64 class indices, like `torch.nn.functional.one_hot` (int64 result).
 *
 * @example
 * st.nn.functional.oneHot(st.tensor([0, 2], { dtype: "int64" }), 3) // [[1, 0, 0], [0, 0, 1]]
 */
export function oneHot(x: Tensor, numClasses = -1): Tensor {
  checkIndex("oneHot", x);
  if (numClasses < 0) {
    numClasses = Number(x.max().itemSync()) + 1;
  }
  const min = x.numel() ? Number(x.min().itemSync()) : 0;
  const max = x.numel() ? Number(x.max().itemSync()) : 0;
  if (min < 0 || max >= numClasses) throw new IndexError(`oneHot: class values must be in [0, ${numClasses}), got values in [${min}, ${max}]`);
  const cls = apply("iota", [], { shape: [numClasses], axis: 0, dtype: x.dtype }, x.device);
  return E.cast(E.eq(unsqueeze(x, -1), cls), "int64");
}

/** One index of `x.index(...)`. */
export type IndexSpec = number | string | null | { start?: number; stop?: number; step?: number } | Tensor;

function parseSlice(s: string): { start?: number; stop?: number; step?: number } {
  const parts = s.split(":").map((p) => p.trim());
  if (parts.length > 3 || parts.some((p) => p !== "" && !/^-?\d+$/.test(p))) throw new ValueError(`index: cannot parse slice '${s}' (expected 'start:stop:step')`);
  const num = (p: string | undefined) => (p === undefined || p === "" ? undefined : Number(p));
  return { start: num(parts[0]), stop: num(parts[1]), step: num(parts[2]) };
}

/** NumPy-style basic and integer-tensor indexing (`x[...]` in PyTorch). */
export function index(x: Tensor, specs: readonly IndexSpec[]): Tensor {
  const isTensor = (s: IndexSpec): s is Tensor => typeof s === "object" && s !== null && "dtype" in s;
  const consumes = (s: IndexSpec) => s !== null && s !== "...";
  const ell = specs.filter((s) => s === "...").length;
  if (ell > 1) throw new IndexError("index: an index can only have a single ellipsis ('...')");
  const used = specs.filter(consumes).length;
  if (used > x.ndim) throw new IndexError(`index: too many indices for tensor of dimension ${x.ndim} (got ${used})`);
  const full: IndexSpec[] = [];
  for (const s of specs) {
    if (s === "...") for (let i = 0; i < x.ndim - used; i++) full.push(":");
    else full.push(s);
  }
  while (full.filter(consumes).length < x.ndim) full.push(":");
  let y = x, dim = 0;
  const drop: number[] = [];
  for (const s of full) {
    if (s === null) { y = unsqueeze(y, dim); dim++; continue; }
    const n = y.shape[dim]!;
    if (typeof s === "number") {
      if (!Number.isInteger(s) || s < -n || s >= n) throw new IndexError(`index: index ${s} is out of bounds for dimension ${dim} with size ${n}`);
      y = stepSlice(y, dim, s < 0 ? s + n : s, (s < 0 ? s + n : s) + 1, 1);
      drop.push(dim);
      dim++;
      continue;
    }
    if (isTensor(s)) {
      if (s.dtype === "bool") throw new DTypeError("index: boolean mask indexing gives a data-dependent shape and is not supported; use where() or maskedFill()");
      const flat = reshape(s, [-1]);
      const picked = indexSelect(y, dim, E.where(E.lt(flat, 0), E.add(flat, n), flat));
      y = reshape(picked, [...picked.shape.slice(0, dim), ...s.shape, ...picked.shape.slice(dim + 1)]);
      dim += s.ndim;
      continue;
    }
    const sl = typeof s === "string" ? parseSlice(s) : s;
    const step = sl.step ?? 1;
    if (step <= 0) throw new ValueError(`index: slice step must be positive, got ${step}`);
    const clampIdx = (v: number) => Math.min(Math.max(v < 0 ? v + n : v, 0), n);
    const start = sl.start === undefined ? 0 : clampIdx(sl.start);
    const stop = sl.stop === undefined ? n : clampIdx(sl.stop);
    y = stepSlice(y, dim, start, Math.max(start, stop), step);
    dim++;
  }
  if (drop.length) y = reshape(y, y.shape.filter((_, i) => !drop.includes(i)));
  return y;
}
