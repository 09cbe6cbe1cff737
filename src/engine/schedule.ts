/**
 * The scheduler: cuts the lazy graph into kernels. A node gets its own buffer (is materialized)
 * when it is a target, a contraction, a scatter, an explicit `contiguous`, a value that kernels
 * of its own would each have to recompute at more than a few ops' cost, or a reduction that
 * cannot fuse. Everything else is inlined into the kernel of its consumer: chains of elementwise
 * ops and views fuse with each other, elementwise producers fuse into a reduction, and a
 * reduction fuses with the elementwise ops that consume it (the epilogue) when only reshapes and
 * permutes lie on the way (views that read each reduced value exactly once; an expand would
 * recompute the reduction per copy, so it ends the fusion).
 */
import { getBackend } from "./device.ts";
import type { LazyNode } from "./lazy.ts";
import { EXPENSIVE_ALU, isContraction, isElementwise, isReduce } from "../ir/ops.ts";
import { numel, shapesEqual } from "../ir/shape.ts";
import { buildKernels, type FusedDot, type ScheduleItem } from "./lower.ts";
import { dotEpilogue } from "./epilogue.ts";

/** The node whose buffer a routine can read for operand `s`: reshapes keep the row-major layout. */
export function routineSource(s: LazyNode): LazyNode {
  while (!s.realized && s.op === "reshape") s = s.srcs[0]!;
  return s;
}

/**
 * What a dot routine reads for operand `s`: a node `s` is the last-two-dims transpose of (an
 * unrealized permute), flagged `trans`, so that the routine reads it transposed rather than the
 * engine copying it; else `s`; reshapes in between are seen through (`routineSource`). Transposes
 * of transposes cancel: the gradient of `x @ w.T` with respect to x is `g @ (w.T).T`, which reads
 * `w` as it is stored.
 */
export function dotOperand(s: LazyNode): { node: LazyNode; trans: boolean } {
  let node = s, trans = false;
  for (;;) {
    // Above the permute only reshapes that change nothing: the transpose must be of s's own shape.
    const p = belowNoopReshapes(node);
    if (!isLastTwoSwap(p)) return { node: routineSource(node), trans };
    node = p.srcs[0]!;
    trans = !trans;
  }
}

/**
 * What a conv routine reads for its input `s`: when `s` zero-pads only spatial dims (as the input
 * gradient's conv does), the unpadded source, with the padding to add to the conv's own; the
 * routine's unfold pads for free, where a padded copy would be a kernel and a buffer.
 */
export function convInput(s: LazyNode): { node: LazyNode; shape: readonly number[]; pads: readonly [number, number][] | null } {
  const p = routineSource(s);
  if (p.realized || p.op !== "pad") return { node: p, shape: s.shape, pads: null };
  const pads = (p.params as { pads: [number, number][] }).pads;
  if (pads[0]![0] || pads[0]![1] || pads[1]![0] || pads[1]![1] || pads.some(([a, b]) => a < 0 || b < 0)) return { node: p, shape: s.shape, pads: null };
  return { node: routineSource(p.srcs[0]!), shape: p.srcs[0]!.shape, pads: pads.slice(2) };
}

/** `s`, or what it reshapes when its reshapes keep the shape (autograd leaves such no-ops). */
export function belowNoopReshapes(s: LazyNode): LazyNode {
  while (!s.realized && s.op === "reshape" && shapesEqual(s.shape, s.srcs[0]!.shape)) s = s.srcs[0]!;
  return s;
}

/**
 * The permute that is the only reader of dot `n` (through reshapes that keep the shape and have no
 * buffer of their own) when it swaps the last two dims: the product is then computed transposed.
 */
function transposingReader(n: LazyNode, users: (n: LazyNode) => LazyNode[], mat: ReadonlySet<LazyNode>): LazyNode | null {
  let cs = users(n);
  while (cs.length === 1 && cs[0]!.op === "reshape" && !mat.has(cs[0]!) && shapesEqual(cs[0]!.shape, n.shape)) cs = users(cs[0]!);
  return cs.length === 1 && isLastTwoSwap(cs[0]!) ? cs[0]! : null;
}

/** A permute that swaps the last two dims and keeps the others. */
export function isLastTwoSwap(p: LazyNode): boolean {
  if (p.realized || p.op !== "permute") return false;
  const perm = (p.params as { perm: number[] }).perm, nd = perm.length;
  if (nd < 2 || perm[nd - 2] !== nd - 1 || perm[nd - 1] !== nd - 2) return false;
  for (let i = 0; i < nd - 2; i++) if (perm[i] !== i) return false;
  return true;
}

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

/** A multi-consumer value costing more than this (in cheap ops per element) gets its own buffer. */
const MAX_RECOMPUTE = 3;
/**
 * A lowered contraction reads each operand element many times (once per output column for a
 * matmul, once per output channel and kernel tap for a conv). An inlined operand is computed
 * that many times; past this much work per element (cost × reads) it gets a buffer instead.
 */
const MAX_OPERAND_WORK = 32;

/** How many times a lowered contraction reads each element of operand `s`, on average. */
function readsPerElement(n: LazyNode, s: LazyNode): number {
  const a = n.srcs[0]!, w = n.srcs[1]!;
  const reduce = n.op === "dot" ? a.shape[a.shape.length - 1]! : numel(w.shape.slice(1));
  return (numel(n.shape) * reduce) / Math.max(1, numel(s.shape));
}

/**
 * The materialized node a reduction can fuse into as the prologue of its epilogue, or null. The
 * reduction's value must reach it through elementwise ops of its own shape, reshapes and
 * permutes (one-to-one views: each reduced value is read once; an expand would recompute the
 * reduction per copy). Views are allowed only while the value has one consumer; where it
 * branches (e.g. `where(s == 0, 1, s)`), every branch must be elementwise ops of that shape that
 * meet again in that one node, so that all of them read the reduction at the same index.
 */
function epilogueRoot(n: LazyNode, users: (n: LazyNode) => LazyNode[], mat: ReadonlySet<LazyNode>): LazyNode | null {
  let cs = users(n), prev: LazyNode = n;
  while (cs.length === 1) {
    const c = cs[0]!;
    const oneToOne = c.op === "reshape" || c.op === "permute" || (c.op !== "buffer" && isElementwise(c.op) && shapesEqual(c.shape, prev.shape));
    if (!oneToOne) return null;
    if (mat.has(c)) return c;
    prev = c;
    cs = users(c);
  }
  let root: LazyNode | null = null;
  const seen = new Set<LazyNode>(), stack = [...cs];
  while (stack.length) {
    const c = stack.pop()!;
    if (seen.has(c)) continue;
    seen.add(c);
    if (c.op === "buffer" || !isElementwise(c.op) || !shapesEqual(c.shape, prev.shape)) return null;
    if (mat.has(c)) {
      if (root && root !== c) return null;
      root = c;
    } else {
      stack.push(...users(c));
    }
  }
  return root;
}

/**
 * Whether a value inlined into one kernel would be computed there once per element: every path
 * from it to the materialized nodes it feeds is elementwise ops of its own shape, so all of them
 * read it at the same index (the kernel builder memoizes per index). A view on the way (a
 * shifted slice, a pad, a broadcast) reads it at other indices, so each such path would compute
 * it again; in a recurrence (alpha[t] from shifted copies of alpha[t-1]) that is exponential.
 */
function readsAtOneIndex(n: LazyNode, users: (n: LazyNode) => LazyNode[], mat: ReadonlySet<LazyNode>): boolean {
  const seen = new Set<LazyNode>(), stack = [...users(n)];
  while (stack.length) {
    const c = stack.pop()!;
    if (seen.has(c)) continue;
    seen.add(c);
    const sameIndex = c.op !== "buffer" && (isElementwise(c.op) || (isReduce(c.op) && mat.has(c))) && shapesEqual(c.srcs[0]!.shape, n.shape);
    if (!sameIndex) return false;
    if (!mat.has(c)) stack.push(...users(c));
  }
  return true;
}

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
  const costly = new Set<LazyNode>();
  // Dot routines that apply the bias and ReLU after them, by the node that takes their result.
  const fusedDots = new Map<LazyNode, FusedDot>();
  for (const n of order) {
    const op = n.op;
    if (op === "buffer") continue;
    if (isContraction(op) || op === "scatterAdd" || op === "contiguous") {
      // A product read only transposed (a weight's gradient, A^T @ g, as the gradient of W^T) is
      // computed transposed, (AB)^T = B^T A^T, by the routine: its permute gets the buffer.
      const routine = isContraction(op) && getBackend(n.device).routines[op] !== undefined;
      const reader = op === "dot" && !mat.has(n) && routine ? transposingReader(n, users, mat) : null;
      const epi = op === "dot" && routine && !reader ? dotEpilogue(n, users, mat) : null;
      if (reader) mat.add(reader);
      else if (epi) {
        // The routine stores the finished values in the epilogue's last node; the product
        // itself gets no buffer. The bias is read as a buffer.
        mat.add(epi.root);
        fusedDots.set(epi.root, epi.fused);
        if (epi.fused.bias && !epi.fused.bias.realized) mat.add(epi.fused.bias);
      } else mat.add(n);
      if (routine) {
        // A transposed dot operand is passed as its source, flagged (see `dotOperand`).
        const ins = op === "dot" ? n.srcs.map((x) => dotOperand(x).node) : [convInput(n.srcs[0]!).node, routineSource(n.srcs[1]!)];
        for (const s of ins) {
          if (s.realized) continue;
          mat.add(s); // a routine takes buffers: this one stays materialized
          costly.delete(s);
        }
      } else if (isContraction(op)) {
        // A lowered contraction reads each operand element once per output column (or row):
        // an operand costing more than a few ops gets a buffer rather than being recomputed.
        for (const s of n.srcs) {
          if (!s.realized && !mat.has(s) && (cost.get(s) ?? 0) * readsPerElement(n, s) > MAX_OPERAND_WORK) {
            mat.add(s);
            costly.delete(s);
          }
        }
      }
    }
    const inlined = n.srcs.reduce((a, s) => a + (s.realized || mat.has(s) ? 0 : cost.get(s) ?? 0), 0);
    const own = EXPENSIVE_ALU.has(op) ? 4 : isElementwise(op) ? 1 : op === "gather" ? 2 : op === "random" ? 8 : 0;
    if ((isElementwise(op) || op === "gather" || op === "random") && users(n).length > 1 && own + inlined > MAX_RECOMPUTE && !mat.has(n)) {
      mat.add(n);
      costly.add(n);
    }
    cost.set(n, mat.has(n) ? 0 : own + inlined);
  }
  // Consumers before producers, each node's kernel (`group`: the materialized node it is inlined
  // into; null when it is inlined into several) is settled:
  // - A reduction fuses into the materialized node its epilogue leads to (see `epilogueRoot`)
  //   when that node takes no other reduction.
  // - A costly shared value whose consumers all land in one kernel is inlined after all: inside
  //   one kernel its users share it (the kernel builder computes each value at each index once).
  const group = new Map<LazyNode, LazyNode | null>();
  const fused = new Map<LazyNode, LazyNode>();
  for (let i = order.length - 1; i >= 0; i--) {
    const n = order[i]!;
    if (n.op === "buffer") continue;
    if (isReduce(n.op) && !mat.has(n)) {
      const root = epilogueRoot(n, users, mat);
      if (root && !fused.has(root) && !fusedDots.has(root)) fused.set(root, n);
      else mat.add(n);
    }
    if (mat.has(n) && !costly.has(n)) { group.set(n, n); continue; }
    const gs = new Set(users(n).map((c) => group.get(c) ?? null));
    const only = gs.size === 1 ? [...gs][0]! : null;
    if (costly.has(n)) {
      if (only && readsAtOneIndex(n, users, mat)) mat.delete(n);
      group.set(n, only ?? n);
    } else {
      group.set(n, only);
    }
  }
  const items: ScheduleItem[] = [];
  for (const n of order) if (mat.has(n)) items.push(...buildKernels(n, mat, fused.get(n) ?? null, fusedDots.get(n) ?? null));
  return items;
}
