/**
 * Two lanes at a time of the float64 exp in math.ts: the same operations in the same order on
 * each lane, so every lane rounds exactly as the scalar function does (which, rounded to float32,
 * gives what Math.exp gives but in about one case in ten million). Kernels use it for float32 exp on four lanes, as two
 * pairs promoted to float64.
 *
 * It is emitted inline in the kernel, with its constants in locals set once before the loops:
 * the engine materializes a v128 constant with several instructions at each use, which made the
 * constants cost more than the arithmetic.
 */
import { Fn, OpFD, T } from "./encoder.ts";
import { EXP_COEFFS, EXP_HI, EXP_LO, EXP_SHIFTER, expPoly, INV_LN2, LN2_HI, LN2_LO } from "./math.ts";

export class Exp64x2 {
  private readonly consts = new Map<number, number>();
  private readonly kd: number;
  private readonly k: number;
  private readonly r: number;
  private readonly bias: number;

  /** Allocates the locals and sets the constants: call where the code runs once (before loops). */
  constructor(private readonly f: Fn) {
    for (const v of [EXP_LO, EXP_HI, INV_LN2, EXP_SHIFTER, LN2_HI, LN2_LO, ...EXP_COEFFS]) {
      if (this.consts.has(v)) continue;
      const l = f.local(T.v128);
      f.f64(v).fd(OpFD.f64x2Splat).set(l);
      this.consts.set(v, l);
    }
    this.bias = f.local(T.v128);
    f.i64(1023n).fd(OpFD.i64x2Splat).set(this.bias);
    this.kd = f.local(T.v128);
    this.k = f.local(T.v128);
    this.r = f.local(T.v128);
  }

  private c(v: number): void {
    this.f.get(this.consts.get(v)!);
  }

  /** Pushes exp of each lane of the f64x2 in local x (which it overwrites). */
  emit(x: number): void {
    const { f, kd, k, r } = this;
    // The clamp as pmax/pmin (one instruction each; the NaN-propagating max/min take several):
    // x < LO ? LO : x, then HI < x ? HI : x give the scalar clamp's results, NaN passing through.
    f.get(x);
    this.c(EXP_LO);
    f.fd(OpFD.f64x2Pmax);
    this.c(EXP_HI);
    f.fd(OpFD.f64x2Pmin).set(x);
    f.get(x); this.c(INV_LN2); f.fd(OpFD.f64x2Mul); this.c(EXP_SHIFTER); f.fd(OpFD.f64x2Add).tee(kd); this.c(EXP_SHIFTER); f.fd(OpFD.f64x2Sub).set(k);
    f.get(x).get(k); this.c(LN2_HI); f.fd(OpFD.f64x2Mul).fd(OpFD.f64x2Sub).get(k); this.c(LN2_LO); f.fd(OpFD.f64x2Mul).fd(OpFD.f64x2Sub).set(r);
    expPoly(f, T.v128, r, () => f.fd(OpFD.f64x2Mul), () => f.fd(OpFD.f64x2Add), (v) => this.c(v));
    // 2^k from kd's low bits, as in the scalar function.
    f.get(kd).get(this.bias).fd(OpFD.i64x2Add).i32(52).fd(OpFD.i64x2Shl);
    f.fd(OpFD.f64x2Mul);
  }
}
