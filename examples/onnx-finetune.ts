/**
 * Fine-tunes an imported ONNX model: a frozen backbone with a new head, trained on new data.
 *
 *   apt-get install dataset-fashion-mnist    (the IDX files, in /usr/share/datasets/fashion-mnist)
 *   npx tsx examples/onnx-finetune.ts
 *
 * 1. Pretraining: a small CNN learns handwritten digits (`st.data.mnistDigits()`, 8,000 training
 *    images, 1 epoch); its convolutional backbone (everything up to the 256 features before the
 *    classifier) is exported with `st.io.saveOnnx` to runs/onnx-finetune/digits-backbone.onnx.
 * 2. Import: `st.io.loadOnnx` gives a Module whose initializers are Parameters under their ONNX
 *    names (the backbone's state-dict names). `requiresGrad_(false)` freezes them all.
 * 3. Transfer: a new Linear head on the frozen features learns Fashion-MNIST (10 kinds of clothes)
 *    from 12,000 training images for 2 epochs; accuracy is measured on 2,000 held-out test images
 *    before (random head) and after. Only the head's 2,570 numbers change; the backbone is checked
 *    to be bit-for-bit unchanged.
 *
 * Expected output (2 cores, js backend, about 2 minutes; seed 0):
 *   digits CNN: 96.0% on 2000 held-out digits; backbone exported to runs/onnx-finetune/digits-backbone.onnx (40.8 KiB)
 *   imported backbone: 12 initializers (0.weight, 0.bias, 1.running_mean, ...), all frozen: true
 *   Fashion-MNIST held-out accuracy before fine-tuning: 6.7% (random head, 2000 test images)
 *   Fashion-MNIST held-out accuracy after fine-tuning:  82.4% (2 epochs on 12000 images, 33 s; backbone unchanged: true)
 *
 * The backbone is exported with `dynamicAxes: { image: { 0: "batch" } }`: traced at batch 1, it
 * runs at the fine-tuning batch (32) and the evaluation batch (500).
 */
import { mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import * as st from "../src/index.ts";

const config = {
  out: "runs/onnx-finetune",
  seed: 0,
  pretrainEpochs: 1,
  finetuneEpochs: 2,
  finetuneSamples: 12000,
  testSamples: 2000,
  batchSize: 32,
  lr: 3e-3,
};
mkdirSync(config.out, { recursive: true });
st.manualSeed(config.seed);
const nn = st.nn;

// ---- 1. pretrain on digits, export the backbone ----
const digits = await st.data.mnistDigits(); // x: [N, 1, 28, 28] in [0, 1], y: [N] int64
const backbone = new nn.Sequential(
  new nn.Conv2d(1, 8, 5), new nn.BatchNorm2d(8), new nn.ReLU(), new nn.MaxPool2d(2), //    [B, 8, 12, 12]
  new nn.Conv2d(8, 16, 5), new nn.BatchNorm2d(16), new nn.ReLU(), new nn.MaxPool2d(2), // [B, 16, 4, 4]
  new nn.Flatten(), //                                                                    [B, 256]
);
const digitsModel = new nn.Sequential(backbone, new nn.Linear(256, 10));
await st.train.fit(digitsModel, {
  data: new st.data.DataLoader(digits.train, { batchSize: config.batchSize, shuffle: true, seed: config.seed }),
  loss: "crossEntropy", optimizer: new st.optim.Adam(digitsModel.parameters(), { lr: config.lr }),
  epochs: config.pretrainEpochs, metrics: ["accuracy"], log: false,
});
const digitsAcc = (await st.train.evaluate(digitsModel, new st.data.DataLoader(digits.test, { batchSize: 500 }), { metrics: ["accuracy"], log: false })).accuracy as number;
const onnxPath = join(config.out, "digits-backbone.onnx");
await st.io.saveOnnx(backbone.eval(), [st.zeros([1, 1, 28, 28])], onnxPath, { inputNames: ["image"], outputNames: ["features"], dynamicAxes: { image: { 0: "batch" } } });
console.log(`digits CNN: ${(digitsAcc * 100).toFixed(1)}% on ${digits.test.length} held-out digits; backbone exported to ${onnxPath} (${(statSync(onnxPath).size / 1024).toFixed(1)} KiB)`);

// ---- 2. import and freeze ----
const imported = await st.io.loadOnnx(onnxPath);
imported.requiresGrad_(false);
const frozen = imported.parameters();
console.log(`imported backbone: ${frozen.length} initializers (${Object.keys(imported.stateDict()).join(", ")}), all frozen: ${frozen.every((p) => !p.requiresGrad)}`);
const before = new Map(Object.entries(imported.stateDict()).map(([k, v]) => [k, Float64Array.from(v.dataSync() as ArrayLike<number>)]));

// ---- 3. new head on Fashion-MNIST ----
const fashion = await st.data.fashionMnist();
const pick = (n: number, total: number) => Int32Array.from({ length: n }, (_, i) => Math.floor((i * total) / n)); // spread over the set
const trainSet = new st.data.Subset(fashion.train, pick(config.finetuneSamples, fashion.train.length));
const testSet = new st.data.Subset(fashion.test, pick(config.testSamples, fashion.test.length));
const head = new nn.Linear(256, 10);
const model = new nn.Sequential(imported, head); // [B, 1, 28, 28] -> [B, 256] -> [B, 10]
const testLoader = new st.data.DataLoader(testSet, { batchSize: 500 });
const accuracy = async () => (await st.train.evaluate(model, testLoader, { metrics: ["accuracy"], log: false })).accuracy as number;

const acc0 = await accuracy();
console.log(`Fashion-MNIST held-out accuracy before fine-tuning: ${(acc0 * 100).toFixed(1)}% (random head, ${testSet.length} test images)`);
const result = await st.train.fit(model, {
  data: new st.data.DataLoader(trainSet, { batchSize: config.batchSize, shuffle: true, seed: config.seed }),
  loss: "crossEntropy", optimizer: new st.optim.Adam(head.parameters(), { lr: config.lr }),
  epochs: config.finetuneEpochs, metrics: ["accuracy"], log: false,
});
imported.eval(); // fit leaves the model in train mode; evaluate switches anyway
const acc1 = await accuracy();
const unchanged = [...before].every(([k, v]) => {
  const now = imported.stateDict()[k]!.dataSync() as ArrayLike<number>;
  return v.every((x, i) => x === now[i]);
});
console.log(`Fashion-MNIST held-out accuracy after fine-tuning:  ${(acc1 * 100).toFixed(1)}% (${config.finetuneEpochs} epochs on ${trainSet.length} images, ${result.seconds.toFixed(1)} s; backbone unchanged: ${unchanged})`);
