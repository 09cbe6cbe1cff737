/** Dropout. */
import { ValueError } from "../../ir/errors.ts";
import type { Tensor } from "../../tensor/tensor.ts";
import { dropout } from "../functional.ts";
import { Module } from "../module.ts";

/**
 * In train mode, zeroes each element with probability `p` and scales the others by 1/(1-p); in
 * eval mode, the identity.
 *
 * Shape: any; the output has the input's shape.
 *
 * @example
 * const drop = new st.nn.Dropout(0.2);
 * const x = st.ones([4, 5]);
 * const y = drop.forward(x);                 // entries 0 or 1.25
 * drop.eval();
 * drop.forward(x) === x;                     // true
 */
export class Dropout extends Module {
  constructor(readonly p = 0.5) {
    super();
    if (!(p >= 0 && p <= 1)) throw new ValueError(`Dropout: dropout probability has to be between 0 and 1, but got ${p}`);
  }
  forward(x: Tensor): Tensor {
    return dropout(x, this.p, this.training);
  }
  override extraRepr(): string {
    return `p=${this.p}, inplace=False`;
  }
}
