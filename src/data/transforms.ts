/**
 * Image transforms, like torchvision's: functions from a tensor to a tensor, built by a factory
 * (`normalize(mean, std)` returns the function). They work on one image [C, H, W] and on batches
 * [..., C, H, W] (a random transform then makes one draw for the whole batch).
 *
 * Random transforms draw from their own `generator` when given one; inside a DataLoader, from the
 * generator it installs for each sample (seeded by the epoch's seed and the sample's index); and
 * otherwise from the global stream (`st.manualSeed`). So all three are reproducible.
 */
import { type DType, isFloat } from "../ir/dtype.ts";
import { DTypeError, ShapeError, ValueError } from "../ir/errors.ts";
import { fmtShape } from "../ir/shape.ts";
import { full, tensor } from "../tensor/create.ts";
import { where } from "../tensor/elementwise.ts";
import { gather } from "../tensor/indexing.ts";
import { padZeros } from "../tensor/movement.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { drawBatch, drawUniform, type Generator } from "./random.ts";

/**
 * A transform of one sample. `batched`, when present, applies it to a whole batch (samples
 * stacked on a new first dim) at once, with the same result as applying it to each sample alone
 * (random ones draw each sample's numbers from that sample's generator); the DataLoader then
 * transforms batches from `getBatch` in a few kernels instead of sample by sample.
 */
export interface Transform {
  (x: Tensor): Tensor;
  batched?: (x: Tensor) => Tensor;
}

function withBatched(f: (x: Tensor) => Tensor, batched: (x: Tensor) => Tensor): Transform {
  const t = f as Transform;
  t.batched = batched;
  return t;
}

function checkBatch(op: string, x: Tensor, minItemDims: number, what: string): number {
  if (x.ndim < minItemDims + 1) throw new ShapeError(`${op}: expected a batch of ${what}, got ${fmtShape(x.shape)}`);
  return x.shape[0]!;
}

/**
 * Chains transforms, applied left to right.
 *
 * @example
 * const T = st.data.transforms;
 * const augment = T.compose([T.toTensor(), T.randomHorizontalFlip(), T.normalize([0.5, 0.5, 0.5], [0.5, 0.5, 0.5])]);
 */
export function compose(transforms: readonly Transform[]): Transform {
  const f = (x: Tensor) => transforms.reduce((v, t) => t(v), x);
  if (!transforms.every((t) => t.batched)) return f;
  return withBatched(f, (x) => transforms.reduce((v, t) => t.batched!(v), x));
}

/**
 * An image as the network wants it, like torchvision's `ToTensor`: uint8 [H, W, C] (as decoded),
 * [H, W] (grayscale) or a batch [N, H, W, C] -> float32 [C, H, W] (or [1, H, W], [N, C, H, W]) with
 * values in [0, 1] (divided by 255). Other dtypes are cast to float32 without scaling.
 *
 * @example
 * st.data.transforms.toTensor()(st.data.decodePng(bytes)) // [3, H, W] in [0, 1]
 */
export function toTensor(): Transform {
  const scale = (x: Tensor, y: Tensor) => (x.dtype === "uint8" ? y.to("float32").div(255) : y.to("float32"));
  return withBatched(
    (x) => {
      if (x.ndim === 2) return scale(x, x.unsqueeze(0));
      if (x.ndim === 3) return scale(x, x.permute([2, 0, 1]));
      if (x.ndim === 4) return scale(x, x.permute([0, 3, 1, 2]));
      throw new ShapeError(`toTensor: expected an image [H, W, C] or [H, W], or a batch [N, H, W, C], got ${fmtShape(x.shape)}`);
    },
    (x) => {
      if (x.ndim === 3) return scale(x, x.unsqueeze(1));
      if (x.ndim === 4) return scale(x, x.permute([0, 3, 1, 2]));
      throw new ShapeError(`toTensor: expected a batch of images [B, H, W, C] or [B, H, W], got ${fmtShape(x.shape)}`);
    },
  );
}

/** A [C, 1, 1] constant, owned by its transform (pinned: no st.scope frees it). */
function channelConstant(values: readonly number[], dtype: DType, device: string): Tensor {
  const t = tensor(Float64Array.from(values), { dtype, device }).reshape([values.length, 1, 1]);
  t.pinned = true;
  return t;
}

/**
 * `(x - mean[c]) / std[c]` per channel of [..., C, H, W], like torchvision's `Normalize`. A single
 * value applies to every channel.
 *
 * @example
 * st.data.transforms.normalize([0.1307], [0.3081]) // MNIST's mean and std
 */
export function normalize(mean: readonly number[] | number, std: readonly number[] | number): Transform {
  const m = typeof mean === "number" ? [mean] : [...mean], s = typeof std === "number" ? [std] : [...std];
  if (!m.length || m.length !== s.length) throw new ValueError(`normalize: mean and std must be non-empty and of one length, got ${m.length} and ${s.length}`);
  if (s.some((v) => v === 0 || !Number.isFinite(v))) throw new ValueError(`normalize: std must be finite and nonzero, got [${s.join(", ")}]`);
  const cache = new Map<string, [Tensor, Tensor]>();
  const f = (x: Tensor) => {
    if (!isFloat(x.dtype)) throw new DTypeError(`normalize: expected a floating point image, got ${x.dtype} (apply toTensor first)`);
    if (x.ndim < 3) throw new ShapeError(`normalize: expected an image [..., C, H, W], got ${fmtShape(x.shape)}`);
    const c = x.shape[x.ndim - 3]!;
    if (m.length !== 1 && m.length !== c) throw new ShapeError(`normalize: ${m.length} means and stds for an image of ${c} channels (${fmtShape(x.shape)})`);
    const key = `${x.dtype}/${x.device}`;
    let consts = cache.get(key);
    if (!consts) {
      consts = [channelConstant(m, x.dtype, x.device), channelConstant(s, x.dtype, x.device)];
      cache.set(key, consts);
    }
    return x.sub(consts[0]).div(consts[1]);
  };
  return withBatched(f, f); // per channel of [..., C, H, W]: a batch is more leading dims
}

export interface RandomOpts {
  /** Draw from this generator instead of the DataLoader's per-sample one or the global stream. */
  generator?: Generator;
}

export interface RandomCropOpts extends RandomOpts {
  /** The value of padded pixels (default 0). */
  fill?: number;
}

function pair(op: string, name: string, v: number | readonly number[]): [number, number] {
  const [a, b] = typeof v === "number" ? [v, v] : v.length === 1 ? [v[0]!, v[0]!] : v;
  if (typeof v !== "number" && v.length > 2) throw new ValueError(`${op}: ${name} must be a number or [h, w], got [${v.join(", ")}]`);
  if (!Number.isInteger(a) || !Number.isInteger(b) || a! < 0 || b! < 0) throw new ValueError(`${op}: ${name} must be non-negative integers, got ${JSON.stringify(v)}`);
  return [a!, b!];
}

/**
 * A random `size` crop of [..., H, W], after padding the borders with `padding` pixels, like
 * torchvision's `RandomCrop`. `padding` is one number (all sides), [left/right, top/bottom] or
 * [left, top, right, bottom].
 *
 * @example
 * st.data.transforms.randomCrop(32, 4) // CIFAR-style: pad 4, crop back to 32x32 at a random place
 */
export function randomCrop(size: number | readonly number[], padding: number | readonly number[] = 0, opts: RandomCropOpts = {}): Transform {
  const [ch, cw] = pair("randomCrop", "size", size);
  const p = typeof padding === "number" ? [padding, padding, padding, padding]
    : padding.length === 2 ? [padding[0]!, padding[1]!, padding[0]!, padding[1]!] : [...padding];
  if (p.length !== 4 || p.some((v) => !Number.isInteger(v) || v < 0)) throw new ValueError(`randomCrop: padding must be a non-negative integer, [lr, tb] or [l, t, r, b], got ${JSON.stringify(padding)}`);
  const [pl, pt, pr, pb] = p as [number, number, number, number];
  const fill = opts.fill ?? 0;
  const pad = (x: Tensor, h: number, w: number): Tensor => {
    if (h < ch || w < cw) throw new ShapeError(`randomCrop: the crop ${ch}x${cw} is larger than the (padded) image ${h}x${w}`);
    if (!(pl || pt || pr || pb)) return x;
    const pads = x.shape.map((): [number, number] => [0, 0]);
    pads[x.ndim - 2] = [pt, pb];
    pads[x.ndim - 1] = [pl, pr];
    const y = padZeros(x, pads);
    return fill === 0 ? y : where(padZeros(full(x.shape, true, { dtype: "bool", device: x.device }), pads), y, fill);
  };
  const single = (x: Tensor): Tensor => {
    if (x.ndim < 2) throw new ShapeError(`randomCrop: expected an image [..., H, W], got ${fmtShape(x.shape)}`);
    const h = x.shape[x.ndim - 2]! + pt + pb, w = x.shape[x.ndim - 1]! + pl + pr;
    const y = pad(x, h, w);
    const i = Math.floor(drawUniform(opts.generator) * (h - ch + 1));
    const j = Math.floor(drawUniform(opts.generator) * (w - cw + 1));
    return y.narrow(-2, i, ch).narrow(-1, j, cw);
  };
  // A batch [B, ..., H, W]: each sample's rows and columns picked by two gathers (one kernel).
  const batched = (x: Tensor): Tensor => {
    const b = checkBatch("randomCrop", x, 2, "images [B, ..., H, W]");
    const h = x.shape[x.ndim - 2]! + pt + pb, w = x.shape[x.ndim - 1]! + pl + pr;
    const y = pad(x, h, w);
    const u = drawBatch(b, 2, opts.generator);
    const rows = new Int32Array(b * ch), cols = new Int32Array(b * cw);
    for (let k = 0; k < b; k++) {
      const i = Math.floor(u[2 * k]! * (h - ch + 1)), j = Math.floor(u[2 * k + 1]! * (w - cw + 1));
      for (let r = 0; r < ch; r++) rows[k * ch + r] = i + r;
      for (let c = 0; c < cw; c++) cols[k * cw + c] = j + c;
    }
    const mid = x.shape.slice(1, -2), ones = mid.map(() => 1);
    const ri = tensor(rows, { device: x.device }).reshape([b, ...ones, ch, 1]).expand([b, ...mid, ch, w]);
    const ci = tensor(cols, { device: x.device }).reshape([b, ...ones, 1, cw]).expand([b, ...mid, ch, cw]);
    return gather(gather(y, -2, ri), -1, ci);
  };
  return withBatched(single, batched);
}

function randomFlip(op: string, p: number, dim: number, opts: RandomOpts): Transform {
  if (!(p >= 0 && p <= 1)) throw new ValueError(`${op}: p must be in [0, 1], got ${p}`);
  return withBatched(
    (x) => {
      if (x.ndim < 2) throw new ShapeError(`${op}: expected an image [..., H, W], got ${fmtShape(x.shape)}`);
      return drawUniform(opts.generator) < p ? x.flip(dim) : x;
    },
    (x) => {
      const b = checkBatch(op, x, 2, "images [B, ..., H, W]");
      const u = drawBatch(b, 1, opts.generator);
      const mask = tensor(Uint8Array.from(u, (v) => (v < p ? 1 : 0)), { dtype: "bool", device: x.device }).reshape([b, ...x.shape.slice(1).map(() => 1)]);
      return where(mask, x.flip(dim), x);
    },
  );
}

/**
 * Mirrors [..., H, W] left to right with probability `p`, like torchvision's `RandomHorizontalFlip`.
 *
 * @example
 * st.data.transforms.randomHorizontalFlip(0.5)
 */
export const randomHorizontalFlip = (p = 0.5, opts: RandomOpts = {}): Transform => randomFlip("randomHorizontalFlip", p, -1, opts);

/** Mirrors [..., H, W] top to bottom with probability `p`, like torchvision's `RandomVerticalFlip`. */
export const randomVerticalFlip = (p = 0.5, opts: RandomOpts = {}): Transform => randomFlip("randomVerticalFlip", p, -2, opts);
