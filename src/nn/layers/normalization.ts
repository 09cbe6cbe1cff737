/** LayerNorm, GroupNorm, RMSNorm. */
import { ValueError } from "../../ir/errors.ts";
import type { Tensor } from "../../tensor/tensor.ts";
import { groupNorm, layerNorm, rmsNorm } from "../functional.ts";
import { ones_, zeros_ } from "../init.ts";
import { Module } from "../module.ts";
import type { Parameter } from "../parameter.ts";
import { type FactoryOpts, fmtFloat, fmtTuple, newParam, shapeError } from "./util.ts";

export interface LayerNormOpts extends FactoryOpts {
  /** Added to the variance (default 1e-5). */
  eps?: number;
  /** Learn a per-element weight (and bias): default true. */
  elementwiseAffine?: boolean;
  /** With elementwiseAffine, also learn a bias (default true). */
  bias?: boolean;
}

const asShape = (s: number | readonly number[]): number[] => (typeof s === "number" ? [s] : [...s]);
const fits = (x: Tensor, tail: readonly number[]): boolean =>
  x.ndim >= tail.length && tail.every((d, i) => x.shape[x.ndim - tail.length + i] === d);

/**
 * Normalizes over the trailing `normalizedShape` dims (mean 0, variance 1, biased variance),
 * then scales by `weight` (ones) and shifts by `bias` (zeros).
 *
 * Shape: input [*, ...normalizedShape], output the same.
 *
 * @example
 * const ln = new st.nn.LayerNorm(64);
 * const y = ln.forward(st.randn([8, 10, 64])); // each [64] row: mean 0, std 1
 */
export class LayerNorm extends Module {
  readonly normalizedShape: number[];
  readonly eps: number;
  readonly elementwiseAffine: boolean;
  weight: Parameter | null;
  bias: Parameter | null;
  constructor(normalizedShape: number | readonly number[], opts: LayerNormOpts = {}) {
    super();
    this.normalizedShape = asShape(normalizedShape);
    this.eps = opts.eps ?? 1e-5;
    this.elementwiseAffine = opts.elementwiseAffine ?? true;
    this.weight = this.elementwiseAffine ? newParam(this.normalizedShape, opts) : null;
    this.bias = this.elementwiseAffine && (opts.bias ?? true) ? newParam(this.normalizedShape, opts) : null;
    this.resetParameters();
  }
  resetParameters(): void {
    if (this.weight) ones_(this.weight);
    if (this.bias) zeros_(this.bias);
  }
  forward(x: Tensor): Tensor {
    if (!fits(x, this.normalizedShape)) shapeError(this, `[*, ${this.normalizedShape.join(", ")}]`, x);
    return layerNorm(x, this.normalizedShape, this.weight, this.bias, this.eps);
  }
  override extraRepr(): string {
    return `${fmtTuple(this.normalizedShape)}, eps=${fmtFloat(this.eps)}, elementwise_affine=${this.elementwiseAffine ? "True" : "False"}`;
  }
}

export interface GroupNormOpts extends FactoryOpts {
  eps?: number;
  /** Learn a per-channel weight and bias (default true). */
  affine?: boolean;
}

/**
 * Splits the channels into `numGroups` groups and normalizes each group of each sample over its
 * channels and spatial positions, then applies a per-channel weight (ones) and bias (zeros).
 *
 * Shape: input [N, C, *], output the same.
 *
 * @example
 * const gn = new st.nn.GroupNorm(2, 6);
 * const y = gn.forward(st.randn([4, 6, 5, 5]));
 */
export class GroupNorm extends Module {
  readonly eps: number;
  readonly affine: boolean;
  weight: Parameter | null;
  bias: Parameter | null;
  constructor(readonly numGroups: number, readonly numChannels: number, opts: GroupNormOpts = {}) {
    super();
    if (numChannels % numGroups) throw new ValueError(`GroupNorm: num_channels (${numChannels}) must be divisible by num_groups (${numGroups})`);
    this.eps = opts.eps ?? 1e-5;
    this.affine = opts.affine ?? true;
    this.weight = this.affine ? newParam([numChannels], opts) : null;
    this.bias = this.affine ? newParam([numChannels], opts) : null;
    this.resetParameters();
  }
  resetParameters(): void {
    if (this.weight) ones_(this.weight);
    if (this.bias) zeros_(this.bias);
  }
  forward(x: Tensor): Tensor {
    if (x.ndim < 2 || x.shape[1] !== this.numChannels) shapeError(this, `[N, ${this.numChannels}, *]`, x);
    return groupNorm(x, this.numGroups, this.weight, this.bias, this.eps);
  }
  override extraRepr(): string {
    return `${this.numGroups}, ${this.numChannels}, eps=${fmtFloat(this.eps)}, affine=${this.affine ? "True" : "False"}`;
  }
}

export interface RMSNormOpts extends FactoryOpts {
  /** Added to the mean square; default (null): the dtype's machine epsilon, as PyTorch. */
  eps?: number | null;
  /** Learn a per-element weight (ones): default true. */
  elementwiseAffine?: boolean;
}

/**
 * y = x / √(mean(x²) + eps) · weight, over the trailing `normalizedShape` dims.
 *
 * Shape: input [*, ...normalizedShape], output the same.
 *
 * @example
 * const norm = new st.nn.RMSNorm(64);
 * const y = norm.forward(st.randn([8, 10, 64]));
 */
export class RMSNorm extends Module {
  readonly normalizedShape: number[];
  readonly eps: number | null;
  readonly elementwiseAffine: boolean;
  weight: Parameter | null;
  constructor(normalizedShape: number | readonly number[], opts: RMSNormOpts = {}) {
    super();
    this.normalizedShape = asShape(normalizedShape);
    this.eps = opts.eps ?? null;
    this.elementwiseAffine = opts.elementwiseAffine ?? true;
    this.weight = this.elementwiseAffine ? newParam(this.normalizedShape, opts) : null;
    this.resetParameters();
  }
  resetParameters(): void {
    if (this.weight) ones_(this.weight);
  }
  forward(x: Tensor): Tensor {
    if (!fits(x, this.normalizedShape)) shapeError(this, `[*, ${this.normalizedShape.join(", ")}]`, x);
    return rmsNorm(x, this.normalizedShape, this.weight, this.eps);
  }
  override extraRepr(): string {
    return `${fmtTuple(this.normalizedShape)}, eps=${this.eps === null ? "None" : fmtFloat(this.eps)}, elementwise_affine=${this.elementwiseAffine ? "True" : "False"}`;
  }
}
