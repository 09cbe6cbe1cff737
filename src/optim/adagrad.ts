import type { Tensor } from "../tensor/tensor.ts";
import { checkNonNegative, Optimizer, type ParamGroup, type ParamGroupSpec, type ParamState } from "./optimizer.ts";

export interface AdagradOptions {
  /** Learning rate. Default 1e-2. */
  lr?: number;
  /** Learning rate decay: step t uses lr / (1 + (t - 1) lrDecay). Default 0. */
  lrDecay?: number;
  /** L2 penalty added to the gradient. Default 0. */
  weightDecay?: number;
  /** Starting value of the sum of squared gradients. Default 0. */
  initialAccumulatorValue?: number;
  /** Added to the denominator for numerical stability. Default 1e-10. */
  eps?: number;
  /** Maximize the objective instead of minimizing it. Default false. */
  maximize?: boolean;
}
type AdagradGroup = ParamGroup & Required<AdagradOptions>;

/**
 * Adagrad, as `torch.optim.Adagrad`:
 *
 *     g = grad (+ weightDecay * p);  s = s + g²;  p = p - lr / (1 + (t - 1) lrDecay) * g / (sqrt(s) + eps)
 *
 * State per parameter (created with the optimizer, as in PyTorch): `step` and `sum`. The sums start
 * at the group's `initialAccumulatorValue` (PyTorch fills them with the constructor's value even for
 * a group that sets its own).
 *
 * @example
 * const w = st.tensor([1, -2]).requiresGrad_();
 * const opt = new st.optim.Adagrad([w], { lr: 0.5 });
 * w.square().sum().backward();
 * opt.step();
 * console.log(await w.tolist());  // [0.5, -1.5]: the first step is lr * sign(grad)
 */
export class Adagrad extends Optimizer<AdagradGroup> {
  constructor(params: Iterable<Tensor> | readonly ParamGroupSpec<AdagradOptions>[], opts: AdagradOptions = {}) {
    super(params, {
      lr: opts.lr ?? 1e-2, lrDecay: opts.lrDecay ?? 0, weightDecay: opts.weightDecay ?? 0,
      initialAccumulatorValue: opts.initialAccumulatorValue ?? 0, eps: opts.eps ?? 1e-10, maximize: opts.maximize ?? false,
    });
    for (const g of this.paramGroups) for (const p of g.params) this.state.set(p, this._initState(p, g));
  }

  private _initState(p: Tensor, g: AdagradGroup): ParamState {
    return { step: this._stepCounter(p), sum: this._stateLike(p, g.initialAccumulatorValue) };
  }

  protected override _validate(g: AdagradGroup): void {
    super._validate(g);
    checkNonNegative("Adagrad", "lrDecay", g.lrDecay);
    checkNonNegative("Adagrad", "weightDecay", g.weightDecay);
    checkNonNegative("Adagrad", "initialAccumulatorValue", g.initialAccumulatorValue);
    checkNonNegative("Adagrad", "epsilon", g.eps);
  }

  protected _update(p: Tensor, grad: Tensor, state: ParamState, g: AdagradGroup, targets: Tensor[]): void {
    const h = (option: string, index?: number) => this._scalar(g, option, p, index);
    if (!state.step) Object.assign(state, this._initState(p, g));
    this._assign(state.step!, state.step!.add(1), targets);
    let d = g.maximize ? grad.neg() : grad;
    if (g.weightDecay !== 0) d = d.add(p.mul(h("weightDecay")));
    // -lr / (1 + (t - 1) lrDecay), a float64 scalar on the device.
    const clrNeg = h("lr").div(state.step!.sub(1).mul(h("lrDecay")).add(1)).neg();
    targets.push(clrNeg);
    const sum = state.sum!.add(d.mul(d));
    this._assign(state.sum!, sum, targets);
    this._assign(p, p.add(clrNeg.mul(d).div(sum.sqrt().add(h("eps")))), targets);
  }
}
