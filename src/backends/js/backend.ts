/**
 * The reference backend: kernels rendered to JavaScript functions over typed arrays. It runs
 * every dtype (float64 exactly) and defines the semantics every other backend is tested against.
 */
import type { Backend, Buf, HostArray } from "../../ir/backend.ts";
import { DTYPES, type DType } from "../../ir/dtype.ts";
import { IndexError } from "../../ir/errors.ts";
import type { Kernel } from "../../ir/kernel.ts";
import { renderKernel } from "./render.ts";
import { bf16bits, bf16val, f16bits, f16val, RUNTIME } from "./runtime.ts";

type Storage = Float32Array | Float64Array | Int32Array | Uint8Array | Uint16Array;

class JsBuf implements Buf {
  readonly bytes: number;
  constructor(
    readonly dtype: DType,
    readonly size: number,
    readonly data: Storage,
  ) {
    this.bytes = size * DTYPES[dtype].bytes;
  }
}

/** int64 lives in a Float64Array here: exact for the index range it is used for (below 2^53). */
const STORAGE: { [D in DType]: new (n: number) => Storage } = {
  float32: Float32Array, float64: Float64Array, float16: Uint16Array, bfloat16: Uint16Array,
  int32: Int32Array, int64: Float64Array, uint8: Uint8Array, bool: Uint8Array,
};

function oob(what: string, v: number, size: number): never {
  throw new IndexError(`${what}: index ${v} is out of bounds for dimension with size ${size}`);
}

/** A rendered kernel: its scalar arguments (`s`), then its buffers. */
type KernelFn = (s: readonly number[], ...bufs: Storage[]) => void;

export class JsBackend implements Backend {
  readonly name = "js";
  readonly routines = {};

  alloc(dtype: DType, size: number): Buf {
    return new JsBuf(dtype, size, new STORAGE[dtype](size));
  }
  free(_b: Buf): void {
    // Typed arrays are reclaimed by the garbage collector once the engine drops them.
  }
  write(b: Buf, src: ArrayLike<number> | ArrayLike<bigint>): void {
    const { data, dtype } = b as JsBuf;
    const n = b.size;
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
  readSync(b: Buf): HostArray {
    const { data, dtype } = b as JsBuf;
    switch (dtype) {
      case "float16": case "bfloat16": {
        const dec = dtype === "float16" ? f16val : bf16val;
        const out = new Float32Array(b.size);
        for (let i = 0; i < b.size; i++) out[i] = dec(data[i]!);
        return out;
      }
      case "int64": return BigInt64Array.from(data as Float64Array, (v) => BigInt(v));
      default: return data.slice();
    }
  }
  read(b: Buf): Promise<HostArray> {
    return Promise.resolve(this.readSync(b));
  }
  /** The raw storage, for host-side helpers on this backend. */
  storage(b: Buf): Storage {
    return (b as JsBuf).data;
  }
  compile(k: Kernel): KernelFn {
    const src = renderKernel(k);
    const params = k.bufs.map((_, i) => `b${i}`).join(",");
    const factory = new Function(
      "H", "oob",
      `"use strict";const {f16bits,f16val,bf16bits,bf16val,f16round,bf16round,erf,uniform}=H;\nreturn function kernel(s,${params}){\n${src}\n};`,
    ) as (h: typeof RUNTIME, o: typeof oob) => KernelFn;
    return factory(RUNTIME, oob);
  }
  run(p: unknown, bufs: readonly Buf[], scalars: readonly number[]): void {
    (p as KernelFn)(scalars, ...bufs.map((b) => (b as JsBuf).data));
  }
  sync(): Promise<void> {
    return Promise.resolve();
  }
}
