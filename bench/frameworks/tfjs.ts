/**
 * The benchmarks of bench/README.md in TensorFlow.js on its wasm backend (@tensorflow/tfjs-backend-wasm:
 * XNNPACK, SIMD). One benchmark per process:
 *
 *   npx tsx bench/frameworks/tfjs.ts <bench> [--threads N] [--seconds S]
 *
 * Prints one JSON line: { bench, framework: "tfjs-wasm", value, unit, ... }.
 *
 * Threads: tfjs-backend-wasm runs its multi-threaded binary only where it detects cross-origin-isolated
 * browsers; in Node it forces the single-threaded SIMD binary (flag WASM_HAS_MULTITHREAD_SUPPORT is
 * false under IS_NODE), and its XNNPACK pool is capped at (logical cores / 2), assuming SMT. For
 * --threads N > 1 (default 2) this script loads the threaded SIMD binary anyway: it sets the flag,
 * gives Emscripten's pthread pool a worker script file in a temp dir (tfjs hands it a blob: URL,
 * which Node's worker_threads cannot load), and reports 2N logical cores while the backend starts,
 * so that `setThreadsCount(N)` takes effect. The line records `threads` as the backend reports it
 * (getThreadsCount()). --threads 1 runs the stock single-threaded SIMD binary.
 *
 * Layouts are tfjs's own (NHWC); layers use tfjs's fused ops where it has them (matMul + bias + ReLU,
 * conv2d + bias + ReLU). The wasm backend executes every op synchronously, so a step is done when
 * its call returns.
 */
import * as tf from "@tensorflow/tfjs";
import * as tfwasm from "@tensorflow/tfjs-backend-wasm";
import os from "node:os";
import { createRequire } from "node:module";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BENCHES, type BenchName, packageVersion, parseArgs, report, reportSkip, timeLoop, workPerStep, runPeer } from "./common.ts";

const args = parseArgs(process.argv.slice(2));
const bench: BenchName = args.bench;
const wantThreads = Number(args.opts.threads ?? 2);
const seconds = Number(args.opts.seconds ?? 3);
const spec = BENCHES[bench];
const FRAMEWORK = "tfjs-wasm";
const req = createRequire(import.meta.url);


/** Starts the wasm backend; with threads > 1, its threaded SIMD binary (see the header). */
async function startBackend(threads: number): Promise<void> {
  if (threads <= 1) {
    tfwasm.setThreadsCount(1);
    await tf.setBackend("wasm");
    return;
  }
  const factoryPath = req.resolve("@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js");
  const { wasmWorkerContents } = req("@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.worker.js") as { wasmWorkerContents: string };
  const dir = mkdtempSync(join(tmpdir(), "strata-bench-tfjs-"));
  const workerFile = join(dir, "pthread-worker.js");
  // The worker script as tfjs would put it in its blob (newlines inside its string literals
  // escaped), with the Emscripten factory loaded from the package instead of from a Blob that
  // Node's worker cannot import.
  writeFileSync(workerFile, [
    `var WasmBackendModuleThreadedSimd = require(${JSON.stringify(factoryPath)});`,
    wasmWorkerContents.replace(/\n/g, "\\n"),
    `global.importScripts = ((load) => (f) => (String(f).startsWith("blob:") ? undefined : load(f)))(global.importScripts);`,
  ].join("\n"));
  const createObjectURL = URL.createObjectURL;
  const cpus = os.cpus;
  URL.createObjectURL = ((blob: Blob) => (blob.type === "application/javascript" ? workerFile : createObjectURL(blob))) as typeof URL.createObjectURL;
  os.cpus = () => Array.from({ length: 2 * threads }, (_, i) => cpus()[i % cpus().length]!);
  try {
    tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", true);
    tfwasm.setThreadsCount(threads);
    if (!(await tf.setBackend("wasm"))) throw new Error("tf.setBackend('wasm') failed");
  } finally {
    URL.createObjectURL = createObjectURL;
    os.cpus = cpus;
    // The workers have read the script by the time the backend is up.
    rmSync(dir, { recursive: true, force: true });
  }
}

type V = tf.Variable;
/** PyTorch's default init, U(-1/sqrt(fanIn), 1/sqrt(fanIn)). */
function param(shape: number[], fanIn: number): V {
  const b = 1 / Math.sqrt(fanIn);
  return tf.variable(tf.randomUniform(shape, -b, b, "float32", 1 + shape.length * 7 + shape[0]!));
}
function labels(batch: number): tf.Tensor1D {
  return tf.randomUniform([batch], 0, 10, "int32", 5) as tf.Tensor1D;
}
function crossEntropy(logits: tf.Tensor2D, y: tf.Tensor1D): tf.Scalar {
  return tf.losses.softmaxCrossEntropy(tf.oneHot(y, 10), logits);
}
function dense(x: tf.Tensor2D, w: V, b: V, relu: boolean): tf.Tensor2D {
  return tf.fused.matMul({ a: x, b: w as tf.Tensor2D, bias: b, activation: relu ? "relu" : "linear" }) as tf.Tensor2D;
}
function sgdStep(vars: V[], loss: () => tf.Scalar): () => void {
  const opt = tf.train.sgd(0.01);
  return () => tf.tidy(() => { opt.minimize(loss, false, vars); });
}

function cnnParams(): V[] {
  return [param([5, 5, 1, 32], 25), param([32], 25), param([5, 5, 32, 64], 32 * 25), param([64], 32 * 25), param([1024, 10], 1024), param([10], 1024)];
}
function cnnForward(p: V[], x: tf.Tensor4D): tf.Tensor2D {
  const [c1w, c1b, c2w, c2b, fw, fb] = p as [V, V, V, V, V, V];
  let h = tf.fused.conv2d({ x, filter: c1w as tf.Tensor4D, strides: 1, pad: "valid", bias: c1b, activation: "relu" });
  h = tf.maxPool(h, 2, 2, "valid");
  h = tf.fused.conv2d({ x: h, filter: c2w as tf.Tensor4D, strides: 1, pad: "valid", bias: c2b, activation: "relu" });
  h = tf.maxPool(h, 2, 2, "valid");
  return dense(tf.reshape(h, [x.shape[0], 1024]), fw, fb, false);
}

const D = 256, HEADS = 4, FF = 1024;
function layerNorm(x: tf.Tensor2D, g: V, b: V): tf.Tensor2D {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5))), g), b) as tf.Tensor2D;
}
/** nn.TransformerEncoderLayer(256, 4, 1024, dropout 0, ReLU, post-norm, batch_first), from tf ops. */
function encoderLayer(p: Record<string, V>, x: tf.Tensor3D): tf.Tensor2D {
  const [B, L] = x.shape;
  const dh = D / HEADS;
  const x2 = tf.reshape(x, [B * L, D]) as tf.Tensor2D;
  const qkv = tf.transpose(tf.reshape(dense(x2, p.inW!, p.inB!, false), [B, L, 3, HEADS, dh]), [2, 0, 3, 1, 4]); // [3, B, H, L, dh]
  const [q, k, v] = tf.unstack(qkv, 0) as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
  const scores = tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(dh));
  const ctx = tf.matMul(tf.softmax(scores), v); // [B, H, L, dh]
  const att = tf.reshape(tf.transpose(ctx, [0, 2, 1, 3]), [B * L, D]) as tf.Tensor2D;
  const h = layerNorm(tf.add(x2, dense(att, p.outW!, p.outB!, false)), p.ln1g!, p.ln1b!);
  const f = dense(dense(h, p.ff1W!, p.ff1B!, true), p.ff2W!, p.ff2B!, false);
  return layerNorm(tf.add(h, f), p.ln2g!, p.ln2b!);
}

function run(): void {
  const extra = { threads: tfwasm.getThreadsCount(), simd: tf.env().getBool("WASM_HAS_SIMD_SUPPORT"), version: (packageVersion("@tensorflow/tfjs-backend-wasm") ?? "?") };
  switch (bench) {
    case "gemm-512": case "gemm-1024": case "gemm-2048": {
      const n = spec.n!;
      const a = tf.randomNormal([n, n]), b = tf.randomNormal([n, n]);
      const r = timeLoop(() => tf.matMul(a, b).dispose(), seconds);
      return report(bench, FRAMEWORK, workPerStep(bench), r, extra);
    }
    case "mlp-train": {
      const p = [param([784, 512], 784), param([512], 784), param([512, 512], 512), param([512], 512), param([512, 10], 512), param([10], 512)];
      const x = tf.randomUniform([spec.batch!, 784]) as tf.Tensor2D, y = labels(spec.batch!);
      const loss = () => {
        const [w1, b1, w2, b2, w3, b3] = p as [V, V, V, V, V, V];
        return crossEntropy(dense(dense(dense(x, w1, b1, true), w2, b2, true), w3, b3, false), y);
      };
      const r = timeLoop(sgdStep(p, loss), seconds);
      return report(bench, FRAMEWORK, workPerStep(bench), r, extra);
    }
    case "cnn-train": {
      const p = cnnParams();
      const x = tf.randomUniform([spec.batch!, 28, 28, 1]) as tf.Tensor4D, y = labels(spec.batch!);
      const step = sgdStep(p, () => crossEntropy(cnnForward(p, x), y));
      try {
        step();
      } catch (e) {
        const msg = (e as Error).message ?? String(e);
        if (/Conv2DBackpropFilter/.test(msg)) {
          return reportSkip(bench, FRAMEWORK, "tfjs-backend-wasm has no Conv2DBackpropFilter kernel (conv weight gradient): conv training is unsupported on wasm", extra);
        }
        throw e;
      }
      const r = timeLoop(step, seconds);
      return report(bench, FRAMEWORK, workPerStep(bench), r, extra);
    }
    case "cnn-infer": {
      const p = cnnParams();
      const x = tf.randomUniform([spec.batch!, 28, 28, 1]) as tf.Tensor4D;
      const r = timeLoop(() => tf.tidy(() => { cnnForward(p, x); }), seconds);
      return report(bench, FRAMEWORK, workPerStep(bench), r, extra);
    }
    case "transformer-train": {
      const p: Record<string, V> = {
        inW: param([D, 3 * D], D), inB: param([3 * D], D), outW: param([D, D], D), outB: param([D], D),
        ff1W: param([D, FF], D), ff1B: param([FF], D), ff2W: param([FF, D], FF), ff2B: param([D], FF),
        ln1g: tf.variable(tf.ones([D])), ln1b: tf.variable(tf.zeros([D])), ln2g: tf.variable(tf.ones([D])), ln2b: tf.variable(tf.zeros([D])),
      };
      const x = tf.randomNormal([spec.batch!, spec.seq!, D]) as tf.Tensor3D;
      const step = sgdStep(Object.values(p), () => tf.mean(tf.square(encoderLayer(p, x))) as tf.Scalar);
      const r = timeLoop(step, seconds);
      return report(bench, FRAMEWORK, workPerStep(bench), r, { ...extra, note: "encoder layer written with tf ops (tfjs has no multi-head attention layer)" });
    }
  }
}

// Emscripten's pthread workers would keep the process alive: runPeer exits.
await runPeer(bench, FRAMEWORK, async () => {
  await startBackend(wantThreads);
  run();
}, { threadsRequested: wantThreads });
