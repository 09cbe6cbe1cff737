/**
 * st.optim against PyTorch (test/fixtures/optim.json, from scripts/optim_reference.py): every
 * optimizer and option combination step by step in float64 and float32, with two parameter
 * groups and a parameter that skips a step; the state-dict structure; every scheduler's learning
 * rates (and OneCycleLR's momentum); gradient clipping. Then state-dict round trips, errors, and
 * the engine check that a training step after the second compiles nothing, with schedulers that
 * change the learning rate and momentum every step.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import * as st from "../src/index.ts";

interface OptCase {
  name: string;
  optimizer: "SGD" | "Adam" | "AdamW" | "RMSprop" | "Adagrad";
  groups: Record<string, unknown>[];
  float64: number[][][];
  float32: number[][][];
  stateDict: { state: Record<string, Record<string, number | number[]>>; param_groups: Record<string, unknown>[] };
}
interface SchedCase {
  name: string;
  optimizer: "SGD" | "Adam";
  lrs: number[][];
  momentum?: number[][];
  metrics?: number[];
}
interface ClipCase {
  kind: "norm" | "value";
  dtype: "float32" | "float64";
  params?: number;
  maxNorm?: number;
  normType?: number | "inf";
  clipValue?: number;
  total?: number;
  grads: number[][];
}
const fx = JSON.parse(readFileSync(new URL("./fixtures/optim.json", import.meta.url), "utf8")) as {
  shapes: number[][];
  init: number[][];
  grads: number[][][];
  skip: [number, number];
  optimizers: OptCase[];
  schedulers: SchedCase[];
  clip: { shapes: number[][]; grads: number[][]; cases: ClipCase[] };
};

type Dt = "float32" | "float64";
/** A float tensor's values as numbers. */
const vals = (t: st.Tensor): number[] => Array.from(t.dataSync() as ArrayLike<number>);
/** |actual - expected| <= tol * (1 + |expected|), elementwise, with the worst offender in the message. */
function expectClose(actual: ArrayLike<number>, expected: readonly number[], tol: number, what: string): void {
  expect(actual.length, what).toBe(expected.length);
  let worst = 0, at = -1;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i]!, a = Number(actual[i]);
    const err = Number.isNaN(e) ? (Number.isNaN(a) ? 0 : Infinity) : Math.abs(a - e) / (1 + Math.abs(e));
    if (!(err <= worst)) { worst = err; at = i; }
  }
  expect(worst, `${what}: element ${at} is ${actual[at]}, expected ${expected[at]}`).toBeLessThanOrEqual(tol);
}

const makeParams = (dt: Dt): st.Tensor[] =>
  fx.shapes.map((s, i) => {
    const p = st.tensor(fx.init[i]!, { dtype: dt }).reshape(s).requiresGrad_();
    return p.realize();
  });

function setGrads(params: st.Tensor[], step: number, dt: Dt): void {
  params.forEach((p, i) => {
    p.grad = step === fx.skip[0] && i === fx.skip[1] ? null : st.tensor(fx.grads[step]![i]!, { dtype: dt }).reshape(fx.shapes[i]!).realize();
  });
}

function makeOptimizer(c: OptCase, params: st.Tensor[], override: Record<string, unknown> = {}): st.optim.Optimizer {
  const groups = [
    { params: params.slice(0, 2), ...c.groups[0], ...override },
    { params: params.slice(2), ...c.groups[1], ...override },
  ];
  switch (c.optimizer) {
    case "SGD": return new st.optim.SGD(groups);
    case "Adam": return new st.optim.Adam(groups);
    case "AdamW": return new st.optim.AdamW(groups);
    case "RMSprop": return new st.optim.RMSprop(groups);
    case "Adagrad": return new st.optim.Adagrad(groups);
  }
}

describe("optimizers match PyTorch step by step", () => {
  for (const c of fx.optimizers) {
    for (const dt of ["float64", "float32"] as const) {
      it(`${c.name} (${dt})`, () => {
        const params = makeParams(dt);
        const opt = makeOptimizer(c, params);
        const expected = c[dt];
        for (let step = 0; step < expected.length; step++) {
          setGrads(params, step, dt);
          opt.step();
          params.forEach((p, i) => {
            expect(p.dtype).toBe(dt);
            expectClose(vals(p), expected[step]![i]!, dt === "float64" ? 1e-14 : 1e-6, `step ${step}, param ${i}`);
          });
        }
      });
    }
  }
});

describe("stateDict has PyTorch's structure", () => {
  const torchOnly = new Set(["foreach", "differentiable", "capturable", "fused"]);
  for (const c of fx.optimizers) {
    it(c.name, () => {
      const params = makeParams("float64");
      const opt = makeOptimizer(c, params);
      for (let step = 0; step < 3; step++) {
        setGrads(params, step, "float64");
        opt.step();
      }
      const sd = opt.stateDict();
      const ref = c.stateDict;
      expect(sd.param_groups.length).toBe(ref.param_groups.length);
      sd.param_groups.forEach((g, i) => {
        const r = ref.param_groups[i]!;
        expect(Object.keys(g).sort()).toEqual(Object.keys(r).filter((k) => !torchOnly.has(k)).sort());
        for (const [k, v] of Object.entries(g)) expect(v, `param_groups[${i}].${k}`).toEqual(r[k]);
      });
      expect(Object.keys(sd.state).sort()).toEqual(Object.keys(ref.state).sort());
      for (const [k, s] of Object.entries(ref.state)) {
        const ours = sd.state[Number(k)]!;
        for (const [name, v] of Object.entries(s)) {
          if (name === "step") expect(ours.step!.itemSync(), `state[${k}].step`).toBe(v);
          else expect(ours[name]!.shape, `state[${k}].${name}`).toEqual(v);
        }
        // Strata keeps a step counter where PyTorch 1.13 keeps a Python int (RMSprop): nothing else extra.
        for (const name of Object.keys(ours)) if (!(name in s)) expect(name).toBe("step");
      }
    });
  }
});

describe("stateDict round trip: save after 3 steps, load into a fresh optimizer, continue", () => {
  for (const c of fx.optimizers) {
    it(c.name, () => {
      const params = makeParams("float64");
      const opt = makeOptimizer(c, params);
      let saved: st.optim.OptimizerStateDict | null = null, savedParams: st.Tensor[] = [];
      for (let step = 0; step < 6; step++) {
        if (step === 3) {
          saved = opt.stateDict();
          savedParams = params.map((p) => p.detach());
        }
        setGrads(params, step, "float64");
        opt.step();
      }
      // The saved dict survives the later steps unchanged (and its groups are plain JSON).
      const groupsJson = JSON.parse(JSON.stringify(saved!.param_groups)) as st.optim.OptimizerStateDict["param_groups"];
      const resumed = savedParams.map((p) => st.tensor(vals(p), { dtype: "float64" }).reshape(p.shape).requiresGrad_());
      // Different options at construction: loading restores the saved ones.
      const opt2 = makeOptimizer(c, resumed, { lr: 123 });
      opt2.loadStateDict({ state: saved!.state, param_groups: groupsJson });
      expect(opt2.paramGroups.map((g) => g.lr)).toEqual(opt.paramGroups.map((g) => g.lr));
      for (let step = 3; step < 6; step++) {
        setGrads(resumed, step, "float64");
        opt2.step();
      }
      resumed.forEach((p, i) => expect(vals(p)).toEqual(vals(params[i]!)));
    });
  }

  it("loads PyTorch's snake_case option names and casts state to the parameter dtype", () => {
    const p = st.tensor([1, 2], { dtype: "float64" }).requiresGrad_();
    const opt = new st.optim.Adam([p]);
    opt.loadStateDict({
      state: { 0: { step: st.tensor(2), exp_avg: st.tensor([0.1, 0.2]), exp_avg_sq: st.tensor([0.01, 0.04]) } },
      param_groups: [{ params: [0], lr: 0.5, betas: [0.8, 0.9], eps: 1e-8, weight_decay: 0.25, amsgrad: false, maximize: false, foreach: null }],
    });
    expect(opt.paramGroups[0]!.weightDecay).toBe(0.25);
    const s = opt.state.get(p)!;
    expect(s.exp_avg!.dtype).toBe("float64");
    expect(s.step!.dtype).toBe("float32");
  });

  it("rejects a state dict whose groups do not match", () => {
    const a = st.zeros([2]).requiresGrad_(), b = st.zeros([2]).requiresGrad_();
    const sd = new st.optim.SGD([a, b], { lr: 0.1 }).stateDict();
    expect(() => new st.optim.SGD([a], { lr: 0.1 }).loadStateDict(sd)).toThrow(/parameter group 0 .* has 2 parameters, the optimizer's has 1/);
    expect(() => new st.optim.SGD([{ params: [a] }, { params: [b] }], { lr: 0.1 }).loadStateDict(sd)).toThrow(/has 1 parameter groups, the optimizer has 2/);
  });
});

describe("LR schedulers match PyTorch", () => {
  type Sched = { step(): void; getLastLr(): number[] };
  const O = st.optim;
  const schedulers: Record<string, (o: st.optim.Optimizer) => Sched> = {
    "StepLR": (o) => new O.StepLR(o, 7, { gamma: 0.5 }),
    "StepLR-default": (o) => new O.StepLR(o, 10),
    "MultiStepLR": (o) => new O.MultiStepLR(o, [5, 12, 12, 20], { gamma: 0.3 }),
    "ExponentialLR": (o) => new O.ExponentialLR(o, 0.9),
    "CosineAnnealingLR": (o) => new O.CosineAnnealingLR(o, 10, { etaMin: 0.001 }),
    "CosineAnnealingLR-default": (o) => new O.CosineAnnealingLR(o, 25),
    "LinearLR": (o) => new O.LinearLR(o, { startFactor: 0.25, endFactor: 0.9, totalIters: 8 }),
    "LinearLR-default": (o) => new O.LinearLR(o),
    "SequentialLR-linear-cosine": (o) => new O.SequentialLR(o, [new O.LinearLR(o, { startFactor: 0.1, totalIters: 5 }), new O.CosineAnnealingLR(o, 20)], [5]),
    "SequentialLR-three": (o) =>
      new O.SequentialLR(o, [new O.LinearLR(o, { startFactor: 0.5, totalIters: 4 }), new O.ExponentialLR(o, 0.8), new O.StepLR(o, 3, { gamma: 0.5 })], [6, 15]),
    "OneCycleLR": (o) => new O.OneCycleLR(o, [1.0, 0.5], { totalSteps: 30 }),
    "OneCycleLR-adam-linear-three-phase": (o) =>
      new O.OneCycleLR(o, 0.01, { totalSteps: 30, annealStrategy: "linear", threePhase: true, pctStart: 0.25, divFactor: 10, finalDivFactor: 100, baseMomentum: 0.8, maxMomentum: 0.9 }),
    "OneCycleLR-epochs-no-momentum": (o) => new O.OneCycleLR(o, 0.3, { epochs: 3, stepsPerEpoch: 10, cycleMomentum: false }),
  };
  const plateau: Record<string, st.optim.ReduceLROnPlateauOptions> = {
    "ReduceLROnPlateau-min-rel": { patience: 2 },
    "ReduceLROnPlateau-min-abs-cooldown": { patience: 1, threshold: 0.01, thresholdMode: "abs", cooldown: 2, factor: 0.5 },
    "ReduceLROnPlateau-max-minlr": { mode: "max", patience: 0, factor: 0.5, minLr: [0.02, 0.03] },
    "ReduceLROnPlateau-max-rel-eps": { mode: "max", patience: 1, threshold: 0.05, eps: 0.01 },
  };
  const makeOpt = (kind: "SGD" | "Adam"): st.optim.Optimizer => {
    const groups = [{ params: [st.zeros([2]).requiresGrad_()] }, { params: [st.zeros([3]).requiresGrad_()], lr: 0.05 }];
    return kind === "Adam" ? new O.Adam(groups, { lr: 0.1 }) : new O.SGD(groups, { lr: 0.1, momentum: 0.9 });
  };
  const momentumOf = (o: st.optim.Optimizer) => o.paramGroups.map((g) => (Array.isArray(g.betas) ? (g.betas[0] as number) : (g.momentum as number)));

  it("covers every fixture case", () => {
    expect(fx.schedulers.map((c) => c.name).sort()).toEqual([...Object.keys(schedulers), ...Object.keys(plateau)].sort());
  });
  for (const c of fx.schedulers) {
    it(c.name, () => {
      const opt = makeOpt(c.optimizer);
      if (c.metrics) {
        const s = new O.ReduceLROnPlateau(opt, plateau[c.name]);
        c.metrics.forEach((m, i) => {
          s.step(m);
          expectClose(s.getLastLr(), c.lrs[i]!, 1e-15, `step ${i}`);
        });
        return;
      }
      const s = schedulers[c.name]!(opt);
      for (let i = 0; i < c.lrs.length; i++) {
        if (i > 0) s.step();
        expectClose(s.getLastLr(), c.lrs[i]!, 1e-14, `lr after ${i} steps`);
        expectClose(opt.paramGroups.map((g) => g.lr), c.lrs[i]!, 1e-14, `group lr after ${i} steps`);
        expectClose(momentumOf(opt), c.momentum![i]!, 1e-14, `momentum after ${i} steps`);
      }
    });
  }

  it("stateDict / loadStateDict resume a schedule", () => {
    for (const name of ["CosineAnnealingLR", "SequentialLR-three", "OneCycleLR", "MultiStepLR"]) {
      const a = makeOpt("SGD"), sa = schedulers[name]! (a);
      for (let i = 0; i < 10; i++) sa.step();
      const sd = (sa as unknown as st.optim.LRScheduler).stateDict();
      const optSd = a.stateDict();
      for (let i = 0; i < 10; i++) sa.step();
      const b = makeOpt("SGD"), sb = schedulers[name]!(b);
      b.loadStateDict(optSd);
      (sb as unknown as st.optim.LRScheduler).loadStateDict(sd);
      for (let i = 0; i < 10; i++) sb.step();
      expect(sb.getLastLr(), name).toEqual(sa.getLastLr());
      expect(b.paramGroups.map((g) => g.lr), name).toEqual(a.paramGroups.map((g) => g.lr));
    }
    const a = makeOpt("SGD"), pa = new O.ReduceLROnPlateau(a, { patience: 1 });
    [1, 1, 1, 0.5].forEach((m) => pa.step(m));
    const sd = pa.stateDict();
    const b = makeOpt("SGD"), pb = new O.ReduceLROnPlateau(b);
    pb.loadStateDict(sd);
    expect(pb.best).toBe(0.5);
    expect(pb.patience).toBe(1);
  });

  it("raises PyTorch's errors", () => {
    expect(() => new O.OneCycleLR(new O.Adagrad([st.zeros([1]).requiresGrad_()]), 0.1, { totalSteps: 5 })).toThrow(/must support momentum/);
    const s = new O.OneCycleLR(makeOpt("SGD"), 0.1, { totalSteps: 3 });
    s.step(); s.step(); s.step();
    expect(() => s.step()).toThrow(/tried to step 5 times; the specified number of total steps is 3/);
    expect(() => new O.OneCycleLR(makeOpt("SGD"), 0.1)).toThrow(/totalSteps OR \(epochs AND stepsPerEpoch\)/);
    expect(() => new O.ReduceLROnPlateau(makeOpt("SGD"), { factor: 1 })).toThrow(/factor should be < 1.0/);
    expect(() => new O.SequentialLR(makeOpt("SGD"), [new O.StepLR(makeOpt("SGD"), 2)], [])).toThrow(/same optimizer/);
  });
});

describe("gradient clipping matches PyTorch", () => {
  const setUp = (n: number, dt: Dt): st.Tensor[] =>
    fx.clip.shapes.slice(0, n).map((s, i) => {
      const p = st.zeros(s, { dtype: dt }).requiresGrad_();
      p.grad = st.tensor(fx.clip.grads[i]!, { dtype: dt }).reshape(s);
      return p;
    });
  for (const c of fx.clip.cases) {
    const label = c.kind === "norm" ? `clipGradNorm_ maxNorm ${c.maxNorm}, normType ${c.normType}, ${c.params} params (${c.dtype})` : `clipGradValue_ ${c.clipValue} (${c.dtype})`;
    it(label, () => {
      const tol = c.dtype === "float64" ? 1e-14 : 1e-6;
      const ps = setUp(c.kind === "norm" ? c.params! : 3, c.dtype);
      if (c.kind === "norm") {
        const total = st.optim.clipGradNorm_(ps, c.maxNorm!, c.normType === "inf" ? Infinity : c.normType);
        expectClose([Number(total.itemSync())], [c.total!], tol, "total norm");
        expect(total.dtype).toBe(c.dtype);
      } else {
        st.optim.clipGradValue_(ps, c.clipValue!);
      }
      ps.forEach((p, i) => expectClose(vals(p.grad!), c.grads[i]!, tol, `grad ${i}`));
    });
  }

  it("errorIfNonfinite raises on an infinite norm; without it the gradients scale by 0 (inf entries become NaN), as in PyTorch", () => {
    const p = st.zeros([3]).requiresGrad_();
    p.grad = st.tensor([1, Infinity, -2]);
    expect(() => st.optim.clipGradNorm_([p], 1, 2, { errorIfNonfinite: true })).toThrow(/non-finite/);
    const total = st.optim.clipGradNorm_([p], 1);
    expect(total.itemSync()).toBe(Infinity);
    expect(vals(p.grad!)).toEqual([0, NaN, -0]);
  });

  it("returns 0 and changes nothing without gradients; skips parameters without one", () => {
    const a = st.zeros([2]).requiresGrad_(), b = st.zeros([2]).requiresGrad_();
    expect(st.optim.clipGradNorm_([a, b], 1).itemSync()).toBe(0);
    b.grad = st.tensor([3, 4]);
    expect(st.optim.clipGradNorm_([a, b], 1).itemSync()).toBe(5);
    expectClose(vals(b.grad!), [0.6, 0.8], 1e-6, "clipped");
    expect(() => st.optim.clipGradNorm_([b], 1, 0)).toThrow(/normType must be positive/);
  });
});

describe("optimizer behaviour", () => {
  it("zeroGrad sets gradients to null, or to zeros with setToNone: false", () => {
    const p = st.zeros([2]).requiresGrad_();
    const opt = new st.optim.SGD([p], { lr: 0.1 });
    p.grad = st.tensor([1, 2]);
    opt.zeroGrad({ setToNone: false });
    expect(vals(p.grad!)).toEqual([0, 0]);
    opt.zeroGrad();
    expect(p.grad).toBeNull();
  });

  it("step(closure) evaluates the loss with gradients on and returns it", () => {
    const w = st.tensor([1, -2]).requiresGrad_();
    const opt = new st.optim.SGD([w], { lr: 0.25 });
    const loss = st.noGrad(() => opt.step(() => {
      opt.zeroGrad();
      const l = w.square().sum();
      l.backward();
      return l;
    }));
    expect(loss!.itemSync()).toBe(5);
    expect(vals(w)).toEqual([0.5, -1]);
  });

  it("addParamGroup fills defaults; a group's changed options take effect", () => {
    const a = st.tensor([1]).requiresGrad_(), b = st.tensor([1]).requiresGrad_();
    const opt = new st.optim.SGD([a], { lr: 0.5, momentum: 0.9 });
    opt.addParamGroup({ params: [b], lr: 0.25 });
    expect(opt.paramGroups[1]).toMatchObject({ lr: 0.25, momentum: 0.9, dampening: 0, nesterov: false });
    a.grad = st.tensor([1]);
    b.grad = st.tensor([1]);
    opt.step();
    expect([a.itemSync(), b.itemSync()]).toEqual([0.5, 0.75]);
    opt.paramGroups[0]!.lr = 0.125;
    opt.step();
    expect(a.itemSync()).toBeCloseTo(0.5 - 0.125 * 1.9, 6);
  });

  it("state lives outside the caller's st.scope", () => {
    const p = st.tensor([1, 2]).requiresGrad_();
    const opt = new st.optim.Adam([p], { lr: 0.1 });
    for (let i = 0; i < 2; i++) {
      st.scope(() => {
        p.grad = st.tensor([0.5, -0.5]);
        opt.step();
      });
    }
    expect(opt.state.get(p)!.step!.itemSync()).toBe(2);
    expect(opt.state.get(p)!.exp_avg!.isDisposed).toBe(false);
  });

  it("raises PyTorch's errors", () => {
    const p = st.zeros([2]).requiresGrad_();
    expect(() => new st.optim.SGD([p], { lr: -1 })).toThrow(/invalid learning rate: -1/);
    expect(() => new st.optim.SGD([p], { lr: 0.1, nesterov: true })).toThrow(/Nesterov momentum requires a momentum and zero dampening/);
    expect(() => new st.optim.SGD([{ params: [p] }])).toThrow(/didn't specify a value of required optimization parameter lr/);
    expect(() => new st.optim.Adam([p], { betas: [1, 0.9] })).toThrow(/invalid beta parameter at index 0: 1/);
    expect(() => new st.optim.Adam([p], { eps: -1 })).toThrow(/invalid epsilon value/);
    expect(() => new st.optim.RMSprop([p], { momentum: -0.5 })).toThrow(/invalid momentum value/);
    expect(() => new st.optim.Adagrad([p], { lrDecay: -1 })).toThrow(/invalid lrDecay value/);
    expect(() => new st.optim.Adam([])).toThrow(/empty parameter list/);
    expect(() => new st.optim.Adam([{ params: [p] }, { params: [p] }])).toThrow(/more than one parameter group/);
    expect(() => new st.optim.Adam([p.mul(2)])).toThrow(/non-leaf/);
  });
});

describe("engine: a training step after the second compiles nothing", () => {
  const O = st.optim;
  const cases: [string, (ps: st.Tensor[]) => { opt: st.optim.Optimizer; sched: { step(): void } }][] = [
    ["Adam + OneCycleLR (lr and beta1 change every step) + clipGradNorm_", (ps) => {
      const opt = new O.Adam(ps, { lr: 0.01, amsgrad: true, weightDecay: 0.01 });
      return { opt, sched: new O.OneCycleLR(opt, 0.05, { totalSteps: 20 }) };
    }],
    ["AdamW + CosineAnnealingLR", (ps) => {
      const opt = new O.AdamW(ps, { lr: 0.01 });
      return { opt, sched: new O.CosineAnnealingLR(opt, 4) };
    }],
    ["SGD nesterov + OneCycleLR (momentum cycles)", (ps) => {
      const opt = new O.SGD(ps, { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 1e-4 });
      return { opt, sched: new O.OneCycleLR(opt, 0.1, { totalSteps: 20 }) };
    }],
    ["RMSprop centered + ExponentialLR", (ps) => {
      const opt = new O.RMSprop(ps, { lr: 0.01, centered: true, momentum: 0.5 });
      return { opt, sched: new O.ExponentialLR(opt, 0.9) };
    }],
    ["Adagrad + StepLR", (ps) => {
      const opt = new O.Adagrad(ps, { lr: 0.1, lrDecay: 0.01 });
      return { opt, sched: new O.StepLR(opt, 2) };
    }],
  ];
  for (const [name, make] of cases) {
    it(name, () => {
      st.manualSeed(0);
      const w = st.randn([8, 4]).requiresGrad_().realize(), b = st.zeros([4]).requiresGrad_().realize();
      const x = st.randn([16, 8]).realize(), y = st.randn([16, 4]).realize();
      const { opt, sched } = make([w, b]);
      const compiles: number[] = [], buffers: number[] = [], losses: number[] = [];
      for (let i = 0; i < 6; i++) {
        st.scope(() => {
          opt.zeroGrad();
          const loss = x.matmul(w).add(b).tanh().sub(y).square().mean();
          loss.backward();
          st.optim.clipGradNorm_([w, b], 1.0);
          opt.step();
          sched.step();
          losses.push(Number(loss.itemSync()));
        });
        compiles.push(st.engine.stats().compiles);
        buffers.push(st.memory().js!.buffers);
      }
      expect(compiles.slice(2), "compiles after each step").toEqual(compiles.slice(2).map(() => compiles[1]));
      expect(buffers.slice(2), "live buffers after each step").toEqual(buffers.slice(2).map(() => buffers[1]));
      expect(losses.every(Number.isFinite)).toBe(true);
      expect(losses[5]!).toBeLessThan(losses[0]!);
    });
  }
});

/**
 * Runs the `@example` of every optimizer, scheduler and clipping function (as JavaScript, with `st`
 * in scope) and checks each `console.log(x);  // <value>` against the value the comment states
 * (a number or an array of numbers, to 1e-6; "≈" marks float32 results shown rounded).
 */
describe("doc examples run and give the results they state", () => {
  const files = ["sgd.ts", "adam.ts", "rmsprop.ts", "adagrad.ts", "lr-scheduler.ts", "clip.ts"];
  const examples: [string, string][] = [];
  for (const f of files) {
    const src = readFileSync(new URL(`../src/optim/${f}`, import.meta.url), "utf8");
    for (const m of src.matchAll(/@example\n((?:\s*\*(?: .*)?\n)+?)\s*\*\/\s*\nexport (?:abstract )?(?:class|function) (\w+)/g)) {
      examples.push([m[2]!, m[1]!.split("\n").map((l) => l.replace(/^\s*\* ?/, "")).join("\n")]);
    }
  }
  it("every exported optimizer, scheduler and clipping function has one", () => {
    expect(examples.map(([n]) => n).sort()).toEqual([
      "Adagrad", "Adam", "AdamW", "CosineAnnealingLR", "ExponentialLR", "LinearLR", "MultiStepLR", "OneCycleLR", "RMSprop", "ReduceLROnPlateau", "SGD",
      "SequentialLR", "StepLR", "clipGradNorm_", "clipGradValue_",
    ].sort());
  });
  const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor as new (...args: string[]) => (...a: unknown[]) => Promise<void>;
  for (const [name, code] of examples) {
    it(name, async () => {
      const expected: unknown[] = [], logged: unknown[] = [];
      const body = code.replace(/console\.log\((.*)\);\s*\/\/ ≈? ?(\[[^\]]*\]|-?[\d.e-]+)(?::.*)?$/gm, (_, arg: string, value: string) => {
        expected.push(JSON.parse(value));
        return `__log(${arg});`;
      });
      expect(expected.length, "the example states results").toBeGreaterThan(0);
      await new AsyncFunction("st", "__log", body)(st, (v: unknown) => logged.push(v));
      expect(logged.length).toBe(expected.length);
      logged.forEach((v, i) => {
        const e = expected[i], a = Array.isArray(v) ? v : [v];
        expectClose(a as number[], Array.isArray(e) ? e : [e as number], 1e-6, `${name}: log ${i} (${JSON.stringify(v)})`);
      });
    });
  }
});
