/**
 * Convolutions (the conv primitive) and pooling (windows as views, then a reduction).
 */
import { DTypeError, ShapeError, ValueError } from "../ir/errors.ts";
import { convOutSize } from "../ir/ops.ts";
import { fmtShape } from "../ir/shape.ts";
import { convInputGrad } from "../autograd/conv-vjp.ts";
import { isGradEnabled } from "../autograd/grad-mode.ts";
import { apply } from "./apply.ts";
import * as E from "./elementwise.ts";
import { cat, expand, padZeros, permute, reshape, shrink } from "./movement.ts";
import { amax, argmaxInt32, sum } from "./reduce.ts";
import type { Tensor } from "./tensor.ts";

type IntOrTuple = number | readonly number[];

function tuple(name: string, v: IntOrTuple, n: number): number[] {
  const t = typeof v === "number" ? Array(n).fill(v) : [...v];
  if (t.length !== n || t.some((x) => !Number.isInteger(x))) throw new ValueError(`${name}: expected ${n} integers, got ${JSON.stringify(v)}`);
  return t;
}

export interface ConvOpts {
  stride?: IntOrTuple;
  /** An int or tuple (symmetric), or "valid" / "same" (stride 1). */
  padding?: IntOrTuple | "valid" | "same";
  dilation?: IntOrTuple;
  groups?: number;
}

/**
 * N-d convolution (cross-correlation, as in PyTorch) of x [N, Cin, ...] with w [Cout, Cin/groups, ...].
 */
export function convNd(op: string, nsp: number, x: Tensor, w: Tensor, bias: Tensor | null | undefined, opts: ConvOpts = {}): Tensor {
  const batched = x.ndim === nsp + 2;
  if (!batched && x.ndim !== nsp + 1) throw new ShapeError(`${op}: expected a ${nsp + 1}-D (unbatched) or ${nsp + 2}-D (batched) input, got ${fmtShape(x.shape)}`);
  const xb = batched ? x : reshape(x, [1, ...x.shape]);
  if (w.ndim !== nsp + 2) throw new ShapeError(`${op}: expected a ${nsp + 2}-D weight [out, in/groups, ...kernel], got ${fmtShape(w.shape)}`);
  if (xb.dtype !== w.dtype) throw new DTypeError(`${op}: input (${xb.dtype}) and weight (${w.dtype}) must have the same dtype`);
  const groups = opts.groups ?? 1;
  const cin = xb.shape[1]!, cout = w.shape[0]!;
  if (cin % groups || cout % groups) throw new ValueError(`${op}: in_channels (${cin}) and out_channels (${cout}) must be divisible by groups (${groups})`);
  if (w.shape[1]! * groups !== cin) {
    throw new ShapeError(`${op}: given groups=${groups}, weight of size ${fmtShape(w.shape)}, expected input ${fmtShape(xb.shape)} to have ${w.shape[1]! * groups} channels, but got ${cin} channels instead`);
  }
  const stride = tuple(`${op} stride`, opts.stride ?? 1, nsp), dilation = tuple(`${op} dilation`, opts.dilation ?? 1, nsp);
  const ks = w.shape.slice(2);
  let padding: [number, number][];
  if (opts.padding === "valid" || opts.padding === undefined) padding = ks.map(() => [0, 0]);
  else if (opts.padding === "same") {
    if (stride.some((s) => s !== 1)) throw new ValueError(`${op}: padding='same' is not supported for strided convolutions`);
    padding = ks.map((k, i) => {
      const total = dilation[i]! * (k - 1);
      return [Math.floor(total / 2), total - Math.floor(total / 2)];
    });
  } else padding = tuple(`${op} padding`, opts.padding, nsp).map((p) => [p, p]);
  ks.forEach((k, i) => {
    const size = convOutSize(xb.shape[i + 2]!, k, stride[i]!, padding[i]!, dilation[i]!);
    if (size <= 0) throw new ShapeError(`${op}: input ${fmtShape(xb.shape)} is too small for kernel ${fmtShape(ks)} (dilation ${fmtShape(dilation)}, padding ${JSON.stringify(padding)}): output size would be ${size}`);
  });
  let y = apply("conv", [xb, w], { stride, padding, dilation, groups });
  if (bias) y = E.add(y, reshape(bias, [cout, ...Array(nsp).fill(1)]));
  return batched ? y : reshape(y, y.shape.slice(1));
}

export interface ConvTransposeOpts {
  stride?: IntOrTuple;
  padding?: IntOrTuple;
  outputPadding?: IntOrTuple;
  groups?: number;
  dilation?: IntOrTuple;
}

/**
 * Transposed convolution: x [N, Cin, ...], w [Cin, Cout/groups, ...] (PyTorch's layout). It is the
 * gradient of a conv with respect to its input, so it runs on the conv primitive.
 */
export function convTransposeNd(op: string, nsp: number, x: Tensor, w: Tensor, bias: Tensor | null | undefined, opts: ConvTransposeOpts = {}): Tensor {
  const batched = x.ndim === nsp + 2;
  if (!batched && x.ndim !== nsp + 1) throw new ShapeError(`${op}: expected a ${nsp + 1}-D or ${nsp + 2}-D input, got ${fmtShape(x.shape)}`);
  const xb = batched ? x : reshape(x, [1, ...x.shape]);
  const groups = opts.groups ?? 1;
  if (w.ndim !== nsp + 2 || w.shape[0] !== xb.shape[1]) throw new ShapeError(`${op}: weight ${fmtShape(w.shape)} does not fit input ${fmtShape(xb.shape)} (expected [${xb.shape[1]}, out/groups, ...kernel])`);
  const stride = tuple(`${op} stride`, opts.stride ?? 1, nsp), dilation = tuple(`${op} dilation`, opts.dilation ?? 1, nsp);
  const pad = tuple(`${op} padding`, opts.padding ?? 0, nsp), outPad = tuple(`${op} outputPadding`, opts.outputPadding ?? 0, nsp);
  outPad.forEach((o, i) => {
    if (o >= stride[i]! && o >= dilation[i]!) throw new ValueError(`${op}: outputPadding must be smaller than either stride or dilation, got outputPadding=${o}, stride=${stride[i]}, dilation=${dilation[i]}`);
  });
  const ks = w.shape.slice(2);
  const outSpatial = xb.shape.slice(2).map((n, i) => (n - 1) * stride[i]! - 2 * pad[i]! + dilation[i]! * (ks[i]! - 1) + outPad[i]! + 1);
  if (outSpatial.some((s) => s <= 0)) throw new ShapeError(`${op}: output size ${fmtShape(outSpatial)} is too small`);
  // The conv whose input gradient this is: input [N, Cout, ...out], weight w viewed as [Cin, Cout/G, ...].
  const inShape = [xb.shape[0]!, w.shape[1]! * groups, ...outSpatial];
  const params = { stride, padding: pad.map((p, i): [number, number] => [p, p + outPad[i]!]), dilation, groups };
  let y = convInputGrad(apply, xb, inShape, w, params);
  if (bias) y = E.add(y, reshape(bias, [y.shape[1]!, ...Array(nsp).fill(1)]));
  return batched ? y : reshape(y, y.shape.slice(1));
}

/**
 * Sliding windows over the last `k.length` dims as a view: [..., *out, *k]. A window of size k,
 * stride s, dilation d over n elements: tile x k times into rows of length n + d so that row j
 * starts d·j later, then take every s-th column.
 */
export function windows(x: Tensor, k: readonly number[], s: readonly number[], d: readonly number[]): Tensor {
  const nsp = k.length, lead = x.ndim - nsp;
  let y = x;
  for (let i = 0; i < nsp; i++) {
    const ax = lead + 2 * i; // dims before it have been split into (out, k) pairs
    const n = y.shape[ax]!, ki = k[i]!, si = s[i]!, di = d[i]!;
    const o = Math.floor((n - di * (ki - 1) - 1) / si) + 1;
    const pre = y.shape.slice(0, ax), post = y.shape.slice(ax + 1);
    if (si === ki && di === 1) {
      // Windows that tile the dim (the usual pooling): keep o·k elements and split them into
      // [o, k]. Plain strides, so kernels index it (and its gradient) without div or mod.
      const t = o * ki === n ? y : shrink(y, y.shape.map((sz, j): [number, number] => (j === ax ? [0, o * ki] : [0, sz])));
      y = reshape(t, [...pre, o, ki, ...post]);
      continue;
    }
    const row = n + di;
    const reps = Math.ceil((ki * row) / n);
    let t = expand(reshape(y, [...pre, 1, n, ...post]), [...pre, reps, n, ...post]);
    t = reshape(t, [...pre, reps * n, ...post]);
    t = shrink(t, t.shape.map((sz, j): [number, number] => (j === ax ? [0, ki * row] : [0, sz])));
    t = reshape(t, [...pre, ki, row, ...post]);
    // Columns o·s for o < out: pad to out·s, split into [out, s], keep column 0.
    const need = o * si;
    t = padZeros(t, t.shape.map((sz, j): [number, number] => (j === ax + 1 ? [0, need - sz] : [0, 0])));
    t = reshape(t, [...pre, ki, o, si, ...post]);
    t = shrink(t, t.shape.map((sz, j): [number, number] => (j === ax + 2 ? [0, 1] : [0, sz])));
    t = reshape(t, [...pre, ki, o, ...post]);
    // Now [..., k_i, o_i, ...]: swap to [..., o_i, k_i, ...].
    const perm = [...Array(t.ndim).keys()];
    [perm[ax], perm[ax + 1]] = [ax + 1, ax];
    y = permute(t, perm);
  }
  // [..., o0, k0, o1, k1, ...] -> [..., o0, o1, ..., k0, k1, ...]
  const perm = [...Array(lead).keys()];
  for (let i = 0; i < nsp; i++) perm.push(lead + 2 * i);
  for (let i = 0; i < nsp; i++) perm.push(lead + 2 * i + 1);
  return permute(y, perm);
}

export interface PoolOpts {
  stride?: IntOrTuple | null;
  padding?: IntOrTuple;
  dilation?: IntOrTuple;
  ceilMode?: boolean;
}

function poolGeometry(op: string, nsp: number, x: Tensor, kernel: IntOrTuple, opts: PoolOpts) {
  if (x.ndim !== nsp + 1 && x.ndim !== nsp + 2) throw new ShapeError(`${op}: expected a ${nsp + 1}-D or ${nsp + 2}-D input, got ${fmtShape(x.shape)}`);
  const k = tuple(`${op} kernelSize`, kernel, nsp);
  const s = opts.stride === undefined || opts.stride === null ? k : tuple(`${op} stride`, opts.stride, nsp);
  const p = tuple(`${op} padding`, opts.padding ?? 0, nsp), d = tuple(`${op} dilation`, opts.dilation ?? 1, nsp);
  p.forEach((pi, i) => {
    if (pi > k[i]! / 2) throw new ValueError(`${op}: pad should be at most half of effective kernel size, but got pad=${pi}, kernel_size=${k[i]}`);
  });
  const sp = x.shape.slice(x.ndim - nsp);
  const out = sp.map((n, i) => {
    const span = n + 2 * p[i]! - d[i]! * (k[i]! - 1) - 1;
    let o = (opts.ceilMode ? Math.ceil(span / s[i]!) : Math.floor(span / s[i]!)) + 1;
    // The last window must start inside the input or left padding (PyTorch's rule).
    if (opts.ceilMode && (o - 1) * s[i]! >= n + p[i]!) o--;
    return o;
  });
  if (out.some((o) => o <= 0)) throw new ShapeError(`${op}: output size ${fmtShape(out)} is too small for input ${fmtShape(x.shape)} and kernel ${fmtShape(k)}`);
  // Pad so that exactly `out` windows fit: left by p, right up to what the last window needs.
  const pads = x.shape.map((_, j): [number, number] => {
    const i = j - (x.ndim - nsp);
    if (i < 0) return [0, 0];
    const needed = (out[i]! - 1) * s[i]! + d[i]! * (k[i]! - 1) + 1;
    return [p[i]!, needed - sp[i]! - p[i]!];
  });
  return { k, s, d, p, out, pads };
}

/**
 * Max pooling over the last `nsp` dims; padding counts as -inf.
 */
export function maxPoolNd(op: string, nsp: number, x: Tensor, kernel: IntOrTuple, opts: PoolOpts = {}): Tensor {
  const g = poolGeometry(op, nsp, x, kernel, opts);
  // Padding must never win the max: pad a mask of ones and put -inf where it is zero.
  const padded = padZeros(x, g.pads);
  const one = apply("const", [], { value: 1, shape: [], dtype: "bool" }, x.device);
  const inside = padZeros(expand(reshape(one, x.shape.map(() => 1)), x.shape), g.pads);
  const neg = E.where(inside, padded, -Infinity);
  const w = windows(neg, g.k, g.s, g.d);
  // The max is gathered at the first maximum of each window (row-major), so that among ties the
  // gradient goes to that one element, as in PyTorch (amax would share it between the ties).
  const lead = w.shape.slice(0, w.ndim - nsp);
  // Without a gradient to route, the maximum is all there is to compute (one kernel, not three),
  // over the window dims as they are (no flat window index to divide back into rows and columns).
  if (!x.requiresGrad || !isGradEnabled()) return amax(w, [...Array(nsp).keys()].map((i) => w.ndim - nsp + i));
  const flat = reshape(w, [...lead, g.k.reduce((a, b) => a * b, 1)]);
  const idx = argmaxInt32(flat, -1, { keepdim: true });
  return reshape(apply("gather", [flat, idx], { dim: flat.ndim - 1 }), lead);
}

export interface AvgPoolOpts extends PoolOpts {
  countIncludePad?: boolean;
  divisorOverride?: number | null;
}

/** Average pooling; by default padded zeros count in the divisor (PyTorch's countIncludePad). */
export function avgPoolNd(op: string, nsp: number, x: Tensor, kernel: IntOrTuple, opts: AvgPoolOpts = {}): Tensor {
  const g = poolGeometry(op, nsp, x, kernel, opts);
  const w = windows(padZeros(x, g.pads), g.k, g.s, g.d);
  const axes = [...Array(nsp).keys()].map((i) => w.ndim - nsp + i);
  const total = sum(w, axes);
  if (opts.divisorOverride) return E.div(total, opts.divisorOverride);
  // Divisor per window: elements inside input (+ explicit padding when countIncludePad).
  const includePad = opts.countIncludePad ?? true;
  const sp = x.shape.slice(x.ndim - nsp);
  const ones = apply("const", [], { value: 1, shape: [], dtype: x.dtype }, x.device);
  const onesSp = expand(reshape(ones, sp.map(() => 1)), sp);
  // With countIncludePad the explicit padding counts (ones over the input widened by p on both
  // sides), but not what lies past it, where only ceilMode windows reach.
  const widened = sp.map((n, i) => n + 2 * g.p[i]!);
  const region = includePad
    ? padZeros(expand(reshape(ones, sp.map(() => 1)), widened), g.pads.slice(x.ndim - nsp).map(([, b], i): [number, number] => [0, b - g.p[i]!]))
    : padZeros(onesSp, g.pads.slice(x.ndim - nsp));
  const cw = windows(region, g.k, g.s, g.d);
  const count = sum(cw, [...Array(nsp).keys()].map((i) => cw.ndim - nsp + i));
  return E.div(total, count);
}

/** Adaptive average pooling to `outputSize` (windows of PyTorch's floor/ceil bounds). */
export function adaptiveAvgPoolNd(op: string, nsp: number, x: Tensor, outputSize: IntOrTuple): Tensor {
  const os = tuple(`${op} outputSize`, outputSize, nsp);
  let y = x;
  for (let i = 0; i < nsp; i++) {
    const ax = x.ndim - nsp + i, n = y.shape[ax]!, o = os[i]!;
    if (n % o === 0) {
      const k = n / o;
      y = reshape(y, [...y.shape.slice(0, ax), o, k, ...y.shape.slice(ax + 1)]);
      y = E.div(sum(y, ax + 1), k);
      continue;
    }
    const parts: Tensor[] = [];
    for (let j = 0; j < o; j++) {
      const a = Math.floor((j * n) / o), b = Math.ceil(((j + 1) * n) / o);
      const s = shrink(y, y.shape.map((sz, q): [number, number] => (q === ax ? [a, b] : [0, sz])));
      parts.push(E.div(sum(s, ax, { keepdim: true }), b - a));
    }
    y = cat(parts, ax);
  }
  return y;
}
