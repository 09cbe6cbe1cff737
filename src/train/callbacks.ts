/**
 * Callbacks: code the fit loop calls at the start and end of training, of each epoch and after
 * each batch. Built in: `EarlyStopping` (stops when a monitored value stops improving, and puts
 * the best weights back), `ModelCheckpoint` (every N steps or epochs, keeps the last K, and the
 * best), `JsonLogger` (one JSON object per line). The learning-rate scheduler is stepped by `fit`
 * itself (its `scheduler` option).
 *
 * A callback that has state to carry over a resume implements `stateDict`/`loadStateDict`; its
 * state is written into every checkpoint.
 */
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { ValueError } from "../ir/errors.ts";
import type { Module } from "../nn/module.ts";
import { Tensor } from "../tensor/tensor.ts";
import { type CheckpointState, saveCheckpoint, type Stateful, type StateValue } from "./checkpoint.ts";

/** What a batch reports: the loss of this batch, its size, and the learning rate. */
export interface BatchLogs {
  loss: number;
  batchSize: number;
  lr?: number;
  [key: string]: unknown;
}

/** What an epoch reports: `epoch` (1-based), train loss and metrics, `val*` values, lr, time. */
export interface EpochLogs {
  epoch: number;
  loss: number;
  [key: string]: unknown;
}

/** What callbacks see of the running fit. */
export interface FitContext {
  readonly model: Module;
  readonly optimizer: Stateful;
  readonly scheduler: Stateful | null;
  /** Total epochs of this fit. */
  readonly epochs: number;
  /** The current epoch, 0-based (during onEpochEnd: the epoch just finished). */
  readonly epoch: number;
  /** Optimizer steps taken so far, over the whole run (a resumed run continues the count). */
  readonly step: number;
  /** Batches done in the current epoch. */
  readonly batchInEpoch: number;
  /** Batches per epoch, when the loader knows. */
  readonly stepsPerEpoch: number | undefined;
  /** The epochs finished so far. */
  readonly history: readonly EpochLogs[];
  /** The step and epoch this fit resumed from, or null for a fresh run. */
  readonly resumedFrom: { step: number; epoch: number; path: string } | null;
  /** Set to stop at the end of this epoch. */
  stopTraining: boolean;
  /** Prints a message (above the progress bar). */
  print(msg: string): void;
  /** The complete state to resume this fit (what ModelCheckpoint writes). */
  checkpointState(): CheckpointState;
}

export interface Callback {
  /** Callbacks run in ascending order (default 0); ModelCheckpoint runs last (100) so it saves the others' state. */
  readonly order?: number;
  /** The key of this callback's state in a checkpoint (default: class name and position). */
  readonly stateKey?: string;
  onTrainBegin?(ctx: FitContext): void | Promise<void>;
  onEpochBegin?(ctx: FitContext): void | Promise<void>;
  onBatchEnd?(ctx: FitContext, logs: BatchLogs): void | Promise<void>;
  onEpochEnd?(ctx: FitContext, logs: EpochLogs): void | Promise<void>;
  onTrainEnd?(ctx: FitContext): void | Promise<void>;
  stateDict?(): StateValue;
  loadStateDict?(state: StateValue): void;
}

export type Mode = "min" | "max" | "auto";
/** "auto": max for accuracies, min otherwise. */
const resolveMode = (mode: Mode, monitor: string): "min" | "max" => (mode !== "auto" ? mode : /acc/i.test(monitor) ? "max" : "min");

/** A snapshot of a module's state dict that later steps do not change (and no scope frees). */
function snapshot(model: Module): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [k, t] of Object.entries(model.stateDict())) {
    const s = t.detach();
    s.pinned = true;
    out[k] = s;
  }
  return out;
}
function release(sd: Record<string, Tensor> | null): void {
  if (!sd) return;
  for (const t of Object.values(sd)) {
    t.pinned = false;
    t.dispose();
  }
}

export interface EarlyStoppingOpts {
  /** The logged value to watch (default "valLoss"). */
  monitor?: string;
  mode?: Mode;
  /** Epochs without improvement before stopping (default 5). */
  patience?: number;
  /** The least change that counts as an improvement (default 0). */
  minDelta?: number;
  /** Put the best epoch's weights back when training ends (default true). */
  restoreBestWeights?: boolean;
}

/**
 * Stops training when `monitor` has not improved for `patience` epochs, and (by default) puts
 * the weights of the best epoch back at the end, as Keras's EarlyStopping.
 *
 * @example
 * await st.train.fit(model, { ..., callbacks: [new st.train.EarlyStopping({ monitor: "valLoss", patience: 3 })] });
 */
export class EarlyStopping implements Callback {
  readonly monitor: string;
  readonly mode: "min" | "max";
  readonly patience: number;
  readonly minDelta: number;
  readonly restoreBestWeights: boolean;
  best = NaN;
  bestEpoch = 0;
  wait = 0;
  stoppedEpoch = 0;
  private bestWeights: Record<string, Tensor> | null = null;
  private warned = false;

  constructor(opts: EarlyStoppingOpts = {}) {
    this.monitor = opts.monitor ?? "valLoss";
    this.mode = resolveMode(opts.mode ?? "auto", this.monitor);
    this.patience = opts.patience ?? 5;
    this.minDelta = Math.abs(opts.minDelta ?? 0);
    this.restoreBestWeights = opts.restoreBestWeights ?? true;
  }

  private improved(v: number): boolean {
    if (Number.isNaN(this.best)) return !Number.isNaN(v);
    return this.mode === "min" ? v < this.best - this.minDelta : v > this.best + this.minDelta;
  }

  onEpochEnd(ctx: FitContext, logs: EpochLogs): void {
    const v = logs[this.monitor];
    if (typeof v !== "number") {
      if (!this.warned) ctx.print(`EarlyStopping: '${this.monitor}' is not in the logs (have: ${Object.keys(logs).join(", ")}); not stopping`);
      this.warned = true;
      return;
    }
    if (this.improved(v)) {
      this.best = v;
      this.bestEpoch = logs.epoch;
      this.wait = 0;
      if (this.restoreBestWeights) {
        release(this.bestWeights);
        this.bestWeights = snapshot(ctx.model);
      }
      return;
    }
    this.wait++;
    if (this.wait >= this.patience) {
      ctx.stopTraining = true;
      this.stoppedEpoch = logs.epoch;
      ctx.print(`EarlyStopping: ${this.monitor} has not improved for ${this.wait} epochs (best ${this.best.toPrecision(5)} at epoch ${this.bestEpoch}); stopping`);
    }
  }

  onTrainEnd(ctx: FitContext): void {
    if (this.restoreBestWeights && this.bestWeights && this.bestEpoch !== ctx.history.at(-1)?.epoch) {
      ctx.model.loadStateDict(this.bestWeights);
      ctx.print(`EarlyStopping: restored the weights of epoch ${this.bestEpoch} (${this.monitor} ${this.best.toPrecision(5)})`);
    }
  }

  stateDict(): StateValue {
    return { best: this.best, bestEpoch: this.bestEpoch, wait: this.wait, bestWeights: this.bestWeights };
  }
  loadStateDict(s: StateValue): void {
    const o = s as { best: number; bestEpoch: number; wait: number; bestWeights: Record<string, Tensor> | null };
    this.best = o.best;
    this.bestEpoch = o.bestEpoch;
    this.wait = o.wait;
    release(this.bestWeights);
    this.bestWeights = o.bestWeights;
    if (this.bestWeights) for (const t of Object.values(this.bestWeights)) t.pinned = true;
  }
}

export interface ModelCheckpointOpts {
  /** The folder of the checkpoints (created if missing). */
  dir: string;
  /** Save every this many optimizer steps. */
  everySteps?: number;
  /** Save every this many epochs (default 1 when `everySteps` is not given). */
  everyEpochs?: number;
  /** Keep the last K step/epoch checkpoints, deleting older ones (default 3; 0 keeps all). */
  keepLast?: number;
  /** Also keep `best.safetensors`, the checkpoint where this logged value was best. */
  monitor?: string;
  mode?: Mode;
  /** Save a checkpoint when training ends (default true). */
  saveLast?: boolean;
}

const CKPT = /^ckpt-(\d+)\.safetensors$/;
const ckptName = (step: number) => `ckpt-${String(step).padStart(8, "0")}.safetensors`;

/** The step checkpoints in `dir`, oldest first. */
export function listCheckpoints(dir: string): { step: number; path: string }[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .map((f) => CKPT.exec(f))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ step: Number(m[1]), path: join(dir, m[0]) }))
    .sort((a, b) => a.step - b.step);
}

/** The newest checkpoint in `dir` (by step), or null. */
export function latestCheckpoint(dir: string): string | null {
  return listCheckpoints(dir).at(-1)?.path ?? null;
}

/**
 * Saves checkpoints (weights, optimizer, scheduler, RNG, data position, step and the other
 * callbacks' state) every `everySteps` steps and/or every `everyEpochs` epochs, as
 * `dir/ckpt-<step>.safetensors`, keeping the last `keepLast`; with `monitor`, also
 * `dir/best.safetensors`. `fit({ resume: dir })` continues from the newest.
 *
 * @example
 * new st.train.ModelCheckpoint({ dir: "run/ckpt", everySteps: 100, keepLast: 2 })
 */
export class ModelCheckpoint implements Callback {
  readonly order = 100;
  readonly dir: string;
  readonly everySteps: number | undefined;
  readonly everyEpochs: number | undefined;
  readonly keepLast: number;
  readonly monitor: string | undefined;
  readonly mode: "min" | "max";
  readonly saveLast: boolean;
  best = NaN;
  private lastSavedStep = -1;
  /** Paths written by this callback, newest last. */
  readonly saved: string[] = [];

  constructor(opts: ModelCheckpointOpts) {
    if (!opts?.dir) throw new ValueError("ModelCheckpoint: a dir is required");
    for (const k of ["everySteps", "everyEpochs"] as const) {
      const v = opts[k];
      if (v !== undefined && !(Number.isInteger(v) && v > 0)) throw new ValueError(`ModelCheckpoint: ${k} must be a positive integer, got ${v}`);
    }
    this.dir = opts.dir;
    this.everySteps = opts.everySteps;
    this.everyEpochs = opts.everyEpochs ?? (opts.everySteps ? undefined : 1);
    this.keepLast = opts.keepLast ?? 3;
    this.monitor = opts.monitor;
    this.mode = resolveMode(opts.mode ?? "auto", opts.monitor ?? "");
    this.saveLast = opts.saveLast ?? true;
  }

  onTrainBegin(): void {
    mkdirSync(this.dir, { recursive: true });
  }

  private async save(ctx: FitContext): Promise<void> {
    if (ctx.step === this.lastSavedStep) return;
    const path = join(this.dir, ckptName(ctx.step));
    await saveCheckpoint(path, ctx.checkpointState());
    this.lastSavedStep = ctx.step;
    this.saved.push(path);
    if (this.keepLast > 0) {
      const all = listCheckpoints(this.dir);
      for (const old of all.slice(0, Math.max(0, all.length - this.keepLast))) unlinkSync(old.path);
    }
  }

  async onBatchEnd(ctx: FitContext): Promise<void> {
    if (this.everySteps && ctx.step % this.everySteps === 0) await this.save(ctx);
  }

  async onEpochEnd(ctx: FitContext, logs: EpochLogs): Promise<void> {
    if (this.monitor) {
      const v = logs[this.monitor];
      if (typeof v === "number" && (Number.isNaN(this.best) || (this.mode === "min" ? v < this.best : v > this.best))) {
        this.best = v;
        await saveCheckpoint(join(this.dir, "best.safetensors"), ctx.checkpointState());
      }
    }
    if (this.everyEpochs && logs.epoch % this.everyEpochs === 0) await this.save(ctx);
  }

  async onTrainEnd(ctx: FitContext): Promise<void> {
    if (this.saveLast) await this.save(ctx);
  }

  stateDict(): StateValue {
    return { best: this.best };
  }
  loadStateDict(s: StateValue): void {
    this.best = (s as { best: number }).best;
  }
}

export interface JsonLoggerOpts {
  /** Write a line every this many steps (default 1; 0: epochs only). */
  everySteps?: number;
}

/**
 * Appends one JSON object per line to `path`: `{"event":"batch","step":..,"epoch":..,"loss":..,"lr":..}`
 * every `everySteps` steps and `{"event":"epoch",...the epoch's logs}` after each epoch. On a
 * resumed fit, lines past the resumed step are dropped first, so the log reads as one run.
 */
export class JsonLogger implements Callback {
  private readonly everySteps: number;
  private t0 = 0;
  constructor(
    readonly path: string,
    opts: JsonLoggerOpts = {},
  ) {
    this.everySteps = opts.everySteps ?? 1;
  }

  onTrainBegin(ctx: FitContext): void {
    this.t0 = performance.now();
    mkdirSync(dirname(this.path), { recursive: true });
    if (ctx.resumedFrom && existsSync(this.path)) {
      const keep = readFileSync(this.path, "utf8").split("\n").filter((line) => {
        if (!line.trim()) return false;
        try {
          const o = JSON.parse(line) as { step?: number; event?: string };
          return o.event === "resume" || (o.step ?? 0) <= ctx.step;
        } catch {
          return false;
        }
      });
      writeFileSync(this.path, keep.map((l) => `${l}\n`).join(""));
      this.write({ event: "resume", step: ctx.step, epoch: ctx.epoch, from: ctx.resumedFrom.path });
    } else if (!ctx.resumedFrom) {
      writeFileSync(this.path, "");
    }
  }
  private write(o: Record<string, unknown>): void {
    appendFileSync(this.path, `${JSON.stringify({ ...o, time: Number(((performance.now() - this.t0) / 1000).toFixed(3)) })}\n`);
  }
  onBatchEnd(ctx: FitContext, logs: BatchLogs): void {
    if (this.everySteps && ctx.step % this.everySteps === 0) this.write({ event: "batch", step: ctx.step, epoch: ctx.epoch + 1, ...logs });
  }
  onEpochEnd(ctx: FitContext, logs: EpochLogs): void {
    this.write({ event: "epoch", step: ctx.step, ...logs });
  }
}
