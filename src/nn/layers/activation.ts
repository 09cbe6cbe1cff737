/** Activations as modules: ReLU, LeakyReLU, ELU, GELU, SiLU, Tanh, Sigmoid, Softmax, LogSoftmax. */
import { ValueError } from "../../ir/errors.ts";
import type { Tensor } from "../../tensor/tensor.ts";
import { elu, leakyRelu } from "../functional.ts";
import { Module } from "../module.ts";
import { fmtFloat } from "./util.ts";

/**
 * max(0, x), elementwise.
 *
 * @example
 * new st.nn.ReLU().forward(st.tensor([-1, 2])); // [0, 2]
 */
export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return x.relu();
  }
}

/**
 * x for x > 0, negativeSlope · x otherwise.
 *
 * @example
 * new st.nn.LeakyReLU(0.1).forward(st.tensor([-1, 2])); // [-0.1, 2]
 */
export class LeakyReLU extends Module {
  constructor(readonly negativeSlope = 0.01) {
    super();
  }
  forward(x: Tensor): Tensor {
    return leakyRelu(x, this.negativeSlope);
  }
  override extraRepr(): string {
    return `negative_slope=${fmtFloat(this.negativeSlope)}`;
  }
}

/**
 * x for x > 0, alpha · (exp(x) − 1) otherwise.
 *
 * @example
 * new st.nn.ELU().forward(st.tensor([-1, 2])); // [-0.632, 2]
 */
export class ELU extends Module {
  constructor(readonly alpha = 1) {
    super();
  }
  forward(x: Tensor): Tensor {
    return elu(x, this.alpha);
  }
  override extraRepr(): string {
    return `alpha=${fmtFloat(this.alpha)}`;
  }
}

/**
 * x · Φ(x) (Φ the standard normal CDF); `approximate: "tanh"` uses the tanh formula.
 *
 * @example
 * new st.nn.GELU().forward(st.tensor([-1, 2])); // [-0.1587, 1.9545]
 */
export class GELU extends Module {
  constructor(readonly approximate: "none" | "tanh" = "none") {
    super();
    if (approximate !== "none" && approximate !== "tanh") throw new ValueError(`GELU: approximate must be "none" or "tanh", got ${JSON.stringify(approximate)}`);
  }
  forward(x: Tensor): Tensor {
    return x.gelu({ approximate: this.approximate });
  }
  override extraRepr(): string {
    return `approximate='${this.approximate}'`;
  }
}

/**
 * x · sigmoid(x) (also called swish).
 *
 * @example
 * new st.nn.SiLU().forward(st.tensor([-1, 2])); // [-0.2689, 1.7616]
 */
export class SiLU extends Module {
  forward(x: Tensor): Tensor {
    return x.silu();
  }
}

/**
 * tanh(x), elementwise.
 *
 * @example
 * new st.nn.Tanh().forward(st.tensor([0, 1])); // [0, 0.7616]
 */
export class Tanh extends Module {
  forward(x: Tensor): Tensor {
    return x.tanh();
  }
}

/**
 * 1 / (1 + exp(−x)), elementwise.
 *
 * @example
 * new st.nn.Sigmoid().forward(st.tensor([0, 2])); // [0.5, 0.8808]
 */
export class Sigmoid extends Module {
  forward(x: Tensor): Tensor {
    return x.sigmoid();
  }
}

/** PyTorch's legacy choice of dim when none is given: 0 for 0-, 1- and 3-D inputs, else 1. */
const implicitDim = (x: Tensor): number => ([0, 1, 3].includes(x.ndim) ? 0 : 1);

/**
 * exp(x) / sum(exp(x)) along `dim`, so that each slice along it sums to 1.
 *
 * @example
 * new st.nn.Softmax(-1).forward(st.tensor([[1, 2, 3]])); // [[0.0900, 0.2447, 0.6652]]
 */
export class Softmax extends Module {
  constructor(readonly dim: number | null = null) {
    super();
  }
  forward(x: Tensor): Tensor {
    return x.softmax(this.dim ?? implicitDim(x));
  }
  override extraRepr(): string {
    return `dim=${this.dim ?? "None"}`;
  }
}

/**
 * log(softmax(x)) along `dim`, computed stably.
 *
 * @example
 * new st.nn.LogSoftmax(1).forward(st.tensor([[1, 2, 3]])); // [[-2.4076, -1.4076, -0.4076]]
 */
export class LogSoftmax extends Module {
  constructor(readonly dim: number | null = null) {
    super();
  }
  forward(x: Tensor): Tensor {
    return x.logSoftmax(this.dim ?? implicitDim(x));
  }
  override extraRepr(): string {
    return `dim=${this.dim ?? "None"}`;
  }
}
