/**
 * Peephole patterns for ONNX export: subgraphs of primitives that the tensor layer builds for ReLU
 * and max pooling, written as the one ONNX op that means the same (`Relu`, `MaxPool`). ONNX
 * Runtime runs those as single kernels; the primitive forms (a Where over two comparisons, and
 * Reshape/Pad/Slice/Transpose/ReduceMax around a mask) run several times slower.
 *
 * A subgraph is recognized by building the composite again on a stand-in for its input, with
 * parameters read off the graph's shapes, and comparing the two graphs node by node (op, params,
 * shape, dtype, sources). So a match is exact by construction: the subgraph is what `relu` or
 * `maxPoolNd` builds, whatever they do inside, and a change there at worst stops the match (the
 * primitive export stays correct). Nothing is recorded on the graph for the exporter's sake.
 */
import { noGrad } from "../../autograd/grad-mode.ts";
import type { LazyNode } from "../../engine/lazy.ts";
import type { DType } from "../../ir/dtype.ts";
import type { PrimParams } from "../../ir/ops.ts";
import { maxPoolNd } from "../../tensor/conv.ts";
import { full } from "../../tensor/create.ts";
import { clamp, relu } from "../../tensor/elementwise.ts";
import { scope } from "../../tensor/scope.ts";
import type { Tensor } from "../../tensor/tensor.ts";

/** One ONNX node standing for the subgraph that ends at a node: its op, input and int attributes. */
export interface Fusion {
  opType: "Relu" | "MaxPool";
  input: LazyNode;
  ints: [name: string, values: number[]][];
}

/** What the matcher needs of a trace: its nodes in order, and which of them are leaves. */
export interface TraceGraph {
  order: LazyNode[];
  leaf: Map<LazyNode, unknown>;
}

/**
 * The nodes of the first trace that export as one ONNX node. With several traces (dynamic axes) a
 * node is fused only where every trace matches with the same op, attributes and input position, so
 * the static attributes hold at every traced size.
 */
export function findFusions(traces: readonly TraceGraph[]): Map<LazyNode, Fusion> {
  const fused = new Map<LazyNode, Fusion>();
  const [t0, ...rest] = traces as [TraceGraph, ...TraceGraph[]];
  const pos = traces.map((t) => new Map(t.order.map((n, i) => [n, i])));
  t0.order.forEach((n, i) => {
    const f = match(t0, n);
    if (!f) return;
    const same = rest.every((t, j) => {
      const g = match(t, t.order[i]!);
      return g && g.opType === f.opType && pos[j + 1]!.get(g.input) === pos[0]!.get(f.input) && sameValue(g.ints, f.ints);
    });
    if (same) fused.set(n, f);
  });
  return fused;
}

// ORT's CPU Relu and MaxPool kernels take these (and propagate NaN through Relu, as relu does).
const FLOATS: ReadonlySet<DType> = new Set(["float32", "float64"]);
const VIEWS = new Set(["reshape", "permute", "expand", "shrink", "pad"]);

function match(t: TraceGraph, n: LazyNode): Fusion | null {
  if (isLeaf(t, n)) return null;
  if (n.op === "where") return matchRelu(t, n);
  if (n.op === "reshape" && n.srcs[0]?.op === "amax") return matchMaxPool(t, n);
  return null;
}

const isLeaf = (t: TraceGraph, n: LazyNode) => t.leaf.has(n) || n.realized || n.op === "buffer";

/**
 * `where(x <= 0, 0, x)` as `relu` builds it, or `where(x < 0, 0, x)` as `clamp(x, 0)` does: both
 * keep NaN, as ONNX Runtime's Relu does. (`where(x > 0, x, 0)` maps NaN to 0 and is left alone.)
 */
function matchRelu(t: TraceGraph, n: LazyNode): Fusion | null {
  const x = n.srcs[2]!;
  if (!FLOATS.has(x.dtype) || x.dtype !== n.dtype) return null;
  const templates = [relu, (v: Tensor) => clamp(v, 0)];
  return templates.some((f) => rebuilds(t, n, x, f)) ? { opType: "Relu", input: x, ints: [] } : null;
}

/**
 * Max pooling as `maxPoolNd` builds it without a gradient: `amax` over the window dims of a view of
 * `where(mask, pad(x), -inf)`, then a reshape that drops them. The input must be [N, C, ...spatial]
 * with 1 to 3 spatial dims, ONNX's layout.
 *
 * The graph's shapes give the kernel k, the output size o, the left padding p (from the pad node)
 * and the padded extent P of each spatial dim; stride s and dilation d are the pairs with
 * (o - 1)·s + d·(k - 1) + 1 = P, tried from the usual ones (s = k, d = 1) on until one rebuilds the
 * graph exactly. (With one window, o = 1, any stride spans P; windows() then splits a dim of the
 * view by the stride, so the view's dims are the strides to try.)
 */
function matchMaxPool(t: TraceGraph, r: LazyNode): Fusion | null {
  const a = r.srcs[0]!;
  const axes = (a.params as PrimParams["amax"]).axes;
  const nsp = axes.length, w = a.srcs[0]!;
  if (nsp < 1 || nsp > 3 || w.shape.length !== 2 + 2 * nsp || r.shape.length !== 2 + nsp) return null;
  if (axes.some((ax, i) => ax !== 2 + nsp + i) || isLeaf(t, a)) return null;
  // Down the view chain to the masked, padded input and the input itself (padZeros: shrink, then pad).
  let v = w;
  const dims = new Set<number>();
  while (VIEWS.has(v.op) && !isLeaf(t, v)) {
    for (const sz of v.shape) dims.add(sz);
    v = v.srcs[0]!;
  }
  if (v.op !== "where" || isLeaf(t, v)) return null;
  let x = v.srcs[1]!;
  let p = Array<number>(nsp).fill(0);
  if (x.op === "pad" && !isLeaf(t, x)) {
    p = (x.params as PrimParams["pad"]).pads.slice(2).map(([lo]) => lo);
    x = x.srcs[0]!;
  }
  if (x.op === "shrink" && !isLeaf(t, x)) x = x.srcs[0]!;
  if (!FLOATS.has(x.dtype) || x.shape.length !== 2 + nsp || p.length !== nsp) return null;

  const k = w.shape.slice(2 + nsp), o = w.shape.slice(2, 2 + nsp);
  const n = x.shape.slice(2), P = v.shape.slice(2);
  const perAxis = k.map((_, i) => strideDilation(k[i]!, o[i]!, P[i]!, dims));
  for (const sd of product(perAxis, 64)) {
    const s = sd.map((q) => q[0]), d = sd.map((q) => q[1]);
    // Ceil mode is the one whose output size floor mode misses.
    const ceilMode = n.some((ni, i) => Math.floor((ni + 2 * p[i]! - d[i]! * (k[i]! - 1) - 1) / s[i]!) + 1 !== o[i]);
    const pool = (y: Tensor) => maxPoolNd("maxPool", nsp, y, k, { stride: s, padding: p, dilation: d, ceilMode });
    if (!rebuilds(t, r, x, pool)) continue;
    // Floor mode is ONNX's default with the same symmetric pads. Ceil mode gets the right padding
    // its windows reach, written out, which floor mode then fits exactly: PyTorch's rule about a
    // last window that would start in the right padding is then no runtime's to get right.
    const right = P.map((Pi, i) => Math.max(0, Pi - n[i]! - p[i]!));
    const pads = ceilMode ? [...p, ...right] : [...p, ...p];
    // ONNX Runtime refuses a pad as large as the kernel.
    if (pads.some((q, j) => q >= k[j % nsp]!)) return null;
    return { opType: "MaxPool", input: x, ints: [["kernel_shape", k], ["strides", s], ["pads", pads], ["dilations", d]] };
  }
  return null;
}

/** (stride, dilation) pairs whose windows span exactly P: tiling first, then by dilation. */
function strideDilation(k: number, o: number, P: number, viewDims: ReadonlySet<number>): [number, number][] {
  const out: [number, number][] = [];
  const add = (s: number, d: number) => {
    if (Number.isInteger(s) && Number.isInteger(d) && s >= 1 && d >= 1 && (o - 1) * s + d * (k - 1) + 1 === P && !out.some(([a, b]) => a === s && b === d)) out.push([s, d]);
  };
  add(k, 1);
  if (o > 1) {
    // k = 1: the dilation is not in the span; only d = 1 is tried.
    for (let d = 1; d * (k - 1) <= P - o; d++) {
      add((P - 1 - d * (k - 1)) / (o - 1), d);
      if (k === 1) break;
    }
  } else {
    for (const s of [...viewDims].sort((a, b) => a - b)) add(s, k > 1 ? (P - 1) / (k - 1) : 1);
  }
  return out;
}

/** The cartesian product of per-axis choices, at most `cap` of them. */
function product<T>(choices: T[][], cap: number): T[][] {
  let acc: T[][] = [[]];
  for (const c of choices) acc = acc.flatMap((prefix) => c.map((v) => [...prefix, v])).slice(0, cap);
  return acc;
}

/**
 * Whether `build`, applied to a stand-in of `x`'s shape and dtype, makes the same graph as the one
 * behind `n`, with `x` in the stand-in's place. Under noGrad, as the trace ran; the rebuilt tensors
 * are freed at once (nothing is realized).
 */
function rebuilds(t: TraceGraph, n: LazyNode, x: LazyNode, build: (v: Tensor) => Tensor): boolean {
  try {
    return scope(() => noGrad(() => {
      const stand = full(x.shape, 0, { dtype: x.dtype, device: x.device });
      return sameGraph(t, n, build(stand).node, stand.node, x, new Map());
    }));
  } catch {
    return false; // parameters the op refuses (a pad over half the kernel): not this pattern
  }
}

function sameGraph(t: TraceGraph, traced: LazyNode, built: LazyNode, stand: LazyNode, x: LazyNode, seen: Map<LazyNode, LazyNode>): boolean {
  if (built === stand) return traced === x;
  const prev = seen.get(built);
  if (prev) return prev === traced;
  if (traced === x || isLeaf(t, traced)) return false;
  if (traced.op !== built.op || traced.dtype !== built.dtype || traced.srcs.length !== built.srcs.length) return false;
  if (!sameValue(traced.shape, built.shape) || !sameValue(traced.params, built.params)) return false;
  seen.set(built, traced);
  return built.srcs.every((b, i) => sameGraph(t, traced.srcs[i]!, b, stand, x, seen));
}

/** Deep equality of params (numbers by Object.is: NaN equals NaN, 0 and -0 differ). */
function sameValue(a: unknown, b: unknown): boolean {
  if (typeof a === "number" || typeof b === "number") return Object.is(a, b);
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((v, i) => sameValue(v, b[i]));
  }
  if (a && b && typeof a === "object" && typeof b === "object") {
    const ka = Object.keys(a), kb = Object.keys(b);
    return ka.length === kb.length && ka.every((key) => sameValue((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]));
  }
  return a === b;
}
