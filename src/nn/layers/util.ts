/** Helpers shared by the layers: factory options, shape checks, tuple arguments. */
import type { DType } from "../../ir/dtype.ts";
import { ShapeError, ValueError } from "../../ir/errors.ts";
import { fmtShape } from "../../ir/shape.ts";
import { empty } from "../../tensor/create.ts";
import type { Tensor } from "../../tensor/tensor.ts";
import { Parameter } from "../parameter.ts";

/** Where and in which dtype a layer creates its parameters and buffers (PyTorch's factory kwargs). */
export interface FactoryOpts {
  dtype?: DType;
  device?: string;
}

/** A new parameter of this shape (its values are set by the layer's `resetParameters()`). */
export const newParam = (shape: readonly number[], f: FactoryOpts): Parameter =>
  new Parameter(empty(shape, { dtype: f.dtype ?? "float32", device: f.device }));

/** Raises a ShapeError naming the layer (`Linear(in_features=4, ...)`) and the input's shape. */
export function shapeError(layer: { constructor: { name: string }; extraRepr(): string }, expected: string, x: Tensor): never {
  throw new ShapeError(`${layer.constructor.name}(${layer.extraRepr()}): expected input of shape ${expected}, got ${fmtShape(x.shape)}`);
}

/** An int or a tuple of `n` ints, as a tuple. */
export function tuple(layer: string, name: string, v: number | readonly number[], n: number): number[] {
  const t = typeof v === "number" ? Array<number>(n).fill(v) : [...v];
  if (t.length !== n || t.some((x) => !Number.isInteger(x))) throw new ValueError(`${layer}: ${name} must be an int or a tuple of ${n} ints, got ${JSON.stringify(v)}`);
  return t;
}

/** PyTorch's repr of an int tuple: `(3, 3)`, or `(3,)` for one. */
export const fmtTuple = (t: readonly number[]): string => (t.length === 1 ? `(${t[0]},)` : `(${t.join(", ")})`);

/** PyTorch's repr of a float: 1e-05, 0.1, 1.0. */
export const fmtFloat = (v: number): string => {
  if (Number.isInteger(v) && Math.abs(v) < 1e16) return `${v}.0`;
  if (v !== 0 && (Math.abs(v) < 1e-4 || Math.abs(v) >= 1e16)) return v.toExponential().replace(/e([+-])(\d)$/, "e$10$2").replace("e+", "e+");
  return String(v);
};
