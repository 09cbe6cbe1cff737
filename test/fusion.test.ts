/**
 * Fusion: counts the kernels `st.engine.schedule` plans (and the engine then runs) to show that
 * elementwise chains, reductions with their producers and epilogues, and views cost no extra
 * kernels, and that a repeated training step compiles nothing new.
 */
import { describe, expect, it } from "vitest";
import * as st from "../src/index.ts";

type Item = ReturnType<typeof st.engine.schedule>[number];
const plan = (...ts: st.Tensor[]): Item[] => st.engine.schedule(...ts);
const isContraction = (it: Item) => it.out.op === "dot" || it.out.op === "conv";
const describeItem = (it: Item) => (it.kind === "routine" ? it.name : `${it.out.op}${it.kernel.reduce ? `/${it.kernel.reduce.op}` : ""}[${it.kernel.shape}]`);

/** Realizes `t` and returns how many kernels and routine calls actually ran. */
function launches(...ts: st.Tensor[]): number {
  const a = st.engine.stats();
  st.realize(...ts);
  const b = st.engine.stats();
  return b.kernels - a.kernels + (b.routines - a.routines);
}

const close = (got: ArrayLike<number>, want: readonly number[], tol = 1e-5) => {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!), `at ${i}: ${got[i]} vs ${want[i]}`).toBeLessThanOrEqual(tol * (1 + Math.abs(want[i]!)));
};

const f32 = (t: st.Tensor): Float32Array => t.dataSync() as Float32Array;

function realized(shape: number[], seed: number): st.Tensor {
  st.manualSeed(seed);
  return st.randn(shape).realize();
}

describe("fusion", () => {
  it("relu(x.matmul(w).add(b)).sum() is the contraction plus one fused kernel", async () => {
    const x = realized([4, 3], 1), w = realized([3, 5], 2), b = realized([5], 3);
    const y = st.relu(x.matmul(w).add(b)).sum();
    const items = plan(y);
    expect(items.map(describeItem)).toHaveLength(2);
    expect(items.filter(isContraction)).toHaveLength(1);
    const fused = items.find((i) => !isContraction(i))!;
    expect(fused.kind === "kernel" && fused.kernel.reduce?.op).toBe("sum");
    expect(launches(y)).toBe(2);
    // the value, from the host
    const [X, W, B] = [f32(x), f32(w), f32(b)];
    let want = 0;
    for (let i = 0; i < 4; i++) for (let j = 0; j < 5; j++) {
      let acc = B[j]!;
      for (let k = 0; k < 3; k++) acc += X[i * 3 + k]! * W[k * 5 + j]!;
      want += Math.max(acc, 0);
    }
    close([Number(await y.item())], [want]);
  });

  it("a chain of elementwise ops (with broadcasting and scalars) is one kernel", async () => {
    const x = realized([3, 4], 4), r = realized([4], 5);
    const y = x.exp().mul(2).add(r).sub(1).abs().sqrt().sigmoid().maximum(0.6);
    expect(plan(y)).toHaveLength(1);
    expect(launches(y)).toBe(1);
    const X = f32(x), R = f32(r);
    const want = Array.from(X, (v, i) => Math.max(1 / (1 + Math.exp(-Math.sqrt(Math.abs(Math.exp(v) * 2 + R[i % 4]! - 1)))), 0.6));
    close((await y.data()) as Float32Array, want);
  });

  it("elementwise producers fuse into the reduction that consumes them", async () => {
    const x = realized([3, 4], 6), y = realized([3, 4], 7);
    const s = x.mul(y).add(x.square()).sum(1);
    const items = plan(s);
    expect(items).toHaveLength(1);
    expect(items[0]!.kind === "kernel" && items[0]!.kernel.reduce?.op).toBe("sum");
    const X = f32(x), Y = f32(y);
    const want = [0, 1, 2].map((i) => [0, 1, 2, 3].reduce((a, j) => a + X[i * 4 + j]! * Y[i * 4 + j]! + X[i * 4 + j]! ** 2, 0));
    close((await s.data()) as Float32Array, want);
    // an amax over a computed value too
    expect(plan(x.abs().mul(3).amax(0))).toHaveLength(1);
  });

  it("a reduction fuses with its elementwise epilogue: mean = sum, then divide, in one kernel", async () => {
    const x = realized([5, 6], 8);
    expect(plan(x.mean())).toHaveLength(1);
    expect(plan(x.mean(1))).toHaveLength(1);
    expect(plan(x.mean(0, { keepdim: true }))).toHaveLength(1);
    // norm: a reduction between an elementwise prologue and epilogue
    expect(plan(x.norm())).toHaveLength(1);
    // through a permute of the reduced value (each reduced value is still read once)
    const p = x.reshape([5, 2, 3]).sum(2).permute([1, 0]).mul(2);
    expect(plan(p)).toHaveLength(1);
    const X = f32(x);
    close([Number(await x.mean().item())], [X.reduce((a, b) => a + b, 0) / 30]);
    const rowMeans = [0, 1, 2, 3, 4].map((i) => X.slice(i * 6, i * 6 + 6).reduce((a, b) => a + b, 0) / 6);
    close((await x.mean(1).data()) as Float32Array, rowMeans);
    const want: number[] = [];
    for (let j = 0; j < 2; j++) for (let i = 0; i < 5; i++) want.push(2 * (X[i * 6 + j * 3]! + X[i * 6 + j * 3 + 1]! + X[i * 6 + j * 3 + 2]!));
    close((await p.data()) as Float32Array, want);
  });

  it("a reduced value that branches and meets again in one elementwise op still fuses", async () => {
    const x = realized([4, 6], 12);
    const s = x.sum(1);
    const y = st.where(s.gt(0), s.sqrt(), s.neg().mul(s)); // s read three times, at the same index
    expect(plan(y)).toHaveLength(1);
    const X = f32(x);
    const sums = [0, 1, 2, 3].map((i) => X.slice(i * 6, i * 6 + 6).reduce((a, b) => a + b, 0));
    close(f32(y), sums.map((v) => (v > 0 ? Math.sqrt(v) : -v * v)), 1e-5);
    // read at two different indices (s and its flip), the reduction gets its own buffer
    const z = s.add(s.flip(0));
    expect(plan(z)).toHaveLength(2);
    close(f32(z), sums.map((v, i) => v + sums[3 - i]!), 1e-5);
  });

  it("an expanded reduction is not recomputed per copy: it gets its own kernel", () => {
    const x = realized([4, 8], 9);
    // x - mean(x) needs the mean at every element: reduction, then one elementwise kernel
    const items = plan(x.sub(x.mean(1, { keepdim: true })));
    expect(items).toHaveLength(2);
    expect(items[0]!.kind === "kernel" && items[0]!.kernel.reduce !== null).toBe(true);
  });

  it("a costly operand of a lowered matmul gets its own kernel; a cheap one is inlined", () => {
    const a = realized([4, 8], 10), w = realized([8, 16], 11);
    // each operand element is read once per output column: tanh(a) * sigmoid(a) is computed once, not 16 times
    const costly = plan(a.tanh().mul(a.sigmoid()).matmul(w));
    expect(costly).toHaveLength(2);
    expect(costly[0]!.out.op).not.toBe("dot");
    const cheap = plan(a.mul(2).matmul(w.mT.mT));
    expect(cheap).toHaveLength(1);
    close(f32(a.tanh().mul(a.sigmoid()).matmul(w)), Array.from(f32(a.tanh().mul(a.sigmoid()).realize().matmul(w))));
  });

  it("views (permute, reshape, expand, pad, shrink, flip) never make a kernel of their own", async () => {
    const x = realized([2, 3, 4], 10);
    const views: [string, (t: st.Tensor) => st.Tensor][] = [
      ["permute", (t) => t.permute([2, 0, 1])],
      ["transpose", (t) => t.transpose(0, 2)],
      ["reshape", (t) => t.reshape([6, 4])],
      ["expand", (t) => t.reshape([2, 1, 3, 4]).expand([2, 5, 3, 4])],
      ["pad", (t) => st.nn.functional.pad(t, [1, 2, 0, 1])],
      ["shrink", (t) => t.narrow(2, 1, 2)],
      ["flip", (t) => t.flip([0, 2])],
      ["slice", (t) => t.index(1, "::2", "1:")],
    ];
    for (const [name, view] of views) {
      expect(plan(view(x)).length, `${name} of a realized buffer: only the copy for the target`).toBe(1);
      expect(plan(view(x.exp()).mul(2)).length, `exp -> ${name} -> mul`).toBe(1);
      expect(plan(view(x.exp()).sum()).length, `exp -> ${name} -> sum`).toBe(1);
    }
    // all of them in one chain, between elementwise ops
    const all = views.reduce((t, [, v]) => v(t).add(1), x.exp());
    expect(plan(all)).toHaveLength(1);
    // and the values are the ones the views describe
    const y = x.permute([2, 0, 1]).flip([0]).narrow(1, 1, 1).add(0);
    const X = f32(x);
    const want: number[] = [];
    for (let k = 3; k >= 0; k--) for (let j = 0; j < 3; j++) want.push(X[1 * 12 + j * 4 + k]!);
    expect(Array.from(f32(y))).toEqual(want);
  });

  it("fusion stops at realized buffers, and a shared value is computed once when it is costly", () => {
    const x = realized([8, 8], 11);
    const e = x.exp().log().sqrt();
    e.realize();
    expect(plan(e.add(1))).toHaveLength(1); // reads e's buffer, does not recompute it
    // an expensive value two kernels need gets its own buffer...
    const h = x.exp().sin().sqrt();
    expect(plan(h.sum(), h.amax())).toHaveLength(3);
    // ...a cheap one is recomputed inside each consumer instead of costing a kernel
    const c = x.add(1);
    expect(plan(c.sum(), c.amax())).toHaveLength(2);
  });

  it("a costly value read at shifted indices keeps its buffer: a recurrence costs kernels linear in its length", () => {
    // a[t] = log(exp(a[t-1]) + exp(a[t-1] shifted by one)): inlining a[t-1] into a[t]'s kernel
    // would compute it at two indices, and the whole chain 2^T times.
    const x = realized([1, 6], 12);
    const step = (a: st.Tensor) => a.exp().add(st.nn.functional.pad(a.narrow(1, 0, 5), [1, 0]).exp()).log();
    const chain = (n: number) => { let a = x; for (let t = 0; t < n; t++) a = step(a); return a; };
    expect(plan(chain(8)).length - plan(chain(4)).length).toBe(4);
    // an elementwise-only shared value still fuses into its one consumer kernel
    const h = x.exp().sin().sqrt();
    expect(plan(h.add(h.mul(2)))).toHaveLength(1);
  });
});

describe("compile cache and a training step", () => {
  // A two-layer MLP on a fixed batch: the parameters are plain tensors, updated with SGD.
  function mlp() {
    st.manualSeed(0);
    const X = st.randn([16, 8]), Y = st.randint(0, 4, [16]);
    const w1 = st.randn([8, 32]).mul(0.3).requiresGrad_(), b1 = st.zeros([32]).requiresGrad_();
    const w2 = st.randn([32, 4]).mul(0.3).requiresGrad_(), b2 = st.zeros([4]).requiresGrad_();
    st.realize(X, Y, w1, b1, w2, b2);
    const params = [w1, b1, w2, b2];
    const step = (): number =>
      st.scope(() => {
        const logits = X.matmul(w1).add(b1).relu().matmul(w2).add(b2);
        const loss = st.nn.functional.crossEntropy(logits, Y);
        for (const p of params) p.grad = null;
        loss.backward(); // computes the loss and every gradient, in one schedule
        st.noGrad(() => {
          for (const p of params) p.sub_(p.grad!.mul(0.5));
        });
        st.realize(...params);
        return Number(loss.itemSync());
      });
    return { step, params };
  }

  it("the second identical training step compiles nothing new", () => {
    const { step } = mlp();
    const a = st.engine.stats();
    step();
    const b = st.engine.stats();
    step();
    const c = st.engine.stats();
    step();
    const d = st.engine.stats();
    expect(b.kernels - a.kernels).toBeGreaterThan(0);
    expect(c.compiles - b.compiles).toBe(0);
    expect(d.compiles - c.compiles).toBe(0);
    // and each step runs the same kernels
    expect(c.kernels - b.kernels).toBe(b.kernels - a.kernels);
    expect(d.kernels - c.kernels).toBe(b.kernels - a.kernels);
  });

  it("a step with dropout compiles nothing new either (random kernels read the generator state)", () => {
    const { params } = mlp();
    const [w1, b1, w2, b2] = params as [st.Tensor, st.Tensor, st.Tensor, st.Tensor];
    const x = realized([16, 8], 13);
    const step = () =>
      st.scope(() => {
        const h = st.nn.functional.dropout(x.matmul(w1).add(b1).relu(), 0.3);
        const loss = h.matmul(w2).add(b2).square().mean();
        for (const p of params) p.grad = null;
        loss.backward();
        st.noGrad(() => {
          for (const p of params) p.sub_(p.grad!.mul(0.01));
        });
        st.realize(...params);
      });
    step();
    const a = st.engine.stats();
    step();
    step();
    expect(st.engine.stats().compiles - a.compiles).toBe(0);
  });

  const MLP_STEP_KERNELS = 21;
  it(`a two-layer MLP training step (forward, crossEntropy, backward, SGD) runs ${MLP_STEP_KERNELS} kernels`, () => {
    const { step } = mlp();
    step(); // warm the compile cache
    const a = st.engine.stats();
    const losses = [step()];
    const b = st.engine.stats();
    for (let i = 0; i < 20; i++) losses.push(step());
    const perStep = b.kernels - a.kernels + (b.routines - a.routines);
    console.log(`MLP training step: ${perStep} kernels (forward + crossEntropy + backward: ${perStep - 4}, SGD update: 4)`);
    expect(perStep).toBe(MLP_STEP_KERNELS);
    expect(b.compiles - a.compiles).toBe(0);
    // it trains: the loss on this fixed batch falls
    expect(losses.at(-1)!).toBeLessThan(losses[0]! * 0.5);
  });

  it("the SGD update of all four parameters costs one kernel each", () => {
    const { params } = mlp();
    for (const p of params) p.grad = st.onesLike(p).realize();
    st.noGrad(() => {
      for (const p of params) p.sub_(p.grad!.mul(0.1));
    });
    expect(plan(...params)).toHaveLength(4);
  });
});

describe("max pooling", () => {
  it("is one kernel without gradients, and gives the values of the gradient-routing form", () => {
    const x = st.randn([2, 3, 6, 6]);
    st.realize(x);
    const withGrad = x.clone().requiresGrad_();
    const routed = st.nn.functional.maxPool2d(withGrad, 2);
    const plain = st.noGrad(() => st.nn.functional.maxPool2d(x, 2));
    expect(plan(plain).length).toBe(1);
    expect(plan(routed).length).toBeGreaterThan(1);
    expect(Array.from(plain.dataSync() as Float32Array)).toEqual(Array.from(routed.dataSync() as Float32Array));
  });
});
