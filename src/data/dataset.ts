/**
 * Datasets: anything with a `length` and a `get(i)` (PyTorch's `__len__` and `__getitem__`), and
 * the standard ones built on that: TensorDataset, Subset, ConcatDataset, TransformDataset,
 * randomSplit.
 */
import { IndexError, ShapeError, ValueError } from "../ir/errors.ts";
import { fmtShape } from "../ir/shape.ts";
import { tensor } from "../tensor/create.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { activeGenerator, Generator, permutation, seedFromGlobal, withGenerator } from "./random.ts";

/**
 * A map-style dataset: `length` samples, sample `i` from `get(i)` (which may return a Promise, for
 * samples read from disk; the async DataLoader iterator awaits it). Implement it with a class or a
 * plain object.
 *
 * An async `get` overlaps its I/O with training under the async DataLoader iterator. Tensors it
 * creates after its first `await` belong to whatever `st.scope` is open at that moment, so it
 * should return host data there (typed arrays, numbers: the collate makes the tensors), or create
 * its tensors before awaiting.
 *
 * `getBatch(indices)`, when present, returns a whole batch at once, already collated the way the
 * default collate would (e.g. TensorDataset gathers each tensor with one `indexSelect`); it may
 * return `undefined` for indices it cannot batch. The DataLoader uses it when no `collateFn` is given.
 *
 * @example
 * const squares: st.data.Dataset<[number, number]> = { length: 10, get: (i) => [i, i * i] };
 */
export interface Dataset<T> {
  readonly length: number;
  get(index: number): T | Promise<T>;
  getBatch?(indices: Int32Array): unknown;
}

/** A dataset or a plain array (whose elements are the samples). */
export type DatasetLike<T> = Dataset<T> | readonly T[];

/** Samples of a DatasetLike: arrays are wrapped. */
export function asDataset<T>(d: DatasetLike<T>): Dataset<T> {
  if (Array.isArray(d)) {
    const arr = d as readonly T[];
    return { length: arr.length, get: (i: number) => arr[checkIndex("dataset", i, arr.length)]! };
  }
  return d as Dataset<T>;
}

/** Checks `i` is an integer in [-n, n) and returns it in [0, n) (negative indices count from the end). */
export function checkIndex(op: string, i: number, n: number): number {
  if (!Number.isInteger(i) || i < -n || i >= n) throw new IndexError(`${op}: index ${i} is out of range for a dataset of length ${n}`);
  return i < 0 ? i + n : i;
}

/** True when every index is the one before plus 1 (a batch that is a slice). */
function contiguousRange(idx: Int32Array): boolean {
  for (let k = 1; k < idx.length; k++) if (idx[k] !== idx[0]! + k) return false;
  return true;
}

/**
 * Samples are slices of tensors along their first dim, like `torch.utils.data.TensorDataset`:
 * sample `i` is `[t0[i], t1[i], ...]`. The DataLoader batches it with one gather per tensor
 * (`getBatch`), or a slice when the batch is contiguous, instead of stacking samples.
 *
 * @example
 * const ds = new st.data.TensorDataset(images, labels); // [N, 1, 28, 28], [N]
 * const [x, y] = ds.get(0);                             // [1, 28, 28], []
 */
export class TensorDataset implements Dataset<Tensor[]> {
  readonly tensors: readonly Tensor[];

  constructor(...tensors: Tensor[]) {
    if (!tensors.length) throw new ValueError("TensorDataset: expected at least one tensor");
    tensors.forEach((t, i) => {
      if (t.ndim === 0) throw new ShapeError(`TensorDataset: tensor ${i} is 0-d; every tensor needs a first (sample) dim`);
      if (t.shape[0] !== tensors[0]!.shape[0]) {
        throw new ShapeError(`TensorDataset: size mismatch between tensors: tensor 0 has ${fmtShape(tensors[0]!.shape)}, tensor ${i} has ${fmtShape(t.shape)} (the first dims must be equal)`);
      }
    });
    this.tensors = tensors;
  }

  get length(): number {
    return this.tensors[0]!.shape[0]!;
  }

  /** Sample `i`: each tensor's row `i` (read through a gather, so every index runs one compiled kernel). */
  get(i: number): Tensor[] {
    const idx = checkIndex("TensorDataset.get", i, this.length);
    const it = tensor(Int32Array.of(idx), { device: this.tensors[0]!.device });
    return this.tensors.map((t) => t.indexSelect(0, it).reshape(t.shape.slice(1)));
  }

  /** The batch of samples `indices`: one `indexSelect` per tensor (a slice when they are contiguous). */
  getBatch(indices: Int32Array): Tensor[] {
    const n = this.length;
    for (const i of indices) checkIndex("TensorDataset.getBatch", i, n);
    if (indices.length && contiguousRange(indices)) return this.tensors.map((t) => t.narrow(0, indices[0]!, indices.length));
    const it = tensor(indices, { device: this.tensors[0]!.device });
    return this.tensors.map((t) => t.indexSelect(0, it));
  }
}

/**
 * The samples of `dataset` at `indices`, in that order, like `torch.utils.data.Subset`.
 *
 * @example
 * const firstHundred = new st.data.Subset(ds, Array.from({ length: 100 }, (_, i) => i));
 */
export class Subset<T> implements Dataset<T> {
  readonly dataset: Dataset<T>;
  readonly indices: Int32Array;

  constructor(dataset: DatasetLike<T>, indices: ArrayLike<number>) {
    this.dataset = asDataset(dataset);
    const n = this.dataset.length;
    this.indices = Int32Array.from(indices, (i) => checkIndex("Subset", i, n));
  }

  get length(): number {
    return this.indices.length;
  }

  get(i: number): T | Promise<T> {
    return this.dataset.get(this.indices[checkIndex("Subset.get", i, this.indices.length)]!);
  }

  getBatch(indices: Int32Array): unknown {
    if (!this.dataset.getBatch) return undefined;
    const n = this.indices.length;
    return this.dataset.getBatch(indices.map((i) => this.indices[checkIndex("Subset.getBatch", i, n)]!));
  }
}

/**
 * The samples of several datasets one after the other, like `torch.utils.data.ConcatDataset`.
 *
 * @example
 * const all = new st.data.ConcatDataset([train, extra]);
 */
export class ConcatDataset<T> implements Dataset<T> {
  readonly datasets: readonly Dataset<T>[];
  /** cumulativeSizes[k]: the samples in datasets 0..k. */
  readonly cumulativeSizes: readonly number[];

  constructor(datasets: readonly DatasetLike<T>[]) {
    if (!datasets.length) throw new ValueError("ConcatDataset: expected a non-empty list of datasets");
    this.datasets = datasets.map(asDataset);
    let total = 0;
    this.cumulativeSizes = this.datasets.map((d) => (total += d.length));
  }

  get length(): number {
    return this.cumulativeSizes[this.cumulativeSizes.length - 1]!;
  }

  /** Which dataset holds sample `i`, and its index there. */
  locate(i: number): [number, number] {
    const idx = checkIndex("ConcatDataset.get", i, this.length);
    let lo = 0, hi = this.cumulativeSizes.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.cumulativeSizes[mid]! > idx) hi = mid;
      else lo = mid + 1;
    }
    return [lo, lo === 0 ? idx : idx - this.cumulativeSizes[lo - 1]!];
  }

  get(i: number): T | Promise<T> {
    const [d, j] = this.locate(i);
    return this.datasets[d]!.get(j);
  }

  /** A batch from one dataset's `getBatch` when all indices fall in that dataset; undefined otherwise. */
  getBatch(indices: Int32Array): unknown {
    if (!indices.length) return undefined;
    const [d] = this.locate(indices[0]!);
    const ds = this.datasets[d]!;
    if (!ds.getBatch) return undefined;
    const base = d === 0 ? 0 : this.cumulativeSizes[d - 1]!, end = this.cumulativeSizes[d]!;
    for (const i of indices) if (i < base || i >= end) return undefined;
    return ds.getBatch(indices.map((i) => i - base));
  }
}

const isThenable = (v: unknown): v is PromiseLike<unknown> => typeof (v as { then?: unknown } | null)?.then === "function";

/**
 * Applies transforms to the samples of a dataset, like torchvision's `transform` and
 * `target_transform`: for samples that are arrays (`[x, y, ...]`), `transform` maps `x` and
 * `targetTransform` maps `y`; any other sample goes through `transform` whole. Random transforms
 * draw from the DataLoader's per-sample generator (reproducible, see `DataLoader`).
 *
 * @example
 * const T = st.data.transforms;
 * const augmented = new st.data.TransformDataset(train, T.compose([T.randomCrop(28, 2), T.normalize([0.5], [0.5])]));
 */
export class TransformDataset<T, U = T> implements Dataset<U> {
  readonly dataset: Dataset<T>;

  constructor(
    dataset: DatasetLike<T>,
    readonly transform: ((x: never) => unknown) | null,
    readonly targetTransform: ((y: never) => unknown) | null = null,
  ) {
    this.dataset = asDataset(dataset);
  }

  get length(): number {
    return this.dataset.length;
  }

  private apply(item: T): U {
    const f = this.transform as ((x: unknown) => unknown) | null, g = this.targetTransform as ((y: unknown) => unknown) | null;
    if (Array.isArray(item)) {
      const out = [...item];
      if (f && out.length > 0) out[0] = f(out[0]);
      if (g && out.length > 1) out[1] = g(out[1]);
      return out as U;
    }
    return (f ? f(item) : item) as U;
  }

  /**
   * A batch from the wrapped dataset's `getBatch` with the transforms applied once to the whole
   * batch, when they all have a `batched` form (the image transforms do); undefined otherwise.
   */
  getBatch(indices: Int32Array): unknown {
    type Batchable = { batched?: (x: unknown) => unknown } | null;
    const f = this.transform as Batchable, g = this.targetTransform as Batchable;
    if (!this.dataset.getBatch || (f && !f.batched) || (g && !g.batched)) return undefined;
    const batch = this.dataset.getBatch(indices);
    if (batch === undefined) return undefined;
    if (Array.isArray(batch)) {
      const out = [...batch];
      if (f && out.length > 0) out[0] = f.batched!(out[0]);
      if (g && out.length > 1) out[1] = g.batched!(out[1]);
      return out;
    }
    return f ? f.batched!(batch) : batch;
  }

  get(i: number): U | Promise<U> {
    const item = this.dataset.get(i);
    if (!isThenable(item)) return this.apply(item);
    // Keep the sample generator of this fetch for the transform that runs after the await.
    const gen = activeGenerator();
    return Promise.resolve(item).then((v) => withGenerator(gen, () => this.apply(v)));
  }
}

/** Options of `randomSplit`: a seed or a generator (else the global stream, `st.manualSeed`). */
export interface SplitOpts {
  seed?: number;
  generator?: Generator;
}

/**
 * Splits a dataset into non-overlapping random subsets, like `torch.utils.data.random_split`.
 * `lengths` are sample counts summing to the dataset's length, or fractions summing to 1 (the
 * floor of each fraction, then the remainder given out one by one from the first subset on).
 *
 * @example
 * const [train, val] = st.data.randomSplit(ds, [0.9, 0.1], { seed: 42 });
 */
export function randomSplit<T>(dataset: DatasetLike<T>, lengths: readonly number[], opts: SplitOpts = {}): Subset<T>[] {
  const ds = asDataset(dataset);
  const n = ds.length;
  if (!lengths.length) throw new ValueError("randomSplit: expected at least one length");
  let counts: number[];
  const sum = lengths.reduce((a, b) => a + b, 0);
  if (lengths.every((l) => l >= 0 && l <= 1) && Math.abs(sum - 1) < 1e-9 && !(lengths.every(Number.isInteger) && sum === n)) {
    counts = lengths.map((f) => Math.floor(n * f));
    let rest = n - counts.reduce((a, b) => a + b, 0);
    for (let k = 0; rest > 0; k = (k + 1) % counts.length, rest--) counts[k]!++;
  } else {
    if (!lengths.every((l) => Number.isInteger(l) && l >= 0)) throw new ValueError(`randomSplit: lengths must be non-negative integers or fractions summing to 1, got [${lengths.join(", ")}]`);
    if (sum !== n) throw new ValueError(`randomSplit: sum of input lengths (${sum}) does not equal the length of the input dataset (${n})`);
    counts = [...lengths];
  }
  const g = opts.generator ?? new Generator(opts.seed ?? seedFromGlobal());
  const perm = permutation(n, () => g.random());
  let off = 0;
  return counts.map((c) => new Subset(ds, perm.subarray(off, (off += c))));
}
