/**
 * The layers of st.nn against PyTorch (test/fixtures/layers.json, made by
 * scripts/layers_reference.py): state-dict keys, outputs, gradients of sum(out * cot) with respect
 * to inputs and parameters, running statistics, and repr, in float64 (tight) and float32 (loose).
 * Then default initialisation statistics, st.nn.init, state-dict round trips, train/eval, freezing,
 * summary() and the shape errors each layer raises at the call.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import * as st from "../src/index.ts";
import type { DType, Tensor } from "../src/index.ts";

const nn = st.nn;

interface Enc { shape: number[]; dtype: "float64" | "int64" | "int32"; data: number[] }
interface Case {
  name: string;
  repr: string | null;
  mode: "train" | "eval";
  state: Record<string, Enc>;
  pre: Enc[][];
  inputs: Enc[];
  cot: Enc;
  out: Enc;
  grads: Record<string, Enc>;
  buffers_after: Record<string, Enc>;
}
const FIXTURE = JSON.parse(readFileSync(new URL("./fixtures/layers.json", import.meta.url), "utf8")) as { torch: string; cases: Case[] };

type Fwd = (m: st.nn.Module, xs: Tensor[]) => Tensor;
const call1: Fwd = (m, xs) => (m as unknown as { forward(x: Tensor): Tensor }).forward(xs[0]!);

/** The same layers as scripts/layers_reference.py builds, by case name. */
const LAYERS: Record<string, { make: () => st.nn.Module; call?: Fwd }> = {
  linear: { make: () => new nn.Linear(4, 3) },
  linear_nobias_3d: { make: () => new nn.Linear(5, 2, { bias: false }) },
  bilinear: { make: () => new nn.Bilinear(3, 4, 2), call: (m, xs) => (m as st.nn.Bilinear).forward(xs[0]!, xs[1]!) },
  conv1d: { make: () => new nn.Conv1d(2, 4, 3, { stride: 2, padding: 1 }) },
  conv1d_groups_dilation: { make: () => new nn.Conv1d(4, 4, 3, { groups: 2, dilation: 2, bias: false }) },
  conv2d: { make: () => new nn.Conv2d(2, 3, 3, { padding: 1 }) },
  conv2d_stride_groups: { make: () => new nn.Conv2d(4, 6, [3, 2], { stride: [2, 1], padding: [1, 0], dilation: [1, 2], groups: 2 }) },
  conv2d_reflect: { make: () => new nn.Conv2d(2, 2, 3, { padding: 1, paddingMode: "reflect" }) },
  conv2d_circular: { make: () => new nn.Conv2d(1, 2, 3, { padding: [1, 2], paddingMode: "circular" }) },
  conv2d_same_replicate: { make: () => new nn.Conv2d(1, 2, 4, { padding: "same", paddingMode: "replicate" }) },
  conv2d_unbatched: { make: () => new nn.Conv2d(2, 2, 2) },
  conv_transpose1d: { make: () => new nn.ConvTranspose1d(3, 2, 4, { stride: 2, padding: 1 }) },
  conv_transpose2d: { make: () => new nn.ConvTranspose2d(2, 3, 3, { stride: 2, padding: 1, outputPadding: 1 }) },
  conv_transpose2d_groups: { make: () => new nn.ConvTranspose2d(4, 2, [2, 3], { stride: [1, 2], groups: 2, dilation: [2, 1], bias: false }) },
  conv_transpose2d_output_size: {
    make: () => new nn.ConvTranspose2d(2, 2, 3, { stride: 2, padding: 1 }),
    call: (m, xs) => (m as st.nn.ConvTranspose2d).forward(xs[0]!, [10, 10]),
  },
  maxpool1d: { make: () => new nn.MaxPool1d(3, { stride: 2, padding: 1 }) },
  maxpool2d: { make: () => new nn.MaxPool2d(2) },
  maxpool2d_ceil: { make: () => new nn.MaxPool2d(3, { stride: 2, padding: 1, ceilMode: true }) },
  maxpool2d_dilation: { make: () => new nn.MaxPool2d([2, 3], { stride: 1, dilation: 2 }) },
  avgpool2d: { make: () => new nn.AvgPool2d(2) },
  avgpool2d_pad: { make: () => new nn.AvgPool2d(3, { stride: 2, padding: 1, countIncludePad: false, ceilMode: true }) },
  avgpool2d_include_pad: { make: () => new nn.AvgPool2d([3, 2], { stride: [2, 1], padding: 1 }) },
  adaptive_avgpool2d: { make: () => new nn.AdaptiveAvgPool2d([3, 2]) },
  adaptive_avgpool2d_global: { make: () => new nn.AdaptiveAvgPool2d(1) },
  adaptive_avgpool2d_none: { make: () => new nn.AdaptiveAvgPool2d([null, 3]) },
  batchnorm1d: { make: () => new nn.BatchNorm1d(4) },
  batchnorm1d_cumulative: { make: () => new nn.BatchNorm1d(3, { momentum: null }) },
  batchnorm2d: { make: () => new nn.BatchNorm2d(3, { momentum: 0.3 }) },
  batchnorm2d_eval: { make: () => new nn.BatchNorm2d(3, { eps: 1e-3 }) },
  batchnorm2d_untracked_eval: { make: () => new nn.BatchNorm2d(3, { affine: false, trackRunningStats: false }) },
  layernorm: { make: () => new nn.LayerNorm(5) },
  layernorm_2d_noaffine: { make: () => new nn.LayerNorm([3, 4], { elementwiseAffine: false, eps: 1e-3 }) },
  groupnorm: { make: () => new nn.GroupNorm(2, 6) },
  groupnorm_noaffine: { make: () => new nn.GroupNorm(3, 3, { affine: false }) },
  rmsnorm: { make: () => new nn.RMSNorm(5) },
  rmsnorm_eps: { make: () => new nn.RMSNorm([2, 3], { eps: 1e-3 }) },
  embedding: { make: () => new nn.Embedding(10, 3) },
  embedding_padding: { make: () => new nn.Embedding(6, 3, { paddingIdx: 2 }) },
  flatten: { make: () => new nn.Flatten() },
  flatten_range: { make: () => new nn.Flatten(0, 2) },
  unflatten: { make: () => new nn.Unflatten(1, [2, 3]) },
  identity: { make: () => new nn.Identity() },
  dropout_eval: { make: () => new nn.Dropout(0.3) },
  relu: { make: () => new nn.ReLU() },
  leaky_relu: { make: () => new nn.LeakyReLU(0.2) },
  elu: { make: () => new nn.ELU(0.5) },
  gelu: { make: () => new nn.GELU() },
  gelu_tanh: { make: () => new nn.GELU("tanh") },
  silu: { make: () => new nn.SiLU() },
  tanh: { make: () => new nn.Tanh() },
  sigmoid: { make: () => new nn.Sigmoid() },
  softmax: { make: () => new nn.Softmax(1) },
  log_softmax: { make: () => new nn.LogSoftmax(-1) },
  sequential_cnn: {
    make: () => new nn.Sequential(new nn.Conv2d(1, 2, 3), new nn.BatchNorm2d(2), new nn.ReLU(), new nn.MaxPool2d(2), new nn.Flatten(), new nn.Linear(8, 3)),
  },
};

const TOL = { float64: { atol: 1e-9, rtol: 1e-8 }, float32: { atol: 2e-5, rtol: 2e-4 } } as const;

const decode = (e: Enc, float: DType): Tensor =>
  st.tensor(e.data, { dtype: e.dtype === "float64" ? float : e.dtype }).reshape(e.shape);
const values = (t: Tensor): number[] => Array.from(t.dataSync() as ArrayLike<number | bigint>, Number);

function expectClose(t: Tensor, e: Enc, tol: { atol: number; rtol: number }, what: string): void {
  expect(t.shape, `${what}: shape`).toEqual(e.shape);
  const got = values(t);
  const bad: string[] = [];
  got.forEach((a, i) => {
    const w = e.data[i]!;
    if (!(Math.abs(a - w) <= tol.atol + tol.rtol * Math.abs(w))) bad.push(`[${i}] got ${a}, torch ${w}`);
  });
  if (bad.length) throw new Error(`${what}: ${bad.length} of ${got.length} elements differ from torch: ${bad.slice(0, 5).join("; ")}`);
}

describe("layers against PyTorch", () => {
  it("the fixture and the table name the same cases", () => {
    expect(FIXTURE.cases.map((c) => c.name).sort()).toEqual(Object.keys(LAYERS).sort());
  });
  for (const c of FIXTURE.cases) {
    describe(c.name, () => {
      it("has torch's state-dict keys (in torch's order) and repr", () => {
        const m = LAYERS[c.name]!.make();
        expect(Object.keys(m.stateDict())).toEqual(Object.keys(c.state));
        if (c.repr !== null) expect(m.toString()).toBe(c.repr);
      });
      for (const float of ["float64", "float32"] as const) {
        it(`output, gradients and buffers (${float})`, () => {
          const { make, call = call1 } = LAYERS[c.name]!;
          const m = make();
          if (float === "float64") m.double();
          const sd = Object.fromEntries(Object.entries(c.state).map(([k, v]) => [k, decode(v, "float64")]));
          expect(m.loadStateDict(sd)).toEqual({ missingKeys: [], unexpectedKeys: [] });
          for (const step of c.pre) st.noGrad(() => call(m, step.map((e) => decode(e, float))));
          if (c.mode === "eval") m.eval();
          const xs = c.inputs.map((e) => {
            const t = decode(e, float);
            return e.dtype === "float64" ? t.requiresGrad_(true) : t;
          });
          const out = call(m, xs);
          const tol = TOL[float];
          expectClose(out, c.out, tol, `${c.name} output`);
          out.mul(decode(c.cot, float)).sum().backward();
          xs.forEach((x, i) => {
            if (x.requiresGrad) expectClose(x.grad!, c.grads[`input${i}`]!, tol, `${c.name} grad of input ${i}`);
          });
          const params = m.namedParameters();
          expect(params.map(([k]) => k).sort()).toEqual(Object.keys(c.grads).filter((k) => !/^input\d+$/.test(k)).sort());
          for (const [k, p] of params) expectClose(p.grad!, c.grads[k]!, tol, `${c.name} grad of ${k}`);
          const bufs = m.namedBuffers();
          expect(bufs.map(([k]) => k)).toEqual(Object.keys(c.buffers_after));
          for (const [k, b] of bufs) expectClose(b, c.buffers_after[k]!, tol, `${c.name} buffer ${k} after forward`);
        });
      }
    });
  }
});

/** Mean and (population) standard deviation of a tensor's values. */
function stats(t: Tensor): { mean: number; std: number; min: number; max: number } {
  const v = values(t);
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const std = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
  return { mean, std, min: Math.min(...v), max: Math.max(...v) };
}

/** Checks values are spread over U(-b, b): inside it, reaching near both ends, with mean 0 and std b/√3 (within 5 standard errors). */
function expectUniform(t: Tensor, b: number): void {
  const s = stats(t), n = t.numel();
  expect(s.max).toBeLessThanOrEqual(b);
  expect(s.min).toBeGreaterThanOrEqual(-b);
  const near = Math.min(0.95, 1 - 20 / n); // P(max below it) = (1 - (1 - near) / 2)^n < e^-10
  expect(s.max).toBeGreaterThan(near * b);
  expect(s.min).toBeLessThan(-near * b);
  expect(Math.abs(s.mean)).toBeLessThan((5 * b) / Math.sqrt(3 * n));
  expect(Math.abs(s.std / (b / Math.sqrt(3)) - 1)).toBeLessThan(5 * Math.sqrt(0.2 / n));
}

describe("default initialisation (PyTorch's)", () => {
  it("Linear: weight and bias U(±1/√in_features)", () => {
    st.manualSeed(1);
    const fc = new nn.Linear(400, 300);
    expectUniform(fc.weight, 1 / Math.sqrt(400));
    expectUniform(fc.bias!, 1 / Math.sqrt(400));
    expect(fc.weight.requiresGrad && fc.bias!.requiresGrad).toBe(true);
    expect(fc.weight.dtype).toBe("float32");
    expect(new nn.Linear(3, 2, { dtype: "float64" }).weight.dtype).toBe("float64");
  });
  it("Conv2d and ConvTranspose2d: U(±1/√fan_in), fan_in from the weight's dim 1", () => {
    st.manualSeed(2);
    const conv = new nn.Conv2d(16, 32, 3, { groups: 2 }); // weight [32, 8, 3, 3]: fan_in 72
    expect(conv.weight.shape).toEqual([32, 8, 3, 3]);
    expectUniform(conv.weight, 1 / Math.sqrt(72));
    expectUniform(conv.bias!, 1 / Math.sqrt(72));
    const up = new nn.ConvTranspose2d(40, 64, 3); // weight [40, 64, 3, 3]: fan_in 576
    expect(up.weight.shape).toEqual([40, 64, 3, 3]);
    expectUniform(up.weight, 1 / Math.sqrt(576));
  });
  it("Bilinear: U(±1/√in1_features)", () => {
    st.manualSeed(3);
    const m = new nn.Bilinear(25, 30, 40);
    expectUniform(m.weight, 1 / 5);
    expect(stats(m.bias!).max).toBeLessThanOrEqual(0.2);
  });
  it("Embedding: N(0, 1) with the padding row zero", () => {
    st.manualSeed(4);
    const e = new nn.Embedding(500, 64, { paddingIdx: -1 });
    expect(e.paddingIdx).toBe(499);
    const s = stats(e.weight.narrow(0, 0, 499));
    expect(Math.abs(s.mean)).toBeLessThan(0.02);
    expect(s.std).toBeCloseTo(1, 1);
    expect(values(e.weight.narrow(0, 499, 1))).toEqual(Array(64).fill(0));
  });
  it("norms: weight ones, bias zeros; BatchNorm running stats 0 and 1, no batches seen", () => {
    const bn = new nn.BatchNorm2d(5);
    expect(values(bn.weight!)).toEqual([1, 1, 1, 1, 1]);
    expect(values(bn.bias!)).toEqual([0, 0, 0, 0, 0]);
    expect(values(bn.runningMean!)).toEqual([0, 0, 0, 0, 0]);
    expect(values(bn.runningVar!)).toEqual([1, 1, 1, 1, 1]);
    expect(bn.numBatchesTracked!.dtype).toBe("int64");
    expect(values(bn.numBatchesTracked!)).toEqual([0]);
    expect(bn.runningMean!.requiresGrad).toBe(false);
    const ln = new nn.LayerNorm([2, 3]);
    expect(values(ln.weight!)).toEqual([1, 1, 1, 1, 1, 1]);
    expect(values(ln.bias!)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(new nn.LayerNorm(4, { bias: false }).bias).toBe(null);
    expect(Object.keys(new nn.LayerNorm(4, { bias: false }).stateDict())).toEqual(["weight"]);
    expect(values(new nn.GroupNorm(2, 4).weight!)).toEqual([1, 1, 1, 1]);
    expect(values(new nn.RMSNorm(3).weight!)).toEqual([1, 1, 1]);
  });
  it("resetParameters() draws new values; resetRunningStats() restores the statistics", () => {
    const fc = new nn.Linear(8, 8);
    const before = values(fc.weight);
    fc.resetParameters();
    expect(values(fc.weight)).not.toEqual(before);
    const bn = new nn.BatchNorm1d(2);
    bn.forward(st.tensor([[1, 2], [3, 6]]));
    expect(values(bn.runningMean!)).toEqual([0.2, 0.4].map(Math.fround));
    bn.resetRunningStats();
    expect(values(bn.runningMean!)).toEqual([0, 0]);
    expect(values(bn.numBatchesTracked!)).toEqual([0]);
  });
});

describe("st.nn.init", () => {
  const init = nn.init;
  it("calculateGain", () => {
    expect(init.calculateGain("linear")).toBe(1);
    expect(init.calculateGain("conv2d")).toBe(1);
    expect(init.calculateGain("sigmoid")).toBe(1);
    expect(init.calculateGain("tanh")).toBeCloseTo(5 / 3, 12);
    expect(init.calculateGain("relu")).toBeCloseTo(Math.SQRT2, 12);
    expect(init.calculateGain("leaky_relu")).toBeCloseTo(Math.sqrt(2 / (1 + 0.01 ** 2)), 12);
    expect(init.calculateGain("leaky_relu", Math.sqrt(5))).toBeCloseTo(Math.sqrt(1 / 3), 12);
    expect(init.calculateGain("selu")).toBe(0.75);
    expect(() => init.calculateGain("softmax" as never)).toThrow(/unsupported nonlinearity/);
  });
  it("fans: [out, in, ...kernel] gives fan_in = in·k, fan_out = out·k; fewer than 2 dims raise", () => {
    expect(init.calculateFanInAndFanOut(st.empty([6, 4, 3, 2]))).toEqual([24, 36]);
    expect(() => init.kaimingUniform_(st.empty([5]))).toThrow(/fewer than 2 dimensions/);
    expect(() => init.kaimingUniform_(st.empty([5, 5]), { mode: "fan_avg" as never })).toThrow(/not supported/);
  });
  it("uniform_, normal_, constant_, ones_, zeros_, eye_ (on a parameter that requires grad)", () => {
    st.manualSeed(5);
    const p = new nn.Parameter(st.empty([100, 100]));
    expect(init.uniform_(p, -2, 3)).toBe(p);
    const u = stats(p);
    expect(u.min).toBeGreaterThanOrEqual(-2);
    expect(u.max).toBeLessThan(3);
    expect(u.mean).toBeCloseTo(0.5, 1);
    init.normal_(p, 1, 0.5);
    const n = stats(p);
    expect(n.mean).toBeCloseTo(1, 1);
    expect(n.std).toBeCloseTo(0.5, 2);
    expect(values(init.constant_(st.empty([3]), 0.25))).toEqual([0.25, 0.25, 0.25]);
    expect(values(init.ones_(st.empty([2])))).toEqual([1, 1]);
    expect(values(init.zeros_(st.ones([2])))).toEqual([0, 0]);
    expect(values(init.eye_(st.empty([2, 3])))).toEqual([1, 0, 0, 0, 1, 0]);
    expect(p.requiresGrad).toBe(true);
    expect(p.isLeaf).toBe(true);
  });
  it("xavier and kaiming: bounds and standard deviations", () => {
    st.manualSeed(6);
    const w = st.empty([200, 300]);
    init.xavierUniform_(w, 2);
    expectUniform(w, 2 * Math.sqrt(6 / 500));
    init.xavierNormal_(w);
    expect(stats(w).std).toBeCloseTo(Math.sqrt(2 / 500), 3);
    init.kaimingUniform_(w); // leaky_relu with a = 0: gain √2, fan_in 300
    expectUniform(w, Math.sqrt(2) * Math.sqrt(3 / 300));
    init.kaimingNormal_(w, { mode: "fan_out", nonlinearity: "relu" });
    expect(stats(w).std / Math.sqrt(2 / 200)).toBeCloseTo(1, 1);
    init.kaimingUniform_(w, { a: 0.2, mode: "fan_out" });
    expectUniform(w, Math.sqrt(2 / 1.04) * Math.sqrt(3 / 200));
  });
  it("truncNormal_: inside [a, b], with the truncated normal's moments", () => {
    st.manualSeed(7);
    const t = init.truncNormal_(st.empty([40000], { dtype: "float64" }), 1, 2, -1, 2);
    const s = stats(t);
    expect(s.min).toBeGreaterThanOrEqual(-1);
    expect(s.max).toBeLessThanOrEqual(2);
    // N(1, 2²) truncated to [-1, 2]: alpha = -1, beta = 0.5.
    const phi = (x: number) => Math.exp(-x * x / 2) / Math.sqrt(2 * Math.PI);
    const Phi = (x: number) => 0.5 * (1 + erf(x / Math.SQRT2));
    const Z = Phi(0.5) - Phi(-1);
    const mean = 1 + (2 * (phi(-1) - phi(0.5))) / Z;
    const variance = 4 * (1 + (-1 * phi(-1) - 0.5 * phi(0.5)) / Z - ((phi(-1) - phi(0.5)) / Z) ** 2);
    const se = Math.sqrt(variance / 40000);
    expect(Math.abs(s.mean - mean)).toBeLessThan(5 * se);
    expect(Math.abs(s.std - Math.sqrt(variance))).toBeLessThan(5 * se); // the std's standard error is below the mean's here
    const small = init.truncNormal_(st.empty([20000]), 0, 0.02);
    // a and b are absolute, as in PyTorch: N(0, 0.02²) cut at ±2 is not truncated at all.
    expect(Math.abs(stats(small).std / 0.02 - 1)).toBeLessThan(0.03);
    const unit = stats(init.truncNormal_(st.empty([20000]))); // N(0, 1) on [-2, 2]: std 0.8796
    expect(Math.abs(unit.std / 0.87962566 - 1)).toBeLessThan(0.03);
    expect(unit.max).toBeLessThanOrEqual(2);
    expect(unit.min).toBeGreaterThanOrEqual(-2);
  });
  it("orthogonal_: rows or columns orthonormal, times gain", () => {
    st.manualSeed(8);
    for (const shape of [[6, 4], [3, 7], [4, 2, 3]]) {
      const w = init.orthogonal_(st.empty(shape, { dtype: "float64" }), 2);
      const m = w.reshape([shape[0]!, -1]);
      const g = m.shape[0]! >= m.shape[1]! ? m.T.matmul(m) : m.matmul(m.T);
      const n = g.shape[0]!;
      expectClose(g, { shape: [n, n], dtype: "float64", data: values(st.eye(n, n, { dtype: "float64" }).mul(4)) }, { atol: 1e-12, rtol: 0 }, `orthogonal ${shape}`);
    }
  });
});

function erf(x: number): number {
  // Abramowitz-Stegun 7.1.26 is not precise enough for moments; use the series.
  let term = x, sum = x;
  for (let n = 1; n < 60; n++) {
    term *= (-x * x) / n;
    sum += term / (2 * n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

describe("Module behaviour with layers", () => {
  const mlp = () => new nn.Sequential(new nn.Linear(784, 128), new nn.ReLU(), new nn.Dropout(0.2), new nn.Linear(128, 10));

  it("stateDict round trip: another model loaded with it computes the same", () => {
    st.manualSeed(10);
    const a = new nn.Sequential(new nn.Conv2d(1, 2, 3), new nn.BatchNorm2d(2), new nn.Flatten(), new nn.Linear(18, 2));
    a.forward(st.randn([4, 1, 5, 5])); // moves the running statistics away from their init
    const b = new nn.Sequential(new nn.Conv2d(1, 2, 3), new nn.BatchNorm2d(2), new nn.Flatten(), new nn.Linear(18, 2));
    expect(Object.keys(a.stateDict())).toEqual(["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked", "3.weight", "3.bias"]);
    b.loadStateDict(a.stateDict());
    a.eval(); b.eval();
    const x = st.randn([2, 1, 5, 5]);
    expect(values(b.forward(x) as Tensor)).toEqual(values(a.forward(x) as Tensor));
    expect(values((b.at(1) as st.nn.BatchNorm2d).numBatchesTracked!)).toEqual([1]);
    // The loaded values are copies: changing a's parameters leaves b's alone.
    st.noGrad(() => (a.at(0) as st.nn.Conv2d).weight.add_(1));
    expect(values((b.at(0) as st.nn.Conv2d).weight)).not.toEqual(values((a.at(0) as st.nn.Conv2d).weight));
  });
  it("loadStateDict: missing and unexpected keys, shape mismatches", () => {
    const m = new nn.Linear(3, 2);
    expect(() => m.loadStateDict({ weight: st.zeros([2, 3]) })).toThrow(/missing keys: "bias"/);
    expect(m.loadStateDict({ weight: st.zeros([2, 3]) }, { strict: false })).toEqual({ missingKeys: ["bias"], unexpectedKeys: [] });
    expect(() => m.loadStateDict({ weight: st.zeros([3, 2]), bias: st.zeros([2]) })).toThrow(/size mismatch for weight/);
    expect(() => m.loadStateDict({ weight: st.zeros([2, 3]), bias: st.zeros([2]), extra: st.zeros([1]) })).toThrow(/unexpected keys: "extra"/);
    const bn = new nn.BatchNorm1d(2, { trackRunningStats: false, affine: false });
    expect(Object.keys(bn.stateDict())).toEqual([]);
  });
  it("train() and eval() reach every submodule; Dropout and BatchNorm follow the mode", () => {
    const m = new nn.Sequential(mlp(), new nn.BatchNorm1d(10));
    m.eval();
    expect(m.modules().every((x) => !x.training)).toBe(true);
    const x = st.ones([4, 784]);
    const drop = (m.at(0) as st.nn.Sequential).at(2);
    expect((drop as st.nn.Dropout).forward(x)).toBe(x);
    const bn = m.at(1) as st.nn.BatchNorm1d;
    m.forward(x);
    expect(values(bn.numBatchesTracked!)).toEqual([0]); // eval: statistics untouched
    m.train();
    expect(m.modules().every((x) => x.training)).toBe(true);
    m.forward(x);
    expect(values(bn.numBatchesTracked!)).toEqual([1]);
  });
  it("Dropout in train mode: zeros with probability p, the rest scaled by 1/(1-p)", () => {
    st.manualSeed(11);
    const y = values(new nn.Dropout(0.25).forward(st.ones([20000])));
    const zeros = y.filter((v) => v === 0).length / y.length;
    expect(zeros).toBeGreaterThan(0.23);
    expect(zeros).toBeLessThan(0.27);
    expect(new Set(y.filter((v) => v !== 0))).toEqual(new Set([Math.fround(1 / 0.75)]));
    expect(values(new nn.Dropout(1).forward(st.ones([5])))).toEqual([0, 0, 0, 0, 0]);
    expect(() => new nn.Dropout(1.5)).toThrow(/between 0 and 1/);
  });
  it("requiresGrad_(false) freezes parameters: no gradients, input gradients still flow", () => {
    const m = mlp().eval();
    (m.at(0) as st.nn.Linear).requiresGrad_(false);
    const x = st.randn([2, 784], { requiresGrad: true });
    (m.forward(x) as Tensor).sum().backward();
    expect((m.at(0) as st.nn.Linear).weight.grad).toBe(null);
    expect((m.at(0) as st.nn.Linear).bias!.grad).toBe(null);
    expect((m.at(3) as st.nn.Linear).weight.grad!.shape).toEqual([10, 128]);
    expect(x.grad!.shape).toEqual([2, 784]);
    expect(m.summary()).toContain("total parameters: 101,770 (trainable 1,290)");
  });
  it("summary() counts parameters per module", () => {
    const s = mlp().summary();
    expect(s).toContain("total parameters: 101,770 (trainable 101,770)");
    expect(s).toMatch(/0\s+Linear\s+100,480/);
    expect(s).toMatch(/3\s+Linear\s+1,290/);
    const cnn = new nn.Sequential(new nn.Conv2d(1, 32, 5), new nn.BatchNorm2d(32), new nn.ReLU(), new nn.MaxPool2d(2), new nn.Flatten(), new nn.Linear(32 * 12 * 12, 10));
    expect(cnn.parameters().reduce((a, p) => a + p.numel(), 0)).toBe(32 * 25 + 32 + 64 + 4608 * 10 + 10);
    expect(cnn.forward(st.zeros([2, 1, 28, 28])) instanceof st.Tensor).toBe(true);
  });
  it("double() casts parameters and float buffers, not num_batches_tracked", () => {
    const bn = new nn.BatchNorm1d(3).double();
    expect(bn.weight!.dtype).toBe("float64");
    expect(bn.runningVar!.dtype).toBe("float64");
    expect(bn.numBatchesTracked!.dtype).toBe("int64");
    expect(bn.forward(st.randn([4, 3], { dtype: "float64" })).dtype).toBe("float64");
  });
  it("Embedding: the padding row gets no gradient", () => {
    const e = new nn.Embedding(4, 2, { paddingIdx: 0 });
    e.forward(st.tensor([0, 1, 0, 3], { dtype: "int64" })).sum().backward();
    expect(values(e.weight.grad!)).toEqual([0, 0, 1, 1, 0, 0, 1, 1]);
  });
  it("BatchNorm with momentum null keeps the cumulative average", () => {
    const bn = new nn.BatchNorm1d(1, { momentum: null, dtype: "float64" });
    for (const b of [[0, 2], [4, 6], [8, 14]]) bn.forward(st.tensor(b, { dtype: "float64" }).reshape([2, 1]));
    expect(values(bn.runningMean!)[0]).toBeCloseTo((1 + 5 + 11) / 3, 12);
    expect(values(bn.runningVar!)[0]).toBeCloseTo((2 + 2 + 18) / 3, 12); // unbiased batch variances
    expect(() => bn.forward(st.tensor([[1]], { dtype: "float64" }))).toThrow(/more than 1 value per channel/);
  });
});

describe("shape errors name the layer and the shapes, at the call", () => {
  const bad: [string, () => unknown, RegExp][] = [
    ["Linear", () => new nn.Linear(4, 3).forward(st.zeros([2, 5])), /Linear\(in_features=4, out_features=3, bias=True\): expected input of shape \[\*, 4\], got \[2, 5\]/],
    ["Bilinear", () => new nn.Bilinear(3, 4, 2).forward(st.zeros([5, 3]), st.zeros([5, 3])), /Bilinear\(.*\): expected input of shape .*, got \[5, 3\]/],
    ["Conv2d channels", () => new nn.Conv2d(3, 8, 3).forward(st.zeros([1, 4, 8, 8])), /Conv2d\(3, 8, kernel_size=\(3, 3\).*\): expected input of shape \[N, 3, H, W\] or \[3, H, W\], got \[1, 4, 8, 8\]/],
    ["Conv2d rank", () => new nn.Conv2d(3, 8, 3).forward(st.zeros([3, 8])), /Conv2d.*got \[3, 8\]/],
    ["Conv1d", () => new nn.Conv1d(2, 2, 3).forward(st.zeros([1, 2, 4, 4])), /Conv1d.*\[N, 2, L\].*got \[1, 2, 4, 4\]/],
    ["Conv2d too small", () => new nn.Conv2d(1, 1, 5).forward(st.zeros([1, 1, 3, 3])), /conv2d: input \[1, 1, 3, 3\] is too small/],
    ["ConvTranspose2d", () => new nn.ConvTranspose2d(2, 3, 3).forward(st.zeros([1, 3, 4, 4])), /ConvTranspose2d.*got \[1, 3, 4, 4\]/],
    ["MaxPool2d", () => new nn.MaxPool2d(2).forward(st.zeros([4, 4])), /MaxPool2d\(kernel_size=2.*\): expected input of shape \[N, C, H, W\] or \[C, H, W\], got \[4, 4\]/],
    ["AvgPool2d", () => new nn.AvgPool2d(2).forward(st.zeros([4])), /AvgPool2d.*got \[4\]/],
    ["AdaptiveAvgPool2d", () => new nn.AdaptiveAvgPool2d(2).forward(st.zeros([1, 1, 1, 1, 4])), /AdaptiveAvgPool2d.*got \[1, 1, 1, 1, 4\]/],
    ["BatchNorm1d", () => new nn.BatchNorm1d(3).forward(st.zeros([2, 3, 4, 4])), /BatchNorm1d\(3, .*\): expected input of shape \[N, 3\] or \[N, 3, L\], got \[2, 3, 4, 4\]/],
    ["BatchNorm2d", () => new nn.BatchNorm2d(3).forward(st.zeros([2, 4, 5, 5])), /BatchNorm2d\(3, .*\): expected input of shape \[N, 3, H, W\], got \[2, 4, 5, 5\]/],
    ["LayerNorm", () => new nn.LayerNorm([3, 4]).forward(st.zeros([2, 4, 3])), /LayerNorm\(\(3, 4\), .*\): expected input of shape \[\*, 3, 4\], got \[2, 4, 3\]/],
    ["GroupNorm", () => new nn.GroupNorm(2, 4).forward(st.zeros([2, 6])), /GroupNorm\(2, 4, .*\): expected input of shape \[N, 4, \*\], got \[2, 6\]/],
    ["RMSNorm", () => new nn.RMSNorm(4).forward(st.zeros([2, 3])), /RMSNorm\(\(4,\), .*\): expected input of shape \[\*, 4\], got \[2, 3\]/],
    ["Flatten", () => new nn.Flatten(1, 3).forward(st.zeros([2, 3])), /Flatten\(start_dim=1, end_dim=3\): expected input of shape at least 4 dims, got \[2, 3\]/],
    ["Unflatten", () => new nn.Unflatten(1, [2, 3]).forward(st.zeros([2, 5])), /Unflatten\(dim=1, unflattened_size=\(2, 3\)\): expected input of shape dim 1 of size 6, got \[2, 5\]/],
  ];
  for (const [name, fn, msg] of bad) {
    it(name, () => {
      expect(fn).toThrow(st.ShapeError);
      expect(fn).toThrow(msg);
    });
  }
  it("Embedding rejects float indices with a DTypeError", () => {
    expect(() => new nn.Embedding(5, 2).forward(st.zeros([3]))).toThrow(st.DTypeError);
  });
  it("constructor arguments are checked", () => {
    expect(() => new nn.Conv2d(3, 8, 3, { groups: 2 })).toThrow(/in_channels \(3\) must be divisible by groups \(2\)/);
    expect(() => new nn.Conv2d(2, 2, 3, { padding: "same", stride: 2 })).toThrow(/not supported for strided/);
    expect(() => new nn.GroupNorm(4, 6)).toThrow(/divisible by num_groups/);
    expect(() => new nn.Embedding(4, 2, { paddingIdx: 4 })).toThrow(/padding_idx must be within num_embeddings/);
  });
});
