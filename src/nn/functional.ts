/**
 * `st.nn.functional`: the functional forms of layers, activations and losses, as in
 * `torch.nn.functional`. Everything here is composed from tensor ops.
 */
import { withGradMode } from "../autograd/grad-mode.ts";
import { realize as realizeNodes } from "../engine/realize.ts";
import { DTypeError, ShapeError, ValueError } from "../ir/errors.ts";
import { isFloat, isInt } from "../ir/dtype.ts";
import { broadcastShapes, fmtShape, shapesEqual } from "../ir/shape.ts";
import { arange, rand } from "../tensor/create.ts";
import * as C from "../tensor/conv.ts";
import * as E from "../tensor/elementwise.ts";
import { oneHot as oneHotImpl } from "../tensor/indexing.ts";
import { matmul } from "../tensor/linalg.ts";
import { padZeros, reshape, unsqueeze } from "../tensor/movement.ts";
import { checkFloatPair, checkReduction } from "./loss/functional.ts";
import type { Tensor } from "../tensor/tensor.ts";

export type Reduction = "mean" | "sum" | "none";

// The losses beyond the basic ones below live in ./loss/functional.ts (with the loss modules).
export { ctcLoss, cosineEmbeddingLoss, huberLoss, klDiv, smoothL1Loss, tripletMarginLoss } from "./loss/functional.ts";
export type { CosineEmbeddingOpts, CtcOpts, HuberOpts, KlDivOpts, Lengths, SmoothL1Opts, TripletMarginOpts } from "./loss/functional.ts";

/** y = x Wᵀ + b, with W [out, in] as in PyTorch. */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  const y = matmul(x, weight.mT);
  return bias ? y.add(bias) : y;
}

export const relu = (x: Tensor): Tensor => x.relu();
export const gelu = (x: Tensor, opts?: { approximate?: "none" | "tanh" }): Tensor => x.gelu(opts);
export const silu = (x: Tensor): Tensor => x.silu();
export const sigmoid = (x: Tensor): Tensor => x.sigmoid();
export const tanh = (x: Tensor): Tensor => x.tanh();
export const softplus = (x: Tensor, opts?: { beta?: number; threshold?: number }): Tensor => x.softplus(opts);
export const softmax = (x: Tensor, dim: number): Tensor => x.softmax(dim);
export const logSoftmax = (x: Tensor, dim: number): Tensor => x.logSoftmax(dim);
export const leakyRelu = (x: Tensor, negativeSlope = 0.01): Tensor => E.where(x.gt(0), x, x.mul(negativeSlope));
export const elu = (x: Tensor, alpha = 1): Tensor => E.where(x.gt(0), x, x.exp().sub(1).mul(alpha));
/** clamp(x, minVal, maxVal), but with a zero gradient at the bounds themselves, as PyTorch's hardtanh. */
export const hardtanh = (x: Tensor, minVal = -1, maxVal = 1): Tensor => E.where(x.le(minVal), minVal, E.where(x.ge(maxVal), maxVal, x));
export const logSigmoid = (x: Tensor): Tensor => x.neg().softplus().neg();

/**
 * Zeroes elements with probability `p` and scales the rest by 1/(1-p) when `training`.
 *
 * @example
 * const h = st.nn.functional.dropout(x, 0.1, true);
 */
export function dropout(x: Tensor, p = 0.5, training = true): Tensor {
  if (p < 0 || p > 1) throw new ValueError(`dropout: probability has to be between 0 and 1, but got ${p}`);
  if (!training || p === 0) return x;
  if (p === 1) return x.mul(0);
  const keep = rand(x.shape, { dtype: isFloat(x.dtype) ? x.dtype : "float32", device: x.device }).lt(1 - p);
  return E.where(keep, x.div(1 - p), 0);
}

/** Normalizes over the trailing `normalizedShape` dims, then scales and shifts. */
export function layerNorm(x: Tensor, normalizedShape: readonly number[], weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5): Tensor {
  const k = normalizedShape.length;
  const tail = x.shape.slice(x.ndim - k);
  if (k > x.ndim || tail.some((d, i) => d !== normalizedShape[i])) {
    throw new ShapeError(`layerNorm: given normalizedShape=${fmtShape(normalizedShape)}, expected input with shape [*, ${normalizedShape.join(", ")}], but got input of size ${fmtShape(x.shape)}`);
  }
  const dims = [...Array(k).keys()].map((i) => x.ndim - k + i);
  const mu = x.mean(dims, { keepdim: true });
  const v = x.var(dims, { keepdim: true, correction: 0 });
  let y = x.sub(mu).mul(v.add(eps).rsqrt());
  if (weight) y = y.mul(weight);
  if (bias) y = y.add(bias);
  return y;
}

export interface ScaledDotProductAttentionOpts {
  /** Bool (true: may attend) or float (added to the scores), broadcastable to [..., L, S]. */
  attnMask?: Tensor | null;
  /** Dropout on the attention weights, applied whenever > 0 (as PyTorch). */
  dropoutP?: number;
  /** Each query i attends to keys 0..i only (top-left aligned); excludes `attnMask`. */
  isCausal?: boolean;
  /** Multiplies q·kᵀ; default 1/√E. */
  scale?: number | null;
}

/**
 * softmax(q kᵀ · scale + mask) v, as `torch.nn.functional.scaled_dot_product_attention`. A query
 * row whose keys are all masked gets zero weights (and a zero output), not NaN.
 *
 * Shape: query [..., L, E], key [..., S, E], value [..., S, Ev] (leading dims broadcast); out [..., L, Ev].
 *
 * @example
 * const out = st.nn.functional.scaledDotProductAttention(q, k, v, { isCausal: true }); // q,k,v: [B, H, T, D]
 */
export function scaledDotProductAttention(query: Tensor, key: Tensor, value: Tensor, opts: ScaledDotProductAttentionOpts = {}): Tensor {
  if (query.ndim < 2 || key.ndim < 2 || value.ndim < 2 || query.shape[query.ndim - 1] !== key.shape[key.ndim - 1] || key.shape[key.ndim - 2] !== value.shape[value.ndim - 2]) {
    throw new ShapeError(`scaledDotProductAttention: expected query [..., L, E], key [..., S, E] and value [..., S, Ev], got ${fmtShape(query.shape)}, ${fmtShape(key.shape)} and ${fmtShape(value.shape)}`);
  }
  const L = query.shape[query.ndim - 2]!, S = key.shape[key.ndim - 2]!;
  const { attnMask, dropoutP = 0, isCausal = false } = opts;
  if (isCausal && attnMask) throw new ValueError("scaledDotProductAttention: explicit attnMask should not be set when isCausal is true");
  if (!(dropoutP >= 0 && dropoutP <= 1)) throw new ValueError(`scaledDotProductAttention: dropoutP must be in [0, 1], got ${dropoutP}`);
  const scale = opts.scale ?? 1 / Math.sqrt(query.shape[query.ndim - 1]!);
  let scores = matmul(query, key.mT).mul(scale); // [..., L, S]
  let masked = false;
  if (isCausal) {
    const i = arange(L, undefined, 1, { dtype: "int64", device: query.device }), j = arange(S, undefined, 1, { dtype: "int64", device: query.device });
    scores = E.where(unsqueeze(i, 1).ge(unsqueeze(j, 0)), scores, -Infinity);
    masked = true;
  } else if (attnMask) {
    scores = attnMask.dtype === "bool" ? E.where(attnMask, scores, -Infinity) : scores.add(attnMask.to(scores.dtype));
    masked = true;
  }
  let p: Tensor;
  if (masked) {
    // rows with every key masked: zero weights, and no NaN in the forward or backward pass
    const dead = scores.amax(-1, { keepdim: true }).eq(-Infinity);
    p = E.where(dead, 0, E.where(dead, 0, scores).softmax(-1));
  } else p = scores.softmax(-1);
  if (dropoutP > 0) p = dropout(p, dropoutP, true);
  return matmul(p, value);
}

export const conv1d = (x: Tensor, w: Tensor, bias?: Tensor | null, opts?: C.ConvOpts): Tensor => C.convNd("conv1d", 1, x, w, bias, opts);
export const conv2d = (x: Tensor, w: Tensor, bias?: Tensor | null, opts?: C.ConvOpts): Tensor => C.convNd("conv2d", 2, x, w, bias, opts);
export const conv3d = (x: Tensor, w: Tensor, bias?: Tensor | null, opts?: C.ConvOpts): Tensor => C.convNd("conv3d", 3, x, w, bias, opts);
export const convTranspose1d = (x: Tensor, w: Tensor, bias?: Tensor | null, opts?: C.ConvTransposeOpts): Tensor => C.convTransposeNd("convTranspose1d", 1, x, w, bias, opts);
export const convTranspose2d = (x: Tensor, w: Tensor, bias?: Tensor | null, opts?: C.ConvTransposeOpts): Tensor => C.convTransposeNd("convTranspose2d", 2, x, w, bias, opts);
export const maxPool1d = (x: Tensor, kernelSize: number | number[], opts?: C.PoolOpts): Tensor => C.maxPoolNd("maxPool1d", 1, x, kernelSize, opts);
export const maxPool2d = (x: Tensor, kernelSize: number | number[], opts?: C.PoolOpts): Tensor => C.maxPoolNd("maxPool2d", 2, x, kernelSize, opts);
export const avgPool1d = (x: Tensor, kernelSize: number | number[], opts?: C.AvgPoolOpts): Tensor => C.avgPoolNd("avgPool1d", 1, x, kernelSize, opts);
export const avgPool2d = (x: Tensor, kernelSize: number | number[], opts?: C.AvgPoolOpts): Tensor => C.avgPoolNd("avgPool2d", 2, x, kernelSize, opts);
export const adaptiveAvgPool2d = (x: Tensor, outputSize: number | number[]): Tensor => C.adaptiveAvgPoolNd("adaptiveAvgPool2d", 2, x, outputSize);

export const oneHot = oneHotImpl;

/**
 * Pads the last dims: `pad` lists (before, after) pairs starting from the last dim, as in
 * `torch.nn.functional.pad`; mode "constant" (with `value`), "reflect", "replicate" or "circular".
 */
export function pad(x: Tensor, padding: readonly number[], mode: "constant" | "reflect" | "replicate" | "circular" = "constant", value = 0): Tensor {
  if (padding.length % 2 || padding.length / 2 > x.ndim) throw new ValueError(`pad: padding length must be even and at most 2*ndim (${2 * x.ndim}), got ${padding.length}`);
  const pads = x.shape.map((): [number, number] => [0, 0]);
  for (let i = 0; i < padding.length / 2; i++) pads[x.ndim - 1 - i] = [padding[2 * i]!, padding[2 * i + 1]!];
  if (mode === "constant") {
    const z = padZeros(x, pads);
    if (value === 0) return z;
    const one = E.cast(E.eq(x, x).logicalOr(true), "bool");
    return E.where(padZeros(one, pads), z, value);
  }
  let y = x;
  pads.forEach(([a, b], d) => {
    if (!a && !b) return;
    const n = y.shape[d]!;
    if (mode === "reflect" && (a >= n || b >= n)) throw new ValueError(`pad: padding (${a}, ${b}) should be less than the input size ${n} at dim ${d} for reflect mode`);
    if (mode === "circular" && (a > n || b > n)) throw new ValueError(`pad: padding (${a}, ${b}) should be at most the input size ${n} at dim ${d} for circular mode`);
    const idx = (i: number) => (mode === "reflect" ? (i < 0 ? -i : i >= n ? 2 * (n - 1) - i : i) : mode === "circular" ? ((i % n) + n) % n : Math.min(Math.max(i, 0), n - 1));
    const positions = Array.from({ length: n + a + b }, (_, i) => idx(i - a));
    y = y.indexSelect(d, y.newTensor(positions).to("int64"));
  });
  return y;
}

function reduce(loss: Tensor, reduction: Reduction): Tensor {
  if (reduction === "mean") return loss.mean();
  if (reduction === "sum") return loss.sum();
  if (reduction === "none") return loss;
  throw new ValueError(`reduction must be 'mean', 'sum' or 'none', got '${reduction}'`);
}

/** Checks the reduction, then an input and a float target of the same shape (see checkFloatPair). */
function checkPair(op: string, input: Tensor, target: Tensor, reduction: Reduction | undefined): void {
  checkReduction(op, reduction ?? "mean");
  checkFloatPair(op, input, target);
}

export function mseLoss(input: Tensor, target: Tensor, opts: { reduction?: Reduction } = {}): Tensor {
  checkPair("mseLoss", input, target, opts.reduction);
  return reduce(input.sub(target).square(), opts.reduction ?? "mean");
}
export function l1Loss(input: Tensor, target: Tensor, opts: { reduction?: Reduction } = {}): Tensor {
  checkPair("l1Loss", input, target, opts.reduction);
  return reduce(input.sub(target).abs(), opts.reduction ?? "mean");
}
/**
 * log(x) clamped below at -100, as PyTorch's binary cross entropy does so that probabilities of
 * exactly 0 or 1 stay finite. The log sees 1 where the clamp applies: log(0) there would turn the
 * zero gradient of the clamped branch into 0 / 0 = NaN.
 */
function clampedLog(x: Tensor): Tensor {
  const tiny = x.le(Math.exp(-100));
  return E.where(tiny, -100, E.where(tiny, 1, x).log());
}

export function binaryCrossEntropy(input: Tensor, target: Tensor, opts: { weight?: Tensor | null; reduction?: Reduction } = {}): Tensor {
  checkPair("binaryCrossEntropy", input, target, opts.reduction);
  const l = target.mul(clampedLog(input)).add(target.rsub(1).mul(clampedLog(input.rsub(1)))).neg();
  return reduce(opts.weight ? l.mul(opts.weight) : l, opts.reduction ?? "mean");
}
export function binaryCrossEntropyWithLogits(input: Tensor, target: Tensor, opts: { weight?: Tensor | null; posWeight?: Tensor | null; reduction?: Reduction } = {}): Tensor {
  checkPair("binaryCrossEntropyWithLogits", input, target, opts.reduction);
  if (opts.posWeight) broadcastShapes("binaryCrossEntropyWithLogits: posWeight", opts.posWeight.shape, input.shape);
  const logSigNeg = logSigmoid(input.neg()); // log(1 - sigmoid(x))
  const logSig = logSigmoid(input);
  const pos = opts.posWeight ? target.mul(opts.posWeight) : target;
  const l = pos.mul(logSig).add(target.rsub(1).mul(logSigNeg)).neg();
  return reduce(opts.weight ? l.mul(opts.weight) : l, opts.reduction ?? "mean");
}

export interface NllOpts {
  weight?: Tensor | null;
  ignoreIndex?: number;
  reduction?: Reduction;
}

function checkTarget(op: string, input: Tensor, target: Tensor, weight: Tensor | null | undefined): void {
  if (!isFloat(input.dtype)) throw new DTypeError(`${op}: expected floating point input, got ${input.dtype}`);
  if (input.ndim === 0) throw new ShapeError(`${op}: expected input [N, C, ...] or [C], got a 0-D input`);
  checkWeight(op, input, weight);
  if (!isInt(target.dtype)) throw new DTypeError(`${op}: expected target of an integer dtype (class indices, int64), got ${target.dtype}; for class probabilities pass a float target of the input's shape to crossEntropy`);
  const want = [input.shape[0]!, ...input.shape.slice(2)];
  const got = target.shape;
  if (input.ndim === 1 ? got.length !== 0 : got.length !== want.length || got.some((d, i) => d !== want[i])) {
    throw new ShapeError(`${op}: expected target of shape ${fmtShape(input.ndim === 1 ? [] : want)} for input ${fmtShape(input.shape)}, got ${fmtShape(got)}`);
  }
}

/** Class weights must be [C] for input [N, C, ...] or [C]. */
function checkWeight(op: string, input: Tensor, weight: Tensor | null | undefined): void {
  const c = input.shape[input.ndim === 1 ? 0 : 1]!;
  if (weight && (weight.ndim !== 1 || weight.shape[0] !== c)) {
    throw new ShapeError(`${op}: weight should have one entry per class (${c}) for input ${fmtShape(input.shape)}, got weight of shape ${fmtShape(weight.shape)}`);
  }
}

/** Negative log likelihood of log-probabilities `input` [N, C, ...] at class indices `target` [N, ...]. */
export function nllLoss(input: Tensor, target: Tensor, opts: NllOpts = {}): Tensor {
  checkReduction("nllLoss", opts.reduction ?? "mean");
  checkTarget("nllLoss", input, target, opts.weight);
  const x = input.ndim === 1 ? unsqueeze(input, 0) : input, t = input.ndim === 1 ? unsqueeze(target, 0) : target;
  const ignore = opts.ignoreIndex ?? -100;
  const valid = t.ne(ignore);
  const safe = E.where(valid, t, 0).to("int64");
  // Targets outside [0, C) make the gather below raise an IndexError when the loss is computed.
  const picked = x.gather(1, unsqueeze(safe, 1)).squeeze(1);
  const w = opts.weight ? opts.weight.gather(0, reshape(safe, [-1])).reshape(safe.shape) : null;
  const wv = E.where(valid, w ?? 1, 0).to(x.dtype);
  const loss = picked.neg().mul(wv);
  const red = opts.reduction ?? "mean";
  if (red === "none") return input.ndim === 1 ? loss.squeeze(0) : loss;
  if (red === "sum") return loss.sum();
  return loss.sum().div(wv.sum());
}

export interface CrossEntropyOpts extends NllOpts {
  labelSmoothing?: number;
}

/**
 * Cross entropy of logits `input` [N, C, ...] against class indices (int64 [N, ...]) or class
 * probabilities (float, same shape as input), with class weights, ignoreIndex and label
 * smoothing, as `torch.nn.functional.cross_entropy`.
 *
 * @example
 * const loss = st.nn.functional.crossEntropy(logits, labels); // labels: int64 [B]
 */
export function crossEntropy(input: Tensor, target: Tensor, opts: CrossEntropyOpts = {}): Tensor {
  if (!isFloat(input.dtype)) throw new DTypeError(`crossEntropy: expected floating point logits, got ${input.dtype}`);
  checkReduction("crossEntropy", opts.reduction ?? "mean");
  if (input.ndim === 0) throw new ShapeError("crossEntropy: expected logits [N, C, ...] or [C], got a 0-D input");
  checkWeight("crossEntropy", input, opts.weight);
  const eps = opts.labelSmoothing ?? 0;
  if (eps < 0 || eps > 1) throw new ValueError(`crossEntropy: labelSmoothing must be between 0.0 and 1.0, got ${eps}`);
  const classDim = input.ndim === 1 ? 0 : 1;
  const logp = input.logSoftmax(classDim);
  const C_ = input.shape[classDim]!;
  const red = opts.reduction ?? "mean";
  const wShape = input.shape.map((d, i) => (i === classDim ? d : 1));
  if (isFloat(target.dtype)) {
    if (!shapesEqual(input.shape, target.shape)) {
      throw new ShapeError(`crossEntropy: a float target holds class probabilities and must have the input's shape ${fmtShape(input.shape)}, got ${fmtShape(target.shape)}; class indices must be an integer (int64) tensor`);
    }
    let t = target;
    if (eps > 0) t = t.mul(1 - eps).add(eps / C_);
    let l = logp.mul(t);
    if (opts.weight) l = l.mul(reshape(opts.weight, wShape));
    const per = l.sum(classDim).neg();
    if (red === "mean") return per.sum().div(input.ndim === 1 ? 1 : per.numel());
    return reduce(per, red);
  }
  const nll = nllLoss(logp, target, { weight: opts.weight, ignoreIndex: opts.ignoreIndex, reduction: red });
  if (eps === 0) return nll;
  const ignore = opts.ignoreIndex ?? -100;
  const valid = target.ne(ignore);
  let smooth = opts.weight ? logp.mul(reshape(opts.weight, wShape)) : logp;
  smooth = E.where(valid, smooth.sum(classDim).neg(), 0);
  let smoothRed: Tensor;
  if (red === "none") smoothRed = smooth;
  else if (red === "sum") smoothRed = smooth.sum();
  else if (opts.weight) {
    const safe = E.where(valid, target, 0).to("int64");
    const w = opts.weight.gather(0, reshape(safe, [-1])).reshape(safe.shape);
    smoothRed = smooth.sum().div(E.where(valid, w, 0).sum());
  } else smoothRed = smooth.sum().div(valid.sum());
  return nll.mul(1 - eps).add(smoothRed.mul(eps / C_));
}

/**
 * Rows of `weight` at integer `input` indices, like `torch.nn.functional.embedding`. The row at
 * `paddingIdx` (negative counts from the end) gets no gradient.
 */
export function embedding(input: Tensor, weight: Tensor, paddingIdx?: number | null): Tensor {
  const flat = reshape(input, [-1]);
  let w = weight;
  if (paddingIdx !== undefined && paddingIdx !== null) {
    const n = weight.shape[0]!;
    if (!Number.isInteger(paddingIdx) || paddingIdx >= n || paddingIdx < -n) throw new ValueError(`embedding: padding_idx must be within num_embeddings (${n}), got ${paddingIdx}`);
    const row = reshape(arange(n, undefined, 1, { device: weight.device }).eq(paddingIdx < 0 ? paddingIdx + n : paddingIdx), [n, 1]);
    w = E.where(row, weight.detach(), weight);
  }
  return reshape(w.indexSelect(0, flat), [...input.shape, weight.shape[1]!]);
}

/** Divides by the p-norm along `dim` (at least eps). */
export function normalize(x: Tensor, opts: { p?: number; dim?: number; eps?: number } = {}): Tensor {
  const n = x.norm(opts.p ?? 2, opts.dim ?? 1, { keepdim: true });
  return x.div(n.clamp(opts.eps ?? 1e-12));
}

/**
 * y = x1ᵀ A x2 + b per output feature: x1 [*, in1], x2 [*, in2], weight [out, in1, in2], bias [out].
 *
 * @example
 * const y = st.nn.functional.bilinear(x1, x2, w, b); // [*, out]
 */
export function bilinear(x1: Tensor, x2: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  if (weight.ndim !== 3 || x1.ndim < 1 || x2.ndim !== x1.ndim || x1.shape[x1.ndim - 1] !== weight.shape[1] || x2.shape[x2.ndim - 1] !== weight.shape[2] ||
    x1.shape.slice(0, -1).some((d, i) => d !== x2.shape[i])) {
    throw new ShapeError(`bilinear: expected input1 [*, in1], input2 [*, in2] with equal leading dims and weight [out, in1, in2], got input1 ${fmtShape(x1.shape)}, input2 ${fmtShape(x2.shape)}, weight ${fmtShape(weight.shape)}`);
  }
  const [out, in1, in2] = weight.shape as [number, number, number];
  const lead = x1.shape.slice(0, -1);
  const a = reshape(x1, [-1, in1]), b = reshape(x2, [-1, in2]);
  // (x1 · W[o]) for every o at once: [N, in1] @ [in1, out*in2] -> [N, out, in2], then dot with x2.
  const t = reshape(matmul(a, reshape(weight.permute([1, 0, 2]), [in1, out * in2])), [-1, out, in2]);
  let y = t.mul(unsqueeze(b, 1)).sum(-1);
  if (bias) y = y.add(bias);
  return reshape(y, [...lead, out]);
}

/**
 * Batch normalization of x [N, C, *]: in training, by the batch's statistics per channel (and,
 * when running statistics are given, updates them in place: running = (1 - momentum) · running +
 * momentum · batch, with the unbiased batch variance); otherwise by the running statistics.
 * `momentum` may be a 0-d tensor (the layer's cumulative average passes 1 / batches seen).
 *
 * @example
 * const y = st.nn.functional.batchNorm(x, runningMean, runningVar, weight, bias, true, 0.1);
 */
export function batchNorm(x: Tensor, runningMean: Tensor | null, runningVar: Tensor | null, weight?: Tensor | null, bias?: Tensor | null,
  training = false, momentum: number | Tensor = 0.1, eps = 1e-5): Tensor {
  if (x.ndim < 2) throw new ShapeError(`batchNorm: expected an input of at least 2 dims [N, C, *], got ${fmtShape(x.shape)}`);
  const c = x.shape[1]!;
  for (const [name, t] of [["running_mean", runningMean], ["running_var", runningVar], ["weight", weight], ["bias", bias]] as const) {
    if (t && (t.ndim !== 1 || t.shape[0] !== c)) throw new ShapeError(`batchNorm: ${name} should have shape [${c}] for input ${fmtShape(x.shape)}, got ${fmtShape(t.shape)}`);
  }
  const dims = [0, ...Array.from({ length: x.ndim - 2 }, (_, i) => i + 2)];
  const bshape = x.shape.map((d, i) => (i === 1 ? d : 1));
  let mu: Tensor, v: Tensor;
  if (training) {
    const n = x.numel() / c;
    if (n <= 1) throw new ValueError(`batchNorm: expected more than 1 value per channel when training, got input size ${fmtShape(x.shape)}`);
    mu = x.mean(dims, { keepdim: true });
    v = x.var(dims, { keepdim: true, correction: 0 });
    if (runningMean || runningVar) {
      realizeNodes([mu.node, v.node]);
      withGradMode(false, () => {
        const m = typeof momentum === "number" ? momentum : momentum.to(x.dtype);
        const keep = typeof m === "number" ? 1 - m : m.rsub(1);
        const upd: Tensor[] = [];
        if (runningMean) upd.push(runningMean.copy_(runningMean.mul(keep).add(reshape(mu.detach(), [c]).mul(m))));
        if (runningVar) upd.push(runningVar.copy_(runningVar.mul(keep).add(reshape(v.detach(), [c]).mul(n / (n - 1)).mul(m))));
        realizeNodes(upd.map((t) => t.node));
      });
    }
  } else {
    if (!runningMean || !runningVar) throw new ValueError("batchNorm: running_mean and running_var must be given when training is false");
    mu = reshape(runningMean, bshape);
    v = reshape(runningVar, bshape);
  }
  let y = x.sub(mu).mul(v.add(eps).rsqrt());
  if (weight) y = y.mul(reshape(weight, bshape));
  if (bias) y = y.add(reshape(bias, bshape));
  return y;
}

/**
 * Group normalization of x [N, C, *]: the channels split into `numGroups` groups, each group of
 * each sample normalized over its channels and positions, then a per-channel weight and bias.
 *
 * @example
 * const y = st.nn.functional.groupNorm(x, 2, weight, bias); // x: [N, 6, H, W]
 */
export function groupNorm(x: Tensor, numGroups: number, weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5): Tensor {
  if (x.ndim < 2 || x.shape[1]! % numGroups) throw new ShapeError(`groupNorm: expected input [N, C, *] with C divisible by num_groups=${numGroups}, got ${fmtShape(x.shape)}`);
  const g = reshape(x, [x.shape[0]!, numGroups, -1]);
  const mu = g.mean(2, { keepdim: true });
  const v = g.var(2, { keepdim: true, correction: 0 });
  let y = reshape(g.sub(mu).mul(v.add(eps).rsqrt()), x.shape);
  const cshape = x.shape.map((d, i) => (i === 1 ? d : 1));
  if (weight) y = y.mul(reshape(weight, cshape));
  if (bias) y = y.add(reshape(bias, cshape));
  return y;
}

/**
 * RMS normalization over the trailing `normalizedShape` dims: x / √(mean(x²) + eps) · weight.
 * `eps` defaults to the machine epsilon of x's dtype, as in PyTorch.
 */
export function rmsNorm(x: Tensor, normalizedShape: readonly number[], weight?: Tensor | null, eps?: number | null): Tensor {
  const k = normalizedShape.length;
  if (k > x.ndim || x.shape.slice(x.ndim - k).some((d, i) => d !== normalizedShape[i])) {
    throw new ShapeError(`rmsNorm: given normalizedShape=${fmtShape(normalizedShape)}, expected input with shape [*, ${normalizedShape.join(", ")}], but got input of size ${fmtShape(x.shape)}`);
  }
  const e = eps ?? ({ float64: 2.220446049250313e-16, float16: 0.0009765625, bfloat16: 0.0078125 } as Record<string, number>)[x.dtype] ?? 1.1920928955078125e-7;
  const dims = [...Array(k).keys()].map((i) => x.ndim - k + i);
  const y = x.mul(x.square().mean(dims, { keepdim: true }).add(e).rsqrt());
  return weight ? y.mul(weight) : y;
}
