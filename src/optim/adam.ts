import { ValueError } from "../ir/errors.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { checkNonNegative, Optimizer, type ParamGroup, type ParamGroupSpec, type ParamState } from "./optimizer.ts";

export interface AdamOptions {
  /** Learning rate. Default 1e-3. */
  lr?: number;
  /** Decay rates of the running averages of the gradient and its square. Default [0.9, 0.999]. */
  betas?: [number, number];
  /** Added to the denominator for numerical stability. Default 1e-8. */
  eps?: number;
  /** L2 penalty (Adam: added to the gradient; AdamW: decoupled, see there). Default 0 (AdamW: 1e-2). */
  weightDecay?: number;
  /** The AMSGrad variant: normalize by the maximum of the second moments so far. Default false. */
  amsgrad?: boolean;
  /** Maximize the objective instead of minimizing it. Default false. */
  maximize?: boolean;
}
type AdamGroup = ParamGroup & Required<AdamOptions>;

const adamDefaults = (o: AdamOptions, weightDecay: number) => ({
  lr: o.lr ?? 1e-3, betas: o.betas ?? [0.9, 0.999], eps: o.eps ?? 1e-8, weightDecay: o.weightDecay ?? weightDecay,
  amsgrad: o.amsgrad ?? false, maximize: o.maximize ?? false,
});

/** @internal Adam and AdamW: one update rule, the weight decay coupled (Adam) or decoupled (AdamW). */
export abstract class AdamBase extends Optimizer<AdamGroup> {
  protected constructor(params: Iterable<Tensor> | readonly ParamGroupSpec<AdamOptions>[], opts: AdamOptions, private readonly _decoupled: boolean) {
    super(params, adamDefaults(opts, _decoupled ? 1e-2 : 0));
  }

  protected override _validate(g: AdamGroup): void {
    super._validate(g);
    checkNonNegative(this._name, "epsilon", g.eps);
    const b = g.betas;
    if (!Array.isArray(b) || b.length !== 2) throw new ValueError(`${this._name}: betas must be a pair of numbers, got ${String(b)}`);
    b.forEach((x, i) => {
      if (!(x >= 0 && x < 1)) throw new ValueError(`${this._name}: invalid beta parameter at index ${i}: ${x}`);
    });
    checkNonNegative(this._name, "weightDecay", g.weightDecay);
  }

  protected _update(p: Tensor, grad: Tensor, state: ParamState, g: AdamGroup, targets: Tensor[]): void {
    const h = (option: string, index?: number) => this._scalar(g, option, p, index);
    const lr = h("lr"), b1 = h("betas", 0), b2 = h("betas", 1);
    if (!state.step) {
      state.step = this._stepCounter(p);
      state.exp_avg = this._stateLike(p);
      state.exp_avg_sq = this._stateLike(p);
      if (g.amsgrad) state.max_exp_avg_sq = this._stateLike(p);
    }
    let d = g.maximize ? grad.neg() : grad;
    let param = p;
    if (this._decoupled) param = p.mul(lr.mul(h("weightDecay")).rsub(1));
    else if (g.weightDecay !== 0) d = d.add(p.mul(h("weightDecay")));
    this._assign(state.step!, state.step!.add(1), targets);
    const step = state.step!;
    const m = state.exp_avg!.mul(b1).add(d.mul(b1.rsub(1)));
    const v = state.exp_avg_sq!.mul(b2).add(b2.rsub(1).mul(d).mul(d));
    this._assign(state.exp_avg!, m, targets);
    this._assign(state.exp_avg_sq!, v, targets);
    // Scalars (float64, on the device): -lr / (1 - b1^t) and sqrt(1 - b2^t).
    const stepSizeNeg = lr.div(b1.pow(step).rsub(1)).neg();
    const bc2Sqrt = b2.pow(step).rsub(1).sqrt();
    targets.push(stepSizeNeg, bc2Sqrt);
    let second = v;
    if (g.amsgrad) {
      const vmax = state.max_exp_avg_sq ?? (state.max_exp_avg_sq = this._stateLike(p));
      second = vmax.maximum(v);
      this._assign(vmax, second, targets);
    }
    const denom = second.sqrt().div(bc2Sqrt).add(h("eps"));
    this._assign(p, param.add(stepSizeNeg.mul(m).div(denom)), targets);
  }
}

/**
 * Adam, as `torch.optim.Adam`:
 *
 *     g = grad (+ weightDecay * p);  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g²
 *     p = p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)     (v: max of all v so far with amsgrad)
 *
 * State per parameter: `step` (float32 0-d), `exp_avg`, `exp_avg_sq`, and `max_exp_avg_sq` with
 * amsgrad. The bias corrections are computed from `step` on the device, so a step never waits
 * for the host.
 *
 * @example
 * const w = st.tensor([1, -2]).requiresGrad_();
 * const opt = new st.optim.Adam([w], { lr: 0.1 });
 * w.square().sum().backward();
 * opt.step();
 * console.log(await w.tolist());  // ≈ [0.9, -1.9]: Adam's first step is lr * sign(grad)
 */
export class Adam extends AdamBase {
  constructor(params: Iterable<Tensor> | readonly ParamGroupSpec<AdamOptions>[], opts: AdamOptions = {}) {
    super(params, opts, false);
  }
}

/**
 * AdamW, as `torch.optim.AdamW`: Adam with decoupled weight decay, `p = p * (1 - lr * weightDecay)`
 * before the Adam update (the decay does not pass through the moment estimates). Options as Adam's,
 * with `weightDecay` defaulting to 1e-2.
 *
 * @example
 * const w = st.tensor([1, -2]).requiresGrad_();
 * const opt = new st.optim.AdamW([w], { lr: 0.1, weightDecay: 0.5 });
 * w.square().sum().backward();
 * opt.step();
 * console.log(await w.tolist());  // ≈ [0.85, -1.8]: w * (1 - 0.1 * 0.5), then Adam's first step lr * sign(grad)
 */
export class AdamW extends AdamBase {
  constructor(params: Iterable<Tensor> | readonly ParamGroupSpec<AdamOptions>[], opts: AdamOptions = {}) {
    super(params, opts, true);
  }
}
