/**
 * Learning-rate schedulers, as `torch.optim.lr_scheduler`: each sets `lr` in the optimizer's
 * parameter groups when `step()` is called (once per epoch, or per batch for OneCycleLR), with
 * PyTorch's recursive ("chainable") formulas, so the values equal PyTorch's. The optimizer turns
 * `lr` into a 0-d buffer at its next step, so a changing learning rate compiles nothing new.
 *
 * Call `opt.step()` before `scheduler.step()`, as in PyTorch.
 */
import { ValueError } from "../ir/errors.ts";
import { Tensor } from "../tensor/tensor.ts";
import type { Optimizer, ParamGroup } from "./optimizer.ts";

type AnyOptimizer = Optimizer<ParamGroup>;

/** A scheduler's state: its own fields (numbers, arrays, plain objects), without the optimizer. */
export type SchedulerStateDict = Record<string, unknown>;

/**
 * The base of the epoch-driven schedulers. Subclasses give the chainable rule (`getLr`) and,
 * where PyTorch has one, the closed form (used by `step(epoch)`).
 */
export abstract class LRScheduler {
  readonly optimizer: AnyOptimizer;
  /** Each group's `initialLr`, the learning rate the schedule starts from. */
  baseLrs: number[];
  /** The number of `step()` calls since the start (-1 before the constructor's first step). */
  lastEpoch: number;
  /** @internal */
  _stepCount = 0;
  /** @internal */
  _lastLr: number[] = [];

  constructor(optimizer: AnyOptimizer, lastEpoch = -1) {
    this.optimizer = optimizer;
    optimizer.paramGroups.forEach((g, i) => {
      if (lastEpoch === -1) g.initialLr ??= g.lr;
      else if (g.initialLr === undefined) throw new ValueError(`${new.target.name}: param 'initialLr' is not specified in paramGroups[${i}] when resuming an optimizer`);
    });
    this.baseLrs = optimizer.paramGroups.map((g) => g.initialLr as number);
    this.lastEpoch = lastEpoch;
  }

  /** @internal Resets the step count and takes the first step (subclass constructors end with it). */
  _initialStep(): void {
    this._stepCount = 0;
    this.step();
  }

  /** The learning rates of the next epoch, from the current ones (PyTorch's chainable `get_lr`). */
  protected abstract getLr(): number[];
  /** The learning rates at `lastEpoch` from the base ones, where a closed form exists. */
  protected closedFormLr?(): number[];

  /**
   * Advances the schedule by one epoch and sets each group's `lr`. (With `epoch`, jumps there and
   * uses the closed form where there is one: PyTorch's deprecated form, which SequentialLR uses.)
   */
  step(epoch?: number): void {
    this._stepCount++;
    let values: number[];
    if (epoch === undefined) {
      this.lastEpoch++;
      values = this.getLr();
    } else {
      this.lastEpoch = epoch;
      values = this.closedFormLr ? this.closedFormLr() : this.getLr();
    }
    this.optimizer.paramGroups.forEach((g, i) => (g.lr = values[i]!));
    this._lastLr = this.optimizer.paramGroups.map((g) => g.lr);
  }

  /** The learning rates the last `step()` set, one per group. */
  getLastLr(): number[] {
    return [...this._lastLr];
  }

  /** The scheduler's fields (not the optimizer), as PyTorch's `state_dict`. */
  stateDict(): SchedulerStateDict {
    const out: SchedulerStateDict = {};
    for (const [k, v] of Object.entries(this)) if (k !== "optimizer") out[k] = structuredClone(v);
    return out;
  }

  loadStateDict(sd: SchedulerStateDict): void {
    for (const [k, v] of Object.entries(sd)) if (k !== "optimizer") (this as unknown as Record<string, unknown>)[k] = structuredClone(v);
  }

  /** @internal The current learning rates. */
  protected get lrs(): number[] {
    return this.optimizer.paramGroups.map((g) => g.lr);
  }
}

/**
 * Multiplies the learning rate by `gamma` every `stepSize` epochs.
 *
 * @example
 * const opt = new st.optim.SGD([st.zeros([2]).requiresGrad_()], { lr: 0.05 });
 * const sched = new st.optim.StepLR(opt, 30, { gamma: 0.1 }); // lr 0.05 for epochs 0-29, 0.005 for 30-59, ...
 * for (let epoch = 0; epoch < 30; epoch++) sched.step();    // after each epoch's training
 * console.log(sched.getLastLr());                           // [0.005]
 */
export class StepLR extends LRScheduler {
  gamma: number;
  constructor(optimizer: AnyOptimizer, public stepSize: number, opts: { gamma?: number; lastEpoch?: number } = {}) {
    super(optimizer, opts.lastEpoch);
    this.gamma = opts.gamma ?? 0.1;
    this._initialStep();
  }
  protected getLr(): number[] {
    if (this.lastEpoch === 0 || this.lastEpoch % this.stepSize !== 0) return this.lrs;
    return this.lrs.map((lr) => lr * this.gamma);
  }
  protected override closedFormLr(): number[] {
    return this.baseLrs.map((b) => b * this.gamma ** Math.floor(this.lastEpoch / this.stepSize));
  }
}

/**
 * Multiplies the learning rate by `gamma` at each milestone epoch (a milestone listed twice
 * multiplies by gamma²).
 *
 * @example
 * const opt = new st.optim.SGD([st.zeros([2]).requiresGrad_()], { lr: 0.05 });
 * const sched = new st.optim.MultiStepLR(opt, [30, 80], { gamma: 0.1 });
 * for (let epoch = 0; epoch < 80; epoch++) sched.step();
 * console.log(sched.getLastLr());  // [0.0005]
 */
export class MultiStepLR extends LRScheduler {
  gamma: number;
  /** Milestone epoch -> how many times it was given. */
  milestones: Record<number, number> = {};
  constructor(optimizer: AnyOptimizer, milestones: readonly number[], opts: { gamma?: number; lastEpoch?: number } = {}) {
    super(optimizer, opts.lastEpoch);
    for (const m of milestones) this.milestones[m] = (this.milestones[m] ?? 0) + 1;
    this.gamma = opts.gamma ?? 0.1;
    this._initialStep();
  }
  protected getLr(): number[] {
    const n = this.milestones[this.lastEpoch];
    if (!n) return this.lrs;
    return this.lrs.map((lr) => lr * this.gamma ** n);
  }
  protected override closedFormLr(): number[] {
    let passed = 0;
    for (const [m, n] of Object.entries(this.milestones)) if (Number(m) <= this.lastEpoch) passed += n;
    return this.baseLrs.map((b) => b * this.gamma ** passed);
  }
}

/**
 * Multiplies the learning rate by `gamma` every epoch.
 *
 * @example
 * const opt = new st.optim.SGD([st.zeros([2]).requiresGrad_()], { lr: 0.1 });
 * const sched = new st.optim.ExponentialLR(opt, 0.5);
 * sched.step();
 * sched.step();
 * console.log(sched.getLastLr());  // [0.025]
 */
export class ExponentialLR extends LRScheduler {
  constructor(optimizer: AnyOptimizer, public gamma: number, opts: { lastEpoch?: number } = {}) {
    super(optimizer, opts.lastEpoch);
    this._initialStep();
  }
  protected getLr(): number[] {
    if (this.lastEpoch === 0) return this.lrs;
    return this.lrs.map((lr) => lr * this.gamma);
  }
  protected override closedFormLr(): number[] {
    return this.baseLrs.map((b) => b * this.gamma ** this.lastEpoch);
  }
}

/**
 * Cosine annealing from the initial lr down to `etaMin` over `tMax` epochs (and back up over the
 * next `tMax`, as PyTorch's, which has no restarts):
 * `lr_t = etaMin + (lr0 - etaMin) (1 + cos(pi t / tMax)) / 2`, computed recursively as in PyTorch.
 *
 * @example
 * const opt = new st.optim.SGD([st.zeros([2]).requiresGrad_()], { lr: 0.1 });
 * const sched = new st.optim.CosineAnnealingLR(opt, 10, { etaMin: 0.001 });
 * for (let epoch = 0; epoch < 5; epoch++) sched.step();
 * console.log(sched.getLastLr());  // [0.0505]: halfway, (0.1 + 0.001) / 2
 */
export class CosineAnnealingLR extends LRScheduler {
  etaMin: number;
  constructor(optimizer: AnyOptimizer, public tMax: number, opts: { etaMin?: number; lastEpoch?: number } = {}) {
    super(optimizer, opts.lastEpoch);
    this.etaMin = opts.etaMin ?? 0;
    this._initialStep();
  }
  protected getLr(): number[] {
    const { lastEpoch: e, tMax: T, etaMin } = this;
    if (e === 0) return this.lrs;
    if (this._stepCount === 1 && e > 0) return this.baseLrs.map((b) => etaMin + ((b - etaMin) * (1 + Math.cos((e * Math.PI) / T))) / 2);
    if ((((e - 1 - T) % (2 * T)) + 2 * T) % (2 * T) === 0) {
      return this.lrs.map((lr, i) => lr + ((this.baseLrs[i]! - etaMin) * (1 - Math.cos(Math.PI / T))) / 2);
    }
    return this.lrs.map((lr) => ((1 + Math.cos((Math.PI * e) / T)) / (1 + Math.cos((Math.PI * (e - 1)) / T))) * (lr - etaMin) + etaMin);
  }
  protected override closedFormLr(): number[] {
    return this.baseLrs.map((b) => this.etaMin + ((b - this.etaMin) * (1 + Math.cos((Math.PI * this.lastEpoch) / this.tMax))) / 2);
  }
}

/**
 * Scales the learning rate by a factor going linearly from `startFactor` to `endFactor` over
 * `totalIters` epochs (a warm-up, with the defaults 1/3 -> 1 over 5).
 *
 * @example
 * const opt = new st.optim.SGD([st.zeros([2]).requiresGrad_()], { lr: 0.1 });
 * const warmup = new st.optim.LinearLR(opt, { startFactor: 0.1, totalIters: 10 });
 * console.log(warmup.getLastLr());  // [0.01]
 * for (let epoch = 0; epoch < 10; epoch++) warmup.step();
 * console.log(warmup.getLastLr());  // [0.1]
 */
export class LinearLR extends LRScheduler {
  startFactor: number;
  endFactor: number;
  totalIters: number;
  constructor(optimizer: AnyOptimizer, opts: { startFactor?: number; endFactor?: number; totalIters?: number; lastEpoch?: number } = {}) {
    super(optimizer, opts.lastEpoch);
    this.startFactor = opts.startFactor ?? 1 / 3;
    this.endFactor = opts.endFactor ?? 1;
    this.totalIters = opts.totalIters ?? 5;
    if (!(this.startFactor > 0 && this.startFactor <= 1)) throw new ValueError(`LinearLR: startFactor expected to be in (0, 1], got ${this.startFactor}`);
    if (!(this.endFactor >= 0 && this.endFactor <= 1)) throw new ValueError(`LinearLR: endFactor expected to be in [0, 1], got ${this.endFactor}`);
    this._initialStep();
  }
  protected getLr(): number[] {
    const { lastEpoch: e, startFactor: s, endFactor: f, totalIters: n } = this;
    if (e === 0) return this.lrs.map((lr) => lr * s);
    if (e > n) return this.lrs;
    return this.lrs.map((lr) => lr * (1 + (f - s) / (n * s + (e - 1) * (f - s))));
  }
  protected override closedFormLr(): number[] {
    const { startFactor: s, endFactor: f, totalIters: n } = this;
    return this.baseLrs.map((b) => b * (s + ((f - s) * Math.min(n, this.lastEpoch)) / n));
  }
}

/**
 * Runs schedulers one after another: `schedulers[i]` from `milestones[i - 1]` on (each then
 * starts from the base learning rate, as in PyTorch).
 *
 * @example
 * const opt = new st.optim.SGD([st.zeros([2]).requiresGrad_()], { lr: 0.1 });
 * const warmup = new st.optim.LinearLR(opt, { startFactor: 0.1, totalIters: 5 });
 * const decay = new st.optim.CosineAnnealingLR(opt, 95);
 * const sched = new st.optim.SequentialLR(opt, [warmup, decay], [5]);
 * for (let epoch = 0; epoch < 5; epoch++) sched.step();
 * console.log(sched.getLastLr());  // [0.1]: warm-up done, the cosine decay starts
 */
export class SequentialLR extends LRScheduler {
  _schedulers: LRScheduler[];
  _milestones: number[];
  constructor(optimizer: AnyOptimizer, schedulers: LRScheduler[], milestones: readonly number[], opts: { lastEpoch?: number } = {}) {
    super(optimizer, -1);
    schedulers.forEach((s, i) => {
      if (s.optimizer !== optimizer) throw new ValueError(`SequentialLR: expects all schedulers to belong to the same optimizer, but the scheduler at index ${i} has another one`);
    });
    if (milestones.length !== schedulers.length - 1) {
      throw new ValueError(`SequentialLR: expects the number of schedulers to be one more than the number of milestones, got ${schedulers.length} schedulers and ${milestones.length} milestones`);
    }
    this._schedulers = schedulers;
    this._milestones = [...milestones];
    this.lastEpoch = (opts.lastEpoch ?? -1) + 1;
    // Back to the initial learning rates; undo the first step the schedulers took; restart the first.
    for (const g of optimizer.paramGroups) g.lr = g.initialLr as number;
    for (const s of schedulers) s.lastEpoch -= 1;
    schedulers[0]!._initialStep();
    this._lastLr = schedulers[0]!.getLastLr();
  }
  protected getLr(): number[] {
    return this.lrs;
  }
  override step(): void {
    this.lastEpoch++;
    let idx = 0;
    while (idx < this._milestones.length && this._milestones[idx]! <= this.lastEpoch) idx++;
    const s = this._schedulers[idx]!;
    if (idx > 0 && this._milestones[idx - 1] === this.lastEpoch) s.step(0);
    else s.step();
    this._lastLr = s.getLastLr();
  }
  override stateDict(): SchedulerStateDict {
    const out: SchedulerStateDict = {};
    for (const [k, v] of Object.entries(this)) if (k !== "optimizer" && k !== "_schedulers") out[k] = structuredClone(v);
    out._schedulers = this._schedulers.map((s) => s.stateDict());
    return out;
  }
  override loadStateDict(sd: SchedulerStateDict): void {
    const { _schedulers, ...rest } = sd;
    super.loadStateDict(rest);
    (_schedulers as SchedulerStateDict[]).forEach((s, i) => this._schedulers[i]!.loadStateDict(s));
  }
}

export interface OneCycleLROptions {
  /** The number of steps in the cycle; or give `epochs` and `stepsPerEpoch`. */
  totalSteps?: number;
  epochs?: number;
  stepsPerEpoch?: number;
  /** The fraction of the cycle spent increasing the learning rate. Default 0.3. */
  pctStart?: number;
  /** "cos" (default) or "linear". */
  annealStrategy?: "cos" | "linear";
  /** Cycle the momentum (SGD, RMSprop) or beta1 (Adam) inversely to the lr. Default true. */
  cycleMomentum?: boolean;
  /** The momentum at the peak lr (one number, or one per group). Default 0.85. */
  baseMomentum?: number | number[];
  /** The momentum at the start and end. Default 0.95. */
  maxMomentum?: number | number[];
  /** initial lr = maxLr / divFactor. Default 25. */
  divFactor?: number;
  /** minimum lr = initial lr / finalDivFactor. Default 1e4. */
  finalDivFactor?: number;
  /** Three phases (up, down to the initial lr, down to the minimum) instead of two. Default false. */
  threePhase?: boolean;
  lastEpoch?: number;
}

interface Phase {
  endStep: number;
  startLr: string;
  endLr: string;
  startMomentum: string;
  endMomentum: string;
}

/**
 * The 1cycle policy: the learning rate rises from `maxLr / divFactor` to `maxLr`, then anneals to
 * `maxLr / divFactor / finalDivFactor`, while the momentum moves the opposite way (PyTorch's
 * defaults: cosine annealing, two phases). Step it after every batch.
 *
 * @example
 * const opt = new st.optim.SGD([st.zeros([2]).requiresGrad_()], { lr: 0.1, momentum: 0.9 });
 * const sched = new st.optim.OneCycleLR(opt, 0.1, { totalSteps: 100 });
 * console.log(sched.getLastLr());          // [0.004]: maxLr / divFactor
 * for (let i = 0; i < 29; i++) sched.step(); // per batch, after opt.step()
 * console.log(sched.getLastLr());          // [0.1]: the peak, at 30% of the steps
 * console.log(opt.paramGroups[0].momentum); // 0.85: momentum moves the other way
 */
export class OneCycleLR extends LRScheduler {
  totalSteps: number;
  annealStrategy: "cos" | "linear";
  cycleMomentum: boolean;
  useBeta1: boolean;
  _schedulePhases: Phase[];

  constructor(optimizer: AnyOptimizer, maxLr: number | number[], opts: OneCycleLROptions = {}) {
    const lastEpoch = opts.lastEpoch ?? -1;
    const groups = optimizer.paramGroups;
    const perGroup = (name: string, v: number | number[]): number[] => {
      if (!Array.isArray(v)) return groups.map(() => v);
      if (v.length !== groups.length) throw new ValueError(`OneCycleLR: expected ${groups.length} values for ${name}, got ${v.length}`);
      return v;
    };
    let total: number;
    if (opts.totalSteps !== undefined) {
      if (!(opts.totalSteps > 0) || !Number.isInteger(opts.totalSteps)) throw new ValueError(`OneCycleLR: expected a positive integer totalSteps, got ${opts.totalSteps}`);
      total = opts.totalSteps;
    } else if (opts.epochs !== undefined && opts.stepsPerEpoch !== undefined) {
      if (!(opts.epochs > 0) || !Number.isInteger(opts.epochs)) throw new ValueError(`OneCycleLR: expected a positive integer epochs, got ${opts.epochs}`);
      if (!(opts.stepsPerEpoch > 0) || !Number.isInteger(opts.stepsPerEpoch)) throw new ValueError(`OneCycleLR: expected a positive integer stepsPerEpoch, got ${opts.stepsPerEpoch}`);
      total = opts.epochs * opts.stepsPerEpoch;
    } else {
      throw new ValueError("OneCycleLR: you must define either totalSteps OR (epochs AND stepsPerEpoch)");
    }
    const pct = opts.pctStart ?? 0.3;
    if (!(pct >= 0 && pct <= 1)) throw new ValueError(`OneCycleLR: expected a pctStart between 0 and 1, got ${pct}`);
    const anneal = opts.annealStrategy ?? "cos";
    if (anneal !== "cos" && anneal !== "linear") throw new ValueError(`OneCycleLR: annealStrategy must be one of 'cos' or 'linear', got ${String(anneal)}`);
    const phases: Phase[] = opts.threePhase
      ? [
        { endStep: pct * total - 1, startLr: "initialLr", endLr: "maxLr", startMomentum: "maxMomentum", endMomentum: "baseMomentum" },
        { endStep: 2 * pct * total - 2, startLr: "maxLr", endLr: "initialLr", startMomentum: "baseMomentum", endMomentum: "maxMomentum" },
        { endStep: total - 1, startLr: "initialLr", endLr: "minLr", startMomentum: "maxMomentum", endMomentum: "maxMomentum" },
      ]
      : [
        { endStep: pct * total - 1, startLr: "initialLr", endLr: "maxLr", startMomentum: "maxMomentum", endMomentum: "baseMomentum" },
        { endStep: total - 1, startLr: "maxLr", endLr: "minLr", startMomentum: "baseMomentum", endMomentum: "maxMomentum" },
      ];
    const maxLrs = perGroup("maxLr", maxLr);
    const divFactor = opts.divFactor ?? 25, finalDivFactor = opts.finalDivFactor ?? 1e4;
    if (lastEpoch === -1) {
      groups.forEach((g, i) => {
        g.initialLr = maxLrs[i]! / divFactor;
        g.maxLr = maxLrs[i]!;
        g.minLr = (g.initialLr as number) / finalDivFactor;
      });
    }
    const cycle = opts.cycleMomentum ?? true;
    const useBeta1 = "betas" in optimizer.defaults;
    if (cycle) {
      if (!("momentum" in optimizer.defaults) && !useBeta1) throw new ValueError("OneCycleLR: optimizer must support momentum with the cycleMomentum option enabled");
      const maxM = perGroup("maxMomentum", opts.maxMomentum ?? 0.95), baseM = perGroup("baseMomentum", opts.baseMomentum ?? 0.85);
      if (lastEpoch === -1) {
        groups.forEach((g, i) => {
          if (useBeta1) g.betas = [maxM[i]!, ...(g.betas as number[]).slice(1)];
          else g.momentum = maxM[i]!;
          g.maxMomentum = maxM[i]!;
          g.baseMomentum = baseM[i]!;
        });
      }
    }
    super(optimizer, lastEpoch);
    this.totalSteps = total;
    this._schedulePhases = phases;
    this.annealStrategy = anneal;
    this.cycleMomentum = cycle;
    this.useBeta1 = useBeta1;
    this._initialStep();
  }

  private anneal(start: number, end: number, pct: number): number {
    if (this.annealStrategy === "linear") return (end - start) * pct + start;
    return end + ((start - end) / 2) * (Math.cos(Math.PI * pct) + 1);
  }

  protected getLr(): number[] {
    const step = this.lastEpoch;
    if (step > this.totalSteps) throw new ValueError(`OneCycleLR: tried to step ${step + 1} times; the specified number of total steps is ${this.totalSteps}`);
    return this.optimizer.paramGroups.map((g) => {
      let start = 0, lr = 0, momentum = 0;
      const phases = this._schedulePhases;
      for (let i = 0; i < phases.length; i++) {
        const ph = phases[i]!;
        if (step <= ph.endStep || i === phases.length - 1) {
          const pct = (step - start) / (ph.endStep - start);
          lr = this.anneal(g[ph.startLr] as number, g[ph.endLr] as number, pct);
          if (this.cycleMomentum) momentum = this.anneal(g[ph.startMomentum] as number, g[ph.endMomentum] as number, pct);
          break;
        }
        start = ph.endStep;
      }
      if (this.cycleMomentum) {
        if (this.useBeta1) g.betas = [momentum, ...(g.betas as number[]).slice(1)];
        else g.momentum = momentum;
      }
      return lr;
    });
  }
}

export interface ReduceLROnPlateauOptions {
  /** "min": reduce when the metric stops decreasing (default); "max": stops increasing. */
  mode?: "min" | "max";
  /** new lr = lr * factor. Default 0.1. */
  factor?: number;
  /** Epochs without improvement to tolerate before reducing. Default 10. */
  patience?: number;
  /** How much better counts as an improvement. Default 1e-4. */
  threshold?: number;
  /** "rel" (default): better than best * (1 ∓ threshold); "abs": best ∓ threshold. */
  thresholdMode?: "rel" | "abs";
  /** Epochs to wait after a reduction before counting bad epochs again. Default 0. */
  cooldown?: number;
  /** Lower bound of the lr (one number, or one per group). Default 0. */
  minLr?: number | number[];
  /** Reductions smaller than this are skipped. Default 1e-8. */
  eps?: number;
}

/**
 * Reduces the learning rate by `factor` when a metric (a validation loss, say) has not improved
 * for `patience` epochs. `step(metric)` takes the metric (a number, or a one-element tensor on a
 * CPU device).
 *
 * @example
 * const opt = new st.optim.SGD([st.zeros([2]).requiresGrad_()], { lr: 0.1 });
 * const sched = new st.optim.ReduceLROnPlateau(opt, { patience: 2 });
 * for (const valLoss of [1.0, 0.8, 0.8, 0.8, 0.8]) sched.step(valLoss); // once per epoch
 * console.log(sched.getLastLr());  // [0.01]: the third epoch without improvement reduced it
 */
export class ReduceLROnPlateau {
  readonly optimizer: AnyOptimizer;
  mode: "min" | "max";
  factor: number;
  patience: number;
  threshold: number;
  thresholdMode: "rel" | "abs";
  cooldown: number;
  minLrs: number[];
  eps: number;
  best: number;
  numBadEpochs = 0;
  cooldownCounter = 0;
  lastEpoch = 0;
  _lastLr: number[];

  constructor(optimizer: AnyOptimizer, opts: ReduceLROnPlateauOptions = {}) {
    this.optimizer = optimizer;
    this.factor = opts.factor ?? 0.1;
    if (this.factor >= 1) throw new ValueError("ReduceLROnPlateau: factor should be < 1.0");
    const n = optimizer.paramGroups.length;
    const minLr = opts.minLr ?? 0;
    if (Array.isArray(minLr) && minLr.length !== n) throw new ValueError(`ReduceLROnPlateau: expected ${n} minLrs, got ${minLr.length}`);
    this.minLrs = Array.isArray(minLr) ? [...minLr] : Array.from({ length: n }, () => minLr);
    this.patience = opts.patience ?? 10;
    this.cooldown = opts.cooldown ?? 0;
    this.mode = opts.mode ?? "min";
    this.threshold = opts.threshold ?? 1e-4;
    this.thresholdMode = opts.thresholdMode ?? "rel";
    if (this.mode !== "min" && this.mode !== "max") throw new ValueError(`ReduceLROnPlateau: mode ${String(this.mode)} is unknown`);
    if (this.thresholdMode !== "rel" && this.thresholdMode !== "abs") throw new ValueError(`ReduceLROnPlateau: threshold mode ${String(this.thresholdMode)} is unknown`);
    this.eps = opts.eps ?? 1e-8;
    this.best = this.modeWorse;
    this._lastLr = optimizer.paramGroups.map((g) => g.lr);
  }

  private get modeWorse(): number {
    return this.mode === "min" ? Infinity : -Infinity;
  }

  /** Records one epoch's metric, and reduces the learning rates after `patience` bad epochs. */
  step(metric: number | Tensor): void {
    const current = metric instanceof Tensor ? Number(metric.itemSync()) : metric;
    this.lastEpoch++;
    if (this.isBetter(current, this.best)) {
      this.best = current;
      this.numBadEpochs = 0;
    } else {
      this.numBadEpochs++;
    }
    if (this.cooldownCounter > 0) {
      this.cooldownCounter--;
      this.numBadEpochs = 0;
    }
    if (this.numBadEpochs > this.patience) {
      this.optimizer.paramGroups.forEach((g, i) => {
        const newLr = Math.max(g.lr * this.factor, this.minLrs[i]!);
        if (g.lr - newLr > this.eps) g.lr = newLr;
      });
      this.cooldownCounter = this.cooldown;
      this.numBadEpochs = 0;
    }
    this._lastLr = this.optimizer.paramGroups.map((g) => g.lr);
  }

  private isBetter(a: number, best: number): boolean {
    if (this.mode === "min") return this.thresholdMode === "rel" ? a < best * (1 - this.threshold) : a < best - this.threshold;
    return this.thresholdMode === "rel" ? a > best * (this.threshold + 1) : a > best + this.threshold;
  }

  getLastLr(): number[] {
    return [...this._lastLr];
  }

  stateDict(): SchedulerStateDict {
    const out: SchedulerStateDict = {};
    for (const [k, v] of Object.entries(this)) if (k !== "optimizer") out[k] = structuredClone(v);
    return out;
  }

  loadStateDict(sd: SchedulerStateDict): void {
    for (const [k, v] of Object.entries(sd)) if (k !== "optimizer") (this as unknown as Record<string, unknown>)[k] = structuredClone(v);
  }
}
