/**
 * `st.nn.functional`: the functional forms of layers, activations and losses, as in
 * `torch.nn.functional`. Everything here is composed from tensor ops.
 */
import { DTypeError, ShapeError, ValueError } from "../ir/errors.ts";
import { isFloat, isInt } from "../ir/dtype.ts";
import { fmtShape } from "../ir/shape.ts";
import { rand } from "../tensor/create.ts";
import * as C from "../tensor/conv.ts";
import * as E from "../tensor/elementwise.ts";
import { oneHot as oneHotImpl } from "../tensor/indexing.ts";
import { matmul } from "../tensor/linalg.ts";
import { padZeros, reshape, unsqueeze } from "../tensor/movement.ts";
import type { Tensor } from "../tensor/tensor.ts";

export type Reduction = "mean" | "sum" | "none";

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
 * `torch.nn.functional.pad`; mode "constant" (with `value`), "reflect" or "replicate".
 */
export function pad(x: Tensor, padding: readonly number[], mode: "constant" | "reflect" | "replicate" = "constant", value = 0): Tensor {
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
    const idx = (i: number) => (mode === "reflect" ? (i < 0 ? -i : i >= n ? 2 * (n - 1) - i : i) : Math.min(Math.max(i, 0), n - 1));
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

function checkSame(op: string, a: Tensor, b: Tensor): void {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new ShapeError(`${op}: target size ${fmtShape(b.shape)} must be the same as input size ${fmtShape(a.shape)}`);
  }
}

export function mseLoss(input: Tensor, target: Tensor, opts: { reduction?: Reduction } = {}): Tensor {
  checkSame("mseLoss", input, target);
  return reduce(input.sub(target).square(), opts.reduction ?? "mean");
}
export function l1Loss(input: Tensor, target: Tensor, opts: { reduction?: Reduction } = {}): Tensor {
  checkSame("l1Loss", input, target);
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
  checkSame("binaryCrossEntropy", input, target);
  const l = target.mul(clampedLog(input)).add(target.rsub(1).mul(clampedLog(input.rsub(1)))).neg();
  return reduce(opts.weight ? l.mul(opts.weight) : l, opts.reduction ?? "mean");
}
export function binaryCrossEntropyWithLogits(input: Tensor, target: Tensor, opts: { weight?: Tensor | null; posWeight?: Tensor | null; reduction?: Reduction } = {}): Tensor {
  checkSame("binaryCrossEntropyWithLogits", input, target);
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

function checkTarget(op: string, input: Tensor, target: Tensor): void {
  if (!isInt(target.dtype)) throw new DTypeError(`${op}: expected target of an integer dtype (class indices, int64), got ${target.dtype}; for class probabilities pass a float target of the input's shape to crossEntropy`);
  const want = [input.shape[0]!, ...input.shape.slice(2)];
  const got = target.shape;
  if (input.ndim === 1 ? got.length !== 0 : got.length !== want.length || got.some((d, i) => d !== want[i])) {
    throw new ShapeError(`${op}: expected target of shape ${fmtShape(input.ndim === 1 ? [] : want)} for input ${fmtShape(input.shape)}, got ${fmtShape(got)}`);
  }
}

/** Negative log likelihood of log-probabilities `input` [N, C, ...] at class indices `target` [N, ...]. */
export function nllLoss(input: Tensor, target: Tensor, opts: NllOpts = {}): Tensor {
  checkTarget("nllLoss", input, target);
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
  const eps = opts.labelSmoothing ?? 0;
  if (eps < 0 || eps > 1) throw new ValueError(`crossEntropy: labelSmoothing must be between 0.0 and 1.0, got ${eps}`);
  const classDim = input.ndim === 1 ? 0 : 1;
  const logp = input.logSoftmax(classDim);
  const C_ = input.shape[classDim]!;
  const red = opts.reduction ?? "mean";
  const wShape = input.shape.map((d, i) => (i === classDim ? d : 1));
  if (isFloat(target.dtype)) {
    checkSame("crossEntropy", input, target);
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

/** Rows of `weight` at integer `input` indices, like `torch.nn.functional.embedding`. */
export function embedding(input: Tensor, weight: Tensor): Tensor {
  const flat = reshape(input, [-1]);
  return reshape(weight.indexSelect(0, flat), [...input.shape, weight.shape[1]!]);
}

/** Divides by the p-norm along `dim` (at least eps). */
export function normalize(x: Tensor, opts: { p?: number; dim?: number; eps?: number } = {}): Tensor {
  const n = x.norm(opts.p ?? 2, opts.dim ?? 1, { keepdim: true });
  return x.div(n.clamp(opts.eps ?? 1e-12));
}
