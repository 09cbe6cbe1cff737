/**
 * Kernel IR -> a WebAssembly function. The structure mirrors the js renderer (one local per
 * expression, hoisted out of the reduction loops when it does not depend on them), and every op
 * has the js backend's semantics exactly: float32 ops round as float32, reductions accumulate in
 * a double, integers wrap as JavaScript's `|0` and `&255` do, int64 is held in a double (as the js
 * backend stores it). Functions wasm lacks (exp, log, sin, pow, erf, fmod, Philox) are imported
 * from JavaScript.
 *
 * The function takes each buffer's byte offset in the memory (i32), then the kernel's scalars
 * (f64), then a range [lo, hi) of the split loop (see `splitDim`): a call computes the outputs
 * whose split index lies in it, so that threads can share one kernel's outputs. A kernel this emitter does not handle (float16/bfloat16, rare op and dtype
 * pairs) throws `Unsupported`, and the backend runs it through the js renderer instead.
 */
import type { DType } from "../../ir/dtype.ts";
import { type Atom, type Cond, type Lin, linRange } from "../../ir/index-expr.ts";
import { type Kernel, placeExprs, topoExprs, type VExpr } from "../../ir/kernel.ts";
import { Fn, ModuleBuilder, Op, OpFC, T, type ValType } from "./encoder.ts";
import { expFn, logFn } from "./math.ts";
import { hoistIndices } from "./hoist.ts";
import { LANES, planVector, vectorBodyEmitter } from "./vector.ts";

export class Unsupported extends Error {}

const no = (why: string): never => {
  throw new Unsupported(why);
};

/** The wasm type a dtype computes in; int64 is a double holding an integer, as in the js backend. */
function vt(dt: DType): ValType {
  switch (dt) {
    case "float32": return T.f32;
    case "float64": case "int64": return T.f64;
    case "int32": case "uint8": case "bool": return T.i32;
    default: return no(`dtype ${dt}`);
  }
}
const isF = (dt: DType) => dt === "float32" || dt === "float64";
const BYTES: Partial<Record<DType, number>> = { float32: 4, float64: 8, int64: 8, int32: 4, uint8: 1, bool: 1 };
const LOG2: Record<number, number> = { 1: 0, 4: 2, 8: 3 };

export interface EmittedKernel {
  bytes: Uint8Array;
  /** The `what` labels of bounds checks, by the index the module passes to `oob`. */
  whats: string[];
  /** The JavaScript functions the module imports (see IMPORTS). */
  imports: string[];
  /** The output loop runs four outputs a step in SIMD lanes (vector.ts). */
  vectorized: boolean;
}

/** Names of the JavaScript functions a kernel module may import, with their signatures. */
export const IMPORTS = {
  exp: [[T.f64], [T.f64]],
  log: [[T.f64], [T.f64]],
  sin: [[T.f64], [T.f64]],
  erf: [[T.f64], [T.f64]],
  pow: [[T.f64, T.f64], [T.f64]],
  fmod: [[T.f64, T.f64], [T.f64]],
  uniform: [[T.f64, T.f64, T.f64, T.i32], [T.f64]],
  oob: [[T.i32, T.f64, T.i32], []],
} as const satisfies Record<string, readonly [readonly ValType[], readonly ValType[]]>;
type ImportName = keyof typeof IMPORTS;

/** Reductions of at most this many steps are unrolled. */
const UNROLL_REDUCE = 9;

const randomBits = (dt: DType): number => (dt === "float64" ? 53 : 24);

/**
 * The output loop a kernel's work is split over between threads: the first of size > 1 (the ones
 * before it have size 1). -1 when there is none (a single output).
 */
export function splitDim(shape: readonly number[]): number {
  return shape.findIndex((n) => n > 1);
}

/** `sharedMemory`: import the memory as shared (the backend runs worker threads). */
export function emitKernel(k: Kernel, sharedMemory = false): EmittedKernel {
  const outDt = k.bufs[0]!.dtype;
  for (const b of k.bufs) vt(b.dtype);
  if (vt(k.value.dt) !== vt(outDt) || (k.value.dt !== outDt && !(k.value.dt === "bool" && outDt === "uint8"))) no("store dtype");
  if (k.store.mode === "add" && outDt === "bool") no("bool scatter-add");

  const roots = k.reduce ? [k.reduce.body, k.value] : [k.value];
  const order = topoExprs(roots, [k.store.idx]);

  // Which imports the kernel needs: declared first (imports precede functions in a module).
  const mb = new ModuleBuilder(sharedMemory);
  const need = new Set<ImportName>();
  /** Functions the module defines itself (math.ts): exp and log of float32 values. */
  const own = new Set<"exp" | "log">();
  for (const e of order) {
    if (e.k === "alu") {
      if ((e.op === "exp" || e.op === "log") && e.dt === "float32") own.add(e.op);
      else if (e.op === "exp" || e.op === "log" || e.op === "sin" || e.op === "erf" || e.op === "pow") need.add(e.op);
      if (e.op === "mod" && e.dt !== "int32" && e.dt !== "uint8") need.add("fmod");
    } else if (e.k === "random") need.add("uniform");
    else if (e.k === "check") need.add("oob");
  }
  const imp = new Map<ImportName, number>();
  for (const name of Object.keys(IMPORTS) as ImportName[]) {
    if (need.has(name)) imp.set(name, mb.importFunc(name, IMPORTS[name][0], IMPORTS[name][1]));
  }
  const ownFn = new Map<"exp" | "log", number>();
  if (own.has("exp")) ownFn.set("exp", mb.addFunc("exp64", expFn()));
  if (own.has("log")) ownFn.set("log", mb.addFunc("log64", logFn()));

  const nb = k.bufs.length, ns = k.scalars.length;
  const f = new Fn([...k.bufs.map(() => T.i32), ...new Array<ValType>(ns).fill(T.f64), T.i32, T.i32]);
  const splitLo = nb + ns, splitHi = nb + ns + 1, split = splitDim(k.shape);
  const bufParam = (i: number) => i;
  const scalarParam = (i: number) => nb + i;
  const loopVar = new Map<string, number>();
  k.shape.forEach((_, i) => loopVar.set(`o${i}`, f.local(T.i32)));
  k.reduce?.shape.forEach((_, i) => loopVar.set(`r${i}`, f.local(T.i32)));
  const tmp: Partial<Record<ValType, number>> = {};
  const scratch = (t: ValType): number => (tmp[t] ??= f.local(t));
  const whats: string[] = [];

  // ---- values -------------------------------------------------------------------------------
  const local = new Map<VExpr, number>();
  const constVal = (e: Extract<VExpr, { k: "const" }>) => {
    switch (vt(e.dt)) {
      case T.f32: f.f32(e.v); break;
      case T.f64: f.f64(e.dt === "int64" ? Math.trunc(e.v) : e.v); break;
      default: {
        const v = e.dt === "bool" ? (e.v !== 0 ? 1 : 0) : e.dt === "uint8" ? e.v & 255 : e.v | 0;
        if (e.dt !== "bool" && v !== e.v) no("non-integer constant");
        f.i32(v);
      }
    }
  };
  const val = (e: VExpr): void => {
    if (e.k === "const") return constVal(e);
    const l = local.get(e);
    if (l === undefined) throw new Error("internal: wasm value used before it was computed");
    f.get(l);
  };

  /** Converts the f64 on the stack to dt as JavaScript's conversions do (ToInt32, &255, fround). */
  const fromF64 = (dt: DType) => {
    switch (dt) {
      case "float32": f.op(Op.f32DemoteF64); break;
      case "float64": break;
      case "int64": f.op(Op.f64Trunc); break;
      case "int32": case "uint8": {
        // ToInt32: non-finite -> 0, else the integer part modulo 2^32 (exact below 2^63).
        const t = scratch(T.f64);
        f.tee(t).fc(OpFC.i64TruncSatF64S).op(Op.i32WrapI64).i32(0)
          .get(t).get(t).op(Op.f64Sub).f64(0).op(Op.f64Eq).op(Op.select);
        if (dt === "uint8") f.i32(255).op(Op.i32And);
        break;
      }
      case "bool": f.f64(0).op(Op.f64Ne); break;
      default: no(`dtype ${dt}`);
    }
  };
  /** Converts the value of dt on the stack to an f64 (the JavaScript number it stands for). */
  const toF64 = (dt: DType) => {
    const t = vt(dt);
    if (t === T.f32) f.op(Op.f64PromoteF32);
    else if (t === T.i32) f.op(Op.f64ConvertI32S);
  };
  /** An f64 result of dt's JS semantics on the stack -> dt (rounded/wrapped as ROUND/intWrap). */
  const viaF64 = (srcs: readonly VExpr[], dt: DType, body: () => void) => {
    for (const s of srcs) { val(s); toF64(s.dt); }
    body();
    fromF64(dt);
  };
  const callImp = (name: ImportName) => f.call(imp.get(name)!);

  // ---- index arithmetic (i32) ----------------------------------------------------------------
  const plan = planVector(k, order, split);
  const hoist = hoistIndices(k, order, plan ? plan.dim : k.shape.length, f);
  const lin = (l: Lin): void => {
    const h = hoist.base(l);
    const terms = h ? h.rest : l.terms;
    if (h) f.get(h.local);
    terms.forEach(({ atom, coef }, i) => {
      atomI32(atom);
      if (coef !== 1) f.i32(coef).op(Op.i32Mul);
      if (h || i > 0) f.op(Op.i32Add);
    });
    if (!h && terms.length === 0) f.i32(l.c);
    else if (l.c !== 0) f.i32(l.c).op(Op.i32Add);
  };
  const atomI32 = (a: Atom): void => {
    switch (a.k) {
      case "var": f.get(loopVar.get(a.name)!); break;
      case "val": {
        val(a.of);
        const t = vt(a.of.dt);
        if (t === T.f32) f.fc(0 /* i32.trunc_sat_f32_s */);
        else if (t === T.f64) f.fc(OpFC.i32TruncSatF64S);
        break;
      }
      case "div": case "mod": {
        // Floor division and modulo of a possibly negative value: shift it non-negative first.
        const lo = linRange(a.of)[0];
        const shift = lo < 0 ? Math.ceil(-lo / a.by) : 0;
        lin(a.of);
        if (shift) f.i32(shift * a.by).op(Op.i32Add);
        f.i32(a.by).op(a.k === "div" ? Op.i32DivU : Op.i32RemU);
        if (a.k === "div" && shift) f.i32(shift).op(Op.i32Sub);
        break;
      }
      default: a satisfies never;
    }
  };
  /** 1 where every condition holds: lo <= lin < hi as one unsigned compare. */
  const conds = (cs: readonly Cond[]): void => {
    let n = 0;
    for (const c of cs) {
      const [lo, hi] = linRange(c.lin);
      if (lo >= c.lo && hi < c.hi) continue;
      lin(c.lin);
      if (c.lo !== 0) f.i32(c.lo).op(Op.i32Sub);
      f.i32(c.hi - c.lo).op(Op.i32LtU);
      if (n++) f.op(Op.i32And);
    }
    if (n === 0) f.i32(1);
  };
  const zero = (dt: DType) => {
    const t = vt(dt);
    if (t === T.f32) f.f32(0); else if (t === T.f64) f.f64(0); else f.i32(0);
  };
  const address = (buf: number, idx: Lin, dt: DType) => {
    f.get(bufParam(buf));
    lin(idx);
    const sh = LOG2[BYTES[dt]!]!;
    if (sh) f.i32(sh).op(Op.i32Shl);
    f.op(Op.i32Add);
  };
  const load = (dt: DType) => {
    switch (dt) {
      case "float32": f.mem(Op.f32Load, 2); break;
      case "float64": case "int64": f.mem(Op.f64Load, 3); break;
      case "int32": f.mem(Op.i32Load, 2); break;
      case "uint8": case "bool": f.mem(Op.i32Load8u, 0); break;
      default: no(`load ${dt}`);
    }
  };
  const store = (dt: DType) => {
    switch (dt) {
      case "float32": f.mem(Op.f32Store, 2); break;
      case "float64": case "int64": f.mem(Op.f64Store, 3); break;
      case "int32": f.mem(Op.i32Store, 2); break;
      case "uint8": case "bool": f.mem(Op.i32Store8, 0); break;
      default: no(`store ${dt}`);
    }
  };

  // ---- ALU -----------------------------------------------------------------------------------
  const same = (e: Extract<VExpr, { k: "alu" }>, from = 0) => {
    for (const s of e.srcs.slice(from)) if (s.dt !== e.dt) no(`${e.op} mixes ${s.dt} and ${e.dt}`);
  };
  /** Emits a binary op of wasm type t: a, b on the stack. */
  const fop = (t: ValType, o32: number, o64: number) => f.op(t === T.f32 ? o32 : o64);
  /**
   * select (x, y, condition on the stack) for any type. Floats are blended through their bits,
   * y ^ ((x ^ y) & -condition): the engine compiles a float select to a branch, which data-
   * dependent conditions (relu, where, max, padding gates) mispredict half the time.
   */
  let selCond = -1, selBits32 = -1, selBits64 = -1;
  const select = (t: ValType) => {
    if (t !== T.f32 && t !== T.f64) { f.op(Op.select); return; }
    if (selCond < 0) selCond = f.local(T.i32);
    f.set(selCond);
    if (t === T.f32) {
      if (selBits32 < 0) selBits32 = f.local(T.i32);
      f.op(Op.i32ReinterpretF32).set(selBits32).op(Op.i32ReinterpretF32).get(selBits32).op(Op.i32Xor)
        .i32(0).get(selCond).op(Op.i32Sub).op(Op.i32And).get(selBits32).op(Op.i32Xor).op(Op.f32ReinterpretI32);
    } else {
      if (selBits64 < 0) selBits64 = f.local(T.i64);
      f.op(Op.i64ReinterpretF64).set(selBits64).op(Op.i64ReinterpretF64).get(selBits64).op(Op.i64Xor)
        .i32(0).get(selCond).op(Op.i32Sub).op(Op.i64ExtendI32S).op(Op.i64And).get(selBits64).op(Op.i64Xor).op(Op.f64ReinterpretI64);
    }
  };
  const nanMax = (a: VExpr, b: VExpr, t: ValType, uns: boolean) => {
    // (a > b || a !== a) ? a : b
    val(a); val(b);
    val(a); val(b);
    if (t === T.i32) f.op(uns ? Op.i32GtU : Op.i32GtS);
    else {
      fop(t, Op.f32Gt, Op.f64Gt);
      val(a); val(a); fop(t, Op.f32Ne, Op.f64Ne);
      f.op(Op.i32Or);
    }
    select(t);
  };
  /** Integer division or remainder with JavaScript's results for a zero divisor (0). */
  const intDivRem = (a: VExpr, b: VExpr, o: number) => {
    const tb = scratch(T.i32);
    // b' = b == 0 ? 1 : b; result = b == 0 ? 0 : a op b'
    val(a);
    val(b); f.tee(tb).i32(1).get(tb).op(Op.select);
    f.op(o);
    f.i32(0).get(tb).op(Op.select);
  };

  const alu = (e: Extract<VExpr, { k: "alu" }>): void => {
    const dt = e.dt, t = vt(dt), [a, b, c] = e.srcs;
    const i64like = dt === "int64";
    switch (e.op) {
      case "neg":
        if (dt === "bool") { val(a!); f.op(Op.i32Eqz); return; }
        same(e);
        if (t === T.i32) { f.i32(0); val(a!); f.op(Op.i32Sub); if (dt === "uint8") f.i32(255).op(Op.i32And); return; }
        val(a!); fop(t, Op.f32Neg, Op.f64Neg); return;
      case "exp": case "log": case "sin": case "erf":
        same(e);
        if (!isF(dt)) no(`${e.op} on ${dt}`);
        if (dt === "float32" && (e.op === "exp" || e.op === "log")) return viaF64([a!], dt, () => f.call(ownFn.get(e.op as "exp" | "log")!));
        return viaF64([a!], dt, () => callImp(e.op as ImportName));
      case "sqrt":
        same(e);
        if (!isF(dt)) no(`sqrt on ${dt}`);
        val(a!); fop(t, Op.f32Sqrt, Op.f64Sqrt); return;
      case "recip":
        same(e);
        if (isF(dt)) { if (t === T.f32) f.f32(1); else f.f64(1); val(a!); fop(t, Op.f32Div, Op.f64Div); return; }
        if (dt === "bool") no("recip on bool");
        return viaF64([a!], dt, () => { const x = scratch(T.f64); f.set(x).f64(1).get(x).op(Op.f64Div); });
      case "trunc":
        same(e);
        val(a!);
        if (t !== T.i32) fop(t, Op.f32Trunc, Op.f64Trunc);
        return;
      case "cast": {
        const src = a!.dt, st = vt(src);
        val(a!);
        if (src === dt) return;
        if (src === "bool") {
          // (+a): the number 0 or 1, not rounded further.
          if (t === T.f32) f.op(Op.f32ConvertI32S); else if (t === T.f64) f.op(Op.f64ConvertI32S);
          return;
        }
        if (dt === "bool") {
          if (st === T.i32) f.i32(0).op(Op.i32Ne);
          else if (st === T.f32) f.f32(0).op(Op.f32Ne);
          else f.f64(0).op(Op.f64Ne);
          return;
        }
        if (st === T.i32 && t === T.i32) { if (dt === "uint8") f.i32(255).op(Op.i32And); return; }
        if (st === T.i32 && t === T.f32) { f.op(Op.f32ConvertI32S); return; }
        toF64(src);
        fromF64(dt);
        return;
      }
      case "add":
        same(e);
        if (dt === "bool") { val(a!); val(b!); f.op(Op.i32Or); return; }
        val(a!); val(b!);
        if (t === T.i32) { f.op(Op.i32Add); if (dt === "uint8") f.i32(255).op(Op.i32And); return; }
        fop(t, Op.f32Add, Op.f64Add); return;
      case "mul":
        same(e);
        val(a!); val(b!);
        if (dt === "bool") { f.op(Op.i32And); return; }
        if (t === T.i32) { f.op(Op.i32Mul); if (dt === "uint8") f.i32(255).op(Op.i32And); return; }
        fop(t, Op.f32Mul, Op.f64Mul); return;
      case "div":
        same(e);
        if (isF(dt)) { val(a!); val(b!); fop(t, Op.f32Div, Op.f64Div); return; }
        if (i64like) { val(a!); val(b!); f.op(Op.f64Div).op(Op.f64Trunc); return; }
        if (dt === "bool") no("div on bool");
        return viaF64([a!, b!], dt, () => f.op(Op.f64Div));
      case "max":
        same(e);
        return nanMax(a!, b!, t, dt === "uint8" || dt === "bool");
      case "pow":
        same(e);
        if (dt === "bool") no("pow on bool");
        return viaF64([a!, b!], dt, () => callImp("pow"));
      case "idiv":
        same(e);
        if (dt === "int32") {
          // (a / b) | 0 with b == 0 -> 0; INT_MIN / -1 wraps (as |0 does) instead of trapping.
          const tb = scratch(T.i32);
          f.i32(0); val(a!); f.op(Op.i32Sub);
          val(a!);
          val(b!); f.tee(tb).i32(1).get(tb).op(Op.select); // b == 0 -> 1
          f.tee(tb).i32(1).get(tb).i32(-1).op(Op.i32Ne).op(Op.select); // b == -1 -> 1
          f.op(Op.i32DivS);
          val(b!); f.i32(-1).op(Op.i32Eq).op(Op.select);
          f.i32(0); val(b!); f.op(Op.select);
          return;
        }
        if (dt === "uint8") return intDivRem(a!, b!, Op.i32DivU);
        if (dt === "bool") no("idiv on bool");
        // Math.trunc(a / b) in doubles (float32 too: its quotient is rounded only once, at the end);
        // an int64 zero divisor gives 0.
        for (const s of [a!, b!]) { val(s); toF64(s.dt); }
        f.op(Op.f64Div).op(Op.f64Trunc);
        if (i64like) { f.f64(0); val(b!); f.f64(0).op(Op.f64Ne).op(Op.select); }
        fromF64(dt);
        return;
      case "mod":
        same(e);
        if (dt === "int32") return intDivRem(a!, b!, Op.i32RemS);
        if (dt === "uint8") return intDivRem(a!, b!, Op.i32RemU);
        if (dt === "bool") no("mod on bool");
        for (const s of [a!, b!]) { val(s); toF64(s.dt); }
        callImp("fmod");
        if (i64like) { f.f64(0); val(b!); f.f64(0).op(Op.f64Ne).op(Op.select); }
        fromF64(dt);
        return;
      case "cmplt": case "cmpeq": {
        const sd = a!.dt;
        if (b!.dt !== sd || dt !== "bool") no(`${e.op} on ${sd}, ${b!.dt} -> ${dt}`);
        const st = vt(sd);
        val(a!); val(b!);
        if (e.op === "cmpeq") f.op(st === T.i32 ? Op.i32Eq : st === T.f32 ? Op.f32Eq : Op.f64Eq);
        else f.op(st === T.i32 ? (sd === "int32" ? Op.i32LtS : Op.i32LtU) : st === T.f32 ? Op.f32Lt : Op.f64Lt);
        return;
      }
      case "where":
        same(e, 1);
        if (vt(a!.dt) !== T.i32) no("where on a float condition");
        val(b!); val(c!); val(a!); select(vt(dt));
        return;
      default: e.op satisfies never;
    }
  };

  // ---- expressions, placed as the js renderer places them ------------------------------------
  const { pre, inner, post } = placeExprs(order);
  let accLocal = -1;
  const red = k.reduce;
  // Sums and products of floats accumulate in a double (as the js backend's do); a float32 max is
  // exact in float32, so it stays there.
  const accT: ValType = red && vt(red.body.dt) === T.i32 && red.op === "sum" ? T.i64 : red && vt(red.body.dt) === T.i32 ? T.i32
    : red && red.op === "amax" && red.body.dt === "float32" ? T.f32 : T.f64;
  if (red) {
    accLocal = f.local(accT);
    if (red.shape.includes(0) && red.op === "amax" && !isF(red.body.dt)) no("empty integer amax");
    if (red.body.dt === "bool" && red.op === "sum") no("bool sum");
  }
  for (const e of order) {
    const t = vt(e.dt);
    if (e.k !== "const") local.set(e, f.local(t));
  }

  const emit = (e: VExpr): void => {
    const l = local.get(e)!;
    switch (e.k) {
      case "load": {
        if (e.valid.length) {
          conds(e.valid);
          f.if(vt(e.dt));
          address(e.buf, e.idx, e.dt); load(e.dt);
          f.else(); zero(e.dt); f.end();
        } else {
          address(e.buf, e.idx, e.dt); load(e.dt);
        }
        break;
      }
      case "index": {
        lin(e.lin);
        const t = vt(e.dt);
        if (t === T.f32) f.op(Op.f32ConvertI32S);
        else if (t === T.f64) f.op(Op.f64ConvertI32S);
        else if (e.dt !== "int32") no(`index as ${e.dt}`);
        break;
      }
      case "alu": alu(e); break;
      case "gate": {
        val(e.src); zero(e.dt); conds(e.valid); select(vt(e.dt));
        break;
      }
      case "acc": {
        if (e.dt !== red!.body.dt) no("accumulator dtype");
        f.get(accLocal);
        if (accT === T.i64) { f.op(Op.i32WrapI64); if (e.dt === "uint8") f.i32(255).op(Op.i32And); }
        else if (accT === T.i32) { if (e.dt === "uint8") f.i32(255).op(Op.i32And); }
        else if (e.dt === "float32" && accT === T.f64) f.op(Op.f32DemoteF64);
        break;
      }
      case "random": {
        if (!isF(e.dt)) no(`random ${e.dt}`);
        f.get(scalarParam(e.state + 2)); lin(e.counter); f.op(Op.f64ConvertI32S).op(Op.f64Add);
        f.get(scalarParam(e.state)).get(scalarParam(e.state + 1)).i32(randomBits(e.dt));
        callImp("uniform");
        if (e.dt === "float32") f.op(Op.f32DemoteF64);
        break;
      }
      case "check": {
        const sd = e.src.dt, st = vt(sd);
        const w = whats.length;
        whats.push(e.what);
        if (e.valid.length) conds(e.valid);
        if (st === T.i32) { val(e.src); f.i32(e.size).op(Op.i32GeU); }
        else {
          const x = scratch(T.f64);
          val(e.src); toF64(sd); f.tee(x).f64(0).op(Op.f64Lt);
          f.get(x).f64(e.size).op(Op.f64Ge).op(Op.i32Or);
          f.get(x).get(x).op(Op.f64Floor).op(Op.f64Ne).op(Op.i32Or);
        }
        if (e.valid.length) f.op(Op.i32And);
        f.if().i32(w); val(e.src); toF64(sd); f.i32(e.size); callImp("oob"); f.end();
        val(e.src);
        break;
      }
      case "const": return;
      default: e satisfies never;
    }
    f.set(l);
  };

  // ---- loops ---------------------------------------------------------------------------------
  const redVars = red ? red.shape.map((_, i) => `r${i}`) : [];
  const loop = (v: number, size: number, body: () => void) => {
    f.i32(0).set(v).loop();
    body();
    f.get(v).i32(1).op(Op.i32Add).tee(v).i32(size).op(Op.i32LtS).brIf(0).end();
  };
  /** The split loop: lo..hi from the arguments, entered only when lo < hi. */
  const splitLoop = (v: number, body: () => void) => {
    f.get(splitLo).get(splitHi).op(Op.i32LtS).if();
    f.get(splitLo).set(v).loop();
    body();
    f.get(v).i32(1).op(Op.i32Add).tee(v).get(splitHi).op(Op.i32LtS).brIf(0).end();
    f.end();
  };
  const nest = (vars: string[], sizes: readonly number[], body: () => void, d = 0, splitAt = -1): void => {
    if (d === sizes.length) return body();
    const inner = () => {
      const left = hoist.enter(vars[d]!, atomI32);
      nest(vars, sizes, body, d + 1, splitAt);
      left();
    };
    if (d === splitAt) splitLoop(loopVar.get(vars[d]!)!, inner);
    else loop(loopVar.get(vars[d]!)!, sizes[d]!, inner);
  };

  /**
   * The reduction loops, unrolled when they are short (a pooling window): each step then has its
   * loop variables as constants, which the engine folds into the addresses.
   */
  const reduceNest = (body: () => void) => {
    const sizes = red!.shape, total = sizes.reduce((a, b) => a * b, 1);
    if (total > UNROLL_REDUCE) return nest(redVars, sizes, body);
    for (let i = 0; i < total; i++) {
      let rest = i;
      for (let d = sizes.length - 1; d >= 0; d--) {
        f.i32(rest % sizes[d]!).set(loopVar.get(redVars[d]!)!);
        rest = Math.floor(rest / sizes[d]!);
      }
      body();
    }
  };

  const reduceStep = () => {
    const v = red!.body, bt = vt(v.dt);
    const push = () => {
      val(v);
      if (accT === T.f64 && bt === T.f32) f.op(Op.f64PromoteF32);
      if (accT === T.i64) f.op(Op.i64ExtendI32S);
    };
    switch (red!.op) {
      case "sum":
        f.get(accLocal); push(); f.op(accT === T.i64 ? Op.i64Add : Op.f64Add); f.set(accLocal);
        break;
      case "prod":
        f.get(accLocal); push(); f.op(accT === T.i32 ? Op.i32Mul : accT === T.i64 ? Op.i64Mul : Op.f64Mul); f.set(accLocal);
        break;
      case "amax": {
        // if (v > acc || v !== v) acc = v
        const x = scratch(accT);
        push(); f.set(x);
        f.get(x).get(accLocal);
        if (accT === T.i32) {
          f.get(x).get(accLocal).op(v.dt === "int32" ? Op.i32GtS : Op.i32GtU);
        } else {
          f.get(x).get(accLocal).op(accT === T.f32 ? Op.f32Gt : Op.f64Gt).get(x).get(x).op(accT === T.f32 ? Op.f32Ne : Op.f64Ne).op(Op.i32Or);
        }
        select(accT);
        f.set(accLocal);
        break;
      }
      default: red!.op satisfies never;
    }
  };
  const accInit = () => {
    const op = red!.op;
    if (accT === T.f64) f.f64(op === "sum" ? 0 : op === "prod" ? 1 : -Infinity);
    else if (accT === T.f32) f.f32(-Infinity);
    else if (accT === T.i64) f.i64(op === "prod" ? 1n : 0n);
    // amax: int32 from its smallest value; uint8 and bool compare unsigned, from 0.
    else f.i32(op === "sum" ? 0 : op === "prod" ? 1 : red!.body.dt === "int32" ? -2147483648 : 0);
    f.set(accLocal);
  };

  const storeScalar = (push: () => void) => {
    address(0, k.store.idx, outDt);
    if (k.store.mode === "set") push();
    else {
      address(0, k.store.idx, outDt); load(outDt);
      push();
      const t = vt(outDt);
      if (t === T.i32) { f.op(Op.i32Add); if (outDt === "uint8") f.i32(255).op(Op.i32And); }
      else fop(t, Op.f32Add, Op.f64Add);
    }
    store(outDt);
  };
  const scalarBody = () => {
    pre.forEach(emit);
    if (red) {
      accInit();
      if (!red.shape.includes(0)) reduceNest(() => { inner.forEach(emit); reduceStep(); });
    }
    post.forEach(emit);
    storeScalar(() => val(k.value));
  };

  const outVars = k.shape.map((_, i) => `o${i}`);
  if (!plan) nest(outVars, k.shape, scalarBody, 0, split);
  else {
    const vectorBody = vectorBodyEmitter({
      f, k, local, loopVar, emit, val, conds, lin, address, storeScalar,
      reduceLoops: reduceNest,
      accInit, reduceStep,
    }, plan);
    const vd = plan.dim, x = loopVar.get(outVars[vd]!)!;
    const trailing = outVars.slice(vd + 1).map((n) => loopVar.get(n)!);
    // The vectorized dim: four outputs a step while four remain, then one at a time. Its range is
    // the split range when it is the split dim.
    const vectorLoops = () => {
      const end = vd === split ? splitHi : f.local(T.i32);
      if (vd === split) f.get(splitLo).set(x);
      else f.i32(k.shape[vd]!).set(end).i32(0).set(x);
      f.block().loop();
      f.get(x).i32(LANES).op(Op.i32Add).get(end).op(Op.i32GtS).brIf(1);
      for (const t of trailing) f.i32(0).set(t);
      vectorBody(pre, inner, post);
      f.get(x).i32(LANES).op(Op.i32Add).set(x).br(0);
      f.end().end();
      f.block().loop();
      f.get(x).get(end).op(Op.i32GeS).brIf(1);
      nest(outVars, k.shape, scalarBody, vd + 1);
      f.get(x).i32(1).op(Op.i32Add).set(x).br(0);
      f.end().end();
    };
    nest(outVars.slice(0, vd), k.shape.slice(0, vd), vectorLoops, 0, split);
  }
  mb.addFunc("kernel", f);
  return { bytes: mb.encode(), whats, imports: [...need], vectorized: plan !== null };
}
