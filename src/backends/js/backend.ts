/**
 * The reference backend: kernels rendered to JavaScript functions over typed arrays. It runs
 * every dtype (float64 exactly) and defines the semantics every other backend is tested against.
 */
import type { Backend, Buf, HostArray } from "../../ir/backend.ts";
import { DTYPES, type DType } from "../../ir/dtype.ts";
import { IndexError } from "../../ir/errors.ts";
import type { Kernel } from "../../ir/kernel.ts";
import { renderKernel } from "./render.ts";
import { RUNTIME } from "./runtime.ts";
import { readStorage, type Storage, STORAGE, writeStorage } from "./storage.ts";

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
    writeStorage((b as JsBuf).data, b.dtype, src);
  }
  readSync(b: Buf): HostArray {
    return readStorage((b as JsBuf).data, b.dtype);
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
