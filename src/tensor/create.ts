/**
 * Creating tensors: from JS data, filled, ranges, identity, and random.
 */
import { allocBuffer, getBackend, getDefaultDevice } from "../engine/device.ts";
import { bufferNode } from "../engine/lazy.ts";
import { assertDType, type DType, isFloat } from "../ir/dtype.ts";
import { DTypeError, ShapeError, ValueError } from "../ir/errors.ts";
import { checkShape, numel } from "../ir/shape.ts";
import { apply } from "./apply.ts";
import { hostUniform, takeCounters } from "./random.ts";
import { type NestedArray, type Scalar, Tensor } from "./tensor.ts";

export interface CreateOpts {
  dtype?: DType;
  device?: string;
  requiresGrad?: boolean;
}

type TypedInput = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | Int8Array | Int16Array | Uint16Array | Uint32Array;
export type TensorData = NestedArray | TypedInput;

const TYPED_DTYPE = (a: TypedInput): DType =>
  a instanceof Float64Array ? "float64" : a instanceof BigInt64Array ? "int64" : a instanceof Int32Array ? "int32"
    : a instanceof Uint8Array ? "uint8" : a instanceof Float32Array ? "float32" : "int32";

function finish(t: Tensor, opts: CreateOpts): Tensor {
  if (opts.requiresGrad) t.requiresGrad_(true);
  return t;
}

function fromValues(values: ArrayLike<number> | ArrayLike<bigint>, shape: readonly number[], dtype: DType, device: string): Tensor {
  const buf = allocBuffer(device, dtype, numel(shape));
  if (buf.size) getBackend(device).write(buf, values);
  return new Tensor(bufferNode(buf, shape, device));
}

/**
 * A tensor from nested arrays, a typed array (1-D) or a scalar, like `torch.tensor`. JS numbers
 * default to float32 (a JS number does not say whether it is an integer type), booleans to bool;
 * typed arrays keep their type (Int32Array -> int32, BigInt64Array -> int64, ...).
 *
 * @example
 * const x = st.tensor([[1, 2], [3, 4]]);                 // float32 [2, 2]
 * const y = st.tensor([0, 2, 1], { dtype: "int64" });    // class indices
 */
export function tensor(data: TensorData, opts: CreateOpts = {}): Tensor {
  const device = opts.device ?? getDefaultDevice();
  if (ArrayBuffer.isView(data)) {
    const dtype = opts.dtype ? assertDType("tensor", opts.dtype) : TYPED_DTYPE(data as TypedInput);
    return finish(fromValues(data as TypedInput, [(data as TypedInput).length], dtype, device), opts);
  }
  const shape: number[] = [];
  let probe: NestedArray = data as NestedArray;
  while (Array.isArray(probe)) {
    shape.push(probe.length);
    probe = probe[0] as NestedArray;
    if (probe === undefined) break;
  }
  const flat: number[] = [];
  let sawBool = false, sawNumber = false;
  const walk = (v: NestedArray, depth: number, path: string) => {
    if (depth === shape.length) {
      if (Array.isArray(v)) throw new ShapeError(`tensor: the nested array is ragged at ${path} (expected a number, found an array)`);
      if (typeof v === "boolean") { sawBool = true; flat.push(v ? 1 : 0); return; }
      if (typeof v !== "number") throw new ValueError(`tensor: expected numbers or booleans, found ${typeof v} at ${path}`);
      sawNumber = true;
      flat.push(v);
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[depth]) {
      throw new ShapeError(`tensor: the nested array is ragged at ${path} (expected length ${shape[depth]}, got ${Array.isArray(v) ? v.length : "a scalar"})`);
    }
    v.forEach((x, i) => walk(x as NestedArray, depth + 1, `${path}[${i}]`));
  };
  walk(data as NestedArray, 0, "data");
  const inferred: DType = sawBool && !sawNumber ? "bool" : "float32";
  const dtype = opts.dtype ? assertDType("tensor", opts.dtype) : inferred;
  return finish(fromValues(flat, shape, dtype, device), opts);
}

/** Accepts `[2, 3]` or a single size `5`. */
export type Size = readonly number[] | number;
const toShape = (op: string, s: Size): number[] => checkShape(op, typeof s === "number" ? [s] : s);

/**
 * A tensor filled with `value`.
 *
 * @example
 * st.full([2, 3], 7); // float32, all 7
 */
export function full(size: Size, value: Scalar, opts: CreateOpts = {}): Tensor {
  const dtype = opts.dtype !== undefined ? assertDType("full", opts.dtype) : typeof value === "boolean" ? "bool" : "float32";
  const shape = toShape("full", size);
  const c = apply("const", [], { value: Number(value), shape: [], dtype }, opts.device ?? getDefaultDevice());
  const t = shape.length ? apply("expand", [apply("reshape", [c], { shape: shape.map(() => 1) })], { shape }) : c;
  return finish(t, opts);
}
export const zeros = (size: Size, opts: CreateOpts = {}): Tensor => full(size, 0, opts);
export const ones = (size: Size, opts: CreateOpts = {}): Tensor => full(size, 1, opts);
/** Like `torch.empty`; Strata fills with zeros. */
export const empty = (size: Size, opts: CreateOpts = {}): Tensor => full(size, 0, opts);

const likeOpts = (t: Tensor, opts: CreateOpts): CreateOpts => ({ dtype: t.dtype, device: t.device, ...opts });
export const zerosLike = (t: Tensor, opts: CreateOpts = {}): Tensor => zeros(t.shape, likeOpts(t, opts));
export const onesLike = (t: Tensor, opts: CreateOpts = {}): Tensor => ones(t.shape, likeOpts(t, opts));
export const fullLike = (t: Tensor, v: Scalar, opts: CreateOpts = {}): Tensor => full(t.shape, v, likeOpts(t, opts));
export const emptyLike = zerosLike;

/**
 * Values from `start` to `end` (exclusive) by `step`: `arange(end)` or `arange(start, end, step)`.
 * Integer arguments give int64, as in PyTorch; any fractional argument gives float32.
 *
 * @example
 * st.arange(5)          // [0, 1, 2, 3, 4] int64
 * st.arange(0, 1, 0.25) // [0, 0.25, 0.5, 0.75] float32
 */
export function arange(startOrEnd: number, end?: number, step = 1, opts: CreateOpts = {}): Tensor {
  const [start, stop] = end === undefined ? [0, startOrEnd] : [startOrEnd, end];
  if (step === 0) throw new ValueError("arange: step must be nonzero");
  if ((stop - start) / step < 0 && stop !== start) throw new ValueError(`arange: upper bound and step are inconsistent (start ${start}, end ${stop}, step ${step})`);
  const n = Math.max(0, Math.ceil((stop - start) / step));
  const allInt = [start, stop, step].every(Number.isInteger);
  const dtype = opts.dtype !== undefined ? assertDType("arange", opts.dtype) : allInt ? "int64" : "float32";
  const device = opts.device ?? getDefaultDevice();
  // Computed in float64 and cast once, so float32 ranges match PyTorch's values.
  const iota = apply("iota", [], { shape: [n], axis: 0, dtype: "float64" }, device);
  let v = iota;
  if (step !== 1) v = v.mul(step);
  if (start !== 0) v = v.add(start);
  return finish(v.to(dtype), opts);
}

/**
 * `steps` values evenly spaced from `start` to `end` inclusive.
 *
 * @example
 * st.linspace(0, 1, 5) // [0, 0.25, 0.5, 0.75, 1]
 */
export function linspace(start: number, end: number, steps: number, opts: CreateOpts = {}): Tensor {
  if (!Number.isInteger(steps) || steps < 0) throw new ValueError(`linspace: steps must be a non-negative integer, got ${steps}`);
  const device = opts.device ?? getDefaultDevice();
  const i = apply("iota", [], { shape: [steps], axis: 0, dtype: "float64" }, device);
  const d = steps > 1 ? (end - start) / (steps - 1) : 0;
  // Like PyTorch: the second half counts back from `end`, so both ends are exact.
  const half = Math.floor(steps / 2);
  const fromStart = i.mul(d).add(start);
  const fromEnd = i.sub(steps - 1).mul(d).add(end);
  const v = steps > 1 ? fromEnd.where(i.ge(half), fromStart) : fromStart;
  return finish(v.to(assertDType("linspace", opts.dtype ?? "float32")), opts);
}

/**
 * The identity matrix, `n` x `m` (m defaults to n).
 *
 * @example
 * st.eye(3)
 */
export function eye(n: number, m = n, opts: CreateOpts = {}): Tensor {
  const device = opts.device ?? getDefaultDevice();
  const r = apply("iota", [], { shape: [n, m], axis: 0, dtype: "int32" }, device);
  const c = apply("iota", [], { shape: [n, m], axis: 1, dtype: "int32" }, device);
  return finish(r.eq(c).to(assertDType("eye", opts.dtype ?? "float32")), opts);
}

function checkFloat(op: string, d: DType): DType {
  if (!isFloat(assertDType(op, d))) throw new DTypeError(`${op}: expected a floating point dtype, got ${d}`);
  return d;
}

/**
 * Samples from U[0, 1), from the seeded counter-based generator (`st.manualSeed`).
 *
 * @example
 * st.manualSeed(0);
 * const x = st.rand([2, 3]);
 */
export function rand(size: Size, opts: CreateOpts = {}): Tensor {
  const shape = toShape("rand", size);
  const dtype = checkFloat("rand", opts.dtype ?? "float32");
  const { key, offset } = takeCounters(numel(shape));
  return finish(apply("random", [], { shape, dtype, key, offset }, opts.device ?? getDefaultDevice()), opts);
}

/**
 * Samples from N(0, 1) (Box-Muller over two uniform streams).
 *
 * @example
 * const w = st.randn([784, 10], { requiresGrad: true });
 */
export function randn(size: Size, opts: CreateOpts = {}): Tensor {
  const shape = toShape("randn", size);
  const dtype = checkFloat("randn", opts.dtype ?? "float32");
  const work: DType = dtype === "float64" ? "float64" : "float32";
  const u1 = rand(shape, { dtype: work, device: opts.device });
  const u2 = rand(shape, { dtype: work, device: opts.device });
  const r = u1.rsub(1).log().mul(-2).sqrt();
  return finish(r.mul(u2.mul(2 * Math.PI).cos()).to(dtype), opts);
}

export const randLike = (t: Tensor, opts: CreateOpts = {}): Tensor => rand(t.shape, likeOpts(t, opts));
export const randnLike = (t: Tensor, opts: CreateOpts = {}): Tensor => randn(t.shape, likeOpts(t, opts));

/**
 * Random integers in [low, high): `randint(high, size)` or `randint(low, high, size)`; int64.
 *
 * @example
 * st.randint(0, 10, [4]) // e.g. [3, 7, 0, 9]
 */
export function randint(low: number, high: number | Size, size?: Size | CreateOpts, opts: CreateOpts = {}): Tensor {
  let lo = low, hi: number, sz: Size;
  if (typeof high !== "number" || size === undefined || (typeof size === "object" && !Array.isArray(size))) {
    lo = 0; hi = low; sz = high as Size; opts = (size as CreateOpts) ?? opts;
  } else {
    hi = high; sz = size as Size;
  }
  if (!(hi > lo)) throw new ValueError(`randint: expected low < high, got low=${lo}, high=${hi}`);
  const dtype = assertDType("randint", opts.dtype ?? "int64");
  const u = rand(sz, { dtype: "float64", device: opts.device });
  return finish(u.mul(hi - lo).floor().add(lo).to(dtype), opts);
}

/**
 * A random permutation of 0..n-1 (int64).
 *
 * @example
 * st.randperm(5) // e.g. [2, 0, 4, 1, 3]
 */
export function randperm(n: number, opts: CreateOpts = {}): Tensor {
  if (!Number.isInteger(n) || n < 0) throw new ValueError(`randperm: n must be a non-negative integer, got ${n}`);
  const u = hostUniform(n);
  const perm = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(u[i]! * (i + 1));
    [perm[i], perm[j]] = [perm[j]!, perm[i]!];
  }
  return fromValues(perm, [n], assertDType("randperm", opts.dtype ?? "int64"), opts.device ?? getDefaultDevice());
}

/** A 0-d tensor holding a scalar, on a device with a dtype. */
export function scalar(v: Scalar, dtype: DType, device: string): Tensor {
  return apply("const", [], { value: Number(v), shape: [], dtype }, device);
}
