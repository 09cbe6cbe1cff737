/**
 * Transformer layers, as `torch.nn.TransformerEncoderLayer`, `TransformerDecoderLayer`,
 * `TransformerEncoder`, `TransformerDecoder` and `Transformer`: post-norm (default) or pre-norm
 * (`normFirst`), the same state-dict names (`layers.0.self_attn.in_proj_weight`,
 * `layers.0.linear1.weight`, `layers.0.norm1.weight`, ...).
 */
import { ShapeError, ValueError } from "../../ir/errors.ts";
import { fmtShape } from "../../ir/shape.ts";
import { zeros } from "../../tensor/create.ts";
import { where } from "../../tensor/elementwise.ts";
import { Tensor } from "../../tensor/tensor.ts";
import { xavierUniform_ } from "../init.ts";
import { Dropout, LayerNorm, Linear } from "../layers/index.ts";
import { ModuleList } from "../container.ts";
import { Module } from "../module.ts";
import { Parameter } from "../parameter.ts";
import { causalMask, MultiheadAttention } from "./attention.ts";

export type Activation = "relu" | "gelu" | ((x: Tensor) => Tensor);

export interface TransformerLayerOpts {
  /** Width of the feed-forward block (default 2048). */
  dimFeedforward?: number;
  /** Dropout after attention, inside and after the feed-forward block (default 0.1). */
  dropout?: number;
  /** Of the feed-forward block: "relu" (default), "gelu" or a function. */
  activation?: Activation;
  /** LayerNorm's eps (default 1e-5). */
  layerNormEps?: number;
  /** Inputs and outputs as [B, T, E] instead of [T, B, E] (default false). */
  batchFirst?: boolean;
  /** LayerNorm before attention and feed-forward (pre-norm) instead of after (default false). */
  normFirst?: boolean;
  /** Biases in the linear layers and layer norms (default true). */
  bias?: boolean;
}

const act = (a: Activation, x: Tensor): Tensor => (a === "relu" ? x.relu() : a === "gelu" ? x.gelu() : a(x));

function checkActivation(a: Activation): Activation {
  if (a !== "relu" && a !== "gelu" && typeof a !== "function") throw new ValueError(`activation should be relu/gelu, not ${String(a)}`);
  return a;
}

/**
 * A copy of a module with its own parameters (equal values), as `copy.deepcopy` of a torch
 * module: TransformerEncoder and TransformerDecoder stack clones of the layer they are given.
 */
export function cloneModule<M extends Module>(m: M): M {
  const copy = (v: unknown): unknown => {
    if (v instanceof Parameter) return new Parameter(v.detach().clone().realize(), v.requiresGrad);
    if (v instanceof Module) return cloneModule(v);
    if (v instanceof Tensor) {
      const t = v.detach().clone().realize();
      t.pinned = v.pinned;
      return t;
    }
    if (v instanceof Map) return new Map([...v].map(([k, x]) => [k, copy(x)]));
    if (Array.isArray(v)) return v.map(copy);
    return v;
  };
  const c = Object.create(Object.getPrototypeOf(m) as object) as Record<string, unknown>;
  for (const [k, v] of Object.entries(m)) c[k] = copy(v);
  return c as unknown as M;
}

/** Masks given positionally (PyTorch's order) or as the first options object. */
type MaskOr<O> = Tensor | null | undefined | O;
const isOpts = <O>(v: MaskOr<O>): v is O => v !== null && v !== undefined && !(v instanceof Tensor);

/** The mask to use: the given one, or a causal one when `isCausal` and none is given. */
function maskFor(mask: Tensor | null | undefined, isCausal: boolean | undefined, x: Tensor, batchFirst: boolean): Tensor | null {
  if (mask) return mask;
  if (!isCausal) return null;
  const T = x.ndim === 3 && batchFirst ? x.shape[1]! : x.shape[0]!;
  return causalMask(T, T, x.device);
}

export interface EncoderLayerForwardOpts {
  srcMask?: Tensor | null;
  /** [B, S]: true (or -inf) at padding positions. */
  srcKeyPaddingMask?: Tensor | null;
  /** Apply a causal mask (used when `srcMask` is not given). */
  isCausal?: boolean;
}

/**
 * Self-attention and a feed-forward block, each with a residual connection and LayerNorm
 * (after it by default; before it with normFirst), as `torch.nn.TransformerEncoderLayer`.
 *
 * Shape: src [S, B, E] ([B, S, E] with batchFirst, or [S, E] unbatched), output the same.
 *
 * @example
 * const layer = new st.nn.TransformerEncoderLayer(64, 4, { dimFeedforward: 128, batchFirst: true });
 * const y = layer.forward(st.randn([2, 10, 64]));  // [2, 10, 64]
 */
export class TransformerEncoderLayer extends Module {
  selfAttn: MultiheadAttention;
  linear1: Linear;
  dropout: Dropout;
  linear2: Linear;
  readonly normFirst: boolean;
  norm1: LayerNorm;
  norm2: LayerNorm;
  dropout1: Dropout;
  dropout2: Dropout;
  readonly activation: Activation;
  readonly batchFirst: boolean;

  constructor(dModel: number, nhead: number, opts: TransformerLayerOpts = {}) {
    super();
    const { dimFeedforward = 2048, dropout = 0.1, layerNormEps = 1e-5, batchFirst = false, normFirst = false, bias = true } = opts;
    this.selfAttn = new MultiheadAttention(dModel, nhead, { dropout, bias, batchFirst });
    this.linear1 = new Linear(dModel, dimFeedforward, { bias });
    this.dropout = new Dropout(dropout);
    this.linear2 = new Linear(dimFeedforward, dModel, { bias });
    this.normFirst = normFirst;
    this.norm1 = new LayerNorm(dModel, { eps: layerNormEps, bias });
    this.norm2 = new LayerNorm(dModel, { eps: layerNormEps, bias });
    this.dropout1 = new Dropout(dropout);
    this.dropout2 = new Dropout(dropout);
    this.activation = checkActivation(opts.activation ?? "relu");
    this.batchFirst = batchFirst;
  }

  forward(src: Tensor, srcMask?: MaskOr<EncoderLayerForwardOpts>, opts: EncoderLayerForwardOpts = {}): Tensor {
    const o = isOpts(srcMask) ? srcMask : { ...opts, srcMask };
    const mask = maskFor(o.srcMask, o.isCausal, src, this.batchFirst), kpm = o.srcKeyPaddingMask ?? null;
    let x = src;
    if (this.normFirst) {
      x = x.add(this.saBlock(this.norm1.forward(x), mask, kpm));
      x = x.add(this.ffBlock(this.norm2.forward(x)));
    } else {
      x = this.norm1.forward(x.add(this.saBlock(x, mask, kpm)));
      x = this.norm2.forward(x.add(this.ffBlock(x)));
    }
    return x;
  }

  private saBlock(x: Tensor, mask: Tensor | null, kpm: Tensor | null): Tensor {
    const [y] = this.selfAttn.forward(x, x, x, { attnMask: mask, keyPaddingMask: kpm, needWeights: false });
    return this.dropout1.forward(y);
  }
  private ffBlock(x: Tensor): Tensor {
    return this.dropout2.forward(this.linear2.forward(this.dropout.forward(act(this.activation, this.linear1.forward(x)))));
  }
}

export interface DecoderLayerForwardOpts {
  tgtMask?: Tensor | null;
  memoryMask?: Tensor | null;
  tgtKeyPaddingMask?: Tensor | null;
  memoryKeyPaddingMask?: Tensor | null;
  /** Apply a causal mask to the self-attention (used when `tgtMask` is not given). */
  tgtIsCausal?: boolean;
  /** Apply a causal mask to the cross-attention (used when `memoryMask` is not given). */
  memoryIsCausal?: boolean;
}

/**
 * Self-attention, attention over the encoder's output (memory) and a feed-forward block, each
 * with a residual connection and LayerNorm, as `torch.nn.TransformerDecoderLayer`.
 *
 * Shape: tgt [T, B, E], memory [S, B, E] ([B, *, E] with batchFirst); output like tgt.
 *
 * @example
 * const layer = new st.nn.TransformerDecoderLayer(64, 4, { batchFirst: true });
 * const y = layer.forward(tgt, memory, { tgtIsCausal: true });
 */
export class TransformerDecoderLayer extends Module {
  selfAttn: MultiheadAttention;
  multiheadAttn: MultiheadAttention;
  linear1: Linear;
  dropout: Dropout;
  linear2: Linear;
  readonly normFirst: boolean;
  norm1: LayerNorm;
  norm2: LayerNorm;
  norm3: LayerNorm;
  dropout1: Dropout;
  dropout2: Dropout;
  dropout3: Dropout;
  readonly activation: Activation;
  readonly batchFirst: boolean;

  constructor(dModel: number, nhead: number, opts: TransformerLayerOpts = {}) {
    super();
    const { dimFeedforward = 2048, dropout = 0.1, layerNormEps = 1e-5, batchFirst = false, normFirst = false, bias = true } = opts;
    this.selfAttn = new MultiheadAttention(dModel, nhead, { dropout, bias, batchFirst });
    this.multiheadAttn = new MultiheadAttention(dModel, nhead, { dropout, bias, batchFirst });
    this.linear1 = new Linear(dModel, dimFeedforward, { bias });
    this.dropout = new Dropout(dropout);
    this.linear2 = new Linear(dimFeedforward, dModel, { bias });
    this.normFirst = normFirst;
    this.norm1 = new LayerNorm(dModel, { eps: layerNormEps, bias });
    this.norm2 = new LayerNorm(dModel, { eps: layerNormEps, bias });
    this.norm3 = new LayerNorm(dModel, { eps: layerNormEps, bias });
    this.dropout1 = new Dropout(dropout);
    this.dropout2 = new Dropout(dropout);
    this.dropout3 = new Dropout(dropout);
    this.activation = checkActivation(opts.activation ?? "relu");
    this.batchFirst = batchFirst;
  }

  forward(tgt: Tensor, memory: Tensor, tgtMask?: MaskOr<DecoderLayerForwardOpts>, memoryMask?: Tensor | null, opts: DecoderLayerForwardOpts = {}): Tensor {
    const o = isOpts(tgtMask) ? tgtMask : { ...opts, tgtMask, memoryMask: memoryMask ?? opts.memoryMask };
    const tMask = maskFor(o.tgtMask, o.tgtIsCausal, tgt, this.batchFirst);
    let mMask = o.memoryMask ?? null;
    if (!mMask && o.memoryIsCausal) {
      const T = tgt.ndim === 3 && this.batchFirst ? tgt.shape[1]! : tgt.shape[0]!, S = memory.ndim === 3 && this.batchFirst ? memory.shape[1]! : memory.shape[0]!;
      mMask = causalMask(T, S, tgt.device);
    }
    const tKpm = o.tgtKeyPaddingMask ?? null, mKpm = o.memoryKeyPaddingMask ?? null;
    let x = tgt;
    if (this.normFirst) {
      x = x.add(this.saBlock(this.norm1.forward(x), tMask, tKpm));
      x = x.add(this.mhaBlock(this.norm2.forward(x), memory, mMask, mKpm));
      x = x.add(this.ffBlock(this.norm3.forward(x)));
    } else {
      x = this.norm1.forward(x.add(this.saBlock(x, tMask, tKpm)));
      x = this.norm2.forward(x.add(this.mhaBlock(x, memory, mMask, mKpm)));
      x = this.norm3.forward(x.add(this.ffBlock(x)));
    }
    return x;
  }

  private saBlock(x: Tensor, mask: Tensor | null, kpm: Tensor | null): Tensor {
    const [y] = this.selfAttn.forward(x, x, x, { attnMask: mask, keyPaddingMask: kpm, needWeights: false });
    return this.dropout1.forward(y);
  }
  private mhaBlock(x: Tensor, mem: Tensor, mask: Tensor | null, kpm: Tensor | null): Tensor {
    const [y] = this.multiheadAttn.forward(x, mem, mem, { attnMask: mask, keyPaddingMask: kpm, needWeights: false });
    return this.dropout2.forward(y);
  }
  private ffBlock(x: Tensor): Tensor {
    return this.dropout3.forward(this.linear2.forward(this.dropout.forward(act(this.activation, this.linear1.forward(x)))));
  }
}

export interface EncoderForwardOpts {
  mask?: Tensor | null;
  srcKeyPaddingMask?: Tensor | null;
  isCausal?: boolean;
}

/**
 * A stack of `numLayers` copies of an encoder layer (each with its own parameters, starting
 * equal, as PyTorch's deep copies), then an optional final norm.
 *
 * @example
 * const enc = new st.nn.TransformerEncoder(new st.nn.TransformerEncoderLayer(64, 4), 2);
 * const y = enc.forward(src, { srcKeyPaddingMask: pad });
 */
export class TransformerEncoder extends Module {
  layers: ModuleList;
  readonly numLayers: number;
  norm: Module | null;

  constructor(encoderLayer: TransformerEncoderLayer, numLayers: number, norm: Module | null = null) {
    super();
    if (!Number.isInteger(numLayers) || numLayers < 1) throw new ValueError(`TransformerEncoder: numLayers must be a positive integer, got ${numLayers}`);
    this.layers = new ModuleList(Array.from({ length: numLayers }, () => cloneModule(encoderLayer)));
    this.numLayers = numLayers;
    this.norm = norm;
  }

  forward(src: Tensor, mask?: MaskOr<EncoderForwardOpts>, opts: EncoderForwardOpts = {}): Tensor {
    const o = isOpts(mask) ? mask : { ...opts, mask };
    let x = src;
    for (const layer of this.layers) {
      x = (layer as TransformerEncoderLayer).forward(x, { srcMask: o.mask, srcKeyPaddingMask: o.srcKeyPaddingMask, isCausal: o.isCausal });
    }
    return this.norm ? (this.norm.forward as (t: Tensor) => Tensor)(x) : x;
  }
}

/** A stack of `numLayers` copies of a decoder layer, then an optional final norm. */
export class TransformerDecoder extends Module {
  layers: ModuleList;
  readonly numLayers: number;
  norm: Module | null;

  constructor(decoderLayer: TransformerDecoderLayer, numLayers: number, norm: Module | null = null) {
    super();
    if (!Number.isInteger(numLayers) || numLayers < 1) throw new ValueError(`TransformerDecoder: numLayers must be a positive integer, got ${numLayers}`);
    this.layers = new ModuleList(Array.from({ length: numLayers }, () => cloneModule(decoderLayer)));
    this.numLayers = numLayers;
    this.norm = norm;
  }

  forward(tgt: Tensor, memory: Tensor, tgtMask?: MaskOr<DecoderLayerForwardOpts>, memoryMask?: Tensor | null, opts: DecoderLayerForwardOpts = {}): Tensor {
    const o = isOpts(tgtMask) ? tgtMask : { ...opts, tgtMask, memoryMask: memoryMask ?? opts.memoryMask };
    let x = tgt;
    for (const layer of this.layers) x = (layer as TransformerDecoderLayer).forward(x, memory, o);
    return this.norm ? (this.norm.forward as (t: Tensor) => Tensor)(x) : x;
  }
}

export interface TransformerOpts extends TransformerLayerOpts {
  /** Model width (default 512). */
  dModel?: number;
  /** Attention heads (default 8). */
  nhead?: number;
  numEncoderLayers?: number;
  numDecoderLayers?: number;
  customEncoder?: Module | null;
  customDecoder?: Module | null;
}

export interface TransformerForwardOpts {
  srcMask?: Tensor | null;
  tgtMask?: Tensor | null;
  memoryMask?: Tensor | null;
  srcKeyPaddingMask?: Tensor | null;
  tgtKeyPaddingMask?: Tensor | null;
  memoryKeyPaddingMask?: Tensor | null;
  srcIsCausal?: boolean;
  tgtIsCausal?: boolean;
  memoryIsCausal?: boolean;
}

/**
 * An encoder-decoder transformer, as `torch.nn.Transformer`: every weight matrix starts
 * Xavier-uniform. Keys: `encoder.layers.0.self_attn.in_proj_weight`, `encoder.norm.weight`,
 * `decoder.layers.0.multihead_attn.out_proj.weight`, ...
 *
 * Shape: src [S, B, E], tgt [T, B, E] ([B, *, E] with batchFirst); output [T, B, E].
 *
 * @example
 * const model = new st.nn.Transformer({ dModel: 32, nhead: 4, numEncoderLayers: 2, numDecoderLayers: 2, dimFeedforward: 64 });
 * const tgtMask = st.nn.Transformer.generateSquareSubsequentMask(10);
 * const y = model.forward(src, tgt, { tgtMask });                      // [10, B, 32]
 */
export class Transformer extends Module {
  encoder: Module;
  decoder: Module;
  readonly dModel: number;
  readonly nhead: number;
  readonly batchFirst: boolean;

  constructor(opts: TransformerOpts = {}) {
    super();
    const { dModel = 512, nhead = 8, numEncoderLayers = 6, numDecoderLayers = 6, layerNormEps = 1e-5, bias = true } = opts;
    const layerOpts: TransformerLayerOpts = { ...opts, layerNormEps, bias };
    this.encoder = opts.customEncoder ?? new TransformerEncoder(new TransformerEncoderLayer(dModel, nhead, layerOpts), numEncoderLayers, new LayerNorm(dModel, { eps: layerNormEps, bias }));
    this.decoder = opts.customDecoder ?? new TransformerDecoder(new TransformerDecoderLayer(dModel, nhead, layerOpts), numDecoderLayers, new LayerNorm(dModel, { eps: layerNormEps, bias }));
    this.dModel = dModel;
    this.nhead = nhead;
    this.batchFirst = opts.batchFirst ?? false;
    this.resetParameters();
  }

  /** Xavier-uniform on every parameter with more than one dim, as PyTorch's `_reset_parameters`. */
  resetParameters(): void {
    for (const p of this.parameters()) if (p.ndim > 1) xavierUniform_(p);
  }

  forward(src: Tensor, tgt: Tensor, srcMask?: MaskOr<TransformerForwardOpts>, tgtMask?: Tensor | null, memoryMask?: Tensor | null, opts: TransformerForwardOpts = {}): Tensor {
    const o = isOpts(srcMask) ? srcMask : { ...opts, srcMask, tgtMask: tgtMask ?? opts.tgtMask, memoryMask: memoryMask ?? opts.memoryMask };
    const batched = src.ndim === 3;
    if (src.ndim !== tgt.ndim) throw new ShapeError(`Transformer: src and tgt should have the same number of dims, got ${fmtShape(src.shape)} and ${fmtShape(tgt.shape)}`);
    if (batched) {
      const bd = this.batchFirst ? 0 : 1;
      if (src.shape[bd] !== tgt.shape[bd]) throw new ShapeError(`Transformer: the batch number of src and tgt must be equal, got ${fmtShape(src.shape)} and ${fmtShape(tgt.shape)}`);
    }
    if (src.shape[src.ndim - 1] !== this.dModel || tgt.shape[tgt.ndim - 1] !== this.dModel) {
      throw new ShapeError(`Transformer: the feature number of src and tgt must be equal to dModel (${this.dModel}), got ${fmtShape(src.shape)} and ${fmtShape(tgt.shape)}`);
    }
    const memory = (this.encoder as TransformerEncoder).forward(src, { mask: o.srcMask, srcKeyPaddingMask: o.srcKeyPaddingMask, isCausal: o.srcIsCausal });
    return (this.decoder as TransformerDecoder).forward(tgt, memory, {
      tgtMask: o.tgtMask, memoryMask: o.memoryMask, tgtKeyPaddingMask: o.tgtKeyPaddingMask,
      memoryKeyPaddingMask: o.memoryKeyPaddingMask, tgtIsCausal: o.tgtIsCausal, memoryIsCausal: o.memoryIsCausal,
    });
  }

  /**
   * A float [sz, sz] mask with -inf above the diagonal and 0 elsewhere: position i may attend to
   * positions 0..i.
   */
  static generateSquareSubsequentMask(sz: number, opts: { dtype?: Tensor["dtype"]; device?: string } = {}): Tensor {
    return where(causalMask(sz, sz, opts.device), -Infinity, zeros([], { dtype: opts.dtype ?? "float32", device: opts.device }));
  }
}
