/**
 * dtypes: PyTorch's promotion rules and half-precision rounding, checked against values that
 * scripts/dtype_reference.py recorded from PyTorch (test/fixtures/dtypes.json), plus integer
 * wraparound, casts and bool ops.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import * as st from "../src/index.ts";
import { bf16bits, f16bits } from "../src/backends/js/runtime.ts";

type Num = number | "nan" | "inf" | "-inf";
interface Fixture {
  torch: string;
  dtypes: st.DType[];
  promote: Record<st.DType, Record<st.DType, st.DType>>;
  resultType: { a: string; b: string; result: st.DType }[];
  halfValues: Num[];
  half: Record<"float16" | "bfloat16", { fromFloat64: Num[]; fromFloat32: Num[]; bits: number[] }>;
  casts: {
    inputs: number[]; int32: number[]; int64: number[]; bool: boolean[]; uint8FromPositive: number[];
    uint8FromInt32: { inputs: number[]; outputs: number[] };
  };
  int32: { maxPlusOne: number; minMinusOne: number; mulOverflow: number; negMin: number };
}

const fx: Fixture = JSON.parse(readFileSync(new URL("./fixtures/dtypes.json", import.meta.url), "utf8"));
const num = (v: Num): number => (v === "nan" ? NaN : v === "inf" ? Infinity : v === "-inf" ? -Infinity : v);
const values = fx.halfValues.map(num);

/** An operand of result_type as the fixture names it: 1-D tensor, 0-d tensor or JS scalar. */
function operand(spec: string): st.Tensor | number | boolean {
  if (spec === "s:int") return 2;
  if (spec === "s:float") return 2.5;
  if (spec === "s:bool") return true;
  const [kind, dt] = spec.split(":") as ["t" | "z", st.DType];
  return st.ones(kind === "t" ? [2] : [], { dtype: dt });
}

/** Equal as float64 values, telling -0 from 0 and matching NaN with NaN. */
function expectSameFloats(got: ArrayLike<number>, want: readonly number[], what: string): void {
  expect(got.length).toBe(want.length);
  const bad: string[] = [];
  for (let i = 0; i < want.length; i++) {
    if (!Object.is(got[i], want[i])) bad.push(`[${i}] input ${values[i]}: got ${got[i]}, torch ${want[i]}`);
  }
  expect(bad, `${what}:\n${bad.join("\n")}`).toEqual([]);
}

describe("type promotion (against PyTorch " + fx.torch + ")", () => {
  it("promoteTypes agrees with torch.promote_types for every pair of dtypes", () => {
    expect(fx.dtypes.length).toBe(8);
    for (const a of fx.dtypes) for (const b of fx.dtypes) {
      expect(st.promoteTypes(a, b), `promoteTypes(${a}, ${b})`).toBe(fx.promote[a][b]);
    }
  });

  it("resultType agrees with torch.result_type for tensors, 0-d tensors and scalars", () => {
    expect(fx.resultType.length).toBeGreaterThan(300);
    const bad = fx.resultType.filter(({ a, b, result }) => st.resultType(operand(a), operand(b)) !== result);
    expect(bad.map(({ a, b, result }) => `${a} ${b}: torch ${result}, got ${st.resultType(operand(a), operand(b))}`)).toEqual([]);
  });

  it("binary ops produce the promoted dtype (mul over every operand pair)", () => {
    for (const { a, b, result } of fx.resultType) {
      const x = operand(a), y = operand(b);
      const out = x instanceof st.Tensor ? x.mul(y) : st.mul(x, y);
      expect(out.dtype, `mul(${a}, ${b})`).toBe(result);
    }
  });

  it("promoted values are right: int tensor + float scalar, uint8 + int scalar, float16 + 0-d float64", async () => {
    const i = st.tensor([1, 2, 3], { dtype: "int32" });
    const r = i.add(0.5);
    expect(r.dtype).toBe("float32");
    expect(await r.tolist()).toEqual([1.5, 2.5, 3.5]);
    const u = st.tensor([250, 3], { dtype: "uint8" }).add(10); // stays uint8 and wraps, as in PyTorch
    expect(u.dtype).toBe("uint8");
    expect(await u.tolist()).toEqual([4, 13]);
    const h = st.tensor([1, 2], { dtype: "float16" }).mul(st.tensor(1 / 3, { dtype: "float64" }));
    expect(h.dtype).toBe("float16");
    expect(await h.tolist()).toEqual([0.333251953125, 0.66650390625]);
  });
});

describe("float16 and bfloat16 rounding (against PyTorch)", () => {
  for (const dt of ["float16", "bfloat16"] as const) {
    it(`${dt}: float64 -> ${dt} casts round like PyTorch (nearest even, overflow to inf, subnormals)`, async () => {
      const got = await st.tensor(values, { dtype: "float64" }).to(dt).data();
      expect(got).toBeInstanceOf(Float32Array);
      expectSameFloats(got as Float32Array, fx.half[dt].fromFloat64.map(num), `float64 -> ${dt}`);
    });
    it(`${dt}: float32 -> ${dt} casts round like PyTorch`, async () => {
      const got = await st.tensor(values, { dtype: "float32" }).to(dt).to("float64").data();
      expectSameFloats(got as Float64Array, fx.half[dt].fromFloat32.map(num), `float32 -> ${dt}`);
    });
    it(`${dt}: st.tensor(values, { dtype: "${dt}" }) stores what PyTorch stores`, async () => {
      const got = await st.tensor(values, { dtype: dt }).data();
      expectSameFloats(got as Float32Array, fx.half[dt].fromFloat64.map(num), `tensor(${dt})`);
    });
    it(`${dt}: the bit patterns match PyTorch's (NaN payloads aside)`, () => {
      const enc = dt === "float16" ? f16bits : bf16bits;
      const nanBits = (b: number) => (b & 0x7fff) > (dt === "float16" ? 0x7c00 : 0x7f80);
      values.forEach((v, i) => {
        const want = fx.half[dt].bits[i]!;
        if (Number.isNaN(v)) expect(nanBits(enc(v)) && nanBits(want)).toBe(true);
        else expect(enc(v), `bits of ${v}`).toBe(want);
      });
    });
  }

  it("float16 results of ops are stored rounded to float16 (1 + 2^-11 ties to even)", async () => {
    const one = st.tensor([1, 1, 2048], { dtype: "float16" });
    const small = st.tensor([2 ** -11, 3 * 2 ** -11, 1], { dtype: "float16" });
    // PyTorch: [1.0, 1.001953125, 2048.0] (2049 is not a float16; ties go to the even 2048).
    expect(await one.add(small).tolist()).toEqual([1, 1.001953125, 2048]);
  });

  it("float16 overflow in an op gives inf; casting back to float32 is exact", async () => {
    const x = st.tensor([60000, -60000, 1000], { dtype: "float16" });
    expect(await x.mul(2).tolist()).toEqual([Infinity, -Infinity, 2000]);
    const back = st.tensor([0.1, 65504, 2 ** -24], { dtype: "float16" }).to("float32");
    expect(back.dtype).toBe("float32");
    expect(await back.tolist()).toEqual([0.0999755859375, 65504, 2 ** -24]);
  });
});

describe("integers", () => {
  it("int32 arithmetic wraps around like PyTorch's", async () => {
    const max = st.tensor([2 ** 31 - 1], { dtype: "int32" });
    const min = st.tensor([-(2 ** 31)], { dtype: "int32" });
    expect(Number(await max.add(1).item())).toBe(fx.int32.maxPlusOne);
    expect(Number(await min.sub(1).item())).toBe(fx.int32.minMinusOne);
    expect(Number(await min.neg().item())).toBe(fx.int32.negMin);
    const a = st.tensor([65536], { dtype: "int32" }), b = st.tensor([65537], { dtype: "int32" });
    expect(Number(await a.mul(b).item())).toBe(fx.int32.mulOverflow);
    expect(max.add(1).dtype).toBe("int32");
  });

  it("int64 reads as a BigInt64Array, with exact values beyond the int32 range", async () => {
    const x = st.tensor([3e9, -5, 0, 2 ** 40], { dtype: "int64" });
    const d = await x.data();
    expect(d).toBeInstanceOf(BigInt64Array);
    expect(Array.from(d as BigInt64Array)).toEqual([3000000000n, -5n, 0n, 1099511627776n]);
    expect(x.dataSync()).toBeInstanceOf(BigInt64Array);
    expect(await x.add(1).tolist()).toEqual([3000000001, -4, 1, 2 ** 40 + 1]);
    // arange of integers, sums of ints and bools are int64 (PyTorch's rule)
    expect(st.arange(3).dtype).toBe("int64");
    const s = st.tensor([2 ** 31 - 1, 2 ** 31 - 1], { dtype: "int32" }).sum();
    expect(s.dtype).toBe("int64");
    expect(await s.data()).toEqual(BigInt64Array.from([4294967294n]));
    expect(st.tensor(BigInt64Array.from([7n, -8n])).dtype).toBe("int64");
  });

  it("integer division truncates or floors as asked; true division gives float", async () => {
    const a = st.tensor([7, -7, 7, -7], { dtype: "int64" }), b = st.tensor([2, 2, -2, -2], { dtype: "int64" });
    expect(await a.div(b, { roundingMode: "trunc" }).tolist()).toEqual([3, -3, -3, 3]);
    expect(await a.div(b, { roundingMode: "floor" }).tolist()).toEqual([3, -4, -4, 3]);
    const t = a.div(b);
    expect(t.dtype).toBe("float32");
    expect(await t.tolist()).toEqual([3.5, -3.5, -3.5, 3.5]);
    expect(await a.remainder(b).tolist()).toEqual([1, 1, -1, -1]);
    expect(await a.fmod(b).tolist()).toEqual([1, -1, 1, -1]);
  });
});

describe("casts", () => {
  it("float -> int truncates toward zero (int32, int64), like PyTorch", async () => {
    const x = st.tensor(fx.casts.inputs);
    expect(await x.to("int32").tolist()).toEqual(fx.casts.int32);
    expect(await x.to("int64").tolist()).toEqual(fx.casts.int64);
    expect(x.to("int32").dtype).toBe("int32");
  });
  it("float -> bool is 'nonzero'; bool -> float is 0/1", async () => {
    const x = st.tensor(fx.casts.inputs);
    expect(await x.to("bool").tolist()).toEqual(fx.casts.bool);
    expect(await st.tensor([true, false, true]).to("float32").tolist()).toEqual([1, 0, 1]);
    expect(await st.tensor([true, false]).to("int64").tolist()).toEqual([1, 0]);
  });
  it("-> uint8: floats truncate, int32 wraps modulo 256", async () => {
    expect(await st.tensor([2.7, 0.5, 255.9, 128.2]).to("uint8").tolist()).toEqual(fx.casts.uint8FromPositive);
    const i = st.tensor(fx.casts.uint8FromInt32.inputs, { dtype: "int32" });
    expect(await i.to("uint8").tolist()).toEqual(fx.casts.uint8FromInt32.outputs);
  });
  it("float64 -> float32 rounds to the nearest float32", async () => {
    const x = st.tensor([0.1, 1 + 2 ** -30, 1e300], { dtype: "float64" }).to("float32");
    expect(await x.tolist()).toEqual([Math.fround(0.1), 1, Infinity]);
  });
  it("unknown dtypes raise a DTypeError", () => {
    expect(() => st.tensor([1], { dtype: "float8" as st.DType })).toThrow(st.DTypeError);
  });
});

describe("bool", () => {
  const a = () => st.tensor([true, true, false, false]);
  const b = () => st.tensor([true, false, true, false]);
  it("logical ops have their truth tables", async () => {
    expect(await a().logicalAnd(b()).tolist()).toEqual([true, false, false, false]);
    expect(await a().logicalOr(b()).tolist()).toEqual([true, true, true, false]);
    expect(await a().logicalXor(b()).tolist()).toEqual([false, true, true, false]);
    expect(await a().logicalNot().tolist()).toEqual([false, false, true, true]);
    expect(a().logicalAnd(b()).dtype).toBe("bool");
  });
  it("logical ops on numbers treat nonzero as true", async () => {
    const x = st.tensor([0, 2, -1, 0]), y = st.tensor([3, 0, 0.5, 0]);
    expect(await x.logicalAnd(y).tolist()).toEqual([false, false, true, false]);
    expect(await x.logicalOr(y).tolist()).toEqual([true, true, true, false]);
  });
  it("bool + bool is logical or, bool * bool is and (PyTorch's bool arithmetic)", async () => {
    expect(a().add(b()).dtype).toBe("bool");
    expect(await a().add(b()).tolist()).toEqual([true, true, true, false]);
    expect(await a().mul(b()).tolist()).toEqual([true, false, false, false]);
  });
  it("sum of bools counts (int64); bool + int scalar promotes to int64", async () => {
    const s = a().logicalOr(b()).sum();
    expect(s.dtype).toBe("int64");
    expect(Number(await s.item())).toBe(3);
    const r = a().add(2);
    expect(r.dtype).toBe("int64");
    expect(await r.tolist()).toEqual([3, 3, 2, 2]);
  });
  it("comparisons give bool; any/all reduce bools; item() of a bool is a boolean", async () => {
    const x = st.tensor([1, 5, 3]);
    const c = x.gt(2);
    expect(c.dtype).toBe("bool");
    expect(await c.tolist()).toEqual([false, true, true]);
    expect(await c.any().item()).toBe(true);
    expect(await c.all().item()).toBe(false);
    expect(await x.eq(5).tolist()).toEqual([false, true, false]);
  });
  it("negating a bool or subtracting bools raises (use logicalNot / logicalXor)", () => {
    expect(() => a().neg()).toThrow(st.DTypeError);
    expect(() => a().sub(b())).toThrow(/logicalXor/);
  });
});
