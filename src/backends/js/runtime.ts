/**
 * Numeric helpers the rendered JavaScript kernels call: half-precision conversions, erf and
 * the Philox-4x32-10 counter-based generator.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE binary16 bits of v, rounded to nearest even. */
export function f16bits(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 112;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1), mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && (h & 1))) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++;
  return sign | h;
}

export function f16val(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >>> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return s * m * 5.960464477539063e-8;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** bfloat16 bits of v, rounded to nearest even. */
export function bf16bits(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  if ((x & 0x7fffffff) > 0x7f800000) return (x >>> 16) | 0x40;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

export function bf16val(h: number): number {
  u32[0] = h << 16;
  return f32[0]!;
}

export const f16round = (v: number): number => f16val(f16bits(v));
export const bf16round = (v: number): number => bf16val(bf16bits(v));

const TWO_OVER_SQRT_PI = 1.1283791670955126;

/** erf to about 1e-15: Taylor series near zero, a continued fraction for erfc further out. */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const ax = Math.abs(x);
  if (ax < 2.5) {
    const x2 = x * x;
    let term = x, sum = x;
    for (let n = 1; n < 100; n++) {
      term *= -x2 / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return TWO_OVER_SQRT_PI * sum;
  }
  if (ax > 6) return x > 0 ? 1 : -1;
  // erfc(x) = exp(-x^2)/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))), evaluated backwards.
  let f = ax;
  for (let n = 120; n >= 1; n--) f = ax + n / 2 / f;
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  return x > 0 ? 1 - erfc : erfc - 1;
}

function mulhi(a: number, b: number): number {
  const al = a & 0xffff, ah = a >>> 16, bl = b & 0xffff, bh = b >>> 16;
  const lolo = al * bl, hilo = ah * bl, lohi = al * bh, hihi = ah * bh;
  const mid = (lolo >>> 16) + (hilo & 0xffff) + (lohi & 0xffff);
  return (hihi + (hilo >>> 16) + (lohi >>> 16) + (mid >>> 16)) >>> 0;
}

const philoxOut = new Uint32Array(4);

/** Philox-4x32-10 of the 64-bit counter `ctr` (an exact integer below 2^53) under key (k0, k1). */
export function philox(ctr: number, k0: number, k1: number): Uint32Array {
  let c0 = ctr >>> 0, c1 = Math.floor(ctr / 4294967296) >>> 0, c2 = 0, c3 = 0;
  for (let i = 0; i < 10; i++) {
    const hi0 = mulhi(0xd2511f53, c0), lo0 = Math.imul(0xd2511f53, c0) >>> 0;
    const hi1 = mulhi(0xcd9e8d57, c2), lo1 = Math.imul(0xcd9e8d57, c2) >>> 0;
    c0 = (hi1 ^ c1 ^ k0) >>> 0; c1 = lo1; c2 = (hi0 ^ c3 ^ k1) >>> 0; c3 = lo0;
    k0 = (k0 + 0x9e3779b9) >>> 0; k1 = (k1 + 0xbb67ae85) >>> 0;
  }
  philoxOut[0] = c0; philoxOut[1] = c1; philoxOut[2] = c2; philoxOut[3] = c3;
  return philoxOut;
}

/** A uniform [0, 1) sample with as many random bits as the dtype can hold exactly. */
export function uniform(ctr: number, k0: number, k1: number, bits: number): number {
  const w = philox(ctr, k0, k1);
  if (bits > 32) return ((w[0]! >>> 5) * 67108864 + (w[1]! >>> 6)) / 9007199254740992;
  return (w[0]! >>> (32 - bits)) / 2 ** bits;
}

export const RUNTIME = { f16bits, f16val, bf16bits, bf16val, f16round, bf16round, erf, uniform };
export type Runtime = typeof RUNTIME;
