/**
 * The plan cache (src/engine/plan-cache.ts): a graph of a structure realized before reuses its
 * schedule and programs, with the new graph's buffers, and gives the values a fresh schedule gives;
 * graphs that differ in anything a kernel bakes in (constants, including NaN, infinities and -0,
 * shapes, dtypes, which sources are realized) do not share a plan.
 */
import { describe, expect, it } from "vitest";
import * as st from "../src/index.ts";

const values = (t: st.Tensor): number[] => Array.from(t.dataSync() as Float32Array);

describe("plan cache", () => {
  it("a repeated training step reuses its plan and trains as the first step did", () => {
    for (const device of ["js", "wasm"]) {
      st.manualSeed(3);
      const w = st.randn([5, 3], { device }).requiresGrad_(), b = st.zeros([3], { device }).requiresGrad_();
      const x = st.randn([8, 5], { device }), y = st.randn([8, 3], { device });
      st.realize(w, b, x, y);
      const step = () => st.scope(() => {
        w.grad = null;
        b.grad = null;
        const loss = x.matmul(w).add(b).relu().sub(y).square().mean();
        loss.backward();
        st.noGrad(() => {
          w.copy_(w.sub(w.grad!.mul(0.1)));
          b.copy_(b.sub(b.grad!.mul(0.1)));
        });
        st.realize(w, b);
        return loss.itemSync() as number;
      });
      // Reference: the same updates on the host.
      const W = values(w), B = values(b), X = values(x), Y = values(y);
      const hostStep = () => {
        const gw = new Array(15).fill(0), gb = new Array(3).fill(0);
        let loss = 0;
        for (let i = 0; i < 8; i++) for (let j = 0; j < 3; j++) {
          let z = B[j]!;
          for (let k = 0; k < 5; k++) z += X[i * 5 + k]! * W[k * 3 + j]!;
          const r = Math.max(z, 0), d = r - Y[i * 3 + j]!;
          loss += d * d / 24;
          const g = z > 0 ? (2 * d) / 24 : 0;
          gb[j] += g;
          for (let k = 0; k < 5; k++) gw[k * 3 + j] += g * X[i * 5 + k]!;
        }
        for (let q = 0; q < 15; q++) W[q] = W[q]! - 0.1 * gw[q]!;
        for (let j = 0; j < 3; j++) B[j] = B[j]! - 0.1 * gb[j]!;
        return loss;
      };
      step();
      hostStep();
      const before = st.engine.stats();
      for (let s = 0; s < 3; s++) expect(step()).toBeCloseTo(hostStep(), 5);
      const after = st.engine.stats();
      expect(after.planHits - before.planHits).toBeGreaterThanOrEqual(3);
      expect(after.compiles - before.compiles).toBe(0);
      values(w).forEach((v, i) => expect(v).toBeCloseTo(W[i]!, 5));
    }
  });

  it("constants that differ only as NaN, Infinity, -0 and 0 get their own plans", () => {
    const x = st.tensor([1, -2, 3]);
    st.realize(x);
    expect(values(x.add(NaN)).every(Number.isNaN)).toBe(true);
    expect(values(x.add(Infinity))).toEqual([Infinity, Infinity, Infinity]);
    expect(values(x.div(0))).toEqual([Infinity, -Infinity, Infinity]);
    expect(values(x.div(-0))).toEqual([-Infinity, Infinity, -Infinity]);
  });

  it("graphs with random numbers draw new numbers every time", () => {
    const a = values(st.rand([4]).add(1)), b = values(st.rand([4]).add(1));
    expect(a).not.toEqual(b);
  });

  it("the same ops over a different shape or dtype do not share a plan", () => {
    const f = (t: st.Tensor) => values(t.mul(2).sum(0));
    expect(f(st.ones([2, 3]))).toEqual([4, 4, 4]);
    expect(f(st.ones([3, 2]))).toEqual([6, 6]);
    expect(f(st.ones([3, 2], { dtype: "float64" }))).toEqual([6, 6]);
  });
});
