/**
 * `st.nn.init`: in-place initialisation of parameters, as `torch.nn.init`. Each function fills
 * its tensor under `noGrad` (so it works on parameters that require grad), computes it now, and
 * returns the same tensor. Fan-in and fan-out follow PyTorch: for a weight [out, in, ...kernel],
 * fan_in = in · prod(kernel) and fan_out = out · prod(kernel).
 *
 * @example
 * const w = new st.nn.Parameter(st.empty([128, 784]));
 * st.nn.init.kaimingUniform_(w, { a: Math.sqrt(5) }); // what nn.Linear does: U(±1/sqrt(784))
 */
import { noGrad } from "../autograd/grad-mode.ts";
import { ValueError } from "../ir/errors.ts";
import { fmtShape } from "../ir/shape.ts";
import { randn, tensor } from "../tensor/create.ts";
import * as E from "../tensor/elementwise.ts";
import type { Tensor } from "../tensor/tensor.ts";

export type Nonlinearity =
  | "linear" | "conv1d" | "conv2d" | "conv3d" | "conv_transpose1d" | "conv_transpose2d" | "conv_transpose3d"
  | "sigmoid" | "tanh" | "relu" | "leaky_relu" | "leakyRelu" | "selu";

export type FanMode = "fan_in" | "fan_out" | "fanIn" | "fanOut";

/** Fills `t` with `make()` without recording gradients, and computes it now. */
function fill<T extends Tensor>(t: T, make: (t: T) => void): T {
  noGrad(() => make(t));
  return t.realize();
}

/**
 * The recommended gain for a nonlinearity (PyTorch's `calculate_gain`): 1 for linear, conv and
 * sigmoid, 5/3 for tanh, √2 for relu, √(2 / (1 + slope²)) for leaky_relu (slope `param`, default
 * 0.01), 3/4 for selu.
 *
 * @example
 * st.nn.init.calculateGain("leaky_relu", 0.2) // 1.3867...
 */
export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  switch (nonlinearity) {
    case "linear": case "conv1d": case "conv2d": case "conv3d":
    case "conv_transpose1d": case "conv_transpose2d": case "conv_transpose3d": case "sigmoid":
      return 1;
    case "tanh": return 5 / 3;
    case "relu": return Math.SQRT2;
    case "leaky_relu": case "leakyRelu": {
      const slope = param ?? 0.01;
      if (typeof slope !== "number" || !Number.isFinite(slope)) throw new ValueError(`calculateGain: negative_slope ${slope} is not a valid number`);
      return Math.sqrt(2 / (1 + slope * slope));
    }
    case "selu": return 3 / 4;
    default:
      throw new ValueError(`calculateGain: unsupported nonlinearity ${JSON.stringify(nonlinearity)}`);
  }
}

/** [fan_in, fan_out] of a weight of at least 2 dims: [out, in, ...kernel]. */
export function calculateFanInAndFanOut(t: Tensor): [number, number] {
  if (t.ndim < 2) throw new ValueError(`init: fan in and fan out can not be computed for a tensor with fewer than 2 dimensions (shape ${fmtShape(t.shape)})`);
  const receptive = t.shape.slice(2).reduce((a, b) => a * b, 1);
  return [t.shape[1]! * receptive, t.shape[0]! * receptive];
}

function correctFan(t: Tensor, mode: FanMode): number {
  const [fanIn, fanOut] = calculateFanInAndFanOut(t);
  if (mode === "fan_in" || mode === "fanIn") return fanIn;
  if (mode === "fan_out" || mode === "fanOut") return fanOut;
  throw new ValueError(`init: mode ${JSON.stringify(mode)} not supported, please use one of "fan_in", "fan_out"`);
}

/** Fills with samples from U(a, b). */
export const uniform_ = <T extends Tensor>(t: T, a = 0, b = 1): T => fill(t, (x) => x.uniform_(a, b));
/** Fills with samples from N(mean, std²). */
export const normal_ = <T extends Tensor>(t: T, mean = 0, std = 1): T => fill(t, (x) => x.normal_(mean, std));
/** Fills with `val`. */
export const constant_ = <T extends Tensor>(t: T, val: number): T => fill(t, (x) => x.fill_(val));
export const ones_ = <T extends Tensor>(t: T): T => constant_(t, 1);
export const zeros_ = <T extends Tensor>(t: T): T => constant_(t, 0);

/** Fills a 2-D tensor with the identity matrix (ones on the diagonal, zeros elsewhere). */
export function eye_<T extends Tensor>(t: T): T {
  if (t.ndim !== 2) throw new ValueError(`eye_: only tensors with 2 dimensions are supported, got ${fmtShape(t.shape)}`);
  const [n, m] = t.shape as [number, number];
  const v = new Float64Array(n * m);
  for (let i = 0; i < Math.min(n, m); i++) v[i * m + i] = 1;
  return fill(t, (x) => x.copy_(tensor(v, { dtype: x.dtype, device: x.device }).reshape([n, m])));
}

/**
 * Xavier (Glorot) uniform: U(-b, b) with b = gain · √(6 / (fan_in + fan_out)).
 *
 * @example
 * const linear = new st.nn.Linear(64, 32);
 * st.nn.init.xavierUniform_(linear.weight, st.nn.init.calculateGain("tanh")); // U(±5/3·√(6/96))
 */
export function xavierUniform_<T extends Tensor>(t: T, gain = 1): T {
  const [fanIn, fanOut] = calculateFanInAndFanOut(t);
  const bound = gain * Math.sqrt(6 / (fanIn + fanOut));
  return uniform_(t, -bound, bound);
}

/** Xavier (Glorot) normal: N(0, std²) with std = gain · √(2 / (fan_in + fan_out)). */
export function xavierNormal_<T extends Tensor>(t: T, gain = 1): T {
  const [fanIn, fanOut] = calculateFanInAndFanOut(t);
  return normal_(t, 0, gain * Math.sqrt(2 / (fanIn + fanOut)));
}

export interface KaimingOpts {
  /** The negative slope of the leaky_relu that follows (used when nonlinearity is leaky_relu); default 0. */
  a?: number;
  /** "fan_in" (default) keeps the forward pass's variance, "fan_out" the backward pass's. */
  mode?: FanMode;
  /** Default "leaky_relu" (with a = 0, that is relu's gain). */
  nonlinearity?: Nonlinearity;
}

function kaimingStd(t: Tensor, opts: KaimingOpts): number {
  const fan = correctFan(t, opts.mode ?? "fan_in");
  const gain = calculateGain(opts.nonlinearity ?? "leaky_relu", opts.a ?? 0);
  return gain / Math.sqrt(fan);
}

/**
 * Kaiming (He) uniform: U(-b, b) with b = gain · √(3 / fan).
 *
 * @example
 * const conv = new st.nn.Conv2d(3, 16, 3);
 * st.nn.init.kaimingUniform_(conv.weight, { mode: "fan_out", nonlinearity: "relu" }); // U(±√2·√(3/144))
 */
export function kaimingUniform_<T extends Tensor>(t: T, opts: KaimingOpts = {}): T {
  const bound = Math.sqrt(3) * kaimingStd(t, opts);
  return uniform_(t, -bound, bound);
}

/** Kaiming (He) normal: N(0, std²) with std = gain / √fan. */
export function kaimingNormal_<T extends Tensor>(t: T, opts: KaimingOpts = {}): T {
  return normal_(t, 0, kaimingStd(t, opts));
}

/**
 * erf⁻¹ for |x| < 1 from elementwise ops (M. Giles' single-precision approximation, then one
 * Newton step, which brings it to about 1e-9 relative error).
 */
function erfinv(x: Tensor): Tensor {
  const w = x.rsub(1).mul(x.add(1)).log().neg();
  const poly = (z: Tensor, cs: number[]): Tensor => cs.slice(1).reduce((p, c) => p.mul(z).add(c), z.mul(0).add(cs[0]!));
  const small = poly(w.sub(2.5), [2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087, -0.00125372503, -0.00417768164, 0.246640727, 1.50140941]);
  const big = poly(E.where(w.lt(5), 5, w).sqrt().sub(3), [-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613, 0.00943887047, 1.00167406, 2.83297682]);
  let y = E.where(w.lt(5), small, big).mul(x);
  // Newton: y -= (erf(y) - x) / (2/√π · exp(-y²))
  y = y.sub(y.erf().sub(x).div(y.square().neg().exp().mul(2 / Math.sqrt(Math.PI))));
  return y;
}

/**
 * Fills with samples from N(mean, std²) truncated to [a, b] (by the inverse CDF, as PyTorch).
 *
 * @example
 * const w = st.empty([768, 768]);
 * st.nn.init.truncNormal_(w, 0, 0.02, -0.04, 0.04); // N(0, 0.02²) cut at ±2σ (a, b are absolute)
 */
export function truncNormal_<T extends Tensor>(t: T, mean = 0, std = 1, a = -2, b = 2): T {
  if (!(b > a)) throw new ValueError(`truncNormal_: expected a < b, got a=${a}, b=${b}`);
  const cdf = (v: number) => (1 + erfScalar((v - mean) / std / Math.SQRT2)) / 2;
  const l = cdf(a), u = cdf(b);
  return fill(t, (x) => {
    const work = x.dtype === "float64" ? "float64" : "float32";
    const uni = x.newZeros(x.shape).to(work).uniform_(2 * l - 1, 2 * u - 1);
    x.copy_(erfinv(uni).mul(std * Math.SQRT2).add(mean).clamp(a, b));
  });
}

/** erf of a JS number (Abramowitz-Stegun 7.1.26 is too coarse; this is the series / continued fraction). */
function erfScalar(x: number): number {
  const ax = Math.abs(x);
  if (ax < 2.5) {
    // Maclaurin series: erf(x) = 2/√π Σ (-1)^n x^(2n+1) / (n! (2n+1))
    let term = ax, sum = ax;
    for (let n = 1; n < 80; n++) {
      term *= -ax * ax / n;
      sum += term / (2 * n + 1);
      if (Math.abs(term) < 1e-17 * Math.abs(sum)) break;
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc by a continued fraction (Lentz), accurate for larger |x|.
  let f = ax, c = ax, d = 0;
  for (let k = 1; k < 200; k++) {
    const an = k / 2;
    d = ax + an * d; d = 1 / d;
    c = ax + an / c;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  return Math.sign(x) * (1 - erfc);
}

/**
 * Fills with a (semi-)orthogonal matrix, as PyTorch: the Q of a QR decomposition of a normal
 * sample (signs fixed by R's diagonal), times `gain`. Tensors of more than 2 dims are flattened
 * to [shape[0], rest].
 */
export function orthogonal_<T extends Tensor>(t: T, gain = 1): T {
  if (t.ndim < 2) throw new ValueError(`orthogonal_: only tensors with 2 or more dimensions are supported, got ${fmtShape(t.shape)}`);
  const rows = t.shape[0]!, cols = t.numel() / rows;
  if (t.numel() === 0) return t;
  const transposed = rows < cols;
  const [m, n] = transposed ? [cols, rows] : [rows, cols]; // m >= n
  const a = Float64Array.from(noGrad(() => randn([m, n], { dtype: "float64" })).dataSync() as Float64Array);
  const q = householderQ(a, m, n);
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    const v = q[i * n + j]! * gain;
    if (transposed) out[j * cols + i] = v; else out[i * cols + j] = v;
  }
  return fill(t, (x) => x.copy_(tensor(out, { dtype: x.dtype, device: x.device }).reshape(x.shape)));
}

/** The thin Q [m, n] (m >= n) of A = QR, with R's diagonal made non-negative. */
function householderQ(a: Float64Array, m: number, n: number): Float64Array {
  const r = Float64Array.from(a);
  const vs: Float64Array[] = [];
  for (let k = 0; k < n; k++) {
    const v = new Float64Array(m);
    let norm = 0;
    for (let i = k; i < m; i++) norm += r[i * n + k]! ** 2;
    norm = Math.sqrt(norm);
    const alpha = r[k * n + k]! > 0 ? -norm : norm;
    for (let i = k; i < m; i++) v[i] = r[i * n + k]!;
    v[k]! -= alpha;
    let vn = 0;
    for (let i = k; i < m; i++) vn += v[i]! ** 2;
    if (vn > 0) {
      for (let j = k; j < n; j++) {
        let s = 0;
        for (let i = k; i < m; i++) s += v[i]! * r[i * n + j]!;
        s = (2 * s) / vn;
        for (let i = k; i < m; i++) r[i * n + j]! -= s * v[i]!;
      }
    }
    vs.push(vn > 0 ? v.map((x) => x / Math.sqrt(vn)) : v);
  }
  // Q = H0 H1 ... H(n-1) applied to the first n columns of the identity.
  const q = new Float64Array(m * n);
  for (let j = 0; j < n; j++) q[j * n + j] = 1;
  for (let k = n - 1; k >= 0; k--) {
    const v = vs[k]!;
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let i = k; i < m; i++) s += v[i]! * q[i * n + j]!;
      for (let i = k; i < m; i++) q[i * n + j]! -= 2 * s * v[i]!;
    }
  }
  // Signs: make diag(R) non-negative (column j of Q times sign(R[j, j])).
  for (let j = 0; j < n; j++) {
    if (r[j * n + j]! < 0) for (let i = 0; i < m; i++) q[i * n + j] = -q[i * n + j]!;
  }
  return q;
}
