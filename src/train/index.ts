/**
 * Training: the fit loop, evaluation and prediction, metrics, callbacks, checkpoints and the
 * progress display.
 */
export {
  batchCount, evaluate, fit, predict, splitBatch,
  type Batch, type DataSource, type EvaluateOptions, type FitOptions, type FitResult, type LossSpec, type OptimizerLike,
  type SchedulerLike, type SchedulerSpec,
} from "./fit.ts";
export { accuracy, confusionMatrix, Mean, resolveMetrics, topKAccuracy, type Metric } from "./metrics.ts";
export {
  EarlyStopping, JsonLogger, latestCheckpoint, listCheckpoints, ModelCheckpoint,
  type BatchLogs, type Callback, type EarlyStoppingOpts, type EpochLogs, type FitContext, type JsonLoggerOpts, type Mode,
  type ModelCheckpointOpts,
} from "./callbacks.ts";
export {
  CHECKPOINT_KEY, loadCheckpoint, restoreCheckpoint, saveCheckpoint, serializeCheckpoint,
  type CheckpointState, type LoadCheckpointTargets, type LoadedCheckpoint, type Stateful, type StateValue,
} from "./checkpoint.ts";
export { autoMode, formatDuration, formatValue, ProgressBar, type ProgressMode, type ProgressOpts, type ProgressStream } from "./progress.ts";
