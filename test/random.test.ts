/**
 * The random generator: Philox-4x32-10 (counter-based), seeding, the distributions built on it,
 * and saving / restoring its state.
 */
import { afterAll, describe, expect, it } from "vitest";
import * as st from "../src/index.ts";
import { philox } from "../src/backends/js/runtime.ts";

const saved = st.getRngState();
afterAll(() => st.setRngState(saved));

const floats = async (t: st.Tensor): Promise<number[]> => Array.from((await t.data()) as Float32Array);
const ints = async (t: st.Tensor): Promise<number[]> => Array.from(await t.data(), Number);

function moments(xs: readonly number[]): { mean: number; variance: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const variance = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length;
  return { mean, variance };
}

describe("Philox-4x32-10", () => {
  it("matches the Random123 known-answer vector (counter 0, key 0)", () => {
    const w = Array.from(philox(0, 0, 0), (x) => x.toString(16).padStart(8, "0"));
    expect(w).toEqual(["6627e8d5", "e169c58d", "bc57ac4c", "9b00dbd8"]);
  });

  it("rand() is the generator's stream: counter = offset + flat index, key = seed", async () => {
    st.manualSeed(12345);
    const x = await floats(st.rand([2, 3]));
    // float32 samples take the top 24 bits of the first output word.
    const want = [0, 1, 2, 3, 4, 5].map((i) => (philox(i, 12345, 0)[0]! >>> 8) / 2 ** 24);
    expect(x).toEqual(want);
    // The next call continues at counter 6.
    const y = await floats(st.rand([2]));
    expect(y).toEqual([6, 7].map((i) => (philox(i, 12345, 0)[0]! >>> 8) / 2 ** 24));
  });
});

describe("seeding", () => {
  it("manualSeed makes rand, randn, randint and randperm reproducible", async () => {
    const draw = async () => {
      st.manualSeed(7);
      return [await floats(st.rand([50])), await floats(st.randn([50])), await ints(st.randint(0, 100, [50])), await ints(st.randperm(50))];
    };
    const a = await draw(), b = await draw();
    expect(b).toEqual(a);
    st.manualSeed(8);
    expect(await floats(st.rand([50]))).not.toEqual(a[0]);
    expect(st.initialSeed()).toBe(8);
  });

  it("values do not depend on when lazy tensors are computed", async () => {
    st.manualSeed(3);
    const a = st.rand([20]), b = st.rand([20]);
    const bFirst = await floats(b), aSecond = await floats(a);
    st.manualSeed(3);
    const a2 = await floats(st.rand([20])), b2 = await floats(st.rand([20]));
    expect(aSecond).toEqual(a2);
    expect(bFirst).toEqual(b2);
    expect(a2).not.toEqual(b2);
  });

  it("rejects seeds that are not non-negative safe integers", () => {
    expect(() => st.manualSeed(-1)).toThrow(st.ValueError);
    expect(() => st.manualSeed(1.5)).toThrow(/manualSeed/);
  });
});

describe("distributions", () => {
  it("rand: 1e5 samples in [0, 1) with mean ~ 1/2 and variance ~ 1/12", async () => {
    st.manualSeed(0);
    const x = await floats(st.rand([100_000]));
    expect(Math.min(...x)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...x)).toBeLessThan(1);
    const { mean, variance } = moments(x);
    // standard errors: 0.0009 for the mean, 0.00024 for the variance
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.005);
    expect(Math.abs(variance - 1 / 12)).toBeLessThan(0.0015);
    // each tenth of [0, 1) gets close to a tenth of the samples
    const bins = new Array(10).fill(0);
    for (const v of x) bins[Math.floor(v * 10)]++;
    for (const c of bins) expect(Math.abs(c - 10_000)).toBeLessThan(600);
  });

  it("rand in float64 uses 53 bits and stays in [0, 1)", async () => {
    st.manualSeed(1);
    const t = st.rand([1000], { dtype: "float64" });
    expect(t.dtype).toBe("float64");
    const x = Array.from((await t.data()) as Float64Array);
    expect(x.every((v) => v >= 0 && v < 1)).toBe(true);
    // some sample has bits below float32's 24
    expect(x.some((v) => Math.fround(v) !== v)).toBe(true);
  });

  it("randn: 1e5 samples with mean ~ 0, std ~ 1 and 68.3% within one std", async () => {
    st.manualSeed(0);
    const x = await floats(st.randn([100_000]));
    const { mean, variance } = moments(x);
    expect(Math.abs(mean)).toBeLessThan(0.015);
    expect(Math.abs(Math.sqrt(variance) - 1)).toBeLessThan(0.01);
    const within = x.filter((v) => Math.abs(v) < 1).length / x.length;
    expect(Math.abs(within - 0.6827)).toBeLessThan(0.01);
    expect(x.every(Number.isFinite)).toBe(true);
  });

  it("randint: int64 in [low, high), every value drawn", async () => {
    st.manualSeed(0);
    const t = st.randint(3, 10, [10_000]);
    expect(t.dtype).toBe("int64");
    expect(t.shape).toEqual([10_000]);
    const d = await t.data();
    expect(d).toBeInstanceOf(BigInt64Array);
    const x = Array.from(d, Number);
    expect(x.every((v) => Number.isInteger(v) && v >= 3 && v < 10)).toBe(true);
    expect(new Set(x).size).toBe(7);
    expect(Math.abs(moments(x).mean - 6)).toBeLessThan(0.1);
    // randint(high, size) starts at 0
    const y = await ints(st.randint(5, [1000]));
    expect(Math.min(...y)).toBe(0);
    expect(Math.max(...y)).toBe(4);
    expect(() => st.randint(5, 5, [2])).toThrow(st.ValueError);
  });

  it("randperm: an int64 permutation of 0..n-1, seeded", async () => {
    st.manualSeed(11);
    const p = st.randperm(1000);
    expect(p.dtype).toBe("int64");
    const a = await ints(p);
    expect([...a].sort((x, y) => x - y)).toEqual([...Array(1000).keys()]);
    expect(a).not.toEqual([...Array(1000).keys()]);
    st.manualSeed(11);
    expect(await ints(st.randperm(1000))).toEqual(a);
    st.manualSeed(12);
    expect(await ints(st.randperm(1000))).not.toEqual(a);
    expect(st.randperm(0).shape).toEqual([0]);
    expect(await ints(st.randperm(1))).toEqual([0]);
  });

  it("rand and randn reject integer dtypes", () => {
    expect(() => st.rand([2], { dtype: "int32" })).toThrow(st.DTypeError);
    expect(() => st.randn([2], { dtype: "int64" })).toThrow(st.DTypeError);
  });
});

describe("compiled once", () => {
  it("every draw runs the same compiled kernel: the generator state is data, not code", async () => {
    st.manualSeed(4);
    await floats(st.rand([32]).mul(2)); // compiles
    const a = st.engine.stats();
    const draws = [];
    for (let i = 0; i < 5; i++) draws.push(await floats(st.rand([32]).mul(2)));
    expect(st.engine.stats().compiles).toBe(a.compiles);
    expect(new Set(draws.map((d) => d.join())).size).toBe(5); // and the values differ
    st.manualSeed(999); // another key: still the same program
    await floats(st.rand([32]).mul(2));
    expect(st.engine.stats().compiles).toBe(a.compiles);
  });
});

describe("generator state", () => {
  it("getRngState / setRngState restore the stream exactly", async () => {
    st.manualSeed(99);
    await floats(st.rand([5])); // move away from the start
    const state = st.getRngState();
    const a = await floats(st.rand([10])), b = await floats(st.randn([4])), c = await ints(st.randperm(6));
    st.setRngState(state);
    expect(await floats(st.rand([10]))).toEqual(a);
    expect(await floats(st.randn([4]))).toEqual(b);
    expect(await ints(st.randperm(6))).toEqual(c);
  });

  it("the state is a snapshot: changing the returned object changes nothing", async () => {
    st.manualSeed(5);
    const s = st.getRngState();
    s.offset += 1000;
    s.seed = 6;
    const x = await floats(st.rand([3]));
    st.manualSeed(5);
    expect(await floats(st.rand([3]))).toEqual(x);
  });

  it("in-place random fills (uniform_, normal_) draw from the same stream", async () => {
    st.manualSeed(21);
    const u = await floats(st.zeros([8]).uniform_(-2, 2));
    expect(u.every((v) => v >= -2 && v < 2)).toBe(true);
    st.manualSeed(21);
    expect(u).toEqual(await floats(st.rand([8]).mul(4).sub(2)));
  });
});
