/**
 * Variable-length batches, as `torch.nn.utils.rnn`: `PackedSequence`, `packPaddedSequence`,
 * `padPackedSequence`, `packSequence`, `padSequence`.
 *
 * A packed batch holds, time step by time step, the rows of the sequences still running at that
 * step, longest sequence first (PyTorch's layout). The recurrent layers accept one and give their
 * output back packed; their final states are the states at each sequence's last valid step.
 */
import { ShapeError, ValueError } from "../../ir/errors.ts";
import { fmtShape } from "../../ir/shape.ts";
import { tensor, zeros } from "../../tensor/create.ts";
import { cat, stack } from "../../tensor/movement.ts";
import type { Tensor } from "../../tensor/tensor.ts";

const hostInts = (t: Tensor): number[] => Array.from(t.dataSync() as ArrayLike<number | bigint>, (v) => Number(v));
const int64 = (v: readonly number[], device: string): Tensor => tensor(BigInt64Array.from(v.map((x) => BigInt(x))), { device });

/**
 * A batch of sequences of different lengths, packed (PyTorch's `PackedSequence`).
 *
 * - `data` `[sum(lengths), *]`: the rows of step 0 of every sequence, then step 1 of those still
 *   running, and so on, sequences ordered by decreasing length;
 * - `batchSizes` (int64 `[maxLength]`): how many sequences run at each step;
 * - `sortedIndices` / `unsortedIndices` (int64 `[B]` or null): the permutation from the original
 *   batch order to decreasing length, and its inverse.
 */
export class PackedSequence {
  /** @internal The lengths in the original batch order (host values). */
  readonly _lengths: number[];

  constructor(
    readonly data: Tensor,
    readonly batchSizes: Tensor,
    readonly sortedIndices: Tensor | null = null,
    readonly unsortedIndices: Tensor | null = null,
  ) {
    const bs = hostInts(batchSizes);
    const sorted = sortedIndices ? hostInts(sortedIndices) : bs.length ? [...Array(bs[0]).keys()] : [];
    const lengths = new Array<number>(sorted.length).fill(0);
    for (const b of bs) for (let j = 0; j < b; j++) lengths[sorted[j]!]! += 1;
    this._lengths = lengths;
    const total = bs.reduce((a, b) => a + b, 0);
    if (data.shape[0] !== total) throw new ShapeError(`PackedSequence: data ${fmtShape(data.shape)} must have sum(batchSizes) = ${total} rows`);
    if (unsortedIndices === null && sortedIndices !== null) this.unsortedIndices = int64(invert(sorted), data.device);
  }

  /** The lengths in the original batch order. */
  lengths(): number[] {
    return [...this._lengths];
  }

  /** The same batch with its data replaced (the layout is kept). */
  withData(data: Tensor): PackedSequence {
    return new PackedSequence(data, this.batchSizes, this.sortedIndices, this.unsortedIndices);
  }

  to(dtypeOrDevice: string): PackedSequence {
    return this.withData(this.data.to(dtypeOrDevice));
  }
}

function invert(perm: readonly number[]): number[] {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => (inv[p] = i));
  return inv;
}

/** Packed row of (t, b) for each packed position, with b in the original batch order. */
function packedRows(lengths: readonly number[], sorted: readonly number[]): { rows: [number, number][]; batchSizes: number[] } {
  const rows: [number, number][] = [], batchSizes: number[] = [];
  const maxLen = lengths.length ? Math.max(...lengths) : 0;
  for (let t = 0; t < maxLen; t++) {
    let n = 0;
    for (const b of sorted) if (lengths[b]! > t) { rows.push([t, b]); n++; }
    batchSizes.push(n);
  }
  return { rows, batchSizes };
}

/** Stable order by decreasing length. */
const sortByLength = (lengths: readonly number[]): number[] => [...lengths.keys()].sort((a, b) => lengths[b]! - lengths[a]! || a - b);

/**
 * Packs a padded batch `[T, B, *]` (or `[B, T, *]` with `batchFirst`) of sequences with the given
 * lengths. With `enforceSorted` (the default) the lengths must be decreasing; otherwise the batch
 * is sorted here and `unsortedIndices` restores its order.
 *
 * @example
 * const packed = st.nn.packPaddedSequence(x, [5, 3, 2], { batchFirst: true });
 * const [out, hN] = gru.forward(packed);
 * const [padded, lengths] = st.nn.padPackedSequence(out, { batchFirst: true });
 */
export function packPaddedSequence(input: Tensor, lengths: Tensor | readonly number[], opts: { batchFirst?: boolean; enforceSorted?: boolean } = {}): PackedSequence {
  const batchFirst = opts.batchFirst ?? false, enforceSorted = opts.enforceSorted ?? true;
  const lens = Array.isArray(lengths) ? [...(lengths as readonly number[])] : hostInts(lengths as Tensor);
  if (input.ndim < 2) throw new ShapeError(`packPaddedSequence: expected a padded batch of at least 2 dims, got ${fmtShape(input.shape)}`);
  const x = batchFirst ? input.transpose(0, 1) : input; // [T, B, *]
  const T = x.shape[0]!, B = x.shape[1]!;
  if (lens.length !== B) throw new ValueError(`packPaddedSequence: expected ${B} lengths (the batch size), got ${lens.length}`);
  lens.forEach((l) => {
    if (!Number.isInteger(l) || l <= 0) throw new ValueError(`packPaddedSequence: length of all samples has to be greater than 0, but found an element in 'lengths' that is ${l}`);
    if (l > T) throw new ValueError(`packPaddedSequence: a length of ${l} is longer than the padded sequence (${T} steps)`);
  });
  let sorted: number[] | null = null;
  if (enforceSorted) {
    if (lens.some((l, i) => i > 0 && l > lens[i - 1]!)) {
      throw new ValueError("packPaddedSequence: `lengths` array must be sorted in decreasing order when `enforceSorted` is true. You can pass `enforceSorted: false` to packPaddedSequence and/or packSequence to sidestep this requirement.");
    }
  } else sorted = sortByLength(lens);
  return packOrdered(x, lens, sorted);
}

/** Packs time-major `x` [T, B, *] with sequences taken in the order `sorted` (null: as they are). */
function packOrdered(x: Tensor, lens: readonly number[], sorted: number[] | null): PackedSequence {
  const T = x.shape[0]!, B = x.shape[1]!;
  const { rows, batchSizes } = packedRows(lens, sorted ?? [...lens.keys()]);
  const flat = x.reshape([T * B, ...x.shape.slice(2)]);
  const data = flat.indexSelect(0, int64(rows.map(([t, b]) => t * B + b), x.device));
  return new PackedSequence(data, int64(batchSizes, "js"), sorted ? int64(sorted, x.device) : null, sorted ? int64(invert(sorted), x.device) : null);
}

/** @internal Packs a time-major padded batch in the layout of `like` (its lengths and order). */
export function packLike(x: Tensor, like: PackedSequence): PackedSequence {
  return packOrdered(x, like._lengths, like.sortedIndices ? hostInts(like.sortedIndices) : null);
}

/**
 * Unpacks to a padded batch `[T, B, *]` (or `[B, T, *]`) in the original batch order, with
 * `paddingValue` past each sequence's end; returns it with the lengths (int64).
 */
export function padPackedSequence(seq: PackedSequence, opts: { batchFirst?: boolean; paddingValue?: number; totalLength?: number } = {}): [Tensor, Tensor] {
  const lens = seq._lengths, B = lens.length;
  const maxLen = lens.length ? Math.max(...lens) : 0;
  const T = opts.totalLength ?? maxLen;
  if (T < maxLen) throw new ValueError(`padPackedSequence: expected totalLength to be at least the length of the longest sequence (${maxLen}), but got totalLength=${T}`);
  const order = seq.sortedIndices ? hostInts(seq.sortedIndices) : [...lens.keys()];
  const { rows } = packedRows(lens, order);
  const where = new Array<number>(T * B).fill(rows.length); // the padding row
  rows.forEach(([t, b], i) => (where[t * B + b] = i));
  const feat = seq.data.shape.slice(1);
  const pad = zeros([1, ...feat], { dtype: seq.data.dtype, device: seq.data.device });
  const ext = cat([seq.data, opts.paddingValue ? pad.add(opts.paddingValue) : pad], 0);
  const padded = ext.indexSelect(0, int64(where, seq.data.device)).reshape([T, B, ...feat]);
  return [opts.batchFirst ? padded.transpose(0, 1) : padded, int64(lens, "js")];
}

/**
 * Pads a list of sequences `[L_i, *]` to the longest: `[T, B, *]`, or `[B, T, *]` with `batchFirst`.
 */
export function padSequence(sequences: readonly Tensor[], opts: { batchFirst?: boolean; paddingValue?: number; paddingSide?: "right" | "left" } = {}): Tensor {
  if (!sequences.length) throw new ValueError("padSequence: expected a non-empty list of sequences");
  const T = Math.max(...sequences.map((s) => s.shape[0]!));
  const padded = sequences.map((s) => {
    const n = T - s.shape[0]!;
    if (!n) return s;
    const fill = zeros([n, ...s.shape.slice(1)], { dtype: s.dtype, device: s.device });
    const p = opts.paddingValue ? fill.add(opts.paddingValue) : fill;
    return opts.paddingSide === "left" ? cat([p, s], 0) : cat([s, p], 0);
  });
  return stack(padded, opts.batchFirst ? 0 : 1);
}

/** Packs a list of sequences `[L_i, *]` (decreasing lengths unless `enforceSorted` is false). */
export function packSequence(sequences: readonly Tensor[], enforceSorted = true): PackedSequence {
  return packPaddedSequence(padSequence(sequences), sequences.map((s) => s.shape[0]!), { enforceSorted });
}
