/**
 * Reverse-mode differentiation over the tensors' recorded primitives.
 */
import { realize } from "../engine/realize.ts";
import { AutogradError, ShapeError } from "../ir/errors.ts";
import { fmtShape } from "../ir/shape.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { withGradMode } from "./grad-mode.ts";
import { type ApplyFn, VJP, type VjpCtx } from "./vjp.ts";

let applyFn: ApplyFn | null = null;
/** @internal The tensor layer hands autograd its `apply` (autograd sits below it). */
export function setApply(fn: ApplyFn): void {
  applyFn = fn;
}

export interface BackwardOpts {
  retainGraph?: boolean;
  createGraph?: boolean;
}

function seedGrads(roots: readonly Tensor[], grads: readonly (Tensor | null)[]): Tensor[] {
  return roots.map((r, i) => {
    if (!r.requiresGrad) throw new AutogradError(`element ${i} of tensors does not require grad and does not have a gradFn`);
    const g = grads[i];
    if (g) {
      if (g.shape.length !== r.shape.length || g.shape.some((d, j) => d !== r.shape[j])) {
        throw new ShapeError(`backward: gradient of shape ${fmtShape(g.shape)} does not match the output of shape ${fmtShape(r.shape)}`);
      }
      return g.to(r.dtype);
    }
    if (r.numel() !== 1) throw new AutogradError(`grad can be implicitly created only for scalar outputs (got shape ${fmtShape(r.shape)}); pass a gradient`);
    return r.newOnes(r.shape);
  });
}

/** Tensors reachable from the roots through gradFns, in an order where users come before inputs. */
function reverseTopo(roots: readonly Tensor[]): Tensor[] {
  const seen = new Set<Tensor>(), post: Tensor[] = [];
  for (const r of roots) {
    const stack: [Tensor, boolean][] = [[r, false]];
    while (stack.length) {
      const [t, done] = stack.pop()!;
      if (done) { post.push(t); continue; }
      if (seen.has(t)) continue;
      seen.add(t);
      stack.push([t, true]);
      for (const i of t.gradFn?.inputs ?? []) if (i.requiresGrad && !seen.has(i)) stack.push([i, false]);
    }
  }
  return post.reverse();
}

/** Propagates gradients; returns the gradient reaching every tensor on the way. */
function propagate(roots: readonly Tensor[], seeds: readonly Tensor[], opts: BackwardOpts): Map<Tensor, Tensor> {
  const grads = new Map<Tensor, Tensor>();
  roots.forEach((r, i) => grads.set(r, grads.has(r) ? grads.get(r)!.add(seeds[i]!) : seeds[i]!));
  const order = reverseTopo(roots);
  withGradMode(!!opts.createGraph, () => {
    for (const t of order) {
      const g = grads.get(t);
      const fn = t.gradFn;
      if (!g || !fn) continue;
      const inputs = fn.inputs;
      if (!inputs) {
        throw new AutogradError("trying to backward through the graph a second time (or directly access saved tensors after they have already been freed); specify retainGraph: true if you need to");
      }
      inputs.forEach((inp, i) => {
        if (inp._version !== fn.versions[i]) {
          throw new AutogradError(`one of the tensors needed for gradient computation (input ${i} of ${fn.op}, shape ${fmtShape(inp.shape)}) has been modified by an in-place operation (version ${inp._version}, expected ${fn.versions[i]})`);
        }
      });
      const ctx: VjpCtx<typeof fn.op> = { inputs, params: fn.params as never, apply: applyFn! };
      const ig = (VJP[fn.op] as (g: Tensor, c: typeof ctx) => (Tensor | null)[])(g, ctx);
      inputs.forEach((inp, i) => {
        const gi = ig[i];
        if (!gi || !inp.requiresGrad) return;
        const v = gi.dtype === inp.dtype ? gi : gi.to(inp.dtype);
        const prev = grads.get(inp);
        grads.set(inp, prev ? prev.add(v) : v);
      });
      if (!opts.retainGraph) fn.inputs = null;
    }
  });
  return grads;
}

/** `tensor.backward()`: accumulates gradients into the `.grad` of leaves (and retained non-leaves). */
export function backward(roots: readonly Tensor[], grads: readonly (Tensor | null)[], opts: BackwardOpts = {}): void {
  const seeds = seedGrads(roots, grads);
  const all = propagate(roots, seeds, opts);
  const toRealize: Tensor[] = [...roots];
  for (const [t, g] of all) {
    if (!(t.isLeaf || t._retainsGrad)) continue;
    if (t.grad && !opts.createGraph) {
      // Accumulate into the same tensor object, as PyTorch does.
      withGradMode(false, () => t.grad!._replace(t.grad!.add(g), "grad accumulation"));
    } else {
      const prev = t.grad;
      t.grad = opts.createGraph ? (prev ? prev.add(g) : g) : g.detach();
      t.grad.pinned = true;
      if (prev && prev !== t.grad) prev.pinned = false;
    }
    toRealize.push(t.grad!);
  }
  if (!opts.createGraph) realize(toRealize.map((t) => t.node));
}

export interface GradOpts extends BackwardOpts {
  gradOutputs?: readonly (Tensor | null)[];
  /** Return null for inputs the outputs do not depend on, instead of raising. */
  allowUnused?: boolean;
}

/**
 * The gradients of `outputs` with respect to `inputs`, without touching any `.grad`, like
 * `torch.autograd.grad`. With `createGraph`, the results can be differentiated again.
 *
 * @example
 * const x = st.tensor([3], { dtype: "float64", requiresGrad: true });
 * const [dy] = st.grad(x.pow(3).sum(), [x], { createGraph: true }); // 3x² = 27
 * const [d2y] = st.grad(dy!.sum(), [x]);                            // 6x = 18
 */
export function grad(outputs: Tensor | readonly Tensor[], inputs: readonly Tensor[], opts: GradOpts = {}): (Tensor | null)[] {
  const outs = Array.isArray(outputs) ? (outputs as readonly Tensor[]) : [outputs as Tensor];
  const seeds = seedGrads(outs, opts.gradOutputs ?? outs.map(() => null));
  inputs.forEach((t, i) => {
    if (!t.requiresGrad) throw new AutogradError(`grad: input ${i} does not require grad`);
  });
  const all = propagate(outs, seeds, { retainGraph: opts.retainGraph ?? opts.createGraph, createGraph: opts.createGraph });
  return inputs.map((t, i) => {
    const g = all.get(t);
    if (!g && !opts.allowUnused) throw new AutogradError(`grad: input ${i} was not used in the graph of the outputs; pass allowUnused: true to get null for it`);
    return g ? (opts.createGraph ? g : g.detach()) : null;
  });
}
