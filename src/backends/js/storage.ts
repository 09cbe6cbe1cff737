/**
 * How CPU backends store each dtype in typed arrays, and the conversions to and from the host.
 * The js and wasm backends share it, so a value reads back the same from either.
 */
import type { HostArray } from "../../ir/backend.ts";
import type { DType } from "../../ir/dtype.ts";
import { bf16bits, bf16val, f16bits, f16val } from "./runtime.ts";

export type Storage = Float32Array | Float64Array | Int32Array | Uint8Array | Uint16Array;

export interface StorageCtor {
  new (n: number): Storage;
  new (b: ArrayBufferLike, off: number, n: number): Storage;
  readonly BYTES_PER_ELEMENT: number;
}

/**
 * int64 lives in a Float64Array: exact for the index range it is used for (below 2^53).
 * float16 and bfloat16 are kept as their 16-bit patterns.
 */
export const STORAGE: { readonly [D in DType]: StorageCtor } = {
  float32: Float32Array, float64: Float64Array, float16: Uint16Array, bfloat16: Uint16Array,
  int32: Int32Array, int64: Float64Array, uint8: Uint8Array, bool: Uint8Array,
};

/** Copies host values into `data`, converting them to `dtype`'s storage. */
export function writeStorage(data: Storage, dtype: DType, src: ArrayLike<number> | ArrayLike<bigint>): void {
  const n = data.length;
  if (dtype === "float16" || dtype === "bfloat16") {
    const enc = dtype === "float16" ? f16bits : bf16bits;
    for (let i = 0; i < n; i++) data[i] = enc(Number(src[i]));
  } else if (dtype === "bool") {
    for (let i = 0; i < n; i++) data[i] = Number(src[i]) !== 0 ? 1 : 0;
  } else if (dtype === "int64") {
    for (let i = 0; i < n; i++) data[i] = Math.trunc(Number(src[i]));
  } else if (typeof src[0] === "bigint") {
    for (let i = 0; i < n; i++) data[i] = Number(src[i]);
  } else {
    data.set(src as ArrayLike<number>);
  }
}

/** A host copy of `data`: int64 as BigInt64Array, float16/bfloat16 as Float32Array. */
export function readStorage(data: Storage, dtype: DType): HostArray {
  switch (dtype) {
    case "float16": case "bfloat16": {
      const dec = dtype === "float16" ? f16val : bf16val;
      const out = new Float32Array(data.length);
      for (let i = 0; i < data.length; i++) out[i] = dec(data[i]!);
      return out;
    }
    case "int64": return BigInt64Array.from(data as Float64Array, (v) => BigInt(v));
    default: return data.slice();
  }
}
