/**
 * Vectorized kernels: four outputs at a time along the innermost output dim (of size > 1), in
 * 128-bit SIMD lanes. Each lane computes exactly what the scalar code computes for its output
 * (the same operations on the same values in the same order, reductions included), so results
 * stay identical to the scalar code's, and so to the js backend's but for float32 exp and log
 * (math.ts: one value in about ten million rounds the other way); what changes is that four outputs share each instruction,
 * and that a reduction carries four independent chains instead of one.
 *
 * Values that do not depend on the vectorized dim stay scalar and are splatted where a vector op
 * needs them. Ops with a SIMD form (float32 arithmetic, compares, selects, casts, exp through two
 * float64 pairs, contiguous and strided loads, contiguous stores) run as SIMD; any other op on
 * varying values runs lane by lane through the scalar emitter, with the loop variable set to each
 * lane's index, so the vector path covers every kernel whose varying values are 32-bit.
 */
import type { DType } from "../../ir/dtype.ts";
import { type Cond, condKey, type Lin, linRange } from "../../ir/index-expr.ts";
import { dependentExprs, type Kernel, linDependsOn, linValues, operands, type VExpr } from "../../ir/kernel.ts";
import { Fn, Op, OpFD, T } from "./encoder.ts";
import { Exp64x2 } from "./simd-math.ts";

export const LANES = 4;

/** What the vector emitter borrows from the scalar one (codegen.ts). */
export interface ScalarEmitter {
  readonly f: Fn;
  readonly k: Kernel;
  /** Scalar locals of the kernel's non-constant expressions. */
  readonly local: ReadonlyMap<VExpr, number>;
  /** Local of each loop variable (o0, o1, ..., r0, ...). */
  readonly loopVar: ReadonlyMap<string, number>;
  /** Computes e into its scalar local, with the scalar locals of its operands set. */
  emit(e: VExpr): void;
  /** Pushes e's scalar value. */
  val(e: VExpr): void;
  /** Pushes 1 where every condition holds, else 0. */
  conds(cs: readonly Cond[]): void;
  /** Pushes an index expression (i32). */
  lin(l: Lin): void;
  /** Pushes the byte address of bufs[buf][idx]. */
  address(buf: number, idx: Lin, dt: DType): void;
  /** Stores the value `push` pushes at the output index (set or add, as the kernel says). */
  storeScalar(push: () => void): void;
  /** Emits the reduction loops around `body`. */
  reduceLoops(body: () => void): void;
  /** The scalar reduction's init and step (when its body does not vary along the lanes). */
  accInit(): void;
  reduceStep(): void;
}

export interface VectorPlan {
  /** The output dim whose loop runs four outputs at a time. */
  readonly dim: number;
  /** Expressions whose value differs between lanes. */
  readonly varying: ReadonlySet<VExpr>;
  /**
   * Whether the dim's loop variable is a multiple of 4 at every vector step (it starts at 0;
   * not so where the dim is also the one split between threads), which `laneOffsets` needs.
   */
  readonly aligned: boolean;
}

const LANE_DTYPES = new Set<DType>(["float32", "int32", "uint8", "bool"]);

/** The coefficient of `v` in l when l depends on it only linearly (null if through div/mod/data). */
function linearCoef(l: Lin, v: string, varying: ReadonlySet<VExpr>): number | null {
  let coef = 0;
  for (const t of l.terms) {
    const a = t.atom;
    if (a.k === "var") { if (a.name === v) coef += t.coef; }
    else if (a.k === "val" ? varying.has(a.of) : linVaries(a.of, v, varying)) return null;
  }
  return coef;
}
const linVaries = (l: Lin, v: string, varying: ReadonlySet<VExpr>): boolean => linDependsOn(l, (n) => n === v, varying);

/**
 * Lane j's value of l minus lane 0's (j = 0..3): linear terms add coef·j (at any step), and,
 * given that the loop variable v is a multiple of 4 at each vector step, floor((v + c) / d) and
 * (v + c) mod d add coef·floor(j / d) and coef·(j mod d) when d is 2 and c even, or d a multiple
 * of 4 and c too (a pooling window's un-windowing: lanes of [x/2, x/2, x/2 + 1, x/2 + 1]). Null
 * where l depends on v in another way.
 */
export function laneOffsets(l: Lin, v: string, varying: ReadonlySet<VExpr>): number[] | null {
  const off = [0, 0, 0, 0];
  for (const t of l.terms) {
    const a = t.atom;
    if (a.k === "var") {
      if (a.name === v) for (let j = 0; j < LANES; j++) off[j]! += t.coef * j;
      continue;
    }
    if (a.k === "val") { if (varying.has(a.of)) return null; continue; }
    if (!linVaries(a.of, v, varying)) continue;
    const [only] = a.of.terms, d = a.by, c = a.of.c;
    if (a.of.terms.length !== 1 || only!.atom.k !== "var" || only!.atom.name !== v || only!.coef !== 1) return null;
    if (!((d === 2 && c % 2 === 0) || (d % 4 === 0 && c % 4 === 0))) return null;
    for (let j = 0; j < LANES; j++) off[j]! += t.coef * (a.k === "div" ? Math.floor(j / d) : j % d);
  }
  return off;
}

/** Ops with a SIMD form on 32-bit lanes (the rest of the varying ops run lane by lane). */
function isNativeAlu(e: Extract<VExpr, { k: "alu" }>): boolean {
  const dt = e.dt, src = e.srcs[0]!.dt;
  switch (e.op) {
    case "neg": case "add": case "mul": return dt !== "uint8" || e.op !== "neg";
    case "max": return dt === "float32" || dt === "int32" || dt === "uint8" || dt === "bool";
    case "div": case "sqrt": case "recip": case "trunc": case "exp": return dt === "float32";
    case "cmplt": case "cmpeq": return src === "float32" || src === "int32" || src === "uint8" || src === "bool";
    case "where": return true;
    case "cast":
      return (src === "bool" && (dt === "float32" || dt === "int32" || dt === "uint8"))
        || (src === "int32" && (dt === "float32" || dt === "bool" || dt === "uint8"))
        || (src === "uint8" && (dt === "int32" || dt === "bool" || dt === "float32"))
        || (src === "float32" && dt === "bool") || src === dt;
    default: return false;
  }
}

/**
 * Whether and along which dim a kernel is vectorized: the innermost output dim of size > 1, when
 * it has at least 4 outputs, every value varying along it is 32-bit, a varying reduction is not a
 * bool sum or product, and lane-by-lane ops (gathers among them) do not outnumber the SIMD ones
 * (log, sin, erf and pow are not counted: lane by lane they cost what they cost in scalar code).
 */
export function planVector(k: Kernel, order: readonly VExpr[], split: number): VectorPlan | null {
  let dim = k.shape.length - 1;
  while (dim >= 0 && k.shape[dim] === 1) dim--;
  if (dim < 0 || k.shape[dim]! < LANES) return null;
  const v = `o${dim}`;
  const red = k.reduce;
  const varying = dependentExprs(order, (name) => name === v, (dep) => red !== null && dep.has(red.body));
  const aligned = split !== dim;
  let native = 0, perLane = 0;
  for (const e of varying) {
    // A wider value is allowed only as the stored value cast from lanes (an int64 index result):
    // the store converts lane by lane.
    if (!LANE_DTYPES.has(e.dt)) {
      if (e === k.value && e.k === "alu" && e.op === "cast" && LANE_DTYPES.has(e.srcs[0]!.dt)) continue;
      return null;
    }
    switch (e.k) {
      case "load":
        // Gathers (an index read from data, or divided by a constant) load lane by lane.
        if (nativeLoad(e, v, varying, aligned)) native++; else perLane++;
        break;
      case "alu":
        if (isNativeAlu(e)) native++;
        else if (!(e.op === "log" || e.op === "sin" || e.op === "erf" || e.op === "pow")) perLane++;
        break;
      case "gate": if (linearConds(e.valid, v, varying)) native++; else perLane++; break;
      case "index": if (nativeIndex(e, v, varying, aligned)) native++; else perLane++; break;
      case "acc": break;
      default: perLane++;
    }
  }
  if (red && varying.has(red.body) && red.body.dt === "bool" && red.op !== "amax") return null;
  if (nativeStore(k, v, varying)) native++;
  if (native === 0 || perLane > native) return null;
  return { dim, varying, aligned };
}

/**
 * A load whose lanes lie evenly spaced, ascending, or (aligned) at `laneOffsets` that are not
 * negative, under conditions linear in the dim.
 */
function nativeLoad(e: Extract<VExpr, { k: "load" }>, v: string, varying: ReadonlySet<VExpr>, aligned: boolean): boolean {
  const c = linearCoef(e.idx, v, varying);
  if (!linearConds(e.valid, v, varying)) return false;
  if (c !== null) return c > 0;
  return aligned && (laneOffsets(e.idx, v, varying)?.every((o) => o >= 0) ?? false);
}

/** An int32 index used as a value (a position), whose lanes differ by constants. */
function nativeIndex(e: Extract<VExpr, { k: "index" }>, v: string, varying: ReadonlySet<VExpr>, aligned: boolean): boolean {
  if (e.dt !== "int32") return false;
  return linearCoef(e.lin, v, varying) !== null || (aligned && laneOffsets(e.lin, v, varying) !== null);
}

/**
 * Whether all four lanes agree on condition c, given that the dim's index is a multiple of 4 at
 * each vector step (`aligned`): the index moves by 1 per lane and its distance from the bound, like
 * the width of the range, is a multiple of 4 at lane 0 (a slice of a concatenation, a head cut
 * from packed projections), so the range holds every lane of a step or none.
 */
function laneUniformCond(c: Cond, v: string, varying: ReadonlySet<VExpr>, aligned: boolean): boolean {
  if (!aligned || linearCoef(c.lin, v, varying) !== 1) return false;
  for (const t of c.lin.terms) if (!(t.atom.k === "var" && t.atom.name === v) && t.coef % 4 !== 0) return false;
  return (c.lin.c - c.lo) % 4 === 0 && (c.hi - c.lo) % 4 === 0;
}

/** Whether two lists hold the same conditions. */
function sameConds(a: readonly Cond[], b: readonly Cond[]): boolean {
  const keys = new Set(b.map(condKey));
  return a.length === keys.size && a.every((c) => keys.has(condKey(c)));
}

/** Whether every condition depends on the vectorized dim linearly, or not at all. */
function linearConds(cs: readonly Cond[], v: string, varying: ReadonlySet<VExpr>): boolean {
  return cs.every((c) => linearCoef(c.lin, v, varying) !== null);
}

function nativeStore(k: Kernel, v: string, varying: ReadonlySet<VExpr>): boolean {
  const dt = k.bufs[0]!.dtype;
  return k.store.mode === "set" && (dt === "float32" || dt === "int32") && k.value.dt === dt && linearCoef(k.store.idx, v, varying) === 1;
}

/**
 * Emits one step of the vector loop: the outputs at the vectorized dim's index `base` (the
 * loop variable's value) through base + 3, with every other loop variable set.
 */
export function vectorBodyEmitter(s: ScalarEmitter, plan: VectorPlan) {
  const { f, k } = s;
  const red = k.reduce;
  const v = `o${plan.dim}`;
  const loopV = s.loopVar.get(v)!;
  const base = f.local(T.i32), addr = f.local(T.i32);
  const vlocal = new Map<VExpr, number>();
  for (const e of plan.varying) vlocal.set(e, f.local(T.v128));
  const isF32 = (dt: DType) => dt === "float32";

  // Constants live in locals set once, here, before the loops: the engine builds a v128 constant
  // with several instructions at each use.
  const v128Const = (bytes: Uint8Array) => { f.fd(OpFD.v128Const); f.code.bytes(bytes); };
  const zeroVec = () => v128Const(new Uint8Array(16));
  const constBytes = (dt: DType, x: number): Uint8Array => {
    if (isF32(dt)) return new Uint8Array(new Float32Array([x, x, x, x]).buffer);
    const n = dt === "bool" ? (x !== 0 ? 1 : 0) : dt === "uint8" ? x & 255 : x | 0;
    return new Uint8Array(new Int32Array([n, n, n, n]).buffer);
  };
  const constLocals = new Map<string, number>();
  const hoist = (bytes: Uint8Array) => {
    const key = bytes.join(",");
    if (constLocals.has(key)) return;
    const l = f.local(T.v128);
    v128Const(bytes); f.set(l);
    constLocals.set(key, l);
  };
  const pushConst = (bytes: Uint8Array) => {
    const l = constLocals.get(bytes.join(","));
    if (l === undefined) v128Const(bytes); else f.get(l);
  };
  const splatConst = (dt: DType, x: number) => pushConst(constBytes(dt, x));
  const splatF64 = (x: number) => pushConst(new Uint8Array(new Float64Array([x, x]).buffer));
  /** Each lane's int32 offset from lane 0. */
  const laneBytes = (offs: readonly number[]) => new Uint8Array(new Int32Array(offs).buffer);
  let exp: Exp64x2 | null = null;
  for (const e of plan.varying) {
    for (const d of operands(e)) if (d.k === "const") hoist(constBytes(d.dt, d.v));
    if (e.k === "index" && nativeIndex(e, v, plan.varying, plan.aligned)) hoist(laneBytes(laneOffsets(e.lin, v, plan.varying)!));
    if (e.k === "load" || e.k === "gate") {
      // Lane masks of conditions (vconds): each lane's offset and the bound.
      for (const c of e.valid) {
        const coef = linearCoef(c.lin, v, plan.varying);
        if (coef === null) continue;
        if (coef !== 0) hoist(laneBytes([0, coef, 2 * coef, 3 * coef]));
        hoist(constBytes("int32", c.hi - c.lo));
      }
    }
    if (e.k !== "alu") continue;
    if (e.op === "exp" && isNativeAlu(e)) exp ??= new Exp64x2(f);
    if (e.op === "recip") hoist(constBytes("float32", 1));
    if (e.dt === "uint8" || (e.op === "neg" && e.dt === "bool")) hoist(constBytes("int32", e.dt === "uint8" ? 255 : 1));
  }
  /** Pushes e as four lanes. */
  const vget = (e: VExpr): void => {
    if (e.k === "const") return splatConst(e.dt, e.v);
    const l = vlocal.get(e);
    if (l !== undefined) { f.get(l); return; }
    s.val(e);
    f.fd(isF32(e.dt) ? OpFD.f32x4Splat : OpFD.i32x4Splat);
  };
  const lane = (op: number, j: number) => { f.fd(op); f.code.byte(j); };
  const extract = (dt: DType, j: number) => lane(isF32(dt) ? OpFD.f32x4ExtractLane : OpFD.i32x4ExtractLane, j);
  const replace = (dt: DType, j: number) => lane(isF32(dt) ? OpFD.f32x4ReplaceLane : OpFD.i32x4ReplaceLane, j);
  /** Sets the vectorized loop variable to lane j's index. */
  const atLane = (j: number) => { f.get(base); if (j) f.i32(j).op(Op.i32Add); f.set(loopV); };

  /** e computed lane by lane by the scalar emitter. */
  const perLane = (e: VExpr) => {
    const deps = [...new Set(operands(e))].filter((d) => plan.varying.has(d));
    const out = vlocal.get(e)!;
    zeroVec(); f.set(out);
    for (let j = 0; j < LANES; j++) {
      atLane(j);
      for (const d of deps) { f.get(vlocal.get(d)!); extract(d.dt, j); f.set(s.local.get(d)!); }
      s.emit(e);
      f.get(out).get(s.local.get(e)!); replace(e.dt, j); f.set(out);
    }
    atLane(0);
  };

  /** A 0/1 lane value (bool) as an all-ones/zero mask, and back. */
  const toMask = () => f.fd(OpFD.i32x4Neg);
  const fromMask = () => f.fd(OpFD.i32x4Neg);

  /**
   * Pushes a mask of the lanes where every condition holds. A condition on the vectorized dim is
   * linear in it (the planner checks), so lane j's index is lane 0's plus j times its coefficient.
   */
  const vconds = (cs: readonly Cond[]) => {
    let n = 0;
    for (const c of cs) {
      const [lo, hi] = linRange(c.lin);
      if (lo >= c.lo && hi < c.hi) continue;
      const coef = linearCoef(c.lin, v, plan.varying)!;
      s.lin(c.lin);
      if (c.lo !== 0) f.i32(c.lo).op(Op.i32Sub);
      f.fd(OpFD.i32x4Splat);
      if (coef !== 0) { pushConst(laneBytes([0, coef, 2 * coef, 3 * coef])); f.fd(OpFD.i32x4Add); }
      splatConst("int32", c.hi - c.lo);
      f.fd(OpFD.i32x4LtU);
      if (n++) f.fd(OpFD.v128And);
    }
    if (n === 0) splatConst("int32", -1);
  };
  const condsVary = (cs: readonly Cond[]) => cs.some((c) => linVaries(c.lin, v, plan.varying) && !laneUniformCond(c, v, plan.varying, plan.aligned));

  const load = (e: Extract<VExpr, { k: "load" }>) => {
    if (!nativeLoad(e, v, plan.varying, plan.aligned)) return perLane(e);
    const out = vlocal.get(e)!;
    const body = () => {
      const c = linearCoef(e.idx, v, plan.varying);
      const offs = laneOffsets(e.idx, v, plan.varying)!;
      const pattern = offs.join(",");
      const bytes = e.dt === "uint8" || e.dt === "bool" ? 1 : 4;
      s.address(e.buf, e.idx, e.dt);
      // Consecutive lanes: linear with coefficient 1, or through a division and a modulo by a
      // multiple of 4 (a head's features cut from a row: floor(x / 64) and x mod 64).
      const contiguous = c === 1 || pattern === "0,1,2,3";
      if (bytes === 4 && contiguous) { f.memFD(OpFD.v128Load, 2).set(out); return; }
      if (bytes === 1 && contiguous) { f.memFD(OpFD.v128Load32Zero, 0); }
      else if (bytes === 4 && c === 2) {
        // Every other element (a stride-2 window): two vector loads and the even lanes of both.
        // The second load reads one element past lane 3's, which the memory always has.
        f.tee(addr).memFD(OpFD.v128Load, 2).get(addr).memFD(OpFD.v128Load, 2, 16).fd(OpFD.i8x16Shuffle);
        f.code.bytes([0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27]);
      } else if (bytes === 4 && pattern === "0,0,0,0") {
        f.memFD(OpFD.v128Load32Splat, 2);
      } else if (bytes === 4 && (pattern === "0,0,1,1" || pattern === "0,1,0,1")) {
        // Two elements, each in two lanes (a 2-wide window's un-windowing, or its positions).
        f.memFD(OpFD.v128Load64Zero, 2).set(out).get(out).get(out).fd(OpFD.i8x16Shuffle);
        f.code.bytes(pattern === "0,0,1,1" ? [0, 1, 2, 3, 0, 1, 2, 3, 4, 5, 6, 7, 4, 5, 6, 7] : [0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7]);
      } else {
        f.set(addr);
        zeroVec();
        for (let j = 0; j < LANES; j++) {
          f.set(out).get(addr).get(out);
          f.memFD(bytes === 4 ? OpFD.v128Load32Lane : OpFD.v128Load8Lane, bytes === 4 ? 2 : 0, offs[j]! * bytes);
          f.code.byte(j);
        }
      }
      if (bytes === 1) f.fd(OpFD.i16x8ExtendLowI8x16U).fd(OpFD.i32x4ExtendLowI16x8U);
      f.set(out);
    };
    if (!e.valid.length) return body();
    if (!condsVary(e.valid)) {
      s.conds(e.valid);
      f.if(); body(); f.else(); zeroVec(); f.set(out); f.end();
      return;
    }
    // Lanes inside the bounds load as one vector, and a step wholly outside is zeros. A step that
    // straddles a bound (padding) loads contiguous lanes as one vector too and zeroes the lanes
    // outside: such a load reaches at most 3 elements past the buffer's valid ones, which the
    // memory always has (memory.ts: nothing starts below 64, and 64 bytes follow the top). Strided
    // lanes could reach further: they load one by one.
    const m = maskLocal();
    vconds(e.valid);
    f.tee(m).fd(OpFD.i32x4AllTrue).if(); body();
    f.else().get(m).fd(OpFD.v128AnyTrue).if();
    if (linearCoef(e.idx, v, plan.varying) === 1 && e.dt !== "uint8" && e.dt !== "bool") {
      body();
      f.get(out); zeroVec(); f.get(m).fd(OpFD.v128Bitselect).set(out);
    } else {
      perLane(e);
    }
    f.else(); zeroVec(); f.set(out); f.end();
    f.end();
  };

  /** (a > b || a !== a) ? a : b on float32 lanes, as the scalar max. */
  const maxF32 = (pushA: () => void, pushB: () => void) => {
    pushA(); pushB();
    pushA(); pushB(); f.fd(OpFD.f32x4Gt);
    pushA(); pushA(); f.fd(OpFD.f32x4Ne);
    f.fd(OpFD.v128Or).fd(OpFD.v128Bitselect);
  };

  let pairLocal = -1, maskAt = -1;
  const maskLocal = () => (maskAt < 0 ? (maskAt = f.local(T.v128)) : maskAt);
  const expPair = () => (pairLocal < 0 ? (pairLocal = f.local(T.v128)) : pairLocal);

  const alu = (e: Extract<VExpr, { k: "alu" }>) => {
    const [a, b, c] = e.srcs;
    const dt = e.dt, fl = isF32(dt);
    switch (e.op) {
      case "neg":
        if (fl) { vget(a!); f.fd(OpFD.f32x4Neg); }
        else if (dt === "bool") { vget(a!); splatConst("int32", 1); f.fd(OpFD.v128Xor); }
        else { vget(a!); f.fd(OpFD.i32x4Neg); }
        return;
      case "add": case "mul":
        vget(a!); vget(b!);
        if (fl) f.fd(e.op === "add" ? OpFD.f32x4Add : OpFD.f32x4Mul);
        else if (dt === "bool") f.fd(e.op === "add" ? OpFD.v128Or : OpFD.v128And);
        else {
          f.fd(e.op === "add" ? OpFD.i32x4Add : OpFD.i32x4Mul);
          if (dt === "uint8") { splatConst("int32", 255); f.fd(OpFD.v128And); }
        }
        return;
      case "div": vget(a!); vget(b!); f.fd(OpFD.f32x4Div); return;
      case "recip": splatConst("float32", 1); vget(a!); f.fd(OpFD.f32x4Div); return;
      case "sqrt": vget(a!); f.fd(OpFD.f32x4Sqrt); return;
      case "trunc": vget(a!); f.fd(OpFD.f32x4Trunc); return;
      case "max":
        if (fl) return maxF32(() => vget(a!), () => vget(b!));
        // bool lanes hold 0 or 1 (max is or); uint8 lanes 0..255.
        vget(a!); vget(b!);
        f.fd(dt === "bool" ? OpFD.v128Or : dt === "int32" ? OpFD.i32x4MaxS : OpFD.i32x4MaxU);
        return;
      case "exp": {
        const x = vlocal.get(e)!, pair = expPair();
        vget(a!); f.set(x);
        // Lanes 0-1 and 2-3 as two float64 pairs; the results' low halves back together.
        f.get(x).fd(OpFD.f64x2PromoteLowF32x4).set(pair);
        exp!.emit(pair);
        f.fd(OpFD.f32x4DemoteF64x2Zero);
        f.get(x).get(x).fd(OpFD.i8x16Shuffle);
        f.code.bytes([8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7]);
        f.fd(OpFD.f64x2PromoteLowF32x4).set(pair);
        exp!.emit(pair);
        f.fd(OpFD.f32x4DemoteF64x2Zero);
        f.fd(OpFD.i8x16Shuffle);
        f.code.bytes([0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23]);
        return;
      }
      case "cmplt": case "cmpeq": {
        const sd = a!.dt;
        vget(a!); vget(b!);
        if (e.op === "cmpeq") f.fd(isF32(sd) ? OpFD.f32x4Eq : OpFD.i32x4Eq);
        else f.fd(isF32(sd) ? OpFD.f32x4Lt : sd === "int32" ? OpFD.i32x4LtS : OpFD.i32x4LtU);
        fromMask();
        return;
      }
      case "where":
        vget(b!); vget(c!); vget(a!); toMask(); f.fd(OpFD.v128Bitselect);
        return;
      case "cast": {
        const sd = a!.dt;
        vget(a!);
        if (sd === dt) return;
        if (dt === "float32") { f.fd(OpFD.f32x4ConvertI32x4S); return; }
        if (dt === "bool") { splatConst(sd, 0); f.fd(isF32(sd) ? OpFD.f32x4Ne : OpFD.i32x4Ne); fromMask(); return; }
        if (dt === "uint8" && sd === "int32") { splatConst("int32", 255); f.fd(OpFD.v128And); }
        return; // bool -> int32/uint8 and uint8 -> int32 keep their lane values
      }
      default: throw new Error(`internal: ${e.op} has no SIMD form`);
    }
  };

  // Reduction accumulators, as the scalar code keeps them: float32 sums and products in two
  // float64 pairs (lanes 0-1, 2-3), a float32 max in four float32 lanes. Integer accumulators
  // wrap at 32 bits where the scalar code sums in 64 and wraps at the end: the same low bits.
  const redVaries = red !== null && plan.varying.has(red.body);
  const bodyDt = red?.body.dt ?? "float32";
  const pairs = redVaries && isF32(bodyDt) && red!.op !== "amax";
  const accLo = redVaries ? f.local(T.v128) : -1, accHi = pairs ? f.local(T.v128) : -1;
  const accInit = () => {
    if (!redVaries) return s.accInit();
    const op = red!.op;
    if (pairs) {
      splatF64(op === "sum" ? 0 : 1); f.set(accLo);
      splatF64(op === "sum" ? 0 : 1); f.set(accHi);
      return;
    }
    const start = op === "sum" ? 0 : op === "prod" ? 1 : bodyDt === "float32" ? -Infinity : bodyDt === "int32" ? -2147483648 : 0;
    splatConst(isF32(bodyDt) ? "float32" : "int32", start); f.set(accLo);
  };
  const reduceStep = () => {
    if (!redVaries) return s.reduceStep();
    const x = vlocal.get(red!.body)!, op = red!.op;
    if (!pairs) {
      if (isF32(bodyDt)) maxF32(() => f.get(x), () => f.get(accLo));
      else f.get(accLo).get(x).fd(op === "sum" ? OpFD.i32x4Add : op === "prod" ? OpFD.i32x4Mul : bodyDt === "int32" ? OpFD.i32x4MaxS : OpFD.i32x4MaxU);
      f.set(accLo);
      return;
    }
    const o = op === "sum" ? OpFD.f64x2Add : OpFD.f64x2Mul;
    f.get(accLo).get(x).fd(OpFD.f64x2PromoteLowF32x4).fd(o).set(accLo);
    f.get(accHi).get(x).get(x).fd(OpFD.i8x16Shuffle);
    f.code.bytes([8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7]);
    f.fd(OpFD.f64x2PromoteLowF32x4).fd(o).set(accHi);
  };
  const accValue = () => {
    if (!pairs) {
      f.get(accLo);
      if (bodyDt === "uint8") { splatConst("int32", 255); f.fd(OpFD.v128And); }
      return;
    }
    f.get(accLo).fd(OpFD.f32x4DemoteF64x2Zero).get(accHi).fd(OpFD.f32x4DemoteF64x2Zero).fd(OpFD.i8x16Shuffle);
    f.code.bytes([0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23]);
  };

  const wideValue = plan.varying.has(k.value) && !LANE_DTYPES.has(k.value.dt);
  const emit = (e: VExpr) => {
    if (!plan.varying.has(e)) return s.emit(e);
    if (e === k.value && wideValue) return; // converted lane by lane at the store
    switch (e.k) {
      case "load": return load(e);
      case "alu": if (!isNativeAlu(e)) return perLane(e); alu(e); break;
      case "gate":
        if (!linearConds(e.valid, v, plan.varying)) return perLane(e);
        vget(e.src);
        // A load under the same conditions, each of one value for all lanes, already gave zeros
        // outside them (`load`: one branch per step): nothing left to select.
        if (e.src.k === "load" && nativeLoad(e.src, v, plan.varying, plan.aligned) && !condsVary(e.src.valid) && sameConds(e.valid, e.src.valid)) break;
        zeroVec();
        if (condsVary(e.valid)) vconds(e.valid);
        else { s.conds(e.valid); f.fd(OpFD.i32x4Splat); toMask(); }
        f.fd(OpFD.v128Bitselect);
        break;
      case "acc": accValue(); break;
      case "index": {
        if (!nativeIndex(e, v, plan.varying, plan.aligned)) return perLane(e);
        // Lane 0's index (the loop variable is lane 0's), plus each lane's constant offset.
        s.lin(e.lin);
        f.fd(OpFD.i32x4Splat);
        pushConst(laneBytes(laneOffsets(e.lin, v, plan.varying)!));
        f.fd(OpFD.i32x4Add);
        break;
      }
      default: return perLane(e);
    }
    f.set(vlocal.get(e)!);
  };

  const store = () => {
    const outDt = k.bufs[0]!.dtype;
    if (nativeStore(k, v, plan.varying)) {
      s.address(0, k.store.idx, outDt); vget(k.value); f.memFD(OpFD.v128Store, 2);
      return;
    }
    const value = vlocal.get(k.value);
    // Data-dependent store indices (a scatter) take each lane's own index values.
    const idxDeps = [...new Set(linValues(k.store.idx))].filter((d) => plan.varying.has(d));
    for (let j = 0; j < LANES; j++) {
      atLane(j);
      for (const d of idxDeps) { f.get(vlocal.get(d)!); extract(d.dt, j); f.set(s.local.get(d)!); }
      if (wideValue) {
        const src = (k.value as Extract<VExpr, { k: "alu" }>).srcs[0]!;
        if (plan.varying.has(src)) { f.get(vlocal.get(src)!); extract(src.dt, j); f.set(s.local.get(src)!); }
        s.emit(k.value);
        s.storeScalar(() => s.val(k.value));
      } else s.storeScalar(() => { if (value === undefined) s.val(k.value); else { f.get(value); extract(k.value.dt, j); } });
    }
    atLane(0);
  };

  return (pre: readonly VExpr[], inner: readonly VExpr[], post: readonly VExpr[]) => {
    f.get(loopV).set(base);
    pre.forEach(emit);
    if (red) {
      accInit();
      if (!red.shape.includes(0)) s.reduceLoops(() => { inner.forEach(emit); reduceStep(); });
    }
    post.forEach(emit);
    store();
  };
}
