/**
 * Finds the ops a dot routine can apply to its products before storing them (its epilogue): a
 * bias added along the rows and a ReLU, as `linear(x, w, b).relu()` builds them. The routine's
 * result is then the last of those ops, and the product itself gets no buffer and no kernel of
 * its own reads it back.
 */
import type { LazyNode } from "./lazy.ts";
import type { FusedDot } from "./lower.ts";
import { routineSource } from "./schedule.ts";
import { numel, shapesEqual } from "../ir/shape.ts";

/** Its only consumer, or null. */
function soleUser(n: LazyNode, users: (n: LazyNode) => LazyNode[]): LazyNode | null {
  const u = users(n);
  return u.length === 1 ? u[0]! : null;
}

/** `n` seen through unrealized reshapes and expands (the views a broadcast scalar or row takes). */
function throughViews(n: LazyNode): LazyNode {
  while (!n.realized && (n.op === "reshape" || n.op === "expand")) n = n.srcs[0]!;
  return n;
}

/** A broadcast +0 (the `where`'s fill must be +0: -0 would give -0 where ReLU gives 0). */
function isPlusZero(n: LazyNode): boolean {
  const c = throughViews(n);
  return !c.realized && c.op === "const" && Object.is((c.params as { value: number }).value, 0);
}

/**
 * The node holding the values of `v` when `v` is a row of `cols` values broadcast down the rows
 * of its shape (a bias `[N]`, viewed as `[1, N]` and expanded), else null.
 */
function rowVector(v: LazyNode, cols: number): LazyNode | null {
  if (v.realized || v.op !== "expand") return null;
  const s = v.srcs[0]!, nd = s.shape.length;
  if (s.shape[nd - 1] !== cols || s.shape.slice(0, -1).some((d) => d !== 1)) return null;
  const src = routineSource(s);
  return numel(src.shape) === cols ? src : null;
}

/**
 * The `where` of `relu(x)` (`where(x < 0 or x == 0, +0, x)`), when those are all of x's
 * consumers; else null. In training the backward pass reads x too (ReLU's mask), so only the
 * bias fuses there and the ReLU stays in its consumers' kernels.
 */
function reluOf(x: LazyNode, users: (n: LazyNode) => LazyNode[], mat: ReadonlySet<LazyNode>): LazyNode | null {
  const u = users(x);
  if (mat.has(x) || u.some((c) => mat.has(c) && c.op !== "where")) return null;
  if (u.length !== 3) return null;
  const lt = u.find((c) => c.op === "cmplt"), eq = u.find((c) => c.op === "cmpeq"), w = u.find((c) => c.op === "where");
  if (!lt || !eq || !w) return null;
  if (lt.srcs[0] !== x || !isPlusZero(lt.srcs[1]!) || eq.srcs[0] !== x || !isPlusZero(eq.srcs[1]!)) return null;
  const or = soleUser(lt, users);
  if (!or || or.op !== "max" || mat.has(or) || soleUser(eq, users) !== or || soleUser(or, users) !== w) return null;
  if (!((or.srcs[0] === lt && or.srcs[1] === eq) || (or.srcs[0] === eq && or.srcs[1] === lt))) return null;
  if (w.srcs[0] !== or || !isPlusZero(w.srcs[1]!) || w.srcs[2] !== x || !shapesEqual(w.shape, x.shape)) return null;
  return w;
}

/**
 * The dot `n` with the bias add and ReLU that follow it, and the node they end at (which takes
 * the routine's result), or null when nothing follows that the routine can apply. Between the
 * product and its bias only reshapes that keep its rows may lie (a linear layer on [B, T, K]
 * multiplies [B*T, K] and views the result as [B, T, N]); none of the nodes on the way may be
 * materialized (`mat`: the targets so far), since they would need buffers of their own.
 */
export function dotEpilogue(n: LazyNode, users: (n: LazyNode) => LazyNode[], mat: ReadonlySet<LazyNode>): { root: LazyNode; fused: FusedDot } | null {
  if (mat.has(n)) return null;
  const cols = n.shape[n.shape.length - 1]!;
  let cur = n, bias: LazyNode | null = null, relu = false;
  for (let u = soleUser(cur, users); u && !mat.has(cur) && u.op === "reshape" && u.shape[u.shape.length - 1] === cols; u = soleUser(cur, users)) cur = u;
  if (mat.has(cur)) return null;
  const add = soleUser(cur, users);
  if (add && add.op === "add" && add.dtype === n.dtype && shapesEqual(add.shape, cur.shape) && add.srcs[0] !== add.srcs[1]) {
    const b = rowVector(add.srcs[0] === cur ? add.srcs[1]! : add.srcs[0]!, cols);
    if (b && b.dtype === n.dtype) {
      bias = b;
      cur = add;
    }
  }
  const w = reluOf(cur, users, mat);
  if (w) {
    relu = true;
    cur = w;
  }
  if (!bias && !relu) return null;
  return { root: cur, fused: { dot: n, bias, relu } };
}
