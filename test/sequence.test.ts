/**
 * Recurrent, attention and transformer layers against PyTorch (test/fixtures/sequence.json, from
 * scripts/sequence_reference.py): torch's state dict is loaded by its keys, and the outputs, final
 * states, attention weights and the gradients of sum_k sum(out_k * cot_k) with respect to the
 * inputs and every parameter are compared, in float64 (tight) and float32 (loose).
 * Then: packing utilities, masks, errors, init statistics, and a small LSTM that learns to add.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import * as st from "../src/index.ts";
import type { DType, Tensor } from "../src/index.ts";

const F = st.nn.functional;

interface Arr { shape: number[]; dtype: "float" | "bool" | "int64"; b64?: string; v?: (number | boolean)[] }
interface Case {
  name: string;
  kind: "LSTM" | "GRU" | "RNN" | "MHA" | "SDPA" | "EncoderLayer" | "DecoderLayer" | "Transformer";
  ctor: { args?: number[]; opts?: Record<string, unknown> };
  call: Record<string, unknown>;
  state: Record<string, Arr>;
  inputs: Record<string, Arr>;
  outputs: Record<string, Arr>;
  grads: Record<string, string | null>;
}
const FIXTURE = JSON.parse(readFileSync(new URL("./fixtures/sequence.json", import.meta.url), "utf8")) as { torch: string; cases: Case[] };

const b64 = (s: string): number[] => {
  const buf = Buffer.from(s, "base64");
  return Array.from(new Float64Array(buf.buffer, buf.byteOffset, buf.length / 8));
};
/** Host values of a float tensor. */
const vals = (t: Tensor): number[] => Array.from(t.dataSync() as Float32Array | Float64Array);
const values = (a: Arr): number[] => (a.b64 !== undefined ? b64(a.b64) : a.v!.map(Number));

function toTensor(a: Arr, dtype: DType): Tensor {
  const v = values(a);
  if (a.dtype === "bool") return st.tensor(Uint8Array.from(v), { dtype: "bool" }).reshape(a.shape);
  if (a.dtype === "int64") return st.tensor(v, { dtype: "int64" }).reshape(a.shape);
  return st.tensor(Float64Array.from(v), { dtype }).reshape(a.shape);
}

/** The cotangent of output k (the same formula as the Python side). */
const cotangent = (n: number, k: number): number[] => Array.from({ length: n }, (_, i) => (((7 * i + 3 * k) % 11) - 5) / 4);

const TOL = { float64: { atol: 1e-12, rtol: 1e-10 }, float32: { atol: 1e-5, rtol: 1e-4 } } as const;

function assertClose(actual: ArrayLike<number>, expected: readonly number[], tol: { atol: number; rtol: number }, what: string): void {
  expect(actual.length, `${what}: number of elements`).toBe(expected.length);
  let worst = 0, bad = 0, first = "";
  for (let i = 0; i < expected.length; i++) {
    const a = Number(actual[i]), e = expected[i]!;
    const err = Math.abs(a - e);
    if (!(err <= tol.atol + tol.rtol * Math.abs(e))) {
      if (!bad) first = `[${i}] got ${a}, torch ${e}`;
      bad++;
      worst = Math.max(worst, Number.isNaN(err) ? Infinity : err);
    }
  }
  if (bad) throw new Error(`${what}: ${bad} of ${expected.length} elements differ from torch (worst abs error ${worst.toExponential(2)}), first ${first}`);
}

type Built = { module: st.nn.Module | null; run: (x: Record<string, Tensor>, lengths: number[] | null) => Record<string, Tensor> };

function build(c: Case): Built {
  const args = c.ctor.args ?? [], opts = c.ctor.opts ?? {};
  switch (c.kind) {
    case "LSTM": case "GRU": case "RNN": {
      const m = c.kind === "LSTM" ? new st.nn.LSTM(args[0]!, args[1]!, opts) : c.kind === "GRU" ? new st.nn.GRU(args[0]!, args[1]!, opts) : new st.nn.RNN(args[0]!, args[1]!, opts);
      return {
        module: m,
        run: (x, lengths) => {
          const input = lengths ? st.nn.packPaddedSequence(x.x!, lengths, { batchFirst: m.batchFirst, enforceSorted: false }) : x.x!;
          const res: Record<string, Tensor> = {};
          let out: Tensor | st.nn.PackedSequence, h: Tensor | [Tensor, Tensor];
          if (m instanceof st.nn.LSTM) [out, h] = m.forward(input as Tensor, x.h0 ? [x.h0, x.c0!] : null);
          else [out, h] = (m as st.nn.GRU).forward(input as Tensor, x.h0 ?? null);
          if (out instanceof st.nn.PackedSequence) {
            res.packed_data = out.data;
            [out] = st.nn.padPackedSequence(out, { batchFirst: m.batchFirst });
          }
          res.out = out as Tensor;
          if (Array.isArray(h)) [res.hN, res.cN] = h;
          else res.hN = h;
          return res;
        },
      };
    }
    case "MHA": {
      const m = new st.nn.MultiheadAttention(args[0]!, args[1]!, opts);
      return {
        module: m,
        run: (x) => {
          const q = x.query ?? x.x!, k = x.key ?? x.x!, v = c.call.valueIsKey ? k : x.value ?? x.x!;
          const [out, w] = m.forward(q, k, v, { keyPaddingMask: x.keyPaddingMask, attnMask: x.attnMask, averageAttnWeights: c.call.averageAttnWeights as boolean | undefined });
          return { out, weights: w! };
        },
      };
    }
    case "SDPA":
      return { module: null, run: (x) => ({ out: F.scaledDotProductAttention(x.q!, x.k!, x.v!, { attnMask: x.attnMask, ...c.call }) }) };
    case "EncoderLayer": {
      const m = new st.nn.TransformerEncoderLayer(args[0]!, args[1]!, opts);
      return { module: m, run: (x) => ({ out: m.forward(x.src!, x.srcMask ?? null, { srcKeyPaddingMask: x.srcKeyPaddingMask }) }) };
    }
    case "DecoderLayer": {
      const m = new st.nn.TransformerDecoderLayer(args[0]!, args[1]!, opts);
      return {
        module: m,
        run: (x) => ({ out: m.forward(x.tgt!, x.memory!, { tgtMask: x.tgtMask, memoryMask: x.memoryMask, tgtKeyPaddingMask: x.tgtKeyPaddingMask, memoryKeyPaddingMask: x.memoryKeyPaddingMask }) }),
      };
    }
    case "Transformer": {
      const m = new st.nn.Transformer(opts);
      return {
        module: m,
        run: (x) => ({ out: m.forward(x.src!, x.tgt!, { tgtMask: x.tgtMask, srcKeyPaddingMask: x.srcKeyPaddingMask, memoryKeyPaddingMask: x.srcKeyPaddingMask }) }),
      };
    }
  }
}

describe("sequence layers against PyTorch", () => {
  it("fixture is present", () => {
    expect(FIXTURE.cases.length).toBeGreaterThanOrEqual(20);
  });
  for (const c of FIXTURE.cases) {
    for (const dtype of ["float64", "float32"] as const) {
      it(`${c.name} (${dtype})`, () => {
        const { module, run } = build(c);
        if (module) {
          expect(Object.keys(module.stateDict()), "state-dict keys, in torch's order").toEqual(Object.keys(c.state));
          if (dtype === "float64") module.double();
          module.loadStateDict(Object.fromEntries(Object.entries(c.state).map(([k, a]) => [k, toTensor(a, dtype)])));
        }
        const inputs: Record<string, Tensor> = {};
        let lengths: number[] | null = null;
        for (const [k, a] of Object.entries(c.inputs)) {
          if (k === "lengths") { lengths = values(a); continue; }
          inputs[k] = toTensor(a, dtype);
          if (a.dtype === "float" && c.grads[`input:${k}`] !== undefined) inputs[k].requiresGrad_(true);
        }
        const outs = run(inputs, lengths);
        expect(Object.keys(outs)).toEqual(Object.keys(c.outputs));
        let loss: Tensor | null = null;
        Object.entries(c.outputs).forEach(([k, a], i) => {
          const o = outs[k]!;
          expect(o.shape, `${k} shape`).toEqual(a.shape);
          expect(o.dtype).toBe(dtype);
          const term = o.mul(st.tensor(cotangent(o.numel(), i), { dtype }).reshape(o.shape)).sum();
          loss = loss ? loss.add(term) : term;
        });
        loss!.backward();
        const tol = TOL[dtype];
        for (const [k, a] of Object.entries(c.outputs)) assertClose(outs[k]!.dataSync() as Float64Array, values(a), tol, `${c.name}: ${k}`);
        const params = new Map(module ? module.namedParameters() : []);
        for (const [k, g] of Object.entries(c.grads)) {
          if (g === null) continue;
          const [kind, name] = k.split(/:(.*)/) as [string, string];
          const t = kind === "input" ? inputs[name]! : params.get(name)!;
          expect(t, k).toBeDefined();
          expect(t.grad, `gradient of ${k}`).not.toBeNull();
          assertClose(t.grad!.dataSync() as Float64Array, b64(g), tol, `${c.name}: grad of ${k}`);
        }
      });
    }
  }
});

describe("packing", () => {
  const x = st.arange(0, 4 * 3 * 2).reshape([4, 3, 2]); // [T=4, B=3, 2]
  it("packs in torch's layout and unpacks with zero padding", () => {
    const p = st.nn.packPaddedSequence(x, [2, 4, 1], { enforceSorted: false });
    expect(p.batchSizes.tolistSync()).toEqual([3, 2, 1, 1]);
    expect(p.sortedIndices!.tolistSync()).toEqual([1, 0, 2]);
    expect(p.unsortedIndices!.tolistSync()).toEqual([1, 0, 2]);
    // step 0: b=1, 0, 2; step 1: b=1, 0; step 2: b=1; step 3: b=1. Row (t, b) of x holds 6t + 2b, 6t + 2b + 1
    expect(p.data.tolistSync()).toEqual([[2, 3], [0, 1], [4, 5], [8, 9], [6, 7], [14, 15], [20, 21]]);
    expect(p.lengths()).toEqual([2, 4, 1]);
    const [pad, lens] = st.nn.padPackedSequence(p, { batchFirst: true, totalLength: 5 });
    expect(lens.tolistSync()).toEqual([2, 4, 1]);
    expect(pad.shape).toEqual([3, 5, 2]);
    expect(pad.tolistSync()).toEqual([
      [[0, 1], [6, 7], [0, 0], [0, 0], [0, 0]],
      [[2, 3], [8, 9], [14, 15], [20, 21], [0, 0]],
      [[4, 5], [0, 0], [0, 0], [0, 0], [0, 0]],
    ]);
  });
  it("packSequence / padSequence", () => {
    const a = st.tensor([[1], [2], [3]]), b = st.tensor([[4]]), c = st.tensor([[5], [6]]);
    expect(st.nn.padSequence([a, b, c], { batchFirst: true, paddingValue: -1 }).tolistSync()).toEqual([[[1], [2], [3]], [[4], [-1], [-1]], [[5], [6], [-1]]]);
    const p = st.nn.packSequence([a, c, b]);
    expect(p.data.tolistSync()).toEqual([[1], [5], [4], [2], [6], [3]]);
    expect(p.batchSizes.tolistSync()).toEqual([3, 2, 1]);
    expect(() => st.nn.packSequence([a, b, c])).toThrow(/sorted in decreasing order/);
    expect(() => st.nn.packPaddedSequence(x, [2, 0, 1], { enforceSorted: false })).toThrow(/greater than 0/);
    expect(() => st.nn.packPaddedSequence(x, [5, 2, 1])).toThrow(/longer than/);
  });
  it("outputs past each sequence's end are zero, and the states are those at its last step", () => {
    st.manualSeed(3);
    const gru = new st.nn.GRU(2, 3, { batchFirst: true });
    const xs = st.randn([2, 4, 2]);
    const [out, h] = gru.forward(st.nn.packPaddedSequence(xs, [4, 2], { batchFirst: true }));
    const [pad] = st.nn.padPackedSequence(out, { batchFirst: true });
    const [short, hShort] = gru.forward(xs.narrow(0, 1, 1).narrow(1, 0, 2)); // the second sequence alone, unpadded
    const p = pad.tolistSync() as number[][][];
    expect(p[1]![2]).toEqual([0, 0, 0]);
    expect(p[1]![3]).toEqual([0, 0, 0]);
    assertClose(pad.narrow(0, 1, 1).narrow(1, 0, 2).dataSync() as Float32Array, Array.from(short.dataSync() as Float32Array), { atol: 1e-6, rtol: 0 }, "short sequence");
    assertClose(h.index(0, 1).dataSync() as Float32Array, Array.from(hShort.dataSync() as Float32Array), { atol: 1e-6, rtol: 0 }, "final state");
  });
});

describe("recurrent layers", () => {
  it("init, shapes and errors as PyTorch", () => {
    st.manualSeed(0);
    const lstm = new st.nn.LSTM(5, 16, 2, { bidirectional: true });
    const k = 1 / 4;
    for (const p of lstm.parameters()) {
      const v = Array.from(p.dataSync() as Float32Array);
      expect(Math.max(...v)).toBeLessThanOrEqual(k);
      expect(Math.min(...v)).toBeGreaterThanOrEqual(-k);
    }
    const w = Array.from(lstm.getWeight("weight_hh_l1_reverse").dataSync() as Float32Array);
    const mean = w.reduce((a, b) => a + b, 0) / w.length, v = w.reduce((a, b) => a + (b - mean) ** 2, 0) / w.length;
    expect(Math.abs(mean)).toBeLessThan(0.02);
    expect(v).toBeCloseTo(k * k / 3, 2); // U(-k, k)
    expect(lstm.allWeights.length).toBe(4);
    expect(lstm.parameters().length).toBe(16);
    const [out, [h, c]] = lstm.forward(st.randn([7, 3, 5]));
    expect([out.shape, h.shape, c.shape]).toEqual([[7, 3, 32], [4, 3, 16], [4, 3, 16]]);
    expect(() => lstm.forward(st.randn([7, 3, 4]))).toThrow(/Expected 5, got 4/);
    expect(() => lstm.forward(st.randn([7, 3, 5]), [st.zeros([2, 3, 16]), st.zeros([4, 3, 16])])).toThrow(/Expected hidden size \[4, 3, 16\], got \[2, 3, 16\]/);
    expect(() => new st.nn.GRU(3, 4, { projSize: 2 } as never)).toThrow(/only supported for LSTM/);
    expect(lstm.toString()).toBe("LSTM(5, 16, num_layers=2, bidirectional=True)"); // PyTorch's repr
  });
  it("cells equal one step of the layer", () => {
    st.manualSeed(1);
    const gru = new st.nn.GRU(3, 4), cell = new st.nn.GRUCell(3, 4);
    cell.loadStateDict({ weight_ih: gru.getWeight("weight_ih_l0"), weight_hh: gru.getWeight("weight_hh_l0"), bias_ih: gru.getWeight("bias_ih_l0"), bias_hh: gru.getWeight("bias_hh_l0") });
    const x = st.randn([1, 2, 3]), h0 = st.randn([1, 2, 4]);
    const [, h] = gru.forward(x, h0);
    assertClose(cell.forward(x.index(0), h0.index(0)).dataSync() as Float32Array, Array.from(h.dataSync() as Float32Array), { atol: 1e-6, rtol: 0 }, "GRUCell");
    const lstm = new st.nn.LSTMCell(3, 4), rnn = new st.nn.RNNCell(3, 4, { nonlinearity: "relu" });
    expect(Object.keys(lstm.stateDict())).toEqual(["weight_ih", "weight_hh", "bias_ih", "bias_hh"]);
    const [h1, c1] = lstm.forward(st.randn([3]));
    expect([h1.shape, c1.shape, rnn.forward(st.randn([2, 3])).shape]).toEqual([[4], [4], [2, 4]]);
  });
  it("dropout between layers only in training", () => {
    st.manualSeed(2);
    const m = new st.nn.LSTM(3, 8, { numLayers: 2, dropout: 0.5 });
    const x = st.randn([4, 2, 3]);
    const a = m.forward(x)[0].dataSync() as Float32Array, b = m.forward(x)[0].dataSync() as Float32Array;
    expect(Array.from(a)).not.toEqual(Array.from(b));
    m.eval();
    expect(Array.from(m.forward(x)[0].dataSync() as Float32Array)).toEqual(Array.from(m.forward(x)[0].dataSync() as Float32Array));
  });
});

describe("attention", () => {
  it("MultiheadAttention init and keys as PyTorch", () => {
    st.manualSeed(0);
    const mha = new st.nn.MultiheadAttention(16, 4, { kdim: 8, vdim: 12, addBiasKv: true });
    expect(Object.keys(mha.stateDict())).toEqual(["q_proj_weight", "k_proj_weight", "v_proj_weight", "in_proj_bias", "bias_k", "bias_v", "out_proj.weight", "out_proj.bias"]);
    expect(vals(mha.inProjBias!).every((v) => v === 0)).toBe(true);
    expect(vals(mha.outProj.bias!).every((v) => v === 0)).toBe(true);
    const bound = Math.sqrt(6 / (16 + 8));
    const kw = Array.from(mha.kProjWeight!.dataSync() as Float32Array);
    expect(Math.max(...kw.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...kw.map(Math.abs))).toBeGreaterThan(bound * 0.8);
    const same = new st.nn.MultiheadAttention(8, 2);
    expect(Object.keys(same.stateDict())).toEqual(["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"]);
    expect(() => new st.nn.MultiheadAttention(10, 3)).toThrow(/divisible/);
  });
  it("isCausal equals an explicit causal mask; needWeights false gives null", () => {
    st.manualSeed(4);
    const mha = new st.nn.MultiheadAttention(8, 2, { batchFirst: true });
    const x = st.randn([2, 5, 8]);
    const [a, wa] = mha.forward(x, x, x, { isCausal: true, needWeights: false });
    const [b, wb] = mha.forward(x, x, x, { attnMask: st.nn.Transformer.generateSquareSubsequentMask(5) });
    expect(wa).toBeNull();
    assertClose(a.dataSync() as Float32Array, Array.from(b.dataSync() as Float32Array), { atol: 1e-6, rtol: 0 }, "causal");
    const w = wb!.tolistSync() as number[][][];
    expect(w[0]![0]!.slice(1)).toEqual([0, 0, 0, 0]); // the first query sees only the first key
    expect(w[1]![2]!.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 6);
    // the last query's output does not depend on the future, so changing x[:, 4] leaves positions 0..3 alone
    const x2 = st.cat([x.narrow(1, 0, 4), st.randn([2, 1, 8])], 1);
    const [c] = mha.forward(x2, x2, x2, { isCausal: true });
    assertClose(c.narrow(1, 0, 4).dataSync() as Float32Array, Array.from(a.narrow(1, 0, 4).dataSync() as Float32Array), { atol: 1e-6, rtol: 0 }, "no future leak");
  });
  it("scaledDotProductAttention: fully masked rows give zeros, not NaN; errors", () => {
    const q = st.randn([1, 2, 3], { requiresGrad: true }), k = st.randn([1, 2, 3]), v = st.randn([1, 2, 3]);
    const mask = st.tensor([[false, false], [true, false]]);
    const out = F.scaledDotProductAttention(q, k, v, { attnMask: mask });
    out.sum().backward();
    expect((out.tolistSync() as number[][][])[0]![0]).toEqual([0, 0, 0]);
    expect(vals(q.grad!).every(Number.isFinite)).toBe(true);
    expect(() => F.scaledDotProductAttention(q, k, v, { attnMask: mask, isCausal: true })).toThrow(/isCausal/);
    expect(() => F.scaledDotProductAttention(q, st.randn([1, 2, 4]), v)).toThrow(/expected query/);
  });
});

describe("transformer", () => {
  it("keys as PyTorch, stacked layers are independent copies, Xavier init", () => {
    st.manualSeed(0);
    const layer = new st.nn.TransformerEncoderLayer(8, 2, { dimFeedforward: 16 });
    const enc = new st.nn.TransformerEncoder(layer, 2, new st.nn.LayerNorm(8));
    const keys = Object.keys(enc.stateDict());
    expect(keys.slice(0, 12)).toEqual([
      "layers.0.self_attn.in_proj_weight", "layers.0.self_attn.in_proj_bias", "layers.0.self_attn.out_proj.weight", "layers.0.self_attn.out_proj.bias",
      "layers.0.linear1.weight", "layers.0.linear1.bias", "layers.0.linear2.weight", "layers.0.linear2.bias",
      "layers.0.norm1.weight", "layers.0.norm1.bias", "layers.0.norm2.weight", "layers.0.norm2.bias",
    ]);
    expect(keys.slice(-2)).toEqual(["norm.weight", "norm.bias"]);
    expect(keys.length).toBe(26);
    const l0 = enc.layers.at(0) as st.nn.TransformerEncoderLayer, l1 = enc.layers.at(1) as st.nn.TransformerEncoderLayer;
    expect(l0.linear1.weight).not.toBe(l1.linear1.weight);
    expect(vals(l0.linear1.weight)).toEqual(vals(l1.linear1.weight));
    const tf = new st.nn.Transformer({ dModel: 8, nhead: 2, numEncoderLayers: 1, numDecoderLayers: 1, dimFeedforward: 16 });
    const dk = Object.keys(tf.stateDict());
    expect(dk).toContain("decoder.layers.0.multihead_attn.in_proj_weight");
    expect(dk).toContain("decoder.layers.0.norm3.bias");
    expect(dk).toContain("encoder.norm.weight");
    const w = new Map(tf.namedParameters()).get("decoder.layers.0.linear2.weight")!;
    const bound = Math.sqrt(6 / (16 + 8));
    expect(Math.max(...Array.from(w.dataSync() as Float32Array).map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(st.nn.Transformer.generateSquareSubsequentMask(3).tolistSync()).toEqual([[0, -Infinity, -Infinity], [0, 0, -Infinity], [0, 0, 0]]);
    expect(() => tf.forward(st.randn([4, 2, 8]), st.randn([3, 3, 8]))).toThrow(/batch number/);
  });
  it("dropout is active in training and off in eval", () => {
    st.manualSeed(5);
    const layer = new st.nn.TransformerEncoderLayer(8, 2, { dimFeedforward: 16, dropout: 0.5, batchFirst: true });
    const x = st.randn([2, 3, 8]);
    expect(vals(layer.forward(x))).not.toEqual(vals(layer.forward(x)));
    layer.eval();
    expect(vals(layer.forward(x))).toEqual(vals(layer.forward(x)));
  });
});

describe("convergence", () => {
  it("an LSTM learns to add a short sequence of numbers (Adam, 120 steps)", () => {
    st.manualSeed(0);
    const lstm = new st.nn.LSTM(1, 16, { batchFirst: true });
    const head = new st.nn.Linear(16, 1);
    const opt = new st.optim.Adam([...lstm.parameters(), ...head.parameters()], { lr: 0.02 });
    const losses: number[] = [];
    for (let step = 0; step < 120; step++) {
      const x = st.rand([32, 5, 1]).mul(2).sub(1); // 5 numbers in U(-1, 1)
      const y = x.sum(1); // [32, 1]
      const [out] = lstm.forward(x); // [32, 5, 16]
      const loss = F.mseLoss(head.forward(out.index(":", -1)), y);
      opt.zeroGrad();
      loss.backward();
      opt.step();
      losses.push(loss.itemSync() as number);
    }
    const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
    expect(losses[0]).toBeGreaterThan(0.5); // the variance of the target is 5/3
    expect(mean(losses.slice(-10))).toBeLessThan(0.03);
  });
});
