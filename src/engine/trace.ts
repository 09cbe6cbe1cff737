/**
 * Recording a step for `st.jit`. While a recording is active, every realization's kernels and
 * routine calls are appended to it, with the buffers they write and read as numbered slots. A
 * slot read before anything recorded wrote it is a leaf: data that existed before the step (a
 * parameter, an input batch, a constant), which a replay binds anew. Replaying the recording
 * (replay.ts) runs the same programs on new buffers without building or scheduling any graph.
 *
 * The layers above register checks (`onReplay`) that the JavaScript state a trace depended on
 * still holds (an optimizer's options, modules' train/eval modes), and run their own bookkeeping
 * untraced (`untraced`).
 */
import type { Program } from "../ir/backend.ts";
import type { DType } from "../ir/dtype.ts";
import { JitError } from "../ir/errors.ts";
import { numel } from "../ir/shape.ts";
import { type LazyNode, ref, unref } from "./lazy.ts";
import type { ScheduleItem } from "./lower.ts";

export type RoutineItem = Extract<ScheduleItem, { kind: "routine" }>;

/** What a slot holds. */
export interface SlotInfo {
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly device: string;
}

export type TraceStep =
  /** A compiled kernel; `prog` is null for an empty one, which only allocates its output. */
  | { readonly kind: "kernel"; readonly prog: Program | null; readonly out: number; readonly ins: readonly number[]; readonly scalars: readonly number[] }
  | { readonly kind: "routine"; readonly item: RoutineItem; readonly out: number; readonly ins: readonly number[] };

export class Recording {
  readonly steps: TraceStep[] = [];
  readonly slots: SlotInfo[] = [];
  /** Leaf slots and the nodes that held their data when the trace read them (held until `close`). */
  readonly leaves = new Map<number, LazyNode>();
  /** Checks run before each replay; a false one means the trace no longer applies. */
  readonly checks: (() => boolean)[] = [];
  private readonly slotOf = new Map<LazyNode, number>();
  private closed = false;

  private newSlot(n: LazyNode): number {
    const s = this.slots.length;
    this.slots.push({ shape: n.shape, dtype: n.dtype, device: n.device });
    this.slotOf.set(n, s);
    return s;
  }

  /** The slot `n` is read from: a recorded output, or (data from before the trace) a new leaf. */
  slotFor(n: LazyNode): number {
    const s = this.slotOf.get(n);
    if (s !== undefined) return s;
    if (!n.realized) throw new Error(`internal: trace reads node ${n.id} (${n.op}), which holds no data`);
    const leaf = this.newSlot(n);
    ref(n);
    this.leaves.set(leaf, n);
    return leaf;
  }

  private output(n: LazyNode): number {
    return this.slotOf.get(n) ?? this.newSlot(n);
  }

  kernel(it: Extract<ScheduleItem, { kind: "kernel" }>, prog: Program | null): void {
    const ins = it.ins.map((n) => this.slotFor(n));
    this.steps.push({ kind: "kernel", prog: numel(it.kernel.shape) > 0 ? prog : null, out: this.output(it.out), ins, scalars: it.kernel.scalars });
  }

  routine(it: RoutineItem): void {
    const ins = it.ins.map((n) => this.slotFor(n));
    this.steps.push({ kind: "routine", item: it, out: this.output(it.out), ins });
  }

  /** Lets go of the leaves except `keep` (the constants a replay reads). */
  close(keep: ReadonlySet<number> = new Set()): void {
    if (this.closed) return;
    this.closed = true;
    for (const [s, n] of this.leaves) if (!keep.has(s)) unref(n);
  }
}

let active: Recording | null = null;
let paused = 0;

/** The recording realizations go to now, or null. */
export function recording(): Recording | null {
  return paused ? null : active;
}

/** Starts recording; one at a time. */
export function startRecording(): Recording {
  if (active) throw new Error("internal: a trace is already being recorded");
  active = new Recording();
  return active;
}

export function stopRecording(r: Recording): void {
  if (active === r) active = null;
}

/** Runs `fn` without recording what it realizes (bookkeeping that a replay does itself). */
export function untraced<T>(fn: () => T): T {
  paused++;
  try {
    return fn();
  } finally {
    paused--;
  }
}

/**
 * While tracing: `check` runs before every replay of this trace; when it returns false the trace
 * no longer applies and the step runs (and is traced) again. A check may also bring state up to
 * date for the replay (an optimizer writes its current learning rate).
 */
export function onReplay(check: () => boolean): void {
  recording()?.checks.push(check);
}

/** Reading values on the host inside a traced step: its result would be baked into the trace. */
export function refuseHostRead(what: string): void {
  if (!recording()) return;
  throw new JitError(
    `st.jit: the traced function reads tensor values on the host (${what}); a replayed step cannot depend on them. ` +
    "Return the tensor from the function and read it after the call",
  );
}
