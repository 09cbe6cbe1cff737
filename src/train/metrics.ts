/**
 * Metrics: values accumulated over the batches of an epoch (or an evaluation) and computed at its
 * end. Each metric reads what it needs from the model's output and the targets with one small
 * reduction per batch, so a metric costs one tiny read, not a copy of the outputs.
 */
import { noGrad } from "../autograd/grad-mode.ts";
import { ValueError } from "../ir/errors.ts";
import { scope } from "../tensor/scope.ts";
import type { Tensor } from "../tensor/tensor.ts";

/** A metric: `reset` at the start of an epoch, `update` per batch, `compute` at the end. */
export interface Metric {
  /** The key in logs and history (`accuracy`, `top5Accuracy`, `confusionMatrix`). */
  readonly name: string;
  reset(): void;
  /** Accumulates one batch: `output` is the model's output, `target` the batch's targets. */
  update(output: Tensor, target: Tensor): Promise<void>;
  /** The value over all batches since `reset`: a number, or (confusion matrix) a table. */
  compute(): number | number[][];
  /** The accumulated counts, so that a run resumed mid-epoch reports what an uninterrupted one would. */
  stateDict?(): unknown;
  loadStateDict?(state: never): void;
}

/** Class predictions of `output` ([B, C] scores -> [B]; [B] or [B, 1] probabilities/logits -> threshold). */
function classes(output: Tensor, op: string): Tensor {
  if (output.ndim === 2 && output.shape[1]! > 1) return output.argmax(1);
  if (output.ndim === 1 || (output.ndim === 2 && output.shape[1] === 1)) return output.reshape([-1]).gt(0.5).long();
  throw new ValueError(`${op}: expected outputs of shape [B, C] (class scores) or [B] (binary), got [${output.shape.join(", ")}]`);
}

function checkTarget(op: string, output: Tensor, target: Tensor): void {
  if (target.ndim !== 1 || target.shape[0] !== output.shape[0]) {
    throw new ValueError(`${op}: expected targets of shape [${output.shape[0]}] (class indices), got [${target.shape.join(", ")}]`);
  }
}

/**
 * The fraction of samples whose predicted class (the argmax of the scores, or probability > 0.5
 * for one output) equals the target.
 *
 * @example
 * const acc = st.train.accuracy();
 * await acc.update(st.tensor([[0.1, 0.9], [0.8, 0.2]]), st.tensor([1, 1], { dtype: "int64" }));
 * acc.compute(); // 0.5
 */
export function accuracy(): Metric {
  let correct = 0, total = 0;
  return {
    name: "accuracy",
    reset() { correct = 0; total = 0; },
    async update(output, target) {
      checkTarget("accuracy", output, target);
      correct += await scope(() => noGrad(() => classes(output, "accuracy").eq(target).sum()).item()).then(Number);
      total += target.shape[0]!;
    },
    compute: () => (total ? correct / total : NaN),
    stateDict: () => ({ correct, total }),
    loadStateDict(s: { correct: number; total: number }) { ({ correct, total } = s); },
  };
}

/**
 * The fraction of samples whose target is among the `k` highest scores.
 *
 * @example
 * const top5 = st.train.topKAccuracy(5); // name "top5Accuracy"
 */
export function topKAccuracy(k: number): Metric {
  if (!Number.isInteger(k) || k < 1) throw new ValueError(`topKAccuracy: k must be a positive integer, got ${k}`);
  let correct = 0, total = 0;
  return {
    name: `top${k}Accuracy`,
    reset() { correct = 0; total = 0; },
    async update(output, target) {
      checkTarget("topKAccuracy", output, target);
      if (output.ndim !== 2) throw new ValueError(`topKAccuracy: expected outputs of shape [B, C], got [${output.shape.join(", ")}]`);
      if (k > output.shape[1]!) throw new ValueError(`topKAccuracy: k = ${k} exceeds the ${output.shape[1]} classes`);
      // The target is in the top k when fewer than k scores beat it (ties count for the target).
      correct += await scope(() => noGrad(() => {
        const t = output.gather(1, target.reshape([-1, 1]).long()); // [B, 1]
        return output.gt(t).sum(1).lt(k).sum();
      }).item()).then(Number);
      total += target.shape[0]!;
    },
    compute: () => (total ? correct / total : NaN),
    stateDict: () => ({ correct, total }),
    loadStateDict(s: { correct: number; total: number }) { ({ correct, total } = s); },
  };
}

/**
 * The confusion matrix: `compute()[t][p]` counts samples of true class `t` predicted as `p`.
 *
 * @example
 * const cm = st.train.confusionMatrix(10);
 */
export function confusionMatrix(numClasses: number): Metric & { compute(): number[][] } {
  if (!Number.isInteger(numClasses) || numClasses < 1) throw new ValueError(`confusionMatrix: numClasses must be a positive integer, got ${numClasses}`);
  let counts = new Float64Array(numClasses * numClasses);
  return {
    name: "confusionMatrix",
    reset() { counts = new Float64Array(numClasses * numClasses); },
    async update(output, target) {
      checkTarget("confusionMatrix", output, target);
      // One index per sample, t * C + p, read back as integers.
      const idx = await scope(() => noGrad(() => target.long().mul(numClasses).add(classes(output, "confusionMatrix"))).data());
      for (let i = 0; i < idx.length; i++) {
        const v = Number(idx[i]);
        if (!(v >= 0 && v < counts.length)) throw new ValueError(`confusionMatrix: a class index is outside [0, ${numClasses})`);
        counts[v]!++;
      }
    },
    compute: () => Array.from({ length: numClasses }, (_, t) => Array.from(counts.subarray(t * numClasses, (t + 1) * numClasses))),
    stateDict: () => ({ counts: Array.from(counts) }),
    loadStateDict(s: { counts: number[] }) { counts = Float64Array.from(s.counts); },
  };
}

/** The mean of a value weighted by batch size (the loss). */
export class Mean {
  private sum = 0;
  private count = 0;
  add(value: number, n = 1): void {
    this.sum += value * n;
    this.count += n;
  }
  get value(): number {
    return this.count ? this.sum / this.count : NaN;
  }
  reset(): void {
    this.sum = 0;
    this.count = 0;
  }
  stateDict(): { sum: number; count: number } {
    return { sum: this.sum, count: this.count };
  }
  loadStateDict(s: { sum: number; count: number }): void {
    this.sum = s.sum;
    this.count = s.count;
  }
}

/** Metrics from names or objects: "accuracy", "top5" / "top5Accuracy", "confusionMatrix:10". */
export function resolveMetrics(list: readonly (Metric | string)[] = []): Metric[] {
  return list.map((m) => {
    if (typeof m !== "string") return m;
    if (m === "accuracy" || m === "acc") return accuracy();
    const top = /^top(\d+)(Accuracy)?$/.exec(m);
    if (top) return topKAccuracy(Number(top[1]));
    const cm = /^confusionMatrix:(\d+)$/.exec(m);
    if (cm) return confusionMatrix(Number(cm[1]));
    throw new ValueError(`metrics: unknown metric '${m}' (known: accuracy, topK e.g. top5, confusionMatrix:<classes>)`);
  });
}
