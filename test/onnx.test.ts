/**
 * ONNX import: small models written in the test with the protobuf schema, checked against values
 * computed independently (plain JS loops or Strata's own layers); opset differences; the safety
 * rules, each with a malicious file; and a fine-tuning smoke test on an imported graph.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import * as st from "../src/index.ts";

const tmp = mkdtempSync(join(tmpdir(), "strata-onnx-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// ---- building models ----

type Attr = number | number[] | string | { floats: number[] } | { f: number };
interface NodeSpec { op: string; inputs: string[]; outputs: string[]; attrs?: Record<string, Attr> }
interface Init { name: string; dims: number[]; data?: number[]; dataType?: number; raw?: Uint8Array; external?: Record<string, string> }

function attr(name: string, v: Attr) {
  if (typeof v === "string") return { name, type: 3, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: 7, ints: v };
  if (typeof v === "object" && "floats" in v) return { name, type: 6, floats: v.floats };
  if (typeof v === "object" && "f" in v) return { name, type: 1, f: v.f };
  return { name, type: 2, i: v };
}
function tensorProto(t: Init) {
  const dataType = t.dataType ?? 1;
  const out: Record<string, unknown> = { name: t.name, dims: t.dims, dataType };
  if (t.raw) out.rawData = t.raw;
  else if (t.external) { out.dataLocation = 1; out.externalData = Object.entries(t.external).map(([key, value]) => ({ key, value })); }
  else if (dataType === 7) out.int64Data = t.data;
  else out.floatData = t.data;
  return out;
}
const valueInfo = (name: string, elemType = 1) => ({ name, type: { tensorType: { elemType } } });
function model(nodes: NodeSpec[], inputs: string[], outputs: string[], inits: Init[] = [], opset = 13, inputTypes: number[] = []): Uint8Array {
  const m = st.io.OnnxModelProto.fromObject({
    irVersion: 8, producerName: "strata-test", opsetImport: [{ domain: "", version: opset }],
    graph: {
      name: "g",
      node: nodes.map((n, i) => ({ name: `n${i}`, opType: n.op, input: n.inputs, output: n.outputs, attribute: Object.entries(n.attrs ?? {}).map(([k, v]) => attr(k, v)) })),
      initializer: inits.map(tensorProto),
      input: inputs.map((n, i) => valueInfo(n, inputTypes[i] ?? 1)),
      output: outputs.map((n) => valueInfo(n)),
    },
  });
  return st.io.OnnxModelProto.encode(m).finish();
}
const seq = (n: number, scale = 0.1, off = 0) => Array.from({ length: n }, (_, i) => Math.sin(i * 1.7 + off) * scale * 10 * 0.1);
const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-5) => {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThanOrEqual(tol * (1 + Math.abs(b[i]!)));
};

// An MLP: Gemm(transB) -> Relu -> Gemm(transB) -> Softmax.
const W1 = seq(4 * 3, 1, 0), B1 = seq(4, 1, 1), W2 = seq(2 * 4, 1, 2), B2 = seq(2, 1, 3);
const mlpBytes = () => model(
  [
    { op: "Gemm", inputs: ["x", "fc1.weight", "fc1.bias"], outputs: ["h"], attrs: { transB: 1 } },
    { op: "Relu", inputs: ["h"], outputs: ["r"] },
    { op: "Gemm", inputs: ["r", "fc2.weight", "fc2.bias"], outputs: ["logits"], attrs: { transB: 1 } },
    { op: "Softmax", inputs: ["logits"], outputs: ["probs"], attrs: { axis: -1 } },
  ],
  ["x"], ["logits", "probs"],
  [{ name: "fc1.weight", dims: [4, 3], data: W1 }, { name: "fc1.bias", dims: [4], data: B1 }, { name: "fc2.weight", dims: [2, 4], data: W2 }, { name: "fc2.bias", dims: [2], data: B2 }],
);
function mlpReference(x: number[][]): { logits: number[]; probs: number[] } {
  const logits: number[] = [], probs: number[] = [];
  for (const row of x) {
    const h = [0, 1, 2, 3].map((j) => Math.max(0, B1[j]! + row.reduce((s, v, k) => s + v * W1[j * 3 + k]!, 0)));
    const l = [0, 1].map((j) => B2[j]! + h.reduce((s, v, k) => s + v * W2[j * 4 + k]!, 0));
    const m = Math.max(...l), e = l.map((v) => Math.exp(v - m)), z = e[0]! + e[1]!;
    logits.push(...l); probs.push(...e.map((v) => v / z));
  }
  return { logits, probs };
}

describe("loadOnnx", () => {
  it("runs an MLP: run() by name, forward() in graph order, against plain JS", async () => {
    const m = await st.io.loadOnnx(mlpBytes());
    expect(m).toBeInstanceOf(st.nn.Module);
    expect(m.inputNames).toEqual(["x"]);
    const x = [[0.5, -1, 2], [1, 0.25, -0.5]];
    const out = await m.run({ x: st.tensor(x) });
    const ref = mlpReference(x);
    close(await out.logits!.data() as Float32Array, ref.logits);
    close(await out.probs!.data() as Float32Array, ref.probs);
    const [logits] = m.forward(st.tensor(x)) as st.Tensor[];
    close(await logits!.data() as Float32Array, ref.logits);
  });

  it("initializers are Parameters under their ONNX names", async () => {
    const m = await st.io.loadOnnx(mlpBytes());
    expect(Object.keys(m.stateDict()).sort()).toEqual(["fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight"]);
    expect(m.parameters().every((p) => p.requiresGrad)).toBe(true);
    close(await m.stateDict()["fc2.weight"]!.data() as Float32Array, W2);
  });

  it("a small CNN (Conv, BatchNormalization, MaxPool, GlobalAveragePool, Flatten, Gemm) matches Strata's layers", async () => {
    const w = seq(4 * 2 * 3 * 3, 1, 5), b = seq(4, 1, 6), scale = [1, 0.5, 2, 1.5], bias = [0.1, -0.2, 0.3, 0], mean = [0.05, -0.1, 0, 0.2], vr = [1, 0.5, 2, 0.25];
    const fw = seq(3 * 4, 1, 7), fb = [0.1, 0.2, 0.3];
    const bytes = model(
      [
        { op: "Conv", inputs: ["x", "w", "b"], outputs: ["c"], attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [1, 1] } },
        { op: "BatchNormalization", inputs: ["c", "s", "bb", "m", "v"], outputs: ["n"], attrs: { epsilon: { f: 1e-5 } } },
        { op: "Relu", inputs: ["n"], outputs: ["r"] },
        { op: "MaxPool", inputs: ["r"], outputs: ["p"], attrs: { kernel_shape: [2, 2], strides: [2, 2] } },
        { op: "GlobalAveragePool", inputs: ["p"], outputs: ["g"] },
        { op: "Flatten", inputs: ["g"], outputs: ["f"] },
        { op: "Gemm", inputs: ["f", "fw", "fb"], outputs: ["y"], attrs: { transB: 1 } },
      ],
      ["x"], ["y"],
      [
        { name: "w", dims: [4, 2, 3, 3], data: w }, { name: "b", dims: [4], data: b }, { name: "s", dims: [4], data: scale },
        { name: "bb", dims: [4], data: bias }, { name: "m", dims: [4], data: mean }, { name: "v", dims: [4], data: vr },
        { name: "fw", dims: [3, 4], data: fw }, { name: "fb", dims: [3], data: fb },
      ],
    );
    const m = await st.io.loadOnnx(bytes);
    const x = st.tensor(seq(2 * 2 * 6 * 6, 1, 9)).reshape([2, 2, 6, 6]);
    const F = st.nn.functional;
    let ref = F.conv2d(x, st.tensor(w).reshape([4, 2, 3, 3]), st.tensor(b), { padding: 1 });
    ref = F.batchNorm(ref, st.tensor(mean), st.tensor(vr), st.tensor(scale), st.tensor(bias), false, 0.1, 1e-5).relu();
    ref = F.maxPool2d(ref, 2).mean([2, 3]);
    ref = F.linear(ref, st.tensor(fw).reshape([3, 4]), st.tensor(fb));
    close(await (m.forward(x) as st.Tensor).data() as Float32Array, await ref.data() as Float32Array);
  });

  it("data-dependent shapes: Shape -> Gather -> Unsqueeze -> Concat -> Reshape", async () => {
    const bytes = model(
      [
        { op: "Shape", inputs: ["x"], outputs: ["s"] },
        { op: "Gather", inputs: ["s", "zero"], outputs: ["n"], attrs: { axis: 0 } },
        { op: "Unsqueeze", inputs: ["n", "axes"], outputs: ["n1"] },
        { op: "Concat", inputs: ["n1", "minus1"], outputs: ["shape"], attrs: { axis: 0 } },
        { op: "Reshape", inputs: ["x", "shape"], outputs: ["y"] },
      ],
      ["x"], ["y"],
      [{ name: "zero", dims: [], data: [0], dataType: 7 }, { name: "axes", dims: [1], data: [0], dataType: 7 }, { name: "minus1", dims: [1], data: [-1], dataType: 7 }],
    );
    const m = await st.io.loadOnnx(bytes);
    const y = m.forward(st.arange(24).reshape([2, 3, 4])) as st.Tensor;
    expect(y.shape).toEqual([2, 12]);
    expect(Object.keys(m.stateDict())).toEqual(["zero", "axes", "minus1"]);
    expect(m.parameters().some((p) => p.requiresGrad)).toBe(false);
  });

  it("opset differences: Squeeze/Unsqueeze axes and Clip bounds as attributes (old) or inputs (new)", async () => {
    const x = st.tensor([[[-2, 0.5, 3]]]);
    const old = await st.io.loadOnnx(model(
      [{ op: "Squeeze", inputs: ["x"], outputs: ["s"], attrs: { axes: [0, 1] } }, { op: "Clip", inputs: ["s"], outputs: ["y"], attrs: { min: { f: -1 }, max: { f: 1 } } }],
      ["x"], ["y"], [], 6));
    const neu = await st.io.loadOnnx(model(
      [{ op: "Squeeze", inputs: ["x", "axes"], outputs: ["s"] }, { op: "Clip", inputs: ["s", "lo", "hi"], outputs: ["y"] }],
      ["x"], ["y"], [{ name: "axes", dims: [2], data: [0, 1], dataType: 7 }, { name: "lo", dims: [], data: [-1] }, { name: "hi", dims: [], data: [1] }], 13));
    for (const m of [old, neu]) {
      const y = m.forward(x) as st.Tensor;
      expect(y.shape).toEqual([3]);
      expect(Array.from(await y.data() as Float32Array)).toEqual([-1, 0.5, 1]);
    }
    const sliceOld = await st.io.loadOnnx(model([{ op: "Slice", inputs: ["x"], outputs: ["y"], attrs: { starts: [1], ends: [3], axes: [2] } }], ["x"], ["y"], [], 9));
    const sliceNew = await st.io.loadOnnx(model([{ op: "Slice", inputs: ["x", "st", "en", "ax", "sp"], outputs: ["y"] }], ["x"], ["y"],
      [{ name: "st", dims: [1], data: [-1], dataType: 7 }, { name: "en", dims: [1], data: [-10], dataType: 7 }, { name: "ax", dims: [1], data: [2], dataType: 7 }, { name: "sp", dims: [1], data: [-2], dataType: 7 }], 13));
    expect(Array.from(await (sliceOld.forward(x) as st.Tensor).data() as Float32Array)).toEqual([0.5, 3]);
    expect(Array.from(await (sliceNew.forward(x) as st.Tensor).data() as Float32Array)).toEqual([3, -2]);
  });

  it("lists every unsupported operator in one error at load", async () => {
    const bytes = model([
      { op: "FancyOp", inputs: ["x"], outputs: ["a"] }, { op: "Relu", inputs: ["a"], outputs: ["b"] }, { op: "OtherOp", inputs: ["b"], outputs: ["y"] },
    ], ["x"], ["y"]);
    const err = await st.io.loadOnnx(bytes).catch((e) => e);
    expect(err).toBeInstanceOf(st.io.UnsupportedOperatorError);
    expect(err.message).toBe("loadOnnx: unsupported operators: FancyOp, OtherOp");
    expect(err.ops).toEqual(["FancyOp", "OtherOp"]);
  });

  it("rejects bytes that are not a model", async () => {
    await expect(st.io.loadOnnx(new Uint8Array([0xff, 0xff, 0xff, 0xff]))).rejects.toThrow(st.io.OnnxError);
  });
});

describe("safety", () => {
  const withExternal = (location: string, extra: Record<string, string> = {}) => model(
    [{ op: "Add", inputs: ["x", "w"], outputs: ["y"] }], ["x"], ["y"],
    [{ name: "w", dims: [2], external: { location, ...extra } }]);
  const save = (dir: string, name: string, bytes: Uint8Array) => { mkdirSync(dir, { recursive: true }); writeFileSync(join(dir, name), bytes); return join(dir, name); };
  const weights = new Uint8Array(new Float32Array([1.5, -2]).buffer);

  it("loads external data given as a plain file name in the model's folder", async () => {
    const dir = join(tmp, "ok");
    save(dir, "w.bin", weights);
    const m = await st.io.loadOnnx(save(dir, "model.onnx", withExternal("w.bin")));
    expect(Array.from(await (m.forward(st.tensor([1, 1])) as st.Tensor).data() as Float32Array)).toEqual([2.5, -1]);
  });

  it("rejects an absolute external data path", async () => {
    const dir = join(tmp, "abs");
    save(dir, "w.bin", weights);
    const p = save(dir, "model.onnx", withExternal(join(dir, "w.bin")));
    await expect(st.io.loadOnnx(p)).rejects.toThrow(/must be a plain file name/);
  });

  it("rejects '..' in an external data path", async () => {
    const dir = join(tmp, "dotdot", "inner");
    save(join(tmp, "dotdot"), "w.bin", weights);
    await expect(st.io.loadOnnx(save(dir, "model.onnx", withExternal("../w.bin")))).rejects.toThrow(/must be a plain file name/);
    await expect(st.io.loadOnnx(save(dir, "model2.onnx", withExternal("..")))).rejects.toThrow(/must be a plain file name/);
  });

  it("rejects external data that is a symbolic link", async () => {
    const dir = join(tmp, "link");
    save(tmp, "outside.bin", weights);
    mkdirSync(dir, { recursive: true });
    symlinkSync(join(tmp, "outside.bin"), join(dir, "w.bin"));
    await expect(st.io.loadOnnx(save(dir, "model.onnx", withExternal("w.bin")))).rejects.toThrow(/symbolic link/);
  });

  it("rejects external data ranges past the end of the file", async () => {
    const dir = join(tmp, "range");
    save(dir, "w.bin", weights);
    await expect(st.io.loadOnnx(save(dir, "model.onnx", withExternal("w.bin", { offset: "4" })))).rejects.toThrow(/past the end/);
    await expect(st.io.loadOnnx(save(dir, "model2.onnx", withExternal("w.bin", { length: "4" })))).rejects.toThrow(/does not match/);
  });

  it("rejects huge dims before allocating, and data that does not match the shape", async () => {
    const huge = model([{ op: "Identity", inputs: ["w"], outputs: ["y"] }], [], ["y"], [{ name: "w", dims: [1 << 30, 1 << 30, 1 << 30], data: [1] }]);
    await expect(st.io.loadOnnx(huge)).rejects.toThrow(/elements, more than the limit/);
    const negative = model([{ op: "Identity", inputs: ["w"], outputs: ["y"] }], [], ["y"], [{ name: "w", dims: [-4], data: [1] }]);
    await expect(st.io.loadOnnx(negative)).rejects.toThrow(/negative dimension/);
    const short = model([{ op: "Identity", inputs: ["w"], outputs: ["y"] }], [], ["y"], [{ name: "w", dims: [1000, 1000], raw: new Uint8Array(8) }]);
    await expect(st.io.loadOnnx(short)).rejects.toThrow(/raw data has 8 bytes, expected 4000000/);
    const limited = model([{ op: "Identity", inputs: ["w"], outputs: ["y"] }], [], ["y"], [{ name: "w", dims: [4, 4], data: Array(16).fill(0) }]);
    await expect(st.io.loadOnnx(limited, { maxElements: 10 })).rejects.toThrow(/more than the limit 10/);
  });
});

describe("fine-tuning an imported graph", () => {
  it("freeze all but the last Gemm; a few SGD steps reduce the loss", async () => {
    const m = await st.io.loadOnnx(mlpBytes());
    for (const [name, p] of m.namedParameters()) if (!name.startsWith("fc2.")) p.requiresGrad_(false);
    const frozen = Array.from(await m.stateDict()["fc1.weight"]!.data() as Float32Array);
    const opt = new st.optim.SGD(m.parameters().filter((p) => p.requiresGrad), { lr: 0.5 });
    const x = st.tensor([[0.5, -1, 2], [1, 0.25, -0.5], [-1, 1, 1], [2, 0, 0.3]]);
    const target = st.tensor([[1, 0], [0, 1], [1, 0], [0, 1]]);
    const losses: number[] = [];
    for (let i = 0; i < 10; i++) {
      const { probs } = await m.run({ x });
      const loss = st.nn.functional.mseLoss(probs!, target);
      opt.zeroGrad();
      loss.backward();
      opt.step();
      losses.push(await loss.item() as number);
    }
    expect(losses[losses.length - 1]!).toBeLessThan(losses[0]! * 0.9);
    expect(Array.from(await m.stateDict()["fc1.weight"]!.data() as Float32Array)).toEqual(frozen);
  });
});
