/**
 * The op suite: every op of the table (test/op-table.ts) against PyTorch: values, shapes, dtypes
 * and gradients, in float64 (tight tolerance) and float32 (loose), from the committed fixture
 * test/fixtures/ops.json (regenerate it with the commands in scripts/README.md). `opSuite(device)`
 * runs it with tensors created on that device (test/ops.test.ts: js; test/ops-wasm*.test.ts: wasm).
 */
import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import * as st from "../src/index.ts";
import type { DType, Tensor } from "../src/index.ts";
import {
  allSamples, cotangentLoss, type Ctx, flattenOut, Gen, makeInputs, OPS, REQUIRED_OPS, sampleHasGrad, sampleSig, sampleSpec, type Tol,
} from "./op-table.ts";

type FixNum = number | "nan" | "inf" | "-inf";
interface FixOut { shape: number[]; dtype: DType; dtype32: DType; v: FixNum[] }
/** `raises`: torch's error on a sample both sides must reject; `error`: torch failed on a sample it should run. */
interface FixSample { sig: string; outs?: FixOut[]; grads?: (FixNum[] | null)[]; raises?: string; error?: string }
const FIXTURE = JSON.parse(readFileSync(new URL("./fixtures/ops.json", import.meta.url), "utf8")) as { torch: string; samples: Record<string, FixSample> };

const MODES = ["float64", "float32"] as const;
const TOL: Record<(typeof MODES)[number], Tol> = {
  float64: { atol: 1e-9, rtol: 1e-9 },
  float32: { atol: 1e-5, rtol: 1e-4 },
};
const FLT_MAX = 3.4028234663852886e38;

const expectedValue = (v: FixNum): number => (v === "nan" ? NaN : v === "inf" ? Infinity : v === "-inf" ? -Infinity : v);

/** Host values of a tensor as plain numbers (int64 and bool included). */
function hostValues(t: Tensor): number[] {
  return Array.from(t.dataSync() as ArrayLike<number | bigint>, (v) => Number(v));
}

/** Elementwise |a - e| <= atol + rtol |e|, NaN matching NaN, infinities exact. */
function assertClose(actual: readonly number[], expected: readonly FixNum[], tol: Tol, mode: string, what: string): void {
  expect(actual.length, `${what}: number of elements`).toBe(expected.length);
  const bad: string[] = [];
  let worst = 0;
  actual.forEach((a, i) => {
    const e = expectedValue(expected[i]!);
    let ok: boolean;
    if (Number.isNaN(e)) ok = Number.isNaN(a);
    else if (!Number.isFinite(e)) ok = a === e;
    else if (mode === "float32" && Math.abs(e) > FLT_MAX) ok = a === Math.sign(e) * Infinity; // overflows in float32, as in torch
    else {
      const err = Math.abs(a - e);
      ok = err <= tol.atol + tol.rtol * Math.abs(e);
      if (!ok) worst = Math.max(worst, err);
    }
    if (!ok && bad.length < 6) bad.push(`[${i}] got ${a}, torch ${e}`);
    else if (!ok) bad.push("");
  });
  if (bad.length) throw new Error(`${what}: ${bad.length} of ${actual.length} elements differ from torch (worst abs error ${worst.toExponential(2)}): ${bad.filter(Boolean).join("; ")}`);
}

/** Declares the whole suite, its tensors made on `device` (the default device while it runs). */
export function opSuite(device: string): void {
  beforeAll(() => {
    st.device(device);
  });
  describe("op table", () => {
    it("covers every op of the issue's list", () => {
      const names = new Set(OPS.map((e) => e.name));
      expect(REQUIRED_OPS.filter((n) => !names.has(n))).toEqual([]);
      expect(names.size).toBe(OPS.length); // each op declared once
    });
    it("has a torch reference for every sample, and no stale ones", () => {
      const ids = allSamples().map((s) => s.id);
      expect(ids.filter((id) => !FIXTURE.samples[id])).toEqual([]);
      expect(Object.keys(FIXTURE.samples).filter((id) => !ids.includes(id))).toEqual([]);
      expect(Object.entries(FIXTURE.samples).filter(([, r]) => r.error).map(([id, r]) => `${id}: ${r.error}`)).toEqual([]);
    });
  });

  for (const entry of OPS) {
    describe(entry.name, () => {
      const samples = entry.samples(new Gen(entry.name));
      samples.forEach((sample, index) => {
        const id = `${entry.name}/${index}`;
        const spec = sampleSpec(entry, sample, index);
        const rec = FIXTURE.samples[id];
        const withGrad = sampleHasGrad(entry, sample);
        for (const mode of MODES) {
          it(`${id} ${mode}`, () => {
            expect(rec, `${id}: no torch reference; regenerate test/fixtures/ops.json (scripts/README.md)`).toBeDefined();
            expect(rec!.sig, `${id}: the sample changed since the fixture was made; regenerate it (scripts/README.md)`).toBe(sampleSig(spec));
            const tol: Tol = { ...TOL[mode], ...entry.tol?.[mode] };
            const ctx: Ctx = { float: mode };
            if (sample.error) {
              expect(rec!.raises, `${id}: torch accepted a sample marked error`).toBeDefined();
              expect(() => {
                const { inputs } = makeInputs(sample, ctx, false);
                for (const o of flattenOut(entry.strata(inputs, sample.kw, ctx))) hostValues(o);
              }, `${id}: torch raised "${rec!.raises}"`).toThrow(st.StrataError);
              return;
            }
            const { leaves, inputs } = makeInputs(sample, ctx, withGrad);
            const outs = flattenOut(entry.strata(inputs, sample.kw, ctx));
            const ref = rec!.outs!;
            expect(outs.length, `${id}: number of outputs`).toBe(ref.length);
            outs.forEach((o, k) => {
              expect([...o.shape], `${id}: shape of output ${k}`).toEqual(ref[k]!.shape);
              expect(o.dtype, `${id}: dtype of output ${k}`).toBe(mode === "float64" ? ref[k]!.dtype : ref[k]!.dtype32);
              assertClose(hostValues(o), ref[k]!.v, tol, mode, `${id} ${mode}: output ${k}`);
            });
            if (!withGrad) return;
            const wrt = leaves.filter((t) => t.requiresGrad);
            const loss = cotangentLoss(outs);
            const grads = loss ? st.grad(loss, wrt, { allowUnused: true }) : wrt.map(() => null);
            expect(rec!.grads, `${id}: torch gave no gradients`).toBeDefined();
            grads.forEach((g, i) => {
              const got = g ? hostValues(g) : new Array<number>(wrt[i]!.numel()).fill(0);
              const want = rec!.grads![i] ?? new Array<number>(wrt[i]!.numel()).fill(0);
              assertClose(got, want, tol, mode, `${id} ${mode}: gradient of input ${i}`);
            });
          });
        }
      });
    });
  }
}
