/**
 * The training loop: `fit` (epochs of forward, loss, zeroGrad, backward, optimizer step, with
 * metrics, validation, a learning-rate scheduler, callbacks, a progress bar, checkpoints and
 * exact resume), `evaluate` and `predict`.
 */
import { statSync } from "node:fs";
import { noGrad } from "../autograd/grad-mode.ts";
import { ValueError } from "../ir/errors.ts";
import * as F from "../nn/functional.ts";
import type { Module } from "../nn/module.ts";
import { cat } from "../tensor/movement.ts";
import { jit } from "../tensor/jit.ts";
import { getRngState, manualSeed, type RngState, setRngState } from "../tensor/random.ts";
import { addToScope, isPlainObject, scope, withScopeList } from "../tensor/scope.ts";
import { Tensor } from "../tensor/tensor.ts";
import { type BatchLogs, type Callback, type EpochLogs, type FitContext, latestCheckpoint } from "./callbacks.ts";
import { type CheckpointState, isStateful, loadCheckpoint, type Stateful, type StateValue } from "./checkpoint.ts";
import { Mean, type Metric, resolveMetrics } from "./metrics.ts";
import { formatDuration, formatValue, ProgressBar, type ProgressMode, type ProgressStream } from "./progress.ts";

/** A batch: `[x, y]` (or `[x]`), `{ x, y }`, `{ input, target }`, or a lone input tensor. */
export type Batch = Tensor | readonly Tensor[] | { x: Tensor; y?: Tensor } | { input: Tensor; target?: Tensor };

/** Batches to train on, evaluate or predict: a DataLoader, an array of batches, any (async) iterable. */
export type DataSource = Iterable<Batch> | AsyncIterable<Batch>;

/** A loss: a function of (output, target), or the name of one of `st.nn.functional`'s losses. */
export type LossSpec = ((output: Tensor, target: Tensor) => Tensor) | "crossEntropy" | "nllLoss" | "mseLoss" | "l1Loss" | "binaryCrossEntropy" | "binaryCrossEntropyWithLogits";

/** What `fit` needs of an optimizer (every `st.optim` optimizer). */
export interface OptimizerLike extends Stateful {
  zeroGrad(): void;
  step(): unknown;
  paramGroups?: readonly { lr: number }[];
}

/** What `fit` needs of a learning-rate scheduler (every `st.optim.lrScheduler` one). */
export interface SchedulerLike extends Stateful {
  /** `step()`, or `step(metric)` for ReduceLROnPlateau. */
  step(...args: never[]): unknown;
}

export interface SchedulerSpec {
  scheduler: SchedulerLike;
  /** Step after every optimizer step ("step") or after every epoch ("epoch", the default). */
  interval?: "epoch" | "step";
  /**
   * The logged value given to `step(value)` (ReduceLROnPlateau); default "valLoss" (or "loss"
   * without validation data) for a ReduceLROnPlateau, none for others.
   */
  monitor?: string;
}

export interface FitOptions {
  /** The training batches, iterated once per epoch. */
  data: DataSource;
  /** Validation batches, evaluated after each epoch (logged as `valLoss`, `valAccuracy`, ...). */
  valData?: DataSource | null;
  loss: LossSpec;
  optimizer: OptimizerLike;
  epochs: number;
  /** Metrics, as objects or names ("accuracy", "top5", "confusionMatrix:10"). */
  metrics?: readonly (Metric | string)[];
  callbacks?: readonly Callback[];
  /** A scheduler stepped once per epoch, or `{ scheduler, interval, monitor }`. */
  scheduler?: SchedulerLike | SchedulerSpec | null;
  /** Batches are moved to this device when they are elsewhere. */
  device?: string;
  /** Progress display: true/"auto" (a bar on a terminal, lines otherwise), "bar", "lines", false/"none". */
  log?: boolean | "auto" | ProgressMode;
  /** Where the progress display writes (default process.stderr). */
  logStream?: ProgressStream;
  /** Seeds Strata's generator before training (not when resuming: the checkpoint's state is restored). */
  seed?: number;
  /** Continue from a checkpoint file, or from the newest checkpoint in a folder (none there: start fresh). */
  resume?: string | null;
  /** At most this many batches per epoch. */
  stepsPerEpoch?: number;
  /**
   * Run each step (forward, loss, zeroGrad, backward, optimizer step) through `st.jit`: traced
   * once per batch shape, then replayed without its JavaScript. Results are the same; the loss
   * function must not read values (`item()`, `data()`). Default false.
   */
  jit?: boolean;
}

/** The result of `fit`. */
export interface FitResult {
  /** One entry per epoch: `epoch` (1-based), `loss`, metrics, `val*`, `lr`, `time`, `samplesPerSec`. */
  history: EpochLogs[];
  /** Optimizer steps taken in all (including those before a resume). */
  step: number;
  /** Epochs completed. */
  epochs: number;
  /** True when a callback stopped training early. */
  stopped: boolean;
  /** Training time of this call in seconds. */
  seconds: number;
}

const LOSSES: Record<Exclude<LossSpec, (...a: never[]) => unknown>, (o: Tensor, t: Tensor) => Tensor> = {
  crossEntropy: (o, t) => F.crossEntropy(o, t),
  nllLoss: (o, t) => F.nllLoss(o, t),
  mseLoss: (o, t) => F.mseLoss(o, t),
  l1Loss: (o, t) => F.l1Loss(o, t),
  binaryCrossEntropy: (o, t) => F.binaryCrossEntropy(o, t),
  binaryCrossEntropyWithLogits: (o, t) => F.binaryCrossEntropyWithLogits(o, t),
};

function lossFn(spec: LossSpec): (o: Tensor, t: Tensor) => Tensor {
  if (typeof spec === "function") return spec;
  const f = LOSSES[spec];
  if (!f) throw new ValueError(`fit: unknown loss '${String(spec)}' (known: ${Object.keys(LOSSES).join(", ")}, or a function)`);
  return f;
}

/** The input and (optional) target of a batch, moved to `device`. */
export function splitBatch(b: Batch, device?: string): { x: Tensor; y: Tensor | null } {
  const move = (t: Tensor) => (device && t.device !== device ? t.to(device) : t);
  if (b instanceof Tensor) return { x: move(b), y: null };
  if (Array.isArray(b)) {
    if (!(b[0] instanceof Tensor)) throw new ValueError("fit: a batch array must start with the input tensor");
    return { x: move(b[0]), y: b[1] instanceof Tensor ? move(b[1]) : null };
  }
  const o = b as Record<string, unknown>;
  const x = o.x ?? o.input, y = o.y ?? o.target;
  if (!(x instanceof Tensor)) throw new ValueError("fit: a batch must be a tensor, [x, y], { x, y } or { input, target }");
  return { x: move(x), y: y instanceof Tensor ? move(y) : null };
}

/** Batches per pass, when the source knows (`length`, `len()`, or an array). */
export function batchCount(data: DataSource): number | undefined {
  const d = data as { length?: unknown; len?: unknown };
  if (typeof d.length === "number") return d.length;
  if (typeof d.len === "function") {
    const n = (d.len as () => unknown).call(data);
    if (typeof n === "number") return n;
  }
  return undefined;
}

type BatchIterator = { next(): IteratorResult<Batch> | Promise<IteratorResult<Batch>>; return?(): unknown };

function tensorsOf(v: unknown, out = new Set<Tensor>(), depth = 0): Set<Tensor> {
  if (v instanceof Tensor) out.add(v);
  else if (Array.isArray(v) && depth < 4) for (const x of v) tensorsOf(x, out, depth + 1);
  else if (isPlainObject(v) && depth < 4) for (const x of Object.values(v)) tensorsOf(x, out, depth + 1);
  return out;
}

/**
 * The next batch. What the source creates while it is called belongs to no scope of ours (a
 * generator may create a tensor it keeps for later batches), except the batch's own new tensors,
 * which join the caller's scope and are freed with the step.
 */
async function pull(it: BatchIterator): Promise<IteratorResult<Batch>> {
  const made: Tensor[] = [];
  const r = await withScopeList(made, () => it.next());
  if (!r.done && made.length) {
    const inBatch = tensorsOf(r.value);
    for (const t of made) if (inBatch.has(t)) addToScope(t);
  }
  return r;
}
function iterate(data: DataSource): BatchIterator {
  const a = (data as AsyncIterable<Batch>)[Symbol.asyncIterator];
  if (typeof a === "function") return a.call(data) as BatchIterator;
  const s = (data as Iterable<Batch>)[Symbol.iterator];
  if (typeof s === "function") return s.call(data) as BatchIterator;
  throw new ValueError("fit: data must be iterable (a DataLoader, an array of batches, a generator)");
}

const forwardOf = (model: Module) => (x: Tensor): Tensor => (model as unknown as { forward(x: Tensor): Tensor }).forward(x);

const progressMode = (log: FitOptions["log"]): ProgressMode | undefined =>
  log === undefined || log === true || log === "auto" ? undefined : log === false ? "none" : log;

const scalarEntries = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([, v]) => typeof v === "number"));
const capitalize = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

export interface EvaluateOptions {
  loss?: LossSpec | null;
  metrics?: readonly (Metric | string)[];
  device?: string;
  log?: FitOptions["log"];
  logStream?: ProgressStream;
  /** The progress label (default "eval"). */
  label?: string;
}

/**
 * The mean loss (weighted by batch size) and the metrics of `model` over `data`, in eval mode
 * and without gradients. The model's train/eval mode is restored afterwards.
 *
 * @example
 * const { loss, accuracy } = await st.train.evaluate(model, testLoader, { loss: "crossEntropy", metrics: ["accuracy"] });
 */
export async function evaluate(model: Module, data: DataSource, opts: EvaluateOptions = {}): Promise<Record<string, number | number[][]>> {
  const metrics = resolveMetrics(opts.metrics);
  const lossF = opts.loss ? lossFn(opts.loss) : null;
  const forward = forwardOf(model);
  const wasTraining = model.training;
  const bar = new ProgressBar({ mode: progressMode(opts.log), stream: opts.logStream });
  const mean = new Mean();
  for (const m of metrics) m.reset();
  model.eval();
  let batches = 0, samples = 0;
  try {
    bar.start(opts.label ?? "eval", batchCount(data));
    const it = iterate(data);
    for (;;) {
      const done = await scope(async () => {
        const r = await pull(it);
        if (r.done) return true;
        const { x, y } = splitBatch(r.value, opts.device);
        const out = noGrad(() => forward(x));
        if (lossF || metrics.length) {
          if (!y) throw new ValueError("evaluate: the batches have no targets; pass [x, y] batches (or use predict)");
          if (lossF) mean.add(Number(await noGrad(() => lossF(out, y)).item()), x.shape[0]!);
          for (const m of metrics) await m.update(out, y);
        } else {
          out.realize();
        }
        samples += x.shape[0]!;
        return false;
      });
      if (done) break;
      batches++;
      bar.update(batches, samples, lossF ? { loss: mean.value } : {});
    }
    const out: Record<string, number | number[][]> = {};
    if (lossF) out.loss = mean.value;
    for (const m of metrics) out[m.name] = m.compute();
    bar.finish(`${opts.label ?? "eval"}  ${Object.entries(scalarEntries(out)).map(([k, v]) => `${k} ${formatValue(k, v)}`).join("  ")}  ${samples} samples  ${formatDuration(bar.elapsed)}`);
    return out;
  } finally {
    model.train(wasTraining);
  }
}

/**
 * The model's outputs for every batch of `data` (in eval mode, without gradients), concatenated
 * along the first dim. Batches may be inputs alone or `[x, y]` (the targets are ignored).
 *
 * @example
 * const logits = await st.train.predict(model, testLoader); // [N, 10]
 */
export async function predict(model: Module, data: DataSource, opts: { device?: string; log?: FitOptions["log"]; logStream?: ProgressStream } = {}): Promise<Tensor> {
  const forward = forwardOf(model);
  const wasTraining = model.training;
  const bar = new ProgressBar({ mode: progressMode(opts.log), stream: opts.logStream });
  const outs: Tensor[] = [];
  model.eval();
  try {
    bar.start("predict", batchCount(data));
    const it = iterate(data);
    let samples = 0;
    for (;;) {
      const out = await scope(async () => {
        const r = await pull(it);
        if (r.done) return null;
        const { x } = splitBatch(r.value, opts.device);
        samples += x.shape[0]!;
        return noGrad(() => forward(x)).detach().realize();
      });
      if (!out) break;
      outs.push(out);
      bar.update(outs.length, samples, {});
    }
    bar.finish(`predict  ${samples} samples  ${formatDuration(bar.elapsed)}`);
    if (!outs.length) throw new ValueError("predict: data yielded no batches");
    const all = scope(() => cat(outs, 0).realize());
    for (const o of outs) o.dispose();
    return all;
  } finally {
    model.train(wasTraining);
  }
}

/** What `fit` keeps in a checkpoint's `extra.fit` to resume exactly. */
interface FitPosition {
  /** The epoch (0-based) the next batch belongs to. */
  epoch: number;
  /** Batches of that epoch already done. */
  batchInEpoch: number;
  /** The generator's state when that epoch's iteration began (to replay its shuffle). */
  epochRng: RngState;
  samplesInEpoch: number;
  history: EpochLogs[];
  loss: { sum: number; count: number };
  metrics: unknown[];
  callbacks: Record<string, StateValue>;
}

/**
 * Trains `model` for `epochs` epochs. Each step runs forward, loss, `zeroGrad`, `backward` and
 * `optimizer.step` inside `st.scope`, so memory stays flat. After each epoch the validation data
 * (if any) is evaluated, the scheduler stepped, and callbacks called. With a seed (and the same
 * data order), two runs give the same weights bit for bit; with `ModelCheckpoint` and `resume`, a
 * run killed at any moment continues to those same weights.
 *
 * @example
 * const result = await st.train.fit(model, {
 *   data: trainLoader, valData: testLoader, loss: "crossEntropy", optimizer: opt, epochs: 3,
 *   metrics: ["accuracy"], callbacks: [new st.train.ModelCheckpoint({ dir: "run/ckpt" })], seed: 0,
 * });
 * console.log(result.history.at(-1)); // { epoch: 3, loss: ..., accuracy: ..., valLoss: ..., valAccuracy: ... }
 */
export async function fit(model: Module, opts: FitOptions): Promise<FitResult> {
  const { data, optimizer, epochs } = opts;
  if (!Number.isInteger(epochs) || epochs < 0) throw new ValueError(`fit: epochs must be a non-negative integer, got ${epochs}`);
  if (!optimizer || typeof optimizer.step !== "function") throw new ValueError("fit: an optimizer is required");
  const loss = lossFn(opts.loss);
  const metrics = resolveMetrics(opts.metrics);
  const callbacks = [...(opts.callbacks ?? [])].map((c, i) => ({ c, i })).sort((a, b) => (a.c.order ?? 0) - (b.c.order ?? 0) || a.i - b.i);
  const stateKey = (c: Callback, i: number) => c.stateKey ?? `${c.constructor.name}#${i}`;
  const sched = opts.scheduler ? ("scheduler" in opts.scheduler ? opts.scheduler : { scheduler: opts.scheduler as SchedulerLike }) : null;
  const schedInterval = sched?.interval ?? "epoch";
  const plateau = sched && (sched.monitor !== undefined || sched.scheduler.constructor.name === "ReduceLROnPlateau");
  const schedMonitor = sched?.monitor ?? (opts.valData ? "valLoss" : "loss");
  if (plateau && schedInterval === "step") throw new ValueError("fit: a ReduceLROnPlateau scheduler steps per epoch (interval 'epoch')");
  const forward = forwardOf(model);
  const bar = new ProgressBar({ mode: progressMode(opts.log), stream: opts.logStream });
  const limit = opts.stepsPerEpoch;
  const perEpoch = Math.min(batchCount(data) ?? Infinity, limit ?? Infinity);
  const stepsPerEpoch = Number.isFinite(perEpoch) ? perEpoch : undefined;
  const stepScheduler = (metric?: number) => (sched!.scheduler.step as (m?: number) => unknown).call(sched!.scheduler, ...(metric === undefined ? [] : [metric]));
  const lossMean = new Mean();
  const lr = () => optimizer.paramGroups?.[0]?.lr;
  const statefulData = isStateful(data);

  // ---- the run's position ----
  let step = 0, epoch = 0, batchInEpoch = 0, samplesInEpoch = 0;
  let epochRng: RngState = getRngState();
  let history: EpochLogs[] = [];
  let resumedFrom: FitContext["resumedFrom"] = null;
  let skip = 0, rngAfterSkip: RngState | null = null;
  // Where a checkpoint written now resumes: during an epoch, that epoch and batch; after it, the next.
  let posEpoch = 0, posBatch = 0;

  const ctx: FitContext = {
    model, optimizer, scheduler: sched?.scheduler ?? null, epochs,
    get epoch() { return epoch; },
    get step() { return step; },
    get batchInEpoch() { return batchInEpoch; },
    stepsPerEpoch,
    get history() { return history; },
    get resumedFrom() { return resumedFrom; },
    stopTraining: false,
    print: (msg: string) => bar.print(msg),
    checkpointState(): CheckpointState {
      const fitPos: FitPosition = {
        epoch: posEpoch, batchInEpoch: posBatch, epochRng, samplesInEpoch: posBatch ? samplesInEpoch : 0, history,
        loss: posBatch ? lossMean.stateDict() : { sum: 0, count: 0 },
        metrics: posBatch ? metrics.map((m) => m.stateDict?.() ?? null) : [],
        callbacks: Object.fromEntries(callbacks.filter(({ c }) => c.stateDict).map(({ c, i }) => [stateKey(c, i), c.stateDict!()])),
      };
      return { model, optimizer, scheduler: sched?.scheduler, loader: data, step, epoch: posEpoch, extra: { fit: fitPos as unknown as StateValue } };
    },
  };

  // ---- resume ----
  let resumePath: string | null = null;
  if (opts.resume) {
    let isDir = false;
    try {
      isDir = statSync(opts.resume).isDirectory();
    } catch {
      isDir = !opts.resume.endsWith(".safetensors"); // a folder not created yet: nothing to resume
    }
    resumePath = isDir ? latestCheckpoint(opts.resume) : opts.resume;
  }
  if (resumePath) {
    const ck = await loadCheckpoint(resumePath, { model, optimizer, scheduler: sched?.scheduler, loader: data });
    step = ck.step;
    epoch = ck.epoch;
    const pos = ck.extra.fit as FitPosition | undefined;
    if (pos) {
      epoch = pos.epoch;
      history = pos.history;
      for (const { c, i } of callbacks) {
        const s = pos.callbacks[stateKey(c, i)];
        if (s !== undefined && c.loadStateDict) c.loadStateDict(s);
      }
      if (pos.batchInEpoch > 0) {
        skip = pos.batchInEpoch;
        epochRng = pos.epochRng;
        rngAfterSkip = ck.rng;
        samplesInEpoch = pos.samplesInEpoch;
        lossMean.loadStateDict(pos.loss);
        metrics.forEach((m, k) => pos.metrics[k] != null && m.loadStateDict?.(pos.metrics[k] as never));
      }
    }
    resumedFrom = { step, epoch, path: resumePath };
    bar.print(`resumed from ${resumePath} (step ${step}, epoch ${epoch + 1}${skip ? `, batch ${skip}` : ""})`);
  } else if (opts.seed !== undefined) {
    manualSeed(opts.seed);
  }

  const eagerStep = (x: Tensor, y: Tensor): { out: Tensor; l: Tensor } => {
    const out = forward(x);
    const l = loss(out, y);
    optimizer.zeroGrad();
    l.backward();
    optimizer.step();
    return { out, l };
  };
  const trainStep = opts.jit ? jit(eagerStep) : eagerStep;

  const t0 = performance.now();
  model.train();
  for (const { c } of callbacks) await c.onTrainBegin?.(ctx);

  for (; epoch < epochs && !ctx.stopTraining; epoch++) {
    model.train();
    const resumingMidEpoch = skip > 0;
    if (resumingMidEpoch) {
      setRngState(epochRng);
    } else {
      epochRng = getRngState();
      samplesInEpoch = 0;
      lossMean.reset();
      for (const m of metrics) m.reset();
    }
    batchInEpoch = 0;
    posEpoch = epoch;
    posBatch = 0;
    for (const { c } of callbacks) await c.onEpochBegin?.(ctx);
    const it = iterate(data);
    let epochOver = false;
    if (resumingMidEpoch && statefulData) {
      // The loader restored its own position (loadCheckpoint called its loadStateDict): its next
      // batch is the first not trained on.
      batchInEpoch = skip;
      if (skip >= (batchCount(data) ?? Infinity)) {
        epochOver = true; // the loader has moved on to the next epoch already
      } else if (limit !== undefined && skip >= limit) {
        // The epoch was cut short by stepsPerEpoch: open and leave the epoch, as the run did.
        await scope(async () => { await pull(it); });
        epochOver = true;
      }
    } else if (resumingMidEpoch) {
      // Any other source: replay the epoch's shuffle from its generator state, skip the batches
      // already trained on (they are not computed), then restore the checkpoint's generator.
      for (; skip > 0; skip--) {
        const done = await scope(async () => (await pull(it)).done);
        if (done) break;
        batchInEpoch++;
      }
    }
    if (rngAfterSkip) {
      setRngState(rngAfterSkip);
      rngAfterSkip = null;
    }
    skip = 0;
    posBatch = batchInEpoch;
    const epochT0 = performance.now(), samplesAtStart = samplesInEpoch;
    bar.start(`epoch ${epoch + 1}/${epochs}`, stepsPerEpoch);
    while (!epochOver) {
      if (limit !== undefined && batchInEpoch >= limit) break;
      const r = await scope(async () => {
        const next = await pull(it);
        if (next.done) return null;
        const { x, y } = splitBatch(next.value, opts.device);
        if (!y) throw new ValueError("fit: the batches have no targets; yield [x, y] batches");
        const { out, l } = trainStep(x, y);
        const value = Number(await l.item());
        for (const m of metrics) await m.update(out.detach(), y);
        return { loss: value, n: x.shape[0]! };
      });
      if (!r) break;
      step++;
      batchInEpoch++;
      samplesInEpoch += r.n;
      posBatch = batchInEpoch;
      lossMean.add(r.loss, r.n);
      if (sched && schedInterval === "step") stepScheduler();
      const running: Record<string, unknown> = { loss: lossMean.value };
      for (const m of metrics) {
        const v = m.compute();
        if (typeof v === "number") running[m.name] = v;
      }
      bar.update(batchInEpoch, samplesInEpoch - samplesAtStart, running);
      const logs: BatchLogs = { loss: r.loss, batchSize: r.n, lr: lr() };
      for (const { c } of callbacks) await c.onBatchEnd?.(ctx, logs);
    }
    await it.return?.();
    const trainSecs = (performance.now() - epochT0) / 1000;
    const logs: EpochLogs = { epoch: epoch + 1, loss: lossMean.value };
    for (const m of metrics) logs[m.name] = m.compute();
    if (opts.valData) {
      const val = await evaluate(model, opts.valData, { loss: opts.loss, metrics, device: opts.device, log: "none" });
      for (const [k, v] of Object.entries(val)) logs[`val${capitalize(k)}`] = v;
      model.train();
    }
    if (sched && schedInterval === "epoch") {
      if (plateau) {
        const v = logs[schedMonitor];
        if (typeof v !== "number") throw new ValueError(`fit: the scheduler monitors '${schedMonitor}', which is not in the logs (${Object.keys(logs).join(", ")})`);
        stepScheduler(v);
      } else {
        stepScheduler();
      }
    }
    const rate = trainSecs > 0 ? (samplesInEpoch - samplesAtStart) / trainSecs : 0;
    const lrNow = lr();
    if (lrNow !== undefined) logs.lr = lrNow;
    logs.time = Number(trainSecs.toFixed(3));
    logs.samplesPerSec = Math.round(rate);
    history.push(logs);
    posEpoch = epoch + 1;
    posBatch = 0;
    const shown = Object.entries(scalarEntries(logs)).filter(([k]) => !["epoch", "time", "samplesPerSec"].includes(k));
    bar.finish(`epoch ${epoch + 1}/${epochs}  ${shown.map(([k, v]) => `${k} ${formatValue(k, v)}`).join("  ")}  ${formatDuration(trainSecs)}  ${Math.round(rate).toLocaleString("en-US")} samples/s`);
    for (const { c } of callbacks) await c.onEpochEnd?.(ctx, logs);
    if (ctx.stopTraining) {
      epoch++;
      break;
    }
  }
  // `epoch` now counts the completed epochs.
  for (const { c } of callbacks) await c.onTrainEnd?.(ctx);
  return { history, step, epochs: epoch, stopped: ctx.stopTraining, seconds: (performance.now() - t0) / 1000 };
}
