import type { DType } from "./dtype.ts";
import { convOutSize, type Prim, type PrimParams } from "./ops.ts";
import type { Shape } from "./shape.ts";

export interface Aval {
  readonly shape: Shape;
  readonly dtype: DType;
}

type InferRule<P extends Prim> = (srcs: readonly Aval[], p: PrimParams[P]) => { shape: number[]; dtype: DType };

const same: InferRule<Prim> = (s) => ({ shape: [...s[0]!.shape], dtype: s[0]!.dtype });
const compare: InferRule<Prim> = (s) => ({ shape: [...s[0]!.shape], dtype: "bool" });
const reduced = (s: readonly Aval[], axes: number[]) => ({
  shape: s[0]!.shape.map((d, i) => (axes.includes(i) ? 1 : d)),
  dtype: s[0]!.dtype,
});

/**
 * Output shape and dtype of every primitive, given shapes that the tensor layer has already
 * checked. Keyed by the op enum so that a new primitive without a rule does not compile.
 */
export const INFER: { [P in Prim]: InferRule<P> } = {
  neg: same, exp: same, log: same, sin: same, sqrt: same, recip: same, erf: same, trunc: same,
  cast: (s, p) => ({ shape: [...s[0]!.shape], dtype: p.dtype }),
  add: same, mul: same, div: same, max: same, pow: same, idiv: same, mod: same,
  cmplt: compare, cmpeq: compare,
  where: (s) => ({ shape: [...s[1]!.shape], dtype: s[1]!.dtype }),
  sum: (s, p) => reduced(s, p.axes),
  amax: (s, p) => reduced(s, p.axes),
  prod: (s, p) => reduced(s, p.axes),
  reshape: (s, p) => ({ shape: [...p.shape], dtype: s[0]!.dtype }),
  permute: (s, p) => ({ shape: p.perm.map((i) => s[0]!.shape[i]!), dtype: s[0]!.dtype }),
  expand: (s, p) => ({ shape: [...p.shape], dtype: s[0]!.dtype }),
  pad: (s, p) => ({ shape: s[0]!.shape.map((d, i) => d + p.pads[i]![0] + p.pads[i]![1]), dtype: s[0]!.dtype }),
  shrink: (s, p) => ({ shape: p.ranges.map(([a, b]) => b - a), dtype: s[0]!.dtype }),
  flip: same,
  const: (_s, p) => ({ shape: [...p.shape], dtype: p.dtype }),
  iota: (_s, p) => ({ shape: [...p.shape], dtype: p.dtype }),
  random: (_s, p) => ({ shape: [...p.shape], dtype: p.dtype }),
  gather: (s) => ({ shape: [...s[1]!.shape], dtype: s[0]!.dtype }),
  scatterAdd: same,
  dot: (s) => {
    const a = s[0]!.shape, b = s[1]!.shape;
    return { shape: [...a.slice(0, -1), b[b.length - 1]!], dtype: s[0]!.dtype };
  },
  conv: (s, p) => {
    const x = s[0]!.shape, w = s[1]!.shape;
    const spatial = x.slice(2).map((d, i) => convOutSize(d, w[i + 2]!, p.stride[i]!, p.padding[i]!, p.dilation[i]!));
    return { shape: [x[0]!, w[0]!, ...spatial], dtype: s[0]!.dtype };
  },
  contiguous: same,
};
