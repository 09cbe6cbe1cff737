/**
 * The scheduler: cuts the lazy graph into kernels. A node gets its own buffer (is materialized)
 * when it is a target, a contraction, a scatter, an explicit `contiguous`, an elementwise value
 * used by more than one consumer, or a reduction that cannot fuse. Everything else is inlined into
 * the kernel of its consumer: chains of elementwise ops fuse with each other, elementwise producers
 * fuse into a reduction, and a reduction fuses with the elementwise ops that consume it (the
 * epilogue) when nothing reshapes its output on the way.
 */
import { getBackend } from "./device.ts";
import type { LazyNode } from "./lazy.ts";
import { isContraction, isElementwise, isReduce } from "../ir/ops.ts";
import { shapesEqual } from "../ir/shape.ts";
import { buildKernels, type ScheduleItem } from "./lower.ts";

/** Unrealized nodes reachable from the targets, sources before their consumers. */
export function unrealizedGraph(targets: readonly LazyNode[]): LazyNode[] {
  const seen = new Set<LazyNode>(), order: LazyNode[] = [];
  for (const t of targets) {
    if (t.realized || seen.has(t)) continue;
    const stack: [LazyNode, boolean][] = [[t, false]];
    while (stack.length) {
      const [n, done] = stack.pop()!;
      if (done) { order.push(n); continue; }
      if (seen.has(n)) continue;
      seen.add(n);
      stack.push([n, true]);
      for (const s of n.srcs) if (!s.realized && !seen.has(s)) stack.push([s, false]);
    }
  }
  return order;
}

/** Ops that cost several cheap ones to recompute. */
const EXPENSIVE: ReadonlySet<string> = new Set(["exp", "log", "sin", "sqrt", "erf", "pow"]);
/** A multi-consumer value costing more than this (in cheap ops per element) gets its own buffer. */
const MAX_RECOMPUTE = 3;

export function schedule(targets: readonly LazyNode[]): ScheduleItem[] {
  const order = unrealizedGraph(targets);
  if (order.length === 0) return [];
  const consumers = new Map<LazyNode, LazyNode[]>();
  for (const n of order) {
    for (const s of new Set(n.srcs)) {
      if (s.realized) continue;
      let c = consumers.get(s);
      if (!c) consumers.set(s, (c = []));
      c.push(n);
    }
  }
  const users = (n: LazyNode) => consumers.get(n) ?? [];
  const mat = new Set<LazyNode>(targets.filter((t) => !t.realized));
  // Work an inlined node costs per element, counted through what it inlines. A value with
  // several consumers is recomputed by each unless it is materialized; that only pays when it
  // is more than a few cheap ops.
  const cost = new Map<LazyNode, number>();
  for (const n of order) {
    const op = n.op;
    if (op === "buffer") continue;
    if (isContraction(op) || op === "scatterAdd" || op === "contiguous") {
      mat.add(n);
      if (isContraction(op) && getBackend(n.device).routines[op]) for (const s of n.srcs) if (!s.realized) mat.add(s);
    }
    const inlined = n.srcs.reduce((a, s) => a + (s.realized || mat.has(s) ? 0 : cost.get(s) ?? 0), 0);
    const own = EXPENSIVE.has(op) ? 4 : isElementwise(op) ? 1 : op === "gather" ? 2 : op === "random" ? 8 : 0;
    if ((isElementwise(op) || op === "gather" || op === "random") && users(n).length > 1 && own + inlined > MAX_RECOMPUTE) mat.add(n);
    cost.set(n, mat.has(n) ? 0 : own + inlined);
  }
  // A reduction fuses into the first materialized node above it when the path there is
  // elementwise ops and reshapes (which keep the element order), one consumer each, and that
  // node takes no other reduction.
  const fused = new Map<LazyNode, LazyNode>();
  for (const n of order) {
    if (n.op === "buffer" || !isReduce(n.op) || mat.has(n)) continue;
    let root: LazyNode | null = null;
    let cs = users(n), prev: LazyNode = n;
    while (cs.length === 1) {
      const c = cs[0]!;
      const keepsOrder = c.op === "reshape" || (c.op !== "buffer" && isElementwise(c.op) && shapesEqual(c.shape, prev.shape));
      if (!keepsOrder) break;
      if (mat.has(c)) { root = c; break; }
      prev = c;
      cs = users(c);
    }
    if (root && !fused.has(root)) fused.set(root, n);
    else mat.add(n);
  }
  const items: ScheduleItem[] = [];
  for (const n of order) if (mat.has(n)) items.push(...buildKernels(n, mat, fused.get(n) ?? null));
  return items;
}
