/**
 * safetensors: reading PyTorch-written files (every dtype), writing them back byte for byte, a
 * torch state_dict into an equivalent Strata module, and the errors of bad files (truncations,
 * malicious headers), each before anything large is allocated.
 * Fixtures: scripts/safetensors_reference.py (PyTorch 1.13, the format written by hand).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import * as st from "../src/index.ts";

const FIX = join(import.meta.dirname, "fixtures", "safetensors");
const tmp = mkdtempSync(join(tmpdir(), "strata-st-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A file from a header object and a data section, with an optional explicit length prefix. */
function build(header: unknown, data: Uint8Array = new Uint8Array(0), opts: { headerText?: string; length?: bigint } = {}): Uint8Array {
  const json = new TextEncoder().encode(opts.headerText ?? JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, opts.length ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}
const f32 = (n: number) => new Uint8Array(new Float32Array(n).map((_, i) => i + 0.5).buffer);

const decodeJson = (v: number | string | boolean): number => (typeof v === "string" ? { nan: NaN, inf: Infinity, "-inf": -Infinity }[v]! : Number(v));

describe("safetensors: reading PyTorch's files", () => {
  it("reads every dtype into the nearest Strata dtype with PyTorch's values", async () => {
    const expected = JSON.parse(readFileSync(join(FIX, "dtypes.json"), "utf8")) as Record<string, (number | string | boolean)[]>;
    const { tensors, metadata } = await st.io.loadFileWithMetadata(join(FIX, "dtypes.safetensors"));
    expect(metadata).toEqual({ source: "torch 1.13.0", note: "dtype fixture" });
    const want: Record<string, [st.DType, number[]]> = {
      f64: ["float64", [3, 4]], f32: ["float32", [3, 4]], f16: ["float16", [3, 4]], bf16: ["bfloat16", [3, 4]],
      i64: ["int64", [2, 3]], i32: ["int32", [2, 2, 2]], i16: ["int32", [2, 2, 2]], i8: ["int32", [2, 2, 2]],
      u8: ["uint8", [5]], bool: ["bool", [2, 2]], u16: ["int32", [4]], u32: ["int64", [4]], u64: ["int64", [4]],
      f8_e4m3: ["float32", [7]], f8_e5m2: ["float32", [8]], empty: ["float32", [0, 3]], scalar: ["float32", []],
    };
    expect(Object.keys(tensors).sort()).toEqual(Object.keys(want).sort());
    for (const [name, [dtype, shape]] of Object.entries(want)) {
      const t = tensors[name]!;
      expect([name, t.dtype, t.shape]).toEqual([name, dtype, shape]);
      const got = Array.from(await t.data(), Number);
      expect([name, got]).toEqual([name, expected[name]!.map(decodeJson)]);
    }
  });

  it("writes the same dtypes back byte for byte", async () => {
    const bytes = new Uint8Array(readFileSync(join(FIX, "dtypes.safetensors")));
    const { tensors, metadata } = st.io.deserializeWithMetadata(bytes);
    // Only the dtypes Strata has survive a round trip unchanged.
    const kept = Object.fromEntries(Object.entries(tensors).filter(([k]) => !/^(i16|i8|u16|u32|u64|f8_)/.test(k)));
    const again = st.io.deserialize(await st.io.serialize(kept, metadata));
    for (const [k, t] of Object.entries(kept)) {
      expect(again[k]!.dtype).toBe(t.dtype);
      expect(Array.from(await again[k]!.data(), Number)).toEqual(Array.from(await t.data(), Number));
    }
    // The bytes of each kept tensor equal the file's (half types keep their exact bits).
    const header = st.io.parseHeader(bytes), out = await st.io.serialize(kept);
    const outHeader = st.io.parseHeader(out);
    for (const k of Object.keys(kept)) {
      const a = header.tensors.get(k)!, b = outHeader.tensors.get(k)!;
      expect(b.dtype).toBe(a.dtype);
      const slice = (buf: Uint8Array, h: st.io.SafetensorsHeader, o: readonly number[]) => Array.from(buf.subarray(h.dataStart + o[0]!, h.dataStart + o[1]!));
      expect([k, slice(out, outHeader, b.dataOffsets)]).toEqual([k, slice(bytes, header, a.dataOffsets)]);
    }
  });

  it("loads a PyTorch state_dict into an equivalent Strata module, which computes PyTorch's output, and writes the file back byte for byte", async () => {
    class Net extends st.nn.Module {
      conv = new st.nn.Conv2d(1, 3, 3);
      bn = new st.nn.BatchNorm2d(3);
      fc = new st.nn.Linear(3 * 3 * 3, 4);
      forward(x: st.Tensor): st.Tensor { // [B, 1, 8, 8] -> [B, 4]
        const h = st.nn.functional.maxPool2d(this.bn.forward(this.conv.forward(x)).relu(), 2);
        return this.fc.forward(h.flatten(1));
      }
    }
    const path = join(FIX, "torch-model.safetensors");
    const { tensors, metadata } = await st.io.loadFileWithMetadata(path);
    expect(metadata).toEqual({ format: "pt" });
    const { x, y, ...sd } = tensors;
    const net = new Net();
    expect(net.loadStateDict(sd)).toEqual({ missingKeys: [], unexpectedKeys: [] });
    expect(sd["bn.num_batches_tracked"]!.dtype).toBe("int64");
    expect(Number(await sd["bn.num_batches_tracked"]!.item())).toBe(3);
    net.eval();
    const out = st.noGrad(() => net.forward(x!));
    const got = await out.data(), want = await y!.data();
    expect(out.shape).toEqual([2, 4]);
    for (let i = 0; i < want.length; i++) expect(got[i]).toBeCloseTo(want[i] as number, 5);
    // And back: the module's state dict (plus x and y) serializes to the very same bytes.
    const back = await st.io.serialize({ ...net.stateDict(), x: x!, y: y! }, { format: "pt" });
    expect(Buffer.from(back).equals(readFileSync(path))).toBe(true);
    // saveFile writes those bytes, atomically (no temporary file left behind).
    const file = join(tmp, "net.safetensors");
    await st.io.saveFile({ ...net.stateDict(), x: x!, y: y! }, file, { format: "pt" });
    expect(readFileSync(file).equals(readFileSync(path))).toBe(true);
  });
});

describe("safetensors: writing", () => {
  it("round-trips every Strata dtype, empty and 0-d tensors, and metadata", async () => {
    const ts: Record<string, st.Tensor> = {
      a: st.tensor([1.5, -2, 3e-8], { dtype: "float64" }),
      b: st.tensor([[0.1, 65504], [-0, 1e-5]], { dtype: "float16" }),
      c: st.tensor([1 / 3, 1e30], { dtype: "bfloat16" }),
      d: st.tensor([0, -1, 2 ** 31 - 1], { dtype: "int32" }),
      e: st.tensor([0, -1, 2 ** 52], { dtype: "int64" }),
      f: st.tensor([0, 255, 7], { dtype: "uint8" }),
      g: st.tensor([true, false, true]),
      h: st.zeros([2, 0, 3]),
      i: st.tensor(7.25),
      j: st.arange(12).reshape([3, 4]).float().transpose(0, 1), // a view: written in its logical order
    };
    const bytes = await st.io.serialize(ts, { who: "strata", "ü": "ünïcode" });
    const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
    expect(n % 8).toBe(0); // the header is padded so that the data starts aligned
    const { tensors, metadata } = st.io.deserializeWithMetadata(bytes);
    expect(metadata).toEqual({ who: "strata", "ü": "ünïcode" });
    for (const [k, t] of Object.entries(ts)) {
      expect([k, tensors[k]!.dtype, tensors[k]!.shape]).toEqual([k, t.dtype, t.shape]);
      expect([k, await tensors[k]!.tolist()]).toEqual([k, await t.tolist()]);
    }
    // Data sorted by element size (largest first), then by name: every tensor is aligned.
    const h = st.io.parseHeader(bytes);
    expect([...h.tensors.keys()]).toEqual(["a", "e", "d", "h", "i", "j", "b", "c", "f", "g"]);
    for (const info of h.tensors.values()) expect((h.dataStart + info.dataOffsets[0]) % st.io.fileDTypeBytes(info.dtype)).toBe(0);
  });

  it("rejects what cannot be written", async () => {
    await expect(st.io.serialize({ __metadata__: st.zeros([1]) })).rejects.toThrow("'__metadata__' is reserved");
    await expect(st.io.serialize({ a: 3 as unknown as st.Tensor })).rejects.toThrow("the value of 'a' is not a Tensor");
    await expect(st.io.serialize({ a: st.zeros([1]) }, { n: 1 as unknown as string })).rejects.toThrow("metadata value of 'n' must be a string");
  });

  it("reads only the header with readHeader", async () => {
    const file = join(tmp, "h.safetensors");
    await st.io.saveFile({ w: st.zeros([3, 4]), b: st.zeros([4], { dtype: "int64" }) }, file, { k: "v" });
    const h = await st.io.readHeader(file);
    expect(h.metadata).toEqual({ k: "v" });
    expect([...h.tensors]).toEqual([["b", { dtype: "I64", shape: [4], dataOffsets: [0, 32] }], ["w", { dtype: "F32", shape: [3, 4], dataOffsets: [32, 80] }]]);
    expect(h.dataBytes).toBe(80);
  });
});

describe("safetensors: bad files, each with its error", () => {
  const good = build({ a: { dtype: "F32", shape: [2, 2], data_offsets: [0, 16] }, b: { dtype: "F32", shape: [2], data_offsets: [16, 24] } }, f32(6));

  it("reads the well-formed file the cases below break", () => {
    const t = st.io.deserialize(good);
    expect(t.a!.tolistSync()).toEqual([[0.5, 1.5], [2.5, 3.5]]);
    expect(t.b!.tolistSync()).toEqual([4.5, 5.5]);
  });

  const cases: [string, Uint8Array, string][] = [
    ["empty file", new Uint8Array(0), "the file has 0 bytes, too few for the 8-byte header length"],
    ["truncated length prefix", good.subarray(0, 5), "the file has 5 bytes, too few"],
    ["huge header length", build({}, undefined, { length: 2n ** 63n }), "the header length 9223372036854775808 exceeds the limit of 100000000 bytes"],
    ["header length just over the limit", build({}, undefined, { length: 100_000_001n }), "exceeds the limit of 100000000 bytes"],
    ["header length past the end", build({}, undefined, { length: 1000n }), "the header length 1000 runs past the end of the file (10 bytes; truncated?)"],
    ["truncated in the header", good.subarray(0, 40), "runs past the end of the file (40 bytes; truncated?)"],
    ["truncated in the data", good.subarray(0, good.length - 4), "tensor 'b' ends at byte 24 of the data section, which has only 20 bytes (truncated file?)"],
    ["trailing garbage", new Uint8Array([...good, 1, 2, 3]), "3 bytes after the last tensor: the data section has 27 bytes, the tensors cover 24"],
    ["header not JSON", build(null, undefined, { headerText: "{nope" }), "the header is not valid JSON"],
    ["header not an object", build(null, undefined, { headerText: "[1, 2]" }), "the header must be a JSON object starting with '{'"],
    ["header not UTF-8", build(null, undefined, { headerText: "{}" }).map((b, i) => (i === 9 ? 0xff : b)), "the header is not valid UTF-8"],
    ["entry not an object", build({ a: 3 }), "the entry of tensor 'a' must be an object"],
    ["unknown dtype", build({ a: { dtype: "F128", shape: [1], data_offsets: [0, 16] } }, new Uint8Array(16)), "tensor 'a' has unknown dtype \"F128\""],
    ["missing dtype", build({ a: { shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4)), "tensor 'a' has unknown dtype undefined"],
    ["negative dim", build({ a: { dtype: "F32", shape: [-1, 4], data_offsets: [0, 16] } }, new Uint8Array(16)), "tensor 'a' has shape [-1,4]: expected an array of non-negative integers"],
    ["fractional dim", build({ a: { dtype: "F32", shape: [1.5], data_offsets: [0, 4] } }, new Uint8Array(4)), "has shape [1.5]"],
    ["shape not an array", build({ a: { dtype: "F32", shape: 4, data_offsets: [0, 16] } }, new Uint8Array(16)), "has shape 4"],
    ["offsets not a pair", build({ a: { dtype: "F32", shape: [1], data_offsets: [0] } }, new Uint8Array(4)), "has data_offsets [0]: expected [begin, end]"],
    ["negative offset", build({ a: { dtype: "F32", shape: [1], data_offsets: [-4, 0] } }, new Uint8Array(4)), "has data_offsets [-4,0]"],
    ["end before begin", build({ a: { dtype: "F32", shape: [0], data_offsets: [4, 0] } }, new Uint8Array(4)), "data_offsets [4, 0]: end before begin"],
    ["size does not match the shape", build({ a: { dtype: "F32", shape: [2, 3], data_offsets: [0, 16] } }, new Uint8Array(16)), "tensor 'a' of shape [2, 3] and dtype F32 needs 24 bytes, but its data_offsets [0, 16] span 16"],
    ["shape whose size overflows", build({ a: { dtype: "F64", shape: [2 ** 40, 2 ** 40, 2 ** 12], data_offsets: [0, 8] } }, new Uint8Array(8)), "needs 39614081257132168796771975168 bytes"],
    ["overlapping tensors", build({ a: { dtype: "F32", shape: [4], data_offsets: [0, 16] }, b: { dtype: "F32", shape: [2], data_offsets: [8, 16] } }, f32(4)), "tensors 'a' and 'b' overlap (bytes [8, 16) of the data section belong to both)"],
    ["two tensors on the same bytes", build({ a: { dtype: "F32", shape: [2], data_offsets: [0, 8] }, b: { dtype: "I32", shape: [2], data_offsets: [0, 8] } }, f32(2)), "tensors 'a' and 'b' overlap"],
    ["gap between tensors", build({ a: { dtype: "F32", shape: [1], data_offsets: [0, 4] }, b: { dtype: "F32", shape: [1], data_offsets: [8, 12] } }, f32(3)), "bytes [4, 8) of the data section belong to no tensor (between 'a' and 'b')"],
    ["data not starting at 0", build({ a: { dtype: "F32", shape: [1], data_offsets: [4, 8] } }, f32(2)), "bytes [0, 4) of the data section belong to no tensor (before 'a')"],
    ["metadata not an object", build({ __metadata__: [1] }), "__metadata__ must be an object of strings"],
    ["metadata value not a string", build({ __metadata__: { epoch: 3 } }), "__metadata__ value of 'epoch' must be a string, got 3"],
    ["tensor past a huge offset", build({ a: { dtype: "U8", shape: [2 ** 50], data_offsets: [0, 2 ** 50] } }), "tensor 'a' ends at byte 1125899906842624 of the data section, which has only 0 bytes"],
  ];
  for (const [what, bytes, message] of cases) {
    it(`rejects: ${what}`, () => {
      expect(() => st.io.deserialize(bytes)).toThrow(st.io.SafetensorsError);
      expect(() => st.io.deserialize(bytes)).toThrow(message);
    });
  }

  it("rejects every truncation of a valid file, and every single-byte corruption of its length prefix", () => {
    for (let n = 0; n < good.length; n++) expect(() => st.io.deserialize(good.subarray(0, n))).toThrow(st.io.SafetensorsError);
    for (let i = 0; i < 8; i++) {
      const bad = good.slice();
      bad[i] ^= 0x40;
      expect(() => st.io.deserialize(bad)).toThrow(st.io.SafetensorsError);
    }
  });

  it("survives random byte flips in the header: a SafetensorsError or a valid result, never another error", () => {
    // A tiny LCG so the cases are the same on every run.
    let s = 12345;
    const rnd = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32);
    const n = 8 + Number(new DataView(good.buffer).getBigUint64(0, true));
    let rejected = 0;
    for (let k = 0; k < 300; k++) {
      const bad = good.slice();
      for (let j = 0; j < 1 + Math.floor(rnd() * 3); j++) bad[8 + Math.floor(rnd() * (n - 8))] = Math.floor(rnd() * 256);
      try {
        const t = st.io.deserialize(bad);
        // Accepted: then its tensors cover the 24 data bytes exactly, and read.
        const h = st.io.parseHeader(bad);
        expect([...h.tensors.values()].reduce((a, i) => a + i.dataOffsets[1] - i.dataOffsets[0], 0)).toBe(24);
        for (const x of Object.values(t)) expect(x.dataSync().length).toBe(x.numel());
      } catch (e) {
        expect(e).toBeInstanceOf(st.io.SafetensorsError);
        rejected++;
      }
    }
    expect(rejected).toBeGreaterThan(200);
  });

  it("loadFile reports a bad header without reading the data", async () => {
    const file = join(tmp, "bad.safetensors");
    writeFileSync(file, build({ a: { dtype: "F32", shape: [1e9], data_offsets: [0, 4e9] } }));
    await expect(st.io.readHeader(file)).rejects.toThrow("tensor 'a' ends at byte 4000000000 of the data section, which has only 0 bytes");
    await expect(st.io.loadFile(file)).rejects.toThrow(st.io.SafetensorsError);
    writeFileSync(file, new Uint8Array([1, 2, 3]));
    await expect(st.io.loadFile(file)).rejects.toThrow("the file has 3 bytes");
  });
});
