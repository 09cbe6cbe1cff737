/**
 * Checkpoints: everything a training run needs to continue exactly where it stopped, in one
 * safetensors file written atomically (temporary file in the same folder, fsync, rename, fsync of
 * the folder), so that a run killed at any moment leaves the previous checkpoint or the new one.
 *
 * The file holds the model's weights under their PyTorch state-dict names (so the checkpoint is
 * also a weights file for `loadStateDict`, and for PyTorch's `safetensors.torch.load_file`), the
 * tensors of the optimizer, scheduler and loader states under prefixed names (`optimizer/...`;
 * a `/` never occurs in a state-dict name), and in the `__metadata__` key `strata.checkpoint` a
 * JSON document with the step, the epoch, the random generator's state, the non-tensor parts of
 * each state dict (tensors replaced by references to their names) and the caller's `extra`.
 */
import type { Module } from "../nn/module.ts";
import { getRngState, type RngState, setRngState } from "../tensor/random.ts";
import { scope } from "../tensor/scope.ts";
import { Tensor } from "../tensor/tensor.ts";
import { ValueError } from "../ir/errors.ts";
import { atomicWriteFile } from "../io/atomic.ts";
import { deserializeWithMetadata, loadFileWithMetadata, serialize } from "../io/safetensors.ts";

/** Anything with PyTorch-style `stateDict()` / `loadStateDict()`: optimizers, schedulers, loaders. */
export interface Stateful {
  stateDict(): unknown;
  loadStateDict(state: never): unknown;
}

/** JSON-able values, tensors, Maps and typed arrays: what a state dict may contain. */
export type StateValue = unknown;

export interface CheckpointState {
  model: Module;
  optimizer?: Stateful | null;
  scheduler?: Stateful | null;
  /** The data loader (its position in the epoch, its shuffling generator), if it is `Stateful`. */
  loader?: Stateful | object | null;
  /** Optimizer steps taken so far. */
  step: number;
  /** Completed epochs (or the current epoch: the caller decides; it is stored as given). */
  epoch: number;
  /** Anything else to keep (JSON values and tensors): best metric, the fit loop's position, ... */
  extra?: Record<string, StateValue>;
}

/** What `loadCheckpoint` returns besides restoring the objects it was given. */
export interface LoadedCheckpoint {
  step: number;
  epoch: number;
  extra: Record<string, StateValue>;
  /** The random generator's state when the checkpoint was written (already restored, unless `restoreRng: false`). */
  rng: RngState;
  /** The stored state dicts, for parts not passed to `loadCheckpoint`. */
  states: { optimizer?: StateValue; scheduler?: StateValue; loader?: StateValue };
}

export const CHECKPOINT_KEY = "strata.checkpoint";
const VERSION = 1;

export const isStateful = (o: unknown): o is Stateful =>
  typeof o === "object" && o !== null && typeof (o as Stateful).stateDict === "function" && typeof (o as Stateful).loadStateDict === "function";

const join = (path: string, k: string | number): string => (path.endsWith("/") ? `${path}${k}` : `${path}.${k}`);

/** Encodes a state value as JSON, moving tensors out into `tensors` under `prefix/path`. */
function encodeState(v: StateValue, path: string, tensors: Map<string, Tensor>): unknown {
  if (v instanceof Tensor) {
    tensors.set(path, v);
    return { $tensor: path };
  }
  if (v === null || typeof v === "string" || typeof v === "boolean") return v;
  if (typeof v === "number") {
    if (Number.isFinite(v)) return Object.is(v, -0) ? { $float: "-0" } : v;
    return { $float: Number.isNaN(v) ? "nan" : v > 0 ? "inf" : "-inf" };
  }
  if (typeof v === "bigint") return { $bigint: v.toString() };
  if (v === undefined) return { $undefined: true };
  if (Array.isArray(v)) return v.map((x, i) => encodeState(x, join(path, i), tensors));
  if (v instanceof Map) return { $map: [...v].map(([k, x], i) => [encodeState(k, join(path, `key${i}`), tensors), encodeState(x, join(path, i), tensors)]) };
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
    const arr = v as unknown as ArrayLike<number | bigint>;
    return { $typed: v.constructor.name, data: Array.from(arr, (x) => encodeState(x, path, tensors)) };
  }
  if (typeof v === "object") {
    const proto = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) throw new ValueError(`saveCheckpoint: cannot store a ${proto?.constructor?.name ?? "object"} at '${path}' (state dicts hold JSON values, tensors, Maps and typed arrays)`);
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k.startsWith("$") ? `$${k}` : k] = encodeState(x, join(path, k), tensors);
    return out;
  }
  throw new ValueError(`saveCheckpoint: cannot store a ${typeof v} at '${path}'`);
}

const TYPED: Record<string, { from(a: ArrayLike<never>): unknown }> = {
  Float32Array, Float64Array, Int8Array, Int16Array, Int32Array, Uint8Array, Uint16Array, Uint32Array, Uint8ClampedArray,
  BigInt64Array: { from: (a: ArrayLike<never>) => BigInt64Array.from(a as ArrayLike<bigint>) },
  BigUint64Array: { from: (a: ArrayLike<never>) => BigUint64Array.from(a as ArrayLike<bigint>) },
};

function decodeState(v: unknown, tensors: Record<string, Tensor>): StateValue {
  if (v === null || typeof v !== "object") return v;
  if (Array.isArray(v)) return v.map((x) => decodeState(x, tensors));
  const o = v as Record<string, unknown>;
  if ("$tensor" in o) {
    const t = tensors[o.$tensor as string];
    if (!t) throw new ValueError(`loadCheckpoint: the checkpoint refers to tensor '${String(o.$tensor)}', which it does not hold`);
    return t;
  }
  if ("$float" in o) return { nan: NaN, inf: Infinity, "-inf": -Infinity, "-0": -0 }[o.$float as string];
  if ("$bigint" in o) return BigInt(o.$bigint as string);
  if ("$undefined" in o) return undefined;
  if ("$map" in o) return new Map((o.$map as [unknown, unknown][]).map(([k, x]) => [decodeState(k, tensors), decodeState(x, tensors)]));
  if ("$typed" in o) {
    const ctor = TYPED[o.$typed as string];
    if (!ctor) throw new ValueError(`loadCheckpoint: unknown typed array ${String(o.$typed)}`);
    return ctor.from((o.data as unknown[]).map((x) => decodeState(x, tensors)) as never);
  }
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(o)) out[k.startsWith("$$") ? k.slice(1) : k] = decodeState(x, tensors);
  return out;
}

/**
 * The bytes of a checkpoint (what `saveCheckpoint` writes). The state dicts are taken inside a
 * scope: their snapshot tensors are freed once written, so a checkpoint every few steps does not
 * hold on to old optimizer buffers until garbage collection.
 */
export async function serializeCheckpoint(state: CheckpointState): Promise<Uint8Array> {
  const { model, optimizer, scheduler, loader, step, epoch, extra = {} } = state;
  if (!Number.isSafeInteger(step) || step < 0) throw new ValueError(`saveCheckpoint: step must be a non-negative integer, got ${step}`);
  return scope(async () => {
    const tensors = new Map<string, Tensor>(Object.entries(model.stateDict()));
    const parts: Record<string, unknown> = {};
    const add = (name: string, value: StateValue) => {
      parts[name] = encodeState(value, `${name}/`, tensors);
    };
    if (optimizer) add("optimizer", optimizer.stateDict());
    if (scheduler) add("scheduler", scheduler.stateDict());
    if (loader && isStateful(loader)) add("loader", loader.stateDict());
    add("extra", extra);
    const json = JSON.stringify({ version: VERSION, step, epoch, rng: getRngState(), ...parts });
    return serialize(tensors, { format: "pt", [CHECKPOINT_KEY]: json });
  });
}

/**
 * Writes a checkpoint atomically: model weights, optimizer, scheduler and loader state, the
 * random generator's state, the step, the epoch and `extra`.
 *
 * @example
 * await st.train.saveCheckpoint("run/ckpt.safetensors", { model, optimizer: opt, step, epoch: 0 });
 */
export async function saveCheckpoint(path: string, state: CheckpointState): Promise<void> {
  await atomicWriteFile(path, await serializeCheckpoint(state));
}

export interface LoadCheckpointTargets {
  model?: Module | null;
  optimizer?: Stateful | null;
  scheduler?: Stateful | null;
  loader?: Stateful | object | null;
  /** Restore the global random generator's state (default true). */
  restoreRng?: boolean;
  /** Raise on missing or unexpected model keys (default true). */
  strict?: boolean;
  device?: string;
}

/** Restores a checkpoint from its bytes (see `loadCheckpoint`). */
export function restoreCheckpoint(bytes: Uint8Array, targets: LoadCheckpointTargets = {}): LoadedCheckpoint {
  // In a scope: the file's tensors that nothing adopted (the model's were copied into its
  // parameters) are freed at once; what the result holds is kept.
  return scope(() => {
    const { tensors, metadata } = deserializeWithMetadata(bytes, { device: targets.device });
    return restore(tensors, metadata, targets);
  });
}

function restore(tensors: Record<string, Tensor>, metadata: Record<string, string>, targets: LoadCheckpointTargets): LoadedCheckpoint {
  const text = metadata[CHECKPOINT_KEY];
  if (text === undefined) throw new ValueError(`loadCheckpoint: not a Strata checkpoint (no '${CHECKPOINT_KEY}' in the metadata); for weights alone use st.io.loadFile and loadStateDict`);
  const doc = JSON.parse(text) as Record<string, unknown>;
  if (doc.version !== VERSION) throw new ValueError(`loadCheckpoint: checkpoint version ${String(doc.version)} is not supported (expected ${VERSION})`);
  const weights: Record<string, Tensor> = {};
  for (const [k, t] of Object.entries(tensors)) if (!k.includes("/")) weights[k] = t;
  const states: LoadedCheckpoint["states"] = {};
  for (const name of ["optimizer", "scheduler", "loader"] as const) if (name in doc) states[name] = decodeState(doc[name], tensors);
  const { model, optimizer, scheduler, loader } = targets;
  const missing = (what: string) => new ValueError(`loadCheckpoint: a ${what} was given but the checkpoint holds no ${what} state`);
  // Check first, then change anything.
  if (optimizer && !("optimizer" in states)) throw missing("optimizer");
  if (scheduler && !("scheduler" in states)) throw missing("scheduler");
  if (model) model.loadStateDict(weights, { strict: targets.strict ?? true });
  if (optimizer) optimizer.loadStateDict(states.optimizer as never);
  if (scheduler) scheduler.loadStateDict(states.scheduler as never);
  if (loader && isStateful(loader) && "loader" in states) loader.loadStateDict(states.loader as never);
  const rng = doc.rng as RngState;
  if (targets.restoreRng ?? true) setRngState(rng);
  return { step: doc.step as number, epoch: doc.epoch as number, extra: (decodeState(doc.extra, tensors) ?? {}) as Record<string, StateValue>, rng, states };
}

/**
 * Restores a checkpoint written by `saveCheckpoint` into the objects given (model weights,
 * optimizer, scheduler, loader), restores the random generator, and returns the step, epoch and
 * extra values.
 *
 * @example
 * const { step, epoch } = await st.train.loadCheckpoint("run/ckpt.safetensors", { model, optimizer: opt });
 */
export async function loadCheckpoint(path: string, targets: LoadCheckpointTargets = {}): Promise<LoadedCheckpoint> {
  return scope(async () => {
    const { tensors, metadata } = await loadFileWithMetadata(path, { device: targets.device });
    return restore(tensors, metadata, targets);
  });
}
