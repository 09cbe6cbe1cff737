/**
 * Multi-head attention, as `torch.nn.MultiheadAttention`: the same projections, masks, returned
 * weights, default initialization and state-dict names (`in_proj_weight`, `out_proj.weight`, ...).
 */
import { DTypeError, ShapeError, ValueError } from "../../ir/errors.ts";
import { fmtShape } from "../../ir/shape.ts";
import { arange, zeros } from "../../tensor/create.ts";
import { where } from "../../tensor/elementwise.ts";
import { matmul } from "../../tensor/linalg.ts";
import { cat } from "../../tensor/movement.ts";
import type { Tensor } from "../../tensor/tensor.ts";
import { dropout, linear } from "../functional.ts";
import { constant_, xavierNormal_, xavierUniform_ } from "../init.ts";
import { Linear } from "../layers/index.ts";
import { Module } from "../module.ts";
import { Parameter } from "../parameter.ts";

export interface MultiheadAttentionOpts {
  /** Dropout on the attention weights, in training (default 0). */
  dropout?: number;
  /** Biases of the input and output projections (default true). */
  bias?: boolean;
  /** Learned bias_k and bias_v appended to the keys and values (default false). */
  addBiasKv?: boolean;
  /** A zero key and value appended to each sequence (default false). */
  addZeroAttn?: boolean;
  /** Features of the keys (default embedDim). */
  kdim?: number;
  /** Features of the values (default embedDim). */
  vdim?: number;
  /** Inputs and output as [B, T, E] instead of [T, B, E] (default false). */
  batchFirst?: boolean;
}

export interface MultiheadAttentionForwardOpts {
  /** [B, S] (or [S] unbatched): bool (true: this key is padding, ignore it) or float (added). */
  keyPaddingMask?: Tensor | null;
  /** Return the attention weights too (default true). */
  needWeights?: boolean;
  /** [L, S] or [B * numHeads, L, S]: bool (true: may NOT attend) or float (added to the scores). */
  attnMask?: Tensor | null;
  /** Average the returned weights over the heads (default true): [B, L, S], else [B, numHeads, L, S]. */
  averageAttnWeights?: boolean;
  /** Apply a causal mask (query i sees keys 0..i); used as the mask when `attnMask` is not given. */
  isCausal?: boolean;
}

/** A bool mask (true: masked) becomes an additive float mask (-inf); a float mask is cast. */
function toFloatMask(mask: Tensor, dtype: Tensor["dtype"], name: string): Tensor {
  if (mask.dtype === "bool") return where(mask, -Infinity, zeros([], { dtype, device: mask.device }));
  if (!mask.isFloatingPoint()) throw new DTypeError(`MultiheadAttention: only bool and floating types of ${name} are supported, got ${mask.dtype}`);
  return mask.to(dtype);
}

/** [L, S] bool mask, true above the diagonal (the positions a causal query may not see). */
export function causalMask(L: number, S: number = L, device?: string): Tensor {
  const i = arange(L, undefined, 1, { dtype: "int64", device }), j = arange(S, undefined, 1, { dtype: "int64", device });
  return j.unsqueeze(0).gt(i.unsqueeze(1));
}

/**
 * Attention over `numHeads` heads of embedDim / numHeads features each:
 * out = concat_h(softmax(q_h k_hᵀ / √d + mask) v_h) W_oᵀ + b_o, with q, k, v projected from the
 * query, key and value. `forward` returns `[output, weights]` (weights null unless `needWeights`).
 *
 * Shape: query [L, B, E] ([B, L, E] with batchFirst, [L, E] unbatched), key [S, B, kdim], value
 * [S, B, vdim]; output like the query; weights [B, L, S] (averaged) or [B, numHeads, L, S].
 *
 * @example
 * const mha = new st.nn.MultiheadAttention(64, 8, { batchFirst: true });
 * const [y, w] = mha.forward(x, x, x, { keyPaddingMask: pad }); // y: [B, T, 64], w: [B, T, T]
 */
export class MultiheadAttention extends Module {
  readonly embedDim: number;
  readonly numHeads: number;
  readonly headDim: number;
  readonly kdim: number;
  readonly vdim: number;
  readonly dropout: number;
  readonly batchFirst: boolean;
  readonly addZeroAttn: boolean;
  /** [3E, E] when kdim = vdim = embedDim (else null and q/k/v_proj_weight are used). */
  inProjWeight: Parameter | null = null;
  qProjWeight: Parameter | null = null;
  kProjWeight: Parameter | null = null;
  vProjWeight: Parameter | null = null;
  inProjBias: Parameter | null = null;
  biasK: Parameter | null = null;
  biasV: Parameter | null = null;
  outProj: Linear;

  constructor(embedDim: number, numHeads: number, opts: MultiheadAttentionOpts = {}) {
    super();
    if (!Number.isInteger(embedDim) || embedDim <= 0 || !Number.isInteger(numHeads) || numHeads <= 0) {
      throw new ValueError(`MultiheadAttention: embedDim and numHeads must be positive integers, got embedDim=${embedDim} and numHeads=${numHeads}`);
    }
    if (embedDim % numHeads) throw new ValueError(`MultiheadAttention: embedDim must be divisible by numHeads, got ${embedDim} and ${numHeads}`);
    this.embedDim = embedDim;
    this.numHeads = numHeads;
    this.headDim = embedDim / numHeads;
    this.kdim = opts.kdim ?? embedDim;
    this.vdim = opts.vdim ?? embedDim;
    this.dropout = opts.dropout ?? 0;
    this.batchFirst = opts.batchFirst ?? false;
    this.addZeroAttn = opts.addZeroAttn ?? false;
    const bias = opts.bias ?? true;
    const E = embedDim;
    if (this.qkvSameEmbedDim) this.inProjWeight = new Parameter(zeros([3 * E, E]));
    else {
      this.qProjWeight = new Parameter(zeros([E, E]));
      this.kProjWeight = new Parameter(zeros([E, this.kdim]));
      this.vProjWeight = new Parameter(zeros([E, this.vdim]));
    }
    if (bias) this.inProjBias = new Parameter(zeros([3 * E]));
    if (opts.addBiasKv) {
      this.biasK = new Parameter(zeros([1, 1, E]));
      this.biasV = new Parameter(zeros([1, 1, E]));
    }
    this.outProj = new Linear(E, E, { bias });
    this.resetParameters();
  }

  get qkvSameEmbedDim(): boolean {
    return this.kdim === this.embedDim && this.vdim === this.embedDim;
  }

  /** PyTorch's init: Xavier-uniform projections, zero biases, Xavier-normal bias_k / bias_v. */
  resetParameters(): void {
    for (const w of [this.inProjWeight, this.qProjWeight, this.kProjWeight, this.vProjWeight]) if (w) xavierUniform_(w);
    if (this.inProjBias) constant_(this.inProjBias, 0);
    if (this.outProj.bias) constant_(this.outProj.bias, 0);
    if (this.biasK) xavierNormal_(this.biasK);
    if (this.biasV) xavierNormal_(this.biasV);
  }

  forward(query: Tensor, key: Tensor, value: Tensor, opts: MultiheadAttentionForwardOpts = {}): [Tensor, Tensor | null] {
    const { needWeights = true, averageAttnWeights = true } = opts;
    let { keyPaddingMask = null, attnMask = null } = opts;
    const E = this.embedDim, H = this.numHeads, hd = this.headDim;
    const batched = query.ndim === 3;
    if (query.ndim !== 2 && query.ndim !== 3) throw new ShapeError(`MultiheadAttention: query should be unbatched 2D or batched 3D tensor but received ${query.ndim}-D query tensor`);
    if (key.ndim !== query.ndim || value.ndim !== query.ndim) {
      throw new ShapeError(`MultiheadAttention: for ${batched ? "batched (3-D)" : "unbatched (2-D)"} query, expected key and value to be ${query.ndim}-D but found ${key.ndim}-D and ${value.ndim}-D tensors respectively`);
    }
    // Batch-first inputs stay [B, T, E]: the heads are cut from that layout directly, so neither
    // the inputs nor the output are transposed (a copy kernel each, and again in the backward).
    const bf = batched && this.batchFirst, tAxis = bf ? 1 : 0, bAxis = bf ? 0 : 1;
    let q = query, k = key, v = value;
    if (!batched) {
      q = q.unsqueeze(1); k = k.unsqueeze(1); v = v.unsqueeze(1);
      if (keyPaddingMask) keyPaddingMask = keyPaddingMask.unsqueeze(0);
    }
    // now [L, B, E], [S, B, kdim], [S, B, vdim] (or [B, L, E], ... when batch-first)
    const L = q.shape[tAxis]!, B = q.shape[bAxis]!, S0 = k.shape[tAxis]!;
    if (q.shape[2] !== E) throw new ShapeError(`MultiheadAttention: was expecting embedding dimension of ${E}, but got ${q.shape[2]}`);
    if (k.shape[2] !== this.kdim || v.shape[2] !== this.vdim) throw new ShapeError(`MultiheadAttention: expected key [..., ${this.kdim}] and value [..., ${this.vdim}], got key ${fmtShape(key.shape)} and value ${fmtShape(value.shape)}`);
    if (k.shape[tAxis] !== v.shape[tAxis] || k.shape[bAxis] !== B || v.shape[bAxis] !== B) throw new ShapeError(`MultiheadAttention: key shape ${fmtShape(key.shape)} does not match value shape ${fmtShape(value.shape)} or the query's batch`);
    if (keyPaddingMask && (keyPaddingMask.ndim !== 2 || keyPaddingMask.shape[0] !== B || keyPaddingMask.shape[1] !== S0)) {
      throw new ShapeError(`MultiheadAttention: expected keyPaddingMask of shape ${fmtShape(batched ? [B, S0] : [S0])}, got ${fmtShape(opts.keyPaddingMask!.shape)}`);
    }
    if (!attnMask && opts.isCausal) attnMask = causalMask(L, S0, q.device);
    if (attnMask) {
      const want2 = [L, S0], want3 = [B * H, L, S0];
      const ok = attnMask.ndim === 2 ? attnMask.shape.every((d, i) => d === want2[i]) : attnMask.ndim === 3 && attnMask.shape.every((d, i) => d === want3[i]);
      if (!ok) throw new ShapeError(`MultiheadAttention: the shape of attnMask should be ${fmtShape(want2)} or ${fmtShape(want3)}, but got ${fmtShape(attnMask.shape)}`);
    }

    // input projections
    let qp: Tensor, kp: Tensor, vp: Tensor; // [L|S, B, E] (or [B, L|S, E])
    if (this.inProjWeight && query === key && key === value) {
      // Self-attention: one product with the packed [3E, E] weight (as PyTorch does), not three
      // with its slices; its gradients then are one product each too.
      [qp, kp, vp] = linear(q, this.inProjWeight, this.inProjBias).chunk(3, -1) as [Tensor, Tensor, Tensor];
    } else if (this.inProjWeight && key === value) {
      // Keys and values from one tensor (a decoder's memory): one product for both.
      const [wq, wkv] = this.inProjWeight.split([E, 2 * E], 0) as [Tensor, Tensor];
      const [bq, bkv] = this.inProjBias ? (this.inProjBias.split([E, 2 * E], 0) as [Tensor, Tensor]) : [null, null];
      qp = linear(q, wq, bq);
      [kp, vp] = linear(k, wkv, bkv).chunk(2, -1) as [Tensor, Tensor];
    } else {
      let wq: Tensor, wk: Tensor, wv: Tensor;
      if (this.inProjWeight) [wq, wk, wv] = this.inProjWeight.chunk(3, 0) as [Tensor, Tensor, Tensor];
      else [wq, wk, wv] = [this.qProjWeight!, this.kProjWeight!, this.vProjWeight!];
      const [bq, bk, bv] = this.inProjBias ? (this.inProjBias.chunk(3, 0) as [Tensor, Tensor, Tensor]) : [null, null, null];
      qp = linear(q, wq, bq); kp = linear(k, wk, bk); vp = linear(v, wv, bv);
    }

    // masks as additive float [B, H, L, S] pieces
    let mask: Tensor | null = attnMask ? toFloatMask(attnMask, qp.dtype, "attnMask") : null;
    let kpm: Tensor | null = keyPaddingMask ? toFloatMask(keyPaddingMask, qp.dtype, "keyPaddingMask") : null;
    if (this.biasK && this.biasV) {
      const one = bf ? [B, 1, E] : [1, B, E];
      kp = cat([kp, this.biasK.expand(one)], tAxis);
      vp = cat([vp, this.biasV.expand(one)], tAxis);
      if (mask) mask = padLast(mask);
      if (kpm) kpm = padLast(kpm);
    }
    const heads = (t: Tensor) => (bf ? t.reshape([B, t.shape[1]!, H, hd]).permute([0, 2, 1, 3]) : t.reshape([t.shape[0]!, B, H, hd]).permute([1, 2, 0, 3])); // [B, H, T, hd]
    let qh = heads(qp), kh = heads(kp), vh = heads(vp);
    if (this.addZeroAttn) {
      const z = zeros([B, H, 1, hd], { dtype: kh.dtype, device: kh.device });
      kh = cat([kh, z], 2);
      vh = cat([vh, z], 2);
      if (mask) mask = padLast(mask);
      if (kpm) kpm = padLast(kpm);
    }
    const S = kh.shape[2]!;
    let bias: Tensor | null = mask ? (mask.ndim === 3 ? mask.reshape([B, H, L, S]) : mask) : null;
    if (kpm) {
      const kb = kpm.reshape([B, 1, 1, S]);
      bias = bias ? bias.add(kb) : kb;
    }
    let scores = matmul(qh.mul(1 / Math.sqrt(hd)), kh.mT); // [B, H, L, S]
    if (bias) scores = scores.add(bias);
    let w = scores.softmax(-1);
    if (this.dropout > 0 && this.training) w = dropout(w, this.dropout, true);
    const ctx = matmul(w, vh); // [B, H, L, hd]
    let out = this.outProj.forward(bf ? ctx.permute([0, 2, 1, 3]).reshape([B, L, E]) : ctx.permute([2, 0, 1, 3]).reshape([L, B, E])); // [L, B, E] or [B, L, E]
    let weights: Tensor | null = needWeights ? (averageAttnWeights ? w.mean(1) : w) : null;
    if (!batched) {
      out = out.squeeze(1);
      if (weights) weights = weights.squeeze(0);
    }
    return [out, weights];
  }

}

/** Appends a zero column (one more key, not masked) to a mask's last dim. */
function padLast(m: Tensor): Tensor {
  return cat([m, zeros([...m.shape.slice(0, -1), 1], { dtype: m.dtype, device: m.device })], -1);
}
