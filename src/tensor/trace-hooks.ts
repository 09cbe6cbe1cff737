/**
 * What `st.jit` observes of tensors while it traces a step (jit.ts sets `tensorHooks.tracer`):
 * which tensors the step made, which existing ones it read, changed in place, or gave a new
 * `.grad`. Outside a trace the tracer is null and each hook is one property check.
 */
import type { LazyNode } from "../engine/lazy.ts";
import type { Tensor } from "./tensor.ts";

export interface TensorTracer {
  created(t: Tensor): void;
  /** `t.node` was read and is `n`; may realize `n` first (see jit.ts) and returns the node to use. */
  read(t: Tensor, n: LazyNode): LazyNode;
  /** `t` is about to hold a new node instead of `old`. */
  replaced(t: Tensor, old: LazyNode): void;
  /** `t.grad` was read (`g`) or is about to change from `g`. */
  grad(t: Tensor, g: Tensor | null): void;
}

export const tensorHooks: { tracer: TensorTracer | null } = { tracer: null };
