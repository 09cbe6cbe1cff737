/**
 * Recurrent layers, as `torch.nn.RNN`, `LSTM`, `GRU` and their cells: the same gates, default
 * initialization, shapes and state-dict names (`weight_ih_l0`, `bias_hh_l1_reverse`, ...).
 */
import { ShapeError, ValueError } from "../../ir/errors.ts";
import { fmtShape } from "../../ir/shape.ts";
import { rand, tensor, zeros } from "../../tensor/create.ts";
import { where } from "../../tensor/elementwise.ts";
import { cat, stack } from "../../tensor/movement.ts";
import type { Tensor } from "../../tensor/tensor.ts";
import { dropout, linear } from "../functional.ts";
import { Module } from "../module.ts";
import { Parameter } from "../parameter.ts";
import { PackedSequence, packLike, padPackedSequence } from "./packing.ts";

export type RNNMode = "RNN_TANH" | "RNN_RELU" | "LSTM" | "GRU";

const GATES: Record<RNNMode, number> = { RNN_TANH: 1, RNN_RELU: 1, LSTM: 4, GRU: 3 };

/** A parameter drawn from U(-k, k), PyTorch's default for recurrent weights (k = 1/sqrt(hidden)). */
export function uniformParameter(shape: readonly number[], k: number): Parameter {
  return new Parameter(rand(shape).mul(2 * k).sub(k));
}

// ---- cells (one time step) ----

/** h' = tanh(W_ih x + b_ih + W_hh h + b_hh) (or relu). */
export function rnnTanhCell(x: Tensor, h: Tensor, wIh: Tensor, wHh: Tensor, bIh?: Tensor | null, bHh?: Tensor | null): Tensor {
  return linear(h, wHh, bHh).add(linear(x, wIh, bIh)).tanh();
}
export function rnnReluCell(x: Tensor, h: Tensor, wIh: Tensor, wHh: Tensor, bIh?: Tensor | null, bHh?: Tensor | null): Tensor {
  return linear(h, wHh, bHh).add(linear(x, wIh, bIh)).relu();
}

/** LSTM gates from the input part `gi` (x W_ihᵀ + b_ih) and the previous state; returns [h', c']. */
function lstmStep(gi: Tensor, h: Tensor, c: Tensor, wHh: Tensor, bHh: Tensor | null, wHr: Tensor | null): [Tensor, Tensor] {
  const gates = linear(h, wHh, bHh).add(gi);
  const [i, f, g, o] = gates.chunk(4, -1) as [Tensor, Tensor, Tensor, Tensor];
  const c1 = f.sigmoid().mul(c).add(i.sigmoid().mul(g.tanh()));
  const h1 = o.sigmoid().mul(c1.tanh());
  return [wHr ? linear(h1, wHr) : h1, c1];
}

/** GRU: r, z from both parts, n = tanh(x part + r * h part), h' = (h - n) z + n. */
function gruStep(gi: Tensor, h: Tensor, wHh: Tensor, bHh: Tensor | null): Tensor {
  const gh = linear(h, wHh, bHh);
  const [ir, iz, inn] = gi.chunk(3, -1) as [Tensor, Tensor, Tensor];
  const [hr, hz, hn] = gh.chunk(3, -1) as [Tensor, Tensor, Tensor];
  const r = hr.add(ir).sigmoid(), z = hz.add(iz).sigmoid();
  const n = inn.add(hn.mul(r)).tanh();
  return h.sub(n).mul(z).add(n);
}

export function lstmCell(x: Tensor, hc: [Tensor, Tensor], wIh: Tensor, wHh: Tensor, bIh?: Tensor | null, bHh?: Tensor | null): [Tensor, Tensor] {
  return lstmStep(linear(x, wIh, bIh), hc[0], hc[1], wHh, bHh ?? null, null);
}
export function gruCell(x: Tensor, h: Tensor, wIh: Tensor, wHh: Tensor, bIh?: Tensor | null, bHh?: Tensor | null): Tensor {
  return gruStep(linear(x, wIh, bIh), h, wHh, bHh ?? null);
}

// ---- multi-layer recurrent layers ----

export interface RNNOptions {
  /** Stacked layers (default 1). */
  numLayers?: number;
  /** Use bias_ih and bias_hh (default true). */
  bias?: boolean;
  /** Input and output as [B, T, *] instead of [T, B, *] (the states stay [layers*dirs, B, H]). */
  batchFirst?: boolean;
  /** Dropout on the output of each layer but the last, in training (default 0). */
  dropout?: number;
  /** Run a second, reversed direction and concatenate (default false). */
  bidirectional?: boolean;
}

interface Weights {
  wIh: Tensor;
  wHh: Tensor;
  bIh: Tensor | null;
  bHh: Tensor | null;
  wHr: Tensor | null;
}

/**
 * The shared machinery of RNN, LSTM and GRU (PyTorch's `RNNBase`). Parameters are fields named
 * as PyTorch's (`weightIhL0` is `weight_ih_l0`, `biasHhL1Reverse` is `bias_hh_l1_reverse`).
 */
export abstract class RNNBase extends Module {
  readonly mode: RNNMode;
  readonly inputSize: number;
  readonly hiddenSize: number;
  readonly numLayers: number;
  readonly bias: boolean;
  readonly batchFirst: boolean;
  readonly dropout: number;
  readonly bidirectional: boolean;
  readonly projSize: number;
  /** @internal State-dict names of the weights, in PyTorch's order. */
  readonly _flatWeightsNames: string[] = [];

  constructor(mode: RNNMode, inputSize: number, hiddenSize: number, opts: RNNOptions & { projSize?: number } = {}) {
    super();
    const name = this.constructor.name;
    this.mode = mode;
    this.inputSize = inputSize;
    this.hiddenSize = hiddenSize;
    this.numLayers = opts.numLayers ?? 1;
    this.bias = opts.bias ?? true;
    this.batchFirst = opts.batchFirst ?? false;
    this.dropout = opts.dropout ?? 0;
    this.bidirectional = opts.bidirectional ?? false;
    this.projSize = opts.projSize ?? 0;
    for (const [k, v] of [["inputSize", inputSize], ["hiddenSize", hiddenSize], ["numLayers", this.numLayers]] as const) {
      if (!Number.isInteger(v) || v <= 0) throw new ValueError(`${name}: ${k} must be a positive integer, got ${v}`);
    }
    if (!(this.dropout >= 0 && this.dropout <= 1)) throw new ValueError(`${name}: dropout should be a number in range [0, 1] representing the probability of an element being zeroed, got ${this.dropout}`);
    if (!Number.isInteger(this.projSize) || this.projSize < 0) throw new ValueError(`${name}: projSize should be a non-negative integer, got ${this.projSize}`);
    if (this.projSize && mode !== "LSTM") throw new ValueError(`${name}: projSize argument is only supported for LSTM, not RNN or GRU`);
    if (this.projSize >= hiddenSize) throw new ValueError(`${name}: projSize has to be smaller than hiddenSize, got ${this.projSize} >= ${hiddenSize}`);
    const gateSize = GATES[mode] * hiddenSize;
    const real = this.projSize || hiddenSize, dirs = this.numDirections;
    const k = 1 / Math.sqrt(hiddenSize);
    const self = this as unknown as Record<string, Parameter>;
    for (let layer = 0; layer < this.numLayers; layer++) {
      for (let d = 0; d < dirs; d++) {
        const layerIn = layer === 0 ? inputSize : real * dirs;
        const sfx = `_l${layer}${d ? "_reverse" : ""}`;
        const add = (n: string, shape: number[]) => {
          const snake = n + sfx;
          self[camel(snake)] = uniformParameter(shape, k);
          this._flatWeightsNames.push(snake);
        };
        add("weight_ih", [gateSize, layerIn]);
        add("weight_hh", [gateSize, real]);
        if (this.bias) { add("bias_ih", [gateSize]); add("bias_hh", [gateSize]); }
        if (this.projSize) add("weight_hr", [this.projSize, hiddenSize]);
      }
    }
  }

  get numDirections(): number {
    return this.bidirectional ? 2 : 1;
  }

  /** PyTorch compacts cuDNN weights here; Strata's weights need nothing, so this does nothing. */
  flattenParameters(): void {}

  /** A weight by its state-dict name (`"weight_ih_l0"`). */
  getWeight(name: string): Parameter {
    const p = (this as unknown as Record<string, Parameter | undefined>)[camel(name)];
    if (!p) throw new ValueError(`${this.constructor.name}: no weight named '${name}'`);
    return p;
  }

  /** The weights per layer and direction, as PyTorch's `all_weights`. */
  get allWeights(): Parameter[][] {
    const per = this._flatWeightsNames.length / (this.numLayers * this.numDirections);
    const out: Parameter[][] = [];
    for (let i = 0; i < this._flatWeightsNames.length; i += per) out.push(this._flatWeightsNames.slice(i, i + per).map((n) => this.getWeight(n)));
    return out;
  }

  private weights(layer: number, d: number): Weights {
    const sfx = `_l${layer}${d ? "_reverse" : ""}`;
    const get = (n: string) => this.getWeight(n + sfx);
    return {
      wIh: get("weight_ih"), wHh: get("weight_hh"),
      bIh: this.bias ? get("bias_ih") : null, bHh: this.bias ? get("bias_hh") : null,
      wHr: this.projSize ? get("weight_hr") : null,
    };
  }

  /**
   * Runs the layers over a sequence. `input` is `[T, B, inputSize]` (`[B, T, ...]` with
   * batchFirst), `[T, inputSize]` unbatched, or a PackedSequence. Returns the output of the last
   * layer (packed if the input was) and the final states `[numLayers * dirs, B, H]`.
   * @internal
   */
  protected run(input: Tensor | PackedSequence, hx: Tensor | null, cx: Tensor | null): [Tensor | PackedSequence, Tensor, Tensor | null] {
    const name = this.constructor.name;
    const isLstm = this.mode === "LSTM";
    let x: Tensor, lengths: number[] | null = null, batched = true;
    if (input instanceof PackedSequence) {
      [x] = padPackedSequence(input); // [T, B, I] in the original batch order
      lengths = input._lengths;
    } else {
      if (input.ndim !== 2 && input.ndim !== 3) throw new ShapeError(`${name}: Expected input to be 2D or 3D, got ${input.ndim}D instead`);
      batched = input.ndim === 3;
      x = !batched ? input.unsqueeze(1) : this.batchFirst ? input.transpose(0, 1) : input;
    }
    if (x.shape[2] !== this.inputSize) throw new ShapeError(`${name}: input.size(-1) must be equal to inputSize. Expected ${this.inputSize}, got ${x.shape[2]}`);
    const T = x.shape[0]!, B = x.shape[1]!, dirs = this.numDirections;
    const hOut = this.projSize || this.hiddenSize;
    const states = (s: Tensor | null, size: number, what: string): Tensor => {
      const want = [this.numLayers * dirs, B, size];
      if (!s) return zeros(want, { dtype: x.dtype, device: x.device });
      const s3 = batched ? s : s.ndim === 2 ? s.unsqueeze(1) : s;
      if (!batched && s.ndim !== 2) throw new ShapeError(`${name}: for unbatched 2-D input, ${what} should also be 2-D but got ${s.ndim}-D tensor`);
      if (batched && s.ndim !== 3) throw new ShapeError(`${name}: for batched 3-D input, ${what} should also be 3-D but got ${s.ndim}-D tensor`);
      if (s3.shape.some((v, i) => v !== want[i])) throw new ShapeError(`${name}: Expected ${what} size ${fmtShape(want)}, got ${fmtShape(s3.shape)}`);
      return s3;
    };
    const h0 = states(hx, hOut, "hidden"), c0 = isLstm ? states(cx, this.hiddenSize, "cell") : null;
    // masks[t]: [B, 1] bool, which sequences are still running at step t
    const masks = lengths ? [...Array(T).keys()].map((t) => tensor(lengths!.map((l) => [t < l]), { device: x.device })) : null;
    const hN: Tensor[] = [], cN: Tensor[] = [];
    let layerIn = x;
    for (let layer = 0; layer < this.numLayers; layer++) {
      const outs: Tensor[] = [];
      for (let d = 0; d < dirs; d++) {
        const w = this.weights(layer, d), idx = layer * dirs + d;
        const gi = linear(layerIn, w.wIh, w.bIh).unbind(0); // T x [B, G]
        let h = h0.index(idx), c = c0 ? c0.index(idx) : null;
        const out = new Array<Tensor>(T);
        for (let s = 0; s < T; s++) {
          const t = d ? T - 1 - s : s;
          let h1: Tensor, c1: Tensor | null = null;
          if (isLstm) [h1, c1] = lstmStep(gi[t]!, h, c!, w.wHh, w.bHh, w.wHr);
          else if (this.mode === "GRU") h1 = gruStep(gi[t]!, h, w.wHh, w.bHh);
          else {
            const pre = linear(h, w.wHh, w.bHh).add(gi[t]!);
            h1 = this.mode === "RNN_TANH" ? pre.tanh() : pre.relu();
          }
          if (masks) {
            out[t] = where(masks[t]!, h1, 0);
            h = where(masks[t]!, h1, h);
            if (c1) c = where(masks[t]!, c1, c!);
          } else {
            out[t] = h1;
            h = h1;
            c = c1;
          }
        }
        outs.push(stack(out, 0));
        hN.push(h);
        if (c) cN.push(c);
      }
      layerIn = dirs === 1 ? outs[0]! : cat(outs, 2);
      if (this.dropout && this.training && layer < this.numLayers - 1) layerIn = dropout(layerIn, this.dropout, true);
    }
    let hOutT = stack(hN, 0), cOutT = isLstm ? stack(cN, 0) : null;
    if (input instanceof PackedSequence) {
      return [packLike(layerIn, input), hOutT, cOutT];
    }
    let out = layerIn;
    if (!batched) {
      out = out.squeeze(1);
      hOutT = hOutT.squeeze(1);
      cOutT = cOutT ? cOutT.squeeze(1) : null;
    } else if (this.batchFirst) out = out.transpose(0, 1);
    return [out, hOutT, cOutT];
  }

  override extraRepr(): string {
    let s = `${this.inputSize}, ${this.hiddenSize}`;
    if (this.projSize) s += `, proj_size=${this.projSize}`;
    if (this.numLayers !== 1) s += `, num_layers=${this.numLayers}`;
    if (!this.bias) s += ", bias=False";
    if (this.batchFirst) s += ", batch_first=True";
    if (this.dropout) s += `, dropout=${this.dropout}`;
    if (this.bidirectional) s += ", bidirectional=True";
    return s;
  }
}

/** `weight_ih_l0_reverse` -> `weightIhL0Reverse` (the field whose snake_case is the name). */
const camel = (snake: string): string => snake.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** Extra arguments: the third may be numLayers (PyTorch's positional order) or the options. */
const resolveOpts = <O extends RNNOptions>(a?: number | O, b?: O): O => (typeof a === "number" ? ({ ...b, numLayers: a } as O) : (a ?? ({} as O)));

/**
 * An Elman RNN: h_t = tanh(x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh) (or relu), as `torch.nn.RNN`.
 *
 * Shape: input `[T, B, inputSize]` (`[B, T, inputSize]` with batchFirst, `[T, inputSize]` unbatched,
 * or a PackedSequence); h0 `[numLayers * dirs, B, hiddenSize]`; output `[T, B, dirs * hiddenSize]`.
 *
 * @example
 * const rnn = new st.nn.RNN(10, 20, { numLayers: 2 });
 * const [out, hN] = rnn.forward(st.randn([5, 3, 10]));   // [5, 3, 20], [2, 3, 20]
 */
export class RNN extends RNNBase {
  readonly nonlinearity: "tanh" | "relu";
  constructor(inputSize: number, hiddenSize: number, numLayersOrOpts?: number | (RNNOptions & { nonlinearity?: "tanh" | "relu" }), opts?: RNNOptions & { nonlinearity?: "tanh" | "relu" }) {
    const o = resolveOpts(numLayersOrOpts, opts);
    const nl = o.nonlinearity ?? "tanh";
    if (nl !== "tanh" && nl !== "relu") throw new ValueError(`RNN: unknown nonlinearity '${nl as string}'. Select from 'tanh' or 'relu'.`);
    super(nl === "tanh" ? "RNN_TANH" : "RNN_RELU", inputSize, hiddenSize, o);
    this.nonlinearity = nl;
  }
  forward(input: Tensor, hx?: Tensor | null): [Tensor, Tensor];
  forward(input: PackedSequence, hx?: Tensor | null): [PackedSequence, Tensor];
  forward(input: Tensor | PackedSequence, hx: Tensor | null = null): [Tensor | PackedSequence, Tensor] {
    const [out, h] = this.run(input, hx, null);
    return [out, h];
  }
}

/**
 * Long short-term memory, as `torch.nn.LSTM` (gates i, f, g, o; optional projection of h to
 * `projSize`). Returns `[output, [hN, cN]]`.
 *
 * @example
 * const lstm = new st.nn.LSTM(10, 20, { numLayers: 2, batchFirst: true });
 * const [out, [hN, cN]] = lstm.forward(st.randn([3, 5, 10])); // [3, 5, 20], [2, 3, 20], [2, 3, 20]
 */
export class LSTM extends RNNBase {
  constructor(inputSize: number, hiddenSize: number, numLayersOrOpts?: number | (RNNOptions & { projSize?: number }), opts?: RNNOptions & { projSize?: number }) {
    super("LSTM", inputSize, hiddenSize, resolveOpts(numLayersOrOpts, opts));
  }
  forward(input: Tensor, hx?: [Tensor, Tensor] | null): [Tensor, [Tensor, Tensor]];
  forward(input: PackedSequence, hx?: [Tensor, Tensor] | null): [PackedSequence, [Tensor, Tensor]];
  forward(input: Tensor | PackedSequence, hx: [Tensor, Tensor] | null = null): [Tensor | PackedSequence, [Tensor, Tensor]] {
    const [out, h, c] = this.run(input, hx?.[0] ?? null, hx?.[1] ?? null);
    return [out, [h, c!]];
  }
}

/**
 * Gated recurrent unit, as `torch.nn.GRU`: r, z gates and n = tanh(W_in x + b_in + r (W_hn h + b_hn)),
 * h' = (1 - z) n + z h.
 *
 * @example
 * const gru = new st.nn.GRU(10, 20, { bidirectional: true });
 * const [out, hN] = gru.forward(st.randn([5, 3, 10]));   // [5, 3, 40], [2, 3, 20]
 */
export class GRU extends RNNBase {
  constructor(inputSize: number, hiddenSize: number, numLayersOrOpts?: number | RNNOptions, opts?: RNNOptions) {
    super("GRU", inputSize, hiddenSize, resolveOpts(numLayersOrOpts, opts));
  }
  forward(input: Tensor, hx?: Tensor | null): [Tensor, Tensor];
  forward(input: PackedSequence, hx?: Tensor | null): [PackedSequence, Tensor];
  forward(input: Tensor | PackedSequence, hx: Tensor | null = null): [Tensor | PackedSequence, Tensor] {
    const [out, h] = this.run(input, hx, null);
    return [out, h];
  }
}

// ---- cells as modules ----

abstract class RNNCellBase extends Module {
  weightIh: Parameter;
  weightHh: Parameter;
  biasIh: Parameter | null;
  biasHh: Parameter | null;
  constructor(readonly inputSize: number, readonly hiddenSize: number, bias: boolean, gates: number) {
    super();
    const k = 1 / Math.sqrt(hiddenSize);
    this.weightIh = uniformParameter([gates * hiddenSize, inputSize], k);
    this.weightHh = uniformParameter([gates * hiddenSize, hiddenSize], k);
    this.biasIh = bias ? uniformParameter([gates * hiddenSize], k) : null;
    this.biasHh = bias ? uniformParameter([gates * hiddenSize], k) : null;
  }
  /** @internal Checks the input (`[B, inputSize]` or `[inputSize]`), returns it batched. */
  protected batched(x: Tensor): Tensor {
    const name = this.constructor.name;
    if (x.ndim !== 1 && x.ndim !== 2) throw new ShapeError(`${name}: Expected input to be 1D or 2D, got ${x.ndim}D instead`);
    if (x.shape[x.ndim - 1] !== this.inputSize) throw new ShapeError(`${name}: input has inconsistent input_size: got ${x.shape[x.ndim - 1]} expected ${this.inputSize}`);
    return x.ndim === 1 ? x.unsqueeze(0) : x;
  }
  protected state(h: Tensor | null | undefined, x: Tensor, unbatched: boolean): Tensor {
    if (!h) return zeros([x.shape[0]!, this.hiddenSize], { dtype: x.dtype, device: x.device });
    const h2 = unbatched ? h.unsqueeze(0) : h;
    if (h2.ndim !== 2 || h2.shape[0] !== x.shape[0] || h2.shape[1] !== this.hiddenSize) {
      throw new ShapeError(`${this.constructor.name}: expected hidden state of shape ${fmtShape(unbatched ? [this.hiddenSize] : [x.shape[0]!, this.hiddenSize])}, got ${fmtShape(h.shape)}`);
    }
    return h2;
  }
  override extraRepr(): string {
    const nl = (this as { nonlinearity?: string }).nonlinearity;
    return `${this.inputSize}, ${this.hiddenSize}${this.biasIh ? "" : ", bias=False"}${nl && nl !== "tanh" ? `, nonlinearity=${nl}` : ""}`;
  }
}

/** One step of an Elman RNN, as `torch.nn.RNNCell`. */
export class RNNCell extends RNNCellBase {
  readonly nonlinearity: "tanh" | "relu";
  constructor(inputSize: number, hiddenSize: number, opts: { bias?: boolean; nonlinearity?: "tanh" | "relu" } = {}) {
    super(inputSize, hiddenSize, opts.bias ?? true, 1);
    this.nonlinearity = opts.nonlinearity ?? "tanh";
    if (this.nonlinearity !== "tanh" && this.nonlinearity !== "relu") throw new ValueError(`RNNCell: unknown nonlinearity '${this.nonlinearity as string}'`);
  }
  forward(input: Tensor, hx?: Tensor | null): Tensor {
    const x = this.batched(input), h = this.state(hx, x, input.ndim === 1);
    const cell = this.nonlinearity === "tanh" ? rnnTanhCell : rnnReluCell;
    const y = cell(x, h, this.weightIh, this.weightHh, this.biasIh, this.biasHh);
    return input.ndim === 1 ? y.squeeze(0) : y;
  }
}

/** One LSTM step, as `torch.nn.LSTMCell`: returns [h', c']. */
export class LSTMCell extends RNNCellBase {
  constructor(inputSize: number, hiddenSize: number, opts: { bias?: boolean } = {}) {
    super(inputSize, hiddenSize, opts.bias ?? true, 4);
  }
  forward(input: Tensor, hx?: [Tensor, Tensor] | null): [Tensor, Tensor] {
    const x = this.batched(input), un = input.ndim === 1;
    const h = this.state(hx?.[0], x, un), c = this.state(hx?.[1], x, un);
    const [h1, c1] = lstmCell(x, [h, c], this.weightIh, this.weightHh, this.biasIh, this.biasHh);
    return un ? [h1.squeeze(0), c1.squeeze(0)] : [h1, c1];
  }
}

/** One GRU step, as `torch.nn.GRUCell`. */
export class GRUCell extends RNNCellBase {
  constructor(inputSize: number, hiddenSize: number, opts: { bias?: boolean } = {}) {
    super(inputSize, hiddenSize, opts.bias ?? true, 3);
  }
  forward(input: Tensor, hx?: Tensor | null): Tensor {
    const x = this.batched(input), h = this.state(hx, x, input.ndim === 1);
    const y = gruCell(x, h, this.weightIh, this.weightHh, this.biasIh, this.biasHh);
    return input.ndim === 1 ? y.squeeze(0) : y;
  }
}
