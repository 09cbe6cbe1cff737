/**
 * The op table, OpInfo style: every op is declared once, with a deterministic generator of
 * sample inputs, the Strata call, and the equivalent PyTorch call as data.
 *
 * The same table drives three things:
 * - `scripts/export-op-specs.ts` writes the samples and torch calls as JSON, and
 *   `scripts/torch_reference.py` runs them through PyTorch into `test/fixtures/ops.json`;
 * - `test/ops.test.ts` compares Strata's values, dtypes, shapes and gradients with that fixture,
 *   in float64 (tight) and float32 (loose);
 * - `test/grad.test.ts` checks the gradient of every differentiable sample by finite differences.
 *
 * A sample's inputs are plain values. An input may reach the op through a view of a larger leaf
 * (a transpose, a strided slice, an expand), so non-contiguous inputs are exercised; gradients are
 * taken with respect to that leaf. Float inputs are declared as "float" and run in the dtype of the
 * test mode (float64 or float32). A sample marked `error` must be rejected by both libraries.
 *
 * The torch call is JSON that the Python script interprets generically: `fn` is a dotted path
 * (`torch.add`, `torch.nn.functional.pad`, `torch.Tensor.view`, `operator.getitem`), args and kwargs
 * are JSON with a few tagged objects: `{$t: i}` is input i, `{$slice: [start, stop, step]}`,
 * `{$ellipsis: true}`, `{$tuple: [...]}`, `{$dtype: "int64"}` (or `"float"`: the mode's float dtype),
 * `{$float: "inf" | "-inf" | "nan" | "-0"}`, `{$opt: i}` (input i, or None when the sample has
 * fewer inputs) and `{$inputs: true}` (the list of all inputs).
 */
import { createHash } from "node:crypto";
import * as st from "../src/index.ts";
import type { DType, Tensor } from "../src/index.ts";

const F = st.nn.functional;

// ---------------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------------

export type J = null | boolean | number | string | readonly J[] | { readonly [k: string]: J };

export interface TorchCall {
  fn: string;
  args: J[];
  kwargs?: Record<string, J>;
}

/** "float" is the float dtype of the test mode (float64 or float32); the others are fixed. */
export type InDType = "float" | "float32" | "float64" | "int64" | "int32" | "uint8" | "bool";

export type ViewOp =
  | { op: "transpose"; args: [number, number] }
  | { op: "expand"; args: [number[]] }
  | { op: "index"; args: J[] };

export interface InputSpec {
  /** Shape of the leaf tensor (before `view`). */
  shape: number[];
  dtype: InDType;
  /** Row-major values of the leaf; may hold NaN and ±Infinity. */
  values: number[];
  /** Views applied to the leaf before the op sees it (makes the input non-contiguous). */
  view?: ViewOp[];
  /** Gradients are taken with respect to this leaf (float inputs only). */
  grad: boolean;
}

export interface Sample<K = Kw> {
  inputs: InputSpec[];
  kw: K;
  /** Finite-difference check for this sample; false where the op has a kink at these values. */
  fd?: boolean;
  /** Both torch and Strata must raise (Strata a StrataError, when called or when read). */
  error?: boolean;
}

export type Kw = Record<string, unknown>;
export type StrataOut = Tensor | readonly Tensor[] | st.ValuesIndices;
export interface Ctx {
  /** The float dtype of the test mode. */
  float: DType;
}

export interface Tol {
  atol: number;
  rtol: number;
}

export interface OpEntry<K = Kw> {
  name: string;
  samples: (g: Gen) => Sample<K>[];
  strata: (x: Tensor[], kw: K, ctx: Ctx) => StrataOut;
  torch: (kw: K) => TorchCall;
  /** Whether gradients flow (default true); false for comparisons, indices, creation, ... */
  grad?: boolean;
  /** Whether finite differences apply (default: as `grad`). */
  fd?: boolean;
  /** Checked for second derivatives in grad.test.ts (indices of samples). */
  gradgrad?: number[];
  tol?: { float64?: Partial<Tol>; float32?: Partial<Tol> };
}

// ---------------------------------------------------------------------------------------------
// Deterministic sample values
// ---------------------------------------------------------------------------------------------

const numel = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

export interface FOpts {
  lo?: number;
  hi?: number;
  /** Grid of the values (default 1/16: exact in float32, short in JSON). */
  step?: number;
  /** How the input reaches the op: a transposed leaf, every other element of a wider leaf, or an expanded leaf. */
  layout?: "T" | "slice" | "expand";
  /** All values different (no ties for max, pools, sorting). */
  distinct?: boolean;
  /** No value within 1/4 of zero (divisors). */
  nonzero?: boolean;
  grad?: boolean;
}

/** Seeded generator (mulberry32): the same op name gives the same samples on every run. */
export class Gen {
  private state: number;
  constructor(seed: string) {
    let h = 2166136261;
    for (let i = 0; i < seed.length; i++) h = Math.imul(h ^ seed.charCodeAt(i), 16777619);
    this.state = h >>> 0;
  }
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  private layout(shape: number[], layout: FOpts["layout"]): { base: number[]; view?: ViewOp[] } {
    if (!layout) return { base: [...shape] };
    const n = shape.length;
    if (layout === "T") {
      if (n < 2) throw new Error("layout T needs 2 dims");
      return { base: [...shape.slice(0, -2), shape[n - 1]!, shape[n - 2]!], view: [{ op: "transpose", args: [-2, -1] }] };
    }
    if (layout === "slice") {
      if (n < 1) throw new Error("layout slice needs 1 dim");
      return { base: [...shape.slice(0, -1), 2 * shape[n - 1]! + 1], view: [{ op: "index", args: [ELL, S(1, null, 2)] }] };
    }
    const d = shape.findIndex((s) => s > 1);
    if (d < 0) throw new Error("layout expand needs a dim > 1");
    return { base: shape.map((s, i) => (i === d ? 1 : s)), view: [{ op: "expand", args: [[...shape]] }] };
  }
  /** Floats on a grid in [lo, hi] (default [-2, 2]). */
  f(shape: number[], o: FOpts = {}): InputSpec {
    const { base, view } = this.layout(shape, o.layout);
    const n = numel(base);
    const lo = o.lo ?? -2, hi = o.hi ?? 2;
    let values: number[];
    if (o.distinct) {
      const perm = Array.from({ length: n }, (_, i) => i);
      for (let i = n - 1; i > 0; i--) {
        const j = this.int(0, i);
        [perm[i], perm[j]] = [perm[j]!, perm[i]!];
      }
      const step = n <= 64 ? 1 / 16 : n <= 256 ? 1 / 64 : 1 / 256;
      values = perm.map((p) => lo + p * step);
    } else {
      const step = o.step ?? 1 / 16;
      const k = Math.floor((hi - lo) / step);
      values = Array.from({ length: n }, () => {
        for (;;) {
          const v = lo + step * this.int(0, k);
          if (!o.nonzero || Math.abs(v) >= 0.25) return v;
        }
      });
    }
    return { shape: base, dtype: "float", values, view, grad: o.grad ?? true };
  }
  /** Integers in [lo, hi]. */
  i(shape: number[], lo: number, hi: number, o: { dtype?: "int64" | "int32" | "uint8"; layout?: FOpts["layout"]; nonzero?: boolean } = {}): InputSpec {
    const { base, view } = this.layout(shape, o.layout);
    const values = Array.from({ length: numel(base) }, () => {
      for (;;) {
        const v = this.int(lo, hi);
        if (!o.nonzero || v !== 0) return v;
      }
    });
    return { shape: base, dtype: o.dtype ?? "int64", values, view, grad: false };
  }
  b(shape: number[], o: { layout?: FOpts["layout"] } = {}): InputSpec {
    const { base, view } = this.layout(shape, o.layout);
    return { shape: base, dtype: "bool", values: Array.from({ length: numel(base) }, () => this.int(0, 1)), view, grad: false };
  }
}

/** An input with the given values. */
export function lit(shape: number[], values: number[], dtype: InDType = "float", grad = dtype === "float"): InputSpec {
  if (values.length !== numel(shape)) throw new Error(`lit: ${values.length} values for shape [${shape}]`);
  return { shape, dtype, values, grad };
}
const noGrad = (s: InputSpec): InputSpec => ({ ...s, grad: false });

// ---------------------------------------------------------------------------------------------
// Torch call encoding
// ---------------------------------------------------------------------------------------------

export const T = (i: number): J => ({ $t: i });
export const S = (start: number | null, stop: number | null = null, step: number | null = null): J => ({ $slice: [start, stop, step] });
export const ELL: J = { $ellipsis: true };
export const tup = (...xs: J[]): J => ({ $tuple: xs });
export const DT = (d: string): J => ({ $dtype: d });
const call = (fn: string, args: J[], kwargs?: Record<string, J | undefined>): TorchCall => {
  const kw: Record<string, J> = {};
  for (const [k, v] of Object.entries(kwargs ?? {})) if (v !== undefined) kw[k] = v;
  return Object.keys(kw).length ? { fn, args, kwargs: kw } : { fn, args };
};
/** Input i when the sample has it, else None. */
const OPT = (i: number): J => ({ $opt: i });
/** The list of all the sample's inputs. */
const ALL: J = { $inputs: true };

/** Index specs (encoded as above) to Strata's `index` specs. */
export function strataIndex(specs: readonly J[], inputs: readonly Tensor[]): st.IndexSpec[] {
  return specs.map((s): st.IndexSpec => {
    if (s === null || typeof s === "number") return s;
    if (typeof s === "object" && !Array.isArray(s)) {
      const o = s as Record<string, J>;
      if ("$ellipsis" in o) return "...";
      if ("$slice" in o) {
        const [a, b, c] = o.$slice as (number | null)[];
        return { start: a ?? undefined, stop: b ?? undefined, step: c ?? undefined };
      }
      if ("$t" in o) return inputs[o.$t as number]!;
    }
    throw new Error(`strataIndex: cannot convert ${JSON.stringify(s)}`);
  });
}

// ---------------------------------------------------------------------------------------------
// The cotangent both sides use: gradients are those of sum_k sum(out_k * cot_k).
// ---------------------------------------------------------------------------------------------

/** Cotangent of output k with n elements (row-major): values in {-0.625, ..., 0.875}, never 0. */
export function cotangent(n: number, k: number): number[] {
  return Array.from({ length: n }, (_, i) => (((i * 5 + k * 3) % 7) - 2.5) / 4);
}

// ---------------------------------------------------------------------------------------------
// Building and running samples on the Strata side
// ---------------------------------------------------------------------------------------------

export const dtypeOf = (d: InDType, ctx: Ctx): DType => (d === "float" ? ctx.float : d);

/** The leaf tensors of a sample (requiring grad where declared) and the tensors the op sees. */
export function makeInputs(sample: Sample, ctx: Ctx, requiresGrad: boolean, values?: readonly (readonly number[])[]): { leaves: Tensor[]; inputs: Tensor[] } {
  const leaves = sample.inputs.map((spec, i) => {
    const dtype = dtypeOf(spec.dtype, ctx);
    const t = st.tensor([...(values?.[i] ?? spec.values)], { dtype }).reshape(spec.shape).detach();
    if (requiresGrad && spec.grad && spec.dtype === "float") t.requiresGrad_(true);
    return t;
  });
  return { leaves, inputs: viewInputs(sample, leaves) };
}

/** The tensors the op sees: each leaf through its sample's views. */
export function viewInputs(sample: Sample, leaves: readonly Tensor[]): Tensor[] {
  return leaves.map((t, i) => applyViews(t, sample.inputs[i]!.view ?? [], leaves));
}

function applyViews(t: Tensor, views: readonly ViewOp[], all: readonly Tensor[]): Tensor {
  let y = t;
  for (const v of views) {
    if (v.op === "transpose") y = y.transpose(v.args[0], v.args[1]);
    else if (v.op === "expand") y = y.expand(v.args[0]);
    else y = y.index(...strataIndex(v.args, all));
  }
  return y;
}

export function flattenOut(o: StrataOut): Tensor[] {
  if (o instanceof st.ValuesIndices) return [o.values, o.indices];
  if (Array.isArray(o)) return [...(o as readonly Tensor[])];
  return [o as Tensor];
}

/** sum_k sum(out_k * cot_k) over the float outputs; null when no output carries gradients. */
export function cotangentLoss(outs: readonly Tensor[]): Tensor | null {
  let loss: Tensor | null = null;
  outs.forEach((o, k) => {
    if (!o.isFloatingPoint() || !o.requiresGrad) return;
    const cot = st.tensor(cotangent(o.numel(), k), { dtype: o.dtype }).reshape(o.shape);
    const term = o.mul(cot).sum();
    loss = loss ? loss.add(term) : term;
  });
  return loss;
}

/** Whether gradients of this sample are compared and checked. */
export function sampleHasGrad(e: OpEntry, s: Sample): boolean {
  return (e.grad ?? true) && !s.error && s.inputs.some((i) => i.grad && i.dtype === "float");
}
export function sampleHasFd(e: OpEntry, s: Sample): boolean {
  return sampleHasGrad(e, s) && (e.fd ?? true) && (s.fd ?? true);
}

/** The JSON spec of a sample, as the export script writes it (non-finite numbers tagged). */
export function sampleSpec(e: OpEntry, s: Sample, index: number): Record<string, J> {
  const spec = {
    id: `${e.name}/${index}`,
    inputs: s.inputs.map((i) => ({ shape: i.shape, dtype: i.dtype, values: i.values, view: i.view ?? [], grad: i.grad && i.dtype === "float" })),
    torch: e.torch(s.kw),
    grad: sampleHasGrad(e, s),
    ...(s.error ? { error: true } : {}),
  };
  // JSON has no NaN, infinities or -0: tag them.
  const tag = (_k: string, v: unknown) => (typeof v === "number" && (!Number.isFinite(v) || Object.is(v, -0)) ? { $float: Object.is(v, -0) ? "-0" : String(v) } : v);
  return tagNonFinite(JSON.parse(JSON.stringify(spec, tag))) as Record<string, J>;
}
function tagNonFinite(v: J): J {
  if (v && typeof v === "object" && !Array.isArray(v)) {
    const o = v as Record<string, J>;
    if ("$float" in o) return { $float: o.$float === "Infinity" ? "inf" : o.$float === "-Infinity" ? "-inf" : o.$float === "-0" ? "-0" : "nan" };
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, tagNonFinite(x)]));
  }
  if (Array.isArray(v)) return v.map(tagNonFinite);
  return v;
}

/** A short hash of a sample's spec: the fixture records it, so a changed table is noticed. */
export function sampleSig(spec: Record<string, J>): string {
  return createHash("sha1").update(JSON.stringify(spec)).digest("hex").slice(0, 12);
}

/** Every sample of the table, generated once. */
export function allSamples(): { entry: OpEntry; sample: Sample; index: number; id: string }[] {
  const out: { entry: OpEntry; sample: Sample; index: number; id: string }[] = [];
  for (const e of OPS) e.samples(new Gen(e.name)).forEach((s, i) => out.push({ entry: e, sample: s, index: i, id: `${e.name}/${i}` }));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Sample families shared by many ops
// ---------------------------------------------------------------------------------------------

const smp = <K = Kw>(inputs: InputSpec[], kw: K = {} as K, fd?: boolean): Sample<K> => (fd === undefined ? { inputs, kw } : { inputs, kw, fd });
/** A sample both sides must reject. */
const bad = <K = Kw>(inputs: InputSpec[], kw: K = {} as K): Sample<K> => ({ inputs: inputs.map(noGrad), kw, error: true });

interface BinKw { scalar?: number; alpha?: number; roundingMode?: "trunc" | "floor"; /** The input times itself. */ self?: boolean }

/** Two float operands: same shape, broadcasting, non-contiguous, odd sizes, 0-d, empty, size 1. */
function binaryFloat(g: Gen, a: FOpts = {}, b: FOpts = {}): Sample<BinKw>[] {
  return [
    smp([g.f([3, 4], a), g.f([3, 4], b)]),
    smp([g.f([2, 3, 4], a), g.f([4], b)]),
    smp([g.f([3, 1], a), g.f([1, 5], b)]),
    smp([g.f([4, 3], { ...a, layout: "T" }), g.f([4, 3], b)]),
    smp([g.f([7, 13], a), g.f([7, 13], { ...b, layout: "slice" })]),
    smp([g.f([2, 5], { ...a, layout: "expand" }), g.f([2, 5], b)]),
    smp([g.f([], a), g.f([2, 3], b)]),
    smp([g.f([2, 3], a), g.f([], b)]),
    smp([g.f([0, 3], a), g.f([3], b)]),
    smp([g.f([1, 1], a), g.f([1], b)]),
  ];
}

/** Integer operands (int64 and int32, with negatives). */
function binaryInt(g: Gen, nonzeroB = false): Sample<BinKw>[] {
  return [
    smp([g.i([3, 4], -9, 9), g.i([3, 4], -4, 4, { nonzero: nonzeroB })]),
    smp([g.i([2, 5], -20, 20, { dtype: "int32" }), g.i([5], -6, 6, { dtype: "int32", nonzero: nonzeroB })]),
  ];
}

const other = (x: Tensor[], kw: BinKw): Tensor | number => (kw.scalar !== undefined ? kw.scalar : x[1]!);
const otherT = (kw: BinKw): J => (kw.scalar !== undefined ? kw.scalar : T(1));

interface UnaryOpts {
  lo?: number;
  hi?: number;
  /** Keep values away from 0 (a kink there would fail the finite differences). */
  nonzero?: boolean;
  /** Extra samples (edge values: NaN, inf, domain boundaries). */
  extra?: (g: Gen) => Sample[];
  gradgrad?: number[];
  tol?: OpEntry["tol"];
}

function unary(name: string, torchFn: string, fn: (x: Tensor) => Tensor, o: UnaryOpts = {}): OpEntry {
  const r = { lo: o.lo, hi: o.hi, nonzero: o.nonzero };
  return {
    name,
    samples: (g) => [
      smp([g.f([3, 4], r)]),
      smp([g.f([2, 3, 5], { ...r, layout: "T" })]),
      smp([g.f([7, 13], { ...r, layout: "slice" })]),
      smp([g.f([], r)]),
      smp([g.f([0, 4], r)]),
      smp([g.f([1], r)]),
      ...(o.extra?.(g) ?? []),
    ],
    strata: (x) => fn(x[0]!),
    torch: () => call(torchFn, [T(0)]),
    gradgrad: o.gradgrad,
    tol: o.tol,
  };
}

/** An edge-value sample (no gradients: the derivative is not finite there). */
const edge = (values: number[]): Sample => smp([lit([values.length], values, "float", false)]);
const NAN_INF = [NaN, Infinity, -Infinity, 0, -0, 1, -1];

function reduceSamples(g: Gen, o: FOpts = {}): Sample<RedKw>[] {
  return [
    smp([g.f([3, 4], o)], {}),
    smp([g.f([3, 4], o)], { dim: 1 }),
    smp([g.f([2, 3, 4], o)], { dim: 0, keepdim: true }),
    smp([g.f([2, 3, 4], { ...o, layout: "T" })], { dim: -1 }),
    smp([g.f([7, 13], { ...o, layout: "slice" })], { dim: 0 }),
    smp([g.f([2, 3, 5], o)], { dim: [0, 2] }),
    smp([g.f([2, 3, 5], o)], { dim: [-1, 1], keepdim: true }),
    smp([g.f([], o)], {}),
    smp([g.f([1, 5], o)], { dim: 0 }),
    ...(o.distinct ? [] : [smp([g.f([3, 4], { ...o, layout: "expand" })], { dim: 0 })]),
  ];
}
interface RedKw { dim?: number | number[]; keepdim?: boolean; correction?: number }

const red = (fn: string) => (kw: RedKw) => (kw.dim === undefined ? call(fn, [T(0)]) : call(fn, [T(0), kw.dim as J], { keepdim: kw.keepdim }));
const keep = (kw: RedKw) => (kw.keepdim === undefined ? undefined : { keepdim: kw.keepdim });

// ---------------------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------------------

const defineOp = <K>(e: OpEntry<K>): OpEntry => e as unknown as OpEntry;

export const OPS: OpEntry[] = [
  // ---- arithmetic with broadcasting ----
  defineOp<BinKw>({
    name: "add",
    samples: (g) => [
      ...binaryFloat(g),
      ...binaryInt(g),
      smp([g.f([2, 3])], { scalar: 1.5 }),
      smp([g.f([2, 3]), g.f([3])], { alpha: -2.5 }),
      smp([g.i([4], -5, 5)], { scalar: 2.5 }),
      smp([g.i([4], -5, 5), g.f([4])]),
      smp([g.b([3]), g.b([3])]),
      // Type promotion: 0-d tensors only raise the category; dimensioned tensors decide the size.
      smp([g.f([3], { grad: false }), { ...g.f([], { grad: false }), dtype: "float64" }]),
      smp([{ ...g.f([3], { grad: false }), dtype: "float32" }, { ...g.f([3], { grad: false }), dtype: "float64" }]),
      smp([g.i([3], -5, 5, { dtype: "int32" }), { ...g.f([], { grad: false }), dtype: "float64" }]),
      smp([g.i([3], -5, 5, { dtype: "int32" }), g.i([], -5, 5)]),
      smp([g.i([3], -5, 5, { dtype: "int32" }), g.i([3], -5, 5)]),
      smp([g.i([3], 0, 9, { dtype: "uint8" }), g.i([3], -5, 5, { dtype: "int32" })]),
      smp([g.i([3], 0, 9, { dtype: "uint8" }), g.b([])]),
      smp([g.b([3]), g.i([3], -5, 5)]),
      bad([g.f([3]), g.f([4])]),
    ],
    strata: (x, kw) => (kw.alpha !== undefined ? st.add(x[0]!, other(x, kw), { alpha: kw.alpha }) : x[0]!.add(other(x, kw))),
    torch: (kw) => call("torch.add", [T(0), otherT(kw)], { alpha: kw.alpha }),
  }),
  defineOp<BinKw>({
    name: "sub",
    samples: (g) => [...binaryFloat(g), ...binaryInt(g), smp([g.f([2, 3])], { scalar: 0.75 }), smp([g.f([3]), g.f([2, 3])], { alpha: 3 })],
    strata: (x, kw) => st.sub(x[0]!, other(x, kw), kw.alpha !== undefined ? { alpha: kw.alpha } : undefined),
    torch: (kw) => call("torch.sub", [T(0), otherT(kw)], { alpha: kw.alpha }),
  }),
  defineOp<BinKw>({
    name: "mul",
    samples: (g) => [...binaryFloat(g), ...binaryInt(g), smp([g.f([2, 3])], { scalar: -3 }), smp([g.b([4]), g.b([4])]), smp([g.i([3], -3, 3), g.f([2, 3])]), smp([g.f([3, 4], { layout: "T" })], { self: true })],
    strata: (x, kw) => x[0]!.mul(kw.self ? x[0]! : other(x, kw)),
    torch: (kw) => call("torch.mul", [T(0), kw.self ? T(0) : otherT(kw)]),
    gradgrad: [0, 2],
  }),
  defineOp<BinKw>({
    name: "div",
    samples: (g) => [
      ...binaryFloat(g, {}, { nonzero: true }),
      ...binaryInt(g, true),
      smp([g.f([2, 3])], { scalar: 4 }),
      smp([g.f([3, 4]), g.f([4], { nonzero: true })], { roundingMode: "trunc" }, false),
      smp([g.f([3, 4]), g.f([3, 4], { nonzero: true })], { roundingMode: "floor" }, false),
      smp([g.i([3, 4], -9, 9), g.i([4], -4, 4, { nonzero: true })], { roundingMode: "trunc" }),
      smp([g.i([3, 4], -9, 9), g.i([3, 4], -4, 4, { nonzero: true })], { roundingMode: "floor" }),
      smp([g.i([2, 3], -9, 9, { dtype: "int32" })], { scalar: -2, roundingMode: "floor" }),
      smp([lit([4], [1, -1, 0, 0]), lit([4], [0, 0, 0, -0])].map(noGrad)),
    ],
    strata: (x, kw) => st.div(x[0]!, other(x, kw), kw.roundingMode ? { roundingMode: kw.roundingMode } : undefined),
    torch: (kw) => call("torch.div", [T(0), otherT(kw)], { rounding_mode: kw.roundingMode }),
    // Rounded quotients are piecewise constant: their gradient is zero, as in PyTorch.
  }),
  defineOp<BinKw>({
    name: "floorDivide",
    samples: (g) => [...binaryInt(g, true), smp([g.f([3, 4]), g.f([4], { nonzero: true })]), smp([g.i([5], -7, 7)], { scalar: 3 }), smp([g.f([2, 3], { layout: "T" })], { scalar: -0.75 })],
    strata: (x, kw) => x[0]!.floorDivide(other(x, kw)),
    torch: (kw) => call("torch.floor_divide", [T(0), otherT(kw)]),
    grad: false,
  }),
  defineOp<BinKw>({
    name: "remainder",
    samples: (g) => [...binaryInt(g, true), smp([g.f([3, 4]), g.f([4], { nonzero: true })], {}, false), smp([g.f([2, 5], { layout: "T" }), g.f([5], { nonzero: true })], {}, false), smp([g.i([6], -7, 7)], { scalar: -3 }), smp([g.f([5])], { scalar: 0.75 }, false), smp([g.f([3, 4], { nonzero: true }), lit([4], [0.7, -1.3, 1.1, -0.9])])],
    strata: (x, kw) => st.remainder(x[0]!, other(x, kw)),
    torch: (kw) => call("torch.remainder", [T(0), otherT(kw)]),
  }),
  defineOp<BinKw>({
    name: "fmod",
    samples: (g) => [...binaryInt(g, true), smp([g.f([3, 4]), g.f([4], { nonzero: true })], {}, false), smp([g.f([2, 5], { layout: "slice" }), g.f([2, 5], { nonzero: true })], {}, false), smp([g.i([6], -7, 7)], { scalar: -3 }), smp([g.f([5])], { scalar: 0.75 }, false), smp([g.f([3, 4], { nonzero: true }), lit([4], [0.7, -1.3, 1.1, -0.9])])],
    strata: (x, kw) => x[0]!.fmod(other(x, kw)),
    torch: (kw) => call("torch.fmod", [T(0), otherT(kw)]),
  }),
  defineOp<BinKw>({
    name: "pow",
    samples: (g) => [
      smp([g.f([3, 4], { lo: 0.25, hi: 2 }), g.f([3, 4])]),
      smp([g.f([2, 3, 4], { lo: 0.25, hi: 2 }), g.f([4])]),
      smp([g.f([4, 3], { lo: 0.25, hi: 2, layout: "T" }), g.f([1, 3], { lo: -1, hi: 3 })]),
      smp([g.f([], { lo: 0.5, hi: 2 }), g.f([2, 3])]),
      smp([g.f([0, 3], { lo: 0.5, hi: 2 }), g.f([3])]),
      smp([g.f([3, 4])], { scalar: 2 }),
      smp([g.f([3, 4])], { scalar: 3 }),
      smp([g.f([2, 5], { lo: 0.25, hi: 3 })], { scalar: 0.5 }),
      smp([g.f([2, 5], { lo: 0.25, hi: 3 })], { scalar: -1.5 }),
      smp([g.f([7, 13], { layout: "slice" })], { scalar: 1 }),
      smp([lit([4], [0, 0, 2, 0.5]), lit([4], [2, 0.5, 0, 3])], {}, false),
      smp([lit([4], [-2, -0.5, 0, 1.5], "float", false), lit([4], [0.5, 2, -1, 0.5], "float", false)]),
      smp([lit([3], [-2, -0.5, 1.5]), lit([3], [3, 2, 2])], {}, false),
      smp([g.i([3, 4], -3, 3), g.i([3, 4], 0, 3)]),
    ],
    strata: (x, kw) => x[0]!.pow(other(x, kw)),
    torch: (kw) => call("torch.pow", [T(0), otherT(kw)]),
    gradgrad: [0, 6, 8],
  }),
  defineOp<BinKw>({
    name: "maximum",
    samples: (g) => [...binaryFloat(g), ...binaryInt(g), smp([lit([5], [1, 2, 3, NaN, -1], "float", false), lit([5], [1, 3, NaN, 0, -2], "float", false)]), smp([lit([4], [1, 2, -3, 0.5]), lit([4], [1, -2, -3, 0.75])], {}, false), smp([g.i([6], 0, 4, { dtype: "uint8" }), g.i([6], 0, 4, { dtype: "uint8" })])],
    strata: (x) => st.maximum(x[0]!, x[1]!),
    torch: () => call("torch.maximum", [T(0), T(1)]),
  }),
  defineOp<BinKw>({
    name: "minimum",
    samples: (g) => [...binaryFloat(g), ...binaryInt(g), smp([lit([5], [1, 2, 3, NaN, -1], "float", false), lit([5], [1, 3, NaN, 0, -2], "float", false)]), smp([lit([4], [1, 2, -3, 0.5]), lit([4], [1, -2, -3, 0.75])], {}, false), smp([g.i([6], 0, 4, { dtype: "uint8" }), g.i([6], 0, 4, { dtype: "uint8" })]), smp([g.b([4]), g.b([4])])],
    strata: (x) => x[0]!.minimum(x[1]!),
    torch: () => call("torch.minimum", [T(0), T(1)]),
  }),

  // ---- comparisons (ties on purpose: values on a coarse grid) ----
  ...(["eq", "ne", "lt", "le", "gt", "ge"] as const).map((name) =>
    defineOp<BinKw>({
      name,
      samples: (g) => [
        smp([g.f([3, 4], { step: 1 }), g.f([3, 4], { step: 1 })]),
        smp([g.f([2, 3, 4], { step: 1 }), g.f([4], { step: 1 })]),
        smp([g.f([4, 3], { step: 1, layout: "T" }), g.f([1, 3], { step: 1 })]),
        smp([g.f([], { step: 1 }), g.f([2, 3], { step: 1 })]),
        smp([g.f([0, 3]), g.f([3])]),
        smp([g.f([3, 4], { step: 0.5 })], { scalar: 0.5 }),
        smp([g.i([3, 4], -2, 2), g.i([4], -2, 2)]),
        smp([g.i([5], -2, 2)], { scalar: 1 }),
        smp([g.i([5], -2, 2), g.f([5], { step: 0.5 })]),
        smp([g.b([2, 3]), g.b([3])]),
        smp([lit([6], [NaN, NaN, Infinity, -Infinity, 0, 1], "float", false), lit([6], [NaN, 1, Infinity, Infinity, -0, NaN], "float", false)]),
      ],
      strata: (x, kw) => (x[0]![name] as (o: Tensor | number) => Tensor).call(x[0]!, other(x, kw)),
      torch: (kw) => call(`torch.${name}`, [T(0), otherT(kw)]),
      grad: false,
    }),
  ),

  // ---- logical ----
  ...([["logicalAnd", "logical_and"], ["logicalOr", "logical_or"], ["logicalXor", "logical_xor"]] as const).map(([name, tn]) =>
    defineOp<BinKw>({
      name,
      samples: (g) => [
        smp([g.b([3, 4]), g.b([3, 4])]),
        smp([g.b([2, 3, 4]), g.b([4])]),
        smp([g.b([4, 3], { layout: "T" }), g.b([4, 3])]),
        smp([g.b([]), g.b([0])]),
        smp([g.f([2, 3], { step: 1 }), g.i([3], -1, 1)]),
        smp([g.f([5], { step: 1 }), g.b([5])]),
      ],
      strata: (x) => (st[name] as (a: Tensor, b: Tensor) => Tensor)(x[0]!, x[1]!),
      torch: () => call(`torch.${tn}`, [T(0), T(1)]),
      grad: false,
    }),
  ),
  defineOp<Kw>({
    name: "logicalNot",
    samples: (g) => [smp([g.b([3, 4])]), smp([g.b([4, 3], { layout: "T" })]), smp([g.f([2, 3], { step: 1 })]), smp([g.i([5], -1, 1)]), smp([g.b([0, 2])]), smp([g.b([])])],
    strata: (x) => x[0]!.logicalNot(),
    torch: () => call("torch.logical_not", [T(0)]),
    grad: false,
  }),

  // ---- unary math ----
  unary("abs", "torch.abs", (x) => x.abs(), { nonzero: true, extra: (g) => [edge(NAN_INF), smp([lit([3], [0, -1, 2])], {}, false), smp([g.i([5], -4, 4)]), smp([g.i([5], 0, 200, { dtype: "uint8" })])] }),
  unary("neg", "torch.neg", (x) => st.neg(x), { extra: (g) => [edge(NAN_INF), smp([g.i([5], -4, 4, { dtype: "int32" })])] }),
  unary("exp", "torch.exp", (x) => x.exp(), { extra: (g) => [edge([...NAN_INF, 700, -800]), smp([g.i([4], -3, 3)])], gradgrad: [0, 3] }),
  unary("log", "torch.log", (x) => x.log(), { lo: 0.125, hi: 4, extra: () => [edge([...NAN_INF, -2, 1e-30])], gradgrad: [0, 3] }),
  unary("log1p", "torch.log1p", (x) => x.log1p(), { lo: -0.875, hi: 3, extra: () => [edge([...NAN_INF, -1, -2])] }),
  unary("expm1", "torch.expm1", (x) => x.expm1(), { extra: () => [edge([...NAN_INF, 1e-10])] }),
  unary("sqrt", "torch.sqrt", (x) => x.sqrt(), { lo: 0.125, hi: 4, extra: () => [edge([...NAN_INF, -4]), smp([lit([2], [0, 4])], {}, false)] }),
  unary("rsqrt", "torch.rsqrt", (x) => x.rsqrt(), { lo: 0.125, hi: 4, extra: () => [edge([...NAN_INF, -4])] }),
  unary("sin", "torch.sin", (x) => x.sin(), { lo: -4, hi: 4, extra: () => [edge(NAN_INF)], gradgrad: [0, 3] }),
  unary("cos", "torch.cos", (x) => st.cos(x), { lo: -4, hi: 4, extra: () => [edge(NAN_INF)] }),
  unary("tan", "torch.tan", (x) => x.tan(), { lo: -1.25, hi: 1.25, extra: () => [edge(NAN_INF)] }),
  unary("tanh", "torch.tanh", (x) => x.tanh(), { lo: -3, hi: 3, extra: () => [edge([...NAN_INF, 30, -30, 400, -400]), smp([lit([6], [-400, -40, -20, 20, 40, 400])])], gradgrad: [0, 3] }),
  unary("sigmoid", "torch.sigmoid", (x) => st.sigmoid(x), { lo: -4, hi: 4, extra: () => [edge([...NAN_INF, 800, -800]), smp([lit([6], [-800, -40, -20, 20, 40, 800])])], gradgrad: [0, 3] }),
  unary("relu", "torch.relu", (x) => x.relu(), { nonzero: true, extra: (g) => [edge(NAN_INF), smp([lit([3], [0, -1, 2])], {}, false), smp([g.i([5], -4, 4)])] }),
  unary("gelu", "torch.nn.functional.gelu", (x) => x.gelu(), { lo: -4, hi: 4, extra: () => [edge(NAN_INF)] }),
  defineOp<{ approximate?: "tanh" | "none" }>({
    name: "gelu_tanh",
    samples: (g) => [smp([g.f([3, 4], { lo: -4, hi: 4 })], { approximate: "tanh" }), smp([g.f([2, 3, 5], { layout: "T" })], { approximate: "tanh" }), smp([g.f([])], { approximate: "tanh" }), smp([g.f([0, 2])], { approximate: "tanh" }), smp([g.f([5])], { approximate: "none" })],
    strata: (x, kw) => F.gelu(x[0]!, { approximate: kw.approximate }),
    torch: (kw) => call("torch.nn.functional.gelu", [T(0)], { approximate: kw.approximate }),
  }),
  unary("silu", "torch.nn.functional.silu", (x) => F.silu(x), { lo: -4, hi: 4, extra: () => [edge([...NAN_INF, 800, -800]), smp([lit([6], [-800, -40, -20, 20, 40, 800])])] }),
  defineOp<{ beta?: number; threshold?: number }>({
    name: "softplus",
    samples: (g) => [
      smp([g.f([3, 4], { lo: -4, hi: 4 })]),
      smp([g.f([2, 3, 5], { layout: "T" })], { beta: 2 }),
      smp([g.f([7, 13], { layout: "slice", lo: -4, hi: 4 })], { beta: 0.5, threshold: 3 }),
      smp([g.f([])]),
      smp([g.f([0, 3])]),
      smp([lit([6], [-100, -30, 19.5, 21, 30, 100])]),
      smp([lit([5], [NaN, Infinity, -Infinity, 800, -800], "float", false)]),
    ],
    strata: (x, kw) => x[0]!.softplus(kw),
    torch: (kw) => call("torch.nn.functional.softplus", [T(0)], { beta: kw.beta, threshold: kw.threshold }),
  }),
  unary("erf", "torch.erf", (x) => x.erf(), { lo: -3, hi: 3, extra: () => [edge([...NAN_INF, 5, -6, 0.001])] }),
  defineOp<{ min?: number | null; max?: number | null; tensors?: boolean }>({
    name: "clamp",
    samples: (g) => [
      // Bounds off the 1/16 grid of the values: no value sits on a kink (the last samples test those).
      smp([g.f([3, 4])], { min: -0.46875, max: 1.03125 }),
      smp([g.f([2, 3, 4], { layout: "T" })], { min: 0.03125 }),
      smp([g.f([7, 13], { layout: "slice" })], { max: 0.28125 }),
      smp([g.f([])], { min: -1.03125, max: 0.96875 }),
      smp([g.f([0, 2])], { min: 0, max: 1 }),
      smp([lit([5], [-1, -0.5, 0, 1, 2])], { min: -0.5, max: 1 }, false),
      smp([g.f([3, 4]), g.f([4], { lo: -1.96875, hi: 0 }), g.f([3, 1], { lo: 1.03125, hi: 2 })], { tensors: true }),
      smp([g.i([6], -5, 5)], { min: -2, max: 3 }),
      smp([lit([4], [NaN, Infinity, -Infinity, 0.5], "float", false)], { min: -1, max: 1 }),
    ],
    strata: (x, kw) => (kw.tensors ? x[0]!.clamp(x[1]!, x[2]!) : st.clamp(x[0]!, kw.min, kw.max)),
    torch: (kw) => (kw.tensors ? call("torch.clamp", [T(0), T(1), T(2)]) : call("torch.clamp", [T(0)], { min: kw.min, max: kw.max })),
  }),
  defineOp<{ scalarX?: number; scalarY?: number }>({
    name: "where",
    samples: (g) => [
      smp([g.b([3, 4]), g.f([3, 4]), g.f([3, 4])]),
      smp([g.b([3, 1]), g.f([4]), g.f([2, 3, 4])]),
      smp([g.b([4, 3], { layout: "T" }), g.f([4, 3], { layout: "T" }), g.f([4, 3], { layout: "slice" })]),
      smp([g.b([2, 3]), g.f([2, 3])], { scalarY: 0 }),
      smp([g.b([5]), g.f([5])], { scalarY: -1.5 }),
      smp([g.b([]), g.f([]), g.f([2])]),
      smp([g.b([0, 2]), g.f([0, 2]), g.f([2])]),
      smp([g.b([2, 3]), g.i([2, 3], -3, 3), g.i([3], -3, 3)]),
      bad([g.f([2, 3], { step: 1 }), g.f([2, 3]), g.f([2, 3])]),
    ],
    strata: (x, kw) => (kw.scalarY !== undefined ? st.where(x[0]!, x[1]!, kw.scalarY) : st.where(x[0]!, x[1]!, x[2]!)),
    torch: (kw) => call("torch.where", [T(0), T(1), kw.scalarY !== undefined ? kw.scalarY : T(2)]),
  }),

  // ---- reductions ----
  defineOp<RedKw & { dtype?: string }>({
    name: "sum",
    samples: (g) => [...reduceSamples(g), smp([g.f([0, 3])], { dim: 0 }), smp([g.f([0, 3])], { dim: 1 }), smp([g.f([0, 3])], {}), smp([g.i([3, 4], -5, 5)], { dim: 1 }), smp([g.b([3, 4])], {}), smp([g.i([3, 4], -5, 5, { dtype: "int32" })], {})],
    strata: (x, kw) => (kw.dim === undefined ? x[0]!.sum() : st.sum(x[0]!, kw.dim, keep(kw))),
    torch: red("torch.sum"),
  }),
  defineOp<RedKw>({
    name: "mean",
    samples: (g) => [...reduceSamples(g), smp([g.f([0, 3])], { dim: 1 }), smp([g.f([0, 3])], { dim: 0 }), bad([g.i([3], 0, 3)], {})],
    strata: (x, kw) => (kw.dim === undefined ? x[0]!.mean() : x[0]!.mean(kw.dim, keep(kw))),
    torch: red("torch.mean"),
  }),
  defineOp<RedKw>({
    name: "prod",
    samples: (g) => [
      smp([g.f([3, 4], { lo: 0.5, hi: 1.5 })], {}),
      smp([g.f([3, 4])], { dim: 1 }),
      smp([g.f([2, 3, 4], { layout: "T" })], { dim: 0, keepdim: true }),
      smp([g.f([2, 7], { layout: "slice", lo: 0.5, hi: 1.5 })], { dim: -1 }),
      smp([lit([3, 4], [0, 1.5, 2, -1, 0.5, 0, 0, 3, 1, 2, -0.5, 0.25])], { dim: 1 }),
      smp([lit([3, 4], [0, 1.5, 2, -1, 0.5, 0, 0, 3, 1, 2, -0.5, 0.25])], { dim: 0 }),
      smp([lit([2, 3], [1.5, 0, 2, -1, 0.5, 0.75])], {}),
      smp([g.f([])], {}),
      smp([g.f([0, 3])], { dim: 0 }),
      smp([g.i([3, 4], -3, 3)], { dim: 1 }),
      smp([lit([2, 4], [0, 0, 0, 2, 0, 1.5, -2, 0])], { dim: 1 }),
    ],
    strata: (x, kw) => (kw.dim === undefined ? x[0]!.prod() : st.prod(x[0]!, kw.dim as number, keep(kw))),
    torch: red("torch.prod"),
    gradgrad: [0, 4, 5, 6, 10],
  }),
  ...(["amax", "amin"] as const).map((name) =>
    defineOp<RedKw>({
      name,
      samples: (g) => [
        ...reduceSamples(g, { distinct: true }),
        smp([lit([2, 4], [1, 3, 3, 0, -1, -1, -2, -1])], { dim: 1 }, false),
        smp([lit([2, 3], [1, 1, 1, 2, 2, 2])], {}, false),
        smp([g.i([3, 4], -5, 5)], { dim: 0 }),
        smp([lit([2, 3], [1, NaN, 2, -Infinity, 0, Infinity], "float", false)], { dim: 1 }),
        smp([g.i([3, 4], 0, 3, { dtype: "uint8" })], { dim: 1 }),
        smp([g.b([3, 4])], { dim: 0 }),
        bad([g.f([0, 3])], { dim: 0 }),
        bad([g.f([0, 3])], {}),
      ],
      strata: (x, kw) => (kw.dim === undefined ? x[0]![name]() : x[0]![name](kw.dim, keep(kw))),
      torch: red(`torch.${name}`),
    }),
  ),
  ...(["max", "min"] as const).map((name) =>
    defineOp<RedKw>({
      name,
      samples: (g) => [
        smp([g.f([3, 4], { distinct: true })], {}),
        smp([g.f([3, 4], { distinct: true })], { dim: 1 }),
        smp([g.f([2, 3, 4], { distinct: true, layout: "T" })], { dim: 0, keepdim: true }),
        smp([g.f([7, 13], { distinct: true, layout: "slice" })], { dim: -1 }),
        smp([g.f([], { distinct: true })], { dim: 0 }),
        smp([g.f([1, 5], { distinct: true })], { dim: 0 }),
        smp([lit([2, 4], [1, 3, 3, 0, -1, -1, -2, -1])], { dim: 1 }, false),
        smp([lit([2, 3], [1, 1, 1, 2, 2, 2])], {}, false),
        smp([g.i([3, 4], -5, 5)], { dim: 0 }),
        smp([lit([2, 3], [1, NaN, 2, -Infinity, 0, Infinity], "float", false)], { dim: 1 }),
        smp([g.i([3, 4], 0, 3, { dtype: "uint8" })], { dim: 1 }),
      ],
      strata: (x, kw) => (kw.dim === undefined ? x[0]![name]() : x[0]![name](kw.dim as number, keep(kw))),
      torch: red(`torch.${name}`),
    }),
  ),
  ...(["argmax", "argmin"] as const).map((name) =>
    defineOp<RedKw>({
      name,
      samples: (g) => [
        smp([g.f([3, 4], { distinct: true })], {}),
        smp([g.f([3, 4], { step: 1 })], { dim: 1 }),
        smp([g.f([2, 3, 4], { step: 0.5, layout: "T" })], { dim: 0, keepdim: true }),
        smp([g.f([7, 13], { layout: "slice" })], { dim: -1 }),
        smp([g.f([2, 3])], { keepdim: true }),
        smp([g.f([])], {}),
        smp([lit([2, 4], [1, 3, 3, 0, -1, -1, -2, -1])], { dim: 1 }),
        smp([g.i([3, 4], -3, 3)], { dim: 0 }),
        smp([lit([2, 3], [1, NaN, 2, -Infinity, 0, Infinity], "float", false)], { dim: 1 }),
        smp([g.i([3, 4], 0, 3, { dtype: "uint8" })], { dim: 1 }),
      ],
      strata: (x, kw) => (name === "argmax" ? st.argmax : st.argmin)(x[0]!, kw.dim as number | undefined, keep(kw)),
      torch: (kw) => call(`torch.${name}`, [T(0)], { dim: kw.dim, keepdim: kw.keepdim }),
      grad: false,
    }),
  ),
  ...(["var", "std"] as const).map((name) =>
    defineOp<RedKw>({
      name,
      samples: (g) => [
        smp([g.f([3, 4])], {}),
        smp([g.f([3, 4])], { dim: 1 }),
        smp([g.f([2, 3, 4], { layout: "T" })], { dim: 0, keepdim: true, correction: 0 }),
        smp([g.f([7, 13], { layout: "slice" })], { dim: -1 }),
        smp([g.f([2, 3, 5])], { dim: [0, 2], correction: 2 }),
        smp([g.f([4, 5])], { dim: [-1, 0], keepdim: true }),
        smp([g.f([1, 5], { grad: false })], { dim: 0 }),
        smp([g.f([0, 3], { grad: false })], { dim: 0 }),
        smp([lit([2, 3], [1.5, 1.5, 1.5, 0, 1, 2])], { dim: 1 }),
        smp([g.f([], { grad: false })], {}),
      ],
      strata: (x, kw) => (kw.dim === undefined && kw.correction === undefined ? x[0]![name]() : x[0]![name](kw.dim ?? null, { keepdim: kw.keepdim, correction: kw.correction })),
      torch: (kw) => call(`torch.${name}`, [T(0), kw.dim].filter((a) => a !== undefined), { correction: kw.correction, keepdim: kw.keepdim }),
    }),
  ),
  defineOp<RedKw>({
    name: "logsumexp",
    samples: (g) => [
      smp([g.f([3, 4])], { dim: 1 }),
      smp([g.f([2, 3, 4], { layout: "T" })], { dim: 0, keepdim: true }),
      smp([g.f([7, 13], { layout: "slice" })], { dim: -1 }),
      smp([g.f([2, 3, 5])], { dim: [0, 2] }),
      smp([g.f([3, 4], { lo: 500, hi: 800 })], { dim: 1 }),
      smp([lit([2, 3], [-Infinity, -Infinity, -Infinity, 1, -Infinity, 2], "float", false)], { dim: 1 }),
      smp([lit([2, 3], [Infinity, 0, 1, Infinity, -Infinity, 2], "float", false)], { dim: 1 }),
      smp([g.f([0, 3])], { dim: 0 }),
      smp([g.f([])], { dim: 0 }),
      bad([g.f([2, 3])], { dim: 2 }),
    ],
    strata: (x, kw) => x[0]!.logsumexp(kw.dim!, keep(kw)),
    torch: (kw) => call("torch.logsumexp", [T(0), kw.dim as J], { keepdim: kw.keepdim }),
  }),
  ...([["softmax", "torch.softmax"], ["logSoftmax", "torch.log_softmax"]] as const).map(([name, tn]) =>
    defineOp<RedKw>({
      name,
      samples: (g) => [
        smp([g.f([3, 4])], { dim: 1 }),
        smp([g.f([3, 4])], { dim: 0 }),
        smp([g.f([2, 3, 4], { layout: "T" })], { dim: -2 }),
        smp([g.f([7, 13], { layout: "slice" })], { dim: -1 }),
        smp([g.f([2, 5], { lo: 900, hi: 1000 })], { dim: 1 }),
        // -inf logits (masking); logSoftmax is -inf there, so no finite differences.
        smp([lit([2, 3], [0, -Infinity, 1, 2, 0.5, -Infinity])], { dim: 1 }, name === "softmax"),
        smp([g.f([])], { dim: 0 }),
        smp([g.f([0, 3])], { dim: 1 }),
        smp([g.f([4, 1])], { dim: 1 }),
      ],
      strata: (x, kw) => (name === "softmax" ? st.softmax(x[0]!, kw.dim as number) : x[0]!.logSoftmax(kw.dim as number)),
      torch: (kw) => call(tn, [T(0), kw.dim as J]),
      gradgrad: [0, 2],
    }),
  ),
  defineOp<RedKw>({
    name: "cumsum",
    samples: (g) => [
      smp([g.f([3, 4])], { dim: 1 }),
      smp([g.f([3, 4])], { dim: 0 }),
      smp([g.f([2, 3, 4], { layout: "T" })], { dim: -2 }),
      smp([g.f([7, 13], { layout: "slice" })], { dim: -1 }),
      smp([g.f([3, 4], { layout: "expand" })], { dim: 0 }),
      smp([g.f([])], { dim: 0 }),
      smp([g.f([0, 3])], { dim: 0 }),
      smp([g.f([0, 3])], { dim: 1 }),
      smp([g.i([3, 4], -5, 5)], { dim: 1 }),
      smp([g.b([5])], { dim: 0 }),
    ],
    strata: (x, kw) => x[0]!.cumsum(kw.dim as number),
    torch: (kw) => call("torch.cumsum", [T(0), kw.dim as J]),
  }),
  defineOp<{ p?: number | "fro"; dim?: number | number[]; keepdim?: boolean }>({
    name: "norm",
    samples: (g) => [
      smp([g.f([3, 4], { nonzero: true })], {}),
      smp([g.f([3, 4], { nonzero: true })], { p: 2, dim: 1 }),
      smp([g.f([2, 3, 4], { layout: "T", nonzero: true })], { p: 1, dim: 0, keepdim: true }),
      smp([g.f([7, 13], { layout: "slice", distinct: true })], { p: Infinity, dim: -1 }),
      smp([g.f([3, 5], { distinct: true })], { p: -Infinity, dim: 1 }),
      smp([g.f([3, 4], { step: 0.5 })], { p: 0, dim: 1 }),
      smp([g.f([3, 4], { nonzero: true })], { p: 3, dim: [0, 1] }),
      smp([g.f([2, 3, 4], { nonzero: true })], { p: "fro", dim: [1, 2], keepdim: true }),
      smp([g.f([], { nonzero: true })], {}),
      smp([g.f([0, 3])], { dim: 0 }),
      smp([lit([2, 3], [0, 0, 0, 1, -2, 2])], { p: 2, dim: 1 }),
      smp([lit([2, 3], [0, 0, 0, 1, -2, 2])], { p: 3, dim: 1 }),
      smp([lit([2, 3], [0, 0, 0, 1, -2, 2])], { p: 1, dim: 1 }),
    ],
    strata: (x, kw) => (kw.p === undefined && kw.dim === undefined ? x[0]!.norm() : st.norm(x[0]!, kw.p ?? 2, kw.dim, keep(kw))),
    torch: (kw) =>
      kw.p === "fro"
        ? call("torch.norm", [T(0)], { p: "fro", dim: kw.dim, keepdim: kw.keepdim })
        : call("torch.linalg.vector_norm", [T(0)], { ord: kw.p, dim: kw.dim, keepdim: kw.keepdim }),
  }),

  // ---- movement ----
  defineOp<{ shape: number[]; view?: boolean }>({
    name: "reshape",
    samples: (g) => [
      smp([g.f([3, 4])], { shape: [-1] }),
      smp([g.f([3, 4])], { shape: [2, -1, 3] }),
      smp([g.f([4, 3], { layout: "T" })], { shape: [6, 2] }),
      smp([g.f([3, 5], { layout: "slice" })], { shape: [5, 3] }),
      smp([g.f([2, 3], { layout: "expand" })], { shape: [3, 2] }),
      smp([g.f([])], { shape: [1, 1] }),
      smp([g.f([1])], { shape: [] }),
      smp([g.f([0, 3])], { shape: [3, 0, 5] }),
      smp([g.i([2, 3], -3, 3)], { shape: [6] }),
      smp([g.f([3, 5, 7], { layout: "T" })], { shape: [7, 15] }),
      smp([g.f([2, 3, 5], { layout: "slice" })], { shape: [5, 6] }),
      smp([g.f([4, 6], { layout: "expand" })], { shape: [2, 2, 3, 2] }),
      bad([g.f([3, 4])], { shape: [5, -1] }),
    ],
    strata: (x, kw) => x[0]!.reshape(kw.shape),
    torch: (kw) => call("torch.reshape", [T(0), kw.shape]),
  }),
  defineOp<{ shape: number[] }>({
    name: "view",
    samples: (g) => [smp([g.f([3, 4])], { shape: [4, 3] }), smp([g.f([2, 3, 4])], { shape: [-1, 4] }), smp([g.f([])], { shape: [1] }), smp([g.f([0])], { shape: [0, 2] })],
    strata: (x, kw) => x[0]!.view(kw.shape),
    torch: (kw) => call("torch.Tensor.view", [T(0), kw.shape]),
  }),
  defineOp<{ dims: number[] }>({
    name: "permute",
    samples: (g) => [
      smp([g.f([2, 3, 4])], { dims: [2, 0, 1] }),
      smp([g.f([2, 3, 4], { layout: "T" })], { dims: [1, -1, 0] }),
      smp([g.f([2, 1, 3, 5], { layout: "slice" })], { dims: [3, 1, 0, 2] }),
      smp([g.f([])], { dims: [] }),
      smp([g.f([0, 3])], { dims: [1, 0] }),
      smp([g.b([2, 3])], { dims: [1, 0] }),
      bad([g.f([2, 3])], { dims: [1, 1] }),
      bad([g.f([2, 3])], { dims: [0] }),
    ],
    strata: (x, kw) => st.permute(x[0]!, kw.dims),
    torch: (kw) => call("torch.permute", [T(0), kw.dims]),
  }),
  defineOp<{ d0: number; d1: number }>({
    name: "transpose",
    samples: (g) => [smp([g.f([3, 4])], { d0: 0, d1: 1 }), smp([g.f([2, 3, 4], { layout: "T" })], { d0: -1, d1: -3 }), smp([g.f([5])], { d0: 0, d1: 0 }), smp([g.f([7, 13], { layout: "slice" })], { d0: 1, d1: 0 }), smp([g.f([0, 2, 1])], { d0: 0, d1: 2 })],
    strata: (x, kw) => x[0]!.transpose(kw.d0, kw.d1),
    torch: (kw) => call("torch.transpose", [T(0), kw.d0, kw.d1]),
  }),
  defineOp<{ shape: number[] }>({
    name: "expand",
    samples: (g) => [
      smp([g.f([3, 1])], { shape: [3, 4] }),
      smp([g.f([4])], { shape: [2, 3, -1] }),
      smp([g.f([])], { shape: [2, 2] }),
      smp([g.f([1, 0])], { shape: [3, 0] }),
      smp([g.f([3, 1], { layout: "T" })], { shape: [2, 3, 5] }),
      smp([g.f([1, 4])], { shape: [0, 4] }),
      bad([g.f([3])], { shape: [2, 4] }),
    ],
    strata: (x, kw) => x[0]!.expand(kw.shape),
    torch: (kw) => call("torch.Tensor.expand", [T(0), kw.shape]),
  }),
  defineOp<{ dim?: number }>({
    name: "squeeze",
    samples: (g) => [smp([g.f([1, 3, 1, 4])], {}), smp([g.f([1, 3, 1, 4])], { dim: 2 }), smp([g.f([1, 3, 1, 4])], { dim: 1 }), smp([g.f([1, 3], { layout: "T" })], { dim: -1 }), smp([g.f([])], {}), smp([g.f([1, 0])], {})],
    strata: (x, kw) => (kw.dim === undefined ? x[0]!.squeeze() : st.squeeze(x[0]!, kw.dim)),
    torch: (kw) => call("torch.squeeze", kw.dim === undefined ? [T(0)] : [T(0), kw.dim]),
  }),
  defineOp<{ dim: number }>({
    name: "unsqueeze",
    samples: (g) => [smp([g.f([3, 4])], { dim: 0 }), smp([g.f([3, 4])], { dim: -1 }), smp([g.f([3, 4], { layout: "T" })], { dim: 1 }), smp([g.f([])], { dim: 0 }), smp([g.f([0])], { dim: 1 })],
    strata: (x, kw) => x[0]!.unsqueeze(kw.dim),
    torch: (kw) => call("torch.unsqueeze", [T(0), kw.dim]),
  }),
  defineOp<{ start?: number; end?: number }>({
    name: "flatten",
    samples: (g) => [smp([g.f([2, 3, 4])], {}), smp([g.f([2, 3, 4])], { start: 1 }), smp([g.f([2, 3, 4], { layout: "T" })], { start: 0, end: 1 }), smp([g.f([])], {}), smp([g.f([2, 0, 3])], { start: 1, end: -1 })],
    strata: (x, kw) => st.flatten(x[0]!, kw.start, kw.end),
    torch: (kw) => call("torch.flatten", [T(0)], { start_dim: kw.start, end_dim: kw.end }),
  }),
  defineOp<{ dim: number; start: number; length: number }>({
    name: "narrow",
    samples: (g) => [bad([g.f([5, 4])], { dim: 0, start: 3, length: 3 }), smp([g.f([5, 4])], { dim: 0, start: 1, length: 3 }), smp([g.f([3, 6], { layout: "T" })], { dim: -1, start: -2, length: 2 }), smp([g.f([3, 4])], { dim: 1, start: 2, length: 0 }), smp([g.f([7, 13], { layout: "slice" })], { dim: 1, start: 0, length: 13 })],
    strata: (x, kw) => x[0]!.narrow(kw.dim, kw.start, kw.length),
    torch: (kw) => call("torch.narrow", [T(0), kw.dim, kw.start, kw.length]),
  }),
  defineOp<{ dims: number[] }>({
    name: "flip",
    samples: (g) => [smp([g.f([3, 4])], { dims: [0] }), smp([g.f([2, 3, 4], { layout: "T" })], { dims: [0, -1] }), smp([g.f([7, 13], { layout: "slice" })], { dims: [1] }), smp([g.f([1, 4])], { dims: [0, 1] }), smp([g.f([0, 2])], { dims: [1] }), smp([g.i([5], 0, 9)], { dims: [0] })],
    strata: (x, kw) => st.flip(x[0]!, kw.dims),
    torch: (kw) => call("torch.flip", [T(0), kw.dims]),
  }),
  defineOp<{ sizes: number[] }>({
    name: "repeat",
    samples: (g) => [smp([g.f([2, 3])], { sizes: [2, 2] }), smp([g.f([3])], { sizes: [2, 1, 2] }), smp([g.f([2, 3], { layout: "T" })], { sizes: [1, 3] }), smp([g.f([])], { sizes: [3] }), smp([g.f([2])], { sizes: [0, 2] }), smp([g.i([2], 0, 5)], { sizes: [3] })],
    strata: (x, kw) => x[0]!.repeat(kw.sizes),
    torch: (kw) => call("torch.Tensor.repeat", [T(0), kw.sizes]),
  }),
  defineOp<{ pad: number[]; mode?: "constant" | "reflect" | "replicate"; value?: number }>({
    name: "pad",
    samples: (g) => [
      smp([g.f([2, 3])], { pad: [1, 2] }),
      smp([g.f([2, 3, 4], { layout: "T" })], { pad: [1, 1, 2, 0] }),
      smp([g.f([2, 3])], { pad: [0, 1, 1, 0], value: 1.5 }),
      smp([g.f([3, 5])], { pad: [-1, 2] }),
      smp([g.f([0, 3])], { pad: [1, 1] }),
      smp([g.f([2, 5])], { pad: [2, 1], mode: "reflect" }),
      smp([g.f([1, 3, 4, 5], { layout: "T" })], { pad: [1, 2, 3, 0], mode: "reflect" }),
      smp([g.f([2, 4])], { pad: [3, 1], mode: "replicate" }),
      smp([g.f([1, 2, 3, 4])], { pad: [1, 2, 2, 1], mode: "replicate" }),
      smp([g.f([2, 3, 1])], { pad: [2, 2], mode: "replicate" }),
    ],
    strata: (x, kw) => F.pad(x[0]!, kw.pad, kw.mode, kw.value),
    torch: (kw) => call("torch.nn.functional.pad", [T(0), kw.pad], { mode: kw.mode, value: kw.value }),
  }),
  defineOp<{ dim?: number }>({
    name: "cat",
    samples: (g) => [
      smp([g.f([2, 3]), g.f([4, 3])], { dim: 0 }),
      smp([g.f([2, 3]), g.f([2, 1], { layout: "T" }), g.f([2, 5], { layout: "slice" })], { dim: -1 }),
      smp([g.f([2, 3]), g.f([0, 3])], { dim: 0 }),
      smp([g.f([2, 3]), g.f([0])], { dim: 1 }),
      smp([g.f([3])]),
      smp([g.i([2], 0, 5), g.f([3])], { dim: 0 }),
      smp([g.b([2]), g.b([1])], { dim: 0 }),
      bad([g.f([2, 3]), g.f([2, 4])], { dim: 0 }),
    ],
    strata: (x, kw) => st.cat(x, kw.dim),
    torch: (kw) => call("torch.cat", [ALL], { dim: kw.dim }),
  }),
  defineOp<{ dim?: number }>({
    name: "stack",
    samples: (g) => [bad([g.f([2, 3]), g.f([3, 2])], { dim: 0 }), smp([g.f([2, 3]), g.f([2, 3])], { dim: 0 }), smp([g.f([2, 3], { layout: "T" }), g.f([2, 3]), g.f([2, 3])], { dim: -1 }), smp([g.f([]), g.f([])]), smp([g.f([0, 2]), g.f([0, 2])], { dim: 1 })],
    strata: (x, kw) => st.stack(x, kw.dim),
    torch: (kw) => call("torch.stack", [ALL], { dim: kw.dim }),
  }),
  defineOp<{ size: number | number[]; dim?: number }>({
    name: "split",
    samples: (g) => [bad([g.f([5, 3])], { size: [2, 2] }), smp([g.f([5, 3])], { size: 2 }), smp([g.f([3, 7], { layout: "T" })], { size: [1, 4, 2], dim: 1 }), smp([g.f([4, 2])], { size: 4 }), smp([g.f([6, 2])], { size: [0, 6] }), smp([g.f([0, 2])], { size: 2 })],
    strata: (x, kw) => x[0]!.split(kw.size, kw.dim),
    torch: (kw) => call("torch.split", [T(0), kw.size as J], { dim: kw.dim }),
  }),
  defineOp<{ chunks: number; dim?: number }>({
    name: "chunk",
    samples: (g) => [smp([g.f([7, 2])], { chunks: 3 }), smp([g.f([2, 6], { layout: "T" })], { chunks: 2, dim: 1 }), smp([g.f([3])], { chunks: 5 }), smp([g.f([6, 2])], { chunks: 4, dim: 0 })],
    strata: (x, kw) => st.chunk(x[0]!, kw.chunks, kw.dim),
    torch: (kw) => call("torch.chunk", [T(0), kw.chunks], { dim: kw.dim }),
  }),
  defineOp<{ specs: J[] }>({
    name: "index",
    samples: (g) => [
      smp([g.f([5, 6])], { specs: [1] }),
      smp([g.f([5, 6])], { specs: [S(1, null), S(null, null, 2)] }),
      smp([g.f([5, 6], { layout: "T" })], { specs: [S(1, -1, 2), -1] }),
      smp([g.f([4, 5, 6])], { specs: [ELL, S(2, 5)] }),
      smp([g.f([4, 5, 6])], { specs: [0, null, S(null, null, 3), ELL] }),
      smp([g.f([7, 13], { layout: "slice" })], { specs: [S(-3, null), S(3, 100, 4)] }),
      smp([g.f([5])], { specs: [S(4, 2)] }),
      smp([g.f([5, 3]), g.i([4], -5, 4)], { specs: [T(1)] }),
      smp([g.f([3, 4]), g.i([2, 2], 0, 3)], { specs: [S(null, null, 2), T(1)] }),
      smp([g.f([])], { specs: [null] }),
      bad([g.f([5, 3])], { specs: [5] }),
      bad([g.f([5, 3])], { specs: [S(null, null, -1)] }),
      bad([g.f([5, 3])], { specs: [0, 0, 0] }),
    ],
    strata: (x, kw) => x[0]!.index(...strataIndex(kw.specs, x)),
    torch: (kw) => call("operator.getitem", [T(0), tup(...kw.specs)]),
  }),

  // ---- indexing ----
  defineOp<{ dim: number }>({
    name: "gather",
    samples: (g) => [
      smp([g.f([3, 4]), g.i([3, 4], 0, 3)], { dim: 1 }),
      smp([g.f([3, 4]), g.i([5, 2], 0, 2)], { dim: 0 }),
      smp([g.f([4, 3], { layout: "T" }), g.i([2, 3], 0, 3, { layout: "T" })], { dim: -2 }),
      smp([g.f([2, 3, 4]), g.i([2, 3, 6], 0, 3)], { dim: 2 }),
      smp([g.f([3, 4]), g.i([3, 0], 0, 3)], { dim: 1 }),
      smp([g.f([5]), g.i([3], 0, 4)], { dim: 0 }),
      // One index per row along dim, the other dims as the input's: the gradient is a one-hot select.
      smp([g.f([3, 4]), g.i([3, 1], 0, 3)], { dim: 1 }),
      smp([g.f([2, 5, 3]), g.i([2, 1, 3], 0, 4)], { dim: 1 }),
      bad([g.f([3, 4]), lit([3, 1], [0, 4, 1], "int64")], { dim: 1 }),
      bad([g.f([3, 4]), lit([1, 2], [-1, 0], "int64")], { dim: 0 }),
    ],
    strata: (x, kw) => x[0]!.gather(kw.dim, x[1]!),
    torch: (kw) => call("torch.gather", [T(0), kw.dim, T(1)]),
  }),
  defineOp<{ dim: number }>({
    name: "scatterAdd",
    samples: (g) => [
      smp([g.f([3, 4]), g.i([3, 4], 0, 3), g.f([3, 4])], { dim: 1 }),
      smp([g.f([3, 4]), g.i([5, 2], 0, 2), g.f([5, 3], { grad: false })], { dim: 0 }),
      smp([g.f([4, 3], { layout: "T" }), g.i([2, 3], 0, 3), g.f([2, 3], { layout: "T" })], { dim: 0 }),
      smp([g.f([2, 3, 4]), g.i([2, 3, 6], 0, 3), g.f([2, 3, 6])], { dim: 2 }),
      bad([g.f([3, 4]), lit([1, 2], [0, 3], "int64"), g.f([1, 2])], { dim: 0 }),
      smp([g.f([3, 4]), g.i([3, 0], 0, 3), g.f([3, 2], { grad: false })], { dim: 1 }),
    ],
    strata: (x, kw) => st.scatterAdd(x[0]!, kw.dim, x[1]!, x[2]!),
    torch: (kw) => call("torch.scatter_add", [T(0), kw.dim, T(1), T(2)]),
  }),
  defineOp<{ dim: number }>({
    name: "indexSelect",
    samples: (g) => [
      smp([g.f([4, 3]), g.i([5], 0, 3)], { dim: 0 }),
      smp([g.f([3, 4], { layout: "T" }), g.i([2], 0, 3)], { dim: 1 }),
      smp([g.f([2, 3, 4]), g.i([0], 0, 3)], { dim: -1 }),
      smp([g.f([5]), g.i([], 0, 4)], { dim: 0 }),
      smp([g.f([3, 2]), g.i([4], 0, 2, { dtype: "int32" })], { dim: 0 }),
      bad([g.f([3, 2]), lit([2], [1, 3], "int64")], { dim: 0 }),
    ],
    strata: (x, kw) => st.indexSelect(x[0]!, kw.dim, x[1]!),
    torch: (kw) => call("torch.index_select", [T(0), kw.dim, T(1)]),
  }),
  defineOp<{ value?: number }>({
    name: "maskedFill",
    samples: (g) => [
      smp([g.f([3, 4]), g.b([3, 4])], { value: -1.5 }),
      smp([g.f([2, 3, 4], { layout: "T" }), g.b([4])], { value: 0 }),
      smp([g.f([3, 4]), g.b([3, 4]), g.f([])]),
      smp([g.f([0, 2]), g.b([2])], { value: 1 }),
      smp([g.i([5], -3, 3), g.b([5])], { value: 7 }),
      smp([g.f([3]), g.b([3])], { value: -Infinity }, false),
    ],
    strata: (x, kw) => (kw.value === undefined ? x[0]!.maskedFill(x[1]!, x[2]!) : st.maskedFill(x[0]!, x[1]!, kw.value)),
    torch: (kw) => call("torch.masked_fill", [T(0), T(1), kw.value === undefined ? T(2) : kw.value]),
  }),
  defineOp<{ n?: number }>({
    name: "oneHot",
    samples: (g) => [smp([g.i([5], 0, 3)], { n: 4 }), smp([g.i([2, 3], 0, 4)], {}), smp([g.i([], 0, 2)], { n: 3 }), smp([g.i([0], 0, 2)], { n: 2 }), bad([lit([2], [1, 3], "int64")], { n: 3 })],
    strata: (x, kw) => F.oneHot(x[0]!, kw.n),
    torch: (kw) => call("torch.nn.functional.one_hot", [T(0)], { num_classes: kw.n }),
    grad: false,
  }),
  ...(["triu", "tril"] as const).map((name) =>
    defineOp<{ diagonal?: number }>({
      name,
      samples: (g) => [smp([g.f([4, 4])], {}), smp([g.f([3, 5])], { diagonal: 1 }), smp([g.f([5, 3], { layout: "T" })], { diagonal: -1 }), smp([g.f([2, 3, 4])], { diagonal: 2 }), smp([g.f([0, 3])], {}), smp([g.i([3, 3], -5, 5)], { diagonal: 0 })],
      strata: (x, kw) => (name === "triu" ? st.triu : st.tril)(x[0]!, kw.diagonal),
      torch: (kw) => call(`torch.${name}`, [T(0)], { diagonal: kw.diagonal }),
    }),
  ),

  // ---- contractions ----
  defineOp<Kw>({
    name: "matmul",
    samples: (g) => [
      smp([g.f([4]), g.f([4])]),
      smp([g.f([3]), g.f([3, 5])]),
      smp([g.f([4, 3]), g.f([3])]),
      smp([g.f([3, 4]), g.f([4, 5])]),
      smp([g.f([3, 4], { layout: "T" }), g.f([4, 5], { layout: "T" })]),
      smp([g.f([2, 3, 4]), g.f([2, 4, 5])]),
      smp([g.f([2, 1, 3, 4]), g.f([3, 4, 2])]),
      smp([g.f([4]), g.f([2, 4, 3])]),
      smp([g.f([2, 3, 4]), g.f([4])]),
      smp([g.f([3, 0]), g.f([0, 2])]),
      smp([g.f([7, 13], { layout: "slice" }), g.f([13, 1])]),
      smp([g.f([3, 4], { layout: "expand" }), g.f([2, 4, 5], { layout: "expand" })]),
      smp([g.i([2, 3], -3, 3), g.i([3, 2], -3, 3)]),
      bad([g.f([3, 4]), g.f([5, 2])]),
      bad([g.f([2, 3, 4]), g.f([3, 4, 2])]),
    ],
    strata: (x) => x[0]!.matmul(x[1]!),
    torch: () => call("torch.matmul", [T(0), T(1)]),
    gradgrad: [3, 6],
  }),
  defineOp<{ eq: string }>({
    name: "einsum",
    samples: (g) => [
      smp([g.f([3, 4]), g.f([4, 5])], { eq: "ij,jk->ik" }),
      smp([g.f([2, 3, 4]), g.f([2, 4, 5])], { eq: "bij,bjk->bik" }),
      smp([g.f([4, 4])], { eq: "ii->i" }),
      smp([g.f([3, 3], { layout: "T" })], { eq: "ii" }),
      smp([g.f([3]), g.f([4])], { eq: "i,j->ij" }),
      smp([g.f([3, 4])], { eq: "ij->" }),
      smp([g.f([3, 4])], { eq: "ij->ji" }),
      smp([g.f([2, 3, 3])], { eq: "bii->b" }),
      smp([g.f([2, 2, 3, 4]), g.f([2, 4, 5])], { eq: "...ij,...jk->...ik" }),
      smp([g.f([3, 4]), g.f([4, 2])], { eq: "ij,jk" }),
      smp([g.f([4]), g.f([4])], { eq: "i,i->" }),
      smp([g.f([2, 3]), g.f([3, 4]), g.f([4, 2])], { eq: "ij,jk,kl->il" }),
      smp([g.f([2, 3, 4]), g.f([3, 5])], { eq: "bij,ik->bjk" }),
      smp([g.f([4]), g.f([4])], { eq: "i,i->i" }),
      smp([g.f([3, 4]), g.f([3, 4], { layout: "T" })], { eq: "ij,ij->" }),
      smp([g.f([3, 4]), g.f([5, 4])], { eq: "ij,kj->ik" }),
      smp([g.f([2, 3]), g.f([4, 3, 5]), g.f([2, 5])], { eq: "bn,anm,bm->ba" }),
      smp([g.f([3, 3])], { eq: "ii->" }),
      smp([g.f([3, 3, 2])], { eq: "iij->j" }),
      smp([g.f([2, 3, 4]), g.f([4])], { eq: "...i,...i->..." }),
      smp([g.f([2, 3]), g.f([3, 2])], { eq: "ij,jk->" }),
    ],
    strata: (x, kw) => st.einsum(kw.eq, ...x),
    torch: (kw) => call("torch.einsum", [kw.eq, ALL]),
  }),

  // ---- convolutions and pooling ----
  defineOp<ConvKw>({
    name: "conv1d",
    samples: (g) => [
      smp([g.f([2, 3, 7]), g.f([4, 3, 3])], {}),
      smp([g.f([2, 3, 9]), g.f([4, 3, 3]), g.f([4])], { stride: 2, padding: 1 }),
      smp([g.f([1, 4, 10], { layout: "slice" }), g.f([2, 2, 3])], { dilation: 2, groups: 2 }),
      smp([g.f([3, 8]), g.f([2, 3, 2])], { padding: "same" }),
      smp([g.f([2, 2, 5]), g.f([4, 1, 1]), g.f([4])], { groups: 2 }),
    ],
    strata: (x, kw) => F.conv1d(x[0]!, x[1]!, x[2], kw),
    torch: (kw) => convCall("torch.nn.functional.conv1d", kw),
  }),
  defineOp<ConvKw>({
    name: "conv2d",
    samples: (g) => [
      smp([g.f([2, 3, 5, 5]), g.f([4, 3, 3, 3]), g.f([4])], {}),
      smp([g.f([1, 2, 7, 6]), g.f([3, 2, 3, 2])], { stride: [2, 1], padding: [1, 2] }),
      smp([g.f([1, 4, 7, 7]), g.f([4, 2, 3, 3])], { dilation: 2, groups: 2, padding: 1 }),
      smp([g.f([2, 3, 5, 4], { layout: "T" }), g.f([3, 1, 2, 2])], { groups: 3, stride: 2 }),
      smp([g.f([2, 5, 6]), g.f([2, 2, 3, 3])], { padding: "same" }),
      smp([g.f([1, 1, 7, 13]), g.f([2, 1, 1, 4]), g.f([2])], { stride: [3, 2] }),
      smp([g.f([1, 2, 5, 6]), g.f([2, 2, 2, 2])], { stride: 2, padding: 3, dilation: 2 }),
      smp([g.f([1, 1, 9, 9]), g.f([1, 1, 2, 3])], { stride: [4, 3], padding: [1, 0] }),
      smp([g.f([2, 3, 5, 5], { layout: "expand" }), g.f([2, 3, 3, 3], { layout: "T" })], { padding: 1 }),
      bad([g.f([1, 2, 5, 5]), g.f([2, 3, 3, 3])], {}),
      bad([g.f([1, 2, 2, 2]), g.f([2, 2, 3, 3])], {}),
    ],
    strata: (x, kw) => F.conv2d(x[0]!, x[1]!, x[2], kw),
    torch: (kw) => convCall("torch.nn.functional.conv2d", kw),
    gradgrad: [0, 2],
  }),
  defineOp<Omit<ConvKw, "padding"> & { padding?: number | number[]; outputPadding?: number | number[] }>({
    name: "convTranspose2d",
    samples: (g) => [
      smp([g.f([2, 3, 4, 4]), g.f([3, 2, 3, 3]), g.f([2])], {}),
      smp([g.f([1, 2, 3, 4]), g.f([2, 3, 3, 2])], { stride: 2, padding: 1 }),
      smp([g.f([1, 2, 3, 3]), g.f([2, 2, 3, 3])], { stride: 2, padding: 1, outputPadding: 1 }),
      smp([g.f([1, 4, 3, 3]), g.f([4, 1, 2, 2])], { groups: 2, dilation: 2 }),
      smp([g.f([2, 4, 3], { layout: "T" }), g.f([2, 3, 2, 3])], { stride: [1, 2], padding: [0, 1], outputPadding: [0, 1] }),
      smp([g.f([1, 2, 3, 2]), g.f([2, 1, 2, 2]), g.f([1])], { stride: 3, padding: 1, dilation: 2, outputPadding: 2 }),
    ],
    strata: (x, kw) => F.convTranspose2d(x[0]!, x[1]!, x[2], kw),
    torch: (kw) =>
      call("torch.nn.functional.conv_transpose2d", [T(0), T(1)], {
        bias: OPT(2), stride: kw.stride, padding: kw.padding, output_padding: kw.outputPadding, groups: kw.groups, dilation: kw.dilation,
      }),
  }),
  ...([["maxPool1d", 1], ["maxPool2d", 2]] as const).map(([name, nd]) =>
    defineOp<PoolKw>({
      name,
      samples: (g) =>
        nd === 1
          ? [
            smp([g.f([2, 3, 8], { distinct: true })], { k: 2 }),
            smp([g.f([2, 3, 9], { distinct: true })], { k: 3, stride: 2, padding: 1 }),
            smp([g.f([1, 2, 10], { distinct: true })], { k: 3, stride: 2, ceilMode: true }),
            smp([g.f([3, 7], { distinct: true })], { k: 2, dilation: 2 }),
            smp([lit([1, 1, 6], [1, 1, 2, 2, 0, 0])], { k: 2, stride: 1 }, false),
          ]
          : [
            smp([g.f([2, 3, 4, 4], { distinct: true })], { k: 2 }),
            smp([g.f([1, 2, 7, 6], { distinct: true })], { k: 3, stride: 2, padding: 1 }),
            smp([g.f([1, 2, 7, 7], { distinct: true })], { k: [3, 2], stride: [2, 1], ceilMode: true }),
            smp([g.f([2, 5, 6], { distinct: true, layout: "T" })], { k: 2, dilation: 2 }),
            smp([g.f([1, 1, 5, 5], { distinct: true })], { k: 3, stride: 2, padding: 1, ceilMode: true }),
            smp([g.f([1, 2, 8, 7], { distinct: true })], { k: 2, stride: 3 }),
            smp([g.f([1, 1, 9, 8], { distinct: true })], { k: 3, stride: 2, padding: 1, dilation: 2, ceilMode: true }),
            smp([lit([1, 1, 2, 3], [1, 1, 2, 2, 0, 2])], { k: 2, stride: 1 }, false),
          ],
      strata: (x, kw) => (nd === 1 ? F.maxPool1d : F.maxPool2d)(x[0]!, kw.k, { stride: kw.stride, padding: kw.padding, dilation: kw.dilation, ceilMode: kw.ceilMode }),
      torch: (kw) =>
        call(`torch.nn.functional.max_pool${nd}d`, [T(0), kw.k as J], { stride: kw.stride, padding: kw.padding, dilation: kw.dilation, ceil_mode: kw.ceilMode }),
      gradgrad: nd === 2 ? [0, 1] : undefined,
    }),
  ),
  ...([["avgPool1d", 1], ["avgPool2d", 2]] as const).map(([name, nd]) =>
    defineOp<PoolKw>({
      name,
      samples: (g) =>
        nd === 1
          ? [
            smp([g.f([2, 3, 8])], { k: 2 }),
            smp([g.f([2, 3, 9])], { k: 3, stride: 2, padding: 1 }),
            smp([g.f([2, 3, 9])], { k: 3, stride: 2, padding: 1, countIncludePad: false }),
            smp([g.f([1, 2, 10], { layout: "slice" })], { k: 3, stride: 2, ceilMode: true }),
            smp([g.f([1, 2, 10])], { k: 3, stride: 2, padding: 1, ceilMode: true, countIncludePad: false }),
            smp([g.f([3, 7])], { k: 4, stride: 3, padding: 2, ceilMode: true }),
          ]
          : [
            smp([g.f([2, 3, 4, 4])], { k: 2 }),
            smp([g.f([1, 2, 7, 6])], { k: 3, stride: 2, padding: 1 }),
            smp([g.f([1, 2, 7, 6])], { k: 3, stride: 2, padding: 1, countIncludePad: false }),
            smp([g.f([1, 2, 7, 7], { layout: "T" })], { k: [3, 2], stride: [2, 1], ceilMode: true }),
            smp([g.f([1, 1, 5, 5])], { k: 3, stride: 2, padding: 1, ceilMode: true, countIncludePad: false }),
            smp([g.f([2, 6, 5])], { k: 2, divisorOverride: 3 }),
            smp([g.f([1, 2, 8, 7])], { k: 2, stride: 3 }),
            smp([g.f([1, 1, 6, 6])], { k: [2, 3], stride: [2, 3], padding: 1, ceilMode: true }),
          ],
      strata: (x, kw) => (nd === 1 ? F.avgPool1d : F.avgPool2d)(x[0]!, kw.k, { stride: kw.stride, padding: kw.padding, ceilMode: kw.ceilMode, countIncludePad: kw.countIncludePad, divisorOverride: kw.divisorOverride }),
      torch: (kw) =>
        call(`torch.nn.functional.avg_pool${nd}d`, [T(0), kw.k as J], {
          stride: kw.stride, padding: kw.padding, ceil_mode: kw.ceilMode, count_include_pad: kw.countIncludePad, divisor_override: kw.divisorOverride,
        }),
      gradgrad: nd === 2 ? [0, 2] : undefined,
    }),
  ),

  // ---- nn.functional ----
  defineOp<Kw>({
    name: "F.gelu",
    samples: (g) => [smp([g.f([3, 4], { lo: -4, hi: 4 })]), smp([g.f([2, 3], { layout: "T" })])],
    strata: (x) => F.gelu(x[0]!),
    torch: () => call("torch.nn.functional.gelu", [T(0)]),
  }),
  defineOp<Kw>({
    name: "F.silu",
    samples: (g) => [smp([g.f([3, 4], { lo: -4, hi: 4 })]), smp([g.f([2, 3], { layout: "T" })])],
    strata: (x) => F.silu(x[0]!),
    torch: () => call("torch.nn.functional.silu", [T(0)]),
  }),
  defineOp<{ shape: number[]; eps?: number }>({
    name: "layerNorm",
    samples: (g) => [
      smp([g.f([3, 5])], { shape: [5] }),
      smp([g.f([2, 3, 4]), g.f([4]), g.f([4])], { shape: [4] }),
      smp([g.f([2, 3, 4], { layout: "T" }), g.f([3, 4])], { shape: [3, 4], eps: 1e-3 }),
      smp([g.f([7, 13], { layout: "slice" }), g.f([13]), g.f([13])], { shape: [13] }),
      smp([g.f([0, 4])], { shape: [4] }),
    ],
    strata: (x, kw) => F.layerNorm(x[0]!, kw.shape, x[1], x[2], kw.eps),
    torch: (kw) => call("torch.nn.functional.layer_norm", [T(0), kw.shape], { weight: OPT(1), bias: OPT(2), eps: kw.eps }),
    gradgrad: [0, 1],
  }),
  defineOp<{ p: number; training: boolean }>({
    name: "dropout",
    samples: (g) => [smp([g.f([3, 4])], { p: 0, training: true }), smp([g.f([2, 3], { layout: "T" })], { p: 0.5, training: false }), smp([g.f([])], { p: 0.9, training: false })],
    strata: (x, kw) => F.dropout(x[0]!, kw.p, kw.training),
    torch: (kw) => call("torch.nn.functional.dropout", [T(0)], { p: kw.p, training: kw.training }),
  }),
  defineOp<LossKw>({
    name: "crossEntropy",
    samples: (g) => [
      smp([g.f([4, 5]), g.i([4], 0, 4)], {}),
      smp([g.f([4, 5]), g.i([4], 0, 4), g.f([5], { lo: 0.5, hi: 2, grad: false })], { weight: 2 }),
      smp([g.f([4, 5]), lit([4], [1, -100, 3, 0], "int64")], {}),
      smp([g.f([4, 5]), lit([4], [1, 2, 1, 0], "int64")], { ignoreIndex: 1, reduction: "sum" }),
      smp([g.f([4, 5]), g.i([4], 0, 4)], { labelSmoothing: 0.1 }),
      smp([g.f([4, 5]), lit([4], [1, -100, 3, 0], "int64"), g.f([5], { lo: 0.5, hi: 2, grad: false })], { weight: 2, labelSmoothing: 0.2 }),
      smp([g.f([4, 5]), lit([4], [1, -100, 3, 0], "int64")], { labelSmoothing: 0.3, reduction: "none" }),
      smp([g.f([4, 5]), lit([4], [1, 4, 3, 0], "int64"), g.f([5], { lo: 0.5, hi: 2, grad: false })], { weight: 2, labelSmoothing: 0.1, reduction: "sum" }),
      smp([g.f([4, 5]), g.f([4, 5], { lo: 0, hi: 1, grad: false })], {}),
      smp([g.f([4, 5]), g.f([4, 5], { lo: 0, hi: 1 }), g.f([5], { lo: 0.5, hi: 2, grad: false })], { weight: 2, labelSmoothing: 0.2, reduction: "sum" }),
      smp([g.f([2, 3, 4]), g.i([2, 4], 0, 2)], { reduction: "none" }),
      smp([g.f([2, 4, 3], { layout: "T" }), g.i([2, 3], 0, 3)], {}),
      smp([g.f([5]), g.i([], 0, 4)], {}),
      smp([g.f([4, 5], { lo: -50, hi: 50 }), g.i([4], 0, 4)], {}),
      smp([g.f([2, 3], { grad: false }), lit([2], [-100, -100], "int64")], {}),
      smp([g.f([2, 3, 2]), g.f([2, 3, 2], { lo: 0, hi: 1 }), g.f([3], { lo: 0.5, hi: 2, grad: false })], { weight: 2, labelSmoothing: 0.1 }),
      smp([g.f([2, 3, 2]), lit([2, 2], [0, 2, -100, 1], "int64"), g.f([3], { lo: 0.5, hi: 2, grad: false })], { weight: 2, labelSmoothing: 0.25 }),
      bad([g.f([2, 5]), lit([2], [1, 5], "int64")], {}),
      bad([g.f([2, 5]), lit([3], [1, 2, 0], "int64")], {}),
    ],
    strata: (x, kw) => F.crossEntropy(x[0]!, x[1]!, { weight: kw.weight !== undefined ? x[kw.weight] : undefined, ignoreIndex: kw.ignoreIndex, labelSmoothing: kw.labelSmoothing, reduction: kw.reduction }),
    torch: (kw) =>
      call("torch.nn.functional.cross_entropy", [T(0), T(1)], { weight: kw.weight !== undefined ? T(kw.weight) : undefined, ignore_index: kw.ignoreIndex, reduction: kw.reduction, label_smoothing: kw.labelSmoothing }),
    gradgrad: [0, 5, 9],
  }),
  defineOp<LossKw>({
    name: "nllLoss",
    samples: (g) => [
      smp([g.f([4, 5]), g.i([4], 0, 4)], {}),
      smp([g.f([4, 5]), g.i([4], 0, 4), g.f([5], { lo: 0.5, hi: 2, grad: false })], { weight: 2 }),
      smp([g.f([4, 5]), lit([4], [1, -100, 3, 0], "int64"), g.f([5], { lo: 0.5, hi: 2, grad: false })], { weight: 2, reduction: "sum" }),
      smp([g.f([4, 5]), lit([4], [1, 2, 1, 0], "int64")], { ignoreIndex: 1, reduction: "none" }),
      smp([g.f([2, 3, 4]), g.i([2, 4], 0, 2)], {}),
      smp([g.f([5, 4], { layout: "T" }), g.i([5], 0, 3)], {}),
      smp([g.f([5]), g.i([], 0, 4)], { reduction: "none" }),
    ],
    strata: (x, kw) => F.nllLoss(x[0]!, x[1]!, { weight: kw.weight !== undefined ? x[kw.weight] : undefined, ignoreIndex: kw.ignoreIndex, reduction: kw.reduction }),
    torch: (kw) => call("torch.nn.functional.nll_loss", [T(0), T(1)], { weight: kw.weight !== undefined ? T(kw.weight) : undefined, ignore_index: kw.ignoreIndex, reduction: kw.reduction }),
  }),
  ...([["mseLoss", "mse_loss"], ["l1Loss", "l1_loss"]] as const).map(([name, tn]) =>
    defineOp<LossKw>({
      name,
      // Targets off the 1/16 grid of the inputs: |input - target| never sits on its kink.
      samples: (g) => [
        smp([g.f([3, 4]), g.f([3, 4], { lo: -1.96875 })], {}),
        smp([g.f([3, 4], { layout: "T" }), g.f([3, 4], { lo: -1.96875 })], { reduction: "sum" }),
        smp([g.f([2, 3, 4]), g.f([2, 3, 4], { layout: "slice", lo: -1.96875 })], { reduction: "none" }),
        smp([g.f([]), g.f([], { lo: -1.96875 })], {}),
        smp([g.f([0, 3]), g.f([0, 3])], { reduction: "sum" }),
      ],
      strata: (x, kw) => (name === "mseLoss" ? F.mseLoss : F.l1Loss)(x[0]!, x[1]!, { reduction: kw.reduction }),
      torch: (kw) => call(`torch.nn.functional.${tn}`, [T(0), T(1)], { reduction: kw.reduction }),
    }),
  ),
  defineOp<LossKw>({
    name: "binaryCrossEntropy",
    samples: (g) => [
      smp([g.f([3, 4], { lo: 0.0625, hi: 0.9375 }), g.f([3, 4], { lo: 0, hi: 1 })], {}),
      smp([g.f([3, 4], { lo: 0.0625, hi: 0.9375, layout: "T" }), g.f([3, 4], { lo: 0, hi: 1 }), g.f([3, 4], { lo: 0.5, hi: 2, grad: false })], { weight: 2, reduction: "sum" }),
      smp([g.f([5], { lo: 0.125, hi: 0.875 }), g.f([5], { lo: 0, hi: 1 })], { reduction: "none" }),
      smp([lit([4], [0, 1, 0, 1], "float", false), lit([4], [0, 1, 1, 0], "float", false)], { reduction: "none" }),
      smp([g.f([], { lo: 0.25, hi: 0.75 }), g.f([], { lo: 0, hi: 1 })], {}),
    ],
    strata: (x, kw) => F.binaryCrossEntropy(x[0]!, x[1]!, { weight: kw.weight !== undefined ? x[kw.weight] : undefined, reduction: kw.reduction }),
    torch: (kw) => call("torch.nn.functional.binary_cross_entropy", [T(0), T(1)], { weight: kw.weight !== undefined ? T(kw.weight) : undefined, reduction: kw.reduction }),
  }),
  defineOp<LossKw & { posWeight?: number }>({
    name: "binaryCrossEntropyWithLogits",
    samples: (g) => [
      smp([g.f([3, 4], { lo: -4, hi: 4 }), g.f([3, 4], { lo: 0, hi: 1 })], {}),
      smp([g.f([3, 4], { layout: "T" }), g.f([3, 4], { lo: 0, hi: 1 }), g.f([3, 4], { lo: 0.5, hi: 2, grad: false })], { weight: 2, reduction: "sum" }),
      smp([g.f([2, 3]), g.f([2, 3], { lo: 0, hi: 1 }), g.f([3], { lo: 0.5, hi: 3, grad: false })], { posWeight: 2, reduction: "none" }),
      smp([lit([4], [-100, -30, 30, 100]), lit([4], [0, 1, 0.5, 1], "float", false)], { reduction: "none" }),
      smp([g.f([0, 2]), g.f([0, 2])], { reduction: "sum" }),
    ],
    strata: (x, kw) => F.binaryCrossEntropyWithLogits(x[0]!, x[1]!, { weight: kw.weight !== undefined ? x[kw.weight] : undefined, posWeight: kw.posWeight !== undefined ? x[kw.posWeight] : undefined, reduction: kw.reduction }),
    torch: (kw) =>
      call("torch.nn.functional.binary_cross_entropy_with_logits", [T(0), T(1)], {
        weight: kw.weight !== undefined ? T(kw.weight) : undefined, pos_weight: kw.posWeight !== undefined ? T(kw.posWeight) : undefined, reduction: kw.reduction,
      }),
  }),

  // ---- more tensor ops (beyond the list) ----
  // Rounding: piecewise constant, gradient zero as in PyTorch; values off the integers and halves
  // for finite differences, and a sample of halves for round's ties-to-even.
  ...([["floor", "torch.floor"], ["ceil", "torch.ceil"], ["round", "torch.round"], ["trunc", "torch.trunc"], ["frac", "torch.frac"]] as const).map(([name, tn]) =>
    defineOp<Kw>({
      name,
      samples: (g) => [
        smp([g.f([3, 4], { lo: -2.96875, hi: 3 })]),
        smp([g.f([2, 3, 4], { lo: -2.96875, hi: 3, layout: "T" })]),
        smp([g.f([], { lo: -2.96875, hi: 3 })]),
        smp([g.f([0, 2])]),
        smp([lit([10], [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, -0.75, 0.25, -2, 3])], {}, false),
        ...(name === "frac" ? [] : [smp([g.i([4], -5, 5)])]),
        edge(NAN_INF),
      ],
      strata: (x) => x[0]![name](),
      torch: () => call(tn, [T(0)]),
    }),
  ),
  unary("sign", "torch.sign", (x) => x.sign(), { nonzero: true, extra: (g) => [edge(NAN_INF), smp([g.i([5], -3, 3)])] }),
  unary("reciprocal", "torch.reciprocal", (x) => st.reciprocal(x), { nonzero: true, extra: () => [edge(NAN_INF)] }),
  unary("square", "torch.square", (x) => x.square(), { extra: (g) => [smp([g.i([5], -3, 3)])] }),
  unary("log2", "torch.log2", (x) => x.log2(), { lo: 0.125, hi: 8, extra: () => [edge([...NAN_INF, -1])] }),
  unary("log10", "torch.log10", (x) => x.log10(), { lo: 0.125, hi: 8, extra: () => [edge([...NAN_INF, -1])] }),
  unary("exp2", "torch.exp2", (x) => x.exp2(), { lo: -4, hi: 4, extra: () => [edge(NAN_INF)] }),
  ...(["isnan", "isinf", "isfinite"] as const).map((name) =>
    defineOp<Kw>({
      name,
      samples: (g) => [edge([...NAN_INF, 2.5]), smp([lit([2, 2], [NaN, 1, -Infinity, 0], "float", false)]), smp([g.i([3], -2, 2)]), smp([g.f([0])])],
      strata: (x) => x[0]![name](),
      torch: () => call(`torch.${name}`, [T(0)]),
      grad: false,
    }),
  ),
  defineOp<{ weight?: number }>({
    name: "lerp",
    samples: (g) => [smp([g.f([3, 4]), g.f([3, 4])], { weight: 0.25 }), smp([g.f([2, 3]), g.f([3]), g.f([2, 1], { lo: 0, hi: 1 })]), smp([g.f([4, 3], { layout: "T" }), g.f([4, 3])], { weight: 1.5 })],
    strata: (x, kw) => x[0]!.lerp(x[1]!, kw.weight ?? x[2]!),
    torch: (kw) => call("torch.lerp", [T(0), T(1), kw.weight ?? T(2)]),
  }),
  ...(["all", "any"] as const).map((name) =>
    defineOp<RedKw>({
      name,
      samples: (g) => [
        smp([g.b([3, 4])], {}),
        smp([g.b([3, 4])], { dim: 1 }),
        smp([g.b([2, 3, 4], { layout: "T" })], { dim: 0, keepdim: true }),
        smp([g.f([3, 4], { step: 1 })], { dim: 1 }),
        smp([g.i([3, 2], -1, 1)], {}),
        smp([g.b([0, 3])], {}),
        smp([g.b([0, 3])], { dim: 0 }),
        smp([lit([2, 2], [1, 1, 0, 1], "bool")], { dim: 1 }),
      ],
      strata: (x, kw) => (kw.dim === undefined ? x[0]![name]() : x[0]![name](kw.dim, keep(kw))),
      torch: red(`torch.${name}`),
      grad: false,
    }),
  ),
  defineOp<{ shifts: number | number[]; dims?: number | number[] }>({
    name: "roll",
    samples: (g) => [smp([g.f([3, 4])], { shifts: 1 }), smp([g.f([3, 4])], { shifts: -2, dims: 1 }), smp([g.f([3, 4], { layout: "T" })], { shifts: [1, 5], dims: [0, 1] }), smp([g.f([0, 2])], { shifts: 1, dims: 0 })],
    strata: (x, kw) => st.roll(x[0]!, kw.shifts, kw.dims),
    torch: (kw) => call("torch.roll", [T(0), kw.shifts as J], { dims: kw.dims as J | undefined }),
  }),
  defineOp<{ src: number | number[]; dst: number | number[] }>({
    name: "movedim",
    samples: (g) => [smp([g.f([2, 3, 4])], { src: 0, dst: -1 }), smp([g.f([2, 3, 4], { layout: "T" })], { src: [0, 1], dst: [2, 0] })],
    strata: (x, kw) => st.movedim(x[0]!, kw.src, kw.dst),
    torch: (kw) => call("torch.movedim", [T(0), kw.src as J, kw.dst as J]),
  }),
  defineOp<{ dim: number; sizes: number[] }>({
    name: "unflatten",
    samples: (g) => [smp([g.f([2, 6])], { dim: 1, sizes: [2, 3] }), smp([g.f([6, 2], { layout: "T" })], { dim: 0, sizes: [3, -1] })],
    strata: (x, kw) => x[0]!.unflatten(kw.dim, kw.sizes),
    torch: (kw) => call("torch.Tensor.unflatten", [T(0), kw.dim, kw.sizes]),
  }),
  defineOp<{ dim?: number }>({
    name: "unbind",
    samples: (g) => [smp([g.f([3, 2])], {}), smp([g.f([2, 3], { layout: "T" })], { dim: 1 })],
    strata: (x, kw) => st.unbind(x[0]!, kw.dim),
    torch: (kw) => call("torch.unbind", [T(0)], { dim: kw.dim }),
  }),
  defineOp<Kw>({
    name: "t",
    samples: (g) => [smp([g.f([3, 4])]), smp([g.f([5])]), smp([g.f([3, 4], { layout: "slice" })])],
    strata: (x) => x[0]!.t(),
    torch: () => call("torch.t", [T(0)]),
  }),
  ...([["outer", [[3], [4]]], ["dot", [[5], [5]]], ["mm", [[3, 4], [4, 2]]], ["bmm", [[2, 3, 4], [2, 4, 5]]]] as const).map(([name, shapes]) =>
    defineOp<Kw>({
      name,
      samples: (g) => [smp([g.f([...shapes[0]]), g.f([...shapes[1]])]), smp([g.f([...shapes[0]], { layout: shapes[0].length > 1 ? "T" : "slice" }), g.f([...shapes[1]], { layout: "slice" })])],
      strata: (x) => x[0]![name](x[1]!),
      torch: () => call(`torch.${name}`, [T(0), T(1)]),
    }),
  ),
  defineOp<Kw>({
    name: "linear",
    samples: (g) => [smp([g.f([3, 4]), g.f([5, 4]), g.f([5])]), smp([g.f([2, 3, 4], { layout: "T" }), g.f([2, 4])]), smp([g.f([4]), g.f([3, 4]), g.f([3])])],
    strata: (x) => F.linear(x[0]!, x[1]!, x[2]),
    torch: () => call("torch.nn.functional.linear", [T(0), T(1), OPT(2)]),
  }),
  defineOp<{ slope?: number }>({
    name: "leakyRelu",
    samples: (g) => [smp([g.f([3, 4], { nonzero: true })], {}), smp([g.f([2, 3], { nonzero: true, layout: "T" })], { slope: 0.2 }), smp([lit([3], [0, -1, 2])], {}, false)],
    strata: (x, kw) => F.leakyRelu(x[0]!, kw.slope),
    torch: (kw) => call("torch.nn.functional.leaky_relu", [T(0)], { negative_slope: kw.slope }),
  }),
  defineOp<{ alpha?: number }>({
    name: "elu",
    samples: (g) => [smp([g.f([3, 4])], {}), smp([g.f([2, 3], { nonzero: true, layout: "T" })], { alpha: 0.5 }), smp([lit([3], [0, -1, 2])], { alpha: 0.5 }, false)],
    strata: (x, kw) => F.elu(x[0]!, kw.alpha),
    torch: (kw) => call("torch.nn.functional.elu", [T(0)], { alpha: kw.alpha }),
  }),
  defineOp<{ min?: number; max?: number }>({
    name: "hardtanh",
    samples: (g) => [smp([g.f([3, 4], { lo: -1.96875 })], {}), smp([g.f([2, 3], { lo: -1.96875, layout: "T" })], { min: -0.5, max: 0.5 }), smp([lit([5], [-1, 1, 0.5, -2, 2])], {}, false)],
    strata: (x, kw) => F.hardtanh(x[0]!, kw.min, kw.max),
    torch: (kw) => call("torch.nn.functional.hardtanh", [T(0)], { min_val: kw.min, max_val: kw.max }),
  }),
  // Not ±20: softplus switches to its linear branch there (a 2e-9 step that finite differences see).
  unary("logSigmoid", "torch.nn.functional.logsigmoid", (x) => F.logSigmoid(x), { lo: -4, hi: 4, extra: () => [smp([lit([6], [-800, -40, -19.5, 19.5, 40, 800])])] }),
  defineOp<Kw>({
    name: "embedding",
    samples: (g) => [smp([g.i([2, 3], 0, 4), g.f([5, 3])]), smp([g.i([4], 0, 2), g.f([4, 3], { layout: "T" })])],
    strata: (x) => F.embedding(x[0]!, x[1]!),
    torch: () => call("torch.nn.functional.embedding", [T(0), T(1)]),
  }),
  defineOp<{ p?: number; dim?: number }>({
    name: "normalize",
    samples: (g) => [smp([g.f([3, 4])], {}), smp([g.f([3, 4], { layout: "T", nonzero: true })], { p: 1, dim: 0 }), smp([lit([2, 3], [0, 0, 0, 1, -2, 2])], {}, false)],
    strata: (x, kw) => F.normalize(x[0]!, { p: kw.p, dim: kw.dim }),
    torch: (kw) => call("torch.nn.functional.normalize", [T(0)], { p: kw.p, dim: kw.dim }),
  }),
  defineOp<{ size: number | number[] }>({
    name: "adaptiveAvgPool2d",
    samples: (g) => [smp([g.f([2, 3, 4, 4])], { size: 2 }), smp([g.f([1, 2, 7, 5])], { size: [3, 2] }), smp([g.f([2, 5, 6], { layout: "T" })], { size: [4, 3] }), smp([g.f([1, 1, 3, 3])], { size: 1 })],
    strata: (x, kw) => F.adaptiveAvgPool2d(x[0]!, kw.size as number | number[]),
    torch: (kw) => call("torch.nn.functional.adaptive_avg_pool2d", [T(0), kw.size as J]),
  }),
  defineOp<{ stride?: number; padding?: number; outputPadding?: number; groups?: number; dilation?: number }>({
    name: "convTranspose1d",
    samples: (g) => [smp([g.f([2, 3, 5]), g.f([3, 2, 3]), g.f([2])], {}), smp([g.f([1, 4, 4]), g.f([4, 1, 3])], { stride: 2, padding: 1, outputPadding: 1, groups: 2 }), smp([g.f([3, 6], { layout: "slice" }), g.f([3, 2, 2])], { dilation: 3 })],
    strata: (x, kw) => F.convTranspose1d(x[0]!, x[1]!, x[2], kw),
    torch: (kw) => call("torch.nn.functional.conv_transpose1d", [T(0), T(1)], { bias: OPT(2), stride: kw.stride, padding: kw.padding, output_padding: kw.outputPadding, groups: kw.groups, dilation: kw.dilation }),
  }),
  defineOp<ConvKw>({
    name: "conv3d",
    samples: (g) => [smp([g.f([1, 2, 3, 4, 4]), g.f([2, 2, 2, 2, 2]), g.f([2])], {}), smp([g.f([1, 2, 5, 4, 3]), g.f([2, 1, 3, 2, 2])], { stride: [2, 1, 1], padding: 1, groups: 2 })],
    strata: (x, kw) => F.conv3d(x[0]!, x[1]!, x[2], kw),
    torch: (kw) => convCall("torch.nn.functional.conv3d", kw),
  }),

  // ---- creation ----
  defineOp<{ args: number[]; dtype?: string }>({
    name: "arange",
    samples: () => [smp([], { args: [5] }), smp([], { args: [2, 9, 3] }), smp([], { args: [0, 1, 0.25] }), smp([], { args: [1, -1, -0.5], dtype: "float" }), smp([], { args: [-3, 4], dtype: "float" }), smp([], { args: [0] }), smp([], { args: [0, 2, 0.3], dtype: "float" })],
    strata: (_x, kw, ctx) => (kw.args.length === 1 ? st.arange(kw.args[0]!, undefined, 1, dtypeOpt(kw.dtype, ctx)) : st.arange(kw.args[0]!, kw.args[1], kw.args[2] ?? 1, dtypeOpt(kw.dtype, ctx))),
    torch: (kw) => call("torch.arange", kw.args, { dtype: kw.dtype ? DT(kw.dtype) : undefined }),
    grad: false,
  }),
  defineOp<{ start: number; end: number; steps: number; dtype?: string }>({
    name: "linspace",
    samples: () => [smp([], { start: 0, end: 1, steps: 5 }), smp([], { start: -1, end: 2, steps: 7, dtype: "float" }), smp([], { start: 3, end: 3, steps: 1 }), smp([], { start: 0, end: 1, steps: 0 }), smp([], { start: 2, end: -1.5, steps: 8, dtype: "float" }), smp([], { start: 0, end: 10, steps: 11, dtype: "int64" })],
    strata: (_x, kw, ctx) => st.linspace(kw.start, kw.end, kw.steps, dtypeOpt(kw.dtype, ctx)),
    torch: (kw) => call("torch.linspace", [kw.start, kw.end, kw.steps], { dtype: kw.dtype ? DT(kw.dtype) : undefined }),
    grad: false,
  }),
  defineOp<{ n: number; m?: number; dtype?: string }>({
    name: "eye",
    samples: () => [smp([], { n: 3 }), smp([], { n: 2, m: 4, dtype: "float" }), smp([], { n: 4, m: 1, dtype: "int64" }), smp([], { n: 0 }), smp([], { n: 3, dtype: "bool" })],
    strata: (_x, kw, ctx) => st.eye(kw.n, kw.m ?? kw.n, dtypeOpt(kw.dtype, ctx)),
    torch: (kw) => call("torch.eye", kw.m === undefined ? [kw.n] : [kw.n, kw.m], { dtype: kw.dtype ? DT(kw.dtype) : undefined }),
    grad: false,
  }),
  ...(["zeros", "ones"] as const).map((name) =>
    defineOp<{ size: number[]; dtype?: string }>({
      name,
      samples: () => [smp([], { size: [2, 3] }), smp([], { size: [4], dtype: "float" }), smp([], { size: [], dtype: "int64" }), smp([], { size: [0, 2] }), smp([], { size: [2], dtype: "bool" }), smp([], { size: [3], dtype: "int32" })],
      strata: (_x, kw, ctx) => st[name](kw.size, dtypeOpt(kw.dtype, ctx)),
      torch: (kw) => call(`torch.${name}`, [kw.size], { dtype: kw.dtype ? DT(kw.dtype) : undefined }),
      grad: false,
    }),
  ),
  defineOp<{ size: number[]; value: number | boolean; dtype?: string }>({
    name: "full",
    samples: () => [smp([], { size: [2, 3], value: 2.5 }), smp([], { size: [2], value: true }), smp([], { size: [3], value: 7, dtype: "int32" }), smp([], { size: [], value: -3.5, dtype: "float" }), smp([], { size: [0, 3], value: 1.5 }), smp([], { size: [2, 2], value: -Infinity, dtype: "float" })],
    strata: (_x, kw, ctx) => st.full(kw.size, kw.value, dtypeOpt(kw.dtype, ctx)),
    torch: (kw) => call("torch.full", [kw.size, kw.value], { dtype: kw.dtype ? DT(kw.dtype) : undefined }),
    grad: false,
  }),
];

interface ConvKw {
  stride?: number | number[];
  padding?: number | number[] | "same";
  dilation?: number | number[];
  groups?: number;
}
interface PoolKw {
  k: number | number[];
  stride?: number | number[];
  padding?: number;
  dilation?: number;
  ceilMode?: boolean;
  countIncludePad?: boolean;
  divisorOverride?: number;
}
interface LossKw {
  /** Index of the input holding the class weights. */
  weight?: number;
  ignoreIndex?: number;
  labelSmoothing?: number;
  reduction?: "mean" | "sum" | "none";
}

function convCall(fn: string, kw: ConvKw): TorchCall {
  return call(fn, [T(0), T(1), OPT(2)], { stride: kw.stride, padding: kw.padding, dilation: kw.dilation, groups: kw.groups });
}
const dtypeOpt = (d: string | undefined, ctx: Ctx): { dtype?: DType } => (d === undefined ? {} : { dtype: d === "float" ? ctx.float : (d as DType) });

/** The ops the suite must cover (the list of the issue); ops.test.ts checks each has an entry. */
export const REQUIRED_OPS = [
  "add", "sub", "mul", "div", "floorDivide", "remainder", "fmod", "pow", "eq", "ne", "lt", "le", "gt", "ge", "maximum", "minimum",
  "abs", "neg", "exp", "log", "log1p", "expm1", "sqrt", "rsqrt", "sin", "cos", "tan", "tanh", "sigmoid", "relu", "gelu", "gelu_tanh",
  "silu", "softplus", "erf", "clamp", "where", "logicalAnd", "logicalOr", "logicalXor", "logicalNot",
  "sum", "mean", "prod", "amax", "amin", "max", "min", "argmax", "argmin", "var", "std", "logsumexp", "softmax", "logSoftmax", "cumsum", "norm",
  "reshape", "view", "permute", "transpose", "expand", "squeeze", "unsqueeze", "flatten", "narrow", "flip", "repeat", "pad", "cat", "stack",
  "split", "chunk", "index", "gather", "scatterAdd", "indexSelect", "maskedFill", "oneHot", "triu", "tril", "matmul", "einsum",
  "conv1d", "conv2d", "convTranspose2d", "maxPool1d", "maxPool2d", "avgPool1d", "avgPool2d", "F.gelu", "F.silu", "layerNorm", "dropout",
  "crossEntropy", "nllLoss", "mseLoss", "l1Loss", "binaryCrossEntropy", "binaryCrossEntropyWithLogits",
  "arange", "linspace", "eye", "zeros", "ones", "full",
] as const;
