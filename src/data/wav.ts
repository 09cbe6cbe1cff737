/**
 * WAV (RIFF/WAVE) audio: PCM 8/16/24/32-bit integers and IEEE float 32/64-bit, any number of
 * channels (WAVE_FORMAT_EXTENSIBLE too), to a float32 tensor [channels, samples] in [-1, 1] and the
 * sample rate, like `torchaudio.load`.
 */
import { DTypeError, ShapeError, ValueError } from "../ir/errors.ts";
import { fmtShape } from "../ir/shape.ts";
import { tensor } from "../tensor/create.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { readBytes } from "./files.ts";

export interface Wav {
  /** float32 [channels, samples], integers scaled to [-1, 1). */
  waveform: Tensor;
  sampleRate: number;
  /** The file's sample format. */
  bitsPerSample: number;
  encoding: "pcm" | "float";
}

const FORMAT_NAMES: Record<number, string> = {
  0x0002: "Microsoft ADPCM", 0x0006: "A-law", 0x0007: "mu-law", 0x0011: "IMA ADPCM", 0x0031: "GSM 6.10",
  0x0050: "MPEG", 0x0055: "MPEG layer 3", 0x0161: "WMA", 0x2000: "AC-3",
};

const SUPPORTED = "supported: PCM 8/16/24/32-bit integer and IEEE float 32/64-bit";

const fourcc = (b: Uint8Array, o: number): string => String.fromCharCode(b[o]!, b[o + 1]!, b[o + 2]!, b[o + 3]!);

/**
 * Decodes WAV bytes.
 *
 * @example
 * const { waveform, sampleRate } = st.data.parseWav(bytes); // [2, 44100] float32, 44100
 */
export function parseWav(bytes: Uint8Array): Wav {
  if (bytes.length < 12) throw new ValueError(`WAV: ${bytes.length} bytes is too short for a RIFF header (12 bytes)`);
  const riff = fourcc(bytes, 0);
  if (riff === "RIFX") throw new ValueError("WAV: big-endian RIFX files are not supported");
  if (riff === "RF64") throw new ValueError("WAV: RF64 (64-bit) files are not supported");
  if (riff !== "RIFF") throw new ValueError(`WAV: not a RIFF file (starts with ${JSON.stringify(riff)})`);
  if (fourcc(bytes, 8) !== "WAVE") throw new ValueError(`WAV: a RIFF file of type ${JSON.stringify(fourcc(bytes, 8))}, not WAVE`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let fmt: { code: number; channels: number; sampleRate: number; blockAlign: number; bits: number } | null = null;
  let data: { offset: number; size: number } | null = null;
  let off = 12;
  while (off + 8 <= bytes.length && !data) {
    const id = fourcc(bytes, off), size = dv.getUint32(off + 4, true), body = off + 8;
    if (id === "data") {
      if (!fmt) throw new ValueError("WAV: the data chunk comes before the fmt chunk");
      if (body + size > bytes.length) throw new ValueError(`WAV: truncated: the data chunk declares ${size} bytes, the file has ${bytes.length - body} after it starts`);
      data = { offset: body, size };
      break;
    }
    if (body + size > bytes.length) throw new ValueError(`WAV: truncated: the ${JSON.stringify(id)} chunk declares ${size} bytes, the file has ${bytes.length - body}`);
    if (id === "fmt ") {
      if (size < 16) throw new ValueError(`WAV: the fmt chunk has ${size} bytes, at least 16 expected`);
      let code = dv.getUint16(body, true);
      const channels = dv.getUint16(body + 2, true), sampleRate = dv.getUint32(body + 4, true);
      const blockAlign = dv.getUint16(body + 12, true), bits = dv.getUint16(body + 14, true);
      if (code === 0xfffe) {
        // WAVE_FORMAT_EXTENSIBLE: the real format is the first two bytes of the sub-format GUID.
        if (size < 40) throw new ValueError(`WAV: an extensible fmt chunk has ${size} bytes, 40 expected`);
        code = dv.getUint16(body + 24, true);
      }
      fmt = { code, channels, sampleRate, blockAlign, bits };
    }
    off = body + size + (size & 1); // chunks are padded to an even size
  }
  if (!fmt) throw new ValueError("WAV: no fmt chunk");
  if (!data) throw new ValueError("WAV: no data chunk");
  const { code, channels, sampleRate, blockAlign, bits } = fmt;
  let encoding: "pcm" | "float";
  if (code === 1) {
    if (![8, 16, 24, 32].includes(bits)) throw new ValueError(`WAV: unsupported PCM sample size of ${bits} bits; ${SUPPORTED}`);
    encoding = "pcm";
  } else if (code === 3) {
    if (bits !== 32 && bits !== 64) throw new ValueError(`WAV: unsupported float sample size of ${bits} bits; ${SUPPORTED}`);
    encoding = "float";
  } else {
    throw new ValueError(`WAV: unsupported format${FORMAT_NAMES[code] ? " " + FORMAT_NAMES[code] : ""} (format code ${code}); ${SUPPORTED}`);
  }
  if (channels < 1) throw new ValueError("WAV: the fmt chunk declares 0 channels");
  if (sampleRate < 1) throw new ValueError("WAV: the fmt chunk declares a sample rate of 0");
  const bytesPer = bits / 8;
  if (blockAlign !== channels * bytesPer) throw new ValueError(`WAV: block align ${blockAlign} does not match ${channels} channels of ${bits} bits (${channels * bytesPer})`);
  const frames = Math.floor(data.size / blockAlign);
  const out = new Float32Array(channels * frames);
  const base = data.offset;
  for (let f = 0; f < frames; f++) {
    for (let c = 0; c < channels; c++) {
      const o = base + f * blockAlign + c * bytesPer;
      let v: number;
      if (encoding === "float") v = bits === 32 ? dv.getFloat32(o, true) : dv.getFloat64(o, true);
      else if (bits === 8) v = (bytes[o]! - 128) / 128;
      else if (bits === 16) v = dv.getInt16(o, true) / 32768;
      else if (bits === 24) v = (((bytes[o + 2]! << 24) | (bytes[o + 1]! << 16) | (bytes[o]! << 8)) >> 8) / 8388608;
      else v = dv.getInt32(o, true) / 2147483648;
      out[c * frames + f] = v;
    }
  }
  return { waveform: tensor(out).reshape([channels, frames]), sampleRate, bitsPerSample: bits, encoding };
}

/** Reads a WAV file (Node); see `parseWav`. */
export async function readWav(path: string): Promise<Wav> {
  const bytes = await readBytes("readWav", path);
  try {
    return parseWav(bytes);
  } catch (e) {
    if (e instanceof ValueError) throw new ValueError(`${e.message} (file ${path})`);
    throw e;
  }
}

/**
 * A waveform [channels, samples] (or [samples]) in [-1, 1] as WAV bytes: 16-bit PCM (values
 * clipped, rounded) by default, or 32-bit float.
 *
 * @example
 * const bytes = await st.data.encodeWav(st.sin(st.arange(0, 8000).mul(2 * Math.PI * 440 / 8000)), 8000);
 */
export async function encodeWav(waveform: Tensor, sampleRate: number, opts: { encoding?: "pcm16" | "float32" } = {}): Promise<Uint8Array> {
  if (waveform.ndim !== 1 && waveform.ndim !== 2) throw new ShapeError(`encodeWav: expected a waveform [channels, samples] or [samples], got ${fmtShape(waveform.shape)}`);
  if (!waveform.isFloatingPoint()) throw new DTypeError(`encodeWav: expected a floating point waveform, got ${waveform.dtype}`);
  if (!Number.isInteger(sampleRate) || sampleRate < 1) throw new ValueError(`encodeWav: sampleRate must be a positive integer, got ${sampleRate}`);
  const channels = waveform.ndim === 2 ? waveform.shape[0]! : 1, frames = waveform.shape[waveform.ndim - 1]!;
  const x = (await waveform.to("float32").data()) as Float32Array;
  const float = opts.encoding === "float32";
  const bytesPer = float ? 4 : 2, blockAlign = channels * bytesPer, dataSize = frames * blockAlign;
  const buf = new Uint8Array(44 + dataSize + (dataSize & 1));
  const dv = new DataView(buf.buffer);
  const put = (o: number, s: string) => { for (let i = 0; i < 4; i++) buf[o + i] = s.charCodeAt(i); };
  put(0, "RIFF"); dv.setUint32(4, buf.length - 8, true); put(8, "WAVE");
  put(12, "fmt "); dv.setUint32(16, 16, true); dv.setUint16(20, float ? 3 : 1, true); dv.setUint16(22, channels, true);
  dv.setUint32(24, sampleRate, true); dv.setUint32(28, sampleRate * blockAlign, true); dv.setUint16(32, blockAlign, true); dv.setUint16(34, bytesPer * 8, true);
  put(36, "data"); dv.setUint32(40, dataSize, true);
  for (let f = 0; f < frames; f++) {
    for (let c = 0; c < channels; c++) {
      const v = x[c * frames + f]!, o = 44 + f * blockAlign + c * bytesPer;
      if (float) dv.setFloat32(o, v, true);
      else dv.setInt16(o, Math.max(-32768, Math.min(32767, Math.round(v * 32768))), true);
    }
  }
  return buf;
}
