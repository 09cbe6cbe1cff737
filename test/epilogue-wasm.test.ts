/**
 * Dot epilogues: the wasm dot routine applies a linear layer's bias and ReLU before it stores the
 * product (in the GEMM's registers, or as one pass after a BLAS call). The scheduler hands it
 * exactly the pattern `linear(x, w, b).relu()` builds, and the values are bit for bit those of
 * the unfused ops on the same device.
 */
import { describe, expect, it } from "vitest";
import * as st from "../src/index.ts";
import { WasmBackend } from "../src/backends/wasm/backend.ts";

st.registerBackend("epi-blas", () => new WasmBackend({ name: "epi-blas" }));
st.registerBackend("epi-gemm", () => new WasmBackend({ name: "epi-gemm", blas: "off", threads: 2, parallelMinWork: 1 }));
const DEVICES = ["epi-blas", "epi-gemm"] as const;
const F = st.nn.functional;

type Item = ReturnType<typeof st.engine.schedule>[number];
const routines = (items: Item[]) => items.filter((i): i is Extract<Item, { kind: "routine" }> => i.kind === "routine");

function randn(shape: number[], seed: number, device: string, dtype: "float32" | "float64" = "float32"): st.Tensor {
  st.manualSeed(seed);
  return st.randn(shape, { dtype }).to(device).realize();
}

/** Object.is per element: -0 and NaN must come out as the unfused ops give them. */
function expectSameBits(got: st.Tensor, want: st.Tensor): void {
  const g = Array.from(got.dataSync() as Float32Array), w = Array.from(want.dataSync() as Float32Array);
  expect(g.length).toBe(w.length);
  const bad = g.findIndex((v, i) => !Object.is(v, w[i]));
  expect(bad, bad >= 0 ? `at ${bad}: ${g[bad]} vs ${w[bad]}` : "").toBe(-1);
}

describe("dot epilogues on wasm", () => {
  for (const device of DEVICES) {
    for (const dtype of ["float32", "float64"] as const) {
      it(`${device} ${dtype}: linear + relu is one routine call with bias and ReLU, equal to the unfused ops`, () => {
        // Shapes: odd N (a padded last GEMM panel), M not a multiple of 4, K over one k-block.
        for (const [M, K, N] of [[5, 7, 13], [70, 300, 33], [64, 40, 16]] as const) {
          const x = randn([M, K], 1, device, dtype), w = randn([N, K], 2, device, dtype), b = randn([N], 3, device, dtype);
          const y = st.noGrad(() => F.linear(x, w, b).relu());
          const items = st.engine.schedule(y);
          expect(items).toHaveLength(1);
          expect(routines(items)[0]!.epilogue).toEqual({ bias: true, relu: true });
          // The same ops with the product realized on its own first.
          const p = x.matmul(w.t()).realize();
          expectSameBits(y, p.add(b).relu());
          const z = F.linear(x, w, b);
          expect(routines(st.engine.schedule(z))[0]!.epilogue).toEqual({ bias: true, relu: false });
          expectSameBits(z, p.add(b));
          const r = x.matmul(w.t()).relu();
          expect(routines(st.engine.schedule(r))[0]!.epilogue).toEqual({ bias: false, relu: true });
          expectSameBits(r, p.relu());
        }
      });
    }

    it(`${device}: NaN stays NaN and sums of 0 plus a -0 bias give +0, as the unfused ops do`, () => {
      const x = randn([9, 6], 4, device), w = randn([12, 6], 5, device);
      const xs = Array.from(x.dataSync() as Float32Array);
      xs[7] = NaN; // row 1 of the product is NaN
      for (let j = 0; j < 6; j++) xs[2 * 6 + j] = 0; // row 2 of the product is 0
      const xn = st.tensor(xs, { dtype: "float32" }).reshape([9, 6]).to(device).realize();
      const b = st.tensor(Array.from({ length: 12 }, (_, j) => (j % 2 ? -0 : -1)), { dtype: "float32" }).to(device).realize();
      const y = st.noGrad(() => F.linear(xn, w, b).relu());
      expect(routines(st.engine.schedule(y))[0]!.epilogue).toEqual({ bias: true, relu: true });
      const p = xn.matmul(w.t()).realize();
      const want = p.add(b).relu();
      expectSameBits(y, want);
      const v = Array.from(y.dataSync() as Float32Array);
      expect(v.slice(12, 24).every(Number.isNaN)).toBe(true);
      expect(v.slice(24, 36).every((e) => Object.is(e, 0))).toBe(true);
    });

    it(`${device}: a linear layer on [B, T, K] and batched products fuse through the reshape`, () => {
      const x = randn([3, 10, 24], 6, device), w = randn([40, 24], 7, device), b = randn([40], 8, device);
      const y = st.noGrad(() => F.linear(x, w, b).relu());
      expect(st.engine.schedule(y)).toHaveLength(1);
      expectSameBits(y, x.reshape([30, 24]).matmul(w.t()).realize().reshape([3, 10, 40]).add(b).relu());
      // A batch of products (each its own GEMM) with a bias along the rows of each.
      const a = randn([8, 12, 16], 9, device), c = randn([8, 16, 24], 10, device), bb = randn([24], 11, device);
      const z = st.noGrad(() => a.matmul(c).add(bb).relu());
      expect(routines(st.engine.schedule(z))[0]!.epilogue).toEqual({ bias: true, relu: true });
      expectSameBits(z, a.matmul(c).realize().add(bb).relu());
    });
  }

  it("does not fuse what the routine cannot apply, or what others still read", () => {
    const device = "epi-gemm";
    const x = randn([6, 5], 12, device), w = randn([8, 5], 13, device), col = randn([6, 1], 14, device), b = randn([8], 15, device);
    // A bias down the columns ([M, 1]) is not a row vector.
    const c = x.matmul(w.t()).add(col);
    expect(routines(st.engine.schedule(c))[0]!.epilogue).toBeNull();
    // The product is also a target: it keeps its own buffer.
    const p = x.matmul(w.t()), q = p.add(b);
    expect(routines(st.engine.schedule(p, q))[0]!.epilogue).toBeNull();
    // The pre-activation is read by something else too: the bias fuses, the ReLU does not.
    const h = F.linear(x, w, b), s = st.noGrad(() => h.relu().add(h.exp()));
    expect(routines(st.engine.schedule(s))[0]!.epilogue).toEqual({ bias: true, relu: false });
    // max(x, 0) written another way (a -0 fill) is not ReLU.
    const m = x.matmul(w.t()), alt = st.where(m.le(0), -0, m);
    expect(routines(st.engine.schedule(alt))[0]!.epilogue).toBeNull();
  });

  it("in training the bias fuses, ReLU's mask reads the result, and gradients match js", () => {
    const run = (device: string) => {
      const x = randn([20, 12], 16, device), w = randn([7, 12], 17, device).requiresGrad_(), b = randn([7], 18, device).requiresGrad_();
      const y = F.linear(x, w, b).relu();
      const loss = y.square().sum();
      loss.backward();
      return [loss, w.grad!, b.grad!].map((t) => Array.from(t.to("js").dataSync() as Float32Array));
    };
    const xw = randn([20, 12], 16, "epi-gemm"), ww = randn([7, 12], 17, "epi-gemm").requiresGrad_(), bw = randn([7], 18, "epi-gemm").requiresGrad_();
    const h = F.linear(xw, ww, bw);
    expect(routines(st.engine.schedule(h.relu(), ...st.grad(h.relu().sum(), [ww]).map((g) => g!)))[0]!.epilogue)
      .toEqual({ bias: true, relu: false });
    const want = run("js");
    for (const device of DEVICES) {
      const got = run(device);
      got.forEach((g, t) => g.forEach((v, i) => expect(Math.abs(v - want[t]![i]!)).toBeLessThanOrEqual(1e-4 * (1 + Math.abs(want[t]![i]!)))));
    }
  });
});
