/**
 * Replaying a recorded step (trace.ts): the same programs and routine calls, in the same order, on
 * new buffers. Leaf slots are bound by the caller; every other slot gets a buffer at its first
 * write and gives it back after its last use, unless the caller keeps it (the step's results).
 * Nothing is scheduled, lowered or looked up: the JavaScript per step is a loop over the steps.
 */
import type { Backend, Buf } from "../ir/backend.ts";
import { numel } from "../ir/shape.ts";
import { allocBuffer, freeBuffer, getBackend } from "./device.ts";
import { countLaunches, runRoutine } from "./realize.ts";
import type { Recording, SlotInfo, TraceStep } from "./trace.ts";

/**
 * Where a replay's random kernels draw from: the counters [lo, hi) that the trace took under
 * `key` become [base, base + hi - lo) under `newKey` (the generator's state at the replay).
 */
export interface RandomRebase {
  readonly lo: number;
  readonly hi: number;
  readonly key: readonly [number, number];
  readonly newKey: readonly [number, number];
  readonly base: number;
}

export class Replay {
  readonly slots: readonly SlotInfo[];
  private readonly steps: readonly TraceStep[];
  private readonly backends: (Backend | null)[];
  /** Slots whose buffers go back after each step (their last use). */
  private readonly freeAfter: number[][];
  /** Per kernel step, where its random states with traced counters sit in `scalars`. */
  private readonly randomAt: (number[] | null)[];
  private readonly leaf: boolean[];

  constructor(rec: Recording, keep: ReadonlySet<number>, random: { lo: number; hi: number; key: readonly [number, number] } | null) {
    this.slots = rec.slots;
    this.steps = rec.steps;
    this.backends = rec.steps.map(() => null);
    this.leaf = rec.slots.map((_, s) => rec.leaves.has(s));
    const last = new Map<number, number>();
    rec.steps.forEach((st, i) => {
      for (const s of [st.out, ...st.ins]) if (!this.leaf[s] && !keep.has(s)) last.set(s, i);
    });
    this.freeAfter = rec.steps.map(() => []);
    for (const [s, i] of last) this.freeAfter[i]!.push(s);
    this.randomAt = rec.steps.map((st) => {
      if (st.kind !== "kernel" || !random || !st.scalars.length) return null;
      const at: number[] = [];
      // Kernel scalars are random states, three numbers each: key0, key1, first counter.
      for (let i = 0; i + 2 < st.scalars.length; i += 3) {
        const o = st.scalars[i + 2]!;
        if (st.scalars[i] === random.key[0] && st.scalars[i + 1] === random.key[1] && o >= random.lo && o < random.hi) at.push(i);
      }
      return at.length ? at : null;
    });
  }

  /**
   * Runs the steps with `inputs[s]` bound to each leaf slot s; returns the buffers of all slots,
   * of which the caller owns the kept ones (the others are undefined or leaves).
   */
  run(inputs: readonly (Buf | undefined)[], rebase: RandomRebase | null): (Buf | undefined)[] {
    const bufs: (Buf | undefined)[] = this.slots.map((_, s) => (this.leaf[s] ? inputs[s] : undefined));
    let kernels = 0, routines = 0;
    try {
      for (let i = 0; i < this.steps.length; i++) {
        const st = this.steps[i]!, info = this.slots[st.out]!;
        const backend = (this.backends[i] ??= getBackend(info.device));
        const ob = (bufs[st.out] ??= allocBuffer(info.device, info.dtype, numel(info.shape)));
        if (st.kind === "kernel") {
          if (st.prog) {
            const at = this.randomAt[i];
            let scalars = st.scalars;
            if (at && rebase) {
              const s = [...scalars];
              for (const j of at) {
                s[j] = rebase.newKey[0];
                s[j + 1] = rebase.newKey[1];
                s[j + 2] = scalars[j + 2]! - rebase.lo + rebase.base;
              }
              scalars = s;
            }
            const args = new Array<Buf>(st.ins.length + 1);
            args[0] = ob;
            for (let j = 0; j < st.ins.length; j++) args[j + 1] = bufs[st.ins[j]!]!;
            backend.run(st.prog, args, scalars);
            kernels++;
          }
        } else {
          runRoutine(backend, st.item, ob, st.ins.map((s) => bufs[s]!));
          routines++;
        }
        for (const s of this.freeAfter[i]!) {
          freeBuffer(this.slots[s]!.device, bufs[s]!);
          bufs[s] = undefined;
        }
      }
    } catch (e) {
      this.release(bufs);
      throw e;
    } finally {
      countLaunches(kernels, routines);
    }
    return bufs;
  }

  /** Gives back every buffer a failed replay allocated. */
  private release(bufs: (Buf | undefined)[]): void {
    bufs.forEach((b, s) => {
      if (!b || this.leaf[s]) return;
      freeBuffer(this.slots[s]!.device, b);
      bufs[s] = undefined;
    });
  }
}
