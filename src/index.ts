/**
 * Strata: a deep learning framework in TypeScript with PyTorch's API.
 *
 * @example
 * import * as st from "strata";
 * const x = st.randn([64, 784], { requiresGrad: true });
 * const w = st.randn([784, 10], { requiresGrad: true });
 * const loss = x.matmul(w).relu().logSoftmax(-1).mean();
 * loss.backward();
 * console.log(await loss.item(), (await w.grad!.data()).length);
 */
import "./tensor/apply.ts";
import { realize as realizeNodes, engineStats, resetStats, schedule as scheduleNodes } from "./engine/realize.ts";
import type { Tensor } from "./tensor/tensor.ts";

export { Tensor, ValuesIndices } from "./tensor/tensor.ts";
export type { Dims, NestedArray, Scalar, TensorOrScalar } from "./tensor/tensor.ts";
export type { DType } from "./ir/dtype.ts";
export { promoteTypes } from "./ir/dtype.ts";
export * from "./ir/errors.ts";
export {
  arange, empty, emptyLike, eye, full, fullLike, linspace, ones, onesLike, rand, randint, randLike, randn, randnLike,
  randperm, tensor, zeros, zerosLike, type CreateOpts, type TensorData,
} from "./tensor/create.ts";
export { getRngState, initialSeed, manualSeed, setRngState, type RngState } from "./tensor/random.ts";
export {
  abs, add, ceil, clamp, cos, div, eq, erf, exp, exp2, expm1, floor, floorDivide, fmod, ge, gelu, gt, isfinite, isinf,
  isnan, le, lerp, log, log10, log1p, log2, logicalAnd, logicalNot, logicalOr, logicalXor, lt, maskedFill, maximum,
  minimum, mul, ne, neg, pow, reciprocal, relu, remainder, resultType, round, rsqrt, sigmoid, sign, silu, sin, softplus,
  sqrt, square, sub, tan, tanh, trunc, where,
} from "./tensor/elementwise.ts";
export { all, amax, amin, any, argmax, argmin, cumsum, logSoftmax, logsumexp, mean, norm, prod, softmax, std, sum, variance as var } from "./tensor/reduce.ts";
export { cat, chunk, expand, flatten, flip, movedim, narrow, permute, repeat, reshape, roll, split, squeeze, stack, transpose, unbind, unflatten, unsqueeze } from "./tensor/movement.ts";
export { gather, indexSelect, scatterAdd, tril, triu, type IndexSpec } from "./tensor/indexing.ts";
export { bmm, dot, einsum, matmul, mm, outer } from "./tensor/linalg.ts";
export { scope } from "./tensor/scope.ts";
export { jit, type JitOptions, type Jitted } from "./tensor/jit.ts";
export { enableGrad, isGradEnabled, noGrad } from "./autograd/grad-mode.ts";
export { grad, type GradOpts } from "./autograd/backward.ts";
export { availableDevices, getDefaultDevice, memory, registerBackend, setDefaultDevice as device, type MemoryStats } from "./engine/device.ts";
export * as nn from "./nn/index.ts";
export * as optim from "./optim/index.ts";
export * as data from "./data/index.ts";
export * as train from "./train/index.ts";
export * as io from "./io/index.ts";

/** Computes the given tensors now, in one schedule (so shared work runs once). */
export function realize(...tensors: Tensor[]): void {
  realizeNodes(tensors.map((t) => t.node));
}

/** Engine introspection: the kernels a realization would run, and counters. */
export const engine = {
  /** The kernels and routine calls that realizing these tensors would run (nothing runs). */
  schedule: (...tensors: Tensor[]) => scheduleNodes(tensors.map((t) => t.node)),
  stats: engineStats,
  resetStats,
};
