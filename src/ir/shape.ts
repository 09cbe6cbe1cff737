import { IndexError, ShapeError, ValueError } from "./errors.ts";

export type Shape = readonly number[];

export const numel = (s: Shape): number => s.reduce((a, b) => a * b, 1);

export function stridesOf(s: Shape): number[] {
  const st = new Array<number>(s.length);
  let acc = 1;
  for (let i = s.length - 1; i >= 0; i--) {
    st[i] = acc;
    acc *= s[i]!;
  }
  return st;
}

export const fmtShape = (s: Shape): string => `[${s.join(", ")}]`;

export const shapesEqual = (a: Shape, b: Shape): boolean => a.length === b.length && a.every((v, i) => v === b[i]);

/** NumPy/PyTorch broadcasting of two shapes. */
export function broadcastShapes(op: string, a: Shape, b: Shape): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1, y = b[b.length - n + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) {
      throw new ShapeError(
        `${op}: shapes ${fmtShape(a)} and ${fmtShape(b)} cannot be broadcast together (dimension ${i - n}: ${x} vs ${y})`,
      );
    }
    out[i] = x === 1 ? y : x;
  }
  return out;
}

/** Turns a possibly negative dim into its index, raising PyTorch's message when it is out of range. */
export function normDim(op: string, dim: number, ndim: number): number {
  const n = Math.max(ndim, 1);
  if (!Number.isInteger(dim) || dim < -n || dim >= n) {
    throw new IndexError(`${op}: dimension out of range (expected to be in range of [${-n}, ${n - 1}], but got ${dim})`);
  }
  return dim < 0 ? dim + n : dim;
}

export function normDims(op: string, dims: number | readonly number[] | undefined | null, ndim: number): number[] {
  if (dims === undefined || dims === null) return [...Array(ndim).keys()];
  const list = typeof dims === "number" ? [dims] : dims;
  const out = list.map((d) => normDim(op, d, ndim)).filter((d) => d < Math.max(ndim, 0) || ndim === 0);
  if (new Set(out).size !== out.length) throw new ValueError(`${op}: dim ${JSON.stringify(dims)} appears more than once`);
  return ndim === 0 ? [] : out;
}

export function checkShape(op: string, shape: Shape): number[] {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new ValueError(`${op}: invalid shape ${fmtShape(shape)} (sizes must be non-negative integers)`);
  }
  return [...shape];
}
