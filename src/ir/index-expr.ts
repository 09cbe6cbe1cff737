/**
 * Integer index expressions in linear form, `c + Σ coef·atom`, with the ranges of their atoms.
 * Kernels reach every input element through one of these; movement ops (reshape, permute,
 * expand, pad, shrink, flip) only rewrite them, so views never copy. Knowing each atom's range
 * lets division and modulo by constants cancel, which turns the index of a contiguous reshape
 * back into plain loop arithmetic.
 */
import type { VExpr } from "./kernel.ts";

export type Atom =
  | { readonly k: "var"; readonly key: string; readonly name: string; readonly size: number }
  | { readonly k: "div"; readonly key: string; readonly of: Lin; readonly by: number; readonly lo: number; readonly hi: number }
  | { readonly k: "mod"; readonly key: string; readonly of: Lin; readonly by: number; readonly lo: number; readonly hi: number }
  | { readonly k: "val"; readonly key: string; readonly of: VExpr; readonly lo: number; readonly hi: number };

export interface Term {
  readonly atom: Atom;
  readonly coef: number;
}

export class Lin {
  readonly key: string;
  constructor(
    readonly terms: readonly Term[],
    readonly c: number,
  ) {
    this.key = terms.map((t) => `${t.coef}*${t.atom.key}`).join("+") + `+${c}`;
  }
  get isConst(): boolean {
    return this.terms.length === 0;
  }
}

export function atomRange(a: Atom): [number, number] {
  return a.k === "var" ? [0, a.size - 1] : [a.lo, a.hi];
}

export function linRange(l: Lin): [number, number] {
  let lo = l.c, hi = l.c;
  for (const { atom, coef } of l.terms) {
    const [a, b] = atomRange(atom);
    if (coef >= 0) { lo += coef * a; hi += coef * b; } else { lo += coef * b; hi += coef * a; }
  }
  return [lo, hi];
}

export const lconst = (c: number): Lin => new Lin([], c);

export function lvar(name: string, size: number): Lin {
  return new Lin([{ atom: { k: "var", key: name, name, size }, coef: 1 }], 0);
}

let valCounter = 0;
/** An integer read from data (a gathered index), known to lie in [lo, hi]. */
export function lval(of: VExpr, lo: number, hi: number): Lin {
  return new Lin([{ atom: { k: "val", key: `v${valCounter++}`, of, lo, hi }, coef: 1 }], 0);
}

function build(map: Map<string, Term>, c: number): Lin {
  const terms = [...map.values()].filter((t) => t.coef !== 0).sort((a, b) => (a.atom.key < b.atom.key ? -1 : a.atom.key > b.atom.key ? 1 : 0));
  return new Lin(terms, c);
}

export function ladd(a: Lin, b: Lin | number): Lin {
  if (typeof b === "number") return b === 0 ? a : new Lin(a.terms, a.c + b);
  const m = new Map<string, Term>();
  for (const t of [...a.terms, ...b.terms]) {
    const prev = m.get(t.atom.key);
    m.set(t.atom.key, { atom: t.atom, coef: (prev?.coef ?? 0) + t.coef });
  }
  return build(m, a.c + b.c);
}

export function lmul(a: Lin, k: number): Lin {
  if (k === 1) return a;
  if (k === 0) return lconst(0);
  return new Lin(a.terms.map((t) => ({ atom: t.atom, coef: t.coef * k })), a.c * k);
}

const floorMod = (x: number, d: number): number => ((x % d) + d) % d;

/**
 * a = quot·d + rem with rem always in [0, d), when the terms allow it. Each coefficient is split
 * into a multiple of d and a remainder, rounding down or toward zero (a negative coefficient,
 * as a flip makes, usually needs the latter); the constant is split to fit the remainder's range.
 */
function split(a: Lin, d: number): { quot: Lin; rem: Lin } | null {
  for (const round of [Math.floor, Math.trunc]) {
    const quot = new Map<string, Term>(), rem = new Map<string, Term>();
    for (const t of a.terms) {
      const q = round(t.coef / d);
      quot.set(t.atom.key, { atom: t.atom, coef: q });
      rem.set(t.atom.key, { atom: t.atom, coef: t.coef - q * d });
    }
    const [rlo, rhi] = linRange(build(rem, 0));
    const qc = Math.floor((a.c + rlo) / d), rc = a.c - qc * d;
    if (rlo + rc >= 0 && rhi + rc < d) return { quot: build(quot, qc), rem: build(rem, rc) };
  }
  return null;
}

/** floor(a / d) for a positive integer d. */
export function ldiv(a: Lin, d: number): Lin {
  if (d === 1) return a;
  if (a.isConst) return lconst(Math.floor(a.c / d));
  const [lo, hi] = linRange(a);
  if (Math.floor(lo / d) === Math.floor(hi / d)) return lconst(Math.floor(lo / d));
  const s = split(a, d);
  if (s) return s.quot;
  // div(div(x, p), q) = div(x, p*q)
  if (a.terms.length === 1 && a.c === 0 && a.terms[0]!.coef === 1 && a.terms[0]!.atom.k === "div") {
    const inner = a.terms[0]!.atom;
    return ldiv(inner.of, inner.by * d);
  }
  const atom: Atom = { k: "div", key: `(${a.key})/${d}`, of: a, by: d, lo: Math.floor(lo / d), hi: Math.floor(hi / d) };
  return new Lin([{ atom, coef: 1 }], 0);
}

/** a mod d (floor semantics, result in [0, d)) for a positive integer d. */
export function lmod(a: Lin, d: number): Lin {
  if (d === 1) return lconst(0);
  const s = split(a, d);
  if (s) return s.rem;
  const rem = new Map<string, Term>();
  for (const t of a.terms) rem.set(t.atom.key, { atom: t.atom, coef: floorMod(t.coef, d) });
  let r = build(rem, floorMod(a.c, d));
  if (r.isConst) return r;
  const [lo, hi] = linRange(r);
  if (lo >= 0 && hi < d) return r;
  if (Math.floor(lo / d) === Math.floor(hi / d)) return ladd(r, -Math.floor(lo / d) * d);
  // mod(mod(x, p), q) = mod(x, q) when q divides p
  if (r.terms.length === 1 && r.c === 0 && r.terms[0]!.coef === 1 && r.terms[0]!.atom.k === "mod" && r.terms[0]!.atom.by % d === 0) {
    r = r.terms[0]!.atom.of;
    return lmod(r, d);
  }
  const atom: Atom = { k: "mod", key: `(${r.key})%${d}`, of: r, by: d, lo: 0, hi: d - 1 };
  return new Lin([{ atom, coef: 1 }], 0);
}

/** `lo <= lin < hi`: a bounds condition that guards a padded or gathered load. */
export interface Cond {
  readonly lin: Lin;
  readonly lo: number;
  readonly hi: number;
}

/** Simplifies a condition: `true` when it always holds, `false` when it never does. */
export function simplifyCond(c: Cond): Cond | boolean {
  const [lo, hi] = linRange(c.lin);
  if (lo >= c.lo && hi < c.hi) return true;
  if (hi < c.lo || lo >= c.hi) return false;
  return c;
}

/**
 * Adds to `conds` what keeps `lin` inside [0, size): nothing when it always is, a condition that
 * never holds when it never is, else the bound itself. Returns `lin`.
 */
export function guardIndex(conds: Cond[], lin: Lin, size: number): Lin {
  const c = simplifyCond({ lin, lo: 0, hi: size });
  if (c === false) conds.push({ lin: lconst(-1), lo: 0, hi: 1 });
  else if (c !== true) conds.push(c);
  return lin;
}

/**
 * Where output position `y` and kernel tap `k` of a convolution read its input along spatial dim
 * `i` (y·stride + k·dilation - padLow), guarded to [0, size) in `conds` (padding reads zero).
 */
export function convInputIndex(conds: Cond[], y: Lin, k: Lin, i: number, p: { stride: number[]; dilation: number[]; padding: [number, number][] }, size: number): Lin {
  return guardIndex(conds, ladd(ladd(lmul(y, p.stride[i]!), lmul(k, p.dilation[i]!)), -p.padding[i]![0]), size);
}

export const condKey = (c: Cond): string => `${c.lo}<=${c.lin.key}<${c.hi}`;

/** Row-major flat index of a multi-index into a contiguous buffer of `shape`. */
export function flatIndex(idx: readonly Lin[], shape: readonly number[]): Lin {
  let acc = lconst(0), stride = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    acc = ladd(acc, lmul(idx[i]!, stride));
    stride *= shape[i]!;
  }
  return acc;
}

/** The multi-index of `shape` whose flat index is `flat`. */
export function unflatIndex(flat: Lin, shape: readonly number[]): Lin[] {
  const out = new Array<Lin>(shape.length);
  let stride = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    const q = ldiv(flat, stride);
    out[i] = i === 0 ? q : lmod(q, shape[i]!);
    stride *= shape[i]!;
  }
  return out;
}
