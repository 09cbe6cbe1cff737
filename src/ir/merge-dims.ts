/**
 * Adjacent output dims a kernel can loop over as one. Dims i and i+1 merge when every index
 * expression of the kernel (loads, conditions, positions, random counters, the store, and the
 * numerators of their divisions and remainders) reads them as one row-major index: o_i's
 * coefficient is o_(i+1)'s times size_(i+1). A dim of size 1 merges with anything (its variable is
 * always 0). The merged variable m = o_i·size_(i+1) + o_(i+1) then stands for both, with the
 * coefficient of o_(i+1).
 *
 * Every index keeps its value at every output, so the kernel computes the same thing in the same
 * order; what changes is the loops: a [64, 32, 5, 5] weight update becomes one loop of 51200, in
 * full vector steps, where each 5-wide row took one vector step and a scalar tail.
 */
import { type Atom, type Cond, Lin, type Term } from "./index-expr.ts";
import { exprLins, type Kernel, topoExprs, type VExpr } from "./kernel.ts";

const outIndex = (a: Atom): number => (a.k === "var" && a.name.startsWith("o") ? Number(a.name.slice(1)) : -1);

export function mergeDims(k: Kernel): Kernel {
  const n = k.shape.length;
  if (n < 2 || k.shape.includes(0)) return k;
  const roots = k.reduce ? [k.reduce.body, k.value] : [k.value];
  const order = topoExprs(roots, [k.store.idx]);

  // Every index expression, nested numerators included, with its coefficient of each output dim.
  const coefs = new Map<Lin, number[]>();
  const visit = (l: Lin): void => {
    if (coefs.has(l)) return;
    const c = new Array<number>(n).fill(0);
    for (const t of l.terms) {
      const d = outIndex(t.atom);
      if (d >= 0) c[d]! += t.coef;
      else if (t.atom.k === "div" || t.atom.k === "mod") visit(t.atom.of);
    }
    coefs.set(l, c);
  };
  for (const e of order) for (const l of exprLins(e)) visit(l);
  visit(k.store.idx);

  // Groups of dims, innermost first: a dim joins the group inside it when the group's variable
  // (its innermost dim of size > 1, `anchor`) has coefficient c and size S, and the dim's is c·S.
  const groups: { dims: number[]; size: number; anchor: number }[] = [];
  let cur = { dims: [n - 1], size: k.shape[n - 1]!, anchor: k.shape[n - 1]! > 1 ? n - 1 : -1 };
  for (let i = n - 2; i >= 0; i--) {
    const s = k.shape[i]!;
    const joins = s === 1 || cur.anchor < 0 || [...coefs.values()].every((c) => c[i] === c[cur.anchor]! * cur.size);
    if (joins) {
      cur.dims.unshift(i);
      if (s > 1 && cur.anchor < 0) cur.anchor = i;
      cur.size *= s;
    } else {
      groups.unshift(cur);
      cur = { dims: [i], size: s, anchor: s > 1 ? i : -1 };
    }
  }
  groups.unshift(cur);
  if (groups.length === n) return k;

  const groupOf = new Array<number>(n);
  groups.forEach((g, gi) => g.dims.forEach((d) => (groupOf[d] = gi)));
  const lins = new Map<Lin, Lin>();
  const exprs = new Map<VExpr, VExpr>();
  const lin = (l: Lin): Lin => {
    let r = lins.get(l);
    if (r) return r;
    const c = coefs.get(l)!;
    const terms: Term[] = [];
    groups.forEach((g, gi) => {
      if (g.anchor >= 0 && c[g.anchor] !== 0) {
        const name = `o${gi}`;
        terms.push({ atom: { k: "var", key: name, name, size: g.size }, coef: c[g.anchor]! });
      }
    });
    for (const t of l.terms) {
      const a = t.atom;
      if (outIndex(a) >= 0) continue;
      if (a.k === "var") terms.push(t);
      else if (a.k === "val") terms.push({ atom: { ...a, of: expr(a.of) }, coef: t.coef });
      else {
        const of = lin(a.of);
        terms.push({ atom: { ...a, key: `(${of.key})${a.k === "div" ? "/" : "%"}${a.by}`, of }, coef: t.coef });
      }
    }
    terms.sort((x, y) => (x.atom.key < y.atom.key ? -1 : x.atom.key > y.atom.key ? 1 : 0));
    lins.set(l, (r = new Lin(terms, l.c)));
    return r;
  };
  const conds = (cs: readonly Cond[]): Cond[] => cs.map((c) => ({ lin: lin(c.lin), lo: c.lo, hi: c.hi }));
  const expr = (e: VExpr): VExpr => {
    let r = exprs.get(e);
    if (r) return r;
    switch (e.k) {
      case "const": case "acc": r = e; break;
      case "load": r = { ...e, idx: lin(e.idx), valid: conds(e.valid) }; break;
      case "index": r = { ...e, lin: lin(e.lin) }; break;
      case "alu": r = { ...e, srcs: e.srcs.map(expr) }; break;
      case "gate": r = { ...e, valid: conds(e.valid), src: expr(e.src) }; break;
      case "random": r = { ...e, counter: lin(e.counter) }; break;
      case "check": r = { ...e, valid: conds(e.valid), src: expr(e.src) }; break;
      default: r = e satisfies never;
    }
    exprs.set(e, r);
    return r;
  };
  return {
    ...k,
    shape: groups.map((g) => g.size),
    reduce: k.reduce ? { ...k.reduce, body: expr(k.reduce.body) } : null,
    value: expr(k.value),
    store: { ...k.store, idx: lin(k.store.idx) },
  };
}
