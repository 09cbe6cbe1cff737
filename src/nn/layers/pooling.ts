/** MaxPool1d, MaxPool2d, AvgPool1d, AvgPool2d, AdaptiveAvgPool2d. */
import { ValueError } from "../../ir/errors.ts";
import type { Tensor } from "../../tensor/tensor.ts";
import { adaptiveAvgPool2d, avgPool1d, avgPool2d, maxPool1d, maxPool2d } from "../functional.ts";
import { Module } from "../module.ts";
import { fmtTuple, shapeError } from "./util.ts";

type IntOrTuple = number | readonly number[];

export interface MaxPoolOpts {
  /** Default: the kernel size. */
  stride?: IntOrTuple | null;
  /** Implicit -inf padding on both sides, at most half the kernel. */
  padding?: IntOrTuple;
  dilation?: IntOrTuple;
  /** Use ceil instead of floor for the output size. */
  ceilMode?: boolean;
}

const fmtArg = (v: IntOrTuple): string => (typeof v === "number" ? String(v) : fmtTuple(v));
const spatialName = (nsp: number) => ["L", "H, W"][nsp - 1]!;

function checkPoolInput(m: Module, nsp: number, x: Tensor): void {
  if (x.ndim !== nsp + 1 && x.ndim !== nsp + 2) shapeError(m, `[N, C, ${spatialName(nsp)}] or [C, ${spatialName(nsp)}]`, x);
}

abstract class MaxPoolNd extends Module {
  readonly stride: IntOrTuple;
  readonly padding: IntOrTuple;
  readonly dilation: IntOrTuple;
  readonly ceilMode: boolean;
  constructor(readonly kernelSize: IntOrTuple, opts: MaxPoolOpts = {}) {
    super();
    this.stride = opts.stride ?? kernelSize;
    this.padding = opts.padding ?? 0;
    this.dilation = opts.dilation ?? 1;
    this.ceilMode = opts.ceilMode ?? false;
  }
  override extraRepr(): string {
    return `kernel_size=${fmtArg(this.kernelSize)}, stride=${fmtArg(this.stride)}, padding=${fmtArg(this.padding)}, dilation=${fmtArg(this.dilation)}, ceil_mode=${this.ceilMode ? "True" : "False"}`;
  }
  protected get opts() {
    return { stride: this.stride, padding: this.padding, dilation: this.dilation, ceilMode: this.ceilMode };
  }
}

/**
 * 1-D max pooling over [N, C, L]: the largest value of each window.
 *
 * Shape: output [N, C, L_out], L_out = ⌊(L + 2·padding − dilation·(k − 1) − 1) / stride⌋ + 1.
 *
 * @example
 * const pool = new st.nn.MaxPool1d(3, { stride: 2 });
 * const y = pool.forward(st.randn([20, 16, 50])); // [20, 16, 24]
 */
export class MaxPool1d extends MaxPoolNd {
  forward(x: Tensor): Tensor {
    checkPoolInput(this, 1, x);
    return maxPool1d(x, this.kernelSize as number | number[], this.opts);
  }
}

/**
 * 2-D max pooling over [N, C, H, W]: the largest value of each window (the gradient goes to the
 * first maximum of a window, as in PyTorch).
 *
 * Shape: output [N, C, H_out, W_out], H_out = ⌊(H + 2·padding − dilation·(kH − 1) − 1) / stride⌋ + 1.
 *
 * @example
 * const pool = new st.nn.MaxPool2d(2);
 * const y = pool.forward(st.randn([8, 32, 24, 24])); // [8, 32, 12, 12]
 */
export class MaxPool2d extends MaxPoolNd {
  forward(x: Tensor): Tensor {
    checkPoolInput(this, 2, x);
    return maxPool2d(x, this.kernelSize as number | number[], this.opts);
  }
}

export interface AvgPoolOpts {
  /** Default: the kernel size. */
  stride?: IntOrTuple | null;
  /** Implicit zero padding on both sides, at most half the kernel. */
  padding?: IntOrTuple;
  ceilMode?: boolean;
  /** Count the zero padding in the divisor (default true). */
  countIncludePad?: boolean;
  /** Divide by this instead of the window size. */
  divisorOverride?: number | null;
}

abstract class AvgPoolNd extends Module {
  readonly stride: IntOrTuple;
  readonly padding: IntOrTuple;
  readonly ceilMode: boolean;
  readonly countIncludePad: boolean;
  readonly divisorOverride: number | null;
  constructor(readonly kernelSize: IntOrTuple, opts: AvgPoolOpts = {}) {
    super();
    this.stride = opts.stride ?? kernelSize;
    this.padding = opts.padding ?? 0;
    this.ceilMode = opts.ceilMode ?? false;
    this.countIncludePad = opts.countIncludePad ?? true;
    this.divisorOverride = opts.divisorOverride ?? null;
    if (this.divisorOverride !== null && !(this.divisorOverride > 0)) throw new ValueError(`${this.constructor.name}: divisor must be positive, got ${this.divisorOverride}`);
  }
  override extraRepr(): string {
    return `kernel_size=${fmtArg(this.kernelSize)}, stride=${fmtArg(this.stride)}, padding=${fmtArg(this.padding)}`;
  }
  protected get opts() {
    return { stride: this.stride, padding: this.padding, ceilMode: this.ceilMode, countIncludePad: this.countIncludePad, divisorOverride: this.divisorOverride };
  }
}

/**
 * 1-D average pooling over [N, C, L].
 *
 * @example
 * const pool = new st.nn.AvgPool1d(3, { stride: 2 });
 * const y = pool.forward(st.randn([20, 16, 50])); // [20, 16, 24]
 */
export class AvgPool1d extends AvgPoolNd {
  forward(x: Tensor): Tensor {
    checkPoolInput(this, 1, x);
    return avgPool1d(x, this.kernelSize as number | number[], this.opts);
  }
}

/**
 * 2-D average pooling over [N, C, H, W]: the mean of each window (padding counts as zeros in
 * the divisor unless `countIncludePad: false`).
 *
 * Shape: output [N, C, H_out, W_out], H_out = ⌊(H + 2·padding − kH) / stride⌋ + 1.
 *
 * @example
 * const pool = new st.nn.AvgPool2d(2);
 * const y = pool.forward(st.randn([8, 3, 32, 32])); // [8, 3, 16, 16]
 */
export class AvgPool2d extends AvgPoolNd {
  forward(x: Tensor): Tensor {
    checkPoolInput(this, 2, x);
    return avgPool2d(x, this.kernelSize as number | number[], this.opts);
  }
}

/**
 * 2-D adaptive average pooling: averages windows chosen so that the output is `outputSize`
 * (an int, or [H, W] where null keeps that input dim), whatever the input size.
 *
 * Shape: input [N, C, H, W] (or [C, H, W]), output [N, C, ...outputSize].
 *
 * @example
 * const gap = new st.nn.AdaptiveAvgPool2d(1);   // global average pooling
 * const y = gap.forward(st.randn([8, 64, 7, 7])); // [8, 64, 1, 1]
 */
export class AdaptiveAvgPool2d extends Module {
  constructor(readonly outputSize: number | readonly (number | null)[]) {
    super();
  }
  forward(x: Tensor): Tensor {
    checkPoolInput(this, 2, x);
    const os = typeof this.outputSize === "number" ? [this.outputSize, this.outputSize] : this.outputSize.map((o, i) => o ?? x.shape[x.ndim - 2 + i]!);
    if (os.length !== 2 || os.some((o) => !Number.isInteger(o) || o <= 0)) throw new ValueError(`AdaptiveAvgPool2d: output_size must be a positive int or 2 of them, got ${JSON.stringify(this.outputSize)}`);
    return adaptiveAvgPool2d(x, os);
  }
  override extraRepr(): string {
    const o = this.outputSize;
    return `output_size=${typeof o === "number" ? o : `(${o.map((v) => v ?? "None").join(", ")})`}`;
  }
}
