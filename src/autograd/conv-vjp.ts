/**
 * Gradients of the conv primitive, written with conv itself (and views), so that backends run
 * both backward passes with their conv routine and second derivatives come for free.
 *
 * For x [N, Cin, ...X], w [Cout, Cin/G, ...K], stride s, padding (pl, ph), dilation d:
 * - dx is a stride-1 conv of the stride-dilated gradient with the flipped, group-transposed
 *   weight, padded by d(K-1) - pl before and X + pl - 1 - (Y-1)s after.
 * - dw is a conv of x (channels and batch swapped, per group) with the gradient as the kernel,
 *   stride d and dilation s, cut to K.
 */
import type { ConvParams } from "../ir/ops.ts";
import type { Tensor } from "../tensor/tensor.ts";
import type { ApplyFn } from "./vjp.ts";

/** Inserts s-1 zeros between elements along spatial dim `axis`. */
function dilate(apply: ApplyFn, g: Tensor, axis: number, s: number): Tensor {
  if (s === 1) return g;
  const sh = [...g.shape], n = sh[axis]!;
  if (n === 0) return g;
  const r = apply("reshape", [g], { shape: [...sh.slice(0, axis + 1), 1, ...sh.slice(axis + 1)] });
  const pads = r.shape.map((_, i): [number, number] => (i === axis + 1 ? [0, s - 1] : [0, 0]));
  const p = apply("pad", [r], { pads });
  const flat = apply("reshape", [p], { shape: [...sh.slice(0, axis), n * s, ...sh.slice(axis + 1)] });
  const ranges = flat.shape.map((d, i): [number, number] => (i === axis ? [0, (n - 1) * s + 1] : [0, d]));
  return apply("shrink", [flat], { ranges });
}

/** Zero padding where positive, cropping where negative. */
function padOrCrop(apply: ApplyFn, x: Tensor, pads: [number, number][]): Tensor {
  let y = x;
  const ranges = pads.map(([a, b], i): [number, number] => [Math.max(0, -a), y.shape[i]! - Math.max(0, -b)]);
  if (ranges.some(([a, b], i) => a !== 0 || b !== y.shape[i])) y = apply("shrink", [y], { ranges });
  const p = pads.map(([a, b]): [number, number] => [Math.max(0, a), Math.max(0, b)]);
  if (p.some(([a, b]) => a || b)) y = apply("pad", [y], { pads: p });
  return y;
}

export function convInputGrad(apply: ApplyFn, g: Tensor, xShape: readonly number[], w: Tensor, p: ConvParams): Tensor {
  const nsp = xShape.length - 2, G = p.groups;
  const cout = w.shape[0]!, cinG = w.shape[1]!, ks = w.shape.slice(2);
  let gd = g;
  for (let i = 0; i < nsp; i++) gd = dilate(apply, gd, i + 2, p.stride[i]!);
  const pads: [number, number][] = [[0, 0], [0, 0]];
  for (let i = 0; i < nsp; i++) {
    const K = ks[i]!, d = p.dilation[i]!, s = p.stride[i]!, X = xShape[i + 2]!, Y = g.shape[i + 2]!, pl = p.padding[i]![0];
    pads.push([d * (K - 1) - pl, X + pl - 1 - (Y - 1) * s]);
  }
  gd = padOrCrop(apply, gd, pads);
  const spatial = [...Array(nsp).keys()].map((i) => i + 3);
  let wt = apply("reshape", [w], { shape: [G, cout / G, cinG, ...ks] });
  wt = apply("permute", [wt], { perm: [0, 2, 1, ...spatial] });
  wt = apply("reshape", [wt], { shape: [G * cinG, cout / G, ...ks] });
  if (ks.some((k) => k > 1)) wt = apply("flip", [wt], { axes: ks.map((k, i) => (k > 1 ? i + 2 : -1)).filter((a) => a >= 0) });
  const out = apply("conv", [gd, wt], {
    stride: Array(nsp).fill(1), padding: Array.from({ length: nsp }, (): [number, number] => [0, 0]), dilation: [...p.dilation], groups: G,
  });
  return out;
}

export function convWeightGrad(apply: ApplyFn, g: Tensor, x: Tensor, w: Tensor, p: ConvParams): Tensor {
  const nsp = x.ndim - 2, G = p.groups;
  const N = x.shape[0]!, cin = x.shape[1]!, xs = x.shape.slice(2), ks = w.shape.slice(2);
  const spatial = [...Array(nsp).keys()].map((i) => i + 3);
  let xt = apply("reshape", [x], { shape: [N, G, cin / G, ...xs] });
  xt = apply("permute", [xt], { perm: [2, 1, 0, ...spatial] });
  xt = apply("reshape", [xt], { shape: [cin / G, G * N, ...xs] });
  const gt = apply("permute", [g], { perm: [1, 0, ...spatial.map((s) => s - 1)] });
  let out = apply("conv", [xt, gt], { stride: [...p.dilation], padding: p.padding.map(([a, b]): [number, number] => [a, b]), dilation: [...p.stride], groups: G });
  const ranges = out.shape.map((d, i): [number, number] => (i < 2 ? [0, d] : [0, ks[i - 2]!]));
  if (ranges.some(([a, b], i) => a !== 0 || b !== out.shape[i])) out = apply("shrink", [out], { ranges });
  return apply("permute", [out], { perm: [1, 0, ...spatial.map((s) => s - 1)] });
}
