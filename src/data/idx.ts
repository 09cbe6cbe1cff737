/**
 * IDX files, the format of MNIST and Fashion-MNIST: a magic number (two zero bytes, a type code,
 * the number of dims), the dims as big-endian uint32, then the values, big-endian. Plain or
 * gzip-compressed. The header is checked against the data's size before anything is allocated.
 */
import type { DType } from "../ir/dtype.ts";
import { ValueError } from "../ir/errors.ts";
import { tensor } from "../tensor/create.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { readBytes } from "./files.ts";

interface IdxType {
  name: string;
  size: number;
  dtype: DType;
  read: (dv: DataView, off: number) => number;
}

const IDX_TYPES: Record<number, IdxType> = {
  0x08: { name: "uint8", size: 1, dtype: "uint8", read: (dv, o) => dv.getUint8(o) },
  0x09: { name: "int8", size: 1, dtype: "int32", read: (dv, o) => dv.getInt8(o) },
  0x0b: { name: "int16", size: 2, dtype: "int32", read: (dv, o) => dv.getInt16(o) },
  0x0c: { name: "int32", size: 4, dtype: "int32", read: (dv, o) => dv.getInt32(o) },
  0x0d: { name: "float32", size: 4, dtype: "float32", read: (dv, o) => dv.getFloat32(o) },
  0x0e: { name: "float64", size: 8, dtype: "float64", read: (dv, o) => dv.getFloat64(o) },
};

/** The most bytes of values an IDX file may declare by default (2 GiB). */
export const IDX_MAX_BYTES = 2 ** 31;

export interface IdxOpts {
  /** Reject files whose header declares more bytes of values than this (default 2 GiB). */
  maxBytes?: number;
}

export interface IdxHeader {
  type: IdxType;
  dims: number[];
  /** Bytes of the header (4 + 4 * ndims). */
  headerBytes: number;
  /** Bytes of values the dims call for. */
  dataBytes: number;
}

const hex = (v: number, w: number): string => "0x" + v.toString(16).padStart(w, "0");

/**
 * Parses and checks an IDX header from the first bytes of a file; null if more bytes are needed.
 * Raises for a bad magic number, an unknown type, zero dims, or values beyond `maxBytes`.
 */
export function idxHeader(bytes: Uint8Array, opts: IdxOpts = {}): IdxHeader | null {
  if (bytes.length < 4) return null;
  const magic = ((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0;
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    const gz = bytes[0] === 0x1f && bytes[1] === 0x8b ? " (the data is gzip-compressed: use decodeIdx or readIdx)" : "";
    throw new ValueError(`IDX: bad magic number ${hex(magic, 8)}: expected two zero bytes, a type code and the number of dims (e.g. 0x00000803 for MNIST images)${gz}`);
  }
  const type = IDX_TYPES[bytes[2]!];
  if (!type) throw new ValueError(`IDX: unknown data type code ${hex(bytes[2]!, 2)} in magic number ${hex(magic, 8)} (expected 0x08 uint8, 0x09 int8, 0x0b int16, 0x0c int32, 0x0d float32 or 0x0e float64)`);
  const ndims = bytes[3]!;
  if (ndims === 0) throw new ValueError(`IDX: the magic number ${hex(magic, 8)} declares 0 dims`);
  const headerBytes = 4 + 4 * ndims;
  if (bytes.length < headerBytes) return null;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, headerBytes);
  const dims = Array.from({ length: ndims }, (_, i) => dv.getUint32(4 + 4 * i));
  const max = opts.maxBytes ?? IDX_MAX_BYTES;
  const dataBytes = dims.reduce((a, d) => a * d, type.size);
  if (dataBytes > max) {
    throw new ValueError(`IDX: dims [${dims.join(", ")}] of ${type.name} call for ${dataBytes} bytes of values, more than the limit of ${max} (maxBytes)`);
  }
  return { type, dims, headerBytes, dataBytes };
}

function headerOrTruncated(bytes: Uint8Array, opts: IdxOpts): IdxHeader {
  const h = idxHeader(bytes, opts);
  if (h) return h;
  const need = bytes.length < 4 ? 4 : 4 + 4 * bytes[3]!;
  throw new ValueError(`IDX: truncated header: ${bytes.length} bytes, the header needs ${need}`);
}

/** The values of an IDX file as a typed array, with its dims and Strata dtype. */
export function parseIdxArray(bytes: Uint8Array, opts: IdxOpts = {}): { data: Uint8Array | Int32Array | Float32Array | Float64Array; dims: number[]; dtype: DType } {
  const h = headerOrTruncated(bytes, opts);
  const have = bytes.length - h.headerBytes;
  if (have < h.dataBytes) {
    throw new ValueError(`IDX: truncated: dims [${h.dims.join(", ")}] of ${h.type.name} need ${h.dataBytes} bytes of values, the file has ${have} after its ${h.headerBytes}-byte header`);
  }
  if (have > h.dataBytes) {
    throw new ValueError(`IDX: ${have - h.dataBytes} bytes of trailing data after the ${h.dataBytes} bytes of values that dims [${h.dims.join(", ")}] of ${h.type.name} call for`);
  }
  const n = h.dataBytes / h.type.size;
  const start = h.headerBytes;
  if (h.type.name === "uint8") return { data: bytes.slice(start, start + n), dims: h.dims, dtype: "uint8" };
  const dv = new DataView(bytes.buffer, bytes.byteOffset + start, h.dataBytes);
  const data = h.type.dtype === "float64" ? new Float64Array(n) : h.type.dtype === "float32" ? new Float32Array(n) : new Int32Array(n);
  for (let i = 0; i < n; i++) data[i] = h.type.read(dv, i * h.type.size);
  return { data, dims: h.dims, dtype: h.type.dtype };
}

/**
 * An (uncompressed) IDX file's bytes to a tensor of its dims: uint8 stays uint8, int8/int16/int32
 * become int32, floats keep their width.
 *
 * @example
 * const labels = st.data.parseIdx(bytes); // [60000] uint8
 */
export function parseIdx(bytes: Uint8Array, opts: IdxOpts = {}): Tensor {
  const { data, dims, dtype } = parseIdxArray(bytes, opts);
  return tensor(data, { dtype }).reshape(dims);
}

const isGzip = (b: Uint8Array): boolean => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;

/**
 * Decompresses gzip bytes holding an IDX file (Node's zlib), checking the header as soon as it is
 * out: decompression stops with an error once the output passes what the header declares, so a
 * corrupt or hostile file cannot make it allocate more.
 */
export async function gunzipIdx(bytes: Uint8Array, opts: IdxOpts = {}): Promise<Uint8Array> {
  const zlib = await import("node:zlib");
  return new Promise((resolve, reject) => {
    const gz = zlib.createGunzip({ chunkSize: 1 << 20 });
    const chunks: Buffer[] = [];
    let total = 0, expected = -1, failed = false;
    const fail = (e: unknown) => {
      if (failed) return;
      failed = true;
      gz.destroy();
      reject(e);
    };
    gz.on("data", (c: Buffer) => {
      if (failed) return;
      chunks.push(c);
      total += c.length;
      try {
        if (expected < 0) {
          const head = chunks.length === 1 ? c : Buffer.concat(chunks);
          const h = idxHeader(head, opts);
          if (h) expected = h.headerBytes + h.dataBytes;
        }
      } catch (e) {
        fail(e);
        return;
      }
      if (expected >= 0 && total > expected) fail(new ValueError(`IDX: the decompressed data is longer than the ${expected} bytes its header declares`));
    });
    gz.on("error", (e) => fail(new ValueError(`IDX: corrupt gzip data: ${e.message}`)));
    gz.on("end", () => {
      if (failed) return;
      const out = Buffer.concat(chunks, total);
      resolve(new Uint8Array(out.buffer, out.byteOffset, out.byteLength));
    });
    gz.end(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  });
}

/**
 * IDX bytes, plain or gzip-compressed, to a tensor (see `parseIdx`).
 *
 * @example
 * const images = await st.data.decodeIdx(gzBytes); // [N, 28, 28] uint8
 */
export async function decodeIdx(bytes: Uint8Array, opts: IdxOpts = {}): Promise<Tensor> {
  return parseIdx(isGzip(bytes) ? await gunzipIdx(bytes, opts) : bytes, opts);
}

/** The typed-array form of `readIdx`. */
export async function readIdxArray(path: string, opts: IdxOpts = {}): Promise<ReturnType<typeof parseIdxArray>> {
  const raw = await readBytes("readIdx", path);
  try {
    return parseIdxArray(isGzip(raw) ? await gunzipIdx(raw, opts) : raw, opts);
  } catch (e) {
    if (e instanceof ValueError) throw new ValueError(`${e.message} (file ${path})`);
    throw e;
  }
}

/**
 * Reads an IDX file (`.gz` or plain, told apart by content) to a tensor (Node).
 *
 * @example
 * const y = await st.data.readIdx("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz"); // [10000] uint8
 */
export async function readIdx(path: string, opts: IdxOpts = {}): Promise<Tensor> {
  const { data, dims, dtype } = await readIdxArray(path, opts);
  return tensor(data, { dtype }).reshape(dims);
}
