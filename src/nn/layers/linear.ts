/** Identity, Linear, Bilinear. */
import { bilinear, linear } from "../functional.ts";
import { kaimingUniform_, uniform_ } from "../init.ts";
import { Module } from "../module.ts";
import type { Parameter } from "../parameter.ts";
import type { Tensor } from "../../tensor/tensor.ts";
import { type FactoryOpts, newParam, shapeError } from "./util.ts";

/**
 * Returns its input unchanged (a placeholder, e.g. to remove a layer from a model).
 *
 * @example
 * const m = new st.nn.Identity();
 * m.forward(st.ones([2, 3])); // the same tensor
 */
export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}

export interface LinearOpts extends FactoryOpts {
  /** Learn an additive bias (default true). */
  bias?: boolean;
}

/**
 * y = x Wᵀ + b. Weight [out, in] and bias [out] start as U(-1/√in, 1/√in), as in PyTorch.
 *
 * Shape: input [*, inFeatures], output [*, outFeatures].
 *
 * @example
 * const fc = new st.nn.Linear(20, 30);
 * const y = fc.forward(st.randn([128, 20])); // [128, 30]
 */
export class Linear extends Module {
  weight: Parameter;
  bias: Parameter | null;
  constructor(readonly inFeatures: number, readonly outFeatures: number, opts: LinearOpts = {}) {
    super();
    this.weight = newParam([outFeatures, inFeatures], opts);
    this.bias = opts.bias ?? true ? newParam([outFeatures], opts) : null;
    this.resetParameters();
  }
  resetParameters(): void {
    kaimingUniform_(this.weight, { a: Math.sqrt(5) });
    if (this.bias) {
      const bound = this.inFeatures > 0 ? 1 / Math.sqrt(this.inFeatures) : 0;
      uniform_(this.bias, -bound, bound);
    }
  }
  forward(x: Tensor): Tensor {
    if (x.ndim < 1 || x.shape[x.ndim - 1] !== this.inFeatures) shapeError(this, `[*, ${this.inFeatures}]`, x);
    return linear(x, this.weight, this.bias);
  }
  override extraRepr(): string {
    return `in_features=${this.inFeatures}, out_features=${this.outFeatures}, bias=${this.bias ? "True" : "False"}`;
  }
}

/**
 * y = x1ᵀ A x2 + b, one bilinear form per output feature. Weight [out, in1, in2] and bias [out]
 * start as U(-1/√in1, 1/√in1), as in PyTorch.
 *
 * Shape: inputs [*, in1Features] and [*, in2Features], output [*, outFeatures].
 *
 * @example
 * const m = new st.nn.Bilinear(20, 30, 40);
 * const y = m.forward(st.randn([128, 20]), st.randn([128, 30])); // [128, 40]
 */
export class Bilinear extends Module {
  weight: Parameter;
  bias: Parameter | null;
  constructor(readonly in1Features: number, readonly in2Features: number, readonly outFeatures: number, opts: LinearOpts = {}) {
    super();
    this.weight = newParam([outFeatures, in1Features, in2Features], opts);
    this.bias = opts.bias ?? true ? newParam([outFeatures], opts) : null;
    this.resetParameters();
  }
  resetParameters(): void {
    const bound = 1 / Math.sqrt(this.weight.shape[1]!);
    uniform_(this.weight, -bound, bound);
    if (this.bias) uniform_(this.bias, -bound, bound);
  }
  forward(x1: Tensor, x2: Tensor): Tensor {
    if (x1.ndim < 1 || x1.shape[x1.ndim - 1] !== this.in1Features) shapeError(this, `[*, ${this.in1Features}] (input1)`, x1);
    if (x2.ndim !== x1.ndim || x2.shape[x2.ndim - 1] !== this.in2Features || x2.shape.slice(0, -1).some((d, i) => d !== x1.shape[i])) {
      shapeError(this, `[${[...x1.shape.slice(0, -1), this.in2Features].join(", ")}] (input2, matching input1 ${JSON.stringify(x1.shape)})`, x2);
    }
    return bilinear(x1, x2, this.weight, this.bias);
  }
  override extraRepr(): string {
    return `in1_features=${this.in1Features}, in2_features=${this.in2Features}, out_features=${this.outFeatures}, bias=${this.bias ? "True" : "False"}`;
  }
}
