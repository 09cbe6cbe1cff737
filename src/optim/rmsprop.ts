import type { Tensor } from "../tensor/tensor.ts";
import { checkNonNegative, Optimizer, type ParamGroup, type ParamGroupSpec, type ParamState } from "./optimizer.ts";

export interface RMSpropOptions {
  /** Learning rate. Default 1e-2. */
  lr?: number;
  /** Smoothing constant of the running average of squared gradients. Default 0.99. */
  alpha?: number;
  /** Added to the denominator for numerical stability. Default 1e-8. */
  eps?: number;
  /** L2 penalty added to the gradient. Default 0. */
  weightDecay?: number;
  /** Momentum factor. Default 0. */
  momentum?: number;
  /** Normalize by an estimate of the gradient's variance (subtract the squared running mean). Default false. */
  centered?: boolean;
  /** Maximize the objective instead of minimizing it. Default false. */
  maximize?: boolean;
}
type RMSpropGroup = ParamGroup & Required<RMSpropOptions>;

/**
 * RMSprop, as `torch.optim.RMSprop`:
 *
 *     g = grad (+ weightDecay * p);  s = alpha s + (1 - alpha) g²;  a = alpha a + (1 - alpha) g (centered)
 *     r = sqrt(s) (centered: sqrt(s - a²)) + eps
 *     momentum > 0: b = momentum b + g / r;  p = p - lr b        else: p = p - lr g / r
 *
 * State per parameter: `step`, `square_avg`, `momentum_buffer` (momentum > 0), `grad_avg` (centered).
 *
 * @example
 * const w = st.tensor([1, -2]).requiresGrad_();
 * const opt = new st.optim.RMSprop([w], { lr: 0.01 });
 * w.square().sum().backward();
 * opt.step();
 * console.log(await w.tolist());  // ≈ [0.9, -1.9]: the first step is lr / sqrt(1 - alpha) = 0.1 per element
 */
export class RMSprop extends Optimizer<RMSpropGroup> {
  constructor(params: Iterable<Tensor> | readonly ParamGroupSpec<RMSpropOptions>[], opts: RMSpropOptions = {}) {
    super(params, {
      lr: opts.lr ?? 1e-2, alpha: opts.alpha ?? 0.99, eps: opts.eps ?? 1e-8, weightDecay: opts.weightDecay ?? 0,
      momentum: opts.momentum ?? 0, centered: opts.centered ?? false, maximize: opts.maximize ?? false,
    });
  }

  protected override _validate(g: RMSpropGroup): void {
    super._validate(g);
    checkNonNegative("RMSprop", "epsilon", g.eps);
    checkNonNegative("RMSprop", "momentum", g.momentum);
    checkNonNegative("RMSprop", "weightDecay", g.weightDecay);
    checkNonNegative("RMSprop", "alpha", g.alpha);
  }

  protected _update(p: Tensor, grad: Tensor, state: ParamState, g: RMSpropGroup, targets: Tensor[]): void {
    const h = (option: string, index?: number) => this._scalar(g, option, p, index);
    if (!state.step) {
      state.step = this._stepCounter(p);
      state.square_avg = this._stateLike(p);
      if (g.momentum > 0) state.momentum_buffer = this._stateLike(p);
      if (g.centered) state.grad_avg = this._stateLike(p);
    }
    this._assign(state.step!, state.step!.add(1), targets);
    let d = g.maximize ? grad.neg() : grad;
    if (g.weightDecay !== 0) d = d.add(p.mul(h("weightDecay")));
    const alpha = h("alpha"), oneMinusAlpha = alpha.rsub(1);
    const sq = state.square_avg!.mul(alpha).add(oneMinusAlpha.mul(d).mul(d));
    this._assign(state.square_avg!, sq, targets);
    let avg: Tensor;
    if (g.centered) {
      const ga0 = state.grad_avg ?? (state.grad_avg = this._stateLike(p));
      const ga = ga0.mul(alpha).add(d.mul(oneMinusAlpha));
      this._assign(ga0, ga, targets);
      avg = sq.sub(ga.mul(ga)).sqrt();
    } else {
      avg = sq.sqrt();
    }
    avg = avg.add(h("eps"));
    const lrNeg = h("lr").neg();
    if (g.momentum > 0) {
      const buf = state.momentum_buffer ?? (state.momentum_buffer = this._stateLike(p));
      const b = buf.mul(h("momentum")).add(d.div(avg));
      this._assign(buf, b, targets);
      this._assign(p, p.add(b.mul(lrNeg)), targets);
    } else {
      this._assign(p, p.add(lrNeg.mul(d).div(avg)), targets);
    }
  }
}
