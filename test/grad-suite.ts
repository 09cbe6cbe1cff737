/**
 * Finite-difference gradient checks (float64) on every differentiable sample of the op table, and
 * second derivatives (gradients of gradients, through `st.grad(..., { createGraph: true })`) on a
 * representative set of ops. See test/gradcheck.ts for the method. `gradSuite(device)` runs them
 * with tensors created on that device (test/grad.test.ts: js; test/grad-wasm.test.ts: wasm).
 */
import { beforeAll, describe, expect, it } from "vitest";
import * as st from "../src/index.ts";
import { gradcheck, gradgradcheck, type TensorFn } from "./gradcheck.ts";
import { type Ctx, flattenOut, Gen, makeInputs, type OpEntry, OPS, type Sample, sampleHasFd, sampleHasGrad, viewInputs } from "./op-table.ts";

const CTX: Ctx = { float: "float64" };

/** The op of a sample as a function of its leaves (views included). */
const opFn = (entry: OpEntry, sample: Sample): TensorFn => (leaves) => flattenOut(entry.strata(viewInputs(sample, leaves), sample.kw, CTX));

/** Second derivatives are checked on these ops (the samples named by each entry's `gradgrad`). */
const GRADGRAD_OPS = [
  "mul", "exp", "log", "sin", "tanh", "sigmoid", "pow", "softmax", "logSoftmax", "matmul", "conv2d", "maxPool2d", "avgPool2d", "layerNorm", "crossEntropy",
  "prod", // with zeros
];

/** Declares the gradient checks, their tensors made on `device`. */
export function gradSuite(device: string): void {
  beforeAll(() => {
    st.device(device);
  });
  describe("gradcheck helper", () => {
    it("accepts a right gradient and rejects a wrong one", () => {
      const x = st.tensor([0.5, -1.25, 2], { dtype: "float64", requiresGrad: true });
      expect(gradcheck(([a]) => a!.mul(a!).sin(), [x]).mode).toBe("full");
      // A function whose backward is wrong: forward x*x, but the gradient of x alone flows.
      const wrong: TensorFn = ([a]) => a!.detach().mul(a!);
      expect(() => gradcheck(wrong, [x])).toThrow(/differ from finite differences/);
      const big = st.tensor(Array.from({ length: 80 }, (_, i) => i / 20 - 2), { dtype: "float64", requiresGrad: true });
      expect(gradcheck(([a]) => a!.exp().cumsum(0), [big]).mode).toBe("directions");
      expect(() => gradcheck(([a]) => a!.detach().mul(a!), [big])).toThrow(/along direction/);
    });
    it("checks second derivatives", () => {
      const x = st.tensor([0.5, -1.25, 2], { dtype: "float64", requiresGrad: true });
      gradgradcheck(([a]) => a!.pow(3), [x]);
      // d/dx (x * stopgrad(x)) = x is right once, but its derivative (1) is not that of x² (2).
      const [g] = st.grad(x.mul(x).sum(), [x], { createGraph: true });
      expect(Array.from(st.grad(g!.sum(), [x])[0]!.dataSync() as Float64Array)).toEqual([2, 2, 2]);
    });
  });

  describe("coverage", () => {
    it("every differentiable op has samples checked by finite differences", () => {
      const unchecked = OPS.filter((e) => (e.grad ?? true) && !e.samples(new Gen(e.name)).some((s) => sampleHasFd(e, s))).map((e) => e.name);
      expect(unchecked).toEqual([]);
    });
  });

  for (const entry of OPS) {
    const samples = entry.samples(new Gen(entry.name));
    const checked = samples.map((s, i) => [s, i] as const).filter(([s]) => sampleHasFd(entry, s));
    if (!checked.length) continue;
    describe(`${entry.name} gradient`, () => {
      for (const [sample, index] of checked) {
        it(`${entry.name}/${index} finite differences`, () => {
          const { leaves } = makeInputs(sample, CTX, true);
          gradcheck(opFn(entry, sample), leaves);
        });
      }
    });
  }

  describe("second derivatives", () => {
    for (const name of GRADGRAD_OPS) {
      const entry = OPS.find((e) => e.name === name);
      it(`${name} is in the table with samples for second derivatives`, () => {
        expect(entry?.gradgrad?.length).toBeGreaterThan(0);
      });
      if (!entry?.gradgrad) continue;
      const samples = entry.samples(new Gen(entry.name));
      for (const index of entry.gradgrad) {
        const sample = samples[index]!;
        it(`${name}/${index} gradgradcheck`, () => {
          expect(sampleHasGrad(entry, sample)).toBe(true);
          const { leaves } = makeInputs(sample, CTX, true);
          gradgradcheck(opFn(entry, sample), leaves);
        });
      }
    }
  });
}
