/**
 * Loss modules, as `torch.nn`'s: each holds its options (and class weights, as buffers, so they
 * appear in `stateDict()` under PyTorch's names) and calls its function in `st.nn.functional`.
 */
import { isFloat } from "../../ir/dtype.ts";
import { DTypeError, ShapeError, ValueError } from "../../ir/errors.ts";
import { fmtShape } from "../../ir/shape.ts";
import type { Tensor } from "../../tensor/tensor.ts";
import * as F from "../functional.ts";
import type { Reduction } from "../functional.ts";
import { Module } from "../module.ts";
import { checkReduction, type Lengths } from "./functional.ts";

export interface LossOpts<R extends string = Reduction> {
  /** "mean" (default), "sum" or "none". */
  reduction?: R;
}

/** The base of the loss modules: the reduction, checked when the module is made. */
export abstract class Loss<R extends string = Reduction> extends Module {
  readonly reduction: R;
  constructor(opts: LossOpts<R> = {}, allowed?: readonly string[]) {
    super();
    this.reduction = opts.reduction ?? ("mean" as R);
    checkReduction(this.constructor.name, this.reduction, allowed);
  }
  abstract override forward(...args: never[]): Tensor;
  override extraRepr(): string {
    return this.reduction === "mean" ? "" : `reduction=${this.reduction}`;
  }
}

/** Checks a constructor's weight-like tensor: 1-D (or any shape, for `anyShape`) and floating point. */
function checkWeight(cls: string, name: string, w: Tensor | null | undefined, anyShape = false): Tensor | null {
  if (!w) return null;
  if (!isFloat(w.dtype)) throw new DTypeError(`${cls}: ${name} must be a floating point tensor, got ${w.dtype}`);
  if (!anyShape && w.ndim !== 1) throw new ShapeError(`${cls}: ${name} must be a 1-D tensor with one entry per class, got shape ${fmtShape(w.shape)}`);
  return w;
}

/**
 * Mean squared error, (input - target)².
 *
 * Shape: input and target of one shape, both floating point; the output is a scalar (or, with
 * `reduction: "none"`, of the input's shape).
 *
 * @example
 * const loss = new st.nn.MSELoss().forward(st.tensor([1, 2, 3]), st.tensor([1, 2, 5]));
 * console.log(await loss.item()); // 4 / 3
 */
export class MSELoss extends Loss {
  forward(input: Tensor, target: Tensor): Tensor {
    return F.mseLoss(input, target, { reduction: this.reduction });
  }
}

/**
 * Mean absolute error, |input - target|.
 *
 * @example
 * const loss = new st.nn.L1Loss({ reduction: "sum" }).forward(st.tensor([1, 2, 3]), st.tensor([0, 2, 5]));
 * console.log(await loss.item()); // 3
 */
export class L1Loss extends Loss {
  forward(input: Tensor, target: Tensor): Tensor {
    return F.l1Loss(input, target, { reduction: this.reduction });
  }
}

/**
 * Quadratic below `beta` (0.5 d² / beta), linear above (|d| - 0.5 beta); `beta: 0` is the L1 loss.
 *
 * @example
 * const loss = new st.nn.SmoothL1Loss({ beta: 0.5 }).forward(st.tensor([0.25, 2]), st.tensor([0, 0]));
 * console.log(await loss.item()); // (0.0625 + 1.75) / 2 = 0.90625
 */
export class SmoothL1Loss extends Loss {
  readonly beta: number;
  constructor(opts: LossOpts & { beta?: number } = {}) {
    super(opts);
    this.beta = opts.beta ?? 1;
    if (!(this.beta >= 0)) throw new ValueError(`SmoothL1Loss: beta must be non-negative, got ${this.beta}`);
  }
  forward(input: Tensor, target: Tensor): Tensor {
    return F.smoothL1Loss(input, target, { reduction: this.reduction, beta: this.beta });
  }
}

/**
 * Quadratic below `delta` (0.5 d²), linear above (delta (|d| - 0.5 delta)).
 *
 * @example
 * const loss = new st.nn.HuberLoss({ delta: 1 }).forward(st.tensor([0.5, 3]), st.tensor([0, 0]));
 * console.log(await loss.item()); // (0.125 + 2.5) / 2 = 1.3125
 */
export class HuberLoss extends Loss {
  readonly delta: number;
  constructor(opts: LossOpts & { delta?: number } = {}) {
    super(opts);
    this.delta = opts.delta ?? 1;
    if (!(this.delta > 0)) throw new ValueError(`HuberLoss: delta must be positive, got ${this.delta}`);
  }
  forward(input: Tensor, target: Tensor): Tensor {
    return F.huberLoss(input, target, { reduction: this.reduction, delta: this.delta });
  }
}

export interface CrossEntropyLossOpts extends LossOpts {
  /** A weight per class ([C], floating point); a buffer named `weight`. */
  weight?: Tensor | null;
  /** Targets equal to this class index are left out (default -100). */
  ignoreIndex?: number;
  /** Mixes the target with the uniform distribution: (1 - s) target + s / C (default 0). */
  labelSmoothing?: number;
}

/**
 * Cross entropy of logits against class indices or class probabilities: logSoftmax over the class
 * dim, then the negative log likelihood. With class weights, "mean" divides by the summed weights
 * of the (non-ignored) targets, as PyTorch.
 *
 * Shape: input [N, C], [N, C, d1, ...] or [C]; target int64 class indices [N], [N, d1, ...] or
 * [] (values in [0, C) or `ignoreIndex`), or float probabilities of the input's shape.
 *
 * @example
 * const ce = new st.nn.CrossEntropyLoss({ labelSmoothing: 0.1 });
 * const logits = st.tensor([[2, 0, 0], [0, 0, 3]]);
 * const loss = ce.forward(logits, st.tensor([0, 2], { dtype: "int64" }));
 * console.log(await loss.item()); // 0.3339...
 */
export class CrossEntropyLoss extends Loss {
  declare weight: Tensor | null;
  readonly ignoreIndex: number;
  readonly labelSmoothing: number;
  constructor(opts: CrossEntropyLossOpts = {}) {
    super(opts);
    this.registerBuffer("weight", checkWeight("CrossEntropyLoss", "weight", opts.weight));
    this.ignoreIndex = opts.ignoreIndex ?? -100;
    this.labelSmoothing = opts.labelSmoothing ?? 0;
    if (!(this.labelSmoothing >= 0 && this.labelSmoothing <= 1)) throw new ValueError(`CrossEntropyLoss: labelSmoothing must be between 0.0 and 1.0, got ${this.labelSmoothing}`);
  }
  forward(input: Tensor, target: Tensor): Tensor {
    return F.crossEntropy(input, target, { weight: this.weight, ignoreIndex: this.ignoreIndex, reduction: this.reduction, labelSmoothing: this.labelSmoothing });
  }
}

/**
 * Negative log likelihood of log-probabilities (e.g. a `LogSoftmax` output) at class indices.
 *
 * Shape: input [N, C], [N, C, d1, ...] or [C]; target int64 [N], [N, d1, ...] or [].
 *
 * @example
 * const nll = new st.nn.NLLLoss({ weight: st.tensor([1, 2]) });
 * const logp = st.tensor([[0.5, 0.5], [0.25, 0.75]]).log();
 * const loss = nll.forward(logp, st.tensor([0, 1], { dtype: "int64" }));
 * console.log(await loss.item()); // (ln 2 + 2 ln(4/3)) / 3 = 0.4228...
 */
export class NLLLoss extends Loss {
  declare weight: Tensor | null;
  readonly ignoreIndex: number;
  constructor(opts: LossOpts & { weight?: Tensor | null; ignoreIndex?: number } = {}) {
    super(opts);
    this.registerBuffer("weight", checkWeight("NLLLoss", "weight", opts.weight));
    this.ignoreIndex = opts.ignoreIndex ?? -100;
  }
  forward(input: Tensor, target: Tensor): Tensor {
    return F.nllLoss(input, target, { weight: this.weight, ignoreIndex: this.ignoreIndex, reduction: this.reduction });
  }
}

/**
 * Binary cross entropy of probabilities in [0, 1] against float targets in [0, 1]; the logs are
 * clamped at -100, as PyTorch's. For logits, `BCEWithLogitsLoss` is the stable choice.
 *
 * @example
 * const loss = new st.nn.BCELoss().forward(st.tensor([0.5, 0.75]), st.tensor([1, 1]));
 * console.log(await loss.item()); // (ln 2 + ln(4/3)) / 2 = 0.4904...
 */
export class BCELoss extends Loss {
  declare weight: Tensor | null;
  /** `weight` rescales each element's loss (it broadcasts to the input's shape). */
  constructor(opts: LossOpts & { weight?: Tensor | null } = {}) {
    super(opts);
    this.registerBuffer("weight", checkWeight("BCELoss", "weight", opts.weight, true));
  }
  forward(input: Tensor, target: Tensor): Tensor {
    return F.binaryCrossEntropy(input, target, { weight: this.weight, reduction: this.reduction });
  }
}

/**
 * Binary cross entropy of logits (a sigmoid and BCE in one, computed stably). `posWeight` [C]
 * weighs the positive term of each class (broadcast over the last dim), trading recall against
 * precision; it is a buffer named `pos_weight`, after `weight`.
 *
 * @example
 * const bce = new st.nn.BCEWithLogitsLoss({ posWeight: st.tensor([3]) });
 * const loss = bce.forward(st.tensor([[0], [0]]), st.tensor([[1], [0]]));
 * console.log(await loss.item()); // (3 ln 2 + ln 2) / 2 = 1.3862...
 */
export class BCEWithLogitsLoss extends Loss {
  declare weight: Tensor | null;
  declare posWeight: Tensor | null;
  constructor(opts: LossOpts & { weight?: Tensor | null; posWeight?: Tensor | null } = {}) {
    super(opts);
    this.registerBuffer("weight", checkWeight("BCEWithLogitsLoss", "weight", opts.weight, true));
    this.registerBuffer("posWeight", checkWeight("BCEWithLogitsLoss", "posWeight", opts.posWeight, true));
  }
  forward(input: Tensor, target: Tensor): Tensor {
    return F.binaryCrossEntropyWithLogits(input, target, { weight: this.weight, posWeight: this.posWeight, reduction: this.reduction });
  }
}

/**
 * Kullback-Leibler divergence, target · (log target - input), with `input` log-probabilities.
 * `reduction: "batchmean"` gives the divergence proper (the sum over a row, averaged over the
 * batch); "mean", PyTorch's default, divides by every element instead.
 *
 * @example
 * const kl = new st.nn.KLDivLoss({ reduction: "batchmean", logTarget: true });
 * const loss = kl.forward(st.tensor([[0.25, 0.75]]).log(), st.tensor([[0.5, 0.5]]).log());
 * console.log(await loss.item()); // 0.1438...
 */
export class KLDivLoss extends Loss<Reduction | "batchmean"> {
  readonly logTarget: boolean;
  constructor(opts: LossOpts<Reduction | "batchmean"> & { logTarget?: boolean } = {}) {
    super(opts, ["mean", "batchmean", "sum", "none"]);
    this.logTarget = opts.logTarget ?? false;
  }
  forward(input: Tensor, target: Tensor): Tensor {
    return F.klDiv(input, target, { reduction: this.reduction, logTarget: this.logTarget });
  }
}

/**
 * Connectionist temporal classification: the negative log probability of each target sequence
 * over all its alignments to the frames (see `st.nn.functional.ctcLoss` for the arguments).
 * "mean" divides each loss by its target length, then averages over the batch.
 *
 * Shape: logProbs [T, N, C] (log-softmaxed over C); targets [N, S] padded or 1-D concatenated;
 * inputLengths and targetLengths [N] (numbers or integer tensors).
 *
 * @example
 * const ctc = new st.nn.CTCLoss({ blank: 0, zeroInfinity: true });
 * const logProbs = st.zeros([4, 1, 3]).logSoftmax(2);   // uniform over 3 classes, 4 frames
 * const loss = ctc.forward(logProbs, st.tensor([[1, 2]], { dtype: "int64" }), [4], [2]);
 * console.log(await loss.item()); // -ln(15 / 81) / 2 = 0.8431...  (15 alignments of "12" in 4 frames)
 */
export class CTCLoss extends Loss {
  readonly blank: number;
  readonly zeroInfinity: boolean;
  constructor(opts: LossOpts & { blank?: number; zeroInfinity?: boolean } = {}) {
    super(opts);
    this.blank = opts.blank ?? 0;
    if (!Number.isInteger(this.blank) || this.blank < 0) throw new ValueError(`CTCLoss: blank must be a non-negative integer, got ${this.blank}`);
    this.zeroInfinity = opts.zeroInfinity ?? false;
  }
  forward(logProbs: Tensor, targets: Tensor, inputLengths: Lengths, targetLengths: Lengths): Tensor {
    return F.ctcLoss(logProbs, targets, inputLengths, targetLengths, { blank: this.blank, reduction: this.reduction, zeroInfinity: this.zeroInfinity });
  }
}

/**
 * For pairs labelled 1, 1 - cos(x1, x2); for pairs labelled -1, max(0, cos(x1, x2) - margin).
 *
 * Shape: x1, x2 [N, D] with target [N] of 1 and -1 (or [D] with a 0-d target).
 *
 * @example
 * const loss = new st.nn.CosineEmbeddingLoss({ margin: 0.5 })
 *   .forward(st.tensor([[1, 0], [1, 0]]), st.tensor([[1, 0], [1, 1]]), st.tensor([1, -1]));
 * console.log(await loss.item()); // (0 + (0.7071 - 0.5)) / 2 = 0.1035...
 */
export class CosineEmbeddingLoss extends Loss {
  readonly margin: number;
  constructor(opts: LossOpts & { margin?: number } = {}) {
    super(opts);
    this.margin = opts.margin ?? 0;
  }
  forward(input1: Tensor, input2: Tensor, target: Tensor): Tensor {
    return F.cosineEmbeddingLoss(input1, input2, target, { margin: this.margin, reduction: this.reduction });
  }
}

/**
 * max(0, d(anchor, positive) - d(anchor, negative) + margin), with d the p-norm distance (plus
 * `eps`); `swap` uses d(positive, negative) when it is the smaller.
 *
 * Shape: anchor, positive, negative [N, D] (or [D]); the output [N] with `reduction: "none"`.
 *
 * @example
 * const loss = new st.nn.TripletMarginLoss({ margin: 1, eps: 0 })
 *   .forward(st.tensor([[0, 0]]), st.tensor([[0, 1]]), st.tensor([[1, 0]]));
 * console.log(await loss.item()); // max(0, 1 - 1 + 1) = 1
 */
export class TripletMarginLoss extends Loss {
  readonly margin: number;
  readonly p: number;
  readonly eps: number;
  readonly swap: boolean;
  constructor(opts: LossOpts & { margin?: number; p?: number; eps?: number; swap?: boolean } = {}) {
    super(opts);
    this.margin = opts.margin ?? 1;
    this.p = opts.p ?? 2;
    this.eps = opts.eps ?? 1e-6;
    this.swap = opts.swap ?? false;
    if (!(this.p > 0)) throw new ValueError(`TripletMarginLoss: p must be positive, got ${this.p}`);
  }
  forward(anchor: Tensor, positive: Tensor, negative: Tensor): Tensor {
    return F.tripletMarginLoss(anchor, positive, negative, { margin: this.margin, p: this.p, eps: this.eps, swap: this.swap, reduction: this.reduction });
  }
}
