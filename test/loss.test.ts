/**
 * Losses, functional and as modules, against PyTorch: values and input gradients of every loss
 * and option in float64 (tight) and float32 (loose), from test/fixtures/loss.json (regenerate with
 * `/usr/bin/python3 scripts/loss_reference.py test/fixtures/loss.json`); the modules' buffers and
 * state-dict names; the errors bad inputs give at the call; and the doc examples of the loss
 * modules and functions, run with their stated results.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import * as st from "../src/index.ts";
import type { Tensor } from "../src/index.ts";

const F = st.nn.functional;
const nn = st.nn;

type FixNum = number | "nan" | "inf" | "-inf";
interface FixInput { shape: number[]; dtype: "float" | "int64" | "int32"; v: number[]; grad: boolean; pre?: "logSoftmax" | "softmax" | "sigmoid" }
interface FixCase { id: string; fn: string; inputs: FixInput[]; kw: Record<string, unknown>; out: { shape: number[]; v: FixNum[] }; cot?: number[]; grads?: (FixNum[] | null)[] }
interface Fixture {
  torch: string;
  cases: FixCase[];
  stateDicts: Record<string, string[]>;
  buffers: Record<string, string[]>;
  torchRaises: Record<string, string>;
}
const FIX = JSON.parse(readFileSync(new URL("./fixtures/loss.json", import.meta.url), "utf8")) as Fixture;

type Mode = "float64" | "float32";
const TOL: Record<Mode, { atol: number; rtol: number }> = { float64: { atol: 1e-10, rtol: 1e-9 }, float32: { atol: 2e-5, rtol: 1e-4 } };
const num = (v: FixNum): number => (v === "nan" ? NaN : v === "inf" ? Infinity : v === "-inf" ? -Infinity : v);

function assertClose(actual: ArrayLike<number>, expected: readonly FixNum[], mode: Mode, what: string): void {
  expect(actual.length, `${what}: number of elements`).toBe(expected.length);
  const { atol, rtol } = TOL[mode];
  const bad: string[] = [];
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!, e = num(expected[i]!);
    const ok = Number.isNaN(e) ? Number.isNaN(a) : !Number.isFinite(e) ? a === e : Math.abs(a - e) <= atol + rtol * Math.abs(e);
    if (!ok) bad.push(`[${i}] got ${a}, torch ${e}`);
  }
  if (bad.length) throw new Error(`${what} (${mode}): ${bad.length} of ${expected.length} differ from torch: ${bad.slice(0, 6).join("; ")}`);
}

const PRE = { logSoftmax: (t: Tensor) => t.logSoftmax(-1), softmax: (t: Tensor) => t.softmax(-1), sigmoid: (t: Tensor) => t.sigmoid() };

/** The inputs of a case as leaves (float ones in `mode`) and as the loss sees them (after `pre`). */
function makeInputs(c: FixCase, mode: Mode): { leaves: Tensor[]; seen: Tensor[] } {
  const leaves = c.inputs.map((inp) => {
    const t = st.tensor(inp.v, { dtype: inp.dtype === "float" ? mode : inp.dtype }).reshape(inp.shape);
    return inp.grad ? t.requiresGrad_(true) : t;
  });
  return { leaves, seen: leaves.map((t, i) => (c.inputs[i]!.pre ? PRE[c.inputs[i]!.pre!](t) : t)) };
}

type Kw = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const opt = (x: Tensor[], i: unknown): Tensor | undefined => (typeof i === "number" ? x[i] : undefined);
function lengths(kw: Kw, name: "inputLengths" | "targetLengths"): number | number[] | Tensor {
  const v = kw[name] as number | number[];
  return kw.lengthsAsTensor ? st.tensor(v, { dtype: "int64" }) : v;
}

/** Each fixture function, called through st.nn.functional and through its module. */
const LOSSES: Record<string, { fn: (x: Tensor[], kw: Kw) => Tensor; mod: (x: Tensor[], kw: Kw) => Tensor }> = {
  mseLoss: { fn: (x, kw) => F.mseLoss(x[0]!, x[1]!, kw), mod: (x, kw) => new nn.MSELoss(kw).forward(x[0]!, x[1]!) },
  l1Loss: { fn: (x, kw) => F.l1Loss(x[0]!, x[1]!, kw), mod: (x, kw) => new nn.L1Loss(kw).forward(x[0]!, x[1]!) },
  smoothL1Loss: { fn: (x, kw) => F.smoothL1Loss(x[0]!, x[1]!, kw), mod: (x, kw) => new nn.SmoothL1Loss(kw).forward(x[0]!, x[1]!) },
  huberLoss: { fn: (x, kw) => F.huberLoss(x[0]!, x[1]!, kw), mod: (x, kw) => new nn.HuberLoss(kw).forward(x[0]!, x[1]!) },
  binaryCrossEntropy: {
    fn: (x, kw) => F.binaryCrossEntropy(x[0]!, x[1]!, { weight: opt(x, kw.weight), reduction: kw.reduction }),
    mod: (x, kw) => new nn.BCELoss({ weight: opt(x, kw.weight), reduction: kw.reduction }).forward(x[0]!, x[1]!),
  },
  binaryCrossEntropyWithLogits: {
    fn: (x, kw) => F.binaryCrossEntropyWithLogits(x[0]!, x[1]!, { weight: opt(x, kw.weight), posWeight: opt(x, kw.posWeight), reduction: kw.reduction }),
    mod: (x, kw) => new nn.BCEWithLogitsLoss({ weight: opt(x, kw.weight), posWeight: opt(x, kw.posWeight), reduction: kw.reduction }).forward(x[0]!, x[1]!),
  },
  nllLoss: {
    fn: (x, kw) => F.nllLoss(x[0]!, x[1]!, { ...kw, weight: opt(x, kw.weight) }),
    mod: (x, kw) => new nn.NLLLoss({ ...kw, weight: opt(x, kw.weight) }).forward(x[0]!, x[1]!),
  },
  crossEntropy: {
    fn: (x, kw) => F.crossEntropy(x[0]!, x[1]!, { ...kw, weight: opt(x, kw.weight) }),
    mod: (x, kw) => new nn.CrossEntropyLoss({ ...kw, weight: opt(x, kw.weight) }).forward(x[0]!, x[1]!),
  },
  klDiv: { fn: (x, kw) => F.klDiv(x[0]!, x[1]!, kw), mod: (x, kw) => new nn.KLDivLoss(kw).forward(x[0]!, x[1]!) },
  cosineEmbeddingLoss: { fn: (x, kw) => F.cosineEmbeddingLoss(x[0]!, x[1]!, x[2]!, kw), mod: (x, kw) => new nn.CosineEmbeddingLoss(kw).forward(x[0]!, x[1]!, x[2]!) },
  tripletMarginLoss: { fn: (x, kw) => F.tripletMarginLoss(x[0]!, x[1]!, x[2]!, kw), mod: (x, kw) => new nn.TripletMarginLoss(kw).forward(x[0]!, x[1]!, x[2]!) },
  ctcLoss: {
    fn: (x, kw) => F.ctcLoss(x[0]!, x[1]!, lengths(kw, "inputLengths"), lengths(kw, "targetLengths"), kw),
    mod: (x, kw) => new nn.CTCLoss(kw).forward(x[0]!, x[1]!, lengths(kw, "inputLengths"), lengths(kw, "targetLengths")),
  },
};

const values = (t: Tensor): number[] => Array.from(t.dataSync() as ArrayLike<number>);

describe("losses against torch", () => {
  it(`the fixture covers every loss (torch ${FIX.torch})`, () => {
    expect(new Set(FIX.cases.map((c) => c.fn))).toEqual(new Set(Object.keys(LOSSES)));
  });
  for (const c of FIX.cases) {
    for (const mode of ["float64", "float32"] as const) {
      it(`${c.id} ${mode}`, () => {
        st.scope(() => {
          const { leaves, seen } = makeInputs(c, mode);
          const loss = LOSSES[c.fn]!;
          const out = loss.fn(seen, c.kw);
          expect(out.shape).toEqual(c.out.shape);
          expect(out.dtype).toBe(mode);
          assertClose(values(out), c.out.v, mode, `${c.id} value`);
          // the module gives the same
          assertClose(values(loss.mod(seen, c.kw)), c.out.v, mode, `${c.id} module value`);
          if (!c.grads) return;
          const scalar = c.cot ? out.mul(st.tensor(c.cot, { dtype: mode }).reshape(c.out.shape)).sum() : out;
          const wrt = leaves.filter((_, i) => c.inputs[i]!.grad);
          const gs = st.grad(scalar, wrt);
          let k = 0;
          c.grads.forEach((g, i) => {
            if (g) assertClose(values(gs[k++]!), g, mode, `${c.id} gradient of input ${i}`);
          });
        });
      });
    }
  }
});

describe("loss modules", () => {
  const w = () => st.tensor([1, 2, 3]);
  it("class weights are buffers with PyTorch's state-dict names", () => {
    const keys = (m: st.nn.Module) => Object.keys(m.stateDict());
    expect(keys(new nn.CrossEntropyLoss())).toEqual(FIX.stateDicts["CrossEntropyLoss"]);
    expect(keys(new nn.CrossEntropyLoss({ weight: w() }))).toEqual(FIX.stateDicts["CrossEntropyLoss(weight)"]);
    expect(keys(new nn.NLLLoss({ weight: w() }))).toEqual(FIX.stateDicts["NLLLoss(weight)"]);
    expect(keys(new nn.BCELoss({ weight: w() }))).toEqual(FIX.stateDicts["BCELoss(weight)"]);
    expect(keys(new nn.BCEWithLogitsLoss({ weight: w(), posWeight: w().mul(2) }))).toEqual(FIX.stateDicts["BCEWithLogitsLoss(weight, posWeight)"]);
    expect(keys(new nn.BCEWithLogitsLoss({ posWeight: w() }))).toEqual(FIX.stateDicts["BCEWithLogitsLoss(posWeight)"]);
    expect(keys(new nn.MSELoss())).toEqual(FIX.stateDicts["MSELoss"]);
    const m = new nn.BCEWithLogitsLoss({ weight: w(), posWeight: w().mul(2) });
    expect(m.namedBuffers().map(([n]) => n)).toEqual(["weight", "pos_weight"]);
    expect(m.parameters()).toEqual([]);
    expect(values(m.stateDict()["pos_weight"]!)).toEqual([2, 4, 6]);
  });

  it("a loaded weight is the one forward uses; to() casts it", () => {
    const x = st.tensor([[0.5, -1, 2], [1, 0, -0.5]], { dtype: "float64" });
    const y = st.tensor([2, 0], { dtype: "int64" });
    const ce = new nn.CrossEntropyLoss({ weight: st.ones([3]) });
    ce.loadStateDict({ weight: st.tensor([0.5, 1, 3]) });
    ce.double();
    expect(ce.weight!.dtype).toBe("float64");
    expect(ce.forward(x, y).itemSync()).toBeCloseTo(F.crossEntropy(x, y, { weight: st.tensor([0.5, 1, 3], { dtype: "float64" }) }).itemSync() as number, 12);
    expect(() => ce.loadStateDict({ weight: st.ones([4]) })).toThrow(/size mismatch for weight/);
  });

  it("options are kept and printed; reductions are checked when the module is made", () => {
    const m = new nn.TripletMarginLoss({ margin: 0.5, p: 1, swap: true, reduction: "sum" });
    expect([m.margin, m.p, m.eps, m.swap, m.reduction]).toEqual([0.5, 1, 1e-6, true, "sum"]);
    expect(new nn.KLDivLoss({ reduction: "batchmean" }).reduction).toBe("batchmean");
    expect(String(new nn.MSELoss({ reduction: "none" }))).toBe("MSELoss(reduction=none)");
    expect(String(new nn.L1Loss())).toBe("L1Loss()");
    expect(new nn.CTCLoss().blank).toBe(0);
    expect(new nn.CrossEntropyLoss().ignoreIndex).toBe(-100);
  });

  it("a model trains with a loss module (the loss falls)", () => {
    st.manualSeed(0);
    const x = st.randn([16, 4]), wTrue = st.tensor([[1], [-2], [0.5], [3]]);
    const y = x.matmul(wTrue);
    const w = st.zeros([4, 1], { requiresGrad: true });
    const mse = new nn.HuberLoss({ delta: 2 });
    const first = mse.forward(x.matmul(w), y).itemSync() as number;
    let last = first;
    for (let i = 0; i < 30; i++) {
      const l = mse.forward(x.matmul(w), y);
      const [g] = st.grad(l, [w]);
      st.noGrad(() => w.sub_(g!.mul(0.3)));
      last = l.itemSync() as number;
    }
    expect(last).toBeLessThan(first / 20);
  });
});

// ---- errors ----

function raises(fn: () => unknown, cls: new (...a: never[]) => st.StrataError, msg: string | RegExp): void {
  let err: unknown = null;
  const before = st.engine.stats().kernels;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, "expected an error").toBeInstanceOf(cls);
  const m = (err as Error).message;
  if (typeof msg === "string") expect(m).toBe(msg);
  else expect(m).toMatch(msg);
  expect(st.engine.stats().kernels, "raised at the call, before anything ran").toBe(before);
}

const i64 = (v: st.NestedArray) => st.tensor(v, { dtype: "int64" });
const lp = () => st.zeros([5, 2, 4]).logSoftmax(2);
const x34 = () => st.zeros([3, 4]);
const tg = () => i64([[1, 2], [1, 1]]);

/** Error cases torch rejects too (the fixture holds torch's message for each id). */
const SHARED_ERRORS: Record<string, [() => unknown, new (...a: never[]) => st.StrataError, string | RegExp]> = {
  "ctc/inputLength>T": [() => F.ctcLoss(lp(), tg(), [6, 5], [2, 2]), st.ValueError, "ctcLoss: inputLengths[0] = 6 is more than the 5 frames of logProbs [5, 2, 4]"],
  "ctc/targetLength>S": [() => F.ctcLoss(lp(), tg(), [5, 5], [3, 2]), st.ValueError, "ctcLoss: targetLengths[0] = 3 is more than the 2 columns of the padded targets [2, 2]"],
  "ctc/concatenated size": [() => F.ctcLoss(lp(), i64([1, 2, 3]), [5, 5], [2, 2]), st.ShapeError, "ctcLoss: concatenated (1-D) targets must have sum(targetLengths) = 4 entries, got [3]"],
  "ctc/inputLengths count": [() => F.ctcLoss(lp(), tg(), [5], [2, 2]), st.ShapeError, "ctcLoss: inputLengths must have one entry per batch element (2), got 1"],
  "ctc/targetLengths count": [() => F.ctcLoss(lp(), tg(), [5, 5], [2]), st.ShapeError, "ctcLoss: targetLengths must have one entry per batch element (2), got 1"],
  "ctc/blank range": [() => F.ctcLoss(lp(), tg(), [5, 5], [2, 2], { blank: 4 }), st.ValueError, "ctcLoss: blank must be in the label range [0, 4), got 4"],
  "ctc/int logProbs": [() => F.ctcLoss(st.zeros([5, 2, 4], { dtype: "int64" }), tg(), [5, 5], [2, 2]), st.DTypeError, "ctcLoss: expected floating point logProbs, got int64"],
  "ctc/4-D logProbs": [() => F.ctcLoss(st.zeros([1, 5, 2, 4]), tg(), [5, 5], [2, 2]), st.ShapeError, "ctcLoss: expected logProbs of shape [T, N, C] (or [T, C] unbatched), got [1, 5, 2, 4]"],
  "crossEntropy/float labels [N]": [() => new nn.CrossEntropyLoss().forward(x34(), st.tensor([0, 1, 2])), st.ShapeError,
    "crossEntropy: a float target holds class probabilities and must have the input's shape [3, 4], got [3]; class indices must be an integer (int64) tensor"],
  "crossEntropy/weight size": [() => F.crossEntropy(x34(), i64([0, 1, 2]), { weight: st.ones([3]) }), st.ShapeError,
    "crossEntropy: weight should have one entry per class (4) for input [3, 4], got weight of shape [3]"],
  "crossEntropy/int probabilities": [() => F.crossEntropy(x34(), st.zeros([3, 4], { dtype: "int64" })), st.ShapeError, "nllLoss: expected target of shape [3] for input [3, 4], got [3, 4]"],
  "crossEntropy/target shape": [() => F.crossEntropy(x34(), i64([0, 1])), st.ShapeError, "nllLoss: expected target of shape [3] for input [3, 4], got [2]"],
  "crossEntropy/reduction": [() => F.crossEntropy(x34(), i64([0, 1, 2]), { reduction: "avg" as "mean" }), st.ValueError, "crossEntropy: reduction must be 'mean', 'sum' or 'none', got 'avg'"],
  "bce/int labels": [() => new nn.BCELoss().forward(x34().sigmoid(), st.ones([3, 4], { dtype: "int64" })), st.DTypeError,
    'binaryCrossEntropy: expected a floating point target, got int64 (convert integer labels with .to("float32") first)'],
  "bceWithLogits/int labels": [() => F.binaryCrossEntropyWithLogits(x34(), st.ones([3, 4], { dtype: "int32" })), st.DTypeError, /binaryCrossEntropyWithLogits: expected a floating point target, got int32/],
  "bceWithLogits/posWeight shape": [() => new nn.BCEWithLogitsLoss({ posWeight: st.ones([3]) }).forward(x34(), st.ones([3, 4])), st.ShapeError,
    "binaryCrossEntropyWithLogits: posWeight: shapes [3] and [3, 4] cannot be broadcast together (dimension -1: 3 vs 4)"],
  "smoothL1/beta<0": [() => F.smoothL1Loss(x34(), x34(), { beta: -1 }), st.ValueError, "smoothL1Loss: beta must be non-negative, got -1"],
  "huber/delta=0": [() => F.huberLoss(x34(), x34(), { delta: 0 }), st.ValueError, "huberLoss: delta must be positive, got 0"],
  "klDiv/int target": [() => F.klDiv(x34(), st.ones([3, 4], { dtype: "int64" })), st.DTypeError, /klDiv: expected a floating point target, got int64/],
  "klDiv/reduction": [() => F.klDiv(x34(), x34(), { reduction: "batch" as "mean" }), st.ValueError, "klDiv: reduction must be 'mean', 'batchmean', 'sum' or 'none', got 'batch'"],
  "cosine/target dims": [() => F.cosineEmbeddingLoss(x34(), x34(), st.ones([3, 1])), st.ShapeError, "cosineEmbeddingLoss: expected a 0-D or 1-D target, got [3, 1] (multi-target not supported)"],
  "cosine/1-D target, 1-D inputs": [() => F.cosineEmbeddingLoss(st.zeros([4]), st.zeros([4]), st.ones([4])), st.ShapeError,
    "cosineEmbeddingLoss: a 1-D target expects 2-D inputs, got [4] and [4]"],
  "cosine/target size": [() => F.cosineEmbeddingLoss(x34(), x34(), st.ones([2])), st.ShapeError, "cosineEmbeddingLoss: expected a target of shape [3] for inputs [3, 4], got [2]"],
  "cosine/input shapes": [() => F.cosineEmbeddingLoss(x34(), st.zeros([3, 5]), st.ones([3])), st.ShapeError, "cosineEmbeddingLoss: input1 [3, 4] and input2 [3, 5] must have the same shape"],
  "triplet/dims": [() => F.tripletMarginLoss(x34(), x34(), st.zeros([4])), st.ShapeError, "tripletMarginLoss: all inputs should have the same number of dims, got 2-D, 2-D and 1-D inputs"],
  "triplet/sizes": [() => new nn.TripletMarginLoss().forward(x34(), x34(), st.zeros([2, 4])), st.ShapeError,
    "tripletMarginLoss: shapes [3, 4] and [2, 4] cannot be broadcast together (dimension -2: 3 vs 2)"],
  "nll/weight size": [() => new nn.NLLLoss({ weight: st.ones([5]) }).forward(x34(), i64([0, 1, 2])), st.ShapeError,
    "nllLoss: weight should have one entry per class (4) for input [3, 4], got weight of shape [5]"],
};

/** Errors where torch does something else (garbage values, a silent cast): Strata raises. */
const STRATA_ERRORS: Record<string, [() => unknown, new (...a: never[]) => st.StrataError, string | RegExp]> = {
  "ctc/negative input length (torch: garbage)": [() => F.ctcLoss(lp(), tg(), [5, -1], [2, 2]), st.ValueError, "ctcLoss: inputLengths must be non-negative integers, got -1 at position 1"],
  "ctc/negative target length (torch: garbage)": [() => new nn.CTCLoss().forward(lp(), tg(), [5, 5], [-1, 2]), st.ValueError, "ctcLoss: targetLengths must be non-negative integers, got -1 at position 0"],
  "ctc/fractional length": [() => F.ctcLoss(lp(), tg(), [5, 4.5], [2, 2]), st.ValueError, /inputLengths must be non-negative integers, got 4.5/],
  "ctc/float targets (torch casts)": [() => F.ctcLoss(lp(), st.tensor([[1, 2], [1, 1]]), [5, 5], [2, 2]), st.DTypeError, "ctcLoss: expected targets of an integer dtype (class indices), got float32"],
  "ctc/float length tensor": [() => F.ctcLoss(lp(), tg(), st.tensor([5, 5]), [2, 2]), st.DTypeError, "ctcLoss: inputLengths must be integers, got a float32 tensor"],
  "ctc/3-D targets": [() => F.ctcLoss(lp(), i64([[[1]], [[2]]]), [5, 5], [1, 1]), st.ShapeError, "ctcLoss: expected targets padded [N, S] or concatenated 1-D, got [2, 1, 1]"],
  "ctc/padded rows": [() => F.ctcLoss(lp(), i64([[1, 2]]), [5, 5], [2, 2]), st.ShapeError, "ctcLoss: padded targets [N, S] must have N = 2 rows, got [1, 2]"],
  "mse/int labels (torch casts)": [() => new nn.MSELoss().forward(x34(), st.ones([3, 4], { dtype: "int64" })), st.DTypeError,
    'mseLoss: expected a floating point target, got int64 (convert integer labels with .to("float32") first)'],
  "l1/int labels (torch casts)": [() => F.l1Loss(x34(), st.ones([3, 4], { dtype: "int64" })), st.DTypeError, /l1Loss: expected a floating point target, got int64/],
  "mse/int predictions": [() => F.mseLoss(st.ones([3], { dtype: "int64" }), st.ones([3])), st.DTypeError, "mseLoss: expected a floating point input, got int64"],
  "huber/shape (torch broadcasts, with a warning)": [() => new nn.HuberLoss().forward(x34(), st.zeros([4])), st.ShapeError, "huberLoss: target size [4] must be the same as input size [3, 4]"],
  "smoothL1/reduction": [() => F.smoothL1Loss(x34(), x34(), { reduction: "batchmean" as "mean" }), st.ValueError, "smoothL1Loss: reduction must be 'mean', 'sum' or 'none', got 'batchmean'"],
  "nll/float labels": [() => new nn.NLLLoss().forward(x34(), st.tensor([0, 1, 2])), st.DTypeError, /nllLoss: expected target of an integer dtype \(class indices, int64\), got float32/],
  "nll/reduction": [() => F.nllLoss(x34(), i64([0, 1, 2]), { reduction: "avg" as "mean" }), st.ValueError, "nllLoss: reduction must be 'mean', 'sum' or 'none', got 'avg'"],
  "cosine/bool target": [() => F.cosineEmbeddingLoss(x34(), x34(), st.tensor([true, false, true])), st.DTypeError, /cosineEmbeddingLoss: expected a target of 1 and -1/],
  "triplet/p": [() => F.tripletMarginLoss(x34(), x34(), x34(), { p: 0 }), st.ValueError, "tripletMarginLoss: p must be positive, got 0"],
  "module/reduction": [() => new nn.CrossEntropyLoss({ reduction: "avg" as "mean" }), st.ValueError, "CrossEntropyLoss: reduction must be 'mean', 'sum' or 'none', got 'avg'"],
  "module/labelSmoothing": [() => new nn.CrossEntropyLoss({ labelSmoothing: 1.5 }), st.ValueError, "CrossEntropyLoss: labelSmoothing must be between 0.0 and 1.0, got 1.5"],
  "module/weight dims": [() => new nn.NLLLoss({ weight: st.ones([2, 2]) }), st.ShapeError, "NLLLoss: weight must be a 1-D tensor with one entry per class, got shape [2, 2]"],
  "module/weight dtype": [() => new nn.CrossEntropyLoss({ weight: i64([1, 2]) }), st.DTypeError, "CrossEntropyLoss: weight must be a floating point tensor, got int64"],
  "module/beta": [() => new nn.SmoothL1Loss({ beta: -0.5 }), st.ValueError, "SmoothL1Loss: beta must be non-negative, got -0.5"],
  "module/delta": [() => new nn.HuberLoss({ delta: 0 }), st.ValueError, "HuberLoss: delta must be positive, got 0"],
  "module/blank": [() => new nn.CTCLoss({ blank: -1 }), st.ValueError, "CTCLoss: blank must be a non-negative integer, got -1"],
  "module/klDiv reduction": [() => new nn.KLDivLoss({ reduction: "avg" as "mean" }), st.ValueError, "KLDivLoss: reduction must be 'mean', 'batchmean', 'sum' or 'none', got 'avg'"],
};

describe("bad inputs raise at the call", () => {
  it("every error case torch rejects has a Strata case, and the reverse", () => {
    expect(Object.keys(SHARED_ERRORS).sort()).toEqual(Object.keys(FIX.torchRaises).sort());
  });
  for (const [id, [fn, cls, msg]] of Object.entries(SHARED_ERRORS)) {
    it(`${id} (torch: ${FIX.torchRaises[id] ?? "?"})`, () => raises(fn, cls, msg));
  }
  for (const [id, [fn, cls, msg]] of Object.entries(STRATA_ERRORS)) {
    it(id, () => raises(fn, cls, msg));
  }
  it("CTC labels out of range raise when the loss is computed", () => {
    expect(() => F.ctcLoss(lp(), i64([[1, 7], [1, 1]]), [5, 5], [2, 2]).dataSync()).toThrow(st.IndexError);
  });
  it("a target too long for its input is an infinite loss, as in torch (0 with zeroInfinity)", () => {
    const l = F.ctcLoss(lp(), i64([[1, 1, 1], [1, 2, 3]]), [4, 5], [3, 3], { reduction: "none" });
    expect(values(l)[0]).toBe(Infinity);
    expect(Number.isFinite(values(l)[1])).toBe(true);
    const z = F.ctcLoss(lp(), i64([[1, 1, 1], [1, 2, 3]]), [4, 5], [3, 3], { reduction: "none", zeroInfinity: true });
    expect(values(z)[0]).toBe(0);
  });
});

describe("CTC beyond the fixture", () => {
  it("an input of length 0 fits only the empty target (loss 0; otherwise inf)", () => {
    const l = F.ctcLoss(lp(), i64([[1, 2], [0, 0]]), [0, 0], [1, 0], { reduction: "none" });
    expect(values(l)).toEqual([Infinity, -0]); // -0 as torch's -(log 1)
  });
  it("hand-counted: 15 alignments of [1, 2] in 4 uniform frames over 3 classes", () => {
    const l = F.ctcLoss(st.zeros([4, 3], { dtype: "float64" }).logSoftmax(1), i64([1, 2]), 4, 2, { reduction: "sum" });
    expect(l.itemSync()).toBeCloseTo(-Math.log(15 / 81), 12);
  });
  it("runs a bounded number of kernels per frame, forward and backward (the recursion is not inlined)", () => {
    const kernelsFor = (T: number) => {
      const x = st.zeros([T, 2, 5], { requiresGrad: true });
      const before = st.engine.stats().kernels;
      const [g] = st.grad(F.ctcLoss(x.logSoftmax(2), i64([[1, 2, 2], [3, 4, 0]]), [T, T - 1], [3, 2]), [x]);
      g!.dataSync();
      return st.engine.stats().kernels - before;
    };
    const k8 = kernelsFor(8), k16 = kernelsFor(16), k24 = kernelsFor(24);
    expect(k24 - k16).toBe(k16 - k8);
    expect((k16 - k8) / 8).toBeLessThanOrEqual(12);
  });
});

// ---- doc examples ----

/**
 * Runs each `@example` of the loss sources with `st` in scope, and checks every
 * `console.log(...)  // <expected>` whose comment states a number (the part after the last "=",
 * if any): to the digits shown when it ends in "...", else to 1e-6. The examples are run as
 * JavaScript, so they keep to the TypeScript that is also JavaScript (no `!`, no annotations).
 */
describe("doc examples run and give the results they state", () => {
  const files = ["../src/nn/loss/losses.ts", "../src/nn/loss/functional.ts"];
  const examples: [string, string][] = [];
  for (const f of files) {
    const src = readFileSync(new URL(f, import.meta.url), "utf8");
    for (const m of src.matchAll(/@example\n((?:\s*\*(?: .*)?\n)+?)\s*\*\/\s*\nexport (?:class|function) (\w+)/g)) {
      examples.push([m[2]!, m[1]!.split("\n").map((l) => l.replace(/^\s*\* ?/, "")).join("\n")]);
    }
  }
  it("every loss module and added loss function has one", () => {
    expect(examples.map(([n]) => n).sort()).toEqual([
      "BCELoss", "BCEWithLogitsLoss", "CTCLoss", "CosineEmbeddingLoss", "CrossEntropyLoss", "HuberLoss", "KLDivLoss", "L1Loss", "MSELoss", "NLLLoss", "SmoothL1Loss",
      "TripletMarginLoss", "cosineEmbeddingLoss", "ctcLoss", "huberLoss", "klDiv", "smoothL1Loss", "tripletMarginLoss",
    ].sort());
  });
  const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor as new (...args: string[]) => (...a: unknown[]) => Promise<void>;
  for (const [name, code] of examples) {
    it(name, async () => {
      const logged: unknown[][] = [];
      const expected: string[] = [];
      const body = code.replace(/console\.log\((.*)\);\s*\/\/ (.*)$/gm, (_, args: string, comment: string) => {
        expected.push(comment);
        return `__log(${args});`;
      });
      await new AsyncFunction("st", "__log", body)(st, (...a: unknown[]) => logged.push(a));
      expect(logged.length).toBe(expected.length);
      expected.forEach((comment, i) => {
        const claim = comment.split("=").pop()!.trim().split(/\s{2,}|\s\(/)[0]!;
        const m = /^(-?\d+(?:\.\d+)?)(?: \/ (\d+(?:\.\d+)?))?(\.\.\.)?$/.exec(claim);
        if (!m) return; // not a numeric claim (an array, a shape)
        const want = m[2] ? Number(m[1]) / Number(m[2]) : Number(m[1]);
        const digits = m[3] ? (m[1]!.split(".")[1] ?? "").length : 6;
        expect(Math.abs(Number(logged[i]![0]) - want), `${name}: logged ${logged[i]![0]}, comment says ${comment}`).toBeLessThanOrEqual(10 ** -digits);
      });
    });
  }
});
