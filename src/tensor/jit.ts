/**
 * `st.jit(step)`: runs a step function once as usual, traces its second call, and from then on
 * replays the trace: the kernels and routine calls the step ran, on the new inputs' buffers,
 * without running the function's JavaScript (no graph building, autograd or scheduling).
 *
 * What a trace knows of the step (engine/trace.ts records the kernels; this file the tensors):
 * - its inputs: the tensor arguments, and every tensor that existed before the call and whose
 *   data the step read (parameters, optimizer state, `.grad`s, hyperparameter scalars). A replay
 *   reads each of these tensors' data as it is at that call;
 * - its effects: tensors changed in place (parameters and optimizer state by `step()`, running
 *   statistics), `.grad`s set, and the returned tensors, which a replay gives new buffers.
 * Everything else the function did in JavaScript is fixed at the trace: branches, loop counts,
 * numbers, tensors it created from host data. Random ops draw fresh numbers at every replay, as
 * the eager step would. What the trace depended on is checked before each replay (argument
 * shapes, dtypes and devices; grad mode; the default device; modules' train/eval modes; optimizer
 * options that change the update's structure); when a check fails, that call is traced again.
 */
import { isGradEnabled } from "../autograd/grad-mode.ts";
import { getDefaultDevice } from "../engine/device.ts";
import { bufferNode, type LazyNode, ref, unref } from "../engine/lazy.ts";
import { countLaunches, realize } from "../engine/realize.ts";
import { type RandomRebase, Replay } from "../engine/replay.ts";
import { type Recording, recording, startRecording, stopRecording, untraced } from "../engine/trace.ts";
import type { Buf } from "../ir/backend.ts";
import { JitError } from "../ir/errors.ts";
import { takeCounters } from "./random.ts";
import { isPlainObject } from "./scope.ts";
import { Tensor } from "./tensor.ts";
import { tensorHooks, type TensorTracer } from "./trace-hooks.ts";

export interface JitOptions {
  /** Calls per argument signature that run eagerly before the trace (default 1: a first step creates optimizer state). */
  warmup?: number;
  /** Traces per argument signature before the function stays eager for it (default 8). */
  maxTraces?: number;
}

/** A jitted function: the same signature, plus `reset()`, which drops its traces. */
export type Jitted<A extends unknown[], R> = ((...args: A) => R) & {
  /** Drops every trace (and the constants they hold); the next calls warm up and trace again. */
  reset(): void;
  /** Traces made so far (each a call that ran the function while recording). */
  readonly traces: number;
};

/**
 * An existing tensor a trace reads or changes: the call's argument i, the `.grad` of another
 * (whichever tensor it is at the replay: a `zeroGrad()` between steps makes a new one), or a
 * tensor held weakly.
 */
type TensorRef = { arg: number } | { gradOf: TensorRef } | { weak: WeakRef<Tensor> };

/** A returned value: a tensor the replay makes from a slot, an existing tensor, or a structure. */
type OutTemplate =
  | { k: "new"; slot: number }
  | { k: "same"; t: TensorRef }
  | { k: "array"; items: OutTemplate[] }
  | { k: "object"; entries: [string, OutTemplate][] }
  | { k: "value"; v: unknown };

/** A `.grad` a step leaves behind: null, an existing tensor, or a new one from a slot. */
type GradEffect = { k: "null" } | { k: "same"; t: TensorRef } | { k: "new"; slot: number };

const ids = new WeakMap<object, number>();
let nextId = 0;
const objectId = (o: object): number => {
  let i = ids.get(o);
  if (i === undefined) ids.set(o, (i = nextId++));
  return i;
};

/** The arguments' structure as a key (tensors by shape, dtype, device), collecting the tensors. */
function signature(v: unknown, tensors: Tensor[]): string {
  if (v instanceof Tensor) {
    tensors.push(v);
    return `T[${v.shape}]${v.dtype}@${v.device}${v.requiresGrad ? "+g" : ""}`;
  }
  if (Array.isArray(v)) return `[${v.map((x) => signature(x, tensors)).join(",")}]`;
  if (isPlainObject(v)) return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${signature(v[k], tensors)}`).join(",")}}`;
  if (typeof v === "number") return Object.is(v, -0) ? "-0" : String(v);
  if (v !== null && (typeof v === "object" || typeof v === "function")) return `#${objectId(v)}`;
  return `${typeof v}:${String(v)}`;
}

/** What the tensor layer shows of a step while it is traced. */
class Tracer implements TensorTracer {
  readonly born = new WeakSet<Tensor>();
  /** Nodes of existing tensors that the step read, and the tensor each was read through. */
  readonly readers = new Map<LazyNode, Tensor>();
  /** Existing tensors the step changed in place, and the node each held before. */
  readonly changed = new Map<Tensor, LazyNode>();
  /** Tensors whose `.grad` the step read or set, and the `.grad` they had before. */
  readonly grads = new Map<Tensor, Tensor | null>();

  created(t: Tensor): void {
    if (recording()) this.born.add(t);
  }

  read(t: Tensor, n: LazyNode): LazyNode {
    if (!recording() || this.born.has(t) || this.changed.has(t)) return n;
    // Data from before the step is an input of the trace, so it must be a buffer: a lazy value
    // left from earlier work is computed now, outside the trace.
    if (!n.realized) untraced(() => realize([n]));
    if (!this.readers.has(n)) this.readers.set(n, t);
    return n;
  }

  replaced(t: Tensor, old: LazyNode): void {
    if (recording() && !this.born.has(t) && !this.changed.has(t)) this.changed.set(t, old);
  }

  grad(t: Tensor, g: Tensor | null): void {
    if (recording() && !this.born.has(t) && !this.grads.has(t)) this.grads.set(t, g);
  }
}

/** A recorded step and how to bind, replay and apply it. */
class Trace {
  constructor(
    private readonly replay: Replay,
    /** Leaf slots and where their data comes from at a replay. */
    private readonly bindings: readonly { slot: number; src: TensorRef | { node: LazyNode } }[],
    private readonly checks: readonly (() => boolean)[],
    /** Tensors the step changes in place, and the slot of their new data. */
    private readonly replaced: readonly { t: TensorRef; slot: number }[],
    private readonly grads: readonly { t: TensorRef; effect: GradEffect }[],
    /** `.grad`s the step read before setting them, as they must be at a replay (see traceCall). */
    private readonly gradChecks: readonly { t: TensorRef; isNull: boolean }[],
    private readonly out: OutTemplate,
    /** Slots whose buffers the results take. */
    private readonly kept: readonly number[],
    private readonly random: { lo: number; hi: number; key: readonly [number, number] } | null,
  ) {}

  /** Lets go of the constants the trace holds. */
  dispose(): void {
    for (const b of this.bindings) if ("node" in b.src) unref(b.src.node);
  }

  /** Runs the step by replay; undefined when the trace does not apply to this call. */
  run(args: readonly Tensor[]): { value: unknown } | undefined {
    const resolve = (r: TensorRef): Tensor | undefined => {
      const t = "arg" in r ? args[r.arg] : "gradOf" in r ? resolve(r.gradOf)?.grad : r.weak.deref();
      return t && !t.isDisposed ? t : undefined;
    };
    for (const c of this.checks) if (!c()) return undefined;
    for (const { t, isNull } of this.gradChecks) if ((resolve(t)?.grad == null) !== isNull) return undefined;
    const slots = this.replay.slots;
    const nodes = new Array<LazyNode | undefined>(slots.length);
    const inputs = new Array<Buf | undefined>(slots.length);
    for (const { slot, src } of this.bindings) {
      let n: LazyNode;
      if ("node" in src) n = src.node;
      else {
        const t = resolve(src);
        if (!t) return undefined;
        n = t._box.node!;
        if (!n.realized) realize([n]);
      }
      nodes[slot] = n;
      inputs[slot] = n.buffer!;
    }
    let rebase: RandomRebase | null = null;
    if (this.random) {
      const { key, offset } = takeCounters(this.random.hi - this.random.lo);
      rebase = { ...this.random, newKey: key, base: offset };
    }
    const bufs = this.replay.run(inputs, rebase);
    // The results as nodes, held here until the tensors that take them hold them.
    for (const s of this.kept) {
      const info = slots[s]!;
      ref((nodes[s] = bufferNode(bufs[s]!, info.shape, info.device)));
    }
    try {
      for (const { t, slot } of this.replaced) resolve(t)?._setNode(nodes[slot]!);
      for (const { t, effect } of this.grads) {
        const owner = resolve(t);
        if (!owner) continue;
        if (effect.k === "null") owner.grad = null;
        else if (effect.k === "same") owner.grad = resolve(effect.t) ?? null;
        else owner.grad = new Tensor(nodes[effect.slot]!);
      }
      const build = (o: OutTemplate): unknown => {
        switch (o.k) {
          case "new": return new Tensor(nodes[o.slot]!);
          case "same": return resolve(o.t);
          case "array": return o.items.map(build);
          case "object": return Object.fromEntries(o.entries.map(([k, v]) => [k, build(v)]));
          case "value": return o.v;
        }
      };
      return { value: build(this.out) };
    } finally {
      for (const s of this.kept) unref(nodes[s]!);
      countLaunches(0, 0, 1);
    }
  }
}

/** Calls `fn` while recording, and makes the trace of that call. */
function traceCall(fn: (...a: never[]) => unknown, args: readonly unknown[], argTensors: readonly Tensor[]): { value: unknown; trace: Trace } {
  realize(argTensors.map((t) => t.node));
  const argOf = new Map<LazyNode, number>();
  argTensors.forEach((t, i) => { if (!argOf.has(t.node)) argOf.set(t.node, i); });
  const argIndex = new Map<Tensor, number>();
  argTensors.forEach((t, i) => { if (!argIndex.has(t)) argIndex.set(t, i); });
  // Set once the step has run: which existing tensor each `.grad` seen first belonged to.
  const gradOwner = new Map<Tensor, Tensor>();
  const refOf = (t: Tensor): TensorRef => {
    const i = argIndex.get(t);
    if (i !== undefined) return { arg: i };
    const owner = gradOwner.get(t);
    return owner ? { gradOf: refOf(owner) } : { weak: new WeakRef(t) };
  };

  const { key, offset: lo } = takeCounters(0);
  const rec: Recording = startRecording();
  const tracer = new Tracer();
  tensorHooks.tracer = tracer;
  let value: unknown;
  let kept = false;
  try {
    value = fn(...(args as never[]));
    tensorHooks.tracer = null;
    if (value instanceof Promise) throw new JitError("st.jit: the function returned a Promise; jit traces synchronous step functions");

    // The step's results: tensors changed in place, new `.grad`s, returned tensors. Each must be
    // data (a buffer) at the end of the step, computed by the trace or an input of it.
    const finals: LazyNode[] = [];
    const live = [...tracer.changed.keys()].filter((t) => !t.isDisposed);
    for (const t of live) finals.push(t._box.node!);
    const gradEnd = new Map<Tensor, Tensor | null>();
    for (const [t, first] of tracer.grads) {
      if (t.isDisposed) continue;
      const g = t.grad;
      if (g === first) continue;
      gradEnd.set(t, g);
      if (g && tracer.born.has(g)) finals.push(g.node);
    }
    const outTensors: Tensor[] = [];
    const collect = (v: unknown): void => {
      if (v instanceof Tensor) { if (tracer.born.has(v)) outTensors.push(v); }
      else if (Array.isArray(v)) v.forEach(collect);
      else if (isPlainObject(v)) Object.values(v).forEach(collect);
    };
    collect(value);
    for (const t of outTensors) finals.push(t.node);
    realize(finals);
    stopRecording(rec);

    for (const [t, first] of tracer.grads) if (first && !gradOwner.has(first)) gradOwner.set(first, t);
    const keep = new Set<number>();
    const result = (n: LazyNode): number => {
      const s = rec.slotFor(n);
      if (!rec.leaves.has(s)) keep.add(s);
      return s;
    };
    const replaced = live.map((t) => ({ t: refOf(t), slot: result(t._box.node!) }));
    const grads = [...gradEnd].map(([t, g]) => ({
      t: refOf(t),
      effect: (g === null ? { k: "null" } : tracer.born.has(g) ? { k: "new", slot: result(g.node) } : { k: "same", t: refOf(g) }) as GradEffect,
    }));
    const template = (v: unknown): OutTemplate => {
      if (v instanceof Tensor) return tracer.born.has(v) ? { k: "new", slot: result(v.node) } : { k: "same", t: refOf(v) };
      if (Array.isArray(v)) return { k: "array", items: v.map(template) };
      if (isPlainObject(v)) return { k: "object", entries: Object.entries(v).map(([k, x]) => [k, template(x)]) };
      return { k: "value", v };
    };
    const out = template(value);

    // Where each leaf's data comes from at a replay: an argument; the tensor that held it before
    // the step changed it in place; the existing tensor it was read through; else a constant.
    const startOf = new Map<LazyNode, Tensor>();
    for (const [t, n] of tracer.changed) if (!startOf.has(n)) startOf.set(n, t);
    const constants = new Set<number>();
    const bindings = [...rec.leaves].map(([slot, n]) => {
      const arg = argOf.get(n);
      if (arg !== undefined) return { slot, src: { arg } };
      const t = startOf.get(n) ?? tracer.readers.get(n);
      if (t) return { slot, src: refOf(t) };
      constants.add(slot);
      return { slot, src: { node: n } };
    });

    // `.grad`s the step read before setting: a replay needs each absent or present as at the trace.
    const gradChecks = [...tracer.grads].map(([t, first]) => ({ t: refOf(t), isNull: first === null }));
    const hi = takeCounters(0).offset;
    const random = hi > lo ? { lo, hi, key } : null;
    const replay = new Replay(rec, keep, random);
    const trace = new Trace(replay, bindings, rec.checks, replaced, grads, gradChecks, out, [...keep], random);
    rec.close(constants);
    kept = true;
    return { value, trace };
  } finally {
    tensorHooks.tracer = null;
    stopRecording(rec);
    if (!kept) rec.close();
  }
}

interface Entry {
  calls: number;
  traces: number;
  /** Traces of this signature, newest first: a step may alternate between states (a `.grad` present or not). */
  list: Trace[];
}

/** Traces kept per signature. */
const KEEP = 4;

/**
 * Compiles a step function by tracing: the first call per argument signature runs as usual, the
 * second is traced, and later calls replay the trace (the kernels, on the new arguments' data)
 * without running `fn`'s JavaScript. A small-batch training step then spends its time in kernels.
 *
 * `fn` takes tensors (and numbers, strings, arrays or plain objects of them) and returns the same
 * kinds; a replay returns new tensors, detached from autograd. Pass data that changes between
 * calls as arguments: a tensor the function reads from its closure is read as it is at each call
 * only while it is the same tensor object. Inside `fn`, do not read values to JavaScript
 * (`item()`, `data()`: a `JitError` says so); return them instead. Branches on JavaScript values
 * are fixed at the trace, except those the checks cover (see the top of this file): changing the
 * learning rate is fine, and so is switching `train()`/`eval()`: a replay checks the modes the step
 * read, so going to eval and back keeps the trace.
 *
 * @example
 * const model = new st.nn.Linear(4, 2);
 * const opt = new st.optim.SGD(model.parameters(), { lr: 0.1 });
 * const step = st.jit((x: st.Tensor, y: st.Tensor) => {
 *   opt.zeroGrad();
 *   const loss = st.nn.functional.mseLoss(model.forward(x), y);
 *   loss.backward();
 *   opt.step();
 *   return loss;
 * });
 * for (let i = 0; i < 5; i++) step(st.randn([8, 4]), st.randn([8, 2]));  // calls 3-5 replay
 * console.log(st.engine.stats().replays);  // 3
 */
export function jit<A extends unknown[], R>(fn: (...args: A) => R, opts: JitOptions = {}): Jitted<A, R> {
  const warmup = opts.warmup ?? 1, maxTraces = opts.maxTraces ?? 8;
  const entries = new Map<string, Entry>();
  let traces = 0;
  const call = (...args: A): R => {
    // Inside another function's trace, this one is part of that trace.
    if (tensorHooks.tracer || recording()) return fn(...args);
    const tensors: Tensor[] = [];
    const key = `${signature(args, tensors)}|grad:${isGradEnabled()}|device:${getDefaultDevice()}`;
    let e = entries.get(key);
    if (!e) entries.set(key, (e = { calls: 0, traces: 0, list: [] }));
    e.calls++;
    for (const t of e.list) {
      const r = t.run(tensors);
      if (r) return r.value as R;
    }
    // No trace applies (or none yet): this call runs as usual, traced once warm.
    if (e.calls <= warmup || e.traces >= maxTraces) return fn(...args);
    const { value, trace } = traceCall(fn as (...a: never[]) => unknown, args, tensors);
    e.list.unshift(trace);
    if (e.list.length > KEEP) e.list.pop()!.dispose();
    e.traces++;
    traces++;
    return value as R;
  };
  const reset = (): void => {
    disposeTraces(entries);
    entries.clear();
  };
  // The constants a trace holds are buffers: give them back when the function is collected.
  const jitted = Object.assign(call, { reset }) as unknown as Jitted<A, R>;
  Object.defineProperty(jitted, "traces", { get: () => traces });
  releaseWith.register(jitted, entries);
  return jitted;
}

function disposeTraces(entries: Map<string, Entry>): void {
  for (const e of entries.values()) for (const t of e.list) t.dispose();
}
const releaseWith = new FinalizationRegistry<Map<string, Entry>>(disposeTraces);
