/**
 * st.jit (src/tensor/jit.ts, src/engine/trace.ts, src/engine/replay.ts): a traced step, replayed,
 * must leave exactly what the eager step leaves (returned values, parameters, optimizer state,
 * `.grad`s, running statistics, the random generator's state), bit for bit, and must notice when
 * its trace no longer applies.
 */
import { describe, expect, it } from "vitest";
import * as st from "../src/index.ts";

const F = st.nn.functional;
const bits = (t: st.Tensor): number[] => Array.from(t.dataSync() as Float32Array);

/** Asserts equal values bit for bit (NaN equal to NaN). */
function expectSame(a: st.Tensor, b: st.Tensor, what: string): void {
  expect(a.shape, what).toEqual(b.shape);
  const x = bits(a), y = bits(b);
  for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i])) throw new Error(`${what}: element ${i} differs: ${x[i]} vs ${y[i]}`);
}

function batches(n: number, device: string, batch = 16): [st.Tensor, st.Tensor][] {
  return Array.from({ length: n }, (_, i) => {
    st.manualSeed(100 + i);
    const x = st.randn([batch, 12], { device }), y = st.randint(0, 4, [batch], { device });
    st.realize(x, y);
    return [x, y];
  });
}

/** Two identical models and optimizers: one for the eager run, one for the jitted run. */
function twin<O extends st.optim.Optimizer>(device: string, layers: () => st.nn.Module[], opt: (p: st.Tensor[]) => O) {
  const make = () => {
    st.manualSeed(1);
    st.device(device);
    const model = new st.nn.Sequential(...layers());
    return { model, opt: opt(model.parameters()) };
  };
  return [make(), make()] as const;
}

function trainStep(m: { model: st.nn.Sequential; opt: st.optim.Optimizer }) {
  return (x: st.Tensor, y: st.Tensor): st.Tensor => {
    m.opt.zeroGrad();
    const loss = F.crossEntropy(m.model.forward(x) as st.Tensor, y);
    loss.backward();
    m.opt.step();
    return loss;
  };
}

function expectSameModels(a: st.nn.Sequential, b: st.nn.Sequential): void {
  const pa = a.namedParameters(), pb = b.namedParameters();
  pa.forEach(([name, p], i) => {
    const q = pb[i]![1];
    expectSame(p, q, name);
    if (p.grad || q.grad) expectSame(p.grad!, q.grad!, `${name}.grad`);
  });
  const ba = a.namedBuffers(), bb = b.namedBuffers();
  ba.forEach(([name, t], i) => { if (t.dtype === "float32") expectSame(t, bb[i]![1], name); });
}

describe("st.jit", () => {
  for (const device of ["js", "wasm"]) {
    it(`replays a training step (dropout, Adam) exactly as the eager step runs it (${device})`, () => {
      const [a, b] = twin(device, () => [new st.nn.Linear(12, 24), new st.nn.ReLU(), new st.nn.Dropout(0.3), new st.nn.Linear(24, 4)],
        (p) => new st.optim.Adam(p, { lr: 0.01, weightDecay: 0.01 }));
      const data = batches(7, device);
      const eager = trainStep(a), jitted = st.jit(trainStep(b));
      st.manualSeed(9);
      const la = data.map(([x, y]) => eager(x, y));
      const rngEager = st.getRngState();
      st.manualSeed(9);
      st.engine.resetStats();
      const lb = data.map(([x, y]) => jitted(x, y));
      const stats = st.engine.stats();
      expect(stats.replays).toBe(5); // call 1 warms up, call 2 is traced
      expect(stats.compiles).toBe(0);
      expect(jitted.traces).toBe(1);
      expect(st.getRngState()).toEqual(rngEager);
      la.forEach((l, i) => expectSame(l, lb[i]!, `loss ${i}`));
      expectSameModels(a.model, b.model);
      for (const p of a.model.parameters()) {
        const sa = a.opt.state.get(p)!, sb = b.opt.state.get(b.model.parameters()[a.model.parameters().indexOf(p)]!)!;
        expectSame(sa.exp_avg!, sb.exp_avg!, "exp_avg");
        expectSame(sa.exp_avg_sq!, sb.exp_avg_sq!, "exp_avg_sq");
        expectSame(sa.step!, sb.step!, "step");
      }
    });
  }

  it("follows a learning-rate schedule without tracing again (SGD with momentum)", () => {
    const [a, b] = twin("wasm", () => [new st.nn.Linear(12, 8), new st.nn.Tanh(), new st.nn.Linear(8, 4)],
      (p) => new st.optim.SGD(p, { lr: 0.1, momentum: 0.9, nesterov: true }));
    const sa = new st.optim.StepLR(a.opt, 1, { gamma: 0.5 }), sb = new st.optim.StepLR(b.opt, 1, { gamma: 0.5 });
    const eager = trainStep(a), jitted = st.jit(trainStep(b));
    for (const [x, y] of batches(6, "wasm")) {
      const la = eager(x, y);
      sa.step();
      const lb = jitted(x, y);
      sb.step();
      expectSame(la, lb, "loss");
    }
    expect(b.opt.paramGroups[0]!.lr).toBe(a.opt.paramGroups[0]!.lr);
    expect(b.opt.paramGroups[0]!.lr).toBeLessThan(0.01);
    // SGD's second step is its first with a momentum buffer, and makes the dampening scalar:
    // that trace changed the optimizer's state, so it applies to no replay; the third step's does.
    expect(jitted.traces).toBe(2);
    expectSameModels(a.model, b.model);
  });

  it("keeps BatchNorm's running statistics, and traces again after eval()", () => {
    const [a, b] = twin("wasm", () => [new st.nn.Linear(12, 16), new st.nn.BatchNorm1d(16), new st.nn.ReLU(), new st.nn.Linear(16, 4)],
      (p) => new st.optim.SGD(p, { lr: 0.05 }));
    const eager = trainStep(a), jitted = st.jit(trainStep(b));
    const data = batches(5, "wasm");
    for (const [x, y] of data) expectSame(eager(x, y), jitted(x, y), "loss");
    expectSameModels(a.model, b.model);
    expect(jitted.traces).toBe(1);

    const predict = st.jit((x: st.Tensor) => b.model.forward(x) as st.Tensor);
    const run = (f: (x: st.Tensor) => st.Tensor) => st.noGrad(() => data.map(([x]) => f(x)));
    const compare = (what: string) => {
      const e = run((x) => a.model.forward(x) as st.Tensor), j = run(predict);
      e.forEach((t, i) => expectSame(t, j[i]!, `${what} output ${i}`));
    };
    a.model.eval();
    b.model.eval();
    compare("eval");
    a.model.train();
    b.model.train();
    compare("train");
    expect(predict.traces).toBe(2);
    // Back to eval and to train again (as fit's validation does each epoch): each trace checks the
    // modes it read, so both still apply and the training step keeps its one trace.
    a.model.eval();
    b.model.eval();
    compare("eval again");
    a.model.train();
    b.model.train();
    for (const [x, y] of data) expectSame(eager(x, y), jitted(x, y), "loss after the mode switches");
    expect(predict.traces).toBe(2);
    expect(jitted.traces).toBe(1);
    expectSameModels(a.model, b.model);
  });

  it("accumulates gradients across calls when zeroGrad runs outside the step", () => {
    const [a, b] = twin("js", () => [new st.nn.Linear(12, 4)], (p) => new st.optim.SGD(p, { lr: 0.1 }));
    type Twin = typeof a;
    const accumulate = (m: Twin) => (x: st.Tensor, y: st.Tensor) => F.crossEntropy(m.model.forward(x) as st.Tensor, y).backward();
    const eager = accumulate(a), jitted = st.jit(accumulate(b));
    batches(8, "js").forEach(([x, y], i) => {
      eager(x, y);
      jitted(x, y);
      if (i % 2 === 1) {
        for (const m of [a, b]) {
          m.opt.step();
          m.opt.zeroGrad();
        }
      }
      expectSameModels(a.model, b.model);
    });
    // The `.grad` is absent at every second call and present at the others: two traces.
    expect(jitted.traces).toBe(2);
  });

  it("traces once per argument signature, and returns structures of tensors and values", () => {
    const w = st.randn([12, 3]);
    const f = st.jit((x: st.Tensor, scale: number) => ({ y: x.matmul(w).mul(scale), parts: [x.sum(), "tag"] as const }));
    for (const n of [4, 4, 4, 7, 7, 7, 4]) {
      const x = st.randn([n, 12]);
      const r = f(x, 2);
      expectSame(r.y, x.matmul(w).mul(2), `y (n=${n})`);
      expectSame(r.parts[0], x.sum(), "sum");
      expect(r.parts[1]).toBe("tag");
    }
    expect(f.traces).toBe(2);
    const x4 = st.randn([4, 12]);
    const r = f(x4, 3); // a different number: a new signature
    expectSame(r.y, x4.matmul(w).mul(3), "y (scale 3)");
    expect(f.traces).toBe(2); // its first call warms up
  });

  it("reads a captured tensor as it is at each call, after changes made outside", () => {
    const w = st.ones([3]);
    const f = st.jit((x: st.Tensor) => x.mul(w));
    const x = st.tensor([1, 2, 3]);
    f(x);
    f(x);
    w.mul_(2);
    expect(bits(f(x))).toEqual([2, 4, 6]);
    w.copy_(st.tensor([1, 0, -1]));
    expect(bits(f(x))).toEqual([1, 0, -3]);
    expect(f.traces).toBe(1);
  });

  it("refuses to trace a step that reads values on the host", () => {
    const f = st.jit((x: st.Tensor) => x.sum().itemSync() as number);
    const x = st.tensor([1, 2]);
    expect(f(x)).toBe(3); // the warm-up call runs as usual
    expect(() => f(x)).toThrow(st.JitError);
    expect(() => f(x)).toThrow(/reads tensor values on the host/);
    // Nothing of the failed trace is left behind.
    expect(st.tensor([4, 5]).sum().itemSync()).toBe(9);
  });

  it("a replay that fails (an index out of range) raises and changes nothing", () => {
    const table = st.arange(0, 10, 1, { dtype: "float32" });
    const counter = st.zeros([1]);
    const f = st.jit((idx: st.Tensor) => {
      st.noGrad(() => counter.add_(1));
      return table.gather(0, idx);
    });
    const ok = st.tensor([1, 2, 3], { dtype: "int64" });
    f(ok);
    f(ok);
    expect(bits(f(ok))).toEqual([1, 2, 3]);
    const bad = st.tensor([1, 20, 3], { dtype: "int64" });
    bad.realize();
    const before = st.memory().js!.buffers;
    expect(() => f(bad)).toThrow(st.IndexError);
    expect(st.memory().js!.buffers).toBe(before);
    expect(bits(counter)).toEqual([3]);
  });

  it("uses no more buffers over many replays", () => {
    const [, b] = twin("wasm", () => [new st.nn.Linear(12, 8), new st.nn.ReLU(), new st.nn.Linear(8, 4)], (p) => new st.optim.Adam(p));
    const step = st.jit(trainStep(b));
    const [[x, y]] = batches(1, "wasm");
    for (let i = 0; i < 3; i++) st.scope(() => { step(x!, y!); });
    const before = st.memory().wasm!.buffers;
    for (let i = 0; i < 20; i++) st.scope(() => { step(x!, y!); });
    expect(st.memory().wasm!.buffers).toBe(before);
  });

  it("nests: a jitted function called inside a traced one becomes part of its trace", () => {
    const inner = st.jit((x: st.Tensor) => x.exp());
    const outer = st.jit((x: st.Tensor) => inner(x).add(1));
    const x = st.tensor([0, 1]);
    for (let i = 0; i < 4; i++) expectSame(outer(x), x.exp().add(1), "outer");
    expect(outer.traces).toBe(1);
    expect(inner.traces).toBe(0);
  });

  it("the doc example runs and replays calls 3 to 5", () => {
    const model = new st.nn.Linear(4, 2);
    const opt = new st.optim.SGD(model.parameters(), { lr: 0.1 });
    const step = st.jit((x: st.Tensor, y: st.Tensor) => {
      opt.zeroGrad();
      const loss = st.nn.functional.mseLoss(model.forward(x), y);
      loss.backward();
      opt.step();
      return loss;
    });
    st.engine.resetStats();
    for (let i = 0; i < 5; i++) step(st.randn([8, 4]), st.randn([8, 2]));
    expect(st.engine.stats().replays).toBe(3);
  });

  it("warmup: 0 traces the first call; reset() starts over", () => {
    const f = st.jit((x: st.Tensor) => x.square(), { warmup: 0 });
    const x = st.tensor([3]);
    expect(bits(f(x))).toEqual([9]);
    expect(f.traces).toBe(1);
    f.reset();
    expect(bits(f(x))).toEqual([9]);
    expect(f.traces).toBe(2);
  });
});
