/**
 * Randomness for data pipelines: a host-side `Generator` (Philox-4x32-10 like the global stream,
 * with its own key and counter), seed mixing, permutations, and the per-sample generator that a
 * DataLoader installs while it fetches a sample, so random transforms are reproducible whatever
 * the order or timing in which samples are prepared.
 */
import { philox } from "../backends/js/runtime.ts";
import { ValueError } from "../ir/errors.ts";
import { hostUniform } from "../tensor/random.ts";

const TWO32 = 4294967296;

function checkSeed(op: string, seed: number): number {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new ValueError(`${op}: seed must be a non-negative safe integer, got ${seed}`);
  return seed;
}

/** The state of a `Generator`: its seed and how many numbers it has drawn. */
export interface GeneratorState {
  seed: number;
  offset: number;
}

/**
 * A seeded random generator on the host, like `torch.Generator`: Philox-4x32-10 under the key
 * `seed`, one counter per draw. Independent of the global stream (`st.manualSeed`).
 *
 * @example
 * const g = new st.data.Generator(42);
 * g.random();   // a uniform [0, 1) double, the same for every run
 * st.data.randomSplit(ds, [0.8, 0.2], { generator: g });
 */
export class Generator {
  private seed_ = 0;
  private offset = 0;

  constructor(seed = 0) {
    this.manualSeed(seed);
  }

  manualSeed(seed: number): this {
    this.seed_ = checkSeed("Generator.manualSeed", seed);
    this.offset = 0;
    return this;
  }

  initialSeed(): number {
    return this.seed_;
  }

  /** A uniform double in [0, 1), with 53 random bits. */
  random(): number {
    const w = philox(this.offset++, this.seed_ >>> 0, Math.floor(this.seed_ / TWO32) >>> 0);
    return ((w[0]! >>> 5) * 67108864 + (w[1]! >>> 6)) / 9007199254740992;
  }

  /** A uniform integer in [0, n). */
  randint(n: number): number {
    return Math.floor(this.random() * n);
  }

  getState(): GeneratorState {
    return { seed: this.seed_, offset: this.offset };
  }

  setState(s: GeneratorState): void {
    this.seed_ = checkSeed("Generator.setState", s.seed);
    if (!Number.isSafeInteger(s.offset) || s.offset < 0) throw new ValueError(`Generator.setState: offset must be a non-negative safe integer, got ${s.offset}`);
    this.offset = s.offset;
  }
}

/** The murmur3 finalizer: a bijection of 32-bit words that mixes every input bit into every output bit. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A new seed (a 53-bit safe integer) from a seed and an integer, well mixed: for per-epoch and per-sample seeds. */
export function mixSeed(seed: number, n: number): number {
  const lo = seed >>> 0, hi = Math.floor(seed / TWO32) >>> 0;
  const nlo = n >>> 0, nhi = Math.floor(n / TWO32) >>> 0;
  const a = fmix32(lo ^ fmix32(nlo + 0x9e3779b9) ^ Math.imul(nhi, 0x85ebca6b));
  const b = fmix32(hi ^ fmix32(a + 0x7f4a7c15) ^ fmix32(nlo ^ 0x27d4eb2f));
  return (b & 0x1fffff) * TWO32 + a;
}

/** A seed (a 53-bit safe integer) drawn from the global stream (`st.manualSeed`), like PyTorch's base seed. */
export function seedFromGlobal(): number {
  return Math.floor(hostUniform(1)[0]! * 9007199254740992);
}

/** A random permutation of 0..n-1 (Fisher-Yates) drawn from `random`. */
export function permutation(n: number, random: () => number): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}

let active: Generator | null = null;

/** The generator a DataLoader installed for the sample being fetched, or null outside a fetch. */
export function activeGenerator(): Generator | null {
  return active;
}

/** Runs `fn` with `g` as the active sample generator (synchronously). */
export function withGenerator<T>(g: Generator | null, fn: () => T): T {
  const prev = active;
  active = g;
  try {
    return fn();
  } finally {
    active = prev;
  }
}

let activeBatch: readonly Generator[] | null = null;

/** The per-sample generators a DataLoader installed for the batch being fetched with `getBatch`, or null. */
export function activeBatchGenerators(): readonly Generator[] | null {
  return activeBatch;
}

/** Runs `fn` with `gens` (one per sample of a batch, in order) as the active batch generators (synchronously). */
export function withBatchGenerators<T>(gens: readonly Generator[] | null, fn: () => T): T {
  const prev = activeBatch;
  activeBatch = gens;
  try {
    return fn();
  } finally {
    activeBatch = prev;
  }
}

/**
 * `count` uniform numbers for each of `batch` samples (sample k's at [k * count, (k + 1) * count)),
 * drawn as a random transform applied to each sample alone would draw them: from `g` if given,
 * else from each sample's generator when a DataLoader installed them, else from the global stream.
 */
export function drawBatch(batch: number, count: number, g?: Generator): Float64Array {
  if (!g && activeBatch && activeBatch.length !== batch) throw new Error(`internal: ${activeBatch.length} sample generators for a batch of ${batch}`);
  if (!g && !activeBatch) return hostUniform(batch * count);
  const out = new Float64Array(batch * count);
  for (let k = 0; k < batch; k++) {
    const src = g ?? activeBatch![k]!;
    for (let c = 0; c < count; c++) out[k * count + c] = src.random();
  }
  return out;
}

/**
 * One uniform [0, 1) number for a random transform: from its own generator if it has one, else
 * from the sample generator of the DataLoader fetching this sample, else from the global stream.
 */
export function drawUniform(g?: Generator): number {
  if (g) return g.random();
  if (active) return active.random();
  return hostUniform(1)[0]!;
}
