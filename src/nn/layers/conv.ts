/** Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d. */
import { ValueError } from "../../ir/errors.ts";
import type { Tensor } from "../../tensor/tensor.ts";
import { conv1d, conv2d, convTranspose1d, convTranspose2d, pad } from "../functional.ts";
import { calculateFanInAndFanOut, kaimingUniform_, uniform_ } from "../init.ts";
import { Module } from "../module.ts";
import type { Parameter } from "../parameter.ts";
import { type FactoryOpts, fmtTuple, newParam, shapeError, tuple } from "./util.ts";

export type PaddingMode = "zeros" | "reflect" | "replicate" | "circular";
type IntOrTuple = number | readonly number[];

export interface ConvOpts extends FactoryOpts {
  stride?: IntOrTuple;
  /** Implicit padding on both sides: an int, a tuple, or "valid" / "same" (stride 1). */
  padding?: IntOrTuple | "valid" | "same";
  dilation?: IntOrTuple;
  groups?: number;
  bias?: boolean;
  /** How the padding is filled (default "zeros"). */
  paddingMode?: PaddingMode;
}

/** What the convolutions share: the weight, its init, the repr and the input check. */
abstract class ConvNd extends Module {
  weight: Parameter;
  bias: Parameter | null;
  readonly kernelSize: number[];
  readonly stride: number[];
  readonly padding: number[] | "valid" | "same";
  readonly dilation: number[];
  readonly outputPadding: number[];
  readonly groups: number;
  readonly paddingMode: PaddingMode;
  constructor(readonly nsp: number, readonly transposed: boolean, readonly inChannels: number, readonly outChannels: number, kernelSize: IntOrTuple,
    opts: ConvOpts & { outputPadding?: IntOrTuple }) {
    super();
    const name = this.constructor.name;
    this.kernelSize = tuple(name, "kernel_size", kernelSize, nsp);
    this.stride = tuple(name, "stride", opts.stride ?? 1, nsp);
    this.dilation = tuple(name, "dilation", opts.dilation ?? 1, nsp);
    this.outputPadding = tuple(name, "output_padding", opts.outputPadding ?? 0, nsp);
    const p = opts.padding ?? 0;
    this.padding = p === "valid" || p === "same" ? p : tuple(name, "padding", p, nsp);
    this.groups = opts.groups ?? 1;
    this.paddingMode = opts.paddingMode ?? "zeros";
    if (!Number.isInteger(this.groups) || this.groups <= 0) throw new ValueError(`${name}: groups must be a positive integer, got ${this.groups}`);
    if (inChannels % this.groups) throw new ValueError(`${name}: in_channels (${inChannels}) must be divisible by groups (${this.groups})`);
    if (outChannels % this.groups) throw new ValueError(`${name}: out_channels (${outChannels}) must be divisible by groups (${this.groups})`);
    if (!["zeros", "reflect", "replicate", "circular"].includes(this.paddingMode)) {
      throw new ValueError(`${name}: padding_mode must be one of "zeros", "reflect", "replicate", "circular", got ${JSON.stringify(this.paddingMode)}`);
    }
    if (this.padding === "same" && this.stride.some((s) => s !== 1)) throw new ValueError(`${name}: padding="same" is not supported for strided convolutions`);
    if (transposed && this.paddingMode !== "zeros") throw new ValueError(`${name}: only "zeros" padding mode is supported`);
    const shape = transposed ? [inChannels, outChannels / this.groups, ...this.kernelSize] : [outChannels, inChannels / this.groups, ...this.kernelSize];
    this.weight = newParam(shape, opts);
    this.bias = opts.bias ?? true ? newParam([outChannels], opts) : null;
    this.resetParameters();
  }
  /** PyTorch's default: weight kaiming-uniform with a = √5 (U(±1/√fan_in)), bias U(±1/√fan_in). */
  resetParameters(): void {
    kaimingUniform_(this.weight, { a: Math.sqrt(5) });
    if (this.bias) {
      const [fanIn] = calculateFanInAndFanOut(this.weight);
      const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
      uniform_(this.bias, -bound, bound);
    }
  }
  /** Checks x is [N, C_in, *spatial] or unbatched [C_in, *spatial]. */
  protected checkInput(x: Tensor): void {
    const ok = (x.ndim === this.nsp + 2 || x.ndim === this.nsp + 1) && x.shape[x.ndim - this.nsp - 1] === this.inChannels;
    if (!ok) {
      const sp = ["L", "H, W", "D, H, W"][this.nsp - 1];
      shapeError(this, `[N, ${this.inChannels}, ${sp}] or [${this.inChannels}, ${sp}]`, x);
    }
  }
  override extraRepr(): string {
    let s = `${this.inChannels}, ${this.outChannels}, kernel_size=${fmtTuple(this.kernelSize)}, stride=${fmtTuple(this.stride)}`;
    if (typeof this.padding === "string") s += `, padding=${this.padding}`;
    else if (this.padding.some((p) => p !== 0)) s += `, padding=${fmtTuple(this.padding)}`;
    if (this.dilation.some((d) => d !== 1)) s += `, dilation=${fmtTuple(this.dilation)}`;
    if (this.outputPadding.some((p) => p !== 0)) s += `, output_padding=${fmtTuple(this.outputPadding)}`;
    if (this.groups !== 1) s += `, groups=${this.groups}`;
    if (!this.bias) s += ", bias=False";
    if (this.paddingMode !== "zeros") s += `, padding_mode=${this.paddingMode}`;
    return s;
  }
  /**
   * For padding modes other than zeros, pads x explicitly (F.pad's order: last dim first) and
   * returns it with the conv's own padding set to 0.
   */
  protected padInput(x: Tensor): [Tensor, number[] | "valid" | "same"] {
    if (this.paddingMode === "zeros" || this.padding === "valid") return [x, this.padding];
    const pairs = this.kernelSize.map((k, i): [number, number] => {
      if (this.padding === "same") {
        const total = this.dilation[i]! * (k - 1);
        return [Math.floor(total / 2), total - Math.floor(total / 2)];
      }
      const p = (this.padding as number[])[i]!;
      return [p, p];
    });
    const flat = pairs.reverse().flat();
    return [pad(x, flat, this.paddingMode), "valid"];
  }
}

/**
 * 1-D convolution (cross-correlation) over [N, C_in, L]. Weight [C_out, C_in/groups, k], bias [C_out].
 *
 * Shape: input [N, C_in, L] (or [C_in, L]), output [N, C_out, L_out] with
 * L_out = ⌊(L + 2·padding − dilation·(k − 1) − 1) / stride⌋ + 1.
 *
 * @example
 * const conv = new st.nn.Conv1d(16, 33, 3, { stride: 2 });
 * const y = conv.forward(st.randn([20, 16, 50])); // [20, 33, 24]
 */
export class Conv1d extends ConvNd {
  constructor(inChannels: number, outChannels: number, kernelSize: IntOrTuple, opts: ConvOpts = {}) {
    super(1, false, inChannels, outChannels, kernelSize, opts);
  }
  forward(x: Tensor): Tensor {
    this.checkInput(x);
    const [xp, padding] = this.padInput(x);
    return conv1d(xp, this.weight, this.bias, { stride: this.stride, padding, dilation: this.dilation, groups: this.groups });
  }
}

/**
 * 2-D convolution (cross-correlation) over [N, C_in, H, W]. Weight [C_out, C_in/groups, kH, kW],
 * bias [C_out], both U(±1/√fan_in) at first, as in PyTorch.
 *
 * Shape: input [N, C_in, H, W] (or [C_in, H, W]), output [N, C_out, H_out, W_out] with
 * H_out = ⌊(H + 2·padding − dilation·(kH − 1) − 1) / stride⌋ + 1, and W_out alike.
 *
 * @example
 * const conv = new st.nn.Conv2d(1, 32, 5);
 * const y = conv.forward(st.randn([8, 1, 28, 28])); // [8, 32, 24, 24]
 */
export class Conv2d extends ConvNd {
  constructor(inChannels: number, outChannels: number, kernelSize: IntOrTuple, opts: ConvOpts = {}) {
    super(2, false, inChannels, outChannels, kernelSize, opts);
  }
  forward(x: Tensor): Tensor {
    this.checkInput(x);
    const [xp, padding] = this.padInput(x);
    return conv2d(xp, this.weight, this.bias, { stride: this.stride, padding, dilation: this.dilation, groups: this.groups });
  }
}

export interface ConvTransposeOpts extends FactoryOpts {
  stride?: IntOrTuple;
  padding?: IntOrTuple;
  /** Extra size added to one side of the output (smaller than stride or dilation). */
  outputPadding?: IntOrTuple;
  groups?: number;
  bias?: boolean;
  dilation?: IntOrTuple;
  paddingMode?: "zeros";
}

/** The output padding that makes a transposed conv give `outputSize` (PyTorch's `_output_padding`). */
function outputPaddingFor(m: ConvNd, x: Tensor, outputSize: readonly number[]): number[] {
  const sp = x.shape.slice(x.ndim - m.nsp);
  const size = outputSize.length > m.nsp ? outputSize.slice(outputSize.length - m.nsp) : outputSize;
  if (size.length !== m.nsp) throw new ValueError(`${m.constructor.name}: outputSize must have ${m.nsp} or ${m.nsp + 2} elements, got ${JSON.stringify(outputSize)}`);
  return sp.map((n, i) => {
    const min = (n - 1) * m.stride[i]! - 2 * (m.padding as number[])[i]! + m.dilation[i]! * (m.kernelSize[i]! - 1) + 1;
    const extra = size[i]! - min;
    if (extra < 0 || extra >= Math.max(m.stride[i]!, m.dilation[i]!)) {
      throw new ValueError(`${m.constructor.name}: requested an output size of ${JSON.stringify(size)}, but valid sizes along dim ${i} range from ${min} to ${min + Math.max(m.stride[i]!, m.dilation[i]!) - 1}`);
    }
    return extra;
  });
}

/**
 * 1-D transposed convolution (the gradient of Conv1d with respect to its input). Weight
 * [C_in, C_out/groups, k], bias [C_out].
 *
 * Shape: input [N, C_in, L], output [N, C_out, (L − 1)·stride − 2·padding + dilation·(k − 1) + outputPadding + 1].
 *
 * @example
 * const up = new st.nn.ConvTranspose1d(16, 8, 4, { stride: 2, padding: 1 });
 * const y = up.forward(st.randn([2, 16, 10])); // [2, 8, 20]
 */
export class ConvTranspose1d extends ConvNd {
  constructor(inChannels: number, outChannels: number, kernelSize: IntOrTuple, opts: ConvTransposeOpts = {}) {
    super(1, true, inChannels, outChannels, kernelSize, opts);
  }
  forward(x: Tensor, outputSize?: readonly number[]): Tensor {
    this.checkInput(x);
    const outputPadding = outputSize ? outputPaddingFor(this, x, outputSize) : this.outputPadding;
    return convTranspose1d(x, this.weight, this.bias, { stride: this.stride, padding: this.padding as number[], outputPadding, groups: this.groups, dilation: this.dilation });
  }
}

/**
 * 2-D transposed convolution (the gradient of Conv2d with respect to its input), used to
 * upsample. Weight [C_in, C_out/groups, kH, kW], bias [C_out].
 *
 * Shape: input [N, C_in, H, W], output [N, C_out, H_out, W_out] with
 * H_out = (H − 1)·stride − 2·padding + dilation·(kH − 1) + outputPadding + 1, W_out alike.
 * `forward(x, outputSize)` picks the output padding that gives `outputSize`.
 *
 * @example
 * const up = new st.nn.ConvTranspose2d(16, 8, 3, { stride: 2, padding: 1 });
 * const y = up.forward(st.randn([2, 16, 12, 12]), [24, 24]); // [2, 8, 24, 24] (without outputSize: 23)
 */
export class ConvTranspose2d extends ConvNd {
  constructor(inChannels: number, outChannels: number, kernelSize: IntOrTuple, opts: ConvTransposeOpts = {}) {
    super(2, true, inChannels, outChannels, kernelSize, opts);
  }
  forward(x: Tensor, outputSize?: readonly number[]): Tensor {
    this.checkInput(x);
    const outputPadding = outputSize ? outputPaddingFor(this, x, outputSize) : this.outputPadding;
    return convTranspose2d(x, this.weight, this.bias, { stride: this.stride, padding: this.padding as number[], outputPadding, groups: this.groups, dilation: this.dilation });
  }
}
