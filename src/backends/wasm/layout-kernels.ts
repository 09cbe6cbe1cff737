/**
 * Copy kernels that routines use to lay operands out as the GEMM wants them. They are kernels of
 * the kernel IR, compiled and split over threads like any other.
 */
import type { DType } from "../../ir/dtype.ts";
import { flatIndex, lvar } from "../../ir/index-expr.ts";
import type { Kernel } from "../../ir/kernel.ts";

const prod = (a: readonly number[]): number => a.reduce((x, y) => x * y, 1);

/** out[b, i, j] = src[b, j, i] for src [batch, cols, rows]. */
export function transposeKernel(dt: DType, batch: number, rows: number, cols: number): Kernel {
  const shape = [batch, rows, cols];
  const o = shape.map((s, i) => lvar(`o${i}`, s));
  const size = prod(shape);
  return {
    bufs: [{ dtype: dt, size }, { dtype: dt, size }],
    shape, reduce: null,
    value: { k: "load", buf: 1, idx: flatIndex([o[0]!, o[2]!, o[1]!], [batch, cols, rows]), valid: [], dt },
    store: { idx: flatIndex(o, shape), mode: "set" }, scalars: [],
  };
}

/** out[b, g, c, p] = prod[g, c, b, p]: the per-group products back in the [N, Cout, P] layout. */
export function unpermuteKernel(dt: DType, nb: number, G: number, coutG: number, P: number): Kernel {
  const shape = [nb, G, coutG, P];
  const o = shape.map((s, i) => lvar(`o${i}`, s));
  const size = prod(shape);
  return {
    bufs: [{ dtype: dt, size }, { dtype: dt, size }],
    shape, reduce: null,
    value: { k: "load", buf: 1, idx: flatIndex([o[1]!, o[2]!, o[0]!, o[3]!], [G, coutG, nb, P]), valid: [], dt },
    store: { idx: flatIndex(o, shape), mode: "set" }, scalars: [],
  };
}

