/**
 * Gradient clipping, as `torch.nn.utils.clip_grad_norm_` and `clip_grad_value_`. Both change the
 * `.grad` of the given parameters in place, lazily: the scaling fuses into the optimizer step that
 * reads the gradients next.
 */
import { noGrad } from "../autograd/grad-mode.ts";
import { ValueError } from "../ir/errors.ts";
import { tensor } from "../tensor/create.ts";
import { div } from "../tensor/elementwise.ts";
import { stack } from "../tensor/movement.ts";
import { Tensor } from "../tensor/tensor.ts";

const gradsOf = (params: Tensor | Iterable<Tensor>): Tensor[] =>
  (params instanceof Tensor ? [params] : Array.from(params)).map((p) => p.grad).filter((g): g is Tensor => g !== null);

/**
 * Scales the gradients so that their total `normType`-norm (over all of them, as if concatenated)
 * is at most `maxNorm`: each gradient is multiplied by `min(1, maxNorm / (total + 1e-6))`. Returns
 * the total norm before clipping, as a 0-d tensor (reading it is what waits for the values).
 * `normType` may be any p > 0 or `Infinity`. With `errorIfNonfinite`, a NaN or infinite total norm
 * raises (this reads the norm on the host, so it waits for the gradients).
 *
 * @example
 * const w = st.tensor([1, 2]).requiresGrad_();
 * w.mul(st.tensor([3, 4])).sum().backward(); // grad [3, 4], norm 5
 * const norm = st.optim.clipGradNorm_([w], 1.0);
 * console.log(await norm.item());       // 5
 * console.log(await w.grad.tolist());   // ≈ [0.6, 0.8]
 */
export function clipGradNorm_(params: Tensor | Iterable<Tensor>, maxNorm: number, normType = 2, opts: { errorIfNonfinite?: boolean } = {}): Tensor {
  if (!(normType > 0)) throw new ValueError(`clipGradNorm_: normType must be positive or Infinity, got ${normType}`);
  const grads = gradsOf(params);
  if (!grads.length) return tensor(0);
  return noGrad(() => {
    const norms = grads.map((g) => g.norm(normType));
    // As PyTorch: the norm of the per-gradient norms (the max of the maxima for Infinity).
    const total = normType === Infinity ? (norms.length === 1 ? norms[0]! : stack(norms).amax()) : stack(norms).norm(normType);
    if (opts.errorIfNonfinite && !Number.isFinite(Number(total.itemSync()))) {
      throw new ValueError(`clipGradNorm_: the total norm of order ${normType} for gradients from \`parameters\` is non-finite, so it cannot be clipped. To disable this error and scale the gradients by the non-finite norm anyway, set errorIfNonfinite to false`);
    }
    const coef = div(maxNorm, total.add(1e-6)).clamp(null, 1);
    for (const g of grads) g.mul_(coef);
    return total;
  });
}

/**
 * Clamps every gradient element to [-clipValue, clipValue], in place.
 *
 * @example
 * const w = st.tensor([1, 2]).requiresGrad_();
 * w.mul(st.tensor([3, -0.25])).sum().backward();
 * st.optim.clipGradValue_([w], 0.5);
 * console.log(await w.grad.tolist());   // [0.5, -0.25]
 */
export function clipGradValue_(params: Tensor | Iterable<Tensor>, clipValue: number): void {
  noGrad(() => {
    for (const g of gradsOf(params)) g.clamp_(-clipValue, clipValue);
  });
}
