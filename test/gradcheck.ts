/**
 * Finite-difference gradient checks, like `torch.autograd.gradcheck` / `gradgradcheck` and
 * tinygrad's `helper_test_op`: the analytic gradient from `st.grad` against central differences,
 * in float64.
 *
 * A function of tensors returns one or more tensors; it is made scalar as
 * L = sum_k sum(out_k * cot_k) with the fixed cotangent of test/op-table.ts, so that every output
 * element is weighted differently and a transposed or misplaced gradient shows.
 *
 * Small inputs are checked element by element (the whole Jacobian-vector product). Larger ones
 * are checked along a few pseudo-random directions v: (L(x + eps v) - L(x - eps v)) / 2 eps must
 * equal <grad L, v>, which catches any wrong element with probability 1 (torch's fast mode); on
 * failure the element-by-element check runs too, to name the elements that are wrong.
 */
import * as st from "../src/index.ts";
import type { Tensor } from "../src/index.ts";
import { cotangent, Gen } from "./op-table.ts";

export type TensorFn = (xs: Tensor[]) => Tensor | readonly Tensor[];

export interface GradcheckOpts {
  /** Step of the central differences. */
  eps?: number;
  atol?: number;
  rtol?: number;
  /** Inputs with at most this many elements in all are checked element by element. */
  maxFull?: number;
  /** Directions checked for larger inputs. */
  directions?: number;
  /** Seed of the directions. */
  seed?: string;
}

const DEFAULTS: Required<GradcheckOpts> = { eps: 1e-6, atol: 1e-6, rtol: 1e-5, maxFull: 64, directions: 4, seed: "gradcheck" };

const outsOf = (o: Tensor | readonly Tensor[]): Tensor[] => (Array.isArray(o) ? [...(o as readonly Tensor[])] : [o as Tensor]);
const host = (t: Tensor): number[] => Array.from(t.dataSync() as ArrayLike<number | bigint>, Number);

/** sum_k sum(out_k * cot_k) over the float outputs (all of them: constants only shift the value). */
function scalarize(outs: readonly Tensor[]): Tensor | null {
  let loss: Tensor | null = null;
  outs.forEach((o, k) => {
    if (!o.isFloatingPoint()) return;
    const term = o.mul(st.tensor(cotangent(o.numel(), k), { dtype: o.dtype }).reshape(o.shape)).sum();
    loss = loss ? loss.add(term) : term;
  });
  return loss;
}

/** L at the inputs with the differentiated ones replaced by `values` (fresh leaves). */
function lossAt(f: TensorFn, inputs: readonly Tensor[], wrt: readonly number[], values: readonly number[][]): number {
  const xs = inputs.map((t, i) => {
    const w = wrt.indexOf(i);
    if (w < 0) return t;
    const x = st.tensor(values[w]!, { dtype: t.dtype }).reshape(t.shape).detach();
    // Kept differentiable, so that f may itself take gradients (gradgradcheck).
    return x.requiresGrad_(true);
  });
  const loss = scalarize(outsOf(f(xs)));
  return loss ? Number(loss.itemSync()) : 0;
}

/** The analytic gradient of L with respect to each differentiated input (zeros where unused). */
function analytic(f: TensorFn, inputs: readonly Tensor[], wrt: readonly number[]): number[][] {
  const loss = scalarize(outsOf(f([...inputs])));
  const ws = wrt.map((i) => inputs[i]!);
  if (!loss || !loss.requiresGrad) return ws.map((t) => new Array<number>(t.numel()).fill(0));
  const gs = st.grad(loss, ws, { allowUnused: true });
  return gs.map((g, i) => (g ? host(g) : new Array<number>(ws[i]!.numel()).fill(0)));
}

export interface GradcheckResult {
  mode: "full" | "directions";
  evaluations: number;
}

/**
 * Checks st.grad of `f` at `inputs` against central finite differences, with respect to every
 * input that requires grad (they must be float64). Throws with the mismatching elements.
 */
export function gradcheck(f: TensorFn, inputs: readonly Tensor[], options: GradcheckOpts = {}): GradcheckResult {
  const o = { ...DEFAULTS, ...options };
  const wrt = inputs.map((t, i) => (t.requiresGrad ? i : -1)).filter((i) => i >= 0);
  if (!wrt.length) throw new Error("gradcheck: no input requires grad");
  for (const i of wrt) if (inputs[i]!.dtype !== "float64") throw new Error(`gradcheck: input ${i} is ${inputs[i]!.dtype}; use float64`);
  const base = wrt.map((i) => host(inputs[i]!));
  const grads = analytic(f, inputs, wrt);
  const total = base.reduce((a, v) => a + v.length, 0);
  const at = (shift: (w: number, j: number) => number) => base.map((v, w) => v.map((x, j) => x + shift(w, j)));
  let evaluations = 0;
  const central = (dir: (w: number, j: number) => number) => {
    evaluations += 2;
    const plus = lossAt(f, inputs, wrt, at((w, j) => o.eps * dir(w, j)));
    const minus = lossAt(f, inputs, wrt, at((w, j) => -o.eps * dir(w, j)));
    return (plus - minus) / (2 * o.eps);
  };
  const full = (): string[] => {
    const bad: string[] = [];
    base.forEach((v, w) => v.forEach((_, j) => {
      const num = central((w2, j2) => (w2 === w && j2 === j ? 1 : 0));
      const ana = grads[w]![j]!;
      if (!(Math.abs(num - ana) <= o.atol + o.rtol * Math.abs(num))) bad.push(`input ${wrt[w]} [${j}]: analytic ${ana}, numeric ${num}`);
    }));
    return bad;
  };
  if (total <= o.maxFull) {
    const bad = full();
    if (bad.length) throw new Error(`gradcheck: ${bad.length} of ${total} gradient elements differ from finite differences: ${bad.slice(0, 8).join("; ")}`);
    return { mode: "full", evaluations };
  }
  const g = new Gen(o.seed);
  for (let d = 0; d < o.directions; d++) {
    const v = base.map((x) => x.map(() => 2 * g.next() - 1));
    const num = central((w, j) => v[w]![j]!);
    let ana = 0, scale = 0;
    grads.forEach((gw, w) => gw.forEach((x, j) => {
      ana += x * v[w]![j]!;
      scale += Math.abs(x * v[w]![j]!);
    }));
    if (!(Math.abs(num - ana) <= o.atol * Math.sqrt(total) + o.rtol * Math.max(scale, Math.abs(num)))) {
      const bad = full();
      throw new Error(`gradcheck: along direction ${d} the analytic derivative is ${ana} and the numeric one ${num}; element by element, ${bad.length} of ${total} differ: ${bad.slice(0, 8).join("; ")}`);
    }
  }
  return { mode: "directions", evaluations };
}

/**
 * Checks second derivatives: the gradient of x -> st.grad(L(f(x)), x, { createGraph: true })
 * against finite differences of that first gradient (PyTorch's gradgradcheck).
 */
export function gradgradcheck(f: TensorFn, inputs: readonly Tensor[], options: GradcheckOpts = {}): GradcheckResult {
  const firstGrad: TensorFn = (xs) => {
    const wrt = xs.filter((t) => t.requiresGrad);
    const loss = scalarize(outsOf(f(xs)));
    if (!loss || !loss.requiresGrad) return wrt.map((t) => t.newZeros(t.shape));
    return st.grad(loss, wrt, { createGraph: true, allowUnused: true }).map((g, i) => g ?? wrt[i]!.newZeros(wrt[i]!.shape));
  };
  return gradcheck(firstGrad, inputs, { seed: "gradgradcheck", ...options });
}
