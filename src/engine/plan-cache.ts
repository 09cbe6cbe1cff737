/**
 * Schedules reused by structure. A training step builds the same graph every time: the same ops
 * with the same parameters and shapes over new buffers. `graphKey` names that structure (node
 * order, ops, parameters, shapes, dtypes, devices, which sources are realized buffers), and a
 * cached plan is the schedule made for it with nodes replaced by their positions, plus the
 * programs compiled for it; `bind` maps the positions to the nodes of a new graph of that
 * structure. A step then skips scheduling, lowering and kernel-cache lookups.
 *
 * Graphs with random nodes are not cached: their key and offset are kernel arguments that differ
 * per call, and the plan does not track where each comes from.
 */
import type { Program } from "../ir/backend.ts";
import type { LazyNode } from "./lazy.ts";
import type { ScheduleItem } from "./lower.ts";
import { unrealizedGraph } from "./schedule.ts";

/** A graph's structure key and its nodes in key order (unrealized nodes, then realized sources). */
export interface GraphKey {
  key: string;
  nodes: LazyNode[];
  index: Map<LazyNode, number>;
}

/** A number as text that tells NaN, infinities and -0 apart. */
const num = (v: number): string => (Object.is(v, -0) ? "-0" : String(v));

function paramText(p: unknown): string {
  if (typeof p === "number") return num(p);
  if (Array.isArray(p)) return `[${p.map(paramText).join(",")}]`;
  if (p && typeof p === "object") return `{${Object.keys(p).sort().map((k) => `${k}:${paramText((p as Record<string, unknown>)[k])}`).join(",")}}`;
  return String(p);
}

/** The structure of the unrealized graph behind `targets`, or null when it is not cacheable. */
export function graphKey(targets: readonly LazyNode[]): GraphKey | null {
  const order = unrealizedGraph(targets);
  const index = new Map<LazyNode, number>();
  const nodes: LazyNode[] = [];
  const parts: string[] = [];
  for (const n of order) {
    if (n.op === "random") return null;
    index.set(n, nodes.length);
    nodes.push(n);
  }
  const leafAt = (s: LazyNode): number => {
    let i = index.get(s);
    if (i === undefined) {
      i = nodes.length;
      index.set(s, i);
      nodes.push(s);
      parts.push(`L${s.shape}:${s.dtype}:${s.device}`);
    }
    return i;
  };
  for (const n of order) {
    const srcs = n.srcs.map(leafAt);
    parts.push(`${n.op}(${srcs})${paramText(n.params)}[${n.shape}]${n.dtype}@${n.device}`);
  }
  const ts = targets.map((t) => (t.realized ? -1 : index.get(t)!));
  return { key: `${parts.join(";")}=>${ts}`, nodes, index };
}

/** A schedule with node positions in place of nodes. */
interface PlanItem {
  item: ScheduleItem;
  out: number;
  ins: number[];
}

export class Plan {
  private readonly items: PlanItem[];
  /** Programs compiled for the plan's kernels, filled on first run (null for routines). */
  readonly programs: (Program | null)[];

  constructor(items: readonly ScheduleItem[], index: ReadonlyMap<LazyNode, number>) {
    const at = (n: LazyNode): number => {
      const i = index.get(n);
      if (i === undefined) throw new Error(`internal: scheduled node ${n.id} (${n.op}) is not in the graph`);
      return i;
    };
    this.items = items.map((item) => ({ item, out: at(item.out), ins: item.ins.map(at) }));
    this.programs = items.map(() => null);
  }

  /** The schedule for a graph of the same structure. */
  bind(nodes: readonly LazyNode[]): ScheduleItem[] {
    return this.items.map(({ item, out, ins }) => ({ ...item, out: nodes[out]!, ins: ins.map((i) => nodes[i]!) }));
  }
}

/** Plans by graph key, least recently made first; bounded. */
const MAX_PLANS = 256;
const plans = new Map<string, Plan>();

export function cachedPlan(key: string): Plan | undefined {
  return plans.get(key);
}

export function storePlan(key: string, plan: Plan): void {
  if (plans.size >= MAX_PLANS) plans.delete(plans.keys().next().value!);
  plans.set(key, plan);
}
