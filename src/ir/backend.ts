import type { DType } from "./dtype.ts";
import type { Kernel } from "./kernel.ts";
import type { ConvParams } from "./ops.ts";

/** A block of device memory holding `size` elements of `dtype`. */
export interface Buf {
  readonly dtype: DType;
  readonly size: number;
  readonly bytes: number;
}

/** A compiled kernel, opaque to the engine. */
export type Program = unknown;

/** Typed arrays as `read` returns them (int64 is read as a BigInt64Array). */
export type HostArray =
  | Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | Uint16Array;

/**
 * What a dot routine applies to its products before storing them (a linear layer's bias and
 * ReLU): out[b, i, j] = relu((a[b] @ b[b])[i, j] + bias[j]), each step rounded to the dtype as
 * the separate ops would be, so the result is the unfused graph's. ReLU is PyTorch's: 0 where
 * the value is <= 0 (so -0 gives +0), NaN kept.
 */
export interface DotEpilogue {
  /** N values added along each row, or null. */
  readonly bias: Buf | null;
  readonly relu: boolean;
}

/**
 * Contractions a backend can run faster than the engine's lowered kernels. Operands are
 * contiguous row-major buffers.
 */
export interface Routines {
  /**
   * out[b] = a[b] (M x K) @ b[b] (K x N) for every batch b. With `transA` a[b] is stored as its
   * transpose (K x M), with `transB` b[b] as N x K. With an `epilogue`, each product is finished
   * before it is stored (see `DotEpilogue`); a backend that has `dot` must apply it.
   */
  dot(out: Buf, a: Buf, b: Buf, batch: number, m: number, k: number, n: number, transA: boolean, transB: boolean, epilogue?: DotEpilogue): void;
  conv(out: Buf, x: Buf, w: Buf, xShape: readonly number[], wShape: readonly number[], p: ConvParams): void;
}

/** What the engine needs of a device. Small on purpose: a new backend is one folder. */
export interface Backend {
  readonly name: string;
  alloc(dtype: DType, size: number): Buf;
  free(b: Buf): void;
  /** Copies host values in; numbers are converted to the buffer's dtype. */
  write(b: Buf, src: ArrayLike<number> | ArrayLike<bigint>): void;
  read(b: Buf): Promise<HostArray>;
  /** Synchronous read, where the device allows it (CPU backends). */
  readSync?(b: Buf): HostArray;
  compile(k: Kernel): Program;
  /** Runs a compiled kernel on its buffers, with the kernel's `scalars` as arguments. */
  run(p: Program, bufs: readonly Buf[], scalars: readonly number[]): void;
  readonly routines: Partial<Routines>;
  sync(): Promise<void>;
}
