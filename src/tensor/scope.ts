/**
 * Tensor lifetimes: `st.scope(fn)` disposes what a block made, and a FinalizationRegistry
 * releases the buffers of tensors that were never disposed once JavaScript collects them.
 */
import { unref, type LazyNode } from "../engine/lazy.ts";

/** What a tensor owns: the node it holds. Shared with the finalizer, never the tensor itself. */
export interface NodeBox {
  node: LazyNode | null;
}

const finalizer = new FinalizationRegistry<NodeBox>((box) => {
  if (box.node) {
    const n = box.node;
    box.node = null;
    unref(n);
  }
});

export function track(owner: object, box: NodeBox): void {
  finalizer.register(owner, box, owner);
}

export function untrack(owner: object): void {
  finalizer.unregister(owner);
}

interface Disposable {
  dispose(): void;
  readonly isDisposed: boolean;
  /** Set on tensors whose lifetime another object manages (a parameter's `.grad`). */
  pinned: boolean;
}

const scopes: Disposable[][] = [];

export function addToScope(t: Disposable): void {
  const s = scopes[scopes.length - 1];
  if (s) s.push(t);
}

/**
 * @internal Runs `fn` (synchronously) with `made` as the only open scope: the tensors it creates
 * are pushed to `made` and to no scope of the caller's, even while an async `st.scope` is pending.
 * For work done in the background (a DataLoader preparing batches ahead), whose tensors must not
 * be freed at the end of whatever step happens to be running.
 */
export function withScopeList<T>(made: Disposable[], fn: () => T): T {
  const saved = scopes.splice(0, scopes.length, made);
  try {
    return fn();
  } finally {
    scopes.splice(0, scopes.length, ...saved);
  }
}

/** An object literal (or one made like it): what structures of tensors are built from. */
export const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype;

function collectKept(v: unknown, out: Set<unknown>, depth = 0): void {
  if (v === null || typeof v !== "object" || depth > 8) return;
  if (out.has(v)) return;
  out.add(v);
  if (Array.isArray(v)) for (const x of v) collectKept(x, out, depth + 1);
  else if (v instanceof Map) for (const x of v.values()) collectKept(x, out, depth + 1);
  else if (isPlainObject(v)) for (const x of Object.values(v)) collectKept(x, out, depth + 1);
}

/**
 * Adds the tensors that the autograd history of kept tensors refers to (`gradFn.inputs`), so
 * that `backward()` still works on a tensor returned from a scope.
 */
function keepHistory(kept: Set<unknown>): void {
  const stack = [...kept];
  while (stack.length) {
    const v = stack.pop() as { gradFn?: { inputs: readonly unknown[] | null } | null } | null;
    for (const i of v?.gradFn?.inputs ?? []) {
      if (!kept.has(i)) {
        kept.add(i);
        stack.push(i);
      }
    }
  }
}

function close(made: Disposable[], result: unknown): void {
  const kept = new Set<unknown>();
  collectKept(result, kept);
  for (const t of made) if (t.pinned) kept.add(t);
  keepHistory(kept);
  const outer = scopes[scopes.length - 1];
  for (const t of made) {
    if (kept.has(t) || t.pinned) {
      if (outer && !t.isDisposed) outer.push(t);
    } else if (!t.isDisposed) {
      t.dispose();
    }
  }
}

/**
 * Runs `fn` and disposes every tensor it created, except those it returns (directly, or inside
 * arrays, Maps and plain objects), those another object owns (a `.grad`), and those the autograd
 * history of these needs (so `backward()` works after the scope). Scopes nest; what a scope
 * keeps belongs to the enclosing one.
 * An async `fn` is awaited before disposal, so no other tensor work should run concurrently.
 *
 * @example
 * const loss = st.scope(() => {
 *   const out = model.forward(x);
 *   return st.nn.functional.crossEntropy(out, y); // everything else made here is freed
 * });
 */
export function scope<T>(fn: () => T): T {
  const made: Disposable[] = [];
  scopes.push(made);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    scopes.pop();
    close(made, undefined);
    throw e;
  }
  if (result instanceof Promise) {
    return result.then(
      (v) => {
        scopes.splice(scopes.lastIndexOf(made), 1);
        close(made, v);
        return v;
      },
      (e) => {
        scopes.splice(scopes.lastIndexOf(made), 1);
        close(made, undefined);
        throw e;
      },
    ) as T;
  }
  scopes.pop();
  close(made, result);
  return result;
}
