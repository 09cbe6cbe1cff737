/**
 * `st.data`: datasets, the DataLoader, transforms, tokenizers and file readers.
 *
 * @example
 * const { train, test } = await st.data.mnistDigits();
 * const loader = new st.data.DataLoader(train, { batchSize: 64, shuffle: true });
 * for await (const [x, y] of loader) {  // x: [64, 1, 28, 28] float32, y: [64] int64
 *   // ... a training step
 * }
 */
export {
  asDataset, ConcatDataset, randomSplit, Subset, TensorDataset, TransformDataset,
  type Dataset, type DatasetLike, type SplitOpts,
} from "./dataset.ts";
export { DataLoader, type DataLoaderOptions, type DataLoaderState } from "./loader.ts";
export { defaultCollate, type Collated } from "./collate.ts";
export { Generator, type GeneratorState } from "./random.ts";
export * as transforms from "./transforms.ts";
export { ByteTokenizer, CharTokenizer, type TokenIds } from "./text.ts";
export { decodeIdx, gunzipIdx, IDX_MAX_BYTES, idxHeader, parseIdx, readIdx, type IdxOpts } from "./idx.ts";
export {
  FASHION_MNIST_CLASSES, FASHION_MNIST_DIR, fashionMnist, mnistDigits,
  type ImageSetOpts, type MnistDigitsOpts, type TrainTest,
} from "./datasets.ts";
export { CsvTable, parseCsv, parseNumber, readCsv, type CsvOpts } from "./csv.ts";
export { decodeImage, decodeJpeg, decodePng, encodeJpeg, encodePng, imageFormat, readImage, type DecodeImageOpts } from "./image.ts";
export { encodeWav, parseWav, readWav, type Wav } from "./wav.ts";
