/**
 * exp and log as WebAssembly functions (f64 -> f64), so that float32 kernels need no call out to
 * JavaScript per element (such calls cost more than the rest of a softmax). Their f64 results are
 * within about 1e-14 (relative) of the exact value, so once rounded to float32 they give what
 * Math.exp and Math.log give, but for values within that distance of a float32 rounding boundary
 * (about one in ten million). float64 kernels keep Math's functions, for identical doubles.
 */
import { Fn, Op, T, type ValType } from "./encoder.ts";

export const LN2_HI = 0.6931471803691238; // ln 2 split so that k * LN2_HI is exact for |k| < 2^11
export const LN2_LO = 1.9082149292705877e-10;
export const INV_LN2 = 1.4426950408889634;
/**
 * exp's argument is clamped to [EXP_LO, EXP_HI]. The functions serve float32 kernels only, and
 * beyond these bounds the float32 result is already 0 (e^-104 is less than half the smallest
 * float32 subnormal) or infinite (e^89 exceeds the largest float32). Inside them 2^k is a
 * normal double, so one factor scales the polynomial.
 */
export const EXP_LO = -104;
export const EXP_HI = 89;
/**
 * 1.5 * 2^52: y + SHIFTER rounds y (|y| < 2^51) to an integer k, to nearest with ties to even
 * as f64.nearest does, and leaves k + 0x4338000000000000 in the double's bits, so that 2^k is an
 * integer add and a shift away (no float-to-int conversion, which SIMD lacks for f64x2 -> i64x2).
 */
export const EXP_SHIFTER = 6755399441055744;
const fact = (n: number): number => (n <= 1 ? 1 : n * fact(n - 1));
/** The Taylor coefficients 1/n! of e^r, n = 0 to 11. */
export const EXP_COEFFS: readonly number[] = Array.from({ length: 12 }, (_, n) => 1 / fact(n));

/**
 * Pushes e^r's polynomial for the value in local r (f64, or two f64 lanes): Estrin's scheme, whose
 * dependency chains are about a third as long as Horner's, so that consecutive elements overlap.
 * The scalar and the two-lane exp both emit it, so their lanes round alike.
 */
export function expPoly(f: Fn, t: ValType, r: number, mul: () => void, add: () => void, konst: (v: number) => void): void {
  const r2 = f.local(t), r4 = f.local(t), r8 = f.local(t), a = EXP_COEFFS;
  f.get(r).get(r); mul(); f.set(r2);
  f.get(r2).get(r2); mul(); f.set(r4);
  f.get(r4).get(r4); mul(); f.set(r8);
  // a[2i] + a[2i+1] r
  const pair = (i: number) => { konst(a[2 * i + 1]!); f.get(r); mul(); konst(a[2 * i]!); add(); };
  // pair(2j) + pair(2j+1) r^2
  const quad = (j: number) => { pair(2 * j + 1); f.get(r2); mul(); pair(2 * j); add(); };
  // quad(2) r^8 + (quad(1) r^4 + quad(0))
  quad(2); f.get(r8); mul(); quad(1); f.get(r4); mul(); quad(0); add(); add();
}

/**
 * exp(x) for float32 results: x = k ln2 + r with |r| <= ln2/2, e^r by its Taylor series to r^11,
 * times 2^k. The float32 result is what Math.exp's rounds to (see the module comment).
 */
export function expFn(): Fn {
  const f = new Fn([T.f64], [T.f64]);
  const x = 0, kd = f.local(T.f64), k = f.local(T.f64), r = f.local(T.f64);
  const op = (o: number) => () => f.op(o);
  // Clamp to where the float32 result is neither 0 nor infinite only at the edges; NaN passes through.
  f.get(x).f64(EXP_LO).op(Op.f64Max).f64(EXP_HI).op(Op.f64Min).set(x);
  f.get(x).f64(INV_LN2).op(Op.f64Mul).f64(EXP_SHIFTER).op(Op.f64Add).tee(kd).f64(EXP_SHIFTER).op(Op.f64Sub).set(k);
  f.get(x).get(k).f64(LN2_HI).op(Op.f64Mul).op(Op.f64Sub).get(k).f64(LN2_LO).op(Op.f64Mul).op(Op.f64Sub).set(r);
  expPoly(f, T.f64, r, op(Op.f64Mul), op(Op.f64Add), (v) => f.f64(v));
  // 2^k: the low bits of kd's are k (see EXP_SHIFTER); k + 1023 shifted into the exponent field.
  f.get(kd).op(Op.i64ReinterpretF64).i64(1023n).op(Op.i64Add).i64(52n).op(Op.i64Shl).op(Op.f64ReinterpretI64);
  f.op(Op.f64Mul);
  return f;
}

/** log(x): x = 2^e m with m in [sqrt(1/2), sqrt(2)), log m = 2 atanh((m-1)/(m+1)) by its series. */
export function logFn(): Fn {
  const f = new Fn([T.f64], [T.f64]);
  const x = 0, e = f.local(T.f64), m = f.local(T.f64), s = f.local(T.f64), z = f.local(T.f64), q = f.local(T.f64), bits = f.local(T.i64);
  // Zero, negatives, NaN and infinity: -inf, NaN, NaN, inf (as Math.log).
  f.get(x).f64(0).op(Op.f64Gt).get(x).f64(Infinity).op(Op.f64Lt).op(Op.i32And).op(Op.i32Eqz).if();
  f.get(x).f64(0).op(Op.f64Eq).if(T.f64).f64(-Infinity).else()
    .get(x).f64(Infinity).op(Op.f64Eq).if(T.f64).f64(Infinity).else().f64(NaN).end()
    .end().op(Op.return);
  f.end();
  // Subnormals: scale into the normal range first.
  f.f64(0).set(e);
  f.get(x).f64(2.2250738585072014e-308).op(Op.f64Lt).if();
  f.get(x).f64(2 ** 54).op(Op.f64Mul).set(x).f64(-54).set(e);
  f.end();
  f.get(x).op(Op.i64ReinterpretF64).set(bits);
  f.get(e).get(bits).i64(52n).op(Op.i64ShrU).op(Op.i32WrapI64).i32(0x7ff).op(Op.i32And).i32(1023).op(Op.i32Sub)
    .op(Op.f64ConvertI32S).op(Op.f64Add).set(e);
  f.get(bits).i64(0x000fffffffffffffn).op(Op.i64And).i64(0x3ff0000000000000n).op(Op.i64Or).op(Op.f64ReinterpretI64).set(m);
  f.get(m).f64(Math.SQRT2).op(Op.f64Gt).if();
  f.get(m).f64(0.5).op(Op.f64Mul).set(m).get(e).f64(1).op(Op.f64Add).set(e);
  f.end();
  f.get(m).f64(1).op(Op.f64Sub).get(m).f64(1).op(Op.f64Add).op(Op.f64Div).set(s);
  f.get(s).get(s).op(Op.f64Mul).set(z);
  // 1 + z/3 + z^2/5 + ... + z^11/23, by Horner.
  f.f64(1 / 23).set(q);
  for (let n = 21; n >= 1; n -= 2) f.get(q).get(z).op(Op.f64Mul).f64(1 / n).op(Op.f64Add).set(q);
  // e ln2 + 2 s q, the small parts first.
  f.get(e).f64(LN2_LO).op(Op.f64Mul).f64(2).get(s).op(Op.f64Mul).get(q).op(Op.f64Mul).op(Op.f64Add)
    .get(e).f64(LN2_HI).op(Op.f64Mul).op(Op.f64Add);
  return f;
}
