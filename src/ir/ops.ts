import type { DType } from "./dtype.ts";

/**
 * The primitive ops: the closed set that autograd differentiates, the scheduler fuses and the
 * backends run. Everything else in Strata (softmax, layer norm, attention, losses, pooling) is
 * composed from these in the tensor layer.
 */
export const UNARY = ["neg", "exp", "log", "sin", "sqrt", "recip", "erf", "trunc", "cast"] as const;
export const BINARY = ["add", "mul", "div", "max", "pow", "idiv", "mod", "cmplt", "cmpeq"] as const;
export const TERNARY = ["where"] as const;
export const REDUCE = ["sum", "amax", "prod"] as const;
export const MOVEMENT = ["reshape", "permute", "expand", "pad", "shrink", "flip"] as const;
export const SOURCE = ["const", "iota", "random"] as const;
export const INDEXING = ["gather", "scatterAdd"] as const;
export const CONTRACTION = ["dot", "conv"] as const;
export const BUFFER = ["contiguous"] as const;

export type UnaryPrim = (typeof UNARY)[number];
export type BinaryPrim = (typeof BINARY)[number];
export type TernaryPrim = (typeof TERNARY)[number];
export type ElementwisePrim = UnaryPrim | BinaryPrim | TernaryPrim;
export type ReducePrim = (typeof REDUCE)[number];
export type MovementPrim = (typeof MOVEMENT)[number];
export type SourcePrim = (typeof SOURCE)[number];
export type IndexingPrim = (typeof INDEXING)[number];
export type ContractionPrim = (typeof CONTRACTION)[number];

export type Prim =
  | ElementwisePrim
  | ReducePrim
  | MovementPrim
  | SourcePrim
  | IndexingPrim
  | ContractionPrim
  | (typeof BUFFER)[number];

export const ALL_PRIMS: readonly Prim[] = [
  ...UNARY, ...BINARY, ...TERNARY, ...REDUCE, ...MOVEMENT, ...SOURCE, ...INDEXING, ...CONTRACTION, ...BUFFER,
];

type NoParams = Record<string, never>;

/** Conv geometry per spatial dim; padding is [low, high] per dim. */
export interface ConvParams {
  stride: number[];
  padding: [number, number][];
  dilation: number[];
  groups: number;
}

/** The typed parameters of each primitive. */
export interface PrimParams {
  neg: NoParams; exp: NoParams; log: NoParams; sin: NoParams; sqrt: NoParams; recip: NoParams;
  erf: NoParams; trunc: NoParams;
  cast: { dtype: DType };
  add: NoParams; mul: NoParams; div: NoParams; max: NoParams; pow: NoParams; idiv: NoParams; mod: NoParams;
  cmplt: NoParams; cmpeq: NoParams;
  where: NoParams;
  /** Reduced axes keep size 1 at this level; the tensor layer drops them unless keepdim. */
  sum: { axes: number[] }; amax: { axes: number[] }; prod: { axes: number[] };
  reshape: { shape: number[] };
  permute: { perm: number[] };
  expand: { shape: number[] };
  /** Zero padding, [before, after] per dim. */
  pad: { pads: [number, number][] };
  /** Keeps [start, end) per dim. */
  shrink: { ranges: [number, number][] };
  flip: { axes: number[] };
  const: { value: number; shape: number[]; dtype: DType };
  /** Values 0..n-1 along `axis` of `shape`. */
  iota: { shape: number[]; axis: number; dtype: DType };
  /**
   * Uniform [0, 1) from Philox-4x32-10, keyed by `key`, counter `offset` + flat index. Kernels get
   * key and offset as arguments (`Kernel.scalars`), so every draw runs one compiled program.
   */
  random: { shape: number[]; dtype: DType; key: [number, number]; offset: number };
  gather: { dim: number };
  scatterAdd: { dim: number };
  /** Batched matrix product: [...B, M, K] x [...B, K, N] -> [...B, M, N], batch dims equal. */
  dot: NoParams;
  /** N-d convolution, x [N, Cin, ...X], w [Cout, Cin/groups, ...K] -> [N, Cout, ...Y]. */
  conv: ConvParams;
  contiguous: NoParams;
}

export const isElementwise = (p: Prim): p is ElementwisePrim =>
  (UNARY as readonly string[]).includes(p) || (BINARY as readonly string[]).includes(p) || p === "where";
export const isReduce = (p: Prim): p is ReducePrim => (REDUCE as readonly string[]).includes(p);
export const isMovement = (p: Prim): p is MovementPrim => (MOVEMENT as readonly string[]).includes(p);
export const isSource = (p: Prim): p is SourcePrim => (SOURCE as readonly string[]).includes(p);
/** ALU ops that cost several cheap ones (a call or a long sequence on most devices). */
export const EXPENSIVE_ALU: ReadonlySet<string> = new Set(["exp", "log", "sin", "sqrt", "erf", "pow"]);

export const isContraction = (p: Prim): p is ContractionPrim => p === "dot" || p === "conv";

/** Output dims of a conv along one spatial dim. */
export function convOutSize(x: number, k: number, stride: number, pad: [number, number], dilation: number): number {
  return Math.floor((x + pad[0] + pad[1] - dilation * (k - 1) - 1) / stride) + 1;
}
