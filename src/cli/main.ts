/**
 * The `strata` command: train, evaluate and run the built-in models on the built-in datasets,
 * and look inside safetensors files.
 *
 *     strata train --model cnn --data mnist --epochs 3 --out runs/cnn
 *     strata eval runs/cnn
 *     strata predict runs/cnn --count 10
 *     strata summary runs/cnn/model.safetensors
 *
 * Run from a checkout with `node bin/strata.mjs ...` (or `npm run strata -- ...`, or `strata`
 * after `npm link`).
 */
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { dirname, join } from "node:path";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { DataLoader } from "../data/loader.ts";
import { randomSplit, type TensorDataset, TransformDataset } from "../data/dataset.ts";
import { randomCrop } from "../data/transforms.ts";
import { readImage } from "../data/image.ts";
import { StrataError } from "../ir/errors.ts";
import type { Module } from "../nn/module.ts";
import { Adam } from "../optim/adam.ts";
import { CosineAnnealingLR } from "../optim/lr-scheduler.ts";
import { SGD } from "../optim/sgd.ts";
import { noGrad } from "../autograd/grad-mode.ts";
import { loadFileWithMetadata, saveFile } from "../io/safetensors.ts";
import { manualSeed } from "../tensor/random.ts";
import { stack } from "../tensor/movement.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { JsonLogger, latestCheckpoint, ModelCheckpoint } from "../train/callbacks.ts";
import { CHECKPOINT_KEY } from "../train/checkpoint.ts";
import { evaluate, fit } from "../train/fit.ts";
import type { ProgressMode } from "../train/progress.ts";
import { formatDuration } from "../train/progress.ts";
import { DATASETS, dataPreset, defaultSettings, MODELS, modelPreset } from "./presets.ts";
import { summarize } from "./summary.ts";

/** A mistake on the command line: printed without a stack trace, exit code 2. */
class UsageError extends Error {}

const out = (s: string) => process.stdout.write(`${s}\n`);

const MAIN_HELP = `strata: train, evaluate and inspect models

Usage: strata <command> [options]     (strata <command> --help for its options)

Commands:
  train      train a built-in model on a built-in dataset, writing checkpoints and a report
  eval       evaluate a trained model (a run folder or a weights file) on a dataset
  predict    classify test images or PNG/JPEG files with a trained model
  summary    list the tensors, dtypes, shapes, sizes and metadata of a .safetensors file

Models:   ${Object.keys(MODELS).join(", ")}
Datasets: ${Object.keys(DATASETS).join(", ")}`;

const TRAIN_HELP = `Usage: strata train [options]

Trains a built-in model and writes into --out: config.json, checkpoints (ckpt-<step>.safetensors,
the last --keep of them), model.safetensors (the final weights, PyTorch state-dict names),
log.jsonl (one JSON object per step and per epoch), report.json and report.md.

Options:
  --model <name>            ${Object.entries(MODELS).map(([k, m]) => `${k}: ${m.description}`).join("\n                            ")}
                            (default cnn)
  --data <name>             ${Object.entries(DATASETS).map(([k, d]) => `${k}: ${d.description}`).join("\n                            ")}
                            (default mnist)
  --data-dir <dir>          where the dataset's files are (fashion-mnist)
  --epochs <n>              (default: 6 for cnn on mnist, 2 on fashion-mnist; 10 and 5 for mlp)
  --batch-size <n>
  --optimizer <adam|sgd>
  --lr <x>                  learning rate (with a cosine schedule over the epochs)
  --shift <px>              shift training images by up to px pixels at random (default 2 for cnn on mnist)
  --seed <n>                random seed for initialization and shuffling (default 0)
  --limit <n>               train on n training samples only, picked at random (quick runs)
  --out <dir>               the run folder (default runs/<model>-<data>)
  --checkpoint-every <n>    also checkpoint every n steps (default: after every epoch)
  --keep <k>                checkpoints to keep (default 3)
  --resume                  continue from the newest checkpoint in --out (a killed run resumes exactly)
  --log <mode>              progress display: auto, bar, lines, none (default auto)
  -h, --help`;

const EVAL_HELP = `Usage: strata eval <run-folder | weights.safetensors> [options]

Evaluates a trained model: loss, accuracy, top-2 accuracy, per-class accuracy and the confusion
matrix. A run folder gives its model and dataset (config.json) and its final weights
(model.safetensors, else the newest checkpoint); for a file, give --model and --data unless it
was written by strata train.

Options:
  --model <name>  --data <name>  --data-dir <dir>
  --split <test|train>      (default test)
  --batch-size <n>          (default 500)
  --json                    print the results as JSON
  -h, --help`;

const PREDICT_HELP = `Usage: strata predict <run-folder | weights.safetensors> [options]

Classifies images with a trained model: the first --count images of the test split (from
--offset), or the given PNG/JPEG files (28x28; color is converted to gray; light digits on a dark
background, as in MNIST). Prints one line per image: the predicted class, its probability and,
for test images, the true label.

Options:
  --image <file>            an image to classify (repeatable); without it, test images are used
  --count <n>               (default 10)
  --offset <i>              (default 0)
  --model <name>  --data <name>  --data-dir <dir>
  --json                    print the predictions as JSON
  -h, --help`;

const SUMMARY_HELP = `Usage: strata summary <file.safetensors>

Lists every tensor of a safetensors file (name, dtype, shape, element count, bytes), the totals
(for a Strata checkpoint: weights and training state apart), and the metadata. Only the header
is read, and it is validated (a corrupt file gets a clear error).

Options:
  -h, --help`;

function parse<T extends NonNullable<ParseArgsConfig["options"]>>(args: string[], options: T, help: string) {
  try {
    return parseArgs({ args, options: { ...options, help: { type: "boolean", short: "h" } }, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n\n${help}`);
  }
}

function int(name: string, v: string | undefined, min = 0): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min}, got '${v}'`);
  return n;
}
function float(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${name} must be a positive number, got '${v}'`);
  return n;
}

/** What a run folder's config.json holds. */
interface RunConfig {
  model: string;
  data: string;
  dataDir?: string;
  epochs: number;
  batchSize: number;
  optimizer: "adam" | "sgd";
  lr: number;
  shift: number;
  seed: number;
  limit?: number;
}

const forward = (m: Module) => (x: Tensor): Tensor => (m as unknown as { forward(x: Tensor): Tensor }).forward(x);

// ---- train ----

async function train(args: string[]): Promise<void> {
  const { values: v } = parse(args, {
    model: { type: "string" }, data: { type: "string" }, "data-dir": { type: "string" }, epochs: { type: "string" },
    "batch-size": { type: "string" }, optimizer: { type: "string" }, lr: { type: "string" }, seed: { type: "string" },
    limit: { type: "string" }, shift: { type: "string" }, out: { type: "string" }, "checkpoint-every": { type: "string" }, keep: { type: "string" },
    resume: { type: "boolean" }, log: { type: "string" },
  }, TRAIN_HELP);
  if (v.help) {
    out(TRAIN_HELP);
    return;
  }
  const modelName = v.model ?? "cnn", dataName = v.data ?? "mnist";
  const preset = modelPreset(modelName), dataset = dataPreset(dataName);
  const defaults = defaultSettings(modelName, dataName);
  const runDir = v.out ?? join("runs", `${modelName}-${dataName}`);
  if (v.optimizer !== undefined && v.optimizer !== "adam" && v.optimizer !== "sgd") throw new UsageError(`--optimizer must be adam or sgd, got '${v.optimizer}'`);
  const log = (v.log ?? "auto") as ProgressMode | "auto";
  if (!["auto", "bar", "lines", "none"].includes(log)) throw new UsageError(`--log must be auto, bar, lines or none, got '${v.log}'`);
  let cfg: RunConfig = {
    model: modelName, data: dataName, dataDir: v["data-dir"],
    epochs: int("epochs", v.epochs, 1) ?? defaults.epochs,
    batchSize: int("batch-size", v["batch-size"], 1) ?? defaults.batchSize,
    optimizer: (v.optimizer as RunConfig["optimizer"] | undefined) ?? defaults.optimizer,
    lr: float("lr", v.lr) ?? defaults.lr,
    shift: int("shift", v.shift) ?? defaults.shift,
    seed: int("seed", v.seed) ?? 0,
    limit: int("limit", v.limit, 1),
  };
  const cfgPath = join(runDir, "config.json");
  if (v.resume && existsSync(cfgPath)) {
    // A resumed run keeps its settings (a new --epochs may extend it).
    const saved = JSON.parse(readFileSync(cfgPath, "utf8")) as RunConfig;
    cfg = { ...saved, epochs: int("epochs", v.epochs, 1) ?? saved.epochs };
  }
  mkdirSync(runDir, { recursive: true });
  writeFileSync(cfgPath, `${JSON.stringify(cfg, null, 2)}\n`);

  manualSeed(cfg.seed);
  const { train: trainSet, test } = await dataPreset(cfg.data).load({ dataDir: cfg.dataDir });
  // --limit: a random subset (fixed by the seed; the sets are ordered by class).
  const trainData = cfg.limit && cfg.limit < trainSet.length ? randomSplit(trainSet, [cfg.limit, trainSet.length - cfg.limit], { seed: cfg.seed })[0]! : trainSet;
  const augmented = cfg.shift ? new TransformDataset(trainData, randomCrop(28, cfg.shift)) : trainData;
  const loader = new DataLoader(augmented, { batchSize: cfg.batchSize, shuffle: true, seed: cfg.seed });
  const testLoader = new DataLoader(test, { batchSize: 500 });
  const model = modelPreset(cfg.model).make();
  const optimizer = cfg.optimizer === "adam" ? new Adam(model.parameters(), { lr: cfg.lr }) : new SGD(model.parameters(), { lr: cfg.lr, momentum: 0.9 });
  const scheduler = new CosineAnnealingLR(optimizer, cfg.epochs);
  const every = int("checkpoint-every", v["checkpoint-every"], 1);
  const ckpt = new ModelCheckpoint({ dir: runDir, everySteps: every, everyEpochs: 1, keepLast: int("keep", v.keep, 1) ?? 3 });
  const params = model.parameters().reduce((a, p) => a + p.numel(), 0);
  out(`strata train: ${cfg.model} (${params.toLocaleString("en-US")} parameters) on ${cfg.data} (${trainData.length.toLocaleString("en-US")} train, ${test.length.toLocaleString("en-US")} test), ${cfg.epochs} epochs, batch ${cfg.batchSize}, ${cfg.optimizer} lr ${cfg.lr} (cosine)${cfg.shift ? `, shifts up to ${cfg.shift} px` : ""}, seed ${cfg.seed}; run folder ${runDir}`);
  const t0 = performance.now();
  const result = await fit(model, {
    data: loader, valData: testLoader, loss: "crossEntropy", optimizer, scheduler, epochs: cfg.epochs, metrics: ["accuracy"],
    callbacks: [ckpt, new JsonLogger(join(runDir, "log.jsonl"))], resume: v.resume ? runDir : null, log: log === "auto" ? undefined : log,
  });
  const final = await evaluate(model, testLoader, { loss: "crossEntropy", metrics: ["accuracy", "confusionMatrix:10"], log: "none" });
  const seconds = (performance.now() - t0) / 1000;
  await saveFile(model.stateDict(), join(runDir, "model.safetensors"), { format: "pt", "strata.model": cfg.model, "strata.data": cfg.data });
  const acc = final.accuracy as number, cm = final.confusionMatrix as number[][];
  const report = {
    model: cfg.model, data: cfg.data, parameters: params, config: cfg, steps: result.step, epochs: result.epochs,
    test: { loss: final.loss, accuracy: acc, correct: Math.round(acc * test.length), samples: test.length, confusionMatrix: cm },
    history: result.history, seconds: Number(seconds.toFixed(1)),
    machine: { node: process.version, cpus: cpus().length, cpu: cpus()[0]?.model ?? "unknown" },
    checkpoint: ckpt.saved.at(-1) ?? latestCheckpoint(runDir), weights: join(runDir, "model.safetensors"),
  };
  writeFileSync(join(runDir, "report.json"), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(runDir, "report.md"), reportMarkdown(report, dataset.classes));
  out(`test accuracy ${(acc * 100).toFixed(2)}% (${report.test.correct}/${test.length}), loss ${(final.loss as number).toFixed(4)}; ${result.step} steps in ${formatDuration(seconds)}`);
  out(`wrote ${report.weights}, ${report.checkpoint}, ${join(runDir, "report.md")}`);
}

function reportMarkdown(r: { model: string; data: string; parameters: number; config: RunConfig; steps: number; seconds: number; test: { loss: number | number[][]; accuracy: number; correct: number; samples: number; confusionMatrix: number[][] }; history: Record<string, unknown>[]; machine: { node: string; cpus: number; cpu: string } }, classes: readonly string[]): string {
  const pct = (x: unknown) => (typeof x === "number" ? `${(x * 100).toFixed(2)}%` : "");
  const lines = [
    `# ${r.model} on ${r.data}`, "",
    `Test accuracy **${pct(r.test.accuracy)}** (${r.test.correct}/${r.test.samples}), test loss ${(r.test.loss as number).toFixed(4)}.`, "",
    `${r.parameters.toLocaleString("en-US")} parameters; ${r.config.epochs} epochs of batch ${r.config.batchSize}, ${r.config.optimizer} lr ${r.config.lr}, seed ${r.config.seed}; ${r.steps} steps in ${r.seconds} s on ${r.machine.cpus} cores (${r.machine.cpu}, Node ${r.machine.node}).`, "",
    "| epoch | loss | accuracy | test loss | test accuracy | samples/s | seconds |", "|---|---|---|---|---|---|---|",
    ...r.history.map((h) => `| ${h.epoch} | ${(h.loss as number).toFixed(4)} | ${pct(h.accuracy)} | ${(h.valLoss as number).toFixed(4)} | ${pct(h.valAccuracy)} | ${h.samplesPerSec} | ${h.time} |`),
    "", "Confusion matrix (rows: true class, columns: predicted):", "",
    `| | ${classes.map((_, i) => i).join(" | ")} | accuracy |`, `|---|${classes.map(() => "---|").join("")}---|`,
    ...r.test.confusionMatrix.map((row, t) => `| ${t} ${classes[t] !== String(t) ? classes[t] : ""} | ${row.join(" | ")} | ${pct(row[t]! / Math.max(1, row.reduce((a, b) => a + b, 0)))} |`),
    "",
  ];
  return lines.join("\n");
}

// ---- eval / predict: a trained model ----

interface Trained {
  model: Module;
  cfg: Pick<RunConfig, "model" | "data" | "dataDir">;
  weightsPath: string;
}

async function loadTrained(target: string | undefined, v: { model?: string; data?: string; "data-dir"?: string }, help: string): Promise<Trained> {
  if (!target) throw new UsageError(`missing the run folder or weights file\n\n${help}`);
  if (!existsSync(target)) throw new UsageError(`${target}: no such file or folder`);
  let weightsPath = target;
  let cfg: Partial<RunConfig> = {};
  const cfgFrom = (dir: string) => {
    const p = join(dir, "config.json");
    if (existsSync(p)) cfg = JSON.parse(readFileSync(p, "utf8")) as RunConfig;
  };
  if (statSync(target).isDirectory()) {
    cfgFrom(target);
    const final = join(target, "model.safetensors");
    const latest = existsSync(final) ? final : latestCheckpoint(target);
    if (!latest) throw new UsageError(`${target}: no model.safetensors and no checkpoint (ckpt-*.safetensors) in this folder`);
    weightsPath = latest;
  } else {
    cfgFrom(dirname(target));
  }
  const { tensors, metadata } = await loadFileWithMetadata(weightsPath);
  const modelName = v.model ?? metadata["strata.model"] ?? cfg.model;
  const dataName = v.data ?? metadata["strata.data"] ?? cfg.data;
  if (!modelName || !dataName) throw new UsageError(`${weightsPath}: cannot tell its model and dataset; pass --model and --data`);
  const model = modelPreset(modelName).make();
  const weights = metadata[CHECKPOINT_KEY] !== undefined ? Object.fromEntries(Object.entries(tensors).filter(([k]) => !k.includes("/"))) : tensors;
  model.loadStateDict(weights);
  model.eval();
  return { model, cfg: { model: modelName, data: dataName, dataDir: v["data-dir"] ?? cfg.dataDir }, weightsPath };
}

async function evalCommand(args: string[]): Promise<void> {
  const { values: v, positionals } = parse(args, {
    model: { type: "string" }, data: { type: "string" }, "data-dir": { type: "string" }, split: { type: "string" }, "batch-size": { type: "string" }, json: { type: "boolean" },
  }, EVAL_HELP);
  if (v.help) {
    out(EVAL_HELP);
    return;
  }
  const split = v.split ?? "test";
  if (split !== "test" && split !== "train") throw new UsageError(`--split must be test or train, got '${split}'`);
  const { model, cfg, weightsPath } = await loadTrained(positionals[0], v, EVAL_HELP);
  const dataset = dataPreset(cfg.data);
  const sets = await dataset.load({ dataDir: cfg.dataDir });
  const ds: TensorDataset = sets[split];
  const loader = new DataLoader(ds, { batchSize: int("batch-size", v["batch-size"], 1) ?? 500 });
  const t0 = performance.now();
  const r = await evaluate(model, loader, { loss: "crossEntropy", metrics: ["accuracy", "top2", `confusionMatrix:${dataset.classes.length}`], log: v.json ? "none" : undefined });
  const secs = (performance.now() - t0) / 1000;
  const cm = r.confusionMatrix as number[][];
  const perClass = cm.map((row, t) => row[t]! / Math.max(1, row.reduce((a, b) => a + b, 0)));
  if (v.json) {
    out(JSON.stringify({ weights: weightsPath, model: cfg.model, data: cfg.data, split, samples: ds.length, loss: r.loss, accuracy: r.accuracy, top2Accuracy: r.top2Accuracy, perClassAccuracy: perClass, confusionMatrix: cm, seconds: secs }));
    return;
  }
  const acc = r.accuracy as number;
  out(`${cfg.model} on ${cfg.data} (${split}, ${ds.length.toLocaleString("en-US")} samples), weights ${weightsPath}`);
  out(`loss ${(r.loss as number).toFixed(4)}  accuracy ${(acc * 100).toFixed(2)}% (${Math.round(acc * ds.length)}/${ds.length})  top-2 accuracy ${((r.top2Accuracy as number) * 100).toFixed(2)}%  (${secs.toFixed(1)} s)`);
  out("");
  out("confusion matrix (rows: true class, columns: predicted), per-class accuracy:");
  const w = Math.max(5, ...cm.flat().map((n) => String(n).length + 1));
  out(`${"".padStart(14)}${cm.map((_, i) => String(i).padStart(w)).join("")}`);
  cm.forEach((row, t) => out(`${`${t} ${dataset.classes[t] !== String(t) ? dataset.classes[t] : ""}`.slice(0, 13).padEnd(14)}${row.map((n) => String(n).padStart(w)).join("")}  ${(perClass[t]! * 100).toFixed(1)}%`));
}

async function predictCommand(args: string[]): Promise<void> {
  const { values: v, positionals } = parse(args, {
    model: { type: "string" }, data: { type: "string" }, "data-dir": { type: "string" }, image: { type: "string", multiple: true },
    count: { type: "string" }, offset: { type: "string" }, json: { type: "boolean" },
  }, PREDICT_HELP);
  if (v.help) {
    out(PREDICT_HELP);
    return;
  }
  const { model, cfg } = await loadTrained(positionals[0], v, PREDICT_HELP);
  const classes = dataPreset(cfg.data).classes;
  let x: Tensor, labels: number[] | null = null, names: string[];
  if (v.image?.length) {
    const imgs: Tensor[] = [];
    for (const f of v.image) {
      const img = await readImage(f, { channels: 1 }); // [H, W, 1] uint8
      if (img.shape[0] !== 28 || img.shape[1] !== 28) throw new UsageError(`${f}: the image is ${img.shape[1]}x${img.shape[0]}; the models take 28x28`);
      imgs.push(img.permute([2, 0, 1]).to("float32").div(255)); // [1, 28, 28]
    }
    x = stack(imgs, 0);
    names = v.image;
  } else {
    const { test } = await dataPreset(cfg.data).load({ dataDir: cfg.dataDir });
    const offset = int("offset", v.offset) ?? 0, count = Math.min(int("count", v.count, 1) ?? 10, test.length - offset);
    if (count <= 0) throw new UsageError(`--offset ${offset} is past the end of the test set (${test.length} images)`);
    const [xs, ys] = test.getBatch(Int32Array.from({ length: count }, (_, i) => offset + i));
    x = xs!;
    labels = Array.from(await ys!.data(), Number);
    names = Array.from({ length: count }, (_, i) => `test[${offset + i}]`);
  }
  const probs = noGrad(() => forward(model)(x).softmax(-1)); // [N, C]
  const p = Array.from(await probs.data(), Number), c = classes.length;
  const rows = names.map((name, i) => {
    const row = p.slice(i * c, (i + 1) * c);
    const pred = row.indexOf(Math.max(...row));
    return { name, prediction: pred, label: classes[pred]!, probability: row[pred]!, truth: labels ? labels[i]! : undefined };
  });
  if (v.json) {
    out(JSON.stringify(rows));
    return;
  }
  const w = Math.max(...names.map((n) => n.length));
  for (const r of rows) {
    const truth = r.truth === undefined ? "" : `  true ${r.truth}${classes[r.truth] !== String(r.truth) ? ` ${classes[r.truth]}` : ""}${r.truth === r.prediction ? "" : "  (wrong)"}`;
    out(`${r.name.padEnd(w)}  predicted ${r.prediction}${classes[r.prediction] !== String(r.prediction) ? ` ${r.label}` : ""}  p=${r.probability.toFixed(3)}${truth}`);
  }
  if (labels) {
    const right = rows.filter((r) => r.truth === r.prediction).length;
    out(`${right}/${rows.length} correct`);
  }
}

async function summaryCommand(args: string[]): Promise<void> {
  const { values: v, positionals } = parse(args, {}, SUMMARY_HELP);
  if (v.help) {
    out(SUMMARY_HELP);
    return;
  }
  if (positionals.length !== 1) throw new UsageError(`expected one .safetensors file\n\n${SUMMARY_HELP}`);
  if (!existsSync(positionals[0]!)) throw new UsageError(`${positionals[0]}: no such file`);
  out(await summarize(positionals[0]!));
}

const COMMANDS: Record<string, (args: string[]) => Promise<void>> = { train, eval: evalCommand, predict: predictCommand, summary: summaryCommand };

/** Runs the command line `args` (without node and the script); returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const [cmd, ...rest] = args;
  if (!cmd || cmd === "-h" || cmd === "--help" || cmd === "help") {
    out(MAIN_HELP);
    return cmd ? 0 : 2;
  }
  const run = COMMANDS[cmd];
  if (!run) {
    process.stderr.write(`strata: unknown command '${cmd}'\n\n${MAIN_HELP}\n`);
    return 2;
  }
  try {
    await run(rest);
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`strata ${cmd}: ${e.message}\n`);
      return 2;
    }
    if (e instanceof StrataError) {
      process.stderr.write(`strata ${cmd}: ${e.name}: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  process.exitCode = await main(process.argv.slice(2));
}
