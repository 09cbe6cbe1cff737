/**
 * PNG and JPEG images to uint8 tensors [H, W, C] (the decoders are the npm packages `pngjs` and
 * `jpeg-js`), and back. The header's dimensions are checked against a pixel limit before
 * anything is decoded.
 */
import jpeg from "jpeg-js";
import { PNG } from "pngjs";
import { DTypeError, ShapeError, ValueError } from "../ir/errors.ts";
import { fmtShape } from "../ir/shape.ts";
import { tensor } from "../tensor/create.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { readBytes } from "./files.ts";

export interface DecodeImageOpts {
  /**
   * Channels of the result: 1 (gray), 2 (gray + alpha), 3 (RGB), 4 (RGBA). Default: the file's own
   * (a PNG's color type; 1 for a grayscale JPEG, else 3). Color to gray is ITU-R 601 luma, as PIL's.
   */
  channels?: 1 | 2 | 3 | 4;
  /** Images with more pixels are rejected before decoding (default 2^27, about 134 megapixels). */
  maxPixels?: number;
}

const DEFAULT_MAX_PIXELS = 2 ** 27;

function checkPixels(op: string, width: number, height: number, opts: DecodeImageOpts): void {
  const max = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (width <= 0 || height <= 0) throw new ValueError(`${op}: the header gives an empty image (${width}x${height})`);
  if (width * height > max) throw new ValueError(`${op}: the image is ${width}x${height} = ${width * height} pixels, more than maxPixels (${max})`);
}

function checkChannels(op: string, c: number | undefined): void {
  if (c !== undefined && ![1, 2, 3, 4].includes(c)) throw new ValueError(`${op}: channels must be 1, 2, 3 or 4, got ${c}`);
}

/** RGBA pixels (4 bytes each) to `channels` channels. */
function fromRgba(rgba: Uint8Array, width: number, height: number, channels: number): Tensor {
  const n = width * height;
  const out = new Uint8Array(n * channels);
  for (let p = 0; p < n; p++) {
    const r = rgba[4 * p]!, g = rgba[4 * p + 1]!, b = rgba[4 * p + 2]!, a = rgba[4 * p + 3]!;
    const o = p * channels;
    if (channels >= 3) {
      out[o] = r; out[o + 1] = g; out[o + 2] = b;
      if (channels === 4) out[o + 3] = a;
    } else {
      out[o] = Math.round((r * 299 + g * 587 + b * 114) / 1000);
      if (channels === 2) out[o + 1] = a;
    }
  }
  return tensor(out).reshape([height, width, channels]);
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * A PNG file's bytes to a uint8 tensor [H, W, C] (16-bit images are scaled to 8 bits).
 *
 * @example
 * const img = st.data.decodePng(bytes); // [H, W, 3] uint8 for an RGB PNG
 */
export function decodePng(bytes: Uint8Array, opts: DecodeImageOpts = {}): Tensor {
  checkChannels("decodePng", opts.channels);
  if (bytes.length < 24 || PNG_SIGNATURE.some((b, i) => bytes[i] !== b)) throw new ValueError("decodePng: not a PNG file (bad signature)");
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (String.fromCharCode(...bytes.subarray(12, 16)) !== "IHDR") throw new ValueError("decodePng: the first chunk is not IHDR");
  checkPixels("decodePng", dv.getUint32(16), dv.getUint32(20), opts);
  let png;
  try {
    png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (e) {
    throw new ValueError(`decodePng: ${(e as Error).message ?? String(e)}`);
  }
  const own = (png.color || png.palette ? 3 : 1) + (png.alpha ? 1 : 0);
  return fromRgba(png.data, png.width, png.height, opts.channels ?? own);
}

/** Width, height and number of components from a JPEG's frame header (SOFn), or null if none is found. */
function jpegFrame(bytes: Uint8Array): { width: number; height: number; components: number } | null {
  let i = 2;
  while (i + 4 <= bytes.length) {
    if (bytes[i] !== 0xff) return null;
    const marker = bytes[i + 1]!;
    if (marker === 0xff) { i++; continue; }
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) { i += 2; continue; }
    const len = (bytes[i + 2]! << 8) | bytes[i + 3]!;
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (i + 10 > bytes.length) return null;
      return { height: (bytes[i + 5]! << 8) | bytes[i + 6]!, width: (bytes[i + 7]! << 8) | bytes[i + 8]!, components: bytes[i + 9]! };
    }
    if (marker === 0xda || marker === 0xd9) return null;
    i += 2 + len;
  }
  return null;
}

/**
 * A JPEG file's bytes to a uint8 tensor [H, W, C]: C = 1 for a grayscale JPEG, else 3.
 *
 * @example
 * const img = st.data.decodeJpeg(bytes); // [H, W, 3] uint8
 */
export function decodeJpeg(bytes: Uint8Array, opts: DecodeImageOpts = {}): Tensor {
  checkChannels("decodeJpeg", opts.channels);
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) throw new ValueError("decodeJpeg: not a JPEG file (no SOI marker)");
  const frame = jpegFrame(bytes);
  if (!frame) throw new ValueError("decodeJpeg: no frame header (SOF) found: the file is truncated or not a baseline/progressive JPEG");
  checkPixels("decodeJpeg", frame.width, frame.height, opts);
  const max = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  let img;
  try {
    img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: Math.ceil(max / 1e6), maxMemoryUsageInMB: Math.ceil((max * 8) / 2 ** 20) + 64 });
  } catch (e) {
    throw new ValueError(`decodeJpeg: ${(e as Error).message ?? String(e)}`);
  }
  return fromRgba(img.data, img.width, img.height, opts.channels ?? (frame.components === 1 ? 1 : 3));
}

/** The format of image bytes from their signature. */
export function imageFormat(bytes: Uint8Array): "png" | "jpeg" | null {
  if (bytes.length >= 8 && PNG_SIGNATURE.every((b, i) => bytes[i] === b)) return "png";
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return "jpeg";
  return null;
}

/**
 * PNG or JPEG bytes (told apart by their signature) to a uint8 tensor [H, W, C].
 *
 * @example
 * const x = st.data.transforms.toTensor()(st.data.decodeImage(bytes)); // [C, H, W] in [0, 1]
 */
export function decodeImage(bytes: Uint8Array, opts: DecodeImageOpts = {}): Tensor {
  const f = imageFormat(bytes);
  if (f === "png") return decodePng(bytes, opts);
  if (f === "jpeg") return decodeJpeg(bytes, opts);
  const head = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, "0")).join(" ");
  throw new ValueError(`decodeImage: unsupported image format (first bytes ${head || "none"}); PNG and JPEG are supported`);
}

/** Reads a PNG or JPEG file to a uint8 tensor [H, W, C] (Node). */
export async function readImage(path: string, opts: DecodeImageOpts = {}): Promise<Tensor> {
  const bytes = await readBytes("readImage", path);
  try {
    return decodeImage(bytes, opts);
  } catch (e) {
    if (e instanceof ValueError) throw new ValueError(`${e.message} (file ${path})`);
    throw e;
  }
}

/** A uint8 image [H, W, C] (or [H, W]) as RGBA bytes, with its size. */
async function imageRgba(op: string, img: Tensor): Promise<{ rgba: Uint8Array; width: number; height: number; channels: number }> {
  if (img.dtype !== "uint8") throw new DTypeError(`${op}: expected a uint8 image [H, W, C], got ${img.dtype}`);
  const [height, width, channels = 1] = img.shape as number[];
  if ((img.ndim !== 2 && img.ndim !== 3) || ![1, 2, 3, 4].includes(channels)) throw new ShapeError(`${op}: expected an image [H, W] or [H, W, C] with C in 1..4, got ${fmtShape(img.shape)}`);
  const data = (await img.data()) as Uint8Array;
  const rgba = new Uint8Array(width! * height! * 4);
  for (let p = 0; p < width! * height!; p++) {
    const s = data.subarray(p * channels, p * channels + channels);
    const gray = channels <= 2;
    rgba[4 * p] = s[0]!;
    rgba[4 * p + 1] = gray ? s[0]! : s[1]!;
    rgba[4 * p + 2] = gray ? s[0]! : s[2]!;
    rgba[4 * p + 3] = channels === 2 ? s[1]! : channels === 4 ? s[3]! : 255;
  }
  return { rgba, width: width!, height: height!, channels };
}

/**
 * A uint8 image [H, W, C] (C = 1..4) or [H, W] as PNG bytes (lossless).
 *
 * @example
 * await fs.writeFile("out.png", await st.data.encodePng(img));
 */
export async function encodePng(img: Tensor): Promise<Uint8Array> {
  const { rgba, width, height, channels } = await imageRgba("encodePng", img);
  const png = new PNG({ width, height });
  png.data = Buffer.from(rgba.buffer, rgba.byteOffset, rgba.byteLength);
  const colorType = channels === 1 ? 0 : channels === 2 ? 4 : channels === 3 ? 2 : 6;
  return new Uint8Array(PNG.sync.write(png, { colorType }));
}

/** A uint8 image [H, W, C] or [H, W] as JPEG bytes (quality 1..100, default 90; alpha is dropped). */
export async function encodeJpeg(img: Tensor, quality = 90): Promise<Uint8Array> {
  const { rgba, width, height } = await imageRgba("encodeJpeg", img);
  return new Uint8Array(jpeg.encode({ width, height, data: rgba }, quality).data);
}
