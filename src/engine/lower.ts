/**
 * Lowers one materialized node to kernels: builds the expression of its value at symbolic output
 * indices, inlining everything the scheduler did not materialize. Movement ops only rewrite
 * indices; contractions (dot, conv) become reduction kernels unless the backend has a routine.
 */
import { getBackend } from "./device.ts";
import { belowNoopReshapes, convInput, dotOperand, isLastTwoSwap, routineSource } from "./schedule.ts";
import type { LazyNode } from "./lazy.ts";
import {
  type Cond, condKey, convInputIndex, flatIndex, ladd, lconst, ldiv, type Lin, lmul, lval, lvar, simplifyCond, unflatIndex,
} from "../ir/index-expr.ts";
import { type Kernel, type KernelReduce, topoExprs, type VExpr } from "../ir/kernel.ts";
import type { DType } from "../ir/dtype.ts";
import type { Prim, PrimParams } from "../ir/ops.ts";
import { numel } from "../ir/shape.ts";

export type ScheduleItem =
  | { readonly kind: "kernel"; readonly kernel: Kernel; readonly out: LazyNode; readonly ins: readonly LazyNode[]; readonly last: boolean }
  | {
    readonly kind: "routine"; readonly name: "dot" | "conv"; readonly out: LazyNode; readonly ins: readonly LazyNode[];
    /** dot: each operand is stored transposed (its last two dims swapped). */
    readonly trans: readonly [boolean, boolean];
    /** The operands' shapes as the routine reads them (`ins` may hold them reshaped). */
    readonly shapes: readonly [readonly number[], readonly number[]];
    /** conv: the parameters to run with (the node's, plus padding taken from its input). */
    readonly conv: PrimParams["conv"] | null;
    /** dot: the product's shape [..., M, N] (`out` may be a view of it, or its epilogue's result). */
    readonly dims: readonly number[];
    /** dot: what it applies before storing (bias, when there, is `ins[2]`); see `DotEpilogue`. */
    readonly epilogue: { readonly bias: boolean; readonly relu: boolean } | null;
  };

/** A dot fused with the ops that finish its values (epilogue.ts, `dotEpilogue`). */
export interface FusedDot {
  readonly dot: LazyNode;
  /** The node holding the N bias values (read as a buffer), or null. */
  readonly bias: LazyNode | null;
  readonly relu: boolean;
}

const P = <Q extends Prim>(n: LazyNode, _op: Q): PrimParams[Q] => n.params as PrimParams[Q];

class KernelBuilder {
  readonly slots: LazyNode[];
  private readonly memo = new Map<string, VExpr>();
  reduce: KernelReduce | null = null;
  /** Kernel arguments (see `Kernel.scalars`), and where each random node's state starts in them. */
  readonly scalars: number[] = [];
  private readonly randomState = new Map<LazyNode, number>();

  constructor(
    readonly root: LazyNode,
    readonly mat: ReadonlySet<LazyNode>,
    readonly fusedReduce: LazyNode | null,
  ) {
    this.slots = [root];
  }

  slot(n: LazyNode): number {
    const i = this.slots.indexOf(n);
    if (i >= 0 && i > 0) return i;
    this.slots.push(n);
    return this.slots.length - 1;
  }

  load(n: LazyNode, idx: readonly Lin[], valid: readonly Cond[]): VExpr {
    return { k: "load", buf: this.slot(n), idx: flatIndex(idx, n.shape), valid, dt: n.dtype };
  }

  /** The value of `n` at multi-index `idx`, inside a region where `valid` holds. */
  build(n: LazyNode, idx: readonly Lin[], valid: readonly Cond[]): VExpr {
    const isInline = !(n.realized || (this.mat.has(n) && n !== this.root));
    if (!isInline) return this.load(n, idx, valid);
    const key = `${n.id}|${idx.map((l) => l.key).join(",")}|${valid.map(condKey).join("&")}`;
    let e = this.memo.get(key);
    if (!e) {
      e = this.inline(n, idx, valid);
      this.memo.set(key, e);
    }
    return e;
  }

  private inline(n: LazyNode, idx: readonly Lin[], valid: readonly Cond[]): VExpr {
    const op = n.op, dt = n.dtype;
    const src = (i: number, at: readonly Lin[] = idx, v: readonly Cond[] = valid) => this.build(n.srcs[i]!, at, v);
    switch (op) {
      case "buffer": return this.load(n, idx, valid);
      case "neg": case "exp": case "log": case "sin": case "sqrt": case "recip": case "erf": case "trunc": case "cast":
        return { k: "alu", op, srcs: [src(0)], dt };
      case "add": case "mul": case "div": case "max": case "pow": case "idiv": case "mod": case "cmplt": case "cmpeq":
        return { k: "alu", op, srcs: [src(0), src(1)], dt };
      case "where": {
        const c = src(0);
        // A constant condition (a mask of ones, say) picks its branch at build time.
        if (c.k === "const") return c.v ? src(1) : src(2);
        return { k: "alu", op, srcs: [c, src(1), src(2)], dt };
      }
      case "sum": case "amax": case "prod": {
        if (n !== this.fusedReduce && n !== this.root) throw new Error(`internal: reduction ${n.id} inlined without fusion`);
        const axes = P(n, op).axes;
        const s = n.srcs[0]!;
        const rIdx = s.shape.map((_, i) => (axes.includes(i) ? lvar(`r${axes.indexOf(i)}`, s.shape[i]!) : idx[i]!));
        this.reduce = { op, shape: axes.map((a) => s.shape[a]!), body: this.build(s, rIdx, valid) };
        return { k: "acc", dt };
      }
      case "reshape":
        return src(0, reshapeIndex(idx, n.shape, n.srcs[0]!.shape));
      case "permute": {
        const perm = P(n, op).perm;
        const at = new Array<Lin>(perm.length);
        perm.forEach((p, i) => (at[p] = idx[i]!));
        return src(0, at);
      }
      case "expand": {
        const s = n.srcs[0]!;
        return src(0, s.shape.map((d, i) => (d === 1 && n.shape[i] !== 1 ? lconst(0) : idx[i]!)));
      }
      case "pad": {
        const s = n.srcs[0]!, pads = P(n, op).pads;
        const at = idx.map((l, i) => ladd(l, -pads[i]![0]));
        const conds: Cond[] = [];
        for (let i = 0; i < at.length; i++) {
          const c = simplifyCond({ lin: at[i]!, lo: 0, hi: s.shape[i]! });
          if (c === false) return { k: "const", v: 0, dt };
          if (c !== true) conds.push(c);
        }
        if (!conds.length) return src(0, at);
        const all = [...valid, ...conds];
        return { k: "gate", valid: conds, src: src(0, at, all), dt };
      }
      case "shrink":
        return src(0, idx.map((l, i) => ladd(l, P(n, op).ranges[i]![0])));
      case "flip": {
        const axes = P(n, op).axes;
        return src(0, idx.map((l, i) => (axes.includes(i) ? ladd(lmul(l, -1), n.shape[i]! - 1) : l)));
      }
      case "const":
        return { k: "const", v: P(n, op).value, dt };
      case "iota":
        return { k: "index", lin: idx[P(n, op).axis]!, dt };
      case "random": {
        // Key and offset are kernel arguments, not code: every draw runs the same program.
        const p = P(n, op);
        let state = this.randomState.get(n);
        if (state === undefined) {
          state = this.scalars.length;
          this.scalars.push(p.key[0], p.key[1], p.offset);
          this.randomState.set(n, state);
        }
        return { k: "random", state, counter: flatIndex(idx, n.shape), dt };
      }
      case "gather": {
        const dim = P(n, op).dim, s = n.srcs[0]!;
        const iv = src(1);
        const checked: VExpr = { k: "check", src: iv, size: s.shape[dim]!, valid, what: "gather", dt: iv.dt };
        const at = [...idx];
        at[dim] = lval(checked, 0, s.shape[dim]! - 1);
        const v = src(0, at);
        // The index must be checked even when the value does not depend on it (a constant or
        // broadcast source, or a size-1 dim whose index arithmetic folds away): then tie the
        // check in as the condition of a where whose branches are both the value.
        if (topoExprs([v]).includes(checked)) return v;
        const inRange: VExpr = { k: "alu", op: "cmplt", srcs: [checked, { k: "const", v: s.shape[dim]!, dt: iv.dt }], dt: "bool" };
        return { k: "alu", op: "where", srcs: [inRange, v, v], dt: v.dt };
      }
      case "contiguous":
        return src(0);
      case "scatterAdd": case "dot": case "conv":
        throw new Error(`internal: ${op} must be materialized`);
      default:
        return op satisfies never;
    }
  }

  kernel(shape: readonly number[], value: VExpr, store: Kernel["store"] = { idx: flatIndex(outVars(shape), shape), mode: "set" }): Kernel {
    return {
      bufs: this.slots.map((s) => ({ dtype: s.dtype, size: numel(s.shape) })),
      shape: [...shape],
      reduce: this.reduce,
      value,
      store,
      scalars: this.scalars,
    };
  }
}

/**
 * The source index of a reshape, group by group: runs of dims whose sizes multiply to the same
 * product on both sides map to each other alone, so merging or splitting dims never divides an
 * index that another group (or a padding offset) contributes to.
 */
function reshapeIndex(idx: readonly Lin[], to: readonly number[], from: readonly number[]): Lin[] {
  if (to.includes(0) || from.includes(0)) return unflatIndex(flatIndex(idx, to), from);
  const out: Lin[] = [];
  let i = 0, j = 0;
  while (i < to.length || j < from.length) {
    const i0 = i, j0 = j;
    let pa = 1, pb = 1;
    do {
      if ((pa <= pb && i < to.length) || j >= from.length) pa *= to[i++]!;
      else pb *= from[j++]!;
    } while (pa !== pb && (i < to.length || j < from.length));
    // Trailing size-1 dims join the group that ends here.
    while (i < to.length && to[i] === 1 && (j >= from.length || from[j] !== 1)) i++;
    while (j < from.length && from[j] === 1 && (i >= to.length || to[i] !== 1)) j++;
    out.push(...unflatIndex(flatIndex(idx.slice(i0, i), to.slice(i0, i)), from.slice(j0, j)));
  }
  return out;
}

const outVars = (shape: readonly number[]): Lin[] => shape.map((s, i) => lvar(`o${i}`, s));

type KernelItem = Extract<ScheduleItem, { kind: "kernel" }>;
function item(b: KernelBuilder, k: Kernel, last = true): KernelItem {
  return { kind: "kernel", kernel: k, out: b.root, ins: b.slots.slice(1), last };
}

/**
 * The dot routine call computing `out` = A @ B, or with `transposed` out = A^T @ B^T (the
 * operands of the product whose transpose `out` is, swapped).
 */
function dotRoutine(out: LazyNode, A: LazyNode, B: LazyNode, transposed: boolean, fused: FusedDot | null = null): ScheduleItem {
  const a = dotOperand(A), b = dotOperand(B);
  const T = (sh: readonly number[]) => (transposed ? [...sh.slice(0, -2), sh[sh.length - 1]!, sh[sh.length - 2]!] : sh);
  const [sa, sb] = [T(A.shape), T(B.shape)];
  return {
    kind: "routine", name: "dot", out, ins: fused?.bias ? [a.node, b.node, fused.bias] : [a.node, b.node],
    trans: [a.trans !== transposed, b.trans !== transposed], shapes: [sa, sb], conv: null,
    dims: [...sa.slice(0, -1), sb[sb.length - 1]!],
    epilogue: fused ? { bias: fused.bias !== null, relu: fused.relu } : null,
  };
}

/** The kernels (or routine call) that compute materialized node `n`. */
export function buildKernels(n: LazyNode, mat: ReadonlySet<LazyNode>, fusedReduce: LazyNode | null, fusedDot: FusedDot | null = null): ScheduleItem[] {
  if (n.op === "buffer") return [];
  if (fusedDot) return [dotRoutine(n, fusedDot.dot.srcs[0]!, fusedDot.dot.srcs[1]!, false, fusedDot)];
  const op = n.op;
  const o = outVars(n.shape);
  const d = n.srcs[0] && belowNoopReshapes(n.srcs[0]);
  if (op === "permute" && d && !d.realized && d.op === "dot" && !mat.has(d) && isLastTwoSwap(n)) {
    // The transposed product (schedule.ts): out = (A B)^T = B^T A^T, operands swapped and their
    // transposition flags flipped.
    return [dotRoutine(n, d.srcs[1]!, d.srcs[0]!, true)];
  }
  if (op === "dot" || op === "conv") {
    if (getBackend(n.device).routines[op]) {
      if (op === "conv") {
        const x = convInput(n.srcs[0]!), p = n.params as PrimParams["conv"];
        const conv = x.pads ? { ...p, padding: p.padding.map(([a, b], i): [number, number] => [a + x.pads![i]![0], b + x.pads![i]![1]]) } : p;
        return [{ kind: "routine", name: op, out: n, ins: [x.node, routineSource(n.srcs[1]!)], trans: [false, false], shapes: [x.shape, n.srcs[1]!.shape], conv, dims: n.shape, epilogue: null }];
      }
      return [dotRoutine(n, n.srcs[0]!, n.srcs[1]!, false)];
    }
  }
  if (numel(n.shape) === 0) return [{ kind: "kernel", kernel: new KernelBuilder(n, mat, null).kernel(n.shape, { k: "const", v: 0, dt: n.dtype }), out: n, ins: [], last: true }];
  const b = new KernelBuilder(n, mat, fusedReduce);
  switch (op) {
    case "dot": {
      const [A, B] = n.srcs as [LazyNode, LazyNode];
      const K = A.shape[A.shape.length - 1]!;
      const r = lvar("r0", K), nd = n.shape.length;
      const a = b.build(A, [...o.slice(0, nd - 1), r], []);
      const bb = b.build(B, [...o.slice(0, nd - 2), r, o[nd - 1]!], []);
      b.reduce = { op: "sum", shape: [K], body: { k: "alu", op: "mul", srcs: [a, bb], dt: n.dtype } };
      return [item(b, b.kernel(n.shape, { k: "acc", dt: n.dtype }))];
    }
    case "conv": {
      const [X, W] = n.srcs as [LazyNode, LazyNode];
      const p = n.params as PrimParams["conv"];
      const cinG = W.shape[1]!, coutG = n.shape[1]! / p.groups, ks = W.shape.slice(2);
      const rc = lvar("r0", cinG), rk = ks.map((k, i) => lvar(`r${i + 1}`, k));
      const group = ldiv(o[1]!, coutG);
      const ci = ladd(lmul(group, cinG), rc);
      const conds: Cond[] = [];
      const xs = ks.map((_, i) => convInputIndex(conds, o[i + 2]!, rk[i]!, i, p, X.shape[i + 2]!));
      const xv = b.build(X, [o[0]!, ci, ...xs], conds);
      const xg: VExpr = conds.length ? { k: "gate", valid: conds, src: xv, dt: X.dtype } : xv;
      const wv = b.build(W, [o[1]!, rc, ...rk], []);
      b.reduce = { op: "sum", shape: [cinG, ...ks], body: { k: "alu", op: "mul", srcs: [xg, wv], dt: n.dtype } };
      return [item(b, b.kernel(n.shape, { k: "acc", dt: n.dtype }))];
    }
    case "scatterAdd": {
      const [base, index, src] = n.srcs as [LazyNode, LazyNode, LazyNode];
      const dim = (n.params as PrimParams["scatterAdd"]).dim;
      const copy = item(b, b.kernel(n.shape, b.build(base, o, [])), false);
      if (numel(index.shape) === 0) return [{ ...copy, last: true }];
      const s = new KernelBuilder(n, mat, null);
      const io = outVars(index.shape);
      const iv = s.build(index, io, []);
      const checked: VExpr = { k: "check", src: iv, size: n.shape[dim]!, valid: [], what: "scatterAdd", dt: iv.dt };
      const at = [...io];
      at[dim] = lval(checked, 0, n.shape[dim]! - 1);
      const value = s.build(src, io, []);
      return [copy, item(s, s.kernel(index.shape, value, { idx: flatIndex(at, n.shape), mode: "add" }))];
    }
    default: {
      const value = b.build(n, o, []);
      return [item(b, b.kernel(n.shape, value))];
    }
  }
}

export type { DType };
