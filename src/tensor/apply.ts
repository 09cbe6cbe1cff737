/**
 * The one door from the tensor layer into the graph: applies a primitive to tensors, creating a
 * lazy node, and records what autograd needs when gradients are wanted.
 */
import { setApply } from "../autograd/backward.ts";
import { isGradEnabled } from "../autograd/grad-mode.ts";
import { LazyNode } from "../engine/lazy.ts";
import { getDefaultDevice } from "../engine/device.ts";
import { DeviceError } from "../ir/errors.ts";
import { INFER } from "../ir/infer.ts";
import { isFloat } from "../ir/dtype.ts";
import type { Prim, PrimParams } from "../ir/ops.ts";
import { type GradFn, Tensor } from "./tensor.ts";

const NOT_DIFFERENTIABLE: ReadonlySet<Prim> = new Set<Prim>(["cmplt", "cmpeq", "idiv", "trunc", "const", "iota", "random"]);

export function apply<P extends Prim>(op: P, inputs: readonly Tensor[], params: PrimParams[P], device?: string): Tensor {
  const dev = device ?? inputs[0]?.device ?? getDefaultDevice();
  for (const t of inputs) {
    if (t.device !== dev) {
      throw new DeviceError(`${op}: expected all tensors on one device, but found '${dev}' and '${t.device}'`);
    }
  }
  const aval = INFER[op](inputs.map((t) => ({ shape: t.shape, dtype: t.dtype })), params);
  const node = new LazyNode<P>(op, inputs.map((t) => t.node), params, aval.shape, aval.dtype, dev);
  let gradFn: GradFn | null = null;
  if (isGradEnabled() && !NOT_DIFFERENTIABLE.has(op) && isFloat(aval.dtype) && inputs.some((t) => t.requiresGrad)) {
    gradFn = { op, params, inputs: [...inputs], versions: inputs.map((t) => t._version) };
  }
  return new Tensor(node, gradFn);
}

setApply(apply);
