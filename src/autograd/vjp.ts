/**
 * One vector-Jacobian product rule per primitive: given the gradient of the output, the gradients
 * of the inputs. Rules are written with tensor ops, so the backward graph is lazy, fused like the
 * forward one, and differentiable again (gradients of gradients).
 */
import type { Prim, PrimParams } from "../ir/ops.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { getBackend } from "../engine/device.ts";
import { convInputGrad, convWeightGrad } from "./conv-vjp.ts";

export type ApplyFn = <P extends Prim>(op: P, inputs: readonly Tensor[], params: PrimParams[P], device?: string) => Tensor;

export interface VjpCtx<P extends Prim> {
  readonly inputs: readonly Tensor[];
  readonly params: PrimParams[P];
  readonly apply: ApplyFn;
}

type VjpRule<P extends Prim> = (g: Tensor, ctx: VjpCtx<P>) => (Tensor | null)[];

const none: VjpRule<Prim> = () => [];

/**
 * The rows R when a sum of `g` over `axes` should run as a product with a ones vector, ones[1, R]
 * @ g[R, C]: the axes are the leading ones, both sides are large, g is a float, and its device
 * has a contraction routine. Else 0.
 */
function sumAsProductRows(g: Tensor, axes: readonly number[]): number {
  if (!axes.length || !axes.every((a, i) => a === i) || (g.dtype !== "float32" && g.dtype !== "float64")) return 0;
  const R = axes.reduce((a, i) => a * g.shape[i]!, 1), C = g.numel() / R;
  return R >= 64 && C >= 64 && getBackend(g.device).routines.dot !== undefined ? R : 0;
}
const x0 = (c: VjpCtx<Prim>) => c.inputs[0]!;
const x1 = (c: VjpCtx<Prim>) => c.inputs[1]!;

export const VJP: { [P in Prim]: VjpRule<P> } = {
  neg: (g) => [g.neg()],
  exp: (g, c) => [g.mul(x0(c).exp())],
  log: (g, c) => [g.div(x0(c))],
  sin: (g, c) => [g.mul(x0(c).cos())],
  sqrt: (g, c) => [g.div(x0(c).sqrt().mul(2))],
  recip: (g, c) => [g.neg().div(x0(c).mul(x0(c)))],
  erf: (g, c) => [g.mul(x0(c).square().neg().exp().mul(2 / Math.sqrt(Math.PI)))],
  trunc: none,
  cast: (g, c) => [x0(c).isFloatingPoint() ? g.to(x0(c).dtype) : null],
  add: (g) => [g, g],
  mul: (g, c) => [g.mul(x1(c)), g.mul(x0(c))],
  div: (g, c) => [g.div(x1(c)), g.neg().mul(x0(c)).div(x1(c).square())],
  max: (g, c) => {
    const [x, y] = [x0(c), x1(c)];
    const tie = x.eq(y), half = g.mul(0.5);
    return [g.where(x.gt(y), half.where(tie, 0)), g.where(y.gt(x), half.where(tie, 0))];
  },
  pow: (g, c) => {
    const [x, y] = [x0(c), x1(c)];
    const gx = g.mul(y).mul(x.pow(y.sub(1)));
    // d/dy x^y = x^y log x, taken as 0 at x = 0 for y >= 0 (as PyTorch does).
    const gy = g.mul(x.pow(y).mul(x.log())).where(x.eq(0).logicalAnd(y.ge(0)).logicalNot(), 0);
    return [gx, gy];
  },
  idiv: none,
  mod: (g, c) => [g, g.neg().mul(x0(c).div(x1(c), { roundingMode: "trunc" }))],
  cmplt: none,
  cmpeq: none,
  where: (g, c) => [null, g.where(x0(c), 0), g.where(x0(c).logicalNot(), 0)],
  sum: (g, c) => [g.expand(x0(c).shape)],
  amax: (g, c) => {
    const x = x0(c);
    const m = c.apply("amax", [x], c.params).expand(x.shape);
    const hit = x.eq(m).to(g.dtype);
    const count = hit.sum(c.params.axes, { keepdim: true });
    return [g.div(count).expand(x.shape).mul(hit)];
  },
  prod: (g, c) => {
    // The product of the others, exact with zeros, and written so that its own gradient (the
    // second derivative) is exact too. With k zeros in a slice, P the product of its nonzero
    // entries and s the sum of its zero entries (0, but with derivative 1 along each of them):
    //   k = 0: P / x;
    //   k = 1: P at the zero; P / x * s elsewhere (0, with derivative P / x along the zero);
    //   k = 2: P * (s - x) at a zero (P times the other zero); 0 elsewhere, as its derivatives;
    //   k > 2: 0, as its derivatives.
    // (Plain zeros where the value is 0 would make second derivatives 0 there.)
    const x = x0(c), axes = c.params.axes;
    const isZero = x.eq(0);
    const nz = x.where(isZero.logicalNot(), 1);
    const P = c.apply("prod", [nz], { axes }).expand(x.shape);
    const k = isZero.to(x.dtype).sum(axes, { keepdim: true }).expand(x.shape);
    const s = x.where(isZero, 0).sum(axes, { keepdim: true }).expand(x.shape);
    const others = P.div(nz);
    const oneZero = P.where(isZero, others.mul(s));
    const twoZeros = P.mul(s.sub(x)).where(isZero, 0);
    const grad = others.where(k.eq(0), oneZero.where(k.eq(1), twoZeros.where(k.eq(2), 0)));
    return [g.expand(x.shape).mul(grad)];
  },
  reshape: (g, c) => [g.reshape(x0(c).shape)],
  permute: (g, c) => {
    const inv = new Array<number>(c.params.perm.length);
    c.params.perm.forEach((p, i) => (inv[p] = i));
    return [c.apply("permute", [g], { perm: inv })];
  },
  expand: (g, c) => {
    const x = x0(c);
    const axes = x.shape.map((d, i) => (d === 1 && g.shape[i] !== 1 ? i : -1)).filter((i) => i >= 0);
    const R = sumAsProductRows(g, axes);
    if (R) {
      // A bias's gradient: the sum over the leading (batch) axes is ones[1, R] @ g[R, C], which a
      // contraction routine reads row by row, where a reduction kernel would read g by columns.
      const rows = c.apply("reshape", [g], { shape: [R, g.numel() / R] });
      return [c.apply("reshape", [c.apply("dot", [g.newOnes([1, R]), rows], {})], { shape: [...x.shape] })];
    }
    return [axes.length ? c.apply("sum", [g], { axes }) : g];
  },
  pad: (g, c) => [c.apply("shrink", [g], { ranges: c.params.pads.map(([a], i): [number, number] => [a, a + x0(c).shape[i]!]) })],
  shrink: (g, c) => [c.apply("pad", [g], { pads: c.params.ranges.map(([a, b], i): [number, number] => [a, x0(c).shape[i]! - b]) })],
  flip: (g, c) => [c.apply("flip", [g], c.params)],
  const: none,
  iota: none,
  random: none,
  gather: (g, c) => {
    const x = x0(c), idx = x1(c), d = c.params.dim;
    if (idx.shape[d] === 1 && idx.shape.every((n, i) => i === d || n === x.shape[i])) {
      // Each output picked one element along dim (max pooling's window maximum): the gradient is
      // a one-hot select, a map that fuses with what reads it, where a scatter needs a zero fill
      // and a pass of its own. Adding 0 keeps what the scatter's 0 + g gives for g = -0.
      const pos = c.apply("iota", [], { shape: [...x.shape], axis: d, dtype: idx.dtype }, x.device);
      return [g.add(0).expand(x.shape).where(pos.eq(idx.expand(x.shape)), 0), null];
    }
    return [x.newZeros(x.shape).to(g.dtype).scatterAdd(d, idx, g), null];
  },
  scatterAdd: (g, c) => [g, null, g.gather(c.params.dim, x1(c))],
  dot: (g, c) => {
    const [a, b] = [x0(c), x1(c)];
    const nd = a.ndim;
    const perm = [...Array(nd).keys()];
    [perm[nd - 2], perm[nd - 1]] = [nd - 1, nd - 2];
    return [
      c.apply("dot", [g, c.apply("permute", [b], { perm })], {}),
      c.apply("dot", [c.apply("permute", [a], { perm }), g], {}),
    ];
  },
  conv: (g, c) => [convInputGrad(c.apply, g, x0(c).shape, x1(c), c.params), convWeightGrad(c.apply, g, x0(c), x1(c), c.params)],
  contiguous: (g) => [g],
};
