/** Flatten, Unflatten. */
import { normDim } from "../../ir/shape.ts";
import type { Tensor } from "../../tensor/tensor.ts";
import { Module } from "../module.ts";
import { fmtTuple, shapeError } from "./util.ts";

/**
 * Flattens dims startDim..endDim into one (by default all but the batch dim).
 *
 * Shape: [N, *] -> [N, prod(*)] by default.
 *
 * @example
 * const f = new st.nn.Flatten();
 * f.forward(st.zeros([32, 1, 5, 5])).shape; // [32, 25]
 */
export class Flatten extends Module {
  constructor(readonly startDim = 1, readonly endDim = -1) {
    super();
  }
  forward(x: Tensor): Tensor {
    const nd = Math.max(x.ndim, 1);
    const s = this.startDim < 0 ? this.startDim + nd : this.startDim, e = this.endDim < 0 ? this.endDim + nd : this.endDim;
    if (s < 0 || s >= nd || e < 0 || e >= nd || s > e) shapeError(this, `at least ${Math.max(this.startDim < 0 ? -this.startDim : this.startDim + 1, this.endDim < 0 ? -this.endDim : this.endDim + 1)} dims`, x);
    return x.flatten(this.startDim, this.endDim);
  }
  override extraRepr(): string {
    return `start_dim=${this.startDim}, end_dim=${this.endDim}`;
  }
}

/**
 * Splits dim `dim` into `unflattenedSize` (one entry may be -1).
 *
 * Shape: [*, prod(unflattenedSize), *] -> [*, ...unflattenedSize, *].
 *
 * @example
 * const u = new st.nn.Unflatten(1, [2, 5, 5]);
 * u.forward(st.zeros([2, 50])).shape; // [2, 2, 5, 5]
 */
export class Unflatten extends Module {
  constructor(readonly dim: number, readonly unflattenedSize: readonly number[]) {
    super();
  }
  forward(x: Tensor): Tensor {
    let d: number;
    try {
      d = normDim("Unflatten", this.dim, x.ndim);
    } catch {
      return shapeError(this, `at least ${this.dim < 0 ? -this.dim : this.dim + 1} dims`, x);
    }
    const n = x.shape[d]!, known = this.unflattenedSize.filter((s) => s !== -1).reduce((a, b) => a * b, 1);
    const ok = this.unflattenedSize.includes(-1) ? known > 0 && n % known === 0 : known === n;
    if (!ok) shapeError(this, `dim ${this.dim} of size ${this.unflattenedSize.includes(-1) ? `a multiple of ${known}` : known}`, x);
    return x.unflatten(this.dim, this.unflattenedSize);
  }
  override extraRepr(): string {
    return `dim=${this.dim}, unflattened_size=${fmtTuple(this.unflattenedSize)}`;
  }
}
