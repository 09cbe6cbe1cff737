/**
 * The benchmarks of bench/README.md in jax-js (@jax-js/jax) on its wasm device. One benchmark per
 * process:
 *
 *   npx tsx bench/frameworks/jax.ts <bench> [--threads N] [--seconds S]
 *
 * Prints one JSON line: { bench, framework: "jax-js", value, unit, ... }.
 *
 * jax-js parallelizes its wasm kernels over a pool of Web Workers sharing one wasm memory, sized by
 * `navigator.hardwareConcurrency`; Node 20 has no global Worker, so ./node-compat.ts supplies one
 * over worker_threads and sets hardwareConcurrency to --threads (default 2; 0 = no workers, every
 * kernel on the main thread). It also adds the ES2025 iterator helpers jax-js's einsum uses (used by
 * its dotProductAttention), which Node 20 lacks. Every step is one `jit`-compiled function (the whole training step:
 * forward, `grad`, SGD update), and the loop awaits `blockUntilReady` on its outputs, so work that
 * runs on the workers is timed to completion.
 */
import { installIteratorHelpers, installWebWorker } from "./node-compat.ts";
import { type BenchName, packageVersion, parseArgs, report, timeLoopAsync, workPerStep, BENCHES, runPeer } from "./common.ts";

const args = parseArgs(process.argv.slice(2));
const bench: BenchName = args.bench;
const threads = Number(args.opts.threads ?? 2);
const seconds = Number(args.opts.seconds ?? 3);
if (threads > 0) installWebWorker(threads);
installIteratorHelpers();

// Imported after the Worker shim is installed: the wasm backend looks for `Worker` when it starts.
const jax = await import("@jax-js/jax");
const { numpy: np, nn, lax, random, tree, jit, grad, blockUntilReady } = jax;
type Arr = InstanceType<typeof jax.Array>;
type Params = { [name: string]: Arr };

await jax.init("wasm");
jax.defaultDevice("wasm");
const spec = BENCHES[bench];
const FRAMEWORK = "jax-js";
const extra = { threads, device: "wasm", version: packageVersion("@jax-js/jax") ?? "?" };


let keyCounter = 0;
function nextKey(): Arr {
  return random.key(1000 + keyCounter++);
}
/** PyTorch's default Linear / Conv init: U(-1/sqrt(fanIn), 1/sqrt(fanIn)). */
function uniform(shape: number[], fanIn: number): Arr {
  const b = 1 / Math.sqrt(fanIn);
  return random.uniform(nextKey(), shape, { minval: -b, maxval: b });
}
function linear(params: Params, name: string, fanIn: number, fanOut: number): void {
  params[`${name}.w`] = uniform([fanIn, fanOut], fanIn);
  params[`${name}.b`] = uniform([fanOut], fanIn);
}
function labels(batch: number): Arr {
  return random.randint(nextKey(), { minval: 0, maxval: 10, shape: [batch] });
}

/** Mean cross-entropy of logits [B, 10] against integer labels [B]. */
function crossEntropy(logits: Arr, y: Arr): Arr {
  const batch = logits.shape[0]!;
  return nn.logSoftmax(logits, -1).mul(nn.oneHot(y, 10)).sum().mul(-1 / batch);
}

/** jit(params, ...data) -> params - lr * grad(loss)(params, ...data): one whole SGD step. */
function sgdStep(loss: (p: Params, ...data: Arr[]) => Arr, lr: number) {
  return jit((p: Params, ...data: Arr[]): Params => {
    const g = grad(loss)(tree.ref(p), ...data);
    return tree.map((w: Arr, dw: Arr) => w.sub(dw.mul(lr)), p, g) as Params;
  });
}

function mlpLoss(p: Params, x: Arr, y: Arr): Arr {
  let h = nn.relu(np.matmul(x, p["l1.w"]!).add(p["l1.b"]!));
  h = nn.relu(np.matmul(h, p["l2.w"]!).add(p["l2.b"]!));
  return crossEntropy(np.matmul(h, p["l3.w"]!).add(p["l3.b"]!), y);
}

function cnnParams(): Params {
  const p: Params = {};
  p["c1.w"] = uniform([32, 1, 5, 5], 25);
  p["c1.b"] = uniform([32, 1, 1], 25);
  p["c2.w"] = uniform([64, 32, 5, 5], 32 * 25);
  p["c2.b"] = uniform([64, 1, 1], 32 * 25);
  linear(p, "fc", 1024, 10);
  return p;
}
function maxPool2(x: Arr): Arr {
  return lax.reduceWindow(x, np.max, [2, 2], [2, 2]);
}
function cnnForward(p: Params, x: Arr): Arr {
  let h = maxPool2(nn.relu(lax.convGeneralDilated(x, p["c1.w"]!, [1, 1], "VALID").add(p["c1.b"]!)));
  h = maxPool2(nn.relu(lax.convGeneralDilated(h, p["c2.w"]!, [1, 1], "VALID").add(p["c2.b"]!)));
  return np.matmul(h.reshape([x.shape[0]!, 1024]), p["fc.w"]!).add(p["fc.b"]!);
}

const D = 256, HEADS = 4, FF = 1024;
function layerNorm(x: Arr, g: Arr, b: Arr): Arr {
  return nn.standardize(x, -1, { epsilon: 1e-5 }).mul(g).add(b);
}
/** nn.TransformerEncoderLayer(256, 4, 1024, dropout 0, ReLU, post-norm, batch_first). */
function encoderLayer(p: Params, x: Arr): Arr {
  const [B, L] = x.shape as [number, number, number];
  const qkv = np.matmul(x.ref, p["in.w"]!).add(p["in.b"]!); // [B, L, 3D]
  const [q, k, v] = np.split(qkv, 3, -1).map((t) => t.reshape([B, L, HEADS, D / HEADS])) as [Arr, Arr, Arr];
  const att = nn.dotProductAttention(q, k, v).reshape([B, L, D]);
  const h = layerNorm(x.add(np.matmul(att, p["out.w"]!).add(p["out.b"]!)), p["ln1.g"]!, p["ln1.b"]!);
  const f = np.matmul(nn.relu(np.matmul(h.ref, p["ff1.w"]!).add(p["ff1.b"]!)), p["ff2.w"]!).add(p["ff2.b"]!);
  return layerNorm(h.add(f), p["ln2.g"]!, p["ln2.b"]!);
}

/** Times training steps, each mapping the parameters to new ones, awaited to completion. */
async function timeTraining(p0: Params, step: (p: Params) => Params): Promise<void> {
  let p = p0;
  const r = await timeLoopAsync(async () => {
    p = step(p);
    await blockUntilReady(p);
  }, seconds);
  report(bench, FRAMEWORK, workPerStep(bench), r, extra);
}

/** Times a call that returns a fresh array (a product, a forward pass), freed after each step. */
async function timeCall(call: () => Arr): Promise<void> {
  const r = await timeLoopAsync(async () => {
    const out = call();
    await blockUntilReady(out);
    out.dispose();
  }, seconds);
  report(bench, FRAMEWORK, workPerStep(bench), r, extra);
}

async function run(): Promise<void> {
  switch (bench) {
    case "gemm-512": case "gemm-1024": case "gemm-2048": {
      const n = spec.n!;
      const a = random.normal(nextKey(), [n, n]), b = random.normal(nextKey(), [n, n]);
      await blockUntilReady([a, b]);
      const mm = jit((x: Arr, y: Arr) => np.matmul(x, y));
      return timeCall(() => mm(a.ref, b.ref));
    }
    case "mlp-train": {
      const p: Params = {};
      linear(p, "l1", 784, 512);
      linear(p, "l2", 512, 512);
      linear(p, "l3", 512, 10);
      const x = random.uniform(nextKey(), [spec.batch!, 784]), y = labels(spec.batch!);
      await blockUntilReady([p, x, y]);
      const step = sgdStep(mlpLoss, 0.01);
      return timeTraining(p, (q) => step(q, x.ref, y.ref));
    }
    case "cnn-train": {
      const p = cnnParams();
      const x = random.uniform(nextKey(), [spec.batch!, 1, 28, 28]), y = labels(spec.batch!);
      await blockUntilReady([p, x, y]);
      const step = sgdStep((q, xx, yy) => crossEntropy(cnnForward(q, xx), yy), 0.01);
      return timeTraining(p, (q) => step(q, x.ref, y.ref));
    }
    case "cnn-infer": {
      const p = cnnParams();
      const x = random.uniform(nextKey(), [spec.batch!, 1, 28, 28]);
      await blockUntilReady([p, x]);
      const fwd = jit(cnnForward);
      return timeCall(() => fwd(tree.ref(p), x.ref));
    }
    case "transformer-train": {
      const p: Params = {};
      linear(p, "in", D, 3 * D);
      linear(p, "out", D, D);
      linear(p, "ff1", D, FF);
      linear(p, "ff2", FF, D);
      for (const ln of ["ln1", "ln2"]) {
        p[`${ln}.g`] = np.ones([D]);
        p[`${ln}.b`] = np.zeros([D]);
      }
      const x = random.normal(nextKey(), [spec.batch!, spec.seq!, D]);
      await blockUntilReady([p, x]);
      const step = sgdStep((q: Params, xx: Arr) => np.square(encoderLayer(q, xx)).mean(), 0.01);
      return timeTraining(p, (q) => step(q, x.ref));
    }
  }
}

// The worker pool's threads are unref'd, but jax-js may hold other handles: runPeer exits.
await runPeer(bench, FRAMEWORK, run, extra);
