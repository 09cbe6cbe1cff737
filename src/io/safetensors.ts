/**
 * safetensors: the native file format for weights and checkpoints, read and written byte for byte
 * as the reference implementation does, so that files move between Strata and PyTorch.
 *
 * Layout: an unsigned 64-bit little-endian header length `N`, then `N` bytes of UTF-8 JSON (padded
 * with spaces to a multiple of 8), then the data section. The header maps each tensor name to
 * `{ dtype, shape, data_offsets: [begin, end] }` (offsets into the data section) and may hold a
 * `__metadata__` object of string to string. Tensors are stored row-major, little-endian, back to
 * back; together they cover the data section exactly.
 *
 * Parsing checks everything the reference reader checks, and raises a `SafetensorsError` naming
 * what is wrong before it allocates anything the size of the data: the header length (at most
 * 100 MB, within the file), the JSON, each dtype, shape and offset pair, that sizes match
 * shape x dtype, and that the tensors are contiguous, do not overlap and end where the file ends.
 *
 * @example
 * await st.io.saveFile({ weight: st.randn([2, 3]) }, "w.safetensors", { format: "pt" });
 * const { weight } = await st.io.loadFile("w.safetensors"); // float32 [2, 3]
 */
import { open, readFile } from "node:fs/promises";
import { endianness } from "node:os";
import { bf16bits, bf16val, f16bits, f16val } from "../backends/js/runtime.ts";
import { allocBuffer, getBackend, getDefaultDevice } from "../engine/device.ts";
import { bufferNode } from "../engine/lazy.ts";
import type { DType } from "../ir/dtype.ts";
import { ValueError } from "../ir/errors.ts";
import { fmtShape } from "../ir/shape.ts";
import { Tensor } from "../tensor/tensor.ts";
import { atomicWriteFile } from "./atomic.ts";

/** A malformed or unsupported safetensors file, or values that cannot be written as one. */
export class SafetensorsError extends ValueError {
  override name = "SafetensorsError";
}

/** The dtype names of the format. */
export type SafetensorsDType =
  | "F64" | "F32" | "F16" | "BF16" | "I64" | "I32" | "I16" | "I8" | "U64" | "U32" | "U16" | "U8" | "BOOL" | "F8_E4M3" | "F8_E5M2";

/** Bytes per element, and the Strata dtype each file dtype is read into (the nearest that holds every value). */
const FILE_DTYPES: { readonly [D in SafetensorsDType]: { bytes: number; to: DType } } = {
  F64: { bytes: 8, to: "float64" },
  F32: { bytes: 4, to: "float32" },
  F16: { bytes: 2, to: "float16" },
  BF16: { bytes: 2, to: "bfloat16" },
  I64: { bytes: 8, to: "int64" },
  I32: { bytes: 4, to: "int32" },
  I16: { bytes: 2, to: "int32" },
  I8: { bytes: 1, to: "int32" },
  U64: { bytes: 8, to: "int64" },
  U32: { bytes: 4, to: "int64" },
  U16: { bytes: 2, to: "int32" },
  U8: { bytes: 1, to: "uint8" },
  BOOL: { bytes: 1, to: "bool" },
  F8_E4M3: { bytes: 1, to: "float32" },
  F8_E5M2: { bytes: 1, to: "float32" },
};

/** The file dtype each Strata dtype is written as. */
const WRITE_DTYPE: { readonly [D in DType]: SafetensorsDType } = {
  float64: "F64", float32: "F32", float16: "F16", bfloat16: "BF16", int64: "I64", int32: "I32", uint8: "U8", bool: "BOOL",
};

/** The reference reader's limit on the header length. */
export const MAX_HEADER_BYTES = 100_000_000;

/** One tensor's entry in the header. */
export interface TensorInfo {
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  /** [begin, end) in bytes, relative to the start of the data section. */
  readonly dataOffsets: readonly [number, number];
}

/** A parsed and validated header. */
export interface SafetensorsHeader {
  /** The `__metadata__` strings (empty when the file has none). */
  readonly metadata: Record<string, string>;
  /** Tensor entries, in the order of their data. */
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  /** Where the data section starts in the file: 8 + header length. */
  readonly dataStart: number;
  /** The length of the data section. */
  readonly dataBytes: number;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const fail = (msg: string): never => {
  throw new SafetensorsError(`safetensors: ${msg}`);
};

/** Reads the 8-byte length prefix and checks it against the limit and the total size. */
function headerLength(prefix: Uint8Array, totalBytes: number): number {
  if (totalBytes < 8) fail(`the file has ${totalBytes} bytes, too few for the 8-byte header length (truncated or not a safetensors file)`);
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) fail(`the header length ${n} exceeds the limit of ${MAX_HEADER_BYTES} bytes (corrupt or not a safetensors file)`);
  const len = Number(n);
  if (8 + len > totalBytes) fail(`the header length ${len} runs past the end of the file (${totalBytes} bytes; truncated?)`);
  return len;
}

/**
 * Validates a header given its bytes (the JSON, without the length prefix) and the length of the
 * data section that follows it. Raises a `SafetensorsError` on anything malformed.
 */
export function parseHeaderJson(json: Uint8Array, dataBytes: number): SafetensorsHeader {
  let text = "";
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(json);
  } catch {
    fail("the header is not valid UTF-8");
  }
  if (!text.startsWith("{")) fail(`the header must be a JSON object starting with '{', found ${JSON.stringify(text.slice(0, 16))}`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    fail(`the header is not valid JSON (${(e as Error).message})`);
  }
  if (!isPlainObject(raw)) fail("the header must be a JSON object");
  const obj = raw as Record<string, unknown>;
  const metadata: Record<string, string> = {};
  const entries: [string, TensorInfo][] = [];
  for (const [name, v] of Object.entries(obj)) {
    if (name === "__metadata__") {
      if (!isPlainObject(v)) fail("__metadata__ must be an object of strings");
      for (const [k, s] of Object.entries(v as Record<string, unknown>)) {
        if (typeof s !== "string") fail(`__metadata__ value of '${k}' must be a string, got ${JSON.stringify(s)}`);
        metadata[k] = s as string;
      }
      continue;
    }
    entries.push([name, parseEntry(name, v)]);
  }
  // Contiguous, non-overlapping, covering the data section exactly.
  entries.sort((a, b) => a[1].dataOffsets[0] - b[1].dataOffsets[0] || a[1].dataOffsets[1] - b[1].dataOffsets[1]);
  let pos = 0, prev = "";
  for (const [name, { dataOffsets: [b, e] }] of entries) {
    if (b < pos) fail(`tensors '${prev}' and '${name}' overlap (bytes [${b}, ${Math.min(pos, e)}) of the data section belong to both)`);
    if (b > pos) fail(`bytes [${pos}, ${b}) of the data section belong to no tensor (${prev ? `between '${prev}' and '${name}'` : `before '${name}'`})`);
    if (e > dataBytes) fail(`tensor '${name}' ends at byte ${e} of the data section, which has only ${dataBytes} bytes (truncated file?)`);
    pos = e;
    prev = name;
  }
  if (pos !== dataBytes) fail(`${dataBytes - pos} bytes after the last tensor: the data section has ${dataBytes} bytes, the tensors cover ${pos}`);
  return { metadata, tensors: new Map(entries), dataStart: 8 + json.length, dataBytes };
}

function parseEntry(name: string, v: unknown): TensorInfo {
  if (!isPlainObject(v)) fail(`the entry of tensor '${name}' must be an object with dtype, shape and data_offsets`);
  const { dtype, shape, data_offsets: offsets } = v as Record<string, unknown>;
  if (typeof dtype !== "string" || !(dtype in FILE_DTYPES)) {
    fail(`tensor '${name}' has unknown dtype ${JSON.stringify(dtype)} (known: ${Object.keys(FILE_DTYPES).join(", ")})`);
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    fail(`tensor '${name}' has shape ${JSON.stringify(shape)}: expected an array of non-negative integers`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    fail(`tensor '${name}' has data_offsets ${JSON.stringify(offsets)}: expected [begin, end], non-negative integers`);
  }
  const [b, e] = offsets as [number, number];
  if (e < b) fail(`tensor '${name}' has data_offsets [${b}, ${e}]: end before begin`);
  const d = dtype as SafetensorsDType, dims = shape as number[];
  // Computed in BigInt: a malicious shape must not overflow into a plausible size.
  const need = dims.reduce((a, x) => a * BigInt(x), BigInt(FILE_DTYPES[d].bytes));
  if (need !== BigInt(e - b)) {
    fail(`tensor '${name}' of shape ${fmtShape(dims)} and dtype ${d} needs ${need} bytes, but its data_offsets [${b}, ${e}] span ${e - b}`);
  }
  return { dtype: d, shape: dims, dataOffsets: [b, e] };
}

/** Parses and validates the header of a whole file held in memory. */
export function parseHeader(bytes: Uint8Array): SafetensorsHeader {
  const n = headerLength(bytes, bytes.length);
  return parseHeaderJson(bytes.subarray(8, 8 + n), bytes.length - 8 - n);
}

/** Reads and validates only the header of a file (the data is not read). */
export async function readHeader(path: string): Promise<SafetensorsHeader> {
  const fh = await open(path, "r");
  try {
    const size = (await fh.stat()).size;
    const prefix = new Uint8Array(8);
    await fh.read(prefix, 0, Math.min(8, size), 0);
    const n = headerLength(prefix, size);
    const json = new Uint8Array(n);
    await fh.read(json, 0, n, 8);
    return parseHeaderJson(json, size - 8 - n);
  } finally {
    await fh.close();
  }
}

// ---- decoding ----

const LITTLE_ENDIAN = endianness() === "LE";

/** A copy of `bytes` as an aligned buffer, in host byte order for elements of `size` bytes. */
function hostBytes(bytes: Uint8Array, size: number): ArrayBuffer {
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  if (!LITTLE_ENDIAN && size > 1) for (let i = 0; i < copy.length; i += size) copy.subarray(i, i + size).reverse();
  return copy.buffer;
}

function f8e4m3(b: number): number {
  const s = b & 0x80 ? -1 : 1, e = (b >>> 3) & 0xf, m = b & 7;
  if (e === 15 && m === 7) return NaN; // the "fn" variant: no infinities, one NaN pattern
  return e === 0 ? s * (m / 8) * 2 ** -6 : s * (1 + m / 8) * 2 ** (e - 7);
}

/** Host values of one tensor's bytes, ready for `Backend.write` into its Strata dtype. */
function decode(dtype: SafetensorsDType, bytes: Uint8Array): ArrayLike<number> | ArrayLike<bigint> {
  const buf = hostBytes(bytes, FILE_DTYPES[dtype].bytes);
  switch (dtype) {
    case "F64": return new Float64Array(buf);
    case "F32": return new Float32Array(buf);
    case "F16": return Float32Array.from(new Uint16Array(buf), f16val);
    case "BF16": return Float32Array.from(new Uint16Array(buf), bf16val);
    case "I64": return new BigInt64Array(buf);
    case "U64": return new BigUint64Array(buf);
    case "I32": return new Int32Array(buf);
    case "U32": return new Uint32Array(buf);
    case "I16": return new Int16Array(buf);
    case "U16": return new Uint16Array(buf);
    case "I8": return new Int8Array(buf);
    case "U8": case "BOOL": return new Uint8Array(buf);
    case "F8_E4M3": return Float32Array.from(new Uint8Array(buf), f8e4m3);
    case "F8_E5M2": return Float32Array.from(new Uint8Array(buf), (b) => f16val(b << 8));
    default: return dtype satisfies never;
  }
}

/** A tensor holding `values` with `shape`, as one buffer (no view, no copy on realize). */
function fromHost(values: ArrayLike<number> | ArrayLike<bigint>, shape: readonly number[], dtype: DType, device: string): Tensor {
  const buf = allocBuffer(device, dtype, values.length);
  if (buf.size) getBackend(device).write(buf, values);
  return new Tensor(bufferNode(buf, shape, device));
}

export interface LoadOpts {
  /** The device the tensors are created on (default: the default device). */
  device?: string;
}

/** Tensors (and the header) from the bytes of a whole file, validated first. */
function tensorsFrom(bytes: Uint8Array, header: SafetensorsHeader, opts: LoadOpts): Record<string, Tensor> {
  const device = opts.device ?? getDefaultDevice();
  const out: Record<string, Tensor> = {};
  for (const [name, info] of header.tensors) {
    const [b, e] = info.dataOffsets;
    const values = decode(info.dtype, bytes.subarray(header.dataStart + b, header.dataStart + e));
    out[name] = fromHost(values, info.shape, FILE_DTYPES[info.dtype].to, device);
  }
  return out;
}

/**
 * The tensors of a safetensors file held in memory, by name, like `safetensors.torch.load`.
 * Dtypes Strata lacks are read into the nearest that holds their values (I8, I16, U16 -> int32;
 * U32, U64 -> int64; F8 -> float32).
 */
export function deserialize(bytes: Uint8Array, opts: LoadOpts = {}): Record<string, Tensor> {
  return tensorsFrom(bytes, parseHeader(bytes), opts);
}

/** `deserialize`, also returning the `__metadata__` strings. */
export function deserializeWithMetadata(bytes: Uint8Array, opts: LoadOpts = {}): { tensors: Record<string, Tensor>; metadata: Record<string, string> } {
  const header = parseHeader(bytes);
  return { tensors: tensorsFrom(bytes, header, opts), metadata: header.metadata };
}

/**
 * Reads a safetensors file. The header is read and validated first, so a corrupt file fails
 * before its data is read.
 *
 * @example
 * const sd = await st.io.loadFile("model.safetensors");
 * model.loadStateDict(sd);
 */
export async function loadFile(path: string, opts: LoadOpts = {}): Promise<Record<string, Tensor>> {
  return (await loadFileWithMetadata(path, opts)).tensors;
}

/** `loadFile`, also returning the `__metadata__` strings. */
export async function loadFileWithMetadata(path: string, opts: LoadOpts = {}): Promise<{ tensors: Record<string, Tensor>; metadata: Record<string, string> }> {
  const header = await readHeader(path);
  const bytes = new Uint8Array(await readFile(path));
  // The file may have changed between the two reads: check the whole again (it is cheap).
  const again = parseHeader(bytes);
  return { tensors: tensorsFrom(bytes, again, opts), metadata: header.metadata };
}

// ---- encoding ----

/** The little-endian bytes of a tensor's values in its file dtype. */
async function encode(t: Tensor): Promise<Uint8Array> {
  const values = await t.data();
  let arr: ArrayBufferView;
  if (t.dtype === "float16" || t.dtype === "bfloat16") {
    const enc = t.dtype === "float16" ? f16bits : bf16bits;
    const bits = new Uint16Array(values.length);
    for (let i = 0; i < values.length; i++) bits[i] = enc(values[i] as number);
    arr = bits;
  } else {
    arr = values;
  }
  const bytes = new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength);
  if (LITTLE_ENDIAN) return bytes;
  const size = t.elementSize(), out = bytes.slice();
  for (let i = 0; i < out.length; i += size) out.subarray(i, i + size).reverse();
  return out;
}

/**
 * The bytes of a safetensors file holding `tensors` (and optional `__metadata__` strings), like
 * `safetensors.torch.save`. Tensors are laid out by element size (largest first), then by name,
 * as the reference writer does, so every tensor is aligned to its element size.
 */
export async function serialize(tensors: Record<string, Tensor> | Map<string, Tensor>, metadata?: Record<string, string>): Promise<Uint8Array> {
  const list = [...(tensors instanceof Map ? tensors : Object.entries(tensors))];
  for (const [name, t] of list) {
    if (name === "__metadata__") fail("'__metadata__' is reserved and cannot name a tensor");
    if (!(t instanceof Tensor)) fail(`the value of '${name}' is not a Tensor`);
  }
  if (metadata) {
    for (const [k, v] of Object.entries(metadata)) if (typeof v !== "string") fail(`metadata value of '${k}' must be a string, got ${typeof v}`);
  }
  list.sort(([a, ta], [b, tb]) => tb.elementSize() - ta.elementSize() || (a < b ? -1 : a > b ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) header.__metadata__ = metadata;
  const datas: Uint8Array[] = [];
  let pos = 0;
  for (const [name, t] of list) {
    const bytes = await encode(t);
    header[name] = { dtype: WRITE_DTYPE[t.dtype], shape: [...t.shape], data_offsets: [pos, pos + bytes.length] };
    datas.push(bytes);
    pos += bytes.length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + padded + pos);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + padded);
  let at = 8 + padded;
  for (const d of datas) {
    out.set(d, at);
    at += d.length;
  }
  return out;
}

/**
 * Writes tensors to a safetensors file, atomically: the bytes go to a temporary file in the same
 * folder, which is flushed to disk and then renamed over `path`, so a reader (or a crash) sees
 * the old file or the new one, never a part.
 *
 * @example
 * await st.io.saveFile(model.stateDict(), "model.safetensors", { format: "pt" });
 */
export async function saveFile(tensors: Record<string, Tensor> | Map<string, Tensor>, path: string, metadata?: Record<string, string>): Promise<void> {
  await atomicWriteFile(path, await serialize(tensors, metadata));
}

/** The Strata dtype a file dtype is read into. */
export const strataDType = (d: SafetensorsDType): DType => FILE_DTYPES[d].to;
/** Bytes per element of a file dtype. */
export const fileDTypeBytes = (d: SafetensorsDType): number => FILE_DTYPES[d].bytes;
