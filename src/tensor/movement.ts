/**
 * Movement ops: views that copy nothing. Each is one primitive, or a few, that only rewrite how a
 * kernel indexes its input.
 */
import { IndexError, ShapeError, ValueError } from "../ir/errors.ts";
import { fmtShape, normDim, normDims, numel, shapesEqual } from "../ir/shape.ts";
import { apply } from "./apply.ts";
import { scalar } from "./create.ts";
import type { Dims, Tensor } from "./tensor.ts";

export const dimIndex = normDim;

/**
 * The same values in a new shape; one size may be -1 (inferred).
 *
 * @example
 * st.arange(6).reshape([2, -1]) // [[0, 1, 2], [3, 4, 5]]
 */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const n = x.numel();
  const neg = shape.filter((d) => d === -1).length;
  if (neg > 1) throw new ValueError(`reshape: only one dimension can be inferred, got ${fmtShape(shape)}`);
  const known = shape.reduce((a, d) => (d === -1 ? a : a * d), 1);
  const out = shape.map((d) => {
    if (d === -1) {
      if (known === 0 || n % known !== 0) throw new ShapeError(`reshape: shape ${fmtShape(shape)} is invalid for input of size ${n}`);
      return n / known;
    }
    if (!Number.isInteger(d) || d < 0) throw new ValueError(`reshape: invalid size ${d} in ${fmtShape(shape)}`);
    return d;
  });
  if (numel(out) !== n) throw new ShapeError(`reshape: shape ${fmtShape(shape)} is invalid for input of size ${n}`);
  return apply("reshape", [x], { shape: out });
}

export function permute(x: Tensor, dims: readonly number[]): Tensor {
  if (dims.length !== x.ndim) throw new ShapeError(`permute: number of dims don't match (input has ${x.ndim} dims, permutation ${fmtShape(dims)} has ${dims.length})`);
  const perm = dims.map((d) => normDim("permute", d, x.ndim));
  if (new Set(perm).size !== perm.length) throw new ValueError(`permute: repeated dim in ${fmtShape(dims)}`);
  if (perm.every((p, i) => p === i)) return apply("reshape", [x], { shape: [...x.shape] });
  return apply("permute", [x], { perm });
}

export function transpose(x: Tensor, d0: number, d1: number): Tensor {
  if (x.ndim === 0) return x.clone();
  const a = normDim("transpose", d0, x.ndim), b = normDim("transpose", d1, x.ndim);
  const perm = [...Array(x.ndim).keys()];
  perm[a] = b;
  perm[b] = a;
  return permute(x, perm);
}

export function t(x: Tensor): Tensor {
  if (x.ndim > 2) throw new ShapeError(`t: expects a tensor with <= 2 dimensions, but got ${x.ndim}D (use transpose or mT)`);
  return x.ndim < 2 ? x.clone() : transpose(x, 0, 1);
}

export function movedim(x: Tensor, source: Dims, destination: Dims): Tensor {
  const src = normDims("movedim", source, x.ndim), dst = normDims("movedim", destination, x.ndim);
  if (src.length !== dst.length) throw new ValueError(`movedim: source ${fmtShape(src)} and destination ${fmtShape(dst)} must have the same number of dims`);
  const perm = new Array<number>(x.ndim).fill(-1);
  src.forEach((s, i) => (perm[dst[i]!] = s));
  const rest = [...Array(x.ndim).keys()].filter((d) => !src.includes(d));
  for (let i = 0, j = 0; i < x.ndim; i++) if (perm[i] === -1) perm[i] = rest[j++]!;
  return permute(x, perm);
}

/**
 * Broadcasts size-1 dims (and new leading dims) to `shape`; -1 keeps a size.
 *
 * @example
 * st.tensor([1, 2, 3]).expand([2, 3])
 */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  if (shape.length < x.ndim) throw new ShapeError(`expand: the number of sizes provided (${shape.length}) must be greater or equal to the number of dimensions in the tensor (${x.ndim})`);
  const lead = shape.length - x.ndim;
  const out = shape.map((d, i) => (d === -1 ? (i < lead ? -1 : x.shape[i - lead]!) : d));
  out.forEach((d, i) => {
    const s = i < lead ? 1 : x.shape[i - lead]!;
    if (d < 0 || (s !== 1 && s !== d)) {
      throw new ShapeError(`expand: the expanded size of the tensor (${d}) must match the existing size (${s}) at non-singleton dimension ${i}; target sizes ${fmtShape(shape)}, tensor sizes ${fmtShape(x.shape)}`);
    }
  });
  if (shapesEqual(out, x.shape)) return x;
  const r = lead ? apply("reshape", [x], { shape: [...Array(lead).fill(1), ...x.shape] }) : x;
  return apply("expand", [r], { shape: out });
}

export function squeeze(x: Tensor, dim?: Dims): Tensor {
  const dims = dim === undefined ? x.shape.map((d, i) => (d === 1 ? i : -1)).filter((i) => i >= 0) : normDims("squeeze", dim, x.ndim);
  return reshape(x, x.shape.filter((d, i) => !(dims.includes(i) && d === 1)));
}

export function unsqueeze(x: Tensor, dim: number): Tensor {
  const d = normDim("unsqueeze", dim, x.ndim + 1);
  const s = [...x.shape];
  s.splice(d, 0, 1);
  return reshape(x, s);
}

export function flatten(x: Tensor, startDim = 0, endDim = -1): Tensor {
  if (x.ndim === 0) return reshape(x, [1]);
  const a = normDim("flatten", startDim, x.ndim), b = normDim("flatten", endDim, x.ndim);
  if (a > b) throw new ValueError(`flatten: startDim (${startDim}) cannot come after endDim (${endDim})`);
  return reshape(x, [...x.shape.slice(0, a), numel(x.shape.slice(a, b + 1)), ...x.shape.slice(b + 1)]);
}

export function unflatten(x: Tensor, dim: number, sizes: readonly number[]): Tensor {
  const d = normDim("unflatten", dim, x.ndim);
  const known = sizes.reduce((a, s) => (s === -1 ? a : a * s), 1);
  const filled = sizes.map((s) => (s === -1 ? x.shape[d]! / known : s));
  // An inferred size must come out whole: [3, -1] for a dim of 2 multiplies up to 2, but with 2/3.
  if (!filled.every(Number.isInteger) || numel(filled) !== x.shape[d]) throw new ShapeError(`unflatten: provided sizes ${fmtShape(sizes)} don't multiply up to the size of dim ${dim} (${x.shape[d]}) in the input tensor`);
  return reshape(x, [...x.shape.slice(0, d), ...filled, ...x.shape.slice(d + 1)]);
}

/** Keeps [start, end) along each dim (raw primitive, arguments already checked). */
export function shrink(x: Tensor, ranges: [number, number][]): Tensor {
  if (ranges.every(([a, b], i) => a === 0 && b === x.shape[i])) return x;
  return apply("shrink", [x], { ranges });
}

/** Zero padding, [before, after] per dim (raw primitive; negative amounts shrink). */
export function padZeros(x: Tensor, pads: [number, number][]): Tensor {
  const shr = pads.map(([a, b], i): [number, number] => [Math.max(0, -a), x.shape[i]! - Math.max(0, -b)]);
  let y = shrink(x, shr);
  const p = pads.map(([a, b]): [number, number] => [Math.max(0, a), Math.max(0, b)]);
  if (p.some(([a, b]) => a || b)) y = apply("pad", [y], { pads: p });
  return y;
}

export function narrow(x: Tensor, dim: number, start: number, length: number): Tensor {
  const d = normDim("narrow", dim, x.ndim);
  const n = x.shape[d]!;
  const s = start < 0 ? start + n : start;
  if (s < 0 || s > n || length < 0 || s + length > n) throw new IndexError(`narrow: start (${start}) + length (${length}) exceeds dimension size (${n}) of dim ${dim}`);
  return shrink(x, x.shape.map((sz, i): [number, number] => (i === d ? [s, s + length] : [0, sz])));
}

/** Every `step`-th element of [start, end) along `dim`, as a view. */
export function stepSlice(x: Tensor, dim: number, start: number, end: number, step: number): Tensor {
  const count = Math.max(0, Math.ceil((end - start) / step));
  let y = narrow(x, dim, start, Math.min(end, x.shape[dim]!) - start);
  if (step === 1 || count <= 1) return narrow(y, dim, 0, count);
  // Pad to count*step, split the dim into [count, step], keep column 0.
  const len = y.shape[dim]!;
  y = padZeros(y, y.shape.map((_, i): [number, number] => (i === dim ? [0, count * step - len] : [0, 0])));
  y = reshape(y, [...y.shape.slice(0, dim), count, step, ...y.shape.slice(dim + 1)]);
  y = narrow(y, dim + 1, 0, 1);
  return reshape(y, [...y.shape.slice(0, dim + 1), ...y.shape.slice(dim + 2)]);
}

export function flip(x: Tensor, dims: Dims): Tensor {
  const axes = normDims("flip", dims, x.ndim).filter((a) => x.shape[a]! > 1);
  return axes.length ? apply("flip", [x], { axes }) : x.clone();
}

/**
 * Tiles the tensor `sizes[i]` times along each dim, like `torch.Tensor.repeat`.
 *
 * @example
 * st.tensor([1, 2]).repeat([2, 2]) // [[1, 2, 1, 2], [1, 2, 1, 2]]
 */
export function repeat(x: Tensor, sizes: readonly number[]): Tensor {
  if (sizes.length < x.ndim) throw new ShapeError(`repeat: number of repeat dims (${sizes.length}) can not be smaller than number of tensor dims (${x.ndim})`);
  const base = [...Array(sizes.length - x.ndim).fill(1), ...x.shape] as number[];
  const y = reshape(x, base.flatMap((d) => [1, d]));
  const e = expand(y, base.flatMap((d, i) => [sizes[i]!, d]));
  return reshape(e, base.map((d, i) => d * sizes[i]!));
}

/**
 * Joins tensors along an existing dim.
 *
 * @example
 * st.cat([a, b], 0)
 */
export function cat(tensors: readonly Tensor[], dim = 0): Tensor {
  if (!tensors.length) throw new ValueError("cat: expected a non-empty list of tensors");
  const ref = tensors.find((t) => !(t.ndim === 1 && t.shape[0] === 0)) ?? tensors[0]!;
  const parts = tensors.filter((t) => t === ref || !(t.ndim === 1 && t.shape[0] === 0));
  const d = normDim("cat", dim, ref.ndim);
  parts.forEach((t, i) => {
    if (t.ndim !== ref.ndim || t.shape.some((s, j) => j !== d && s !== ref.shape[j])) {
      throw new ShapeError(`cat: sizes of tensors must match except in dimension ${d}; expected ${fmtShape(ref.shape)} (any size at dim ${d}) but got ${fmtShape(t.shape)} for tensor number ${i} in the list`);
    }
  });
  const dtype = parts.map((t) => t.dtype).reduce((a, b) => (a === b ? a : resultTypeOf(a, b)));
  const total = parts.reduce((a, t) => a + t.shape[d]!, 0);
  if (parts.length === 1) return parts[0]!.to(dtype).clone();
  let off = 0, out: Tensor | null = null;
  for (const t of parts) {
    const pads = t.shape.map((_, i): [number, number] => (i === d ? [off, total - off - t.shape[d]!] : [0, 0]));
    off += t.shape[d]!;
    const p = padZeros(t.to(dtype), pads);
    out = out ? (dtype === "bool" ? out.logicalOr(p) : out.add(p)) : p;
  }
  return out!;
}

import { promoteTypes as resultTypeOf } from "../ir/dtype.ts";

/** Joins tensors along a new dim. */
export function stack(tensors: readonly Tensor[], dim = 0): Tensor {
  if (!tensors.length) throw new ValueError("stack: expected a non-empty list of tensors");
  const s = tensors[0]!.shape;
  tensors.forEach((t, i) => {
    if (!shapesEqual(t.shape, s)) throw new ShapeError(`stack: expects each tensor to be equal size, but got ${fmtShape(s)} at entry 0 and ${fmtShape(t.shape)} at entry ${i}`);
  });
  const d = normDim("stack", dim, s.length + 1);
  return cat(tensors.map((t) => unsqueeze(t, d)), d);
}

export function split(x: Tensor, sizeOrSections: number | readonly number[], dim = 0): Tensor[] {
  const d = normDim("split", dim, x.ndim), n = x.shape[d]!;
  let sizes: number[];
  if (typeof sizeOrSections === "number") {
    if (sizeOrSections <= 0) throw new ValueError(`split: split size must be positive, got ${sizeOrSections}`);
    sizes = [];
    for (let i = 0; i < n; i += sizeOrSections) sizes.push(Math.min(sizeOrSections, n - i));
    if (n === 0) sizes = [0];
  } else {
    sizes = [...sizeOrSections];
    const sum = sizes.reduce((a, b) => a + b, 0);
    if (sum !== n) throw new ShapeError(`split: split sizes ${fmtShape(sizes)} sum to ${sum}, but the input has ${n} along dim ${dim}`);
  }
  let off = 0;
  return sizes.map((s) => {
    const p = narrow(x, d, off, s);
    off += s;
    return p;
  });
}

export function chunk(x: Tensor, chunks: number, dim = 0): Tensor[] {
  if (!Number.isInteger(chunks) || chunks <= 0) throw new ValueError(`chunk: chunks must be a positive integer, got ${chunks}`);
  const d = normDim("chunk", dim, x.ndim);
  return split(x, Math.max(1, Math.ceil(x.shape[d]! / chunks)), d);
}

export function unbind(x: Tensor, dim = 0): Tensor[] {
  const d = normDim("unbind", dim, x.ndim);
  return split(x, 1, d).map((t) => squeeze(t, d));
}

export function roll(x: Tensor, shifts: Dims, dims?: Dims): Tensor {
  if (dims === undefined) return reshape(roll(flatten(x), shifts, 0), x.shape);
  const sh = typeof shifts === "number" ? [shifts] : shifts, ds = normDims("roll", dims, x.ndim);
  if (sh.length !== ds.length) throw new ValueError(`roll: shifts ${fmtShape(sh)} and dims ${fmtShape(ds)} must have the same length`);
  let y = x;
  ds.forEach((d, i) => {
    const n = y.shape[d]!;
    if (n === 0) return;
    const s = ((sh[i]! % n) + n) % n;
    if (s) y = cat([narrow(y, d, n - s, s), narrow(y, d, 0, n - s)], d);
  });
  return y;
}

/** Zero-size-safe 0-d zero on x's device (used where a reduction has nothing to reduce). */
export const zero0 = (x: Tensor): Tensor => scalar(0, x.dtype, x.device);
