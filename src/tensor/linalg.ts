/**
 * Matrix products. Every product here reaches the `dot` primitive, so a backend hands it to its
 * fastest routine.
 */
import { DTypeError, ShapeError, ValueError } from "../ir/errors.ts";
import { broadcastShapes, fmtShape, numel } from "../ir/shape.ts";
import { apply } from "./apply.ts";
import * as E from "./elementwise.ts";
import { expand, permute, reshape, squeeze, stepSlice, unsqueeze } from "./movement.ts";
import { sum } from "./reduce.ts";
import type { Tensor } from "./tensor.ts";

/**
 * Matrix product with PyTorch's rules: 1-D operands are promoted and the added dim removed, and
 * batch dims broadcast.
 *
 * @example
 * st.randn([10, 3, 4]).matmul(st.randn([4, 5])) // [10, 3, 5]
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  if (a.ndim === 0 || b.ndim === 0) throw new ShapeError(`matmul: both arguments need at least 1 dimension, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  // Like PyTorch, a product of two dtypes raises rather than promoting one operand silently.
  if (a.dtype !== b.dtype) throw new DTypeError(`matmul: expected both operands to have the same dtype, but got ${a.dtype} and ${b.dtype}`);
  let x = a, y = b;
  const aVec = x.ndim === 1, bVec = y.ndim === 1;
  if (aVec) x = unsqueeze(x, 0);
  if (bVec) y = unsqueeze(y, 1);
  const m = x.shape[x.ndim - 2]!, k = x.shape[x.ndim - 1]!, k2 = y.shape[y.ndim - 2]!, n = y.shape[y.ndim - 1]!;
  if (k !== k2) {
    throw new ShapeError(`matmul: shapes ${fmtShape(a.shape)} and ${fmtShape(b.shape)} cannot be multiplied (${k} != ${k2})`);
  }
  const xb = x.shape.slice(0, -2), yb = y.shape.slice(0, -2);
  let batch: number[];
  try {
    batch = broadcastShapes("matmul", xb, yb);
  } catch {
    // Name the operands' whole shapes, not just their batch parts.
    throw new ShapeError(`matmul: shapes ${fmtShape(a.shape)} and ${fmtShape(b.shape)} cannot be multiplied (batch dimensions ${fmtShape(xb)} and ${fmtShape(yb)} cannot be broadcast together)`);
  }
  let out: Tensor;
  const rows = xb.reduce((p, d) => p * d, 1);
  if (rows > 1 && yb.every((d) => d === 1) && xb.length === batch.length) {
    // [..., M, K] @ [K, N]: the batch folds into the rows of one product (as in a linear layer
    // on a sequence), rather than broadcasting the matrix to every batch element; the gradient
    // of the matrix is then one product as well, not a sum over the batch.
    const flat = apply("dot", [reshape(x, [rows * m, k]), reshape(y, [k, n])], {});
    out = reshape(flat, [...batch, m, n]);
  } else {
    x = expand(x, [...batch, m, k]);
    y = expand(y, [...batch, k, n]);
    out = apply("dot", [x, y], {});
  }
  if (aVec) out = squeeze(out, -2);
  if (bVec) out = squeeze(out, -1);
  return out;
}

export function mm(a: Tensor, b: Tensor): Tensor {
  if (a.ndim !== 2 || b.ndim !== 2) throw new ShapeError(`mm: expected 2-D tensors, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  return matmul(a, b);
}

export function bmm(a: Tensor, b: Tensor): Tensor {
  if (a.ndim !== 3 || b.ndim !== 3) throw new ShapeError(`bmm: expected 3-D tensors, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  if (a.shape[0] !== b.shape[0]) throw new ShapeError(`bmm: batch sizes differ (${a.shape[0]} != ${b.shape[0]})`);
  return matmul(a, b);
}

export function dot(a: Tensor, b: Tensor): Tensor {
  if (a.ndim !== 1 || b.ndim !== 1) throw new ShapeError(`dot: expected 1-D tensors, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  if (a.shape[0] !== b.shape[0]) throw new ShapeError(`dot: inconsistent tensor size, expected tensor [${a.shape[0]}] and src [${b.shape[0]}] to have the same number of elements`);
  return matmul(a, b);
}

export const outer = (a: Tensor, b: Tensor): Tensor => E.mul(unsqueeze(a, 1), unsqueeze(b, 0));

/**
 * Einstein summation, like `torch.einsum` (explicit `->` form or implicit; `...` broadcasts).
 * Operands are contracted pairwise, left to right, each pair through the `dot` primitive.
 *
 * @example
 * st.einsum("bij,bjk->bik", a, b)
 */
export function einsum(equation: string, ...operands: Tensor[]): Tensor {
  const eq = equation.replace(/\s/g, "");
  const [lhs, rhsGiven] = eq.split("->") as [string, string | undefined];
  const terms = lhs.split(",");
  if (terms.length !== operands.length) throw new ValueError(`einsum: the equation has ${terms.length} operands but ${operands.length} tensors were given`);
  // Give "..." dims letters of their own (uppercase never clashes: PyTorch allows only a-zA-Z, we reserve digits).
  const ellDims = Math.max(0, ...terms.map((t, i) => (t.includes("...") ? operands[i]!.ndim - (t.length - 3) : 0)));
  const ellLabels = Array.from({ length: ellDims }, (_, i) => String.fromCharCode(0x2460 + i));
  const subs = terms.map((t, i) => {
    const op = operands[i]!;
    let labels: string[];
    if (t.includes("...")) {
      const [pre, post] = t.split("...") as [string, string];
      const k = op.ndim - pre.length - post.length;
      labels = [...pre, ...ellLabels.slice(ellDims - k), ...post];
    } else labels = [...t];
    if (labels.length !== op.ndim) throw new ShapeError(`einsum: operand ${i} has ${op.ndim} dims but the subscript '${t}' names ${labels.length}`);
    if (labels.some((l) => !/[a-zA-Z]/.test(l) && !ellLabels.includes(l))) throw new ValueError(`einsum: invalid subscript '${t}' (letters only)`);
    return labels;
  });
  const count = new Map<string, number>();
  subs.flat().forEach((l) => count.set(l, (count.get(l) ?? 0) + 1));
  let out: string[];
  if (rhsGiven !== undefined) {
    out = rhsGiven.includes("...") ? [...rhsGiven.split("...")[0]!, ...ellLabels, ...rhsGiven.split("...")[1]!] : [...rhsGiven];
  } else {
    out = [...ellLabels, ...[...count.keys()].filter((l) => count.get(l) === 1 && !ellLabels.includes(l)).sort()];
  }
  const sizes = new Map<string, number>();
  subs.forEach((ls, i) => ls.forEach((l, j) => {
    const s = operands[i]!.shape[j]!;
    const prev = sizes.get(l);
    if (prev !== undefined && prev !== s && prev !== 1 && s !== 1) throw new ShapeError(`einsum: subscript ${l} has size ${s} for operand ${i} which does not broadcast with previously seen size ${prev}`);
    sizes.set(l, prev === undefined || prev === 1 ? s : prev);
  }));
  // Diagonals (a label repeated within one operand) are taken first.
  let ops = operands.map((op, i) => takeDiagonals(op, subs[i]!));
  let labs = ops.map((o) => o.labels);
  let tensors = ops.map((o) => o.t);
  while (tensors.length > 1) {
    const [a, b] = [tensors[0]!, tensors[1]!], [la, lb] = [labs[0]!, labs[1]!];
    const later = new Set([...out, ...labs.slice(2).flat()]);
    const r = contractPair(a, la, b, lb, later);
    tensors = [r.t, ...tensors.slice(2)];
    labs = [r.labels, ...labs.slice(2)];
  }
  let t = tensors[0]!, l = labs[0]!;
  const gone = l.map((x, i) => (out.includes(x) ? -1 : i)).filter((i) => i >= 0);
  if (gone.length) { t = sum(t, gone); l = l.filter((x) => out.includes(x)); }
  const finalShape = out.map((x) => sizes.get(x)!);
  if (!out.length) return t;
  return expand(permute(t, out.map((x) => l.indexOf(x))), finalShape);
}

function takeDiagonals(t: Tensor, labels: string[]): { t: Tensor; labels: string[] } {
  let x = t, ls = [...labels];
  for (;;) {
    const dup = ls.findIndex((l, i) => ls.indexOf(l) !== i);
    if (dup < 0) return { t: x, labels: ls };
    const first = ls.indexOf(ls[dup]!);
    const n = x.shape[first]!;
    // Diagonal of dims (first, dup): move them last, flatten, take every (n+1)-th element.
    const rest = ls.map((_, i) => i).filter((i) => i !== first && i !== dup);
    const p = permute(x, [...rest, first, dup]);
    const flat = reshape(p, [...p.shape.slice(0, -2), n * n]);
    x = stepSlice(flat, flat.ndim - 1, 0, n * n, n + 1);
    ls = [...rest.map((i) => ls[i]!), ls[first]!];
  }
}

/** Contracts two operands over the labels they share that nothing later needs, through `dot`. */
function contractPair(a: Tensor, la: string[], b: Tensor, lb: string[], later: Set<string>): { t: Tensor; labels: string[] } {
  const shared = la.filter((l) => lb.includes(l));
  const batch = shared.filter((l) => later.has(l));
  const contract = shared.filter((l) => !later.has(l));
  // Labels only in one operand and not needed later are summed away first.
  const sumAway = (t: Tensor, ls: string[], other: string[]) => {
    const gone = ls.map((l, i) => (!other.includes(l) && !later.has(l) ? i : -1)).filter((i) => i >= 0);
    return gone.length ? { t: sum(t, gone), ls: ls.filter((_, i) => !gone.includes(i)) } : { t, ls };
  };
  const A = sumAway(a, la, lb), B = sumAway(b, lb, la);
  const aOnly = A.ls.filter((l) => !B.ls.includes(l)), bOnly = B.ls.filter((l) => !A.ls.includes(l));
  const size = (t: Tensor, ls: string[], l: string) => t.shape[ls.indexOf(l)]!;
  const bsz = batch.map((l) => Math.max(size(A.t, A.ls, l), size(B.t, B.ls, l)));
  const ta = expand(permute(A.t, [...batch, ...aOnly, ...contract].map((l) => A.ls.indexOf(l))),
    [...bsz, ...aOnly.map((l) => size(A.t, A.ls, l)), ...contract.map((l) => Math.max(size(A.t, A.ls, l), size(B.t, B.ls, l)))]);
  const tb = expand(permute(B.t, [...batch, ...contract, ...bOnly].map((l) => B.ls.indexOf(l))),
    [...bsz, ...contract.map((l) => Math.max(size(A.t, A.ls, l), size(B.t, B.ls, l))), ...bOnly.map((l) => size(B.t, B.ls, l))]);
  const M = numel(ta.shape.slice(batch.length, batch.length + aOnly.length));
  const K = numel(contract.map((l) => Math.max(size(A.t, A.ls, l), size(B.t, B.ls, l))));
  const N = numel(tb.shape.slice(batch.length + contract.length));
  const r = matmul(reshape(ta, [...bsz, M, K]), reshape(tb, [...bsz, K, N]));
  const shape = [...bsz, ...ta.shape.slice(batch.length, batch.length + aOnly.length), ...tb.shape.slice(batch.length + contract.length)];
  return { t: reshape(r, shape), labels: [...batch, ...aOnly, ...bOnly] };
}
