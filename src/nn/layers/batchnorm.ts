/** BatchNorm1d, BatchNorm2d. */
import { ones, zeros } from "../../tensor/create.ts";
import type { Tensor } from "../../tensor/tensor.ts";
import { noGrad } from "../../autograd/grad-mode.ts";
import { batchNorm } from "../functional.ts";
import { ones_, zeros_ } from "../init.ts";
import { Module } from "../module.ts";
import type { Parameter } from "../parameter.ts";
import { type FactoryOpts, fmtFloat, newParam, shapeError } from "./util.ts";

export interface BatchNormOpts extends FactoryOpts {
  /** Added to the variance (default 1e-5). */
  eps?: number;
  /** Weight of the newest batch in the running statistics (default 0.1); null: a cumulative average. */
  momentum?: number | null;
  /** Learn a per-channel weight (ones) and bias (zeros): default true. */
  affine?: boolean;
  /** Keep running statistics for eval mode (default true); without them, batch statistics are always used. */
  trackRunningStats?: boolean;
}

abstract class BatchNormNd extends Module {
  readonly eps: number;
  readonly momentum: number | null;
  readonly affine: boolean;
  readonly trackRunningStats: boolean;
  weight: Parameter | null;
  bias: Parameter | null;
  declare runningMean: Tensor | null;
  declare runningVar: Tensor | null;
  declare numBatchesTracked: Tensor | null;
  constructor(readonly numFeatures: number, opts: BatchNormOpts = {}) {
    super();
    this.eps = opts.eps ?? 1e-5;
    this.momentum = opts.momentum === undefined ? 0.1 : opts.momentum;
    this.affine = opts.affine ?? true;
    this.trackRunningStats = opts.trackRunningStats ?? true;
    this.weight = this.affine ? newParam([numFeatures], opts) : null;
    this.bias = this.affine ? newParam([numFeatures], opts) : null;
    const f = { dtype: opts.dtype ?? "float32", device: opts.device } as const;
    const track = this.trackRunningStats;
    this.registerBuffer("runningMean", track ? zeros([numFeatures], f) : null);
    this.registerBuffer("runningVar", track ? ones([numFeatures], f) : null);
    this.registerBuffer("numBatchesTracked", track ? zeros([], { dtype: "int64", device: opts.device }) : null);
    this.resetParameters();
  }
  /** Running mean 0, running variance 1, no batches seen. */
  resetRunningStats(): void {
    if (!this.trackRunningStats) return;
    noGrad(() => {
      this.runningMean!.zero_().realize();
      this.runningVar!.fill_(1).realize();
      this.numBatchesTracked!.zero_().realize();
    });
  }
  resetParameters(): void {
    this.resetRunningStats();
    if (this.weight) ones_(this.weight);
    if (this.bias) zeros_(this.bias);
  }
  protected abstract checkInput(x: Tensor): void;
  /**
   * Train mode: normalizes by the batch's per-channel statistics and updates the running ones
   * (when tracked). Eval mode: normalizes by the running statistics (or, when they are not
   * tracked, by the batch's).
   */
  forward(x: Tensor): Tensor {
    this.checkInput(x);
    let factor: number | Tensor = this.momentum ?? 0;
    if (this.training && this.trackRunningStats) {
      const nbt = this.numBatchesTracked!;
      noGrad(() => nbt.add_(1).realize());
      if (this.momentum === null) factor = nbt.to(x.dtype).reciprocal();
    }
    const useBatch = this.training || !this.runningMean;
    const track = !this.training || this.trackRunningStats;
    return batchNorm(x, track ? this.runningMean : null, track ? this.runningVar : null, this.weight, this.bias, useBatch, factor, this.eps);
  }
  override extraRepr(): string {
    const m = this.momentum === null ? "None" : fmtFloat(this.momentum);
    return `${this.numFeatures}, eps=${fmtFloat(this.eps)}, momentum=${m}, affine=${this.affine ? "True" : "False"}, track_running_stats=${this.trackRunningStats ? "True" : "False"}`;
  }
}

/**
 * Batch normalization over [N, C] or [N, C, L]: per channel, y = (x − mean) / √(var + eps) · weight + bias,
 * with the batch's statistics in train mode and the running ones in eval mode. Buffers
 * `running_mean`, `running_var` and `num_batches_tracked`, as in PyTorch.
 *
 * @example
 * const bn = new st.nn.BatchNorm1d(100);
 * const y = bn.forward(st.randn([20, 100]));      // updates bn.runningMean, bn.runningVar
 * bn.eval(); bn.forward(st.randn([3, 100]));      // uses them
 */
export class BatchNorm1d extends BatchNormNd {
  protected checkInput(x: Tensor): void {
    if ((x.ndim !== 2 && x.ndim !== 3) || x.shape[1] !== this.numFeatures) shapeError(this, `[N, ${this.numFeatures}] or [N, ${this.numFeatures}, L]`, x);
  }
}

/**
 * Batch normalization over [N, C, H, W], per channel (see BatchNorm1d).
 *
 * @example
 * const bn = new st.nn.BatchNorm2d(16);
 * const y = bn.forward(st.randn([8, 16, 10, 10]));
 */
export class BatchNorm2d extends BatchNormNd {
  protected checkInput(x: Tensor): void {
    if (x.ndim !== 4 || x.shape[1] !== this.numFeatures) shapeError(this, `[N, ${this.numFeatures}, H, W]`, x);
  }
}
