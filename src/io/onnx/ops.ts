/**
 * The operator table: ONNX op type -> a function from the node's attributes and input tensors to
 * its outputs, written with Strata's tensor ops (so gradients flow through imported graphs).
 * Opset differences (attributes that became inputs, changed defaults) are handled per entry
 * from `c.opset`, the model's version of the default domain. Values that decide shapes (a
 * Reshape's shape, a Slice's bounds) are read on the host.
 */
import { isFloat, type DType } from "../../ir/dtype.ts";
import { apply } from "../../tensor/apply.ts";
import { convTransposeNd, windows } from "../../tensor/conv.ts";
import * as C from "../../tensor/create.ts";
import * as E from "../../tensor/elementwise.ts";
import * as I from "../../tensor/indexing.ts";
import * as L from "../../tensor/linalg.ts";
import * as M from "../../tensor/movement.ts";
import * as R from "../../tensor/reduce.ts";
import type { Tensor } from "../../tensor/tensor.ts";
import * as F from "../../nn/functional.ts";
import type { OnnxAttribute, OnnxGraph, OnnxNode, OnnxTensorProto } from "./schema.ts";
import { hostTensor, int, OnnxError, strataDType, tensorFromProto, type TensorLoadOpts } from "./tensor-proto.ts";

/** Attribute access with defaults. */
export class Attrs {
  private readonly map = new Map<string, OnnxAttribute>();
  constructor(attrs: readonly OnnxAttribute[], private readonly what: string, private readonly tensorOpts: TensorLoadOpts) {
    for (const a of attrs) this.map.set(a.name, a);
  }
  has(name: string): boolean { return this.map.has(name); }
  i(name: string, def: number): number { const a = this.map.get(name); return a ? int(a.i, `${this.what} ${name}`) : def; }
  f(name: string, def: number): number { const a = this.map.get(name); return a ? a.f : def; }
  s(name: string, def: string): string { const a = this.map.get(name); return a ? new TextDecoder().decode(a.s) : def; }
  ints(name: string): number[] | undefined { const a = this.map.get(name); return a ? a.ints.map((v) => int(v, `${this.what} ${name}`)) : undefined; }
  floats(name: string): number[] | undefined { const a = this.map.get(name); return a ? [...a.floats] : undefined; }
  strings(name: string): string[] | undefined { const a = this.map.get(name); return a ? a.strings.map((s) => new TextDecoder().decode(s)) : undefined; }
  tensorProto(name: string): OnnxTensorProto | undefined { return this.map.get(name)?.t ?? undefined; }
  t(name: string): Tensor | undefined { const p = this.tensorProto(name); return p ? tensorFromProto(p, this.tensorOpts, `${this.what} ${name}`) : undefined; }
  g(name: string): OnnxGraph | undefined { return this.map.get(name)?.g ?? undefined; }
}

export interface OpCtx {
  node: OnnxNode;
  /** The model's opset version for the node's domain. */
  opset: number;
  /** Inputs in order; null for an omitted optional input (empty name). */
  inputs: (Tensor | null)[];
  /** How many outputs the node names. */
  nOut: number;
  a: Attrs;
  /** Train mode of the module (Dropout). */
  training: boolean;
  device: string;
  /** Runs a subgraph (If, Loop) with the given inputs; names of the enclosing scopes are visible. */
  runGraph(g: OnnxGraph, inputs: Tensor[]): Tensor[];
}

export type OpFn = (c: OpCtx) => (Tensor | null)[] | Tensor;

// ---- helpers ----

const fail = (c: OpCtx, msg: string): never => { throw new OnnxError(`${c.node.opType} '${c.node.name}': ${msg}`); };
function inp(c: OpCtx, i: number): Tensor {
  const t = c.inputs[i];
  if (!t) fail(c, `input ${i} is required`);
  return t!;
}
const opt = (c: OpCtx, i: number): Tensor | null => c.inputs[i] ?? null;
/** Values of a (small) tensor, read on the host. */
export const host = (t: Tensor): number[] => Array.from(t.dataSync() as ArrayLike<number | bigint>, Number);
const normAxis = (c: OpCtx, a: number, n: number): number => {
  const r = a < 0 ? a + n : a;
  if (r < 0 || r >= n) fail(c, `axis ${a} is out of range for rank ${n}`);
  return r;
};
const prod = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);
const unaryF = (fn: (x: Tensor) => Tensor): OpFn => (c) => fn(inp(c, 0));
const binaryF = (fn: (a: Tensor, b: Tensor) => Tensor): OpFn => (c) => fn(inp(c, 0), inp(c, 1));
const variadic = (fn: (a: Tensor, b: Tensor) => Tensor): OpFn => (c) => c.inputs.filter((t): t is Tensor => !!t).reduce((a, b) => fn(a, b));
const scalarOf = (x: Tensor, v: number): Tensor => C.full([], v, { dtype: x.dtype, device: x.device });
const int64 = (vals: number[], shape: number[] = [vals.length], device?: string): Tensor => hostTensor(Float64Array.from(vals), shape, "int64", device);
const keepType = (x: Tensor, y: Tensor): Tensor => (y.dtype === x.dtype ? y : y.to(x.dtype));

/** ONNX's broadcast of two shapes (numpy rules). */
function broadcastShapes(c: OpCtx, a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  return Array.from({ length: n }, (_, i) => {
    const x = a[a.length - n + i] ?? 1, y = b[b.length - n + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) fail(c, `shapes [${a}] and [${b}] do not broadcast`);
    return x === 1 ? y : x;
  });
}

/** The axes of an op that takes them as an attribute in old opsets and as input `idx` from `since`. */
function axesOf(c: OpCtx, since: number, idx: number, name = "axes"): number[] | undefined {
  if (c.opset >= since) {
    const t = opt(c, idx);
    return t ? host(t) : undefined;
  }
  return c.a.ints(name);
}

// ---- elementwise ----

function divOp(a: Tensor, b: Tensor): Tensor {
  return isFloat(a.dtype) ? E.div(a, b) : keepType(a, E.div(a, b, { roundingMode: "trunc" }));
}
function powOp(a: Tensor, b: Tensor): Tensor {
  return keepType(a, E.pow(a, isFloat(a.dtype) || !isFloat(b.dtype) ? b : b)) as Tensor;
}
const selu = (c: OpCtx) => {
  const x = inp(c, 0), alpha = c.a.f("alpha", 1.67326319217681884765625), gamma = c.a.f("gamma", 1.05070102214813232421875);
  return E.where(x.gt(0), x.mul(gamma), x.exp().sub(1).mul(alpha * gamma));
};
function softmaxLike(c: OpCtx, fn: (x: Tensor, d: number) => Tensor): Tensor {
  const x = inp(c, 0);
  if (c.opset >= 13) return fn(x, normAxis(c, c.a.i("axis", -1), Math.max(x.ndim, 1)));
  const ax = normAxis(c, c.a.i("axis", 1), Math.max(x.ndim, 1));
  const x2 = x.reshape([prod(x.shape.slice(0, ax)), prod(x.shape.slice(ax))]);
  return fn(x2, 1).reshape(x.shape);
}
function hardmax(x: Tensor, d: number): Tensor {
  const idx = R.argmax(x, d, { keepdim: true });
  const ar = C.arange(x.shape[d]!, undefined, 1, { dtype: "int64", device: x.device }).reshape(x.shape.map((s, i) => (i === d ? s : 1)));
  return ar.eq(idx).to(x.dtype);
}
function clipOp(c: OpCtx): Tensor {
  const x = inp(c, 0);
  if (c.opset < 11) {
    const lo = c.a.f("min", -Infinity), hi = c.a.f("max", Infinity);
    return E.clamp(x, lo === -Infinity ? null : lo, hi === Infinity ? null : hi);
  }
  let y = x;
  const lo = opt(c, 1), hi = opt(c, 2);
  if (lo) y = E.where(y.lt(lo), lo, y);
  if (hi) y = E.where(y.gt(hi), hi, y);
  return keepType(x, y);
}
function isInf(c: OpCtx): Tensor {
  const x = inp(c, 0), pos = c.a.i("detect_positive", 1), neg = c.a.i("detect_negative", 1);
  if (pos && neg) return x.isinf();
  if (pos) return x.eq(Infinity);
  if (neg) return x.eq(-Infinity);
  return x.ne(x).logicalAnd(false);
}
function modOp(c: OpCtx): Tensor {
  const a = inp(c, 0), b = inp(c, 1);
  if (c.a.i("fmod", 0) || isFloat(a.dtype)) return E.fmod(a, b);
  return keepType(a, E.remainder(a, b));
}
function castOp(c: OpCtx): Tensor {
  const x = inp(c, 0), to = strataDType("Cast", c.a.i("to", 1));
  if (to === x.dtype) return x;
  if (!isFloat(to) && to !== "bool" && isFloat(x.dtype)) return E.trunc(x).to(to);
  return x.to(to);
}

// ---- reductions ----

type ReduceKind = "sum" | "mean" | "max" | "min" | "prod" | "l1" | "l2" | "logsum" | "logsumexp" | "sumsquare";
function reduceOp(kind: ReduceKind, since: number): OpFn {
  return (c) => {
    const x = inp(c, 0);
    const keep = c.a.i("keepdims", 1) === 1;
    let axes = axesOf(c, since, 1);
    if (!axes || axes.length === 0) {
      if (c.a.i("noop_with_empty_axes", 0)) return x;
      axes = [...Array(x.ndim).keys()];
    }
    const ax = [...new Set(axes.map((a) => normAxis(c, a, x.ndim)))].sort((p, q) => p - q);
    const red = (t: Tensor, k: ReduceKind): Tensor => {
      if (ax.length === 0) return t;
      switch (k) {
        case "sum": return keepType(x, R.sum(t, ax, { keepdim: keep }));
        case "mean": return isFloat(t.dtype) ? R.mean(t, ax, { keepdim: keep }) : keepType(x, R.sum(t, ax, { keepdim: keep }).div(prod(ax.map((a) => t.shape[a]!)), { roundingMode: "trunc" }));
        case "max": return ax.some((a) => t.shape[a] === 0) ? C.full(t.shape.map((s, i) => (ax.includes(i) ? 1 : s)), -Infinity, { dtype: t.dtype }).reshape(keep ? t.shape.map((s, i) => (ax.includes(i) ? 1 : s)) : t.shape.filter((_, i) => !ax.includes(i))) : R.amax(t, ax, { keepdim: keep });
        case "min": return ax.some((a) => t.shape[a] === 0) ? C.full(keep ? t.shape.map((s, i) => (ax.includes(i) ? 1 : s)) : t.shape.filter((_, i) => !ax.includes(i)), Infinity, { dtype: t.dtype }) : R.amin(t, ax, { keepdim: keep });
        case "prod": {
          let y = t;
          for (const a of [...ax].reverse()) y = R.prod(y, a, { keepdim: true });
          return keepType(x, keep ? y : y.reshape(t.shape.filter((_, i) => !ax.includes(i))));
        }
        case "l1": return red(E.abs(t), "sum");
        case "l2": return keepType(x, E.sqrt(red(t.mul(t), "sum").to(isFloat(t.dtype) ? t.dtype : "float32")));
        case "logsum": return E.log(red(t, "sum"));
        case "logsumexp": return ax.some((a) => t.shape[a] === 0) ? E.log(red(t.exp(), "sum")) : R.logsumexp(t, ax, { keepdim: keep });
        case "sumsquare": return red(t.mul(t), "sum");
      }
    };
    if (kind === "max" && x.shape.filter((_, i) => ax.includes(i)).includes(0)) {
      return C.full(keep ? x.shape.map((s, i) => (ax.includes(i) ? 1 : s)) : x.shape.filter((_, i) => !ax.includes(i)), -Infinity, { dtype: x.dtype });
    }
    return red(x, kind);
  };
}
function argOp(which: "max" | "min"): OpFn {
  return (c) => {
    const x = inp(c, 0), ax = normAxis(c, c.a.i("axis", 0), x.ndim), keep = c.a.i("keepdims", 1) === 1;
    const fn = which === "max" ? R.argmax : R.argmin;
    if (c.a.i("select_last_index", 0)) {
      const idx = fn(M.flip(x, [ax]), ax, { keepdim: keep });
      return scalarOf(idx, x.shape[ax]! - 1).sub(idx);
    }
    return fn(x, ax, { keepdim: keep });
  };
}

// ---- shape ops ----

function reshapeOp(c: OpCtx): Tensor {
  const x = inp(c, 0);
  const shape = c.opset >= 5 ? host(inp(c, 1)) : c.a.ints("shape") ?? [];
  const allowzero = c.a.i("allowzero", 0);
  const out = shape.map((s, i) => (s === 0 && !allowzero ? x.shape[i]! : s));
  return x.reshape(out);
}
function squeezeOp(c: OpCtx): Tensor {
  const x = inp(c, 0);
  const axes = axesOf(c, 13, 1);
  if (!axes) return x.reshape(x.shape.filter((s) => s !== 1));
  const ax = axes.map((a) => normAxis(c, a, x.ndim));
  ax.forEach((a) => { if (x.shape[a] !== 1) fail(c, `cannot squeeze axis ${a} of size ${x.shape[a]}`); });
  return x.reshape(x.shape.filter((_, i) => !ax.includes(i)));
}
function unsqueezeOp(c: OpCtx): Tensor {
  const x = inp(c, 0);
  const axes = axesOf(c, 13, 1) ?? [];
  const n = x.ndim + axes.length;
  const ax = new Set(axes.map((a) => normAxis(c, a, n)));
  const out: number[] = [];
  let j = 0;
  for (let i = 0; i < n; i++) out.push(ax.has(i) ? 1 : x.shape[j++]!);
  return x.reshape(out);
}
function flattenOp(c: OpCtx): Tensor {
  const x = inp(c, 0);
  let ax = c.a.i("axis", 1);
  if (ax < 0) ax += x.ndim;
  return x.reshape([prod(x.shape.slice(0, ax)), prod(x.shape.slice(ax))]);
}
function splitOp(c: OpCtx): Tensor[] {
  const x = inp(c, 0), ax = normAxis(c, c.a.i("axis", 0), x.ndim), n = x.shape[ax]!;
  let sizes: number[] | undefined = c.opset >= 13 ? (opt(c, 1) ? host(opt(c, 1)!) : undefined) : c.a.ints("split") ?? (opt(c, 1) ? host(opt(c, 1)!) : undefined);
  if (!sizes || sizes.length === 0) {
    const parts = c.a.has("num_outputs") ? c.a.i("num_outputs", c.nOut) : c.nOut;
    const each = Math.ceil(n / parts);
    sizes = Array.from({ length: parts }, (_, i) => Math.max(0, Math.min(each, n - i * each)));
  }
  if (sizes.reduce((a, b) => a + b, 0) !== n) fail(c, `split sizes [${sizes}] do not sum to ${n}`);
  let start = 0;
  return sizes.map((s) => { const t = M.narrow(x, ax, start, s); start += s; return t; });
}
function sliceAxis(x: Tensor, ax: number, start: number, end: number, step: number): Tensor {
  const n = x.shape[ax]!;
  if (step === 0) throw new OnnxError("Slice: step cannot be 0");
  if (start < 0) start += n;
  if (end < 0) end += n;
  if (step > 0) {
    start = Math.min(Math.max(start, 0), n);
    end = Math.min(Math.max(end, 0), n);
    if (end <= start) return M.narrow(x, ax, 0, 0);
    return M.stepSlice(x, ax, start, end, step);
  }
  start = Math.min(Math.max(start, 0), n - 1);
  end = Math.min(Math.max(end, -1), n - 1);
  const count = Math.max(0, Math.ceil((end - start) / step));
  if (count === 0) return M.narrow(x, ax, 0, 0);
  const f = M.flip(x, [ax]);
  const s2 = n - 1 - start, st = -step;
  return M.stepSlice(f, ax, s2, s2 + (count - 1) * st + 1, st);
}
function sliceOp(c: OpCtx): Tensor {
  const x = inp(c, 0);
  let starts: number[], ends: number[], axes: number[] | undefined, steps: number[] | undefined;
  if (c.opset < 10) {
    starts = c.a.ints("starts") ?? []; ends = c.a.ints("ends") ?? []; axes = c.a.ints("axes");
  } else {
    starts = host(inp(c, 1)); ends = host(inp(c, 2));
    axes = opt(c, 3) ? host(opt(c, 3)!) : undefined; steps = opt(c, 4) ? host(opt(c, 4)!) : undefined;
  }
  let y = x;
  starts.forEach((s, i) => {
    const ax = normAxis(c, axes ? axes[i]! : i, x.ndim);
    y = sliceAxis(y, ax, s, ends[i]!, steps ? steps[i]! : 1);
  });
  return y;
}
function normIndex(idx: Tensor, n: number): Tensor {
  return E.where(idx.lt(0), idx.add(n), idx);
}
function gatherOp(c: OpCtx): Tensor {
  const x = inp(c, 0), idx = inp(c, 1), ax = normAxis(c, c.a.i("axis", 0), x.ndim);
  const flat = normIndex(idx, x.shape[ax]!).reshape([idx.numel()]);
  const y = I.indexSelect(x, ax, flat.dtype === "int64" ? flat : flat.to("int64"));
  return y.reshape([...x.shape.slice(0, ax), ...idx.shape, ...x.shape.slice(ax + 1)]);
}
function gatherElementsOp(c: OpCtx): Tensor {
  const x = inp(c, 0), idx = inp(c, 1), ax = normAxis(c, c.a.i("axis", 0), x.ndim);
  return I.gather(x, ax, normIndex(idx, x.shape[ax]!).to("int64"));
}
function gatherNDOp(c: OpCtx): Tensor {
  const x = inp(c, 0), idx = inp(c, 1), b = c.a.i("batch_dims", 0);
  const k = idx.shape[idx.ndim - 1]!;
  const bshape = x.shape.slice(0, b), B = prod(bshape);
  const inner = x.shape.slice(b, b + k), rest = x.shape.slice(b + k);
  const strides = inner.map((_, i) => prod(inner.slice(i + 1)));
  const nIdx = prod(idx.shape.slice(b, idx.ndim - 1));
  let lin = normIndexND(idx, inner).mul(int64(strides, [...Array(idx.ndim - 1).fill(1), k], idx.device)).sum(-1); // [...batch, ...idx]
  lin = lin.reshape([B, nIdx]).add(C.arange(B, undefined, 1, { dtype: "int64", device: x.device }).mul(prod(inner)).reshape([B, 1]));
  const xf = x.reshape([B * prod(inner), prod(rest)]);
  const y = I.indexSelect(xf, 0, lin.reshape([B * nIdx]).to("int64"));
  return y.reshape([...bshape, ...idx.shape.slice(b, idx.ndim - 1), ...rest]);
}
function normIndexND(idx: Tensor, dims: readonly number[]): Tensor {
  const n = int64([...dims], [...Array(idx.ndim - 1).fill(1), dims.length], idx.device);
  return E.where(idx.lt(0), idx.add(n), idx).to("int64");
}
function scatterNDOp(c: OpCtx): Tensor {
  const x = inp(c, 0), idx = inp(c, 1), upd = inp(c, 2), red = c.a.s("reduction", "none");
  const k = idx.shape[idx.ndim - 1]!;
  const inner = x.shape.slice(0, k), rest = x.shape.slice(k), S = prod(rest);
  const strides = inner.map((_, i) => prod(inner.slice(i + 1)));
  const nIdx = prod(idx.shape.slice(0, idx.ndim - 1));
  const lin = normIndexND(idx, inner).mul(int64(strides, [...Array(idx.ndim - 1).fill(1), k], idx.device)).sum(-1).reshape([nIdx, 1]);
  const elem = lin.mul(S).add(C.arange(S, undefined, 1, { dtype: "int64", device: x.device }).reshape([1, S])).reshape([nIdx * S]);
  return scatterFlat(c, x, elem, upd.reshape([nIdx * S]), red);
}
/** x with values at flat positions `elem` replaced by (or combined with) `vals`. */
function scatterFlat(c: OpCtx, x: Tensor, elem: Tensor, vals: Tensor, red: string): Tensor {
  const xf = x.reshape([x.numel()]);
  const zeros = C.zeros([x.numel()], { dtype: x.dtype, device: x.device });
  if (red === "add") return keepType(x, I.scatterAdd(xf, 0, elem, vals)).reshape(x.shape);
  if (red === "none") {
    const hit = I.scatterAdd(zeros, 0, elem, C.ones([elem.numel()], { dtype: x.dtype, device: x.device })).gt(0);
    return E.where(hit, I.scatterAdd(zeros, 0, elem, vals), xf).reshape(x.shape);
  }
  // mul / max / min: positions are read on the host and applied in order.
  const pos = host(elem), v = host(vals), out = Array.from(xf.dataSync() as ArrayLike<number | bigint>, Number);
  pos.forEach((p, i) => { out[p] = red === "mul" ? out[p]! * v[i]! : red === "max" ? Math.max(out[p]!, v[i]!) : red === "min" ? Math.min(out[p]!, v[i]!) : fail(c, `unknown reduction '${red}'`); });
  return hostTensor(out, x.shape, x.dtype, x.device);
}
function scatterElementsOp(c: OpCtx): Tensor {
  const x = inp(c, 0), idx0 = inp(c, 1), upd = inp(c, 2), ax = normAxis(c, c.a.i("axis", 0), x.ndim);
  const idx = normIndex(idx0, x.shape[ax]!).to("int64");
  // Flat position of each update: its own coordinates, with the index along `axis`.
  const strides = x.shape.map((_, i) => prod(x.shape.slice(i + 1)));
  let elem: Tensor = C.zeros(idx.shape, { dtype: "int64", device: x.device });
  idx.shape.forEach((s, d) => {
    const coord = d === ax ? idx : C.arange(s, undefined, 1, { dtype: "int64", device: x.device }).reshape(idx.shape.map((q, j) => (j === d ? q : 1))).expand(idx.shape);
    elem = elem.add(coord.mul(strides[d]!));
  });
  return scatterFlat(c, x, elem.reshape([idx.numel()]), upd.reshape([upd.numel()]), c.a.s("reduction", "none"));
}
function expandOp(c: OpCtx): Tensor {
  const x = inp(c, 0);
  const shape = broadcastShapes(c, x.shape, host(inp(c, 1)));
  return M.expand(x, shape);
}
function padOp(c: OpCtx): Tensor {
  const x = inp(c, 0), mode = c.a.s("mode", "constant");
  let pads: number[], value = 0;
  if (c.opset < 11) {
    pads = c.a.ints(c.opset < 2 ? "paddings" : "pads") ?? [];
    value = c.a.f("value", 0);
  } else {
    pads = host(inp(c, 1));
    if (opt(c, 2) && opt(c, 2)!.numel()) value = host(opt(c, 2)!)[0]!;
    const axes = opt(c, 3) ? host(opt(c, 3)!) : undefined;
    if (axes) {
      const full = Array(2 * x.ndim).fill(0);
      axes.forEach((a, i) => { const ax = normAxis(c, a, x.ndim); full[ax] = pads[i]; full[ax + x.ndim] = pads[i + axes.length]; });
      pads = full;
    }
  }
  const pairs = x.shape.map((_, i): [number, number] => [pads[i] ?? 0, pads[i + x.ndim] ?? 0]);
  if (mode === "constant") {
    const z = M.padZeros(x, pairs);
    if (value === 0) return z;
    const one = C.ones(x.shape, { dtype: "bool", device: x.device });
    return E.where(M.padZeros(one, pairs), z, value);
  }
  const torchMode = mode === "reflect" ? "reflect" : mode === "edge" ? "replicate" : mode === "wrap" ? "circular" : fail(c, `unknown mode '${mode}'`);
  const flat: number[] = [];
  for (let i = x.ndim - 1; i >= 0; i--) flat.push(pairs[i]![0], pairs[i]![1]);
  return F.pad(x, flat, torchMode as "reflect" | "replicate" | "circular");
}
function constantOp(c: OpCtx): Tensor {
  const t = c.a.t("value");
  if (t) return t;
  if (c.a.has("value_float")) return C.full([], c.a.f("value_float", 0), { dtype: "float32" });
  if (c.a.has("value_floats")) return C.tensor(c.a.floats("value_floats")!, { dtype: "float32" });
  if (c.a.has("value_int")) return int64([c.a.i("value_int", 0)], []);
  if (c.a.has("value_ints")) return int64(c.a.ints("value_ints")!);
  return fail(c, "only tensor, float(s) and int(s) values are supported");
}
function rangeOp(c: OpCtx): Tensor {
  const [s] = host(inp(c, 0)), [l] = host(inp(c, 1)), [d] = host(inp(c, 2));
  const dtype = inp(c, 0).dtype;
  const n = Math.max(Math.ceil((l! - s!) / d!), 0);
  if (!Number.isFinite(n) || n > 2 ** 31) fail(c, `range of ${n} elements`);
  const vals = Array.from({ length: n }, (_, i) => s! + i * d!);
  return hostTensor(vals, [n], dtype);
}
function oneHotOp(c: OpCtx): Tensor {
  const idx = inp(c, 0), depth = Math.trunc(host(inp(c, 1))[0]!), vals = inp(c, 2);
  const n = idx.ndim + 1, ax = normAxis(c, c.a.i("axis", -1), n);
  const i = E.where(idx.lt(0), idx.add(depth), idx);
  const ar = C.arange(depth, undefined, 1, { dtype: i.dtype, device: idx.device }).reshape(Array.from({ length: n }, (_, d) => (d === ax ? depth : 1)));
  const hit = M.unsqueeze(i, ax).eq(ar);
  const off = vals.reshape([2]).narrow(0, 0, 1).reshape([]), on = vals.reshape([2]).narrow(0, 1, 1).reshape([]);
  return E.where(hit, on, off);
}
function topKOp(c: OpCtx): Tensor[] {
  const x = inp(c, 0), k = c.opset >= 10 ? host(inp(c, 1))[0]! : c.a.i("k", 1);
  const ax = normAxis(c, c.a.i("axis", -1), x.ndim), largest = c.a.i("largest", 1);
  const xm = M.movedim(x, ax, -1), n = xm.shape[xm.ndim - 1]!, rows = xm.numel() / Math.max(n, 1);
  const v = host(xm.contiguous());
  const out: number[] = [];
  for (let r = 0; r < rows; r++) {
    const order = Array.from({ length: n }, (_, j) => j);
    order.sort((p, q) => { const a = v[r * n + p]!, b = v[r * n + q]!; return a === b ? p - q : largest ? b - a : a - b; });
    out.push(...order.slice(0, k));
  }
  const idx = int64(out, [...xm.shape.slice(0, -1), k], x.device);
  const vals = I.gather(xm, xm.ndim - 1, idx);
  return [M.movedim(vals, -1, ax), M.movedim(idx, -1, ax)];
}
function nonZeroOp(c: OpCtx): Tensor {
  const x = inp(c, 0), v = host(x), nd = Math.max(x.ndim, 1);
  const shape = x.ndim ? x.shape : [1];
  const hits: number[] = [];
  v.forEach((val, i) => { if (val !== 0) hits.push(i); });
  const out = new Float64Array(nd * hits.length);
  hits.forEach((flat, j) => {
    let r = flat;
    for (let d = nd - 1; d >= 0; d--) { out[d * hits.length + j] = r % shape[d]!; r = Math.floor(r / shape[d]!); }
  });
  return hostTensor(out, [nd, hits.length], "int64", x.device);
}
function depthToSpaceOp(c: OpCtx): Tensor {
  const x = inp(c, 0), b = c.a.i("blocksize", 1), [N, Ch, H, W] = x.shape as [number, number, number, number];
  if (c.a.s("mode", "DCR") === "DCR") {
    return x.reshape([N, b, b, Ch / (b * b), H, W]).permute([0, 3, 4, 1, 5, 2]).reshape([N, Ch / (b * b), H * b, W * b]);
  }
  return x.reshape([N, Ch / (b * b), b, b, H, W]).permute([0, 1, 4, 2, 5, 3]).reshape([N, Ch / (b * b), H * b, W * b]);
}
function spaceToDepthOp(c: OpCtx): Tensor {
  const x = inp(c, 0), b = c.a.i("blocksize", 1), [N, Ch, H, W] = x.shape as [number, number, number, number];
  return x.reshape([N, Ch, H / b, b, W / b, b]).permute([0, 3, 5, 1, 2, 4]).reshape([N, Ch * b * b, H / b, W / b]);
}

// ---- contractions, convolution, pooling ----

function gemmOp(c: OpCtx): Tensor {
  let a = inp(c, 0), b = inp(c, 1);
  if (c.a.i("transA", 0)) a = a.t();
  if (c.a.i("transB", 0)) b = b.t();
  const alpha = c.a.f("alpha", 1), beta = c.a.f("beta", 1);
  let y = L.matmul(a, b);
  if (alpha !== 1) y = y.mul(alpha);
  const bias = opt(c, 2);
  if (bias && beta !== 0) y = y.add(beta === 1 ? bias : bias.mul(beta));
  return y;
}
interface Geometry { k: number[]; s: number[]; d: number[]; pads: [number, number][] }
function geometry(c: OpCtx, spatial: readonly number[], kernel: readonly number[], ceil = false): Geometry {
  const n = spatial.length;
  const k = [...kernel], s = c.a.ints("strides") ?? Array(n).fill(1), d = c.a.ints("dilations") ?? Array(n).fill(1);
  const autoPad = c.a.s("auto_pad", "NOTSET");
  let pads: [number, number][];
  if (autoPad === "SAME_UPPER" || autoPad === "SAME_LOWER") {
    pads = spatial.map((len, i) => {
      const out = Math.ceil(len / s[i]!);
      const total = Math.max(0, (out - 1) * s[i]! + (k[i]! - 1) * d[i]! + 1 - len);
      const small = Math.floor(total / 2);
      return autoPad === "SAME_UPPER" ? [small, total - small] : [total - small, small];
    });
  } else if (autoPad === "VALID") pads = spatial.map(() => [0, 0]);
  else {
    const p = c.a.ints("pads") ?? Array(2 * n).fill(0);
    pads = spatial.map((_, i) => [p[i]!, p[i + n]!]);
  }
  if (ceil) {
    pads = pads.map(([b, e], i) => {
      const span = spatial[i]! + b + e - ((k[i]! - 1) * d[i]! + 1);
      let out = Math.ceil(span / s[i]!) + 1;
      if ((out - 1) * s[i]! >= spatial[i]! + b) out--;
      const need = (out - 1) * s[i]! + (k[i]! - 1) * d[i]! + 1;
      return [b, Math.max(e, need - spatial[i]! - b)];
    });
  }
  return { k, s, d, pads };
}
function convOp(c: OpCtx): Tensor {
  const x = inp(c, 0), w = inp(c, 1), bias = opt(c, 2);
  const g = geometry(c, x.shape.slice(2), c.a.ints("kernel_shape") ?? w.shape.slice(2));
  let y = apply("conv", [x, w], { stride: g.s, padding: g.pads, dilation: g.d, groups: c.a.i("group", 1) });
  if (bias) y = y.add(bias.reshape([bias.numel(), ...Array(x.ndim - 2).fill(1)]));
  return y;
}
function convTransposeOp(c: OpCtx): Tensor {
  const x = inp(c, 0), w = inp(c, 1), bias = opt(c, 2), nsp = x.ndim - 2;
  const k = c.a.ints("kernel_shape") ?? w.shape.slice(2);
  const s = c.a.ints("strides") ?? Array(nsp).fill(1), d = c.a.ints("dilations") ?? Array(nsp).fill(1);
  const op = c.a.ints("output_padding") ?? Array(nsp).fill(0);
  const group = c.a.i("group", 1), autoPad = c.a.s("auto_pad", "NOTSET");
  const full = x.shape.slice(2).map((n, i) => (n - 1) * s[i]! + (k[i]! - 1) * d[i]! + 1);
  let pads: [number, number][];
  const outShape = c.a.ints("output_shape");
  if (outShape || autoPad === "SAME_UPPER" || autoPad === "SAME_LOWER") {
    const target = outShape ? outShape.slice(-nsp) : x.shape.slice(2).map((n, i) => n * s[i]!);
    pads = target.map((t, i) => {
      const total = full[i]! + op[i]! - t;
      const small = Math.floor(total / 2);
      return autoPad === "SAME_UPPER" ? [small, total - small] : [total - small, small];
    });
  } else {
    const p = c.a.ints("pads") ?? Array(2 * nsp).fill(0);
    pads = x.shape.slice(2).map((_, i) => [p[i]!, p[i + nsp]!]);
  }
  let y = convTransposeNd("ConvTranspose", nsp, x, w, null, { stride: s, dilation: d, groups: group });
  y = M.padZeros(y, [[0, 0], [0, 0], ...pads.map(([b, e], i): [number, number] => [-b, op[i]! - e])]);
  if (bias) y = y.add(bias.reshape([bias.numel(), ...Array(nsp).fill(1)]));
  return y;
}
function poolOp(kind: "max" | "avg" | "lp"): OpFn {
  return (c) => {
    const x = inp(c, 0), nsp = x.ndim - 2;
    const kernel = c.a.ints("kernel_shape") ?? fail(c, "kernel_shape is required");
    const g = geometry(c, x.shape.slice(2), kernel, c.a.i("ceil_mode", 0) === 1);
    const allPads: [number, number][] = [[0, 0], [0, 0], ...g.pads];
    const axes = [...Array(nsp).keys()].map((i) => x.ndim + i);
    if (kind === "max") {
      const low = isFloat(x.dtype) ? -Infinity : x.dtype === "uint8" ? 0 : -(2 ** 31);
      const inside = M.padZeros(C.ones(x.shape, { dtype: "bool", device: x.device }), allPads);
      const w = windows(E.where(inside, M.padZeros(x, allPads), low), g.k, g.s, g.d);
      const y = R.amax(w, axes);
      if (c.nOut < 2) return y;
      // Indices (row-major over the unpadded input, per batch and channel as ONNX's storage_order 0).
      const sp = x.shape.slice(2);
      const ar = C.arange(prod(sp), undefined, 1, { dtype: "int64", device: x.device });
      // storage_order 1: column-major positions within each channel.
      const flatIdx = c.a.i("storage_order", 0) ? ar.reshape([...sp].reverse()).permute([...sp.keys()].reverse()) : ar.reshape(sp);
      const wi = windows(M.padZeros(flatIdx.add(1), g.pads), g.k, g.s, g.d);
      const flatW = w.reshape([...w.shape.slice(0, x.ndim), prod(g.k)]);
      const am = R.argmax(flatW, -1, { keepdim: true });
      const widx = I.gather(wi.reshape([...wi.shape.slice(0, nsp), prod(g.k)]).expand([...x.shape.slice(0, 2), ...wi.shape.slice(0, nsp), prod(g.k)]), x.ndim, am).squeeze(-1).sub(1);
      const base = C.arange(x.shape[0]! * x.shape[1]!, undefined, 1, { dtype: "int64", device: x.device }).mul(prod(sp)).reshape([x.shape[0]!, x.shape[1]!, ...Array(nsp).fill(1)]);
      return [y, widx.add(base)];
    }
    if (kind === "lp") {
      const p = c.a.i("p", 2);
      const w = windows(M.padZeros(E.abs(x).pow(p), allPads), g.k, g.s, g.d);
      return R.sum(w, axes).pow(1 / p);
    }
    const total = R.sum(windows(M.padZeros(x, allPads), g.k, g.s, g.d), axes);
    const includePad = c.a.i("count_include_pad", 0) === 1;
    const sp = x.shape.slice(2);
    const explicit = c.a.ints("pads");
    const n = sp.length;
    // The region that counts: the input, widened by the explicit pads when count_include_pad.
    let region = C.ones(sp, { dtype: x.dtype, device: x.device });
    let regionPads = g.pads;
    if (includePad) {
      const ep: [number, number][] = c.a.s("auto_pad", "NOTSET") === "NOTSET" && explicit ? sp.map((_, i) => [explicit[i]!, explicit[i + n]!]) : g.pads.map(([b]) => [b, 0]) as [number, number][];
      const autoSame = c.a.s("auto_pad", "NOTSET").startsWith("SAME");
      const used: [number, number][] = autoSame ? sp.map(() => [0, 0]) : ep;
      region = M.padZeros(region, used).add(0);
      region = C.ones(region.shape, { dtype: x.dtype, device: x.device });
      regionPads = g.pads.map(([b, e], i): [number, number] => [b - used[i]![0], e - used[i]![1]]);
    }
    const count = R.sum(windows(M.padZeros(region, regionPads), g.k, g.s, g.d), [...Array(n).keys()].map((i) => n + i));
    return total.div(count);
  };
}
function globalPool(kind: "avg" | "max" | "lp"): OpFn {
  return (c) => {
    const x = inp(c, 0), axes = [...Array(x.ndim - 2).keys()].map((i) => i + 2);
    if (kind === "avg") return R.mean(x, axes, { keepdim: true });
    if (kind === "max") return R.amax(x, axes, { keepdim: true });
    const p = c.a.i("p", 2);
    return R.sum(E.abs(x).pow(p), axes, { keepdim: true }).pow(1 / p);
  };
}

// ---- normalization ----

function batchNormOp(c: OpCtx): Tensor[] {
  const x = inp(c, 0), scale = inp(c, 1), b = inp(c, 2), mean = inp(c, 3), varr = inp(c, 4);
  const eps = c.a.f("epsilon", 1e-5), momentum = c.a.f("momentum", 0.9);
  const shp = [x.shape[1]!, ...Array(Math.max(x.ndim - 2, 0)).fill(1)];
  const v = (t: Tensor) => t.reshape(shp);
  const training = c.opset >= 14 ? c.a.i("training_mode", 0) === 1 : c.opset < 9 ? c.a.i("is_test", 0) === 0 && c.nOut > 1 : c.nOut > 1;
  if (!training) return [x.sub(v(mean)).div(E.sqrt(v(varr).add(eps))).mul(v(scale)).add(v(b))];
  const axes = [0, ...Array.from({ length: x.ndim - 2 }, (_, i) => i + 2)];
  const m = R.mean(x, axes), vr = R.variance(x, axes, { correction: 0 });
  const y = x.sub(v(m)).div(E.sqrt(v(vr).add(eps))).mul(v(scale)).add(v(b));
  return [y, mean.mul(momentum).add(m.mul(1 - momentum)), varr.mul(momentum).add(vr.mul(1 - momentum))];
}
function layerNormOp(c: OpCtx): Tensor[] {
  const x = inp(c, 0), scale = inp(c, 1), b = opt(c, 2);
  const ax = normAxis(c, c.a.i("axis", -1), x.ndim), eps = c.a.f("epsilon", 1e-5);
  const axes = Array.from({ length: x.ndim - ax }, (_, i) => ax + i);
  const m = R.mean(x, axes, { keepdim: true });
  const d = x.sub(m);
  const inv = E.rsqrt(R.mean(d.mul(d), axes, { keepdim: true }).add(eps));
  let y = d.mul(inv).mul(scale);
  if (b) y = y.add(b);
  return [y, m, inv];
}
function instanceNormOp(c: OpCtx): Tensor {
  const x = inp(c, 0), scale = inp(c, 1), b = inp(c, 2), eps = c.a.f("epsilon", 1e-5);
  const axes = Array.from({ length: x.ndim - 2 }, (_, i) => i + 2);
  const m = R.mean(x, axes, { keepdim: true }), d = x.sub(m);
  const shp = [x.shape[1]!, ...Array(x.ndim - 2).fill(1)];
  return d.mul(E.rsqrt(R.mean(d.mul(d), axes, { keepdim: true }).add(eps))).mul(scale.reshape(shp)).add(b.reshape(shp));
}
function mvnOp(c: OpCtx): Tensor {
  const x = inp(c, 0), axes = c.a.ints("axes") ?? [0, 2, 3];
  const m = R.mean(x, axes, { keepdim: true }), d = x.sub(m);
  return d.div(E.sqrt(R.mean(d.mul(d), axes, { keepdim: true })).add(1e-9));
}
function lrnOp(c: OpCtx): Tensor {
  const x = inp(c, 0), size = c.a.i("size", 1), alpha = c.a.f("alpha", 1e-4), beta = c.a.f("beta", 0.75), bias = c.a.f("bias", 1);
  const sq = x.mul(x), before = Math.floor((size - 1) / 2), after = Math.ceil((size - 1) / 2);
  const pads: [number, number][] = x.shape.map((_, i) => (i === 1 ? [before, after] : [0, 0]));
  const padded = M.padZeros(sq, pads);
  let s = M.narrow(padded, 1, 0, x.shape[1]!);
  for (let j = 1; j < size; j++) s = s.add(M.narrow(padded, 1, j, x.shape[1]!));
  return x.div(s.mul(alpha / size).add(bias).pow(beta));
}

// ---- control flow ----

function ifOp(c: OpCtx): Tensor[] {
  const cond = host(inp(c, 0))[0] !== 0;
  const g = c.a.g(cond ? "then_branch" : "else_branch") ?? fail(c, "missing branch");
  return c.runGraph(g, []);
}
function loopOp(c: OpCtx): Tensor[] {
  const body = c.a.g("body") ?? fail(c, "missing body");
  const maxT = opt(c, 0), condT = opt(c, 1);
  const max = maxT ? host(maxT)[0]! : Infinity;
  let cond = condT ? host(condT)[0] !== 0 : true;
  let carried = c.inputs.slice(2) as Tensor[];
  const nCarried = carried.length;
  const scans: Tensor[][] = [];
  for (let i = 0; i < max && cond; i++) {
    const outs = c.runGraph(body, [int64([i], [], c.device), C.full([], cond, { dtype: "bool" }), ...carried]);
    cond = host(outs[0]!)[0] !== 0;
    carried = outs.slice(1, 1 + nCarried);
    outs.slice(1 + nCarried).forEach((t, j) => (scans[j] ??= []).push(t));
  }
  const nScan = c.nOut - nCarried;
  const scanOut = Array.from({ length: nScan }, (_, j) => (scans[j]?.length ? M.stack(scans[j]!, 0) : C.zeros([0], { dtype: "float32" })));
  return [...carried, ...scanOut];
}

// ---- recurrent ----

const ACT: Record<string, (x: Tensor, a: number, b: number) => Tensor> = {
  Sigmoid: (x) => x.sigmoid(), Tanh: (x) => x.tanh(), Relu: (x) => x.relu(),
  HardSigmoid: (x, a, b) => E.clamp(x.mul(a).add(b), 0, 1), LeakyRelu: (x, a) => E.where(x.gt(0), x, x.mul(a)),
  Affine: (x, a, b) => x.mul(a).add(b), ScaledTanh: (x, a, b) => x.mul(b).tanh().mul(a), Elu: (x, a) => E.where(x.gt(0), x, x.exp().sub(1).mul(a)),
  Softsign: (x) => x.div(E.abs(x).add(1)), Softplus: (x) => x.softplus(),
};
function rnnFamily(kind: "RNN" | "GRU" | "LSTM"): OpFn {
  return (c) => {
    const X = inp(c, 0), W = inp(c, 1), Rw = inp(c, 2), B = opt(c, 3), seqLens = opt(c, 4), h0 = opt(c, 5), c0 = kind === "LSTM" ? opt(c, 6) : null;
    const P = kind === "LSTM" ? opt(c, 7) : null;
    const lens = seqLens ? host(seqLens) : null;
    const layout = c.a.i("layout", 0);
    const x = layout ? X.transpose(0, 1) : X; // [T, B, I]
    const H = c.a.i("hidden_size", Rw.shape[2]!), dir = c.a.s("direction", "forward");
    const nDir = dir === "bidirectional" ? 2 : 1, gates = kind === "LSTM" ? 4 : kind === "GRU" ? 3 : 1;
    const clip = c.a.has("clip") ? c.a.f("clip", 0) : null;
    const actNames = c.a.strings("activations") ?? (kind === "LSTM" ? ["Sigmoid", "Tanh", "Tanh"] : kind === "GRU" ? ["Sigmoid", "Tanh"] : ["Tanh"]);
    const alphas = c.a.floats("activation_alpha") ?? [], betas = c.a.floats("activation_beta") ?? [];
    const linearBeforeReset = c.a.i("linear_before_reset", 0);
    const T = x.shape[0]!, Bn = x.shape[1]!;
    const ys: Tensor[] = [], hs: Tensor[] = [], cs: Tensor[] = [];
    for (let d = 0; d < nDir; d++) {
      const per = actNames.length / nDir;
      const act = (j: number) => {
        const k = d * per + j, name = actNames[k]!;
        const fn = ACT[name] ?? fail(c, `activation '${name}' is not supported`);
        const a = alphas[k] ?? (name === "LeakyRelu" ? 0.01 : name === "HardSigmoid" ? 0.2 : 1), b = betas[k] ?? (name === "HardSigmoid" ? 0.5 : 0);
        return (t: Tensor) => fn(t, a, b);
      };
      const f = act(0), g = per > 1 ? act(1) : f, h = per > 2 ? act(2) : f;
      const w = W.narrow(0, d, 1).reshape([gates * H, W.shape[2]!]), r = Rw.narrow(0, d, 1).reshape([gates * H, H]);
      const bias = B ? B.narrow(0, d, 1).reshape([2 * gates * H]) : null;
      const wb = bias ? bias.narrow(0, 0, gates * H) : null, rb = bias ? bias.narrow(0, gates * H, gates * H) : null;
      const p = P ? P.narrow(0, d, 1).reshape([3 * H]) : null;
      let ht = h0 ? h0.narrow(0, d, 1).reshape([Bn, H]) : C.zeros([Bn, H], { dtype: X.dtype, device: X.device });
      let ct = c0 ? c0.narrow(0, d, 1).reshape([Bn, H]) : C.zeros([Bn, H], { dtype: X.dtype, device: X.device });
      let xw = L.matmul(x, w.t());
      if (wb) xw = xw.add(wb);
      const outs: Tensor[] = Array(T);
      const cl = (t: Tensor) => (clip === null ? t : E.clamp(t, -clip, clip));
      for (let s = 0; s < T; s++) {
        const tIdx = d === 1 || dir === "reverse" ? T - 1 - s : s;
        const xt = xw.narrow(0, tIdx, 1).reshape([Bn, gates * H]);
        const prevH = ht, prevC = ct;
        if (kind === "RNN") {
          let hr = L.matmul(ht, r.t());
          if (rb) hr = hr.add(rb);
          ht = f(cl(xt.add(hr)));
        } else if (kind === "LSTM") {
          let gsum = xt.add(L.matmul(ht, r.t()));
          if (rb) gsum = gsum.add(rb);
          const [gi, go, gf, gc] = M.split(gsum, H, 1) as [Tensor, Tensor, Tensor, Tensor];
          const pi = p ? p.narrow(0, 0, H) : null, po = p ? p.narrow(0, H, H) : null, pf = p ? p.narrow(0, 2 * H, H) : null;
          const it = f(cl(pi ? gi.add(ct.mul(pi)) : gi)), ft = f(cl(pf ? gf.add(ct.mul(pf)) : gf));
          ct = ft.mul(ct).add(it.mul(g(cl(gc))));
          const ot = f(cl(po ? go.add(ct.mul(po)) : go));
          ht = ot.mul(h(ct));
        } else {
          const [xz, xr, xh] = M.split(xt, H, 1) as [Tensor, Tensor, Tensor];
          const [rz, rr, rh] = M.split(r, H, 0) as [Tensor, Tensor, Tensor];
          const [bz, br, bh] = rb ? (M.split(rb, H, 0) as [Tensor, Tensor, Tensor]) : [null, null, null];
          const addb = (t: Tensor, bb: Tensor | null) => (bb ? t.add(bb) : t);
          const zt = f(cl(xz.add(addb(L.matmul(ht, rz.t()), bz))));
          const rt = f(cl(xr.add(addb(L.matmul(ht, rr.t()), br))));
          const hh = linearBeforeReset ? g(cl(xh.add(rt.mul(addb(L.matmul(ht, rh.t()), bh))))) : g(cl(xh.add(addb(L.matmul(rt.mul(ht), rh.t()), bh))));
          ht = E.sub(1, zt).mul(hh).add(zt.mul(ht));
        }
        if (lens && lens.some((l) => tIdx >= l)) {
          const live = hostTensor(lens.map((l) => (tIdx < l ? 1 : 0)), [Bn, 1], "bool", X.device);
          ht = E.where(live, ht, prevH);
          ct = E.where(live, ct, prevC);
          outs[tIdx] = E.where(live, ht, 0);
        } else outs[tIdx] = ht;
      }
      ys.push(M.stack(outs, 0)); // [T, B, H]
      hs.push(ht);
      cs.push(ct);
    }
    let Y = M.stack(ys, 1); // [T, D, B, H]
    let Yh = M.stack(hs, 0), Yc = M.stack(cs, 0); // [D, B, H]
    if (layout) { Y = Y.permute([2, 0, 1, 3]); Yh = Yh.transpose(0, 1); Yc = Yc.transpose(0, 1); }
    return kind === "LSTM" ? [Y, Yh, Yc] : [Y, Yh];
  };
}

// ---- quantization ----

function dequantizeOp(c: OpCtx): Tensor {
  const x = inp(c, 0), scale = inp(c, 1), zp = opt(c, 2);
  const shape = scale.ndim === 1 && x.ndim > 0 ? x.shape.map((s, i) => (i === normAxis(c, c.a.i("axis", 1), x.ndim) ? s : 1)) : scale.shape;
  const xf = x.to("float32");
  return (zp ? xf.sub(zp.to("float32").reshape(shape)) : xf).mul(scale.reshape(shape));
}
function quantizeOp(c: OpCtx): Tensor {
  const x = inp(c, 0), scale = inp(c, 1), zp = opt(c, 2);
  const shape = scale.ndim === 1 && x.ndim > 0 ? x.shape.map((s, i) => (i === normAxis(c, c.a.i("axis", 1), x.ndim) ? s : 1)) : scale.shape;
  const unsigned = !zp || zp.dtype === "uint8";
  const [lo, hi] = unsigned ? [0, 255] : [-128, 127];
  let y = E.round(x.div(scale.reshape(shape)));
  if (zp) y = y.add(zp.to(x.dtype).reshape(shape));
  return E.clamp(y, lo, hi).to(zp ? zp.dtype : "uint8");
}

// ---- the table ----

export const OPS: Record<string, OpFn> = {
  // elementwise math
  Add: binaryF((a, b) => E.add(a, b)), Sub: binaryF((a, b) => E.sub(a, b)), Mul: binaryF((a, b) => E.mul(a, b)), Div: binaryF(divOp),
  Pow: binaryF(powOp), Mod: modOp,
  Sum: variadic((a, b) => a.add(b)), Max: variadic((a, b) => E.maximum(a, b)), Min: variadic((a, b) => E.minimum(a, b)),
  Mean: (c) => { const xs = c.inputs.filter((t): t is Tensor => !!t); return xs.reduce((a, b) => a.add(b)).div(xs.length); },
  Abs: unaryF(E.abs), Neg: unaryF((x) => E.neg(x)), Exp: unaryF(E.exp), Log: unaryF(E.log), Sqrt: unaryF(E.sqrt), Reciprocal: unaryF(E.reciprocal),
  Floor: unaryF(E.floor), Ceil: unaryF(E.ceil), Round: unaryF(E.round), Sign: unaryF(E.sign), Erf: unaryF(E.erf),
  Sin: unaryF(E.sin), Cos: unaryF(E.cos), Tan: unaryF(E.tan),
  Sinh: unaryF((x) => x.exp().sub(x.neg().exp()).div(2)), Cosh: unaryF((x) => x.exp().add(x.neg().exp()).div(2)),
  Asinh: unaryF((x) => E.log(x.add(E.sqrt(x.mul(x).add(1))))), Acosh: unaryF((x) => E.log(x.add(E.sqrt(x.mul(x).sub(1))))),
  Atanh: unaryF((x) => E.log(E.add(1, x).div(E.sub(1, x))).div(2)),
  IsNaN: unaryF(E.isnan), IsInf: isInf,
  // comparisons and logic
  Equal: binaryF((a, b) => E.eq(a, b)), Less: binaryF((a, b) => E.lt(a, b)), Greater: binaryF((a, b) => E.gt(a, b)),
  LessOrEqual: binaryF((a, b) => E.le(a, b)), GreaterOrEqual: binaryF((a, b) => E.ge(a, b)),
  And: binaryF((a, b) => E.logicalAnd(a, b)), Or: binaryF((a, b) => E.logicalOr(a, b)), Xor: binaryF((a, b) => E.logicalXor(a, b)), Not: unaryF(E.logicalNot),
  Where: (c) => E.where(inp(c, 0), inp(c, 1), inp(c, 2)),
  // activations
  Relu: unaryF(E.relu), Sigmoid: unaryF(E.sigmoid), Tanh: unaryF(E.tanh),
  LeakyRelu: (c) => { const x = inp(c, 0); return E.where(x.gt(0), x, x.mul(c.a.f("alpha", 0.01))); },
  PRelu: (c) => { const x = inp(c, 0); return E.where(x.lt(0), x.mul(inp(c, 1)), x); },
  Elu: (c) => { const x = inp(c, 0); return E.where(x.gt(0), x, x.exp().sub(1).mul(c.a.f("alpha", 1))); },
  Celu: (c) => { const x = inp(c, 0), a = c.a.f("alpha", 1); return E.maximum(x, 0).add(E.minimum(x.div(a).exp().sub(1).mul(a), 0)); },
  Selu: selu,
  HardSigmoid: (c) => E.clamp(inp(c, 0).mul(c.a.f("alpha", 0.2)).add(c.a.f("beta", 0.5)), 0, 1),
  HardSwish: (c) => { const x = inp(c, 0); return x.mul(E.clamp(x.div(6).add(0.5), 0, 1)); },
  Softplus: unaryF((x) => E.log(x.exp().add(1))), Softsign: unaryF((x) => x.div(E.abs(x).add(1))),
  Mish: unaryF((x) => x.mul(E.log(x.exp().add(1)).tanh())),
  ThresholdedRelu: (c) => { const x = inp(c, 0); return E.where(x.gt(c.a.f("alpha", 1)), x, 0); },
  Gelu: (c) => E.gelu(inp(c, 0), { approximate: c.a.s("approximate", "none") === "tanh" ? "tanh" : "none" }),
  Shrink: (c) => { const x = inp(c, 0), l = c.a.f("lambd", 0.5), b = c.a.f("bias", 0); return keepType(x, E.where(x.lt(-l), x.add(b), E.where(x.gt(l), x.sub(b), 0))); },
  Softmax: (c) => softmaxLike(c, (x, d) => R.softmax(x, d)), LogSoftmax: (c) => softmaxLike(c, (x, d) => R.logSoftmax(x, d)),
  Hardmax: (c) => softmaxLike(c, hardmax),
  Clip: clipOp,
  // reductions
  ReduceSum: reduceOp("sum", 13), ReduceMean: reduceOp("mean", 18), ReduceMax: reduceOp("max", 18), ReduceMin: reduceOp("min", 18),
  ReduceProd: reduceOp("prod", 18), ReduceL1: reduceOp("l1", 18), ReduceL2: reduceOp("l2", 18), ReduceLogSum: reduceOp("logsum", 18),
  ReduceLogSumExp: reduceOp("logsumexp", 18), ReduceSumSquare: reduceOp("sumsquare", 18),
  ArgMax: argOp("max"), ArgMin: argOp("min"),
  CumSum: (c) => {
    const x = inp(c, 0), ax = normAxis(c, host(inp(c, 1))[0]!, x.ndim);
    let y = c.a.i("reverse", 0) ? M.flip(x, [ax]) : x;
    const cs = keepType(x, R.cumsum(y, ax));
    y = c.a.i("exclusive", 0) ? cs.sub(y) : cs;
    return c.a.i("reverse", 0) ? M.flip(y, [ax]) : y;
  },
  TopK: topKOp, NonZero: nonZeroOp,
  // contractions, convolution, pooling, normalization
  Gemm: gemmOp, MatMul: binaryF((a, b) => L.matmul(a, b)), Einsum: (c) => L.einsum(c.a.s("equation", ""), ...(c.inputs as Tensor[])),
  Conv: convOp, ConvTranspose: convTransposeOp,
  MaxPool: poolOp("max"), AveragePool: poolOp("avg"), LpPool: poolOp("lp"),
  GlobalAveragePool: globalPool("avg"), GlobalMaxPool: globalPool("max"), GlobalLpPool: globalPool("lp"),
  BatchNormalization: batchNormOp, LayerNormalization: layerNormOp, InstanceNormalization: instanceNormOp,
  MeanVarianceNormalization: mvnOp, LRN: lrnOp,
  // shapes and indexing
  Reshape: reshapeOp, Flatten: flattenOp, Squeeze: squeezeOp, Unsqueeze: unsqueezeOp,
  Transpose: (c) => { const x = inp(c, 0); return x.permute(c.a.ints("perm") ?? [...Array(x.ndim).keys()].reverse()); },
  Concat: (c) => { const xs = c.inputs.filter((t): t is Tensor => !!t); return M.cat(xs, normAxis(c, c.a.i("axis", 0), xs[0]!.ndim)); },
  Split: splitOp, Slice: sliceOp, Gather: gatherOp, GatherElements: gatherElementsOp, GatherND: gatherNDOp,
  ScatterND: scatterNDOp, ScatterElements: scatterElementsOp, Scatter: scatterElementsOp,
  Expand: expandOp, Tile: (c) => inp(c, 0).repeat(host(inp(c, 1))), Pad: padOp,
  Shape: (c) => {
    const x = inp(c, 0), n = x.ndim;
    let s = c.a.i("start", 0), e = c.a.has("end") ? c.a.i("end", n) : n;
    s = Math.min(Math.max(s < 0 ? s + n : s, 0), n); e = Math.min(Math.max(e < 0 ? e + n : e, 0), n);
    return int64(x.shape.slice(s, Math.max(s, e)), undefined, x.device);
  },
  Size: (c) => int64([inp(c, 0).numel()], [], c.device),
  ConstantOfShape: (c) => {
    const shape = host(inp(c, 0)), v = c.a.t("value");
    if (!v) return C.zeros(shape, { dtype: "float32" });
    return M.expand(v.reshape(shape.map(() => 1)), shape);
  },
  Range: rangeOp, OneHot: oneHotOp,
  EyeLike: (c) => {
    const x = inp(c, 0), k = c.a.i("k", 0), dt: DType = c.a.has("dtype") ? strataDType("EyeLike", c.a.i("dtype", 1)) : x.dtype;
    const [n, m] = x.shape as [number, number];
    const r = C.arange(n, undefined, 1, { dtype: "int64" }).reshape([n, 1]), q = C.arange(m, undefined, 1, { dtype: "int64" }).reshape([1, m]);
    return q.sub(r).eq(k).to(dt);
  },
  Trilu: (c) => { const x = inp(c, 0), k = opt(c, 1) ? host(opt(c, 1)!)[0]! : 0; return c.a.i("upper", 1) ? I.triu(x, k) : I.tril(x, k); },
  DepthToSpace: depthToSpaceOp, SpaceToDepth: spaceToDepthOp,
  // types and plumbing
  Cast: castOp, CastLike: (c) => { const x = inp(c, 0), to = inp(c, 1).dtype; return x.dtype === to ? x : !isFloat(to) && to !== "bool" && isFloat(x.dtype) ? E.trunc(x).to(to) : x.to(to); },
  Constant: constantOp, Identity: (c) => inp(c, 0),
  Dropout: (c) => {
    const x = inp(c, 0);
    const ratio = c.opset >= 12 ? (opt(c, 1) ? host(opt(c, 1)!)[0]! : 0.5) : c.a.f("ratio", 0.5);
    const train = c.opset >= 12 ? (opt(c, 2) ? host(opt(c, 2)!)[0] !== 0 : false) || c.training : c.training;
    if (!train || ratio === 0) return [x, C.ones(x.shape, { dtype: "bool", device: x.device })];
    const keep = C.rand(x.shape, { device: x.device }).ge(ratio);
    return [E.where(keep, x.div(1 - ratio), 0), keep];
  },
  // control flow, recurrent, quantization
  If: ifOp, Loop: loopOp,
  RNN: rnnFamily("RNN"), GRU: rnnFamily("GRU"), LSTM: rnnFamily("LSTM"),
  QuantizeLinear: quantizeOp, DequantizeLinear: dequantizeOp,
};
