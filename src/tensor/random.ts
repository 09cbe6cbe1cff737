/**
 * The global random generator: Philox-4x32-10, counter-based. Its whole state is a key (from the
 * seed) and a counter offset; each random op takes a fresh range of counters, so results do not
 * depend on when lazy ops run, and a checkpoint restores the stream exactly.
 */
import { philox } from "../backends/js/runtime.ts";
import { recording } from "../engine/trace.ts";
import { JitError, ValueError } from "../ir/errors.ts";

const DEFAULT_SEED = 67280421310721;

export interface RngState {
  seed: number;
  offset: number;
}

const state: RngState = { seed: DEFAULT_SEED, offset: 0 };

function keyOf(seed: number): [number, number] {
  return [seed >>> 0, Math.floor(seed / 4294967296) >>> 0];
}

/**
 * Seeds the generator, like `torch.manual_seed`.
 *
 * @example
 * st.manualSeed(0);
 * const a = st.rand([3]);
 * st.manualSeed(0);
 * const b = st.rand([3]); // the same values as a
 */
export function manualSeed(seed: number): void {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new ValueError(`manualSeed: seed must be a non-negative safe integer, got ${seed}`);
  state.seed = seed;
  state.offset = 0;
}

export const initialSeed = (): number => state.seed;
export const getRngState = (): RngState => ({ ...state });
export function setRngState(s: RngState): void {
  state.seed = s.seed;
  state.offset = s.offset;
}

/** Reserves `count` counters and returns the key and the first counter. */
export function takeCounters(count: number): { key: [number, number]; offset: number } {
  const offset = state.offset;
  state.offset += count;
  return { key: keyOf(state.seed), offset };
}

/** Uniform [0, 1) doubles computed on the host, from the same stream (for randperm). */
export function hostUniform(count: number): Float64Array {
  if (recording()) throw new JitError("st.jit: the traced function draws random numbers on the host (randperm, a random data transform); a replay would repeat them. Draw them outside and pass them in");
  const { key, offset } = takeCounters(count);
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const w = philox(offset + i, key[0], key[1]);
    out[i] = ((w[0]! >>> 5) * 67108864 + (w[1]! >>> 6)) / 9007199254740992;
  }
  return out;
}
