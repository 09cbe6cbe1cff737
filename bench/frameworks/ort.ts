/**
 * ONNX Runtime (onnxruntime-node, CPU execution provider) on the inference benchmarks: cnn-infer and
 * gemm-*. One benchmark per process:
 *
 *   npx tsx bench/frameworks/ort.ts <bench> [--graph strata|reference] [--threads N] [--seconds S]
 *
 * Prints one JSON line: { bench, framework: "onnxruntime-node", value, unit, graph, ... }.
 *
 * --graph strata (default): the models are exported by Strata itself (st.io.saveOnnx) into a temp
 * dir at bench time and deleted afterwards: the CNN of bench/frameworks/strata-models.ts (the same layers,
 * eval mode, batch 64), and for gemm-n a module whose forward is `a.matmul(b)` (one MatMul node).
 * Strata's exporter writes the graph of its primitives, with ReLU and max pooling recognized as
 * Relu and MaxPool nodes, but a bias as Reshape/Expand/Add and a linear layer as MatMul, which is
 * not quite the graph a PyTorch export gives; --graph reference builds the textbook graph of the
 * same CNN with the same weights (Conv with its bias, Relu, MaxPool, Conv, Relu, MaxPool, Flatten,
 * Gemm) here, byte by byte: that measures ONNX Runtime on the model as it is usually fed to it
 * (framework name "onnxruntime-node-ref").
 *
 * ONNX Runtime runs them with all graph optimizations, intra-op threads = --threads (default 2),
 * inter-op threads 1, sequential execution. Training benchmarks are not ONNX Runtime's business: they
 * print value null.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import * as st from "../../src/index.ts";
import { BENCHES, type BenchName, packageVersion, parseArgs, report, reportSkip, timeLoopAsync, workPerStep, runPeer } from "./common.ts";
import { benchCnn } from "./strata-models.ts";

const args = parseArgs(process.argv.slice(2));
const bench: BenchName = args.bench;
const threads = Number(args.opts.threads ?? 2);
const seconds = Number(args.opts.seconds ?? 3);
const spec = BENCHES[bench];
const graph = (args.opts.graph ?? "strata") as "strata" | "reference";
if (graph !== "strata" && graph !== "reference") throw new Error(`--graph: strata or reference, got ${String(graph)}`);
const FRAMEWORK = graph === "strata" ? "onnxruntime-node" : "onnxruntime-node-ref";

const extra = { threads, graph, version: packageVersion("onnxruntime-node") ?? "?" };

// ---- a minimal ONNX (protobuf) writer for the reference graphs ----
// Wire format: a field is a varint key (number << 3 | wire type) then a varint (type 0) or a
// length-prefixed payload (type 2). Only what the models below need.
type Field = [num: number, value: number | string | Uint8Array];
function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 127) {
    out.push((n % 128) | 128);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}
function message(fields: Field[]): Uint8Array {
  const parts: number[] = [];
  for (const [num, v] of fields) {
    if (typeof v === "number") {
      parts.push(...varint(num * 8), ...varint(v));
    } else {
      const bytes = typeof v === "string" ? new TextEncoder().encode(v) : v;
      parts.push(...varint(num * 8 + 2), ...varint(bytes.length));
      for (let i = 0; i < bytes.length; i++) parts.push(bytes[i]!);
    }
  }
  return Uint8Array.from(parts);
}
const FLOAT = 1, ATTR_INT = 2, ATTR_INTS = 7;
function tensorProto(name: string, dims: number[], data: Float32Array): Uint8Array {
  return message([...dims.map((d): Field => [1, d]), [2, FLOAT], [8, name], [9, new Uint8Array(data.buffer, data.byteOffset, data.byteLength)]]);
}
function valueInfo(name: string, dims: number[]): Uint8Array {
  const shape = message(dims.map((d): Field => [1, message([[1, d]])]));
  return message([[1, name], [2, message([[1, message([[1, FLOAT], [2, shape]])]])]]);
}
function node(op: string, inputs: string[], outputs: string[], attrs: Uint8Array[] = []): Uint8Array {
  return message([...inputs.map((i): Field => [1, i]), ...outputs.map((o): Field => [2, o]), [3, `${op}_${outputs[0]}`], [4, op], ...attrs.map((a): Field => [5, a])]);
}
const intsAttr = (name: string, v: number[]) => message([[1, name], ...v.map((x): Field => [8, x]), [20, ATTR_INTS]]);
const intAttr = (name: string, v: number) => message([[1, name], [3, v], [20, ATTR_INT]]);
function modelProto(nodes: Uint8Array[], inits: Uint8Array[], inputs: Uint8Array[], outputs: Uint8Array[]): Uint8Array {
  const g = message([...nodes.map((n): Field => [1, n]), [2, "bench"], ...inits.map((t): Field => [5, t]), ...inputs.map((v): Field => [11, v]), ...outputs.map((v): Field => [12, v])]);
  return message([[1, 8], [2, "strata-bench"], [7, g], [8, message([[1, ""], [2, 17]])]]);
}

/** The CNN as the usual ONNX graph, with the Strata model's weights (Linear's [out, in] as Gemm transB). */
async function referenceCnn(model: st.nn.Module, batch: number): Promise<Uint8Array> {
  const sd = model.stateDict();
  const w = async (k: string) => new Float32Array((await sd[k]!.data()) as Float32Array);
  const inits = [
    tensorProto("w1", [32, 1, 5, 5], await w("0.weight")), tensorProto("b1", [32], await w("0.bias")),
    tensorProto("w2", [64, 32, 5, 5], await w("3.weight")), tensorProto("b2", [64], await w("3.bias")),
    tensorProto("w3", [10, 1024], await w("7.weight")), tensorProto("b3", [10], await w("7.bias")),
  ];
  const pool = () => [intsAttr("kernel_shape", [2, 2]), intsAttr("strides", [2, 2])];
  const nodes = [
    node("Conv", ["input", "w1", "b1"], ["c1"], [intsAttr("kernel_shape", [5, 5])]), node("Relu", ["c1"], ["r1"]), node("MaxPool", ["r1"], ["p1"], pool()),
    node("Conv", ["p1", "w2", "b2"], ["c2"], [intsAttr("kernel_shape", [5, 5])]), node("Relu", ["c2"], ["r2"]), node("MaxPool", ["r2"], ["p2"], pool()),
    node("Flatten", ["p2"], ["f"], [intAttr("axis", 1)]), node("Gemm", ["f", "w3", "b3"], ["output"], [intAttr("transB", 1)]),
  ];
  return modelProto(nodes, inits, [valueInfo("input", [batch, 1, 28, 28])], [valueInfo("output", [batch, 10])]);
}
function referenceMatMul(n: number): Uint8Array {
  return modelProto([node("MatMul", ["a", "b"], ["output"])], [], [valueInfo("a", [n, n]), valueInfo("b", [n, n])], [valueInfo("output", [n, n])]);
}

class MatMul extends st.nn.Module {
  forward(a: st.Tensor, b: st.Tensor): st.Tensor {
    return a.matmul(b);
  }
}

function randomFeed(names: readonly string[], shapes: number[][]): Record<string, ort.Tensor> {
  const feed: Record<string, ort.Tensor> = {};
  names.forEach((name, i) => {
    const shape = shapes[i]!;
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let j = 0; j < data.length; j++) data[j] = Math.random() * 2 - 1;
    feed[name] = new ort.Tensor("float32", data, shape);
  });
  return feed;
}

async function run(): Promise<void> {
  // Seeded before the model is built, so that its weights are the same at every run.
  st.manualSeed(0);
  let model: st.nn.Module, shapes: number[][];
  switch (bench) {
    case "gemm-512": case "gemm-1024": case "gemm-2048":
      model = new MatMul();
      shapes = [[spec.n!, spec.n!], [spec.n!, spec.n!]];
      break;
    case "cnn-infer":
      model = benchCnn();
      shapes = [[spec.batch!, 1, 28, 28]];
      break;
    default:
      return reportSkip(bench, FRAMEWORK, "inference runtime: no training", extra);
  }
  model.eval();
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: ["cpu"],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: "all",
  };
  let session: ort.InferenceSession;
  if (graph === "reference") {
    const bytes = bench === "cnn-infer" ? await referenceCnn(model, spec.batch!) : referenceMatMul(spec.n!);
    session = await ort.InferenceSession.create(bytes, options);
  } else {
    const dir = mkdtempSync(join(tmpdir(), "strata-bench-ort-"));
    const path = join(dir, `${bench}.onnx`);
    try {
      await st.io.saveOnnx(model, shapes.map((s) => st.rand(s)), path);
      session = await ort.InferenceSession.create(path, options);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const feed = randomFeed(session.inputNames, shapes);
  const r = await timeLoopAsync(async () => {
    await session.run(feed);
  }, seconds);
  report(bench, FRAMEWORK, workPerStep(bench), r, extra);
}

await runPeer(bench, FRAMEWORK, run, extra);
