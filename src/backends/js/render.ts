/**
 * Renders a kernel to the source of a JavaScript function. Each distinct expression becomes one
 * `const`; those that vary with the reduction loops go inside them, the rest are hoisted out.
 */
import type { DType } from "../../ir/dtype.ts";
import { atomRange, type Atom, type Cond, type Lin, linRange } from "../../ir/index-expr.ts";
import { type Kernel, placeExprs, topoExprs, type VExpr } from "../../ir/kernel.ts";
import { bf16round, f16round } from "./runtime.ts";
import type { ElementwisePrim, ReducePrim } from "../../ir/ops.ts";

type Alu = (s: string[], dt: DType, srcDt: DType) => string;

const intWrap = (e: string, dt: DType): string =>
  dt === "int32" ? `((${e})|0)` : dt === "uint8" ? `((${e})&255)` : dt === "int64" ? `Math.trunc(${e})` : e;

/**
 * Integer division and remainder by zero give 0 (int32's |0 already did; int64 would store ±inf
 * or NaN, which no integer holds and which fail when read as BigInt). PyTorch raises on CPU, but a
 * kernel also computes the padded-out lanes of a view, where a divisor loads as 0 and the value is
 * never used, so raising here would fire on valid programs. Floats keep IEEE's inf and NaN.
 */
const byNonzero = (b: string, dt: DType, e: string): string =>
  dt === "float32" || dt === "float64" || dt === "float16" || dt === "bfloat16" ? e : `(${b}===0?0:${e})`;

const CAST: { [D in DType]: (s: string) => string } = {
  float32: (s) => `Math.fround(${s})`,
  float64: (s) => `(+${s})`,
  float16: (s) => `f16round(${s})`,
  bfloat16: (s) => `bf16round(${s})`,
  int32: (s) => `(${s}|0)`,
  int64: (s) => `Math.trunc(${s})`,
  uint8: (s) => `(${s}&255)`,
  bool: (s) => `(${s}!=0)`,
};

/** JavaScript for each elementwise primitive; `dt` is the result dtype. */
const ALU: { [P in ElementwisePrim]: Alu } = {
  neg: ([a], dt) => (dt === "bool" ? `(${a}==0)` : intWrap(`-${a}`, dt)),
  exp: ([a]) => `Math.exp(${a})`,
  log: ([a]) => `Math.log(${a})`,
  sin: ([a]) => `Math.sin(${a})`,
  sqrt: ([a]) => `Math.sqrt(${a})`,
  recip: ([a], dt) => intWrap(`1/${a}`, dt),
  erf: ([a]) => `erf(${a})`,
  trunc: ([a]) => `Math.trunc(${a})`,
  cast: ([a], dt, src) => (src === "bool" && dt !== "bool" ? `(+${a})` : CAST[dt](a!)),
  add: ([a, b], dt) => (dt === "bool" ? `Math.max(${a},${b})` : intWrap(`${a}+${b}`, dt === "int64" ? "float64" : dt)),
  mul: ([a, b], dt) => (dt === "int32" ? `Math.imul(${a},${b})` : intWrap(`${a}*${b}`, dt === "int64" ? "float64" : dt)),
  div: ([a, b], dt) => intWrap(`${a}/${b}`, dt),
  max: ([a, b]) => `(${a}>${b}||${a}!==${a}?${a}:${b})`,
  pow: ([a, b], dt) => intWrap(`Math.pow(${a},${b})`, dt),
  idiv: ([a, b], dt) => byNonzero(b!, dt, dt === "int32" ? `((${a}/${b})|0)` : `Math.trunc(${a}/${b})`),
  mod: ([a, b], dt) => byNonzero(b!, dt, intWrap(`${a}%${b}`, dt === "int64" ? "float64" : dt)),
  cmplt: ([a, b]) => `(${a}<${b})`,
  cmpeq: ([a, b]) => `(${a}==${b})`,
  where: ([c, a, b]) => `(${c}?${a}:${b})`,
};

const REDUCE_INIT: { [R in ReducePrim]: string } = { sum: "0", amax: "-Infinity", prod: "1" };
const REDUCE_STEP: { [R in ReducePrim]: (acc: string, v: string, dt: DType) => string } = {
  sum: (acc, v) => `${acc}+=${v};`,
  amax: (acc, v) => `if(${v}>${acc}||${v}!==${v})${acc}=${v};`,
  prod: (acc, v, dt) => (dt === "int32" ? `${acc}=Math.imul(${acc},${v});` : `${acc}*=${v};`),
};

const LOAD: Partial<Record<DType, (s: string) => string>> = {
  float16: (s) => `f16val(${s})`,
  bfloat16: (s) => `bf16val(${s})`,
};
const STORE: Partial<Record<DType, (s: string) => string>> = {
  float16: (s) => `f16bits(${s})`,
  bfloat16: (s) => `bf16bits(${s})`,
};

/**
 * JavaScript computes in float64; rounding every float32 / float16 / bfloat16 result to its dtype
 * gives each op the dtype's semantics, so a value recomputed inside one kernel equals the value
 * another kernel stored.
 */
const ROUND: Partial<Record<DType, (s: string) => string>> = {
  float32: (s) => `Math.fround(${s})`,
  float16: (s) => `f16round(${s})`,
  bfloat16: (s) => `bf16round(${s})`,
};
const roundTo = (dt: DType, s: string): string => (ROUND[dt] ?? ((x: string) => x))(s);
const ROUND_CONST: Partial<Record<DType, (v: number) => number>> = {
  float32: Math.fround,
  float16: (v) => f16round(v),
  bfloat16: (v) => bf16round(v),
};

const randomBits = (dt: DType): number => (dt === "float64" ? 53 : dt === "float16" ? 11 : dt === "bfloat16" ? 8 : 24);

export function renderKernel(k: Kernel): string {
  const names = new Map<VExpr, string>();
  const lin = (l: Lin): string => {
    const parts: string[] = [];
    for (const { atom, coef } of l.terms) parts.push(coef === 1 ? atomJs(atom) : `${coef}*${atomJs(atom)}`);
    if (l.c !== 0 || parts.length === 0) parts.push(String(l.c));
    return parts.length === 1 ? parts[0]! : `(${parts.join("+")})`;
  };
  const atomJs = (a: Atom): string => {
    switch (a.k) {
      case "var": return a.name;
      case "val": return names.get(a.of)!;
      case "div": return `Math.floor(${lin(a.of)}/${a.by})`;
      case "mod": return linRange(a.of)[0] >= 0 ? `(${lin(a.of)}%${a.by})` : `((${lin(a.of)}%${a.by}+${a.by})%${a.by})`;
      default: return a satisfies never;
    }
  };
  const conds = (cs: readonly Cond[]): string =>
    cs.map((c) => {
      const [lo, hi] = linRange(c.lin);
      const e = lin(c.lin);
      const parts = [];
      if (lo < c.lo) parts.push(`${e}>=${c.lo}`);
      if (hi >= c.hi) parts.push(`${e}<${c.hi}`);
      return parts.join("&&") || "true";
    }).join("&&");

  const expr = (e: VExpr): string => {
    switch (e.k) {
      case "const": {
        const v = (ROUND_CONST[e.dt] ?? ((x: number) => x))(e.v);
        return Number.isNaN(v) ? "NaN" : v === Infinity ? "Infinity" : v === -Infinity ? "-Infinity" : Object.is(v, -0) ? "(-0)" : `(${v})`;
      }
      case "load": {
        const ld = LOAD[e.dt] ?? ((s: string) => s);
        const v = ld(`b${e.buf}[${lin(e.idx)}]`);
        return e.valid.length ? `(${conds(e.valid)}?${v}:0)` : v;
      }
      case "index": return lin(e.lin);
      case "alu": {
        const v = ALU[e.op](e.srcs.map((s) => names.get(s)!), e.dt, e.srcs[0]!.dt);
        return e.op === "cast" ? v : roundTo(e.dt, v);
      }
      case "gate": return `(${conds(e.valid)}?${names.get(e.src)}:0)`;
      case "acc": return roundTo(e.dt, "acc");
      case "random": return `uniform(s[${e.state + 2}]+${lin(e.counter)},s[${e.state}],s[${e.state + 1}],${randomBits(e.dt)})`;
      case "check": {
        const v = names.get(e.src)!;
        const guard = e.valid.length ? `(${conds(e.valid)})&&` : "";
        return `(${guard}(${v}<0||${v}>=${e.size}||${v}!==Math.floor(${v}))?oob(${JSON.stringify(e.what)},${v},${e.size}):${v})`;
      }
      default: return e satisfies never;
    }
  };

  const roots = k.reduce ? [k.reduce.body, k.value] : [k.value];
  const order = topoExprs(roots, [k.store.idx]);
  let n = 0;
  for (const e of order) if (e.k === "const") names.set(e, expr(e));
  // One const per expression, in the loop each belongs to.
  const line = (e: VExpr): string => {
    const name = `t${n++}`, code = `const ${name}=${expr(e)};`;
    names.set(e, name);
    return code;
  };
  // Placed in this order, operands still come first: inner and post read only pre and themselves.
  const placed = placeExprs(order);
  const pre = placed.pre.map(line), inner = placed.inner.map(line), post = placed.post.map(line);

  const out: string[] = [];
  k.shape.forEach((s, i) => out.push(`for(let o${i}=0;o${i}<${s};o${i}++){`));
  out.push(...pre);
  if (k.reduce) {
    out.push(`let acc=${REDUCE_INIT[k.reduce.op]};`);
    k.reduce.shape.forEach((s, i) => out.push(`for(let r${i}=0;r${i}<${s};r${i}++){`));
    out.push(...inner, REDUCE_STEP[k.reduce.op]("acc", names.get(k.reduce.body)!, k.reduce.body.dt));
    out.push("}".repeat(k.reduce.shape.length));
  }
  out.push(...post);
  const outDt = k.bufs[0]!.dtype;
  const st = STORE[outDt] ?? ((s: string) => s);
  const v = names.get(k.value)!;
  const at = `b0[${lin(k.store.idx)}]`;
  if (k.store.mode === "set") out.push(`${at}=${st(v)};`);
  else out.push(`${at}=${st(`${(LOAD[outDt] ?? ((s: string) => s))(at)}+${v}`)};`);
  out.push("}".repeat(k.shape.length));
  void atomRange;
  return out.join("\n");
}
