/**
 * st.data: datasets, the DataLoader (batching, shuffling, collation, prefetch, resuming),
 * transforms, tokenizers, and the file readers (IDX, MNIST digits, Fashion-MNIST, CSV, PNG, JPEG,
 * WAV) on small files made here.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import jpeg from "jpeg-js";
import { PNG } from "pngjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as st from "../src/index.ts";

const D = st.data;
const T = st.data.transforms;

const saved = st.getRngState();
afterAll(() => st.setRngState(saved));

const nums = async (t: st.Tensor): Promise<number[]> => Array.from(await t.data(), Number);
const buffers = (): number => st.memory().js?.buffers ?? 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let dir = "";
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "strata-data-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** x[i] = [i, 10 i], y[i] = i: each batch's rows tell which samples it holds. */
function ramp(n: number): st.data.TensorDataset {
  const x = st.tensor(Float32Array.from({ length: 2 * n }, (_, k) => (k % 2 ? 10 : 1) * Math.floor(k / 2))).reshape([n, 2]);
  return new D.TensorDataset(x, st.arange(n));
}

type Pair = [st.Tensor, st.Tensor];

/** The sample indices (from y) of every batch of one epoch, iterated with `for await`. */
async function epochIds<T>(loader: st.data.DataLoader<T, Pair>): Promise<number[][]> {
  const out: number[][] = [];
  for await (const [, y] of loader) out.push(await nums(y));
  return out;
}

describe("datasets", () => {
  it("TensorDataset gives rows, checks sizes and indices", async () => {
    const ds = ramp(5);
    expect(ds.length).toBe(5);
    const [x, y] = ds.get(3);
    expect(x!.shape).toEqual([2]);
    expect(y!.shape).toEqual([]);
    expect(await nums(x!)).toEqual([3, 30]);
    expect(await nums(y!)).toEqual([3]);
    expect(await nums(ds.get(-1)[1]!)).toEqual([4]);
    expect(() => ds.get(5)).toThrow(/TensorDataset.get: index 5 is out of range for a dataset of length 5/);
    expect(() => new D.TensorDataset(st.zeros([3, 2]), st.zeros([4]))).toThrow(st.ShapeError);
    const [bx, by] = ds.getBatch(Int32Array.of(4, 0, 2));
    expect(await nums(by!)).toEqual([4, 0, 2]);
    expect(await bx!.tolist()).toEqual([[4, 40], [0, 0], [2, 20]]);
  });

  it("Subset, ConcatDataset and arrays as datasets", async () => {
    const sub = new D.Subset(ramp(10), [9, 3, 5]);
    expect(sub.length).toBe(3);
    expect(await nums((sub.get(1) as st.Tensor[])[1]!)).toEqual([3]);
    expect(await nums((sub.getBatch(Int32Array.of(2, 0)) as st.Tensor[])[1]!)).toEqual([5, 9]);
    const cat = new D.ConcatDataset<number>([[1, 2, 3], [4], [5, 6]]);
    expect(cat.length).toBe(6);
    expect(Array.from({ length: 6 }, (_, i) => cat.get(i))).toEqual([1, 2, 3, 4, 5, 6]);
    expect(cat.locate(4)).toEqual([2, 0]);
    expect(() => cat.get(6)).toThrow(st.IndexError);
    // A ConcatDataset of TensorDatasets batches through getBatch when a batch stays in one part.
    const two = new D.ConcatDataset([ramp(3), ramp(4)]);
    expect(await nums((two.getBatch(Int32Array.of(4, 3)) as st.Tensor[])[1]!)).toEqual([1, 0]);
    expect(two.getBatch(Int32Array.of(0, 3))).toBeUndefined();
  });

  it("randomSplit: counts or fractions, disjoint, reproducible", () => {
    const ds = Array.from({ length: 11 }, (_, i) => i);
    const parts = D.randomSplit(ds, [0.5, 0.3, 0.2], { seed: 3 });
    expect(parts.map((p) => p.length)).toEqual([6, 3, 2]); // floors 5, 3, 2; the one left goes to the first
    const all = parts.flatMap((p) => Array.from(p.indices));
    expect([...all].sort((a, b) => a - b)).toEqual(ds);
    const again = D.randomSplit(ds, [0.5, 0.3, 0.2], { seed: 3 });
    expect(again.map((p) => Array.from(p.indices))).toEqual(parts.map((p) => Array.from(p.indices)));
    expect(D.randomSplit(ds, [0.5, 0.3, 0.2], { seed: 4 }).map((p) => Array.from(p.indices))).not.toEqual(parts.map((p) => Array.from(p.indices)));
    const [a, b] = D.randomSplit(ds, [8, 3], { generator: new D.Generator(1) });
    expect([a!.length, b!.length]).toEqual([8, 3]);
    expect(parts[0]!.get(0)).toBe(parts[0]!.indices[0]);
    // From the global stream when no seed is given.
    st.manualSeed(9);
    const g1 = D.randomSplit(ds, [5, 6]).map((p) => Array.from(p.indices));
    st.manualSeed(9);
    expect(D.randomSplit(ds, [5, 6]).map((p) => Array.from(p.indices))).toEqual(g1);
    expect(() => D.randomSplit(ds, [5, 5])).toThrow(/sum of input lengths \(10\) does not equal the length of the input dataset \(11\)/);
  });
});

describe("DataLoader", () => {
  it("batches in order, with length and dropLast", async () => {
    const ds = ramp(10);
    const loader = new D.DataLoader<st.Tensor[], Pair>(ds, { batchSize: 4 });
    expect(loader.length).toBe(3);
    const batches: Pair[] = [];
    for await (const b of loader) batches.push(b);
    expect(batches.map(([x]) => x.shape)).toEqual([[4, 2], [4, 2], [2, 2]]);
    expect(await batches[1]![0].tolist()).toEqual([[4, 40], [5, 50], [6, 60], [7, 70]]);
    expect(batches[0]![1].dtype).toBe("int64");
    expect(await nums(batches[2]![1])).toEqual([8, 9]);
    const dropped = new D.DataLoader<st.Tensor[], Pair>(ds, { batchSize: 4, dropLast: true });
    expect(dropped.length).toBe(2);
    expect(await epochIds(dropped)).toEqual([[0, 1, 2, 3], [4, 5, 6, 7]]);
    expect(() => new D.DataLoader(ds, { batchSize: 0 })).toThrow(/batchSize must be an integer >= 1, got 0/);
  });

  it("the sync iterator gives the same batches as the async one", async () => {
    const ds = ramp(7);
    const a = new D.DataLoader<st.Tensor[], Pair>(ds, { batchSize: 3, shuffle: true, seed: 5 });
    const b = new D.DataLoader<st.Tensor[], Pair>(ds, { batchSize: 3, shuffle: true, seed: 5 });
    const syncIds: number[][] = [];
    for (const [, y] of a) syncIds.push(await nums(y));
    expect(syncIds).toEqual(await epochIds(b));
    // An async dataset cannot be iterated synchronously.
    const slow = new D.DataLoader({ length: 2, get: async (i: number) => i });
    expect(() => [...slow]).toThrow(/returned a Promise; iterate with `for await/);
  });

  it("shuffles reproducibly: from st.manualSeed, or from its own seed", async () => {
    const ds = ramp(20);
    const run = async (opts: st.data.DataLoaderOptions<st.Tensor[], Pair>) => {
      const loader = new D.DataLoader<st.Tensor[], Pair>(ds, { batchSize: 6, ...opts });
      return [(await epochIds(loader)).flat(), (await epochIds(loader)).flat()];
    };
    st.manualSeed(1);
    const [e0, e1] = await run({ shuffle: true });
    expect([...e0!].sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i)); // a permutation
    expect(e0).not.toEqual(e1); // each epoch reshuffles
    expect(e0).not.toEqual(Array.from({ length: 20 }, (_, i) => i));
    st.manualSeed(1);
    expect(await run({ shuffle: true })).toEqual([e0, e1]);
    st.manualSeed(2);
    expect((await run({ shuffle: true }))[0]).not.toEqual(e0);
    // An explicit seed ignores the global stream.
    st.manualSeed(1);
    const s1 = await run({ shuffle: true, seed: 42 });
    st.manualSeed(77);
    expect(await run({ shuffle: true, seed: 42 })).toEqual(s1);
    expect((await run({ shuffle: true, seed: 43 }))[0]).not.toEqual(s1[0]);
    // No shuffle: in order, every epoch.
    expect(await run({})).toEqual([Array.from({ length: 20 }, (_, i) => i), Array.from({ length: 20 }, (_, i) => i)]);
  });

  it("collates nested samples: tensors, numbers, booleans, bigints, typed arrays, arrays, objects, strings", async () => {
    const samples = [0, 1, 2].map((i) => ({
      image: st.tensor([[i, i + 1], [i + 2, i + 3]]),
      label: i,
      extra: [i + 0.5, i % 2 === 0, `s${i}`],
      feats: Float32Array.of(i, -i, 2 * i),
      ids: Int32Array.of(i, 7),
      big: BigInt(i) * 10n,
    }));
    const loader = new D.DataLoader(samples, { batchSize: 3 });
    const [batch] = [...loader] as Array<{ image: st.Tensor; label: st.Tensor; extra: [st.Tensor, st.Tensor, string[]]; feats: st.Tensor; ids: st.Tensor; big: st.Tensor }>;
    expect(batch!.image.shape).toEqual([3, 2, 2]);
    expect(await batch!.image.tolist()).toEqual([[[0, 1], [2, 3]], [[1, 2], [3, 4]], [[2, 3], [4, 5]]]);
    expect(batch!.label.dtype).toBe("int64"); // integers -> int64 (class labels)
    expect(await nums(batch!.label)).toEqual([0, 1, 2]);
    expect(batch!.extra[0].dtype).toBe("float32");
    expect(await nums(batch!.extra[0])).toEqual([0.5, 1.5, 2.5]);
    expect(batch!.extra[1].dtype).toBe("bool");
    expect(await nums(batch!.extra[1])).toEqual([1, 0, 1]);
    expect(batch!.extra[2]).toEqual(["s0", "s1", "s2"]);
    expect(batch!.feats.dtype).toBe("float32");
    expect(await batch!.feats.tolist()).toEqual([[0, -0, 0], [1, -1, 2], [2, -2, 4]]);
    expect(batch!.ids.dtype).toBe("int32");
    expect(await batch!.ids.tolist()).toEqual([[0, 7], [1, 7], [2, 7]]);
    expect(batch!.big.dtype).toBe("int64");
    expect(await nums(batch!.big)).toEqual([0, 10, 20]);
  });

  it("collate errors name what differs", () => {
    expect(() => D.defaultCollate([st.zeros([2]), st.zeros([3])])).toThrow(/stack expects each tensor to be equal size, but got \[2\] at entry 0 and \[3\] at entry 1/);
    expect(() => D.defaultCollate([{ a: 1 }, { b: 1 }])).toThrow(/have different keys/);
    expect(() => D.defaultCollate([[1, 2], [1]])).toThrow(/same number of elements/);
    expect(() => D.defaultCollate([1, "a"])).toThrow(/samples differ at batch: entry 0 is number, entry 1 is string/);
    expect(() => D.defaultCollate([new Date(), new Date()])).toThrow(/cannot batch values of type Date at batch; pass a collateFn/);
    expect(() => D.defaultCollate([st.zeros([2]), st.zeros([2], { dtype: "int32" })])).toThrow(st.DTypeError);
  });

  it("a collateFn replaces the default (and the getBatch fast path)", async () => {
    const loader = new D.DataLoader(ramp(5), {
      batchSize: 2,
      collateFn: (samples: st.Tensor[][]) => samples.map((s) => Number(s[1]!.itemSync())),
    });
    const out: number[][] = [];
    for await (const b of loader) out.push(b);
    expect(out).toEqual([[0, 1], [2, 3], [4]]);
  });

  it("the TensorDataset fast path (one gather per batch) equals stacking the samples", async () => {
    const ds = ramp(13);
    const fast = new D.DataLoader<st.Tensor[], Pair>(ds, { batchSize: 5, shuffle: true, seed: 8 });
    const slow = new D.DataLoader<st.Tensor[], Pair>(ds, { batchSize: 5, shuffle: true, seed: 8, collateFn: (s) => D.defaultCollate(s) as Pair });
    const a: unknown[] = [], b: unknown[] = [];
    for await (const [x, y] of fast) a.push([await x.tolist(), await y.tolist()]);
    for await (const [x, y] of slow) b.push([await x.tolist(), await y.tolist()]);
    expect(a).toEqual(b);
    expect(a.length).toBe(3);
    // A batch is one gather kernel per tensor (fused into whatever reads it), not a stack.
    const [[x]] = [...new D.DataLoader<st.Tensor[], Pair>(ds, { batchSize: 13, shuffle: true, seed: 1 })];
    expect(st.engine.schedule(x!).length).toBe(1);
  });

  it("prefetch prepares later batches while the consumer awaits, and keeps them in order", async () => {
    const log: string[] = [];
    // An async dataset whose samples take different times to load.
    const ds: st.data.Dataset<number> = {
      length: 12,
      get: async (i) => {
        log.push(`get ${i}`);
        await sleep((i * 7) % 5);
        return i;
      },
    };
    const ref: number[][] = [];
    for await (const b of new D.DataLoader<number, st.Tensor>(ds, { batchSize: 3, prefetch: 0 })) ref.push(await nums(b));
    expect(ref).toEqual([[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11]]);

    log.length = 0;
    const got: number[][] = [];
    for await (const b of new D.DataLoader<number, st.Tensor>(ds, { batchSize: 3, prefetch: 2 })) {
      got.push(await nums(b));
      await sleep(30); // a "training step" that waits (as for a device)
      log.push(`step ${got.length - 1} done`);
    }
    expect(got).toEqual(ref);
    // While the consumer worked on batch 0, batches 1 and 2 were loaded, but not batch 3.
    const before = log.slice(0, log.indexOf("step 0 done"));
    for (const i of [3, 4, 5, 6, 7, 8]) expect(before).toContain(`get ${i}`);
    expect(before).not.toContain("get 9");

    // Without prefetch, nothing is loaded ahead.
    log.length = 0;
    let k = 0;
    for await (const _ of new D.DataLoader<number, st.Tensor>(ds, { batchSize: 3, prefetch: 0 })) {
      await sleep(10);
      log.push(`step ${k++} done`);
    }
    expect(log.slice(0, log.indexOf("step 0 done"))).toEqual(["get 0", "get 1", "get 2"]);
  });

  it("prefetched batches survive the consumer's async st.scope, and the loop frees what it made", async () => {
    const ds = new D.TransformDataset(ramp(9), (x: st.Tensor) => x.mul(2)); // samples made by tensor ops
    const before = buffers();
    const sums: number[] = [];
    await st.scope(async () => {
      const loader = new D.DataLoader<st.Tensor[], Pair>(ds, { batchSize: 2, prefetch: 3 });
      for await (const [x] of loader) {
        // The step's scope is open while the loader prepares the next batches in the background.
        await st.scope(async () => {
          await sleep(5);
          sums.push(Number(await x.sum().item()));
        });
      }
    });
    expect(sums).toEqual([22, 110, 198, 286, 176]); // 2 * 11 * (i + (i + 1)), and 2 * 11 * 8 for the last
    expect(buffers()).toBe(before);
  });

  it("a batch belongs to the consumer's scope, but a dataset's own tensors stay the dataset's", async () => {
    const own = [st.tensor([1, 2]), st.tensor([3, 4])];
    const passThrough = new D.DataLoader(own, { batchSize: 1, collateFn: (s: st.Tensor[]) => s[0]! });
    const seen: number[][] = [];
    await st.scope(async () => {
      for await (const b of passThrough) seen.push(await nums(b));
    });
    expect(seen).toEqual([[1, 2], [3, 4]]);
    expect(own.map((t) => t.isDisposed)).toEqual([false, false]);
    let kept: st.Tensor | null = null;
    await st.scope(async () => {
      for await (const b of new D.DataLoader(own, { batchSize: 2 })) kept = b;
    });
    expect(kept!.isDisposed).toBe(true); // made by the loader: freed with the scope it was handed to
    expect(await nums(own[1]!)).toEqual([3, 4]);
  });

  it("releaseBatches frees each batch when the next is asked for", async () => {
    const ds = ramp(12);
    for (const collateFn of [undefined, (s: st.Tensor[][]) => D.defaultCollate(s) as Pair]) {
      const before = buffers();
      const loader = new D.DataLoader<st.Tensor[], Pair>(ds, { batchSize: 4, shuffle: true, seed: 1, releaseBatches: true, collateFn });
      const held: Pair[] = [];
      let total = 0;
      for await (const b of loader) {
        expect(b[0].isDisposed).toBe(false);
        held.push(b);
        total = await st.scope(async () => total + Number(await b[1].sum().item()));
      }
      expect(total).toBe(66);
      expect(held.flat().every((t) => t.isDisposed)).toBe(true);
      expect(buffers()).toBe(before);
      for (const [x] of loader) expect(x.isDisposed).toBe(false); // the sync iterator too
      expect(buffers()).toBe(before);
    }
  });

  it("errors in a dataset reach the consumer at that batch", async () => {
    const ds = { length: 6, get: (i: number) => { if (i === 4) throw new Error("bad sample 4"); return i; } };
    const seen: number[][] = [];
    await expect((async () => {
      for await (const b of new D.DataLoader<number, st.Tensor>(ds, { batchSize: 2, prefetch: 2 })) seen.push(await nums(b));
    })()).rejects.toThrow("bad sample 4");
    expect(seen).toEqual([[0, 1], [2, 3]]);
  });

  it("stateDict / loadStateDict resume on exactly the next batch (global-stream seeds)", async () => {
    const ds = ramp(10);
    const make = () => new D.DataLoader<st.Tensor[], Pair>(ds, { batchSize: 3, shuffle: true });
    // Reference: three whole epochs.
    st.manualSeed(11);
    const ref = make();
    const epochs = [await epochIds(ref), await epochIds(ref), await epochIds(ref)];
    expect(ref.stateDict()).toEqual({ epoch: 3, batchIndex: 0, seed: null });

    // A run stopped after batch 2 of epoch 1, with its state (and the global RNG state) saved.
    st.manualSeed(11);
    const run = make();
    await epochIds(run);
    let state: st.data.DataLoaderState | null = null, rng: st.RngState | null = null;
    for await (const [, y] of run) {
      if (run.stateDict().batchIndex === 2) {
        state = run.stateDict();
        rng = st.getRngState();
        expect(await nums(y)).toEqual(epochs[1]![1]);
        break;
      }
    }
    expect(state).toMatchObject({ epoch: 1, batchIndex: 2 });
    expect(typeof state!.seed).toBe("number");

    // Resumed in a fresh loader: the rest of epoch 1, then epoch 2 as in the reference.
    st.manualSeed(999);
    const resumed = make();
    resumed.loadStateDict(JSON.parse(JSON.stringify(state)));
    st.setRngState(rng!);
    expect(await epochIds(resumed)).toEqual(epochs[1]!.slice(2));
    expect(resumed.stateDict()).toEqual({ epoch: 2, batchIndex: 0, seed: null });
    expect(await epochIds(resumed)).toEqual(epochs[2]);

    // A state saved after the last batch of an epoch resumes at the next epoch.
    const end = make();
    end.loadStateDict({ epoch: 0, batchIndex: 4, seed: 123 });
    expect(end.stateDict()).toEqual({ epoch: 1, batchIndex: 0, seed: null });
  });

  it("resumes with an explicit seed and the sync iterator; leaving a loop early ends the epoch", () => {
    const ds = ramp(8);
    const make = () => new D.DataLoader<st.Tensor[], Pair>(ds, { batchSize: 2, shuffle: true, seed: 7 });
    const ids = (it: Iterable<Pair>) => [...it].map(([, y]) => Array.from(y.dataSync(), Number));
    const ref = make();
    const e0 = ids(ref), e1 = ids(ref);
    const run = make();
    for (const _ of run) if (run.stateDict().batchIndex === 3) break;
    const state = run.stateDict();
    expect(state).toMatchObject({ epoch: 0, batchIndex: 3 });
    // The loop was left early: the next iteration is epoch 1.
    expect(ids(run)).toEqual(e1);
    const resumed = make();
    resumed.loadStateDict(state);
    expect(ids(resumed)).toEqual(e0.slice(3));
    expect(ids(resumed)).toEqual(e1);
    expect(() => resumed.loadStateDict({ epoch: -1, batchIndex: 0, seed: null })).toThrow(st.ValueError);
  });
});

describe("transforms", () => {
  it("toTensor: uint8 HWC -> float32 CHW / 255", async () => {
    const img = st.tensor(Uint8Array.of(0, 51, 102, 153, 204, 255, 10, 20, 30, 40, 50, 60)).reshape([2, 2, 3]); // [H, W, C]
    const x = T.toTensor()(img);
    expect(x.shape).toEqual([3, 2, 2]);
    expect(x.dtype).toBe("float32");
    const want = [[0, 153, 10, 40], [51, 204, 20, 50], [102, 255, 30, 60]].map((c) => c.map((v) => Math.fround(v / 255)));
    expect(await nums(x)).toEqual(want.flat());
    expect(T.toTensor()(st.tensor(Uint8Array.of(255, 0)).reshape([1, 2])).shape).toEqual([1, 1, 2]);
    expect(() => T.toTensor()(st.zeros([2]))).toThrow(st.ShapeError);
  });

  it("normalize per channel", async () => {
    const x = st.tensor([[[1, 2]], [[3, 5]]]); // [2, 1, 2]
    const y = T.normalize([1, 1], [0.5, 2])(x);
    expect(await nums(y)).toEqual([0, 2, 1, 2]);
    expect(await nums(T.normalize(1, 2)(x))).toEqual([0, 0.5, 1, 2]);
    expect(() => T.normalize([0, 0, 0], [1, 1, 1])(x)).toThrow(/3 means and stds for an image of 2 channels/);
    expect(() => T.normalize([0], [0])).toThrow(/std must be finite and nonzero/);
    expect(() => T.normalize([0], [1])(st.zeros([1, 2, 2], { dtype: "uint8" }))).toThrow(/apply toTensor first/);
  });

  it("randomCrop pads, then crops where its generator says", async () => {
    const x = st.arange(1, 10).to("float32").reshape([1, 3, 3]);
    for (const seed of [0, 1, 2, 3, 4]) {
      const crop = T.randomCrop(2, 1, { generator: new D.Generator(seed) });
      const g = new D.Generator(seed);
      const i = Math.floor(g.random() * 4), j = Math.floor(g.random() * 4); // padded 5x5, crop 2x2: offsets 0..3
      const padded = [0, 0, 0, 0, 0, 0, 1, 2, 3, 0, 0, 4, 5, 6, 0, 0, 7, 8, 9, 0, 0, 0, 0, 0, 0];
      const want = [padded[i * 5 + j], padded[i * 5 + j + 1], padded[(i + 1) * 5 + j], padded[(i + 1) * 5 + j + 1]];
      expect(await nums(crop(x))).toEqual(want);
    }
    // fill, and [left/right, top/bottom] padding: a 1x1 image padded by 1 column each side.
    const one = st.tensor([[[5]]]);
    const seen = new Set<string>();
    const crop = T.randomCrop([1, 1], [1, 0], { fill: -1, generator: new D.Generator(0) });
    for (let k = 0; k < 30; k++) seen.add(String(await nums(crop(one))));
    expect([...seen].sort()).toEqual(["-1", "5"]);
    expect(() => T.randomCrop(4)(st.zeros([1, 3, 3]))).toThrow(/the crop 4x4 is larger than the \(padded\) image 3x3/);
  });

  it("random flips with p = 1 and p = 0, and from the global stream", async () => {
    const x = st.tensor([[[1, 2], [3, 4]]]);
    expect(await nums(T.randomHorizontalFlip(1)(x))).toEqual([2, 1, 4, 3]);
    expect(await nums(T.randomVerticalFlip(1)(x))).toEqual([3, 4, 1, 2]);
    expect(await nums(T.randomHorizontalFlip(0)(x))).toEqual([1, 2, 3, 4]);
    const flips = async () => {
      const out: number[] = [];
      for (let k = 0; k < 16; k++) out.push((await nums(T.randomHorizontalFlip()(x)))[0]!);
      return out;
    };
    st.manualSeed(4);
    const a = await flips();
    st.manualSeed(4);
    expect(await flips()).toEqual(a);
    expect(new Set(a)).toEqual(new Set([1, 2]));
    expect(() => T.randomHorizontalFlip(1.5)).toThrow(st.ValueError);
  });

  it("compose chains left to right", async () => {
    const f = T.compose([T.toTensor(), T.normalize([0.5], [0.5]), T.randomHorizontalFlip(1)]);
    const y = f(st.tensor(Uint8Array.of(0, 255)).reshape([1, 2, 1]));
    expect(await nums(y)).toEqual([1, -1]);
  });

  it("in a DataLoader: per-sample draws, reproducible, the same batched or sample by sample", async () => {
    const n = 10;
    const images = st.arange(n * 16).to("float32").reshape([n, 1, 4, 4]);
    const aug = T.compose([T.randomCrop(3, 1), T.randomHorizontalFlip()]);
    const ds = new D.TransformDataset(new D.TensorDataset(images, st.arange(n)), aug);
    const epoch = async (opts: st.data.DataLoaderOptions<st.Tensor[], Pair>) => {
      const out: unknown[] = [];
      for await (const [x, y] of new D.DataLoader<st.Tensor[], Pair>(ds, { batchSize: 4, shuffle: true, seed: 3, ...opts })) {
        out.push([await x.tolist(), await y.tolist()]);
      }
      return out;
    };
    const batched = await epoch({});
    expect((batched[0] as [number[][][][]])[0].length).toBe(4);
    const perSample = await epoch({ collateFn: (s) => D.defaultCollate(s) as Pair });
    expect(perSample).toEqual(batched);
    expect(await epoch({ prefetch: 0 })).toEqual(batched);
    // A different loader seed augments differently.
    expect(await epoch({ seed: 4 })).not.toEqual(batched);
  });
});

describe("tokenizers", () => {
  it("CharTokenizer: fit, encode, decode, vocabulary", () => {
    const tok = D.CharTokenizer.fit("hello world");
    expect(tok.vocab).toEqual([" ", "d", "e", "h", "l", "o", "r", "w"]);
    expect(tok.vocabSize).toBe(8);
    expect(tok.encode("hold")).toEqual([3, 5, 4, 1]);
    expect(tok.decode([3, 5, 4, 1])).toBe("hold");
    expect(tok.decode(Int32Array.of(7, 5))).toBe("wo");
    expect(tok.decode(BigInt64Array.of(2n))).toBe("e");
    expect(() => tok.encode("hex")).toThrow(/character "x" \(U\+0078\) at position 2 is not in the vocabulary/);
    expect(() => tok.decode([8])).toThrow(/token id 8 at position 0 is outside the vocabulary \(size 8\)/);
    // Code points, not UTF-16 units.
    const emoji = D.CharTokenizer.fit("a😀b😀");
    expect(emoji.vocab).toEqual(["a", "b", "😀"]);
    expect(emoji.encode("😀a")).toEqual([2, 0]);
    const restored = new D.CharTokenizer(JSON.parse(JSON.stringify(tok)).vocab);
    expect(restored.encode("world")).toEqual(tok.encode("world"));
    expect(() => new D.CharTokenizer(["a", "a"])).toThrow(/twice/);
  });

  it("ByteTokenizer: UTF-8 bytes", () => {
    const tok = new D.ByteTokenizer();
    expect(tok.vocabSize).toBe(256);
    expect(tok.encode("hé€")).toEqual([104, 0xc3, 0xa9, 0xe2, 0x82, 0xac]);
    expect(tok.decode(tok.encode("naïve 😀"))).toBe("naïve 😀");
    expect(tok.decode([0xff, 104])).toBe("\ufffdh");
    expect(() => tok.decode([256])).toThrow(/token id 256/);
  });
});

/** An IDX file: magic [0, 0, type, ndims], big-endian dims, then the values. */
function idx(type: number, dims: number[], values: number[]): Uint8Array {
  const size = { 0x08: 1, 0x09: 1, 0x0b: 2, 0x0c: 4, 0x0d: 4, 0x0e: 8 }[type]!;
  const buf = new Uint8Array(4 + 4 * dims.length + size * values.length);
  const dv = new DataView(buf.buffer);
  buf.set([0, 0, type, dims.length]);
  dims.forEach((d, i) => dv.setUint32(4 + 4 * i, d));
  const o = 4 + 4 * dims.length;
  values.forEach((v, i) => {
    if (type === 0x08) dv.setUint8(o + i, v);
    else if (type === 0x09) dv.setInt8(o + i, v);
    else if (type === 0x0b) dv.setInt16(o + 2 * i, v);
    else if (type === 0x0c) dv.setInt32(o + 4 * i, v);
    else if (type === 0x0d) dv.setFloat32(o + 4 * i, v);
    else dv.setFloat64(o + 8 * i, v);
  });
  return buf;
}

describe("IDX", () => {
  it("parses each type, big-endian, to its dims", async () => {
    const u8 = D.parseIdx(idx(0x08, [3, 2, 2], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255]));
    expect(u8.dtype).toBe("uint8");
    expect(u8.shape).toEqual([3, 2, 2]);
    expect(await nums(u8)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255]);
    const i32 = D.parseIdx(idx(0x0c, [2, 3], [1, -2, 70000, -70000, 0, 2147483647]));
    expect(i32.dtype).toBe("int32");
    expect(await i32.tolist()).toEqual([[1, -2, 70000], [-70000, 0, 2147483647]]);
    expect(await nums(D.parseIdx(idx(0x09, [2], [-128, 127])))).toEqual([-128, 127]);
    expect(await nums(D.parseIdx(idx(0x0b, [2], [-300, 300])))).toEqual([-300, 300]);
    expect(await nums(D.parseIdx(idx(0x0d, [2], [1.5, -0.25])))).toEqual([1.5, -0.25]);
    const f64 = D.parseIdx(idx(0x0e, [1], [Math.PI]));
    expect(f64.dtype).toBe("float64");
    expect(await nums(f64)).toEqual([Math.PI]);
  });

  it("reads plain and gzip files", async () => {
    const raw = idx(0x08, [2, 3], [1, 2, 3, 4, 5, 6]);
    writeFileSync(join(dir, "a-idx2-ubyte"), raw);
    writeFileSync(join(dir, "a-idx2-ubyte.gz"), gzipSync(raw));
    for (const f of ["a-idx2-ubyte", "a-idx2-ubyte.gz"]) {
      const t = await D.readIdx(join(dir, f));
      expect(t.shape).toEqual([2, 3]);
      expect(await nums(t)).toEqual([1, 2, 3, 4, 5, 6]);
    }
    expect(await nums(await D.decodeIdx(gzipSync(raw)))).toEqual([1, 2, 3, 4, 5, 6]);
    await expect(D.readIdx(join(dir, "missing"))).rejects.toThrow(/readIdx: cannot read .*missing: no such file/);
  });

  it("rejects bad input with a clear error, before allocating", async () => {
    const good = idx(0x08, [4, 2], [1, 2, 3, 4, 5, 6, 7, 8]);
    const cases: [Uint8Array, RegExp][] = [
      [Uint8Array.of(1, 2, 8, 1, 0, 0, 0, 1, 0), /IDX: bad magic number 0x01020801/],
      [Uint8Array.of(0, 0, 0x0a, 1, 0, 0, 0, 1, 0), /unknown data type code 0x0a/],
      [Uint8Array.of(0, 0, 8, 0), /declares 0 dims/],
      [Uint8Array.of(0, 0), /truncated header: 2 bytes, the header needs 4/],
      [good.subarray(0, 9), /truncated header: 9 bytes, the header needs 12/],
      [good.subarray(0, good.length - 3), /truncated: dims \[4, 2\] of uint8 need 8 bytes of values, the file has 5 after its 12-byte header/],
      [Uint8Array.from([...good, 9]), /1 bytes of trailing data/],
      [Uint8Array.of(0, 0, 8, 2, 255, 255, 255, 255, 255, 255, 255, 255, 1, 2), /dims \[4294967295, 4294967295\] of uint8 call for .* bytes of values, more than the limit of 2147483648/],
      [idx(0x0e, [1000, 1000], []), /truncated: dims \[1000, 1000\] of float64 need 8000000 bytes/],
      [gzipSync(good), /gzip-compressed: use decodeIdx or readIdx/],
    ];
    for (const [bytes, err] of cases) expect(() => D.parseIdx(bytes), String(err)).toThrow(err);
    expect(() => D.parseIdx(good, { maxBytes: 4 })).toThrow(/more than the limit of 4/);
    // gzip: corrupt data, and output beyond what the header declares (stopped early).
    await expect(D.decodeIdx(Uint8Array.of(0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5, 6))).rejects.toThrow(/IDX: corrupt gzip data/);
    const bomb = gzipSync(Uint8Array.from([...idx(0x08, [10], Array(10).fill(1)), ...new Uint8Array(1 << 22)]));
    await expect(D.decodeIdx(bomb)).rejects.toThrow(/longer than the 18 bytes its header declares/);
    await expect(D.decodeIdx(gzipSync(Uint8Array.of(7, 7, 7, 7)))).rejects.toThrow(/bad magic number/);
  });
});

describe("MNIST digits and Fashion-MNIST", () => {
  it("mnistDigits: 8,000 / 2,000 with the fixed split of examples/mnist-mlp.ts", async () => {
    const { train, test } = await D.mnistDigits();
    expect([train.length, test.length]).toEqual([8000, 2000]);
    const [x, y] = train.tensors;
    expect(x!.shape).toEqual([8000, 1, 28, 28]);
    expect(x!.dtype).toBe("float32");
    expect(y!.dtype).toBe("int64");
    const count = async (t: st.Tensor) => {
      const c = Array(10).fill(0);
      for (const v of await nums(t)) c[v]++;
      return c;
    };
    expect(await count(y!)).toEqual(Array(10).fill(800));
    const digits = createRequire(import.meta.url)("mnist") as { raw: number[]; length: number }[];
    expect(await count(test.tensors[1]!)).toEqual(digits.map((d) => d.length - 800));
    // The first training image is digit 0's first; the first test image is digit 0's 801st.
    const f32 = (a: number[]) => a.map(Math.fround);
    expect(await nums(train.get(0)[0]!)).toEqual(f32(digits[0]!.raw.slice(0, 784)));
    expect(await nums(test.get(0)[0]!)).toEqual(f32(digits[0]!.raw.slice(800 * 784, 801 * 784)));
    expect(await nums(train.get(800)[1]!)).toEqual([1]);
    const small = await D.mnistDigits({ trainPerDigit: 10, flatten: true });
    expect(small.train.tensors[0]!.shape).toEqual([100, 784]);
    expect(small.test.length).toBe(9900);
  });

  const fashionDir = process.env.STRATA_FASHION_MNIST ?? D.FASHION_MNIST_DIR;
  it.skipIf(!existsSync(join(fashionDir, "t10k-labels-idx1-ubyte.gz")) && !existsSync(join(fashionDir, "t10k-labels-idx1-ubyte")))(
    "fashionMnist: 60,000 / 10,000, balanced classes, pixels in [0, 1]",
    async () => {
      const { train, test } = await D.fashionMnist();
      expect([train.length, test.length]).toEqual([60000, 10000]);
      const [x, y] = test.tensors;
      expect(x!.shape).toEqual([10000, 1, 28, 28]);
      expect(x!.dtype).toBe("float32");
      const labels = await nums(y!);
      expect(labels.slice(0, 5)).toEqual([9, 2, 1, 1, 6]); // ankle boot, pullover, trouser, trouser, shirt
      const counts = Array(10).fill(0);
      for (const v of labels) counts[v]++;
      expect(counts).toEqual(Array(10).fill(1000));
      const trainCounts = Array(10).fill(0);
      for (const v of await nums(train.tensors[1]!)) trainCounts[v]++;
      expect(trainCounts).toEqual(Array(10).fill(6000));
      const img = await nums(test.get(0)[0]!);
      expect(Math.min(...img)).toBe(0);
      expect(Math.max(...img)).toBe(1);
      const mean = img.reduce((a, b) => a + b, 0) / img.length;
      expect(mean).toBeGreaterThan(0.1);
      expect(mean).toBeLessThan(0.9);
      // A batch through the loader.
      const [[xb, yb]] = [...new D.DataLoader<st.Tensor[], Pair>(test, { batchSize: 32, shuffle: true, seed: 0 })].slice(0, 1);
      expect(xb!.shape).toEqual([32, 1, 28, 28]);
      expect(yb!.shape).toEqual([32]);
      await expect(D.fashionMnist(dir)).rejects.toThrow(/not found in .*apt-get install dataset-fashion-mnist/);
    },
  );
});

describe("CSV", () => {
  it("parses quotes, escaped quotes, line breaks in fields, CRLF, a BOM and empty lines", () => {
    const text = '\ufeffname,score,note\r\n"Smith, J",3.5,"said ""hi"""\r\n\r\nLee,-1e2,"two\nlines"\nKim,,plain\n';
    const t = D.parseCsv(text);
    expect(t.columns).toEqual(["name", "score", "note"]);
    expect(t.length).toBe(3);
    expect(t.rows).toEqual([["Smith, J", "3.5", 'said "hi"'], ["Lee", "-1e2", "two\nlines"], ["Kim", "", "plain"]]);
    expect(t.lines).toEqual([2, 4, 6]);
    expect(t.column("name")).toEqual(["Smith, J", "Lee", "Kim"]);
    expect(t.numericColumns()).toEqual(["score"]);
    expect(D.parseCsv("a;b\n1;2", { delimiter: ";" }).rows).toEqual([["1", "2"]]);
    expect(D.parseCsv('a,b\n"",x\n').rows).toEqual([["", "x"]]);
    const noHeader = D.parseCsv("1,2\n3,4\n", { header: false });
    expect(noHeader.columns).toEqual(["0", "1"]);
    expect(noHeader.length).toBe(2);
  });

  it("numeric columns to tensors", async () => {
    const t = D.parseCsv("x1,x2,label,kind\n0.5,1,0,cat\n2,3.5,1,dog\n-1,nan,2,cat\n");
    const x = t.tensor(["x1", "x2"]);
    expect(x.shape).toEqual([3, 2]);
    expect(x.dtype).toBe("float32");
    expect(await nums(x)).toEqual([0.5, 1, 2, 3.5, -1, NaN]);
    const y = t.tensor("label", { dtype: "int64" });
    expect(y.shape).toEqual([3]);
    expect(y.dtype).toBe("int64");
    expect(await nums(y)).toEqual([0, 1, 2]);
    expect(await nums(t.tensor([-2]).reshape([-1]))).toEqual([0, 1, 2]);
    const { classes, codes } = t.categorical("kind");
    expect(classes).toEqual(["cat", "dog"]);
    expect(await nums(codes)).toEqual([0, 1, 0]);
    expect(() => t.tensor()).toThrow(/"cat" at line 2, column "kind" is not a number/);
    expect(() => t.tensor("x1", { dtype: "int64" })).toThrow(/"0.5" at line 2, column "x1" is not an integer/);
    expect(() => t.tensor("nope")).toThrow(/no column named "nope"/);
  });

  it("rejects malformed CSV with the line", async () => {
    expect(() => D.parseCsv("a,b\n1,2\n3\n")).toThrow(/CSV: line 3 has 1 fields, expected 2 \(as the header\)/);
    expect(() => D.parseCsv('a,b\n1,"2\n')).toThrow(/unterminated quoted field starting on line 2/);
    expect(() => D.parseCsv('a,b\n1,x"y\n')).toThrow(/a quote inside an unquoted field on line 2/);
    expect(() => D.parseCsv('a,b\n1,"x"y\n')).toThrow(/unexpected character "y" after the closing quote/);
    expect(() => D.parseCsv("a,a\n1,2")).toThrow(/names column "a" twice/);
    expect(() => D.parseCsv("")).toThrow(/the file is empty/);
    writeFileSync(join(dir, "t.csv"), "a,b\n1,2\n3,x\n");
    const t = await D.readCsv(join(dir, "t.csv"));
    expect(await nums(t.tensor("a"))).toEqual([1, 3]);
    expect(() => t.tensor()).toThrow(/"x" at line 3, column "b"/);
  });
});

describe("images", () => {
  /** A PNG made with pngjs from RGBA pixels. */
  function png(width: number, height: number, rgba: number[], colorType: 0 | 2 | 4 | 6): Uint8Array {
    const p = new PNG({ width, height });
    p.data = Buffer.from(rgba);
    return new Uint8Array(PNG.sync.write(p, { colorType }));
  }
  const rgba = [255, 0, 0, 255, 0, 255, 0, 128, 0, 0, 255, 0, 10, 20, 30, 255, 200, 100, 50, 255, 7, 7, 7, 7]; // 3x2
  const opaque = rgba.map((v, i) => (i % 4 === 3 ? 255 : v));

  it("PNG: RGB, RGBA, gray, and channel conversion", async () => {
    const rgb = D.decodePng(png(3, 2, opaque, 2));
    expect(rgb.shape).toEqual([2, 3, 3]);
    expect(rgb.dtype).toBe("uint8");
    expect(await nums(rgb)).toEqual(rgba.filter((_, i) => i % 4 !== 3));
    const withAlpha = D.decodePng(png(3, 2, rgba, 6));
    expect(withAlpha.shape).toEqual([2, 3, 4]);
    expect(await nums(withAlpha)).toEqual(rgba);
    const grayPixels = [0, 0, 0, 255, 100, 100, 100, 255, 255, 255, 255, 255, 1, 1, 1, 255, 2, 2, 2, 255, 3, 3, 3, 255];
    const gray = D.decodePng(png(3, 2, grayPixels, 0));
    expect(gray.shape).toEqual([2, 3, 1]);
    expect(await nums(gray)).toEqual([0, 100, 255, 1, 2, 3]);
    // RGB to gray: ITU-R 601 luma (299 R + 587 G + 114 B) / 1000.
    const luma = D.decodePng(png(3, 2, opaque, 2), { channels: 1 });
    expect(await nums(luma)).toEqual([76, 150, 29, 18, 124, 7]);
    expect((D.decodePng(png(3, 2, grayPixels, 0), { channels: 3 })).shape).toEqual([2, 3, 3]);
    const f = join(dir, "a.png");
    writeFileSync(f, png(3, 2, opaque, 2));
    expect(await nums(await D.readImage(f))).toEqual(await nums(rgb));
    // encodePng round trip.
    expect(await nums(D.decodePng(await D.encodePng(withAlpha)))).toEqual(rgba);
  });

  it("JPEG: decoded close to what was encoded", async () => {
    const w = 16, h = 8;
    const px: number[] = [];
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) px.push(x * 16, y * 32, 128, 255);
    const bytes = new Uint8Array(jpeg.encode({ width: w, height: h, data: Buffer.from(px) }, 100).data);
    const img = D.decodeImage(bytes);
    expect(img.shape).toEqual([8, 16, 3]);
    const got = await nums(img);
    const want = px.filter((_, i) => i % 4 !== 3);
    const maxErr = Math.max(...got.map((v, i) => Math.abs(v - want[i]!)));
    expect(maxErr).toBeLessThanOrEqual(8);
    writeFileSync(join(dir, "a.jpg"), bytes);
    expect(await nums(await D.readImage(join(dir, "a.jpg")))).toEqual(got);
    expect(D.imageFormat(bytes)).toBe("jpeg");
  });

  it("rejects bad image data", () => {
    const good = png(3, 2, opaque, 2);
    expect(() => D.decodeImage(Uint8Array.of(1, 2, 3, 4))).toThrow(/unsupported image format \(first bytes 01 02 03 04\)/);
    expect(() => D.decodePng(good.subarray(0, 40))).toThrow(st.ValueError);
    expect(() => D.decodePng(good, { maxPixels: 5 })).toThrow(/the image is 3x2 = 6 pixels, more than maxPixels \(5\)/);
    const huge = Uint8Array.from(good);
    new DataView(huge.buffer).setUint32(16, 100000); // width 100000 in IHDR
    new DataView(huge.buffer).setUint32(20, 100000);
    expect(() => D.decodePng(huge)).toThrow(/100000x100000 = 10000000000 pixels, more than maxPixels/);
    expect(() => D.decodeJpeg(Uint8Array.of(0xff, 0xd8, 0xff, 0xd9))).toThrow(/no frame header/);
    expect(() => D.decodePng(good, { channels: 5 as 1 })).toThrow(/channels must be 1, 2, 3 or 4/);
  });
});

/** A WAV file written by hand: RIFF header, fmt chunk, optional extra chunks, data. */
function wav(o: { format?: number; channels: number; rate?: number; bits: number; data: number[]; extensible?: number; extra?: Uint8Array; dataSize?: number }): Uint8Array {
  const fmtSize = o.extensible !== undefined ? 40 : 16;
  const extra = o.extra ?? new Uint8Array(0);
  const bytes = new Uint8Array(12 + 8 + fmtSize + extra.length + 8 + o.data.length);
  const dv = new DataView(bytes.buffer);
  const put = (off: number, s: string) => [...s].forEach((c, i) => (bytes[off + i] = c.charCodeAt(0)));
  put(0, "RIFF"); dv.setUint32(4, bytes.length - 8, true); put(8, "WAVE");
  put(12, "fmt "); dv.setUint32(16, fmtSize, true);
  dv.setUint16(20, o.extensible !== undefined ? 0xfffe : o.format ?? 1, true);
  dv.setUint16(22, o.channels, true);
  dv.setUint32(24, o.rate ?? 8000, true);
  dv.setUint32(28, (o.rate ?? 8000) * o.channels * (o.bits / 8), true);
  dv.setUint16(32, o.channels * (o.bits / 8), true);
  dv.setUint16(34, o.bits, true);
  if (o.extensible !== undefined) {
    dv.setUint16(36, 22, true);
    dv.setUint16(38, o.bits, true);
    dv.setUint32(40, 3, true);
    dv.setUint16(44, o.extensible, true); // the GUID's first two bytes: the format code
    bytes.set([0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71], 46);
  }
  let off = 20 + fmtSize;
  bytes.set(extra, off);
  off += extra.length;
  put(off, "data"); dv.setUint32(off + 4, o.dataSize ?? o.data.length, true);
  bytes.set(o.data, off + 8);
  return bytes;
}
const le16 = (...v: number[]) => v.flatMap((x) => [x & 255, (x >> 8) & 255]);
const le24 = (...v: number[]) => v.flatMap((x) => [x & 255, (x >> 8) & 255, (x >> 16) & 255]);
const le32 = (...v: number[]) => v.flatMap((x) => [x & 255, (x >>> 8) & 255, (x >>> 16) & 255, (x >>> 24) & 255]);
const f32le = (...v: number[]) => v.flatMap((x) => { const b = new Uint8Array(4); new DataView(b.buffer).setFloat32(0, x, true); return [...b]; });

describe("WAV", () => {
  it("PCM 16-bit stereo: planar [channels, samples], scaled by 2^15", async () => {
    // Frames (L, R): (0, 16384), (-32768, 32767), (1, -1)
    const w = D.parseWav(wav({ channels: 2, rate: 44100, bits: 16, data: le16(0, 16384, -32768, 32767, 1, -1) }));
    expect(w.sampleRate).toBe(44100);
    expect(w.bitsPerSample).toBe(16);
    expect(w.encoding).toBe("pcm");
    expect(w.waveform.shape).toEqual([2, 3]);
    expect(await w.waveform.tolist()).toEqual([[0, -1, 1 / 32768], [0.5, 32767 / 32768, -1 / 32768]]);
  });

  it("PCM 8, 24, 32-bit and float 32-bit, mono; extensible; chunks to skip", async () => {
    const w8 = D.parseWav(wav({ channels: 1, bits: 8, data: [128, 0, 255, 192] }));
    expect(await nums(w8.waveform)).toEqual([0, -1, 127 / 128, 0.5]);
    const w24 = D.parseWav(wav({ channels: 1, bits: 24, data: le24(0x400000, -0x800000 & 0xffffff, 0x7fffff) }));
    expect(await nums(w24.waveform)).toEqual([0.5, -1, Math.fround(0x7fffff / 0x800000)]);
    const w32 = D.parseWav(wav({ channels: 1, bits: 32, data: le32(0x40000000, 0x80000000, 0) }));
    expect(await nums(w32.waveform)).toEqual([0.5, -1, 0]);
    const wf = D.parseWav(wav({ format: 3, channels: 1, bits: 32, data: f32le(0.25, -0.75, 1.5) }));
    expect(wf.encoding).toBe("float");
    expect(await nums(wf.waveform)).toEqual([0.25, -0.75, 1.5]);
    const ext = D.parseWav(wav({ extensible: 1, channels: 2, bits: 16, data: le16(16384, -16384) }));
    expect(await ext.waveform.tolist()).toEqual([[0.5], [-0.5]]);
    // A LIST chunk of odd size (padded to even) before the data.
    const list = Uint8Array.from([..."LIST"].map((c) => c.charCodeAt(0)).concat([3, 0, 0, 0, 1, 2, 3, 0]));
    const withList = D.parseWav(wav({ channels: 1, bits: 16, data: le16(8192), extra: list }));
    expect(await nums(withList.waveform)).toEqual([0.25]);
    writeFileSync(join(dir, "a.wav"), wav({ channels: 1, bits: 16, data: le16(8192, -8192) }));
    expect(await nums((await D.readWav(join(dir, "a.wav"))).waveform)).toEqual([0.25, -0.25]);
    // encodeWav round trip (16-bit PCM and float).
    const sig = st.tensor([[0, 0.5, -0.5, 0.25], [1, -1, 0.125, 0]]);
    const back = D.parseWav(await D.encodeWav(sig, 16000));
    expect(back.sampleRate).toBe(16000);
    expect(await back.waveform.tolist()).toEqual([[0, 0.5, -0.5, 0.25], [32767 / 32768, -1, 0.125, 0]]);
    expect(await D.parseWav(await D.encodeWav(sig, 16000, { encoding: "float32" })).waveform.tolist()).toEqual(await sig.tolist());
  });

  it("rejects unsupported or broken files with a clear error", () => {
    const ok = wav({ channels: 1, bits: 16, data: le16(1, 2) });
    const cases: [Uint8Array, RegExp][] = [
      [Uint8Array.of(1, 2, 3), /too short for a RIFF header/],
      [Uint8Array.from([..."OggS"].map((c) => c.charCodeAt(0)).concat(Array(20).fill(0))), /not a RIFF file \(starts with "OggS"\)/],
      [Uint8Array.from([..."RIFX"].map((c) => c.charCodeAt(0)).concat(Array(20).fill(0))), /big-endian RIFX files are not supported/],
      [(() => { const b = Uint8Array.from(ok); b.set([65, 86, 73, 32], 8); return b; })(), /a RIFF file of type "AVI ", not WAVE/],
      [wav({ format: 6, channels: 1, bits: 8, data: [1, 2] }), /unsupported format A-law \(format code 6\); supported: PCM 8\/16\/24\/32-bit integer and IEEE float 32\/64-bit/],
      [wav({ format: 0x55, channels: 1, bits: 16, data: [1, 2] }), /unsupported format MPEG layer 3 \(format code 85\)/],
      [wav({ channels: 1, bits: 12, data: [1, 2] }), /unsupported PCM sample size of 12 bits/],
      [wav({ format: 3, channels: 1, bits: 16, data: [1, 2] }), /unsupported float sample size of 16 bits/],
      [wav({ channels: 2, bits: 16, data: le16(1, 2), dataSize: 1000 }), /truncated: the data chunk declares 1000 bytes, the file has 4/],
      [ok.subarray(0, 36), /no data chunk/],
      [ok.subarray(0, 12), /no fmt chunk/],
    ];
    for (const [bytes, err] of cases) expect(() => D.parseWav(bytes), String(err)).toThrow(err);
  });
});

describe("parsers under fuzzing", () => {
  /** Truncations, byte flips and random bytes of a valid input: each parse succeeds or raises a StrataError. */
  function fuzz(name: string, valid: Uint8Array, parse: (b: Uint8Array) => unknown, rounds = 300): void {
    const g = new D.Generator(1234);
    for (let r = 0; r < rounds; r++) {
      let b = Uint8Array.from(valid);
      const kind = r % 3;
      if (kind === 0) b = b.subarray(0, g.randint(b.length));
      else if (kind === 1) for (let k = 0; k < 1 + g.randint(4); k++) b[g.randint(b.length)] = g.randint(256);
      else b = Uint8Array.from({ length: g.randint(64) }, () => g.randint(256));
      try {
        parse(b);
      } catch (e) {
        if (!(e instanceof st.StrataError)) throw new Error(`${name}: round ${r} raised ${(e as Error).name}: ${(e as Error).message}`);
      }
    }
  }

  it("IDX, WAV, CSV, PNG and JPEG raise only StrataErrors", () => {
    fuzz("IDX", idx(0x0c, [3, 2], [1, 2, 3, 4, 5, 6]), (b) => D.parseIdx(b));
    fuzz("WAV", wav({ channels: 2, bits: 24, data: le24(1, 2, 3, 4), extra: Uint8Array.from([76, 73, 83, 84, 2, 0, 0, 0, 9, 9]) }), (b) => D.parseWav(b));
    fuzz("CSV", new TextEncoder().encode('a,b\n"x, ""y""",2\n3,4\n'), (b) => D.parseCsv(new TextDecoder().decode(b)).tensor());
    const p = new PNG({ width: 4, height: 4 });
    p.data = Buffer.from(Array.from({ length: 64 }, (_, i) => (i * 13) & 255));
    fuzz("PNG", new Uint8Array(PNG.sync.write(p)), (b) => D.decodePng(b), 150);
    const j = jpeg.encode({ width: 8, height: 8, data: Buffer.from(Array.from({ length: 256 }, (_, i) => (i * 7) & 255)) }, 80).data;
    fuzz("JPEG", new Uint8Array(j), (b) => D.decodeJpeg(b, { maxPixels: 4096 }), 150);
  });
});
