/**
 * More of the operator table: losses, Resize, quantized contractions, signal windows and a few
 * indexing ops. Merged into `OPS` by ops.ts's importers (see `ALL_OPS`).
 */
import { isFloat } from "../../ir/dtype.ts";
import * as C from "../../tensor/create.ts";
import * as E from "../../tensor/elementwise.ts";
import * as I from "../../tensor/indexing.ts";
import * as L from "../../tensor/linalg.ts";
import * as M from "../../tensor/movement.ts";
import * as R from "../../tensor/reduce.ts";
import type { Tensor } from "../../tensor/tensor.ts";
import { host, OPS, type OpCtx, type OpFn } from "./ops.ts";
import { hostTensor, OnnxError, strataDType } from "./tensor-proto.ts";

const fail = (c: OpCtx, msg: string): never => { throw new OnnxError(`${c.node.opType} '${c.node.name}': ${msg}`); };
const inp = (c: OpCtx, i: number): Tensor => c.inputs[i] ?? fail(c, `input ${i} is required`);
const opt = (c: OpCtx, i: number): Tensor | null => c.inputs[i] ?? null;
const int64 = (vals: number[], shape: number[], device?: string): Tensor => hostTensor(Float64Array.from(vals), shape, "int64", device);

// ---- losses ----

function nll(c: OpCtx, logp: Tensor, target: Tensor, weight: Tensor | null): Tensor {
  const reduction = c.a.s("reduction", "mean");
  const ignore = c.a.has("ignore_index") ? c.a.i("ignore_index", -100) : null;
  const t = target.to("int64");
  const mask = ignore === null ? null : t.ne(ignore);
  const safe = mask ? E.where(mask, t, 0) : t;
  const picked = I.gather(logp, 1, M.unsqueeze(safe, 1)).squeeze(1);
  let w: Tensor | null = weight ? I.indexSelect(weight, 0, safe.reshape([safe.numel()])).reshape(safe.shape) : null;
  if (mask) w = w ? E.where(mask, w, 0) : mask.to(logp.dtype);
  const loss = w ? picked.mul(w).neg() : picked.neg();
  if (reduction === "none") return loss;
  if (reduction === "sum") return loss.sum();
  if (reduction === "mean") return w ? loss.sum().div(w.sum()) : loss.mean();
  return fail(c, `unknown reduction '${reduction}'`);
}

// ---- Resize ----

function resizeOp(c: OpCtx): Tensor {
  const x = inp(c, 0);
  const mode = c.a.s("mode", "nearest");
  let coord = c.a.s("coordinate_transformation_mode", c.opset >= 11 ? "half_pixel" : "asymmetric");
  // Upsample (and Resize before opset 11) pick the floor; later Resize defaults to round_prefer_floor.
  const nearestMode = c.node.opType === "Upsample" ? "floor" : c.a.s("nearest_mode", "round_prefer_floor");
  const A = c.a.f("cubic_coeff_a", -0.75), exclude = c.a.i("exclude_outside", 0) === 1, extrap = c.a.f("extrapolation_value", 0);
  if (c.node.opType === "Upsample" || c.opset < 11) coord = c.node.opType === "Upsample" ? "asymmetric" : coord;
  let scales: number[] | undefined, sizes: number[] | undefined, roi: number[] | undefined;
  if (c.node.opType === "Upsample") scales = c.opset >= 9 ? host(inp(c, 1)) : c.a.floats("scales");
  else if (c.opset < 11) scales = host(inp(c, 1));
  else {
    const r = opt(c, 1), s = opt(c, 2), z = opt(c, 3);
    roi = r && r.numel() ? host(r) : undefined;
    scales = s && s.numel() ? host(s) : undefined;
    sizes = z && z.numel() ? host(z) : undefined;
  }
  const n = x.ndim;
  const axes = c.a.ints("axes")?.map((a) => (a < 0 ? a + n : a)) ?? [...Array(n).keys()];
  const fullScales = Array(n).fill(1), fullSizes = [...x.shape];
  if (sizes) {
    let sz = sizes;
    const policy = c.a.s("keep_aspect_ratio_policy", "stretch");
    if (policy !== "stretch") {
      const ratios = axes.map((a, i) => sz[i]! / x.shape[a]!);
      const r = policy === "not_larger" ? Math.min(...ratios) : Math.max(...ratios);
      sz = axes.map((a) => Math.round(r * x.shape[a]!));
      axes.forEach((a, i) => { fullScales[a] = r; fullSizes[a] = sz[i]!; });
    } else axes.forEach((a, i) => { fullSizes[a] = sz[i]!; fullScales[a] = sz[i]! / x.shape[a]!; });
  } else if (scales) axes.forEach((a, i) => { fullScales[a] = scales![i]!; fullSizes[a] = Math.floor(x.shape[a]! * scales![i]!); });
  const fullRoi: number[] = Array.from({ length: 2 * n }, (_, i) => (i < n ? 0 : 1));
  if (roi) axes.forEach((a, i) => { fullRoi[a] = roi![i]; fullRoi[a + n] = roi![i + axes.length]; });
  let y = x;
  for (let ax = 0; ax < n; ax++) {
    const len = x.shape[ax]!, out = fullSizes[ax]!, scale = fullScales[ax]!;
    if (out === len && scale === 1 && coord !== "tf_crop_and_resize") continue;
    const src = (o: number): number => {
      switch (coord) {
        case "half_pixel": return (o + 0.5) / scale - 0.5;
        case "half_pixel_symmetric": { const adj = out / (scale * len), center = len / 2, off = center * (1 - adj); return off + (o + 0.5) / scale - 0.5; }
        case "pytorch_half_pixel": return out > 1 ? (o + 0.5) / scale - 0.5 : 0;
        case "align_corners": return out === 1 ? 0 : (o * (len - 1)) / (len * scale - 1);
        case "asymmetric": return o / scale;
        case "tf_half_pixel_for_nn": return (o + 0.5) / scale;
        case "tf_crop_and_resize": {
          const s0 = fullRoi[ax]!, e0 = fullRoi[ax + n]!;
          return out > 1 ? s0 * (len - 1) + (o * (e0 - s0) * (len - 1)) / (out - 1) : 0.5 * (s0 + e0) * (len - 1);
        }
        default: return fail(c, `coordinate_transformation_mode '${coord}' is not supported`);
      }
    };
    const xs = Array.from({ length: out }, (_, o) => src(o));
    const valid = xs.map((v) => coord !== "tf_crop_and_resize" || (v >= 0 && v <= len - 1));
    const bshape = y.shape.map((s, i) => (i === ax ? out : 1));
    const take = (idx: number[]) => I.indexSelect(y, ax, int64(idx.map((i) => Math.min(Math.max(i, 0), len - 1)), [out], x.device));
    const wts = (w: number[]) => hostTensor(w, bshape, isFloat(x.dtype) ? x.dtype : "float32", x.device);
    let z: Tensor;
    if (mode === "nearest") {
      const idx = xs.map((v) => {
        switch (nearestMode) {
          case "round_prefer_floor": return v === Math.floor(v) + 0.5 ? Math.floor(v) : Math.round(v);
          case "round_prefer_ceil": return Math.round(v);
          case "floor": return Math.floor(v);
          case "ceil": return Math.ceil(v);
          default: return fail(c, `nearest_mode '${nearestMode}' is not supported`);
        }
      });
      z = take(idx);
    } else if (mode === "linear") {
      const cl = xs.map((v) => Math.min(Math.max(v, 0), len - 1));
      const lo = cl.map(Math.floor), hi = lo.map((l) => Math.min(l + 1, len - 1));
      const w = cl.map((v, i) => v - lo[i]!);
      z = take(lo).mul(wts(w.map((t) => 1 - t))).add(take(hi).mul(wts(w)));
    } else if (mode === "cubic") {
      const f = xs.map(Math.floor);
      const taps = [-1, 0, 1, 2];
      const coef = (t: number): number[] => [
        ((A * (t + 1) - 5 * A) * (t + 1) + 8 * A) * (t + 1) - 4 * A,
        ((A + 2) * t - (A + 3)) * t * t + 1,
        ((A + 2) * (1 - t) - (A + 3)) * (1 - t) * (1 - t) + 1,
        ((A * (2 - t) - 5 * A) * (2 - t) + 8 * A) * (2 - t) - 4 * A,
      ];
      const ws = xs.map((v, i) => {
        const w = coef(v - f[i]!);
        if (!exclude) return w;
        const m = w.map((q, k) => (f[i]! + taps[k]! >= 0 && f[i]! + taps[k]! < len ? q : 0));
        const s = m.reduce((p, q) => p + q, 0);
        return m.map((q) => q / s);
      });
      z = taps.map((tp, k) => take(f.map((b) => b + tp)).mul(wts(ws.map((w) => w[k]!)))).reduce((p, q) => p.add(q));
    } else return fail(c, `mode '${mode}' is not supported`);
    if (valid.some((v) => !v)) z = E.where(hostTensor(valid.map(Number), bshape, "bool", x.device), z, extrap);
    y = z.dtype === x.dtype ? z : E.round(z).to(x.dtype);
  }
  return y;
}

// ---- quantized ----

const zpOf = (t: Tensor | null, like: Tensor): Tensor => (t ? t.to("int32") : C.zeros([], { dtype: "int32", device: like.device }));
function matMulIntegerOp(c: OpCtx): Tensor {
  const a = inp(c, 0), b = inp(c, 1);
  const az = zpOf(opt(c, 2), a), bz = zpOf(opt(c, 3), b);
  const af = a.to("int32").sub(az.ndim === 1 && a.ndim > 1 ? az.reshape([az.numel(), 1]) : az).to("float64");
  const bf = b.to("int32").sub(bz).to("float64");
  return E.round(L.matmul(af, bf)).to("int32");
}
function convIntegerOp(c: OpCtx): Tensor {
  const x = inp(c, 0), w = inp(c, 1);
  const xz = zpOf(opt(c, 2), x), wz = zpOf(opt(c, 3), w);
  const xf = x.to("int32").sub(xz).to("float64"), wf = w.to("int32").sub(wz.ndim === 1 ? wz.reshape([wz.numel(), ...Array(w.ndim - 1).fill(1)]) : wz).to("float64");
  const y = OPS.Conv!({ ...c, inputs: [xf, wf] }) as Tensor;
  return E.round(y).to("int32");
}
function requant(y: Tensor, scale: Tensor, zp: Tensor | null, zpType: Tensor | null): Tensor {
  let q = E.round(y.div(scale));
  if (zp) q = q.add(zp.to(q.dtype));
  const unsigned = !zpType || zpType.dtype === "uint8";
  return E.clamp(q, unsigned ? 0 : -128, unsigned ? 255 : 127).to(zpType ? zpType.dtype : "uint8");
}
function qLinearMatMulOp(c: OpCtx): Tensor {
  const [a, as, az, b, bs, bz, ys, yz] = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => inp(c, i)) as Tensor[];
  const af = a!.to("float64").sub(az!.to("float64")), bf = b!.to("float64").sub(bz!.to("float64"));
  const y = L.matmul(af, bf).mul(as!.to("float64").mul(bs!.to("float64")));
  return requant(y, ys!.to("float64"), yz!, yz!);
}
function qLinearConvOp(c: OpCtx): Tensor {
  const [x, xs, xz, w, ws, wz, ys, yz] = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => inp(c, i)) as Tensor[];
  const bias = opt(c, 8);
  const xf = x!.to("float64").sub(xz!.to("float64")).mul(xs!.to("float64"));
  const chan = (t: Tensor) => (t.ndim === 1 && t.numel() > 1 ? t.reshape([t.numel(), ...Array(w!.ndim - 1).fill(1)]) : t);
  const wf = w!.to("float64").sub(chan(wz!.to("float64"))).mul(chan(ws!.to("float64")));
  let y = OPS.Conv!({ ...c, inputs: [xf, wf] }) as Tensor;
  if (bias) y = y.add(bias.to("float64").mul(xs!.to("float64").mul(ws!.to("float64"))).reshape([bias.numel(), ...Array(x!.ndim - 2).fill(1)]));
  return requant(y, ys!.to("float64"), yz!, yz!);
}
function dynamicQuantizeOp(c: OpCtx): Tensor[] {
  const x = inp(c, 0);
  const lo = Math.min(0, host(R.amin(x))[0]!), hi = Math.max(0, host(R.amax(x))[0]!);
  const scale = (hi - lo) / 255 || 1;
  const zp = Math.min(Math.max(Math.round((0 - lo) / scale), 0), 255);
  const y = E.clamp(E.round(x.div(Math.fround(scale))).add(zp), 0, 255).to("uint8");
  return [y, C.full([], scale, { dtype: "float32", device: x.device }), C.full([], zp, { dtype: "uint8", device: x.device })];
}

// ---- signal windows ----

function windowOp(kind: "hann" | "hamming" | "blackman"): OpFn {
  return (c) => {
    const size = host(inp(c, 0))[0]!, periodic = c.a.i("periodic", 1) === 1;
    const N = periodic ? size : size - 1;
    const v = Array.from({ length: size }, (_, k) => {
      const a = (2 * Math.PI * k) / N;
      return kind === "hann" ? 0.5 - 0.5 * Math.cos(a) : kind === "hamming" ? 25 / 46 - (21 / 46) * Math.cos(a) : 0.42 - 0.5 * Math.cos(a) + 0.08 * Math.cos(2 * a);
    });
    return hostTensor(v, [size], strataDType(c.node.opType, c.a.i("output_datatype", 1)), c.device);
  };
}

// ---- indexing ----

function compressOp(c: OpCtx): Tensor {
  const x = inp(c, 0), cond = host(inp(c, 1));
  const src = c.a.has("axis") ? x : x.reshape([x.numel()]);
  const ax = c.a.has("axis") ? (c.a.i("axis", 0) + x.ndim) % x.ndim : 0;
  const idx: number[] = [];
  cond.forEach((v, i) => { if (v && i < src.shape[ax]!) idx.push(i); });
  return I.indexSelect(src, ax, int64(idx, [idx.length], x.device));
}
function reverseSequenceOp(c: OpCtx): Tensor {
  const x = inp(c, 0), lens = host(inp(c, 1));
  const bAx = c.a.i("batch_axis", 1), tAx = c.a.i("time_axis", 0);
  const T = x.shape[tAx]!, B = x.shape[bAx]!;
  // Index along time per (batch, time): reversed within the sequence's length.
  const idx: number[] = [];
  const shape = x.shape.map((s, i) => (i === tAx || i === bAx ? s : 1));
  const strideT = tAx > bAx ? 1 : B, strideB = tAx > bAx ? T : 1;
  const vals = new Array(T * B).fill(0);
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) vals[t * strideT + b * strideB] = t < lens[b]! ? lens[b]! - 1 - t : t;
  idx.push(...vals);
  return I.gather(x, tAx, int64(idx, shape, x.device).expand(x.shape));
}
function bitShiftOp(c: OpCtx): Tensor {
  const x = inp(c, 0), s = inp(c, 1);
  const p = E.pow(C.full([], 2, { dtype: "float64", device: x.device }), s.to("float64"));
  const y = c.a.s("direction", "LEFT") === "LEFT" ? x.to("float64").mul(p) : E.floor(x.to("float64").div(p));
  return y.to(x.dtype);
}
function maxUnpoolOp(c: OpCtx): Tensor {
  const x = inp(c, 0), idx = inp(c, 1), outShapeT = opt(c, 2);
  const k = c.a.ints("kernel_shape") ?? fail(c, "kernel_shape is required");
  const nsp = x.ndim - 2, s = c.a.ints("strides") ?? Array(nsp).fill(1), p = c.a.ints("pads") ?? Array(2 * nsp).fill(0);
  const outShape = outShapeT ? host(outShapeT) : [...x.shape.slice(0, 2), ...x.shape.slice(2).map((n, i) => (n - 1) * s[i]! - p[i]! - p[i + nsp]! + k[i]!)];
  const total = outShape.reduce((a, b) => a * b, 1);
  const out = I.scatterAdd(C.zeros([total], { dtype: x.dtype, device: x.device }), 0, idx.reshape([idx.numel()]).to("int64"), x.reshape([x.numel()]));
  return out.reshape(outShape);
}

// ---- inverse trigonometry (no primitive: range reduction and a series) ----

/** atan: |x| > 1 folds to pi/2 - atan(1/|x|); one half-angle step brings |t| under tan(pi/8); then the Taylor series. */
function atan(x: Tensor): Tensor {
  const ax = E.abs(x), big = ax.gt(1);
  const t = E.where(big, E.reciprocal(ax), ax);
  const h = t.div(E.sqrt(t.mul(t).add(1)).add(1));
  const h2 = h.mul(h);
  let poly: Tensor = C.full([], 1 / 19, { dtype: x.dtype, device: x.device });
  for (let k = 17; k >= 1; k -= 2) poly = poly.mul(h2).mul(-1).add(1 / k);
  const a = h.mul(poly).mul(2);
  return E.sign(x).mul(E.where(big, E.sub(Math.PI / 2, a), a));
}
const asin = (x: Tensor): Tensor => atan(x.div(E.sqrt(E.sub(1, x.mul(x)))));

function uniqueOp(c: OpCtx): Tensor[] {
  const x = inp(c, 0), sorted = c.a.i("sorted", 1) === 1;
  const hasAxis = c.a.has("axis");
  const src = hasAxis ? M.movedim(x, (c.a.i("axis", 0) + x.ndim) % x.ndim, 0) : x.reshape([x.numel()]);
  const n = src.shape[0]!, row = n ? src.numel() / n : 0, v = host(src.contiguous());
  const keys = Array.from({ length: n }, (_, i) => v.slice(i * row, (i + 1) * row));
  const firsts: number[] = [], counts: number[] = [], inverse: number[] = [];
  const seen = new Map<string, number>();
  keys.forEach((k, i) => {
    const id = k.join(",");
    let u = seen.get(id);
    if (u === undefined) { u = firsts.length; seen.set(id, u); firsts.push(i); counts.push(0); }
    counts[u]!++;
    inverse.push(u);
  });
  let order = firsts.map((_, u) => u);
  if (sorted) {
    const cmp = (a: number[], b: number[]) => { for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!; return 0; };
    order.sort((p, q) => cmp(keys[firsts[p]!]!, keys[firsts[q]!]!));
  }
  const rank = new Array(order.length);
  order.forEach((u, r) => (rank[u] = r));
  const idx = order.map((u) => firsts[u]!);
  let y = I.indexSelect(src, 0, int64(idx, [idx.length], x.device));
  if (hasAxis) y = M.movedim(y, 0, (c.a.i("axis", 0) + x.ndim) % x.ndim);
  return [y, int64(idx, [idx.length], x.device), int64(inverse.map((u) => rank[u]), [inverse.length], x.device), int64(order.map((u) => counts[u]!), [order.length], x.device)];
}

export const EXTRA_OPS: Record<string, OpFn> = {
  Atan: (c) => atan(inp(c, 0)), Asin: (c) => asin(inp(c, 0)), Acos: (c) => E.sub(Math.PI / 2, asin(inp(c, 0))),
  Unique: uniqueOp,
  NegativeLogLikelihoodLoss: (c) => nll(c, inp(c, 0), inp(c, 1), opt(c, 2)),
  SoftmaxCrossEntropyLoss: (c) => {
    const logp = R.logSoftmax(inp(c, 0), 1);
    return [nll(c, logp, inp(c, 1), opt(c, 2)), logp];
  },
  Resize: resizeOp, Upsample: resizeOp,
  MatMulInteger: matMulIntegerOp, ConvInteger: convIntegerOp, QLinearMatMul: qLinearMatMulOp, QLinearConv: qLinearConvOp,
  DynamicQuantizeLinear: dynamicQuantizeOp,
  HannWindow: windowOp("hann"), HammingWindow: windowOp("hamming"), BlackmanWindow: windowOp("blackman"),
  Compress: compressOp, ReverseSequence: reverseSequenceOp, BitShift: bitShiftOp, MaxUnpool: maxUnpoolOp,
  Det: (c) => {
    const x = inp(c, 0), n = x.shape[x.ndim - 1]!, v = host(x), count = v.length / (n * n || 1);
    const out: number[] = [];
    for (let b = 0; b < count; b++) {
      const a = Array.from({ length: n }, (_, i) => v.slice(b * n * n + i * n, b * n * n + (i + 1) * n));
      let det = 1;
      for (let i = 0; i < n; i++) {
        let piv = i;
        for (let r = i + 1; r < n; r++) if (Math.abs(a[r]![i]!) > Math.abs(a[piv]![i]!)) piv = r;
        if (a[piv]![i] === 0) { det = 0; break; }
        if (piv !== i) { [a[i], a[piv]] = [a[piv]!, a[i]!]; det = -det; }
        det *= a[i]![i]!;
        for (let r = i + 1; r < n; r++) { const f = a[r]![i]! / a[i]![i]!; for (let q = i; q < n; q++) a[r]![q]! -= f * a[i]![q]!; }
      }
      out.push(det);
    }
    return hostTensor(out, x.shape.slice(0, -2), x.dtype, x.device);
  },
};
Object.assign(OPS, EXTRA_OPS);
