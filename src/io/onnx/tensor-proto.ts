/**
 * ONNX TensorProto <-> Strata tensors: dtypes, the data fields, raw little-endian bytes, and
 * external data (a plain file name inside the model's folder, checked before anything is read).
 */
import { f16val, bf16val } from "../../backends/js/runtime.ts";
import { allocBuffer, getBackend, getDefaultDevice } from "../../engine/device.ts";
import { bufferNode } from "../../engine/lazy.ts";
import type { DType } from "../../ir/dtype.ts";
import { ValueError } from "../../ir/errors.ts";
import { Tensor } from "../../tensor/tensor.ts";
import type { Int64, OnnxTensorProto } from "./schema.ts";

/** Any problem with an ONNX file or graph. */
export class OnnxError extends ValueError {
  override name = "OnnxError";
}

/** ONNX data types (TensorProto.DataType) by number: name, byte size, the Strata dtype holding the values. */
export const ONNX_DTYPES: Record<number, { name: string; bytes: number; to: DType | null }> = {
  1: { name: "FLOAT", bytes: 4, to: "float32" }, 2: { name: "UINT8", bytes: 1, to: "uint8" }, 3: { name: "INT8", bytes: 1, to: "int32" },
  4: { name: "UINT16", bytes: 2, to: "int32" }, 5: { name: "INT16", bytes: 2, to: "int32" }, 6: { name: "INT32", bytes: 4, to: "int32" },
  7: { name: "INT64", bytes: 8, to: "int64" }, 8: { name: "STRING", bytes: 0, to: null }, 9: { name: "BOOL", bytes: 1, to: "bool" },
  10: { name: "FLOAT16", bytes: 2, to: "float16" }, 11: { name: "DOUBLE", bytes: 8, to: "float64" }, 12: { name: "UINT32", bytes: 4, to: "int64" },
  13: { name: "UINT64", bytes: 8, to: "int64" }, 14: { name: "COMPLEX64", bytes: 8, to: null }, 15: { name: "COMPLEX128", bytes: 16, to: null },
  16: { name: "BFLOAT16", bytes: 2, to: "bfloat16" },
};

/** The Strata dtype for an ONNX data type number, or an error naming it. */
export function strataDType(what: string, t: number): DType {
  const d = ONNX_DTYPES[t];
  if (!d) throw new OnnxError(`${what}: unknown ONNX data type ${t}`);
  if (!d.to) throw new OnnxError(`${what}: ONNX data type ${d.name} is not supported`);
  return d.to;
}

/** An int64 field as a JS number; throws when it is not a safe integer. */
export function int(v: Int64 | undefined | null, what = "value"): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === "number") return v;
  const n = Number(v.toString());
  if (!Number.isSafeInteger(n)) throw new OnnxError(`${what}: ${v.toString()} is out of range`);
  return n;
}
const bigOf = (v: Int64): bigint => BigInt(typeof v === "number" ? Math.trunc(v) : v.toString());

export interface TensorLoadOpts {
  /** The folder of the model file (external data is resolved in it); none for models given as bytes. */
  dir?: string;
  device?: string;
  /** Largest element count of one tensor (default 2^31 - 1). */
  maxElements?: number;
  /** Node's fs module (sync calls), given by the loader so that importing Strata needs no file system. */
  fs?: typeof import("node:fs");
  path?: typeof import("node:path");
}

const DEFAULT_MAX_ELEMENTS = 2 ** 31 - 1;

/** Shape of a TensorProto, checked: non-negative dims, element count within the limit. */
export function checkedShape(t: OnnxTensorProto, what: string, maxElements = DEFAULT_MAX_ELEMENTS): { shape: number[]; count: number } {
  let count = 1n;
  for (const d of t.dims) {
    const b = bigOf(d);
    if (b < 0n) throw new OnnxError(`${what}: negative dimension ${b} in shape [${t.dims.map(String).join(", ")}]`);
    count *= b;
  }
  if (count > BigInt(maxElements)) {
    throw new OnnxError(`${what}: shape [${t.dims.map(String).join(", ")}] has ${count} elements, more than the limit ${maxElements}`);
  }
  return { shape: t.dims.map((d) => Number(bigOf(d))), count: Number(count) };
}

/** Checks an external-data location: a plain file name (no folders, no `..`, not absolute). */
export function checkExternalLocation(location: string, what: string): void {
  if (!location || location === "." || location === ".." || /[/\\]/.test(location) || location.includes("\0") || /^[A-Za-z]:/.test(location)) {
    throw new OnnxError(`${what}: external data location '${location}' must be a plain file name inside the model's folder (no absolute paths, folders or '..')`);
  }
}

function externalBytes(t: OnnxTensorProto, what: string, nbytes: number, opts: TensorLoadOpts): Uint8Array {
  const kv = new Map(t.externalData.map((e) => [e.key, e.value]));
  const location = kv.get("location") ?? "";
  checkExternalLocation(location, what);
  if (!opts.dir || !opts.fs || !opts.path) throw new OnnxError(`${what}: external data '${location}' needs the model to be loaded from a file path`);
  const file = opts.path.join(opts.dir, location);
  let st;
  try {
    st = opts.fs.lstatSync(file);
  } catch {
    throw new OnnxError(`${what}: external data file '${location}' not found next to the model`);
  }
  if (st.isSymbolicLink()) throw new OnnxError(`${what}: external data file '${location}' is a symbolic link, which is not allowed`);
  if (!st.isFile()) throw new OnnxError(`${what}: external data '${location}' is not a regular file`);
  const offset = kv.has("offset") ? Number(kv.get("offset")) : 0;
  const length = kv.has("length") ? Number(kv.get("length")) : nbytes;
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
    throw new OnnxError(`${what}: bad external data offset/length (${kv.get("offset")}, ${kv.get("length")})`);
  }
  if (length !== nbytes) throw new OnnxError(`${what}: external data length ${length} does not match the tensor's ${nbytes} bytes`);
  if (offset + length > st.size) throw new OnnxError(`${what}: external data [${offset}, ${offset + length}) is past the end of '${location}' (${st.size} bytes)`);
  const out = new Uint8Array(length);
  const fd = opts.fs.openSync(file, opts.fs.constants.O_RDONLY | (opts.fs.constants.O_NOFOLLOW ?? 0));
  try {
    let done = 0;
    while (done < length) {
      const n = opts.fs.readSync(fd, out, done, length - done, offset + done);
      if (n <= 0) throw new OnnxError(`${what}: external data file '${location}' ended early`);
      done += n;
    }
  } finally {
    opts.fs.closeSync(fd);
  }
  return out;
}

/** Decodes little-endian bytes of an ONNX type into host values. */
function decodeRaw(type: number, raw: Uint8Array, count: number): ArrayLike<number> | ArrayLike<bigint> {
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const get = (fn: (i: number) => number) => {
    const out = new Float64Array(count);
    for (let i = 0; i < count; i++) out[i] = fn(i);
    return out;
  };
  switch (type) {
    case 1: { const o = new Float32Array(count); for (let i = 0; i < count; i++) o[i] = dv.getFloat32(4 * i, true); return o; }
    case 11: return get((i) => dv.getFloat64(8 * i, true));
    case 2: case 9: return raw.slice(0, count);
    case 3: return get((i) => dv.getInt8(i));
    case 4: return get((i) => dv.getUint16(2 * i, true));
    case 5: return get((i) => dv.getInt16(2 * i, true));
    case 6: return get((i) => dv.getInt32(4 * i, true));
    case 12: return get((i) => dv.getUint32(4 * i, true));
    case 7: { const o = new BigInt64Array(count); for (let i = 0; i < count; i++) o[i] = dv.getBigInt64(8 * i, true); return o; }
    case 13: { const o = new BigInt64Array(count); for (let i = 0; i < count; i++) o[i] = BigInt.asIntN(64, dv.getBigUint64(8 * i, true)); return o; }
    case 10: return get((i) => f16val(dv.getUint16(2 * i, true)));
    case 16: return get((i) => bf16val(dv.getUint16(2 * i, true)));
    default: throw new OnnxError(`raw data of ONNX type ${type} is not supported`);
  }
}

/** Host values of a TensorProto (checked against its shape), plus its shape and Strata dtype. */
export function tensorProtoValues(t: OnnxTensorProto, opts: TensorLoadOpts = {}, label?: string): { values: ArrayLike<number> | ArrayLike<bigint>; shape: number[]; dtype: DType } {
  const what = `tensor '${label ?? t.name ?? ""}'`;
  const dtype = strataDType(what, t.dataType);
  const { shape, count } = checkedShape(t, what, opts.maxElements);
  const size = ONNX_DTYPES[t.dataType]!.bytes;
  if (t.dataLocation === 1 || (t.externalData && t.externalData.length)) {
    return { values: decodeRaw(t.dataType, externalBytes(t, what, count * size, opts), count), shape, dtype };
  }
  if (t.rawData && t.rawData.length) {
    if (t.rawData.length !== count * size) throw new OnnxError(`${what}: raw data has ${t.rawData.length} bytes, expected ${count * size} for shape [${shape.join(", ")}]`);
    return { values: decodeRaw(t.dataType, t.rawData, count), shape, dtype };
  }
  let field: ArrayLike<number> | ArrayLike<Int64>;
  let fieldName: string;
  switch (t.dataType) {
    case 1: field = t.floatData; fieldName = "float_data"; break;
    case 11: field = t.doubleData; fieldName = "double_data"; break;
    case 7: field = t.int64Data; fieldName = "int64_data"; break;
    case 12: case 13: field = t.uint64Data; fieldName = "uint64_data"; break;
    default: field = t.int32Data; fieldName = "int32_data";
  }
  if (field.length !== count) throw new OnnxError(`${what}: ${fieldName} has ${field.length} values, expected ${count} for shape [${shape.join(", ")}]`);
  let values: ArrayLike<number> | ArrayLike<bigint>;
  if (t.dataType === 7 || t.dataType === 13) values = BigInt64Array.from(field as ArrayLike<Int64>, (v) => BigInt.asIntN(64, bigOf(v)));
  else if (t.dataType === 12) values = Float64Array.from(field as ArrayLike<Int64>, (v) => Number(bigOf(v)));
  else if (t.dataType === 10) values = Float64Array.from(field as ArrayLike<number>, (v) => f16val(v & 0xffff));
  else if (t.dataType === 16) values = Float64Array.from(field as ArrayLike<number>, (v) => bf16val(v & 0xffff));
  else values = field as ArrayLike<number>;
  return { values, shape, dtype };
}

/** A tensor holding `values` with `shape` as one buffer. */
export function hostTensor(values: ArrayLike<number> | ArrayLike<bigint>, shape: readonly number[], dtype: DType, device = getDefaultDevice()): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const buf = allocBuffer(device, dtype, n);
  if (buf.size) getBackend(device).write(buf, values);
  return new Tensor(bufferNode(buf, shape, device));
}

/** A Strata tensor from a TensorProto. */
export function tensorFromProto(t: OnnxTensorProto, opts: TensorLoadOpts = {}, label?: string): Tensor {
  const { values, shape, dtype } = tensorProtoValues(t, opts, label);
  return hostTensor(values, shape, dtype, opts.device);
}
