/**
 * Trains a small CNN (two conv layers with batch norm, then a hidden layer) on Fashion-MNIST:
 * 60,000 training and 10,000 test images of clothes, 28x28, 10 classes, read from the IDX files by
 * `st.data.fashionMnist()`.
 *
 * Run:   apt-get install dataset-fashion-mnist      (the IDX files, in /usr/share/datasets/fashion-mnist)
 *        npx tsx examples/fashion-mnist.ts          (--epochs N, --out DIR, --resume, --data-dir DIR)
 * Writes runs/fashion-mnist/ (git-ignored): checkpoints (a run stopped at any moment continues
 *        exactly with --resume), model.safetensors, log.jsonl, report.json.
 * Expected result (2 cores of an AMD EPYC, Node 20, js backend): test accuracy 86.55% after epoch 1,
 * 89.67% after epoch 6, 90.45% (9045/10000) after epoch 8 (the run is deterministic); about 330
 * training images/s, 3 minutes per epoch, 25 min 10 s in all. (5 epochs give 89.89%.)
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import * as st from "../src/index.ts";

const args = parseArgs({ options: { epochs: { type: "string" }, out: { type: "string" }, resume: { type: "boolean" }, "data-dir": { type: "string" } } }).values;
const config = {
  epochs: Number(args.epochs ?? 8),
  batchSize: 64,
  lr: 3e-3,
  seed: 0,
  out: args.out ?? "runs/fashion-mnist",
};

const { train, test } = await st.data.fashionMnist(args["data-dir"]); // x: [N, 1, 28, 28] float32 in [0, 1], y: [N] int64
const trainLoader = new st.data.DataLoader(train, { batchSize: config.batchSize, shuffle: true, seed: config.seed });
const testLoader = new st.data.DataLoader(test, { batchSize: 500 });
console.log(`data: ${train.length} training images, ${test.length} test images (${st.data.FASHION_MNIST_CLASSES.join(", ")})`);

st.manualSeed(config.seed);
const model = new st.nn.Sequential(
  new st.nn.Conv2d(1, 8, 5), new st.nn.BatchNorm2d(8), new st.nn.ReLU(), new st.nn.MaxPool2d(2), //   [B, 8, 12, 12]
  new st.nn.Conv2d(8, 16, 5), new st.nn.BatchNorm2d(16), new st.nn.ReLU(), new st.nn.MaxPool2d(2), // [B, 16, 4, 4]
  new st.nn.Flatten(), new st.nn.Linear(16 * 4 * 4, 128), new st.nn.ReLU(), //                      [B, 128]
  new st.nn.Linear(128, 10), //                                                                       [B, 10]
);
console.log(model.summary());
const optimizer = new st.optim.Adam(model.parameters(), { lr: config.lr });
const scheduler = new st.optim.CosineAnnealingLR(optimizer, config.epochs);

const result = await st.train.fit(model, {
  data: trainLoader, valData: testLoader, loss: "crossEntropy", optimizer, scheduler, epochs: config.epochs, metrics: ["accuracy"],
  callbacks: [
    new st.train.ModelCheckpoint({ dir: config.out, everySteps: 500, everyEpochs: 1, keepLast: 2 }),
    new st.train.JsonLogger(join(config.out, "log.jsonl"), { everySteps: 50 }),
  ],
  resume: args.resume ? config.out : null,
});

const final = await st.train.evaluate(model, testLoader, { loss: "crossEntropy", metrics: ["accuracy", "confusionMatrix:10"], log: false });
const accuracy = final.accuracy as number, confusion = final.confusionMatrix as number[][];
await st.io.saveFile(model.stateDict(), join(config.out, "model.safetensors"), { format: "pt", "strata.data": "fashion-mnist" });
writeFileSync(join(config.out, "report.json"), `${JSON.stringify({ testAccuracy: accuracy, testLoss: final.loss, steps: result.step, trainSeconds: result.seconds, config, history: result.history, confusionMatrix: confusion }, null, 2)}\n`);
console.log("per-class test accuracy:");
confusion.forEach((row, c) => console.log(`  ${st.data.FASHION_MNIST_CLASSES[c]!.padEnd(12)} ${((row[c]! / row.reduce((a, b) => a + b, 0)) * 100).toFixed(1)}%`));
console.log(`final test accuracy: ${(accuracy * 100).toFixed(2)}% (${Math.round(accuracy * test.length)}/${test.length}) after ${result.step} steps; training took ${result.seconds.toFixed(1)} s`);
