import { ValueError } from "../ir/errors.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { checkNonNegative, Optimizer, type ParamGroup, type ParamGroupSpec, type ParamState } from "./optimizer.ts";

export interface SGDOptions {
  /** Learning rate (required, as in PyTorch). */
  lr: number;
  /** Momentum factor. Default 0. */
  momentum?: number;
  /** Dampening of the momentum. Default 0. */
  dampening?: number;
  /** L2 penalty added to the gradient. Default 0. */
  weightDecay?: number;
  /** Nesterov momentum (needs momentum > 0 and dampening 0). Default false. */
  nesterov?: boolean;
  /** Maximize the objective instead of minimizing it. Default false. */
  maximize?: boolean;
}
type SGDGroup = ParamGroup & Required<SGDOptions>;

/**
 * Stochastic gradient descent, optionally with momentum, as `torch.optim.SGD`:
 *
 *     g = grad (+ weightDecay * p);  b = g at the first step, else momentum * b + (1 - dampening) * g
 *     d = nesterov ? g + momentum * b : b  (d = g without momentum);  p = p - lr * d
 *
 * State per parameter: `momentum_buffer` (with momentum only).
 *
 * @example
 * const w = st.tensor([1, -2]).requiresGrad_();
 * const opt = new st.optim.SGD([w], { lr: 0.25, momentum: 0.9 });
 * w.square().sum().backward();   // grad 2w = [2, -4]
 * opt.step();
 * console.log(await w.tolist());  // [0.5, -1]: the first step is w - lr * grad
 */
export class SGD extends Optimizer<SGDGroup> {
  constructor(params: Iterable<Tensor>, opts: SGDOptions);
  /** Parameter groups: `lr` may be left out of `opts` when every group sets its own. */
  constructor(params: readonly ParamGroupSpec<SGDOptions>[], opts?: Partial<SGDOptions>);
  constructor(params: Iterable<Tensor> | readonly ParamGroupSpec<SGDOptions>[], opts: Partial<SGDOptions> = {}) {
    super(params, { lr: opts.lr, momentum: opts.momentum ?? 0, dampening: opts.dampening ?? 0, weightDecay: opts.weightDecay ?? 0, nesterov: opts.nesterov ?? false, maximize: opts.maximize ?? false });
  }

  protected override _validate(g: SGDGroup): void {
    super._validate(g);
    checkNonNegative("SGD", "momentum", g.momentum);
    checkNonNegative("SGD", "weightDecay", g.weightDecay);
    if (g.nesterov && (g.momentum <= 0 || g.dampening !== 0)) throw new ValueError("SGD: Nesterov momentum requires a momentum and zero dampening");
  }

  protected _update(p: Tensor, grad: Tensor, state: ParamState, g: SGDGroup, targets: Tensor[]): void {
    const h = (option: string, index?: number) => this._scalar(g, option, p, index);
    let d = g.maximize ? grad.neg() : grad;
    if (g.weightDecay !== 0) d = d.add(p.mul(h("weightDecay")));
    if (g.momentum !== 0) {
      const m = h("momentum");
      const buf = state.momentum_buffer;
      if (!buf) state.momentum_buffer = this._keep(d, targets);
      else this._assign(buf, buf.mul(m).add(d.mul(h("dampening").rsub(1))), targets);
      const b = state.momentum_buffer!;
      d = g.nesterov ? d.add(b.mul(m)) : b;
    }
    this._assign(p, p.add(d.mul(h("lr").neg())), targets);
  }
}
