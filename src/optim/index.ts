/**
 * `st.optim`: optimizers, learning-rate schedulers and gradient clipping, with PyTorch's update
 * rules, option names (in camelCase) and state-dict structure.
 *
 * @example
 * const opt = new st.optim.AdamW(model.parameters(), { lr: 1e-3 });
 * const sched = new st.optim.CosineAnnealingLR(opt, epochs);
 * // per batch: opt.zeroGrad(); loss.backward(); st.optim.clipGradNorm_(model.parameters(), 1); opt.step();
 * // per epoch: sched.step();
 */
export { Optimizer, type OptimizerStateDict, type ParamGroup, type ParamGroupSpec, type ParamState } from "./optimizer.ts";
export { SGD, type SGDOptions } from "./sgd.ts";
export { Adam, AdamW, type AdamOptions } from "./adam.ts";
export { RMSprop, type RMSpropOptions } from "./rmsprop.ts";
export { Adagrad, type AdagradOptions } from "./adagrad.ts";
export {
  CosineAnnealingLR, ExponentialLR, LinearLR, LRScheduler, MultiStepLR, OneCycleLR, ReduceLROnPlateau, SequentialLR, StepLR,
  type OneCycleLROptions, type ReduceLROnPlateauOptions, type SchedulerStateDict,
} from "./lr-scheduler.ts";
/** The schedulers also under PyTorch's module name: `st.optim.lrScheduler.StepLR`. */
export * as lrScheduler from "./lr-scheduler.ts";
export { clipGradNorm_, clipGradValue_ } from "./clip.ts";
