/**
 * Collation: turning a list of samples into a batch. The default stacks tensors, numbers and typed
 * arrays into batched tensors and recurses into arrays and plain objects, like PyTorch's
 * `default_collate`.
 */
import { getBackend } from "../engine/device.ts";
import { realize } from "../engine/realize.ts";
import type { HostArray } from "../ir/backend.ts";
import type { DType } from "../ir/dtype.ts";
import { DTypeError, ShapeError, ValueError } from "../ir/errors.ts";
import { fmtShape } from "../ir/shape.ts";
import { tensor } from "../tensor/create.ts";
import { stack } from "../tensor/movement.ts";
import { isPlainObject } from "../tensor/scope.ts";
import { Tensor } from "../tensor/tensor.ts";

type AnyTyped = Exclude<ArrayBufferView, DataView>;


/** The Strata dtype a typed array collates to (types Strata lacks widen: int8/int16/uint16 -> int32, uint32 -> int64). */
function typedDType(a: AnyTyped): DType {
  if (a instanceof Float32Array) return "float32";
  if (a instanceof Float64Array) return "float64";
  if (a instanceof Int32Array || a instanceof Int8Array || a instanceof Int16Array || a instanceof Uint16Array) return "int32";
  if (a instanceof Uint8Array || a instanceof Uint8ClampedArray) return "uint8";
  if (a instanceof BigInt64Array || a instanceof Uint32Array) return "int64";
  throw new DTypeError(`collate: typed arrays of type ${a.constructor.name} cannot be batched`);
}

/** A typed array of `n` elements, able to hold `dtype` values as a backend reads them. */
function hostArrayFor(dtype: DType, n: number): HostArray {
  switch (dtype) {
    case "float64": return new Float64Array(n);
    case "int32": return new Int32Array(n);
    case "int64": return new BigInt64Array(n);
    case "uint8": case "bool": return new Uint8Array(n);
    default: return new Float32Array(n);
  }
}

/**
 * Stacks equal-shaped tensors into one [B, ...shape] tensor. On devices that read synchronously
 * (the CPU ones) the samples are computed in one realization and copied into one host array:
 * `st.stack` of B tensors builds a graph whose kernels grow with B. Tensors that require grad are
 * stacked with `st.stack`, so gradients flow.
 */
export function stackTensors(items: readonly Tensor[]): Tensor {
  const first = items[0]!;
  items.forEach((t, i) => {
    if (t.shape.length !== first.shape.length || t.shape.some((s, k) => s !== first.shape[k])) {
      throw new ShapeError(`collate: stack expects each tensor to be equal size, but got ${fmtShape(first.shape)} at entry 0 and ${fmtShape(t.shape)} at entry ${i}`);
    }
    if (t.dtype !== first.dtype) throw new DTypeError(`collate: samples must have one dtype, but got ${first.dtype} at entry 0 and ${t.dtype} at entry ${i}`);
    if (t.device !== first.device) throw new DTypeError(`collate: samples must be on one device, but got ${first.device} at entry 0 and ${t.device} at entry ${i}`);
  });
  if (!getBackend(first.device).readSync || items.some((t) => t.requiresGrad)) return stack(items);
  // Copies of the unrealized samples are computed together (one schedule) and freed after the
  // read, so the samples themselves stay lazy and keep no buffers.
  const copies = items.map((t) => (t.node.realized ? null : t.clone()));
  try {
    const pending = copies.filter((c): c is Tensor => c !== null);
    if (pending.length) realize(pending.map((c) => c.node));
    const size = first.numel();
    let out: HostArray | null = null;
    items.forEach((t, i) => {
      const data = (copies[i] ?? t).dataSync();
      out ??= hostArrayFor(first.dtype, items.length * size);
      (out as Float32Array).set(data as Float32Array, i * size);
    });
    return tensor(out!, { dtype: first.dtype, device: first.device }).reshape([items.length, ...first.shape]);
  } finally {
    for (const c of copies) c?.dispose();
  }
}

function collateNumbers(items: readonly number[]): Tensor {
  const allInt = items.every(Number.isInteger);
  return tensor(Float64Array.from(items), { dtype: allInt ? "int64" : "float32" });
}

/**
 * The type of a batch that `defaultCollate` makes from samples of type `T`: tensors, numbers,
 * booleans, bigints and typed arrays become tensors; strings (and null, undefined) lists of them;
 * arrays and objects are mapped field by field.
 */
export type Collated<T> =
  T extends Tensor ? Tensor
    : T extends number | boolean | bigint | ArrayBufferView ? Tensor
    : T extends string | null | undefined ? T[]
    : T extends readonly unknown[] ? { -readonly [K in keyof T]: Collated<T[K]> }
    : T extends object ? { -readonly [K in keyof T]: Collated<T[K]> }
    : unknown;

/**
 * PyTorch's `default_collate` for Strata: a list of samples to a batch.
 * - tensors of one shape and dtype -> one tensor [B, ...shape];
 * - numbers -> [B], int64 when all are integers, else float32; booleans -> bool; bigints -> int64;
 * - typed arrays of one length -> [B, length] (Float32Array -> float32, Int32Array -> int32, ...);
 * - arrays (tuples) -> an array of the collated positions; plain objects -> an object of the
 *   collated fields; strings, null and undefined -> the list as it is.
 *
 * @example
 * st.data.defaultCollate([[st.tensor([1, 2]), 0], [st.tensor([3, 4]), 1]]) // [tensor [2, 2], int64 tensor [0, 1]]
 */
export function defaultCollate(items: readonly unknown[]): unknown {
  if (!items.length) throw new ValueError("collate: expected at least one sample");
  return collateAt(items, "batch");
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (ArrayBuffer.isView(v)) return v.constructor.name;
  if (typeof v === "object") return (v as object).constructor?.name ?? "object";
  return typeof v;
}

function collateAt(items: readonly unknown[], path: string): unknown {
  const first = items[0];
  const kind = describe(first);
  items.forEach((v, i) => {
    const k = describe(v);
    if (k !== kind) throw new ValueError(`collate: samples differ at ${path}: entry 0 is ${kind}, entry ${i} is ${k}`);
  });
  if (first instanceof Tensor) return stackTensors(items as Tensor[]);
  if (typeof first === "number") return collateNumbers(items as number[]);
  if (typeof first === "boolean") return tensor(Uint8Array.from(items as boolean[], (b) => (b ? 1 : 0)), { dtype: "bool" });
  if (typeof first === "bigint") return tensor(BigInt64Array.from(items as bigint[]));
  if (typeof first === "string" || first === null || first === undefined) return [...items];
  if (ArrayBuffer.isView(first) && !(first instanceof DataView)) {
    const arrays = items as AnyTyped[];
    const len = (first as AnyTyped & { length: number }).length;
    const dtype = typedDType(first);
    arrays.forEach((a, i) => {
      const l = (a as AnyTyped & { length: number }).length;
      if (l !== len) throw new ShapeError(`collate: typed arrays at ${path} must have one length, but got ${len} at entry 0 and ${l} at entry ${i}`);
    });
    let out: HostArray;
    if (dtype === "int64") {
      out = new BigInt64Array(items.length * len);
      arrays.forEach((a, i) => {
        const src = a as BigInt64Array | Uint32Array;
        for (let k = 0; k < len; k++) (out as BigInt64Array)[i * len + k] = BigInt(src[k]!);
      });
    } else {
      out = hostArrayFor(dtype, items.length * len);
      arrays.forEach((a, i) => (out as Float32Array).set(a as unknown as Float32Array, i * len));
    }
    return tensor(out, { dtype }).reshape([items.length, len]);
  }
  if (Array.isArray(first)) {
    const n = first.length;
    items.forEach((v, i) => {
      if ((v as unknown[]).length !== n) throw new ShapeError(`collate: each sample at ${path} should have the same number of elements, but entry 0 has ${n} and entry ${i} has ${(v as unknown[]).length}`);
    });
    return Array.from({ length: n }, (_, k) => collateAt(items.map((v) => (v as unknown[])[k]), `${path}[${k}]`));
  }
  if (isPlainObject(first)) {
    const keys = Object.keys(first);
    const out: Record<string, unknown> = {};
    items.forEach((v, i) => {
      const ks = Object.keys(v as object);
      if (ks.length !== keys.length || !keys.every((k) => k in (v as object))) {
        throw new ValueError(`collate: samples at ${path} have different keys: entry 0 has {${keys.join(", ")}}, entry ${i} has {${ks.join(", ")}}`);
      }
    });
    for (const k of keys) out[k] = collateAt(items.map((v) => (v as Record<string, unknown>)[k]), `${path}.${k}`);
    return out;
  }
  throw new ValueError(`collate: cannot batch values of type ${kind} at ${path}; pass a collateFn to the DataLoader`);
}

/** Every tensor inside a batch (arrays, Maps, plain objects), each once. */
export function tensorsIn(v: unknown, out: Set<Tensor> = new Set(), depth = 0): Set<Tensor> {
  if (v instanceof Tensor) out.add(v);
  else if (depth > 16 || v === null || typeof v !== "object") return out;
  else if (Array.isArray(v)) for (const x of v) tensorsIn(x, out, depth + 1);
  else if (v instanceof Map) for (const x of v.values()) tensorsIn(x, out, depth + 1);
  else if (isPlainObject(v)) for (const x of Object.values(v)) tensorsIn(x, out, depth + 1);
  return out;
}
