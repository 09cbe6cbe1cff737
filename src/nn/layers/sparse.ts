/** Embedding. */
import { DTypeError, ValueError } from "../../ir/errors.ts";
import { isInt } from "../../ir/dtype.ts";
import { noGrad } from "../../autograd/grad-mode.ts";
import { arange } from "../../tensor/create.ts";
import { where } from "../../tensor/elementwise.ts";
import type { Tensor } from "../../tensor/tensor.ts";
import { embedding } from "../functional.ts";
import { normal_ } from "../init.ts";
import { Module } from "../module.ts";
import type { Parameter } from "../parameter.ts";
import { type FactoryOpts, newParam } from "./util.ts";

export interface EmbeddingOpts extends FactoryOpts {
  /** The row at this index is zero at first and gets no gradient (a padding token). Negative counts from the end. */
  paddingIdx?: number | null;
}

/**
 * A lookup table: integer indices -> rows of `weight` [numEmbeddings, embeddingDim], which starts
 * as N(0, 1) (with the paddingIdx row zero), as in PyTorch.
 *
 * Shape: input [*] of integer indices, output [*, embeddingDim].
 *
 * @example
 * const emb = new st.nn.Embedding(10, 3, { paddingIdx: 0 });
 * const y = emb.forward(st.tensor([[1, 2, 4, 5], [4, 3, 2, 0]], { dtype: "int64" })); // [2, 4, 3]
 */
export class Embedding extends Module {
  weight: Parameter;
  readonly paddingIdx: number | null;
  constructor(readonly numEmbeddings: number, readonly embeddingDim: number, opts: EmbeddingOpts = {}) {
    super();
    let p = opts.paddingIdx ?? null;
    if (p !== null) {
      if (!Number.isInteger(p) || p >= numEmbeddings || p < -numEmbeddings) throw new ValueError(`Embedding: padding_idx must be within num_embeddings (${numEmbeddings}), got ${p}`);
      if (p < 0) p += numEmbeddings;
    }
    this.paddingIdx = p;
    this.weight = newParam([numEmbeddings, embeddingDim], opts);
    this.resetParameters();
  }
  resetParameters(): void {
    normal_(this.weight);
    const p = this.paddingIdx;
    if (p !== null) {
      noGrad(() => {
        const isPad = arange(this.numEmbeddings, undefined, 1, { device: this.weight.device }).eq(p).reshape([-1, 1]);
        this.weight.copy_(where(isPad, 0, this.weight)).realize();
      });
    }
  }
  forward(x: Tensor): Tensor {
    if (!isInt(x.dtype)) throw new DTypeError(`Embedding(${this.extraRepr()}): expected integer indices (int64 or int32), got ${x.dtype}`);
    return embedding(x, this.weight, this.paddingIdx);
  }
  override extraRepr(): string {
    return `${this.numEmbeddings}, ${this.embeddingDim}${this.paddingIdx !== null ? `, padding_idx=${this.paddingIdx}` : ""}`;
  }
}
