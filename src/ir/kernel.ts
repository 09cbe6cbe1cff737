/**
 * The kernel IR: what the engine hands a backend to compile. A kernel loops over the elements
 * of its output (loop vars o0, o1, ...), optionally reduces over more loops (r0, r1, ...), computes
 * a value from loads through index expressions and ALU ops, and stores it. Backends render it to
 * their own language; the engine caches compiled kernels by `kernelKey`.
 */
import type { DType } from "./dtype.ts";
import { type Cond, condKey, type Lin } from "./index-expr.ts";
import type { ElementwisePrim, ReducePrim } from "./ops.ts";

export type VExpr =
  | { readonly k: "const"; readonly v: number; readonly dt: DType }
  /** bufs[buf][idx], or 0 where a condition fails (padding). */
  | { readonly k: "load"; readonly buf: number; readonly idx: Lin; readonly valid: readonly Cond[]; readonly dt: DType }
  /** An index expression used as a value (arange). */
  | { readonly k: "index"; readonly lin: Lin; readonly dt: DType }
  | { readonly k: "alu"; readonly op: ElementwisePrim; readonly srcs: readonly VExpr[]; readonly dt: DType }
  /** `src` where every condition holds, else 0. */
  | { readonly k: "gate"; readonly valid: readonly Cond[]; readonly src: VExpr; readonly dt: DType }
  /** The reduction's accumulated value (only in `Kernel.value`). */
  | { readonly k: "acc"; readonly dt: DType }
  /**
   * Uniform [0, 1) from Philox-4x32-10 at counter `offset + counter` under key (key0, key1), where
   * [key0, key1, offset] are the kernel arguments `scalars[state..state+2]`.
   */
  | { readonly k: "random"; readonly state: number; readonly counter: Lin; readonly dt: DType }
  /** An integer index read from data, which must lie in [0, size) wherever `valid` holds. */
  | { readonly k: "check"; readonly src: VExpr; readonly size: number; readonly valid: readonly Cond[]; readonly what: string; readonly dt: DType };

export interface KernelReduce {
  readonly op: ReducePrim;
  /** Sizes of the reduction loops r0, r1, ... */
  readonly shape: readonly number[];
  /** The value accumulated at each reduction step. */
  readonly body: VExpr;
}

export interface Kernel {
  /** Buffer slots: [0] is written, the rest are read. */
  readonly bufs: readonly { readonly dtype: DType; readonly size: number }[];
  /** Sizes of the output loops o0, o1, ... */
  readonly shape: readonly number[];
  readonly reduce: KernelReduce | null;
  readonly value: VExpr;
  /** Where each value goes in bufs[0]: assigned, or added (scatter). */
  readonly store: { readonly idx: Lin; readonly mode: "set" | "add" };
  /**
   * Numbers the kernel takes as arguments rather than as code (the random generator's key and
   * offset), so that kernels differing only in them share one compiled program. Not part of
   * `kernelKey`; backends receive them in `run`.
   */
  readonly scalars: readonly number[];
}

/** Every VExpr of a kernel once, operands before their users. */
export function topoExprs(rootExprs: readonly VExpr[], rootLins: readonly Lin[] = []): VExpr[] {
  const seen = new Set<VExpr>(), out: VExpr[] = [];
  const roots: VExpr[] = [];
  for (const l of rootLins) linValues(l, roots);
  roots.push(...rootExprs);
  // Iterative post-order, so long chains of ops do not overflow the stack.
  for (const root of roots) {
    const stack: [VExpr, boolean][] = [[root, false]];
    while (stack.length) {
      const [e, done] = stack.pop()!;
      if (done) { if (!seen.has(e)) { seen.add(e); out.push(e); } continue; }
      if (seen.has(e)) continue;
      stack.push([e, true]);
      for (const d of operands(e)) if (!seen.has(d)) stack.push([d, false]);
    }
  }
  return out;
}

/** The index expressions e reads through: its load index, conditions, arange or random counter. */
export function exprLins(e: VExpr): Lin[] {
  switch (e.k) {
    case "load": return [e.idx, ...e.valid.map((c) => c.lin)];
    case "index": return [e.lin];
    case "random": return [e.counter];
    case "gate": case "check": return e.valid.map((c) => c.lin);
    case "alu": case "const": case "acc": return [];
    default: return e satisfies never;
  }
}

/** The values an index expression reads from data (its `val` atoms, nested ones included), into `out`. */
export function linValues(l: Lin, out: VExpr[] = []): VExpr[] {
  for (const t of l.terms) {
    if (t.atom.k === "val") out.push(t.atom.of);
    else if (t.atom.k !== "var") linValues(t.atom.of, out);
  }
  return out;
}

/** The expressions e reads: its sources, and values its indices and conditions read from data. */
export function operands(e: VExpr): VExpr[] {
  const out: VExpr[] = e.k === "alu" ? [...e.srcs] : e.k === "gate" || e.k === "check" ? [e.src] : [];
  for (const l of exprLins(e)) linValues(l, out);
  return out;
}

/** Whether index expression l depends on a loop variable `isVar` accepts, directly or through a value in `dependent`. */
export function linDependsOn(l: Lin, isVar: (name: string) => boolean, dependent: ReadonlySet<VExpr>): boolean {
  return l.terms.some(({ atom: a }) =>
    a.k === "var" ? isVar(a.name) : a.k === "val" ? dependent.has(a.of) : linDependsOn(a.of, isVar, dependent));
}

/**
 * The expressions of `order` (operands before their users) whose values depend on a loop variable
 * `isVar` accepts, through an index, a condition or an operand; the accumulator depends on it when
 * `accDepends` says so, given what depends on it so far.
 */
export function dependentExprs(order: readonly VExpr[], isVar: (name: string) => boolean, accDepends: (dependent: ReadonlySet<VExpr>) => boolean = () => false): Set<VExpr> {
  const out = new Set<VExpr>();
  for (const e of order) {
    const d = e.k === "acc" ? accDepends(out)
      : operands(e).some((x) => out.has(x)) || exprLins(e).some((l) => linDependsOn(l, isVar, out));
    if (d) out.add(e);
  }
  return out;
}

/**
 * Where a kernel computes each non-constant expression of `order`: once per output before the
 * reduction (`pre`), at every reduction step (`inner`: it reads a reduction variable), or after
 * the reduction (`post`: it reads the accumulator). Every backend places them so.
 */
export function placeExprs(order: readonly VExpr[]): { pre: VExpr[]; inner: VExpr[]; post: VExpr[] } {
  const usesR = dependentExprs(order, (name) => name.startsWith("r"));
  const usesAcc = dependentExprs(order, () => false, () => true);
  const pre: VExpr[] = [], inner: VExpr[] = [], post: VExpr[] = [];
  for (const e of order) {
    if (e.k !== "const") (usesR.has(e) ? inner : usesAcc.has(e) ? post : pre).push(e);
  }
  return { pre, inner, post };
}

/** A canonical text of a kernel's structure: equal keys mean the same compiled program. */
export function kernelKey(k: Kernel): string {
  const ids = new Map<VExpr, number>();
  const lin = (l: Lin): string =>
    l.terms.map((t) => `${t.coef}*${atom(t.atom)}`).join("+") + `+${l.c}`;
  const atom = (a: Lin["terms"][number]["atom"]): string =>
    a.k === "var" ? a.name : a.k === "val" ? `#${ids.get(a.of)}[${a.lo},${a.hi}]` : `(${lin(a.of)})${a.k === "div" ? "/" : "%"}${a.by}`;
  const conds = (cs: readonly Cond[]) => cs.map((c) => `${c.lo}<=${lin(c.lin)}<${c.hi}`).join("&");
  const parts: string[] = [];
  const roots = k.reduce ? [k.reduce.body, k.value] : [k.value];
  for (const e of topoExprs(roots, [k.store.idx])) {
    ids.set(e, ids.size);
    let s: string;
    switch (e.k) {
      case "const": s = `c${Object.is(e.v, -0) ? "-0" : e.v}`; break;
      case "load": s = `L${e.buf}[${lin(e.idx)}|${conds(e.valid)}]`; break;
      case "index": s = `I${lin(e.lin)}`; break;
      case "alu": s = `${e.op}(${e.srcs.map((x) => ids.get(x)).join(",")})`; break;
      case "gate": s = `G(${conds(e.valid)}?${ids.get(e.src)})`; break;
      case "acc": s = "acc"; break;
      case "random": s = `R$${e.state}@${lin(e.counter)}`; break;
      case "check": s = `C${ids.get(e.src)}<${e.size}|${conds(e.valid)}|${e.what}`; break;
      default: s = e satisfies never;
    }
    parts.push(`${s}:${e.dt}`);
  }
  const red = k.reduce ? `${k.reduce.op}[${k.reduce.shape}]` : "-";
  return `${k.bufs.map((b) => `${b.dtype}x${b.size}`).join(",")}|[${k.shape}]|${red}|${k.store.mode}@${lin(k.store.idx)}|${parts.join(";")}`;
}

export { condKey };
