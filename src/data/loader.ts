/**
 * The DataLoader: batches of a dataset, shuffled reproducibly, prepared ahead of the consumer,
 * with a position that a checkpoint can save and restore.
 */
import { ValueError } from "../ir/errors.ts";
import { addToScope, withScopeList } from "../tensor/scope.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { type Collated, defaultCollate, tensorsIn } from "./collate.ts";
import { asDataset, type Dataset, type DatasetLike } from "./dataset.ts";
import { Generator, mixSeed, permutation, seedFromGlobal, withBatchGenerators, withGenerator } from "./random.ts";

export interface DataLoaderOptions<T, B = Collated<T>> {
  /** Samples per batch (default 1). */
  batchSize?: number;
  /** Reshuffle the samples at every epoch (default false). */
  shuffle?: boolean;
  /**
   * The loader's own seed: epoch `e` then uses the seed `mix(seed, e)` for its shuffle and its
   * random transforms, whatever else draws random numbers. Without it, each epoch takes its seed
   * from the global stream (`st.manualSeed`) when it starts, like PyTorch's base seed.
   */
  seed?: number;
  /** Drop the last batch when it is smaller than batchSize (default false). */
  dropLast?: boolean;
  /** Samples -> batch (default `defaultCollate`). With a collateFn, the dataset's `getBatch` is not used. */
  collateFn?: (samples: T[]) => B;
  /**
   * How many batches the async iterator prepares ahead of the one the consumer holds (default 2;
   * 0 prepares each batch when it is asked for). Preparation runs while the consumer awaits (a
   * device, a file, a timer), so loading overlaps training; the batches still arrive in order.
   */
  prefetch?: number;
  /**
   * Free the tensors the loader made for a batch as soon as the consumer asks for the next one
   * (or leaves the loop), so a training loop runs with flat memory without any st.scope around the
   * batches (default false: a batch lives until its scope ends, it is disposed, or it is collected).
   * Tensors derived from a batch stay valid; only the batch's own tensor objects are disposed.
   */
  releaseBatches?: boolean;
}

/** Where a DataLoader is: `batchIndex` batches of epoch `epoch` handed out, under shuffle seed `seed`. */
export interface DataLoaderState {
  epoch: number;
  batchIndex: number;
  /** The current epoch's seed (null before the epoch started). */
  seed: number | null;
}

interface Prepared<B> {
  batch: B;
  tensors: Set<Tensor>;
}

const isThenable = (v: unknown): v is PromiseLike<unknown> => typeof (v as { then?: unknown } | null)?.then === "function";

const macrotask: () => Promise<void> =
  typeof setImmediate === "function" ? () => new Promise((r) => setImmediate(r)) : () => new Promise((r) => setTimeout(r, 0));

function checkCount(op: string, name: string, v: number, min: number): number {
  if (!Number.isInteger(v) || v < min) throw new ValueError(`${op}: ${name} must be an integer >= ${min}, got ${v}`);
  return v;
}

/**
 * Batches of a dataset, like `torch.utils.data.DataLoader`. Iterate it with `for await` (batches
 * are prepared ahead, `prefetch`) or with a plain `for ... of` (each batch prepared on demand;
 * the dataset's `get` must then be synchronous). `length` is the number of batches.
 *
 * Reproducible: the shuffle and the random transforms of an epoch depend only on the epoch's seed
 * (see `seed`); each sample's transforms draw from a generator seeded by the epoch's seed and the
 * sample's index, so they do not depend on the order or timing of preparation.
 *
 * Resumable: `stateDict()` gives the epoch, the number of batches already handed out and the
 * epoch's seed; after `loadStateDict(state)` the next iteration continues that epoch at exactly
 * the next batch, with the same order. Iterating to the end of an epoch moves to the next one;
 * leaving a loop early (break) also ends the epoch, as in PyTorch.
 *
 * Memory: a batch's tensors belong to the `st.scope` open when the consumer receives them (or to
 * none: then `releaseBatches` frees each batch when the next is asked for). Batches are prepared
 * outside the consumer's scopes, so an async `st.scope` around a training step never frees a batch
 * prepared ahead. One iteration at a time: starting a new one (or `loadStateDict`) ends the
 * previous one.
 *
 * @example
 * const loader = new st.data.DataLoader(new st.data.TensorDataset(x, y), { batchSize: 64, shuffle: true });
 * for await (const [xb, yb] of loader) {   // xb: [64, ...], yb: [64]
 *   // ... a training step
 * }
 */
export class DataLoader<T = unknown, B = Collated<T>> implements AsyncIterable<B>, Iterable<B> {
  readonly dataset: Dataset<T>;
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  readonly prefetch: number;
  readonly seed: number | null;
  readonly releaseBatches: boolean;
  private readonly collateFn: ((samples: T[]) => B) | null;

  private epoch = 0;
  private batchIndex = 0;
  private epochSeed: number | null = null;
  /** True from the start of an epoch until it ends (an iteration left early keeps it true). */
  private inEpoch = false;
  /** Set by loadStateDict: the next iteration continues the loaded epoch. */
  private resumePending = false;
  /** Which iteration owns the position; an older one stops when a newer one starts. */
  private owner = 0;

  constructor(dataset: DatasetLike<T>, opts: DataLoaderOptions<T, B> = {}) {
    this.dataset = asDataset(dataset);
    this.batchSize = checkCount("DataLoader", "batchSize", opts.batchSize ?? 1, 1);
    this.shuffle = opts.shuffle ?? false;
    this.dropLast = opts.dropLast ?? false;
    this.prefetch = checkCount("DataLoader", "prefetch", opts.prefetch ?? 2, 0);
    if (opts.seed !== undefined && (!Number.isSafeInteger(opts.seed) || opts.seed < 0)) throw new ValueError(`DataLoader: seed must be a non-negative safe integer, got ${opts.seed}`);
    this.seed = opts.seed ?? null;
    this.collateFn = opts.collateFn ?? null;
    this.releaseBatches = opts.releaseBatches ?? false;
  }

  /** The number of batches per epoch. */
  get length(): number {
    const n = this.dataset.length;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** The position: epoch, batches handed out in it, and its seed. Plain numbers, for a checkpoint. */
  stateDict(): DataLoaderState {
    return { epoch: this.epoch, batchIndex: this.batchIndex, seed: this.epochSeed };
  }

  /** Restores a position from `stateDict()`: the next iteration continues at batch `batchIndex` of `epoch`. */
  loadStateDict(s: DataLoaderState): void {
    checkCount("DataLoader.loadStateDict", "epoch", s.epoch, 0);
    checkCount("DataLoader.loadStateDict", "batchIndex", s.batchIndex, 0);
    if (s.seed !== null && (!Number.isSafeInteger(s.seed) || s.seed < 0)) throw new ValueError(`DataLoader.loadStateDict: seed must be null or a non-negative safe integer, got ${s.seed}`);
    this.owner++;
    if (s.batchIndex > 0 && s.batchIndex >= this.length) {
      // That epoch was over: the next batch is the first of the next epoch.
      this.epoch = s.epoch + 1;
      this.batchIndex = 0;
      this.epochSeed = null;
      this.inEpoch = this.resumePending = false;
      return;
    }
    this.epoch = s.epoch;
    this.batchIndex = s.batchIndex;
    this.epochSeed = s.seed;
    this.inEpoch = false;
    this.resumePending = s.seed !== null || s.batchIndex > 0;
  }

  private drawSeed(): number {
    return this.seed !== null ? mixSeed(this.seed, this.epoch) : seedFromGlobal();
  }

  /** Starts (or resumes) an epoch: its sample order, first batch, seed, and the iteration's token. */
  private beginEpoch(): { order: Int32Array; start: number; seed: number; token: number } {
    if (this.resumePending) {
      this.resumePending = false;
      this.epochSeed ??= this.drawSeed();
    } else {
      if (this.inEpoch) this.epoch++; // the previous iteration was left early: that epoch is over
      this.batchIndex = 0;
      this.epochSeed = this.drawSeed();
    }
    this.inEpoch = true;
    const token = ++this.owner;
    const n = this.dataset.length, seed = this.epochSeed;
    let order: Int32Array;
    if (this.shuffle) {
      const g = new Generator(seed);
      order = permutation(n, () => g.random());
    } else {
      order = new Int32Array(n);
      for (let i = 0; i < n; i++) order[i] = i;
    }
    return { order, start: this.batchIndex, seed, token };
  }

  private endEpoch(token: number): void {
    if (this.owner !== token) return;
    this.epoch++;
    this.batchIndex = 0;
    this.epochSeed = null;
    this.inEpoch = false;
  }

  private indicesOf(order: Int32Array, b: number): Int32Array {
    return order.subarray(b * this.batchSize, Math.min(order.length, (b + 1) * this.batchSize));
  }

  /** Calls `get` for each sample with its generator installed (seeded by the epoch's seed and the sample's index). */
  private fetch(indices: Int32Array, seed: number): (T | Promise<T>)[] {
    return Array.from(indices, (i) => withGenerator(new Generator(mixSeed(seed, i)), () => this.dataset.get(i)));
  }

  /**
   * Runs `fn` in a fresh scope list; frees what it (and `earlier`, tensors made by the same
   * preparation) made except the batch's tensors. The batch's tensors made here are the ones the
   * consumer gets to own; tensors the batch shares with the dataset stay the dataset's.
   */
  private build(fn: () => B | undefined, earlier: readonly Tensor[] = []): Prepared<B> | undefined {
    const made: Tensor[] = [...earlier];
    let batch: B | undefined;
    try {
      batch = withScopeList(made, fn);
    } catch (e) {
      for (const t of made) if (!t.pinned) t.dispose();
      throw e;
    }
    const inBatch = tensorsIn(batch), tensors = new Set<Tensor>();
    for (const t of made) {
      if (inBatch.has(t)) tensors.add(t);
      else if (!t.pinned) t.dispose();
    }
    return batch === undefined ? undefined : { batch, tensors };
  }

  private collate(samples: T[]): B {
    return this.collateFn ? this.collateFn(samples) : (defaultCollate(samples) as B);
  }

  /** The batch from the dataset's `getBatch`, with each sample's generator installed (for batched random transforms). */
  private fastBatch(indices: Int32Array, seed: number): Prepared<B> | undefined {
    if (this.collateFn || !this.dataset.getBatch) return undefined;
    const gens = Array.from(indices, (i) => new Generator(mixSeed(seed, i)));
    return this.build(() => withBatchGenerators(gens, () => this.dataset.getBatch!(indices) as B | undefined));
  }

  private prepareSync(order: Int32Array, b: number, seed: number): Prepared<B> {
    const indices = this.indicesOf(order, b);
    const fast = this.fastBatch(indices, seed);
    if (fast) return fast;
    return this.build(() => {
      const samples = this.fetch(indices, seed);
      if (samples.some(isThenable)) {
        throw new ValueError("DataLoader: the dataset's get() returned a Promise; iterate with `for await (... of loader)`");
      }
      return this.collate(samples as T[]);
    })!;
  }

  private async prepareAsync(order: Int32Array, b: number, seed: number): Promise<Prepared<B>> {
    await macrotask(); // let the consumer run first: preparation fills the time it waits
    const indices = this.indicesOf(order, b);
    const fast = this.fastBatch(indices, seed);
    if (fast) return fast;
    // The synchronous part of each get() runs outside the consumer's scopes; what it makes is
    // freed after collation unless it is part of the batch.
    const made: Tensor[] = [];
    let samples: (T | Promise<T>)[];
    try {
      samples = withScopeList(made, () => this.fetch(indices, seed));
    } catch (e) {
      for (const t of made) if (!t.pinned) t.dispose();
      throw e;
    }
    let resolved: T[];
    try {
      resolved = await Promise.all(samples);
    } catch (e) {
      for (const t of made) if (!t.pinned) t.dispose();
      throw e;
    }
    return this.build(() => this.collate(resolved), made)!;
  }

  /** Hands a prepared batch to the consumer: its tensors join the consumer's current scope. */
  private handOver(p: Prepared<B>, b: number): B {
    for (const t of p.tensors) addToScope(t);
    this.batchIndex = b + 1;
    return p.batch;
  }

  /** With `releaseBatches`, frees the batch handed out before (the consumer has moved on). */
  private release(p: Prepared<B> | null): null {
    if (p && this.releaseBatches) for (const t of p.tensors) t.dispose();
    return null;
  }

  *[Symbol.iterator](): Iterator<B> {
    const { order, start, seed, token } = this.beginEpoch();
    const nb = this.length;
    let prev: Prepared<B> | null = null;
    try {
      for (let b = start; b < nb; b++) {
        prev = this.release(prev);
        const p = this.prepareSync(order, b, seed);
        if (this.owner !== token) { // another iteration took over meanwhile
          for (const t of p.tensors) t.dispose();
          return;
        }
        prev = p;
        yield this.handOver(p, b);
      }
      this.endEpoch(token);
    } finally {
      this.release(prev);
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<B> {
    const { order, start, seed, token } = this.beginEpoch();
    const nb = this.length;
    const queue: Promise<Prepared<B>>[] = [];
    let chain: Promise<unknown> = Promise.resolve();
    let launched = start;
    const launch = (b: number) => {
      const p = chain.then(() => this.prepareAsync(order, b, seed));
      p.catch(() => {}); // the consumer sees the error when it reaches this batch
      chain = p.catch(() => {});
      queue.push(p);
    };
    let prev: Prepared<B> | null = null;
    try {
      for (let b = start; b < nb; b++) {
        prev = this.release(prev);
        while (launched < nb && launched <= b + this.prefetch) launch(launched++);
        const p = await queue.shift()!;
        if (this.owner !== token) { // another iteration took over meanwhile
          for (const t of p.tensors) t.dispose();
          return;
        }
        prev = p;
        yield this.handOver(p, b);
      }
      this.endEpoch(token);
    } finally {
      this.release(prev);
      // Batches prepared for a loop that ended early belong to nobody: free them.
      for (const p of queue) p.then((x) => { for (const t of x.tensors) t.dispose(); }, () => {});
    }
  }
}
