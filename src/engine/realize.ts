/**
 * Runs schedules: allocates outputs, compiles kernels once per structure, runs them, and hands
 * each computed node its buffer.
 */
import type { Backend, Buf, HostArray, Program } from "../ir/backend.ts";
import { kernelKey } from "../ir/kernel.ts";
import { numel } from "../ir/shape.ts";
import { allocBuffer, freeBuffer, getBackend } from "./device.ts";
import { type LazyNode, ref, unref } from "./lazy.ts";
import type { ScheduleItem } from "./lower.ts";
import { cachedPlan, graphKey, Plan, storePlan } from "./plan-cache.ts";
import { schedule } from "./schedule.ts";
import { recording, refuseHostRead, type RoutineItem } from "./trace.ts";

const cache = new Map<string, Map<string, Program>>();

export interface EngineStats {
  /** Kernels launched since the process started (or the last `resetStats`). */
  kernels: number;
  /** Routine calls (backend dot/conv) launched. */
  routines: number;
  /** Kernels compiled: a cache miss each. */
  compiles: number;
  /** Realizations that reused the schedule of a graph of the same structure. */
  planHits: number;
  /** Steps of `st.jit` functions that ran as a replay of their trace. */
  replays: number;
}
const stats: EngineStats = { kernels: 0, routines: 0, compiles: 0, planHits: 0, replays: 0 };

export const engineStats = (): EngineStats => ({ ...stats });
export function resetStats(): void {
  stats.kernels = stats.routines = stats.compiles = stats.planHits = stats.replays = 0;
}

/** Counts launches made outside `realize` (a replay). */
export function countLaunches(kernels: number, routines: number, replays = 0): void {
  stats.kernels += kernels;
  stats.routines += routines;
  stats.replays += replays;
}

/** Calls the backend's routine for a scheduled dot or conv on its operands' buffers (`ins`). */
export function runRoutine(backend: Backend, it: RoutineItem, out: Buf, ins: readonly Buf[]): void {
  const [a, b] = ins as [Buf, Buf];
  if (it.name === "dot") {
    const shape = it.dims, nd = shape.length;
    const m = shape[nd - 2]!, n = shape[nd - 1]!, k = it.shapes[0][nd - 1]!;
    const epi = it.epilogue ? { bias: it.epilogue.bias ? ins[2]! : null, relu: it.epilogue.relu } : undefined;
    backend.routines.dot!(out, a, b, numel(shape.slice(0, -2)), m, k, n, it.trans[0], it.trans[1], epi);
  } else {
    backend.routines.conv!(out, a, b, it.shapes[0], it.shapes[1], it.conv!);
  }
}

function compile(device: string, item: Extract<ScheduleItem, { kind: "kernel" }>): Program {
  let c = cache.get(device);
  if (!c) cache.set(device, (c = new Map()));
  const key = kernelKey(item.kernel);
  let p = c.get(key);
  if (!p) {
    p = getBackend(device).compile(item.kernel);
    c.set(key, p);
    stats.compiles++;
  }
  return p;
}

/** Computes the given nodes (and what they need); afterwards each has a buffer. */
export function realize(nodes: readonly LazyNode[]): void {
  // Reading a computed tensor (`item()` after each step) has nothing to plan.
  if (nodes.every((n) => n.buffer)) return;
  // A graph of a structure seen before reuses its schedule and programs (plan-cache.ts).
  const g = graphKey(nodes);
  let plan = g ? cachedPlan(g.key) : undefined;
  let items: ScheduleItem[];
  if (plan) {
    items = plan.bind(g!.nodes);
    stats.planHits++;
  } else {
    items = schedule(nodes);
    if (g) storePlan(g.key, (plan = new Plan(items, g.index)));
  }
  if (!items.length) return;
  const rec = recording();
  // The schedule holds its nodes, so that a buffer a later kernel reads is not freed when the
  // node that consumed it first lets go of it.
  const held = new Set<LazyNode>();
  for (const it of items) {
    held.add(it.out);
    for (const i of it.ins) held.add(i);
  }
  for (const n of held) ref(n);
  const pending = new Map<LazyNode, Buf>();
  const bufOf = (n: LazyNode): Buf => {
    const b = n.buffer ?? pending.get(n);
    if (!b) throw new Error(`internal: node ${n.id} (${n.op}) read before it was computed`);
    return b;
  };
  try {
    for (let at = 0; at < items.length; at++) {
      const it = items[at]!, out = it.out;
      let ob = pending.get(out);
      if (!ob) {
        ob = allocBuffer(out.device, out.dtype, numel(out.shape));
        pending.set(out, ob);
      }
      const backend = getBackend(out.device);
      if (it.kind === "kernel") {
        let prog: Program | null = null;
        if (numel(it.kernel.shape) > 0) {
          prog = plan ? (plan.programs[at] ??= compile(out.device, it)) : compile(out.device, it);
          backend.run(prog, [ob, ...it.ins.map(bufOf)], it.kernel.scalars);
          stats.kernels++;
        }
        rec?.kernel(it, prog);
        if (!it.last) continue;
      } else {
        runRoutine(backend, it, ob, it.ins.map(bufOf));
        rec?.routine(it);
        stats.routines++;
      }
      pending.delete(out);
      out.setBuffer(ob);
    }
  } finally {
    for (const [n, b] of pending) freeBuffer(n.device, b);
    for (const n of held) unref(n);
  }
}

/** Reads a node's values to the host (realizing it first). */
export async function readNode(n: LazyNode): Promise<HostArray> {
  refuseHostRead("data(), item() or tolist()");
  realize([n]);
  const backend = getBackend(n.device);
  await backend.sync();
  return backend.read(n.buffer!);
}

export function readNodeSync(n: LazyNode): HostArray {
  refuseHostRead("dataSync(), itemSync() or tolistSync()");
  realize([n]);
  const backend = getBackend(n.device);
  if (!backend.readSync) throw new Error(`dataSync: device '${n.device}' reads asynchronously; use await tensor.data()`);
  return backend.readSync(n.buffer!);
}

export { schedule };
