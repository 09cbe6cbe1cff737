/**
 * The losses of `st.nn.functional` beyond the basic ones (those live in `../functional.ts`, which
 * re-exports these): `smoothL1Loss`, `huberLoss`, `klDiv`, `ctcLoss`, `cosineEmbeddingLoss`,
 * `tripletMarginLoss`. Each is composed from tensor ops, so autograd gives its gradient, and each
 * checks its arguments at the call with PyTorch's semantics for reductions and options.
 */
import { type DType, isFloat, isInt } from "../../ir/dtype.ts";
import { DTypeError, ShapeError, ValueError } from "../../ir/errors.ts";
import { broadcastShapes, fmtShape, shapesEqual } from "../../ir/shape.ts";
import { full, tensor } from "../../tensor/create.ts";
import * as E from "../../tensor/elementwise.ts";
import { cat, expand, narrow, padZeros, reshape, stack, unsqueeze } from "../../tensor/movement.ts";
import { Tensor } from "../../tensor/tensor.ts";
import type { Reduction } from "../functional.ts";

const REDUCTIONS: readonly string[] = ["mean", "sum", "none"];

/** Raises unless `reduction` is one of `allowed` (PyTorch's three by default). */
export function checkReduction(op: string, reduction: string, allowed: readonly string[] = REDUCTIONS): void {
  if (!allowed.includes(reduction)) {
    throw new ValueError(`${op}: reduction must be ${allowed.map((r) => `'${r}'`).join(", ").replace(/, ([^,]*)$/, " or $1")}, got '${reduction}'`);
  }
}

function applyReduction(loss: Tensor, reduction: Reduction): Tensor {
  return reduction === "mean" ? loss.mean() : reduction === "sum" ? loss.sum() : loss;
}

/**
 * The checks of an elementwise loss between a prediction and a target of the same shape: both
 * floating point (integer labels are a mistake here, not something to cast silently), same shape.
 */
export function checkFloatPair(op: string, input: Tensor, target: Tensor): void {
  if (!isFloat(input.dtype)) throw new DTypeError(`${op}: expected a floating point input, got ${input.dtype}`);
  if (!isFloat(target.dtype)) {
    throw new DTypeError(`${op}: expected a floating point target, got ${target.dtype} (convert integer labels with .to("${input.dtype}") first)`);
  }
  if (!shapesEqual(input.shape, target.shape)) {
    throw new ShapeError(`${op}: target size ${fmtShape(target.shape)} must be the same as input size ${fmtShape(input.shape)}`);
  }
}

export interface SmoothL1Opts {
  reduction?: Reduction;
  /** Where the loss changes from quadratic to linear (default 1); 0 gives the L1 loss. */
  beta?: number;
}

/**
 * 0.5 d² / beta where |d| < beta, else |d| - 0.5 beta, with d = input - target, as
 * `torch.nn.functional.smooth_l1_loss`.
 *
 * @example
 * const loss = st.nn.functional.smoothL1Loss(st.tensor([0.5, 3]), st.tensor([0, 0]), { beta: 1 });
 * console.log(await loss.item()); // (0.125 + 2.5) / 2 = 1.3125
 */
export function smoothL1Loss(input: Tensor, target: Tensor, opts: SmoothL1Opts = {}): Tensor {
  const reduction = opts.reduction ?? "mean", beta = opts.beta ?? 1;
  checkReduction("smoothL1Loss", reduction);
  checkFloatPair("smoothL1Loss", input, target);
  if (!(beta >= 0)) throw new ValueError(`smoothL1Loss: beta must be non-negative, got ${beta}`);
  const d = input.sub(target);
  const z = d.abs();
  const l = beta === 0 ? z : E.where(z.lt(beta), d.square().mul(0.5).div(beta), z.sub(0.5 * beta));
  return applyReduction(l, reduction);
}

export interface HuberOpts {
  reduction?: Reduction;
  /** Where the loss changes from quadratic to linear (default 1); must be positive. */
  delta?: number;
}

/**
 * 0.5 d² where |d| < delta, else delta (|d| - 0.5 delta), with d = input - target, as
 * `torch.nn.functional.huber_loss` (smoothL1Loss times beta, for beta = delta).
 *
 * @example
 * const loss = st.nn.functional.huberLoss(st.tensor([0.5, 3]), st.tensor([0, 0]), { delta: 2 });
 * console.log(await loss.item()); // (0.125 + 4) / 2 = 2.0625
 */
export function huberLoss(input: Tensor, target: Tensor, opts: HuberOpts = {}): Tensor {
  const reduction = opts.reduction ?? "mean", delta = opts.delta ?? 1;
  checkReduction("huberLoss", reduction);
  checkFloatPair("huberLoss", input, target);
  if (!(delta > 0)) throw new ValueError(`huberLoss: delta must be positive, got ${delta}`);
  const d = input.sub(target);
  const z = d.abs();
  return applyReduction(E.where(z.lt(delta), d.square().mul(0.5), z.sub(0.5 * delta).mul(delta)), reduction);
}

/** x log y, and 0 where x is 0 (even where y is 0), as `torch.xlogy`; the gradient there is 0. */
function xlogy(x: Tensor, y: Tensor): Tensor {
  const zero = x.eq(0);
  return E.where(zero, 0, x.mul(E.where(zero, 1, y).log()));
}

export interface KlDivOpts {
  /**
   * "mean" (the default, PyTorch's: divides by the number of elements), "batchmean" (divides the
   * sum by the batch size, the KL divergence proper), "sum" or "none".
   */
  reduction?: Reduction | "batchmean";
  /** The target holds log-probabilities rather than probabilities (default false). */
  logTarget?: boolean;
}

/**
 * Kullback-Leibler divergence of the target distribution from the input's, pointwise
 * target · (log target - input) with `input` log-probabilities, as `torch.nn.functional.kl_div`.
 * Target entries of 0 contribute 0.
 *
 * @example
 * const logq = st.tensor([[0.25, 0.75]]).log();
 * const p = st.tensor([[0.5, 0.5]]);
 * const loss = st.nn.functional.klDiv(logq, p, { reduction: "batchmean" });
 * console.log(await loss.item()); // 0.5 ln 2 + 0.5 ln(2/3) = 0.1438...
 */
export function klDiv(input: Tensor, target: Tensor, opts: KlDivOpts = {}): Tensor {
  const reduction = opts.reduction ?? "mean";
  checkReduction("klDiv", reduction, ["mean", "batchmean", "sum", "none"]);
  checkFloatPair("klDiv", input, target);
  const l = opts.logTarget ? target.exp().mul(target.sub(input)) : xlogy(target, target).sub(target.mul(input));
  if (reduction === "batchmean") return input.ndim ? l.sum().div(input.shape[0]!) : l.sum();
  return applyReduction(l, reduction);
}

export interface CosineEmbeddingOpts {
  reduction?: Reduction;
  /** Dissimilar pairs (target -1) cost max(0, cos - margin); default 0. */
  margin?: number;
}

/**
 * 1 - cos(x1, x2) for pairs labelled 1, max(0, cos(x1, x2) - margin) for pairs labelled -1 (and 0
 * for other labels), as `torch.nn.functional.cosine_embedding_loss`. Inputs [N, D] with target
 * [N], or [D] with a 0-d target.
 *
 * @example
 * const x1 = st.tensor([[1, 0], [1, 0]]), x2 = st.tensor([[1, 1], [0, 1]]);
 * const loss = st.nn.functional.cosineEmbeddingLoss(x1, x2, st.tensor([1, -1]), { reduction: "none" });
 * console.log(await loss.data()); // [1 - 0.7071..., 0]
 */
export function cosineEmbeddingLoss(input1: Tensor, input2: Tensor, target: Tensor, opts: CosineEmbeddingOpts = {}): Tensor {
  const op = "cosineEmbeddingLoss", reduction = opts.reduction ?? "mean", margin = opts.margin ?? 0;
  checkReduction(op, reduction);
  if (!isFloat(input1.dtype) || !isFloat(input2.dtype)) throw new DTypeError(`${op}: expected floating point inputs, got ${input1.dtype} and ${input2.dtype}`);
  if (target.dtype === "bool") throw new DTypeError(`${op}: expected a target of 1 and -1 (integer or float), got bool`);
  if (target.ndim > 1) throw new ShapeError(`${op}: expected a 0-D or 1-D target, got ${fmtShape(target.shape)} (multi-target not supported)`);
  const want = target.ndim === 1 ? 2 : 1;
  if (input1.ndim !== want || input2.ndim !== want) {
    throw new ShapeError(`${op}: a ${target.ndim}-D target expects ${want}-D inputs, got ${fmtShape(input1.shape)} and ${fmtShape(input2.shape)}`);
  }
  if (!shapesEqual(input1.shape, input2.shape)) throw new ShapeError(`${op}: input1 ${fmtShape(input1.shape)} and input2 ${fmtShape(input2.shape)} must have the same shape`);
  if (target.ndim === 1 && target.shape[0] !== input1.shape[0]) {
    throw new ShapeError(`${op}: expected a target of shape [${input1.shape[0]}] for inputs ${fmtShape(input1.shape)}, got ${fmtShape(target.shape)}`);
  }
  const dim = want - 1;
  // PyTorch's EPSILON keeps zero vectors from dividing by zero.
  const eps = 1e-12;
  const dot = input1.mul(input2).sum(dim);
  const denom = input1.square().sum(dim).add(eps).mul(input2.square().sum(dim).add(eps)).sqrt();
  const cos = dot.div(denom);
  const l = E.where(target.eq(1), cos.rsub(1), 0).add(E.where(target.eq(-1), cos.sub(margin).clamp(0), 0));
  return applyReduction(l, reduction);
}

export interface TripletMarginOpts {
  reduction?: Reduction;
  /** Default 1. */
  margin?: number;
  /** The norm of the distances (default 2). */
  p?: number;
  /** Added to the differences before the norm (default 1e-6), as `pairwise_distance` does. */
  eps?: number;
  /** Use the positive-negative distance when it is smaller (the "distance swap"); default false. */
  swap?: boolean;
}

/**
 * max(0, d(a, p) - d(a, n) + margin) with d(x, y) = ‖x - y + eps‖_p over the last dim, as
 * `torch.nn.functional.triplet_margin_loss`. Inputs [N, D] (or [D]) with the same number of dims;
 * their shapes broadcast.
 *
 * @example
 * const a = st.tensor([[0, 0]]), p = st.tensor([[0, 1]]), n = st.tensor([[3, 0]]);
 * const loss = st.nn.functional.tripletMarginLoss(a, p, n, { margin: 1, eps: 0 });
 * console.log(await loss.item()); // max(0, 1 - 3 + 1) = 0
 */
export function tripletMarginLoss(anchor: Tensor, positive: Tensor, negative: Tensor, opts: TripletMarginOpts = {}): Tensor {
  const op = "tripletMarginLoss";
  const reduction = opts.reduction ?? "mean", margin = opts.margin ?? 1, p = opts.p ?? 2, eps = opts.eps ?? 1e-6;
  checkReduction(op, reduction);
  for (const t of [anchor, positive, negative]) if (!isFloat(t.dtype)) throw new DTypeError(`${op}: expected floating point inputs, got ${t.dtype}`);
  if (anchor.ndim !== positive.ndim || positive.ndim !== negative.ndim) {
    throw new ShapeError(`${op}: all inputs should have the same number of dims, got ${anchor.ndim}-D, ${positive.ndim}-D and ${negative.ndim}-D inputs`);
  }
  if (anchor.ndim < 1) throw new ShapeError(`${op}: expected inputs of shape [N, D] or [D], got 0-D inputs`);
  if (!(p > 0)) throw new ValueError(`${op}: p must be positive, got ${p}`);
  broadcastShapes(op, broadcastShapes(op, anchor.shape, positive.shape), negative.shape);
  const dist = (x: Tensor, y: Tensor) => x.sub(y).add(eps).norm(p, -1);
  let dNeg = dist(anchor, negative);
  if (opts.swap) dNeg = E.minimum(dNeg, dist(positive, negative));
  return applyReduction(dist(anchor, positive).add(margin).sub(dNeg).clamp(0), reduction);
}

// ---- CTC ----

/** Lengths given as a JS number, a list or an integer tensor, read to the host (as PyTorch does). */
export type Lengths = Tensor | readonly number[] | number;

function hostLengths(name: string, v: Lengths): number[] {
  let out: number[];
  if (typeof v === "number") out = [v];
  else if (v instanceof Tensor) {
    if (!isInt(v.dtype)) throw new DTypeError(`ctcLoss: ${name} must be integers, got a ${v.dtype} tensor`);
    if (v.ndim > 1) throw new ShapeError(`ctcLoss: ${name} must be a 0-D or 1-D tensor, got shape ${fmtShape(v.shape)}`);
    out = Array.from(v.dataSync() as ArrayLike<number | bigint>, (x) => Number(x));
  } else out = [...v];
  out.forEach((x, i) => {
    if (!Number.isInteger(x) || x < 0) throw new ValueError(`ctcLoss: ${name} must be non-negative integers, got ${x} at position ${i}`);
  });
  return out;
}

/**
 * log(Σ exp(x_i)) over a list of same-shaped tensors, elementwise, that stays finite in the
 * backward pass where every x_i is -inf (an unreachable CTC state): the result there is -inf and
 * the gradients 0, rather than the NaN of 0 · (1 / 0) that log(0) would send back.
 */
function logAddExp(xs: readonly Tensor[]): Tensor {
  let m = xs[0]!;
  for (const x of xs.slice(1)) m = E.maximum(m, x);
  m = m.detach(); // a shift that cancels
  const none = m.eq(-Infinity);
  const shift = E.where(none, 0, m);
  let s = xs[0]!.sub(shift).exp();
  for (const x of xs.slice(1)) s = s.add(x.sub(shift).exp());
  return E.where(none, -Infinity, E.where(none, 1, s).log().add(shift));
}

export interface CtcOpts {
  /** The blank label (default 0). */
  blank?: number;
  /** "mean" (default: each loss divided by its target length, then the batch mean), "sum" or "none". */
  reduction?: Reduction;
  /** Replace infinite losses (no alignment fits the input length) and their gradients by 0. */
  zeroInfinity?: boolean;
}

/**
 * Connectionist temporal classification loss, as `torch.nn.functional.ctc_loss`: the negative log
 * probability of each target sequence, summed over all its alignments to the input frames (labels
 * repeated, blanks between).
 *
 * - `logProbs` [T, N, C] (or [T, C] unbatched): log-probabilities over classes per frame, e.g.
 *   the output of `logSoftmax(2)`.
 * - `targets`: integer labels, padded [N, S] (entries past each target length are ignored) or
 *   concatenated 1-D (of length sum(targetLengths)). Labels must be in [0, C).
 * - `inputLengths`, `targetLengths`: per batch element, as numbers or an integer tensor (read on
 *   the host); each input length at most T.
 *
 * A target that cannot fit its input length (it needs one frame per label plus one between
 * repeated labels) has an infinite loss, as in PyTorch, unless `zeroInfinity`.
 *
 * Computed with the forward (alpha) recursion in log space, one vectorised step per frame, so
 * that autograd gives the gradient. It is the true gradient with respect to `logProbs`; PyTorch's
 * own kernel returns that plus exp(logProbs), a difference that cancels once it passes back
 * through a log-softmax, so gradients with respect to the logits agree.
 *
 * @example
 * const logits = st.randn([6, 2, 4], { requiresGrad: true }); // T=6 frames, N=2, C=4 (0 = blank)
 * const targets = st.tensor([[1, 2, 2], [3, 1, 0]], { dtype: "int64" });
 * const loss = st.nn.functional.ctcLoss(logits.logSoftmax(2), targets, [6, 5], [3, 2]);
 * loss.backward();
 * console.log(await loss.item() > 0, logits.grad?.shape); // true [6, 2, 4]
 */
export function ctcLoss(logProbs: Tensor, targets: Tensor, inputLengths: Lengths, targetLengths: Lengths, opts: CtcOpts = {}): Tensor {
  const op = "ctcLoss";
  const blank = opts.blank ?? 0, reduction = opts.reduction ?? "mean";
  checkReduction(op, reduction);
  if (!isFloat(logProbs.dtype)) throw new DTypeError(`${op}: expected floating point logProbs, got ${logProbs.dtype}`);
  if (logProbs.ndim !== 2 && logProbs.ndim !== 3) throw new ShapeError(`${op}: expected logProbs of shape [T, N, C] (or [T, C] unbatched), got ${fmtShape(logProbs.shape)}`);
  if (!isInt(targets.dtype)) throw new DTypeError(`${op}: expected targets of an integer dtype (class indices), got ${targets.dtype}`);
  const batched = logProbs.ndim === 3;
  const lp = batched ? logProbs : unsqueeze(logProbs, 1);
  const [T, N, C] = lp.shape as [number, number, number];
  if (!Number.isInteger(blank) || blank < 0 || blank >= C) throw new ValueError(`${op}: blank must be in the label range [0, ${C}), got ${blank}`);
  const inLens = hostLengths("inputLengths", inputLengths), tgLens = hostLengths("targetLengths", targetLengths);
  if (inLens.length !== N) throw new ShapeError(`${op}: inputLengths must have one entry per batch element (${N}), got ${inLens.length}`);
  if (tgLens.length !== N) throw new ShapeError(`${op}: targetLengths must have one entry per batch element (${N}), got ${tgLens.length}`);
  inLens.forEach((l, b) => {
    if (l > T) throw new ValueError(`${op}: inputLengths[${b}] = ${l} is more than the ${T} frames of logProbs ${fmtShape(logProbs.shape)}`);
  });
  const S = Math.max(0, ...tgLens);
  let padded: Tensor | null = null; // [N, S] int64
  if (targets.ndim === 1) {
    const total = tgLens.reduce((a, b) => a + b, 0);
    if (targets.shape[0] !== total) {
      throw new ShapeError(`${op}: concatenated (1-D) targets must have sum(targetLengths) = ${total} entries, got ${fmtShape(targets.shape)}`);
    }
    if (S > 0) {
      const idx: number[] = [];
      let off = 0;
      for (const l of tgLens) {
        for (let s = 0; s < S; s++) idx.push(l ? off + Math.min(s, l - 1) : 0);
        off += l;
      }
      padded = reshape(targets.gather(0, tensor(idx, { dtype: "int64", device: lp.device })), [N, S]);
    }
  } else if (targets.ndim === 2) {
    if (targets.shape[0] !== N) throw new ShapeError(`${op}: padded targets [N, S] must have N = ${N} rows, got ${fmtShape(targets.shape)}`);
    tgLens.forEach((l, b) => {
      if (l > targets.shape[1]!) throw new ValueError(`${op}: targetLengths[${b}] = ${l} is more than the ${targets.shape[1]} columns of the padded targets ${fmtShape(targets.shape)}`);
    });
    if (S > 0) padded = narrow(targets, 1, 0, S);
  } else {
    throw new ShapeError(`${op}: expected targets padded [N, S] or concatenated 1-D, got ${fmtShape(targets.shape)}`);
  }

  const dtype: DType = lp.dtype, device = lp.device;
  const i64 = { dtype: "int64" as const, device };
  const boolT = (v: boolean[], shape: number[]) => reshape(tensor(v, { dtype: "bool", device }), shape);
  // The extended label sequence of each target: blank, l1, blank, l2, ..., lS, blank ([N, K]).
  const K = 2 * S + 1;
  let ext: Tensor;
  if (padded) {
    const valid = boolT(tgLens.flatMap((l) => Array.from({ length: S }, (_, s) => s < l)), [N, S]);
    const labels = E.where(valid, padded.to("int64"), blank); // padding -> blank, so any filler value is fine
    ext = cat([reshape(stack([full([N, S], blank, i64), labels], 2), [N, 2 * S]), full([N, 1], blank, i64)], 1);
  } else ext = full([N, 1], blank, i64);
  // A path may skip the blank between two labels when they differ (state s - 2 -> s).
  const states = Array.from({ length: N * K }, (_, i) => i % K);
  const canSkip = K > 2 ? boolT(states.map((s) => s >= 2), [N, K]).logicalAnd(ext.ne(cat([full([N, 2], -1, i64), narrow(ext, 1, 0, K - 2)], 1))) : null;
  const notFirst = boolT(states.map((s) => s >= 1), [N, K]);
  // log p(label of state s at frame t): [T, N, K]
  const emit = T > 0 ? lp.gather(2, expand(unsqueeze(ext, 0), [T, N, K])) : null;

  // alpha[s]: log-probability of the prefixes ending in state s after the frames seen so far;
  // before any frame, all mass is in state 0 (so an input of length 0 fits only an empty target).
  let alpha = E.where(boolT(states.map((s) => s === 0), [N, K]), full([], 0, { dtype, device }), -Infinity);
  const Tmax = Math.max(0, ...inLens);
  for (let t = 0; t < Tmax; t++) {
    const terms = [alpha];
    if (K > 1) terms.push(E.where(notFirst, padZeros(narrow(alpha, 1, 0, K - 1), [[0, 0], [1, 0]]), -Infinity));
    if (canSkip) terms.push(E.where(canSkip, padZeros(narrow(alpha, 1, 0, K - 2), [[0, 0], [2, 0]]), -Infinity));
    let next = logAddExp(terms).add(reshape(narrow(emit!, 0, t, 1), [N, K]));
    if (inLens.some((l) => t >= l)) next = E.where(boolT(inLens.map((l) => t < l), [N, 1]), next, alpha); // finished sequences keep their alpha
    alpha = next;
  }
  // A complete path ends in the last label (state 2L - 1) or the blank after it (state 2L).
  const last = alpha.gather(1, tensor(tgLens.map((l) => 2 * l), i64).reshape([N, 1])).reshape([N]);
  const lastLabel = E.where(
    boolT(tgLens.map((l) => l > 0), [N]),
    alpha.gather(1, tensor(tgLens.map((l) => Math.max(2 * l - 1, 0)), i64).reshape([N, 1])).reshape([N]),
    -Infinity,
  );
  let nll = logAddExp([last, lastLabel]).neg(); // [N]
  if (opts.zeroInfinity) nll = E.where(nll.eq(Infinity), 0, nll);
  if (reduction === "mean") return nll.div(tensor(tgLens.map((l) => Math.max(l, 1)), { dtype, device })).mean();
  if (reduction === "sum") return nll.sum();
  return batched ? nll : reshape(nll, []);
}
