/**
 * ONNX export: `saveOnnx(module, sampleInputs, path)` traces the module's forward on the sample
 * inputs and writes the Strata primitive graph behind its outputs as an ONNX model.
 *
 * Tracing needs no hooks: every tensor holds a `LazyNode` (a primitive, its params and its source
 * nodes), and nothing runs until a value is read. So the exporter calls `forward`, then walks back
 * from the output nodes before anything is realized. The walk stops at the sample inputs' nodes
 * (graph inputs), at the nodes of the module's parameters and buffers (initializers, under their
 * `stateDict` names) and at any other realized value (a constant). Each primitive becomes one or a
 * few ONNX nodes, so the exporter is small and covers every model Strata can run: composite ops
 * (softmax, layer norm, attention, LSTM cells, pooling) arrive already decomposed. The exceptions
 * are ReLU and max pooling, which ONNX Runtime runs several times faster as its own `Relu` and
 * `MaxPool`: subgraphs that are exactly what those ops build are written as one node
 * (export-patterns.ts).
 *
 * Movement ops carry static shapes, so by default the graph runs on inputs of the sample's shapes.
 * `dynamicAxes` (as in `torch.onnx.export`) makes input dims symbolic: the forward is traced again
 * with each symbolic dim at two sizes (2^k traces for k symbols), the traces must be the same graph,
 * and each shape entry that differs is fitted as an integer polynomial of the dims (`B * T * 4`)
 * and computed in the graph from the inputs' `Shape`.
 */
import { bf16bits, f16bits } from "../../backends/js/runtime.ts";
import { noGrad } from "../../autograd/grad-mode.ts";
import type { LazyNode } from "../../engine/lazy.ts";
import { realize as realizeNodes } from "../../engine/realize.ts";
import type { DType } from "../../ir/dtype.ts";
import { isFloat } from "../../ir/dtype.ts";
import type { Prim, PrimParams } from "../../ir/ops.ts";
import type { Module } from "../../nn/module.ts";
import { full } from "../../tensor/create.ts";
import { cat } from "../../tensor/movement.ts";
import { Tensor } from "../../tensor/tensor.ts";
import { findFusions } from "./export-patterns.ts";
import { ModelProto } from "./schema.ts";
import { OnnxError } from "./tensor-proto.ts";

export interface SaveOnnxOpts {
  /** Opset of the default domain, 13 to 21 (default 17; `scatterAdd` needs 16 or more). */
  opset?: number;
  /** Graph input names, one per sample input (default `input`, or `input0`, `input1`, ...). */
  inputNames?: string[];
  /** Graph output names (default `output`, or `output0`, `output1`, ...). */
  outputNames?: string[];
  /**
   * Symbolic dims per input or output name, as `{ input: { 0: "batch" } }` or `{ input: [0] }`:
   * written as `dim_param` in the declared types. The traced graph's shapes stay those of the sample.
   */
  dynamicAxes?: Record<string, Record<number, string> | number[]>;
  /** Written to the model's producer_name (default "strata"). */
  producerName?: string;
  /** A doc string for the graph. */
  docString?: string;
}

/** ONNX TensorProto.DataType of each Strata dtype. */
const ONNX_TYPE: Record<DType, number> = {
  float32: 1, uint8: 2, int32: 6, int64: 7, bool: 9, float16: 10, float64: 11, bfloat16: 16,
};

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Little-endian bytes of values in a Strata dtype (TensorProto.raw_data). */
function rawBytes(dtype: DType, values: ArrayLike<number | bigint>, count: number): Uint8Array {
  const num = (i: number) => Number(values[i]!);
  switch (dtype) {
    case "float32": return bytesOf(Float32Array.from({ length: count }, (_, i) => num(i)));
    case "float64": return bytesOf(Float64Array.from({ length: count }, (_, i) => num(i)));
    case "int32": return bytesOf(Int32Array.from({ length: count }, (_, i) => num(i)));
    case "int64": return bytesOf(BigInt64Array.from({ length: count }, (_, i) => {
      const v = values[i]!;
      return typeof v === "bigint" ? v : BigInt(Math.trunc(v));
    }));
    case "uint8": return Uint8Array.from({ length: count }, (_, i) => num(i));
    case "bool": return Uint8Array.from({ length: count }, (_, i) => (num(i) ? 1 : 0));
    case "float16": return bytesOf(Uint16Array.from({ length: count }, (_, i) => f16bits(num(i))));
    case "bfloat16": return bytesOf(Uint16Array.from({ length: count }, (_, i) => bf16bits(num(i))));
    default: return dtype satisfies never;
  }
}
const bytesOf = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));

const numel = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

type Attr = Record<string, unknown>;
const A = {
  i: (name: string, i: number): Attr => ({ name, type: 2, i }),
  f: (name: string, f: number): Attr => ({ name, type: 1, f }),
  s: (name: string, s: string): Attr => ({ name, type: 3, s: new TextEncoder().encode(s) }),
  ints: (name: string, ints: readonly number[]): Attr => ({ name, type: 7, ints: [...ints] }),
  t: (name: string, t: Attr): Attr => ({ name, type: 4, t }),
};

/** Accumulates ONNX nodes with fresh value names. */
class GraphBuilder {
  readonly nodes: Attr[] = [];
  private n = 0;
  private readonly symCache = new Map<number, string>();
  /** `symSrc[j]`: the input and axis whose size is symbol j. */
  constructor(readonly opset: number, readonly symSrc: [string, number][] = []) {}

  fresh(hint: string): string {
    return `${hint}_${this.n++}`;
  }
  /** Adds a node and returns its (first) output name. */
  op(opType: string, inputs: string[], attrs: Attr[] = [], hint = opType): string {
    const out = this.fresh(hint);
    this.nodes.push({ opType, input: inputs, output: [out], name: `${opType}_${this.nodes.length}`, attribute: attrs });
    return out;
  }
  /** A Constant node holding a tensor. */
  constant(dtype: DType, shape: readonly number[], values: ArrayLike<number | bigint>, hint = "const"): string {
    return this.op("Constant", [], [A.t("value", tensorProto("", dtype, shape, values))], hint);
  }
  /** A 1-d int64 Constant (shapes, axes, pads, slice bounds). */
  ints(values: readonly (number | bigint)[]): string {
    // (an empty list is a valid shape: a scalar)
    return this.constant("int64", [values.length], values.map((v) => (typeof v === "bigint" ? v : BigInt(v))));
  }
  /** Symbol j's size at run time, as a 1-element int64 tensor. */
  sym(j: number): string {
    let v = this.symCache.get(j);
    if (!v) {
      const [input, axis] = this.symSrc[j]!;
      this.symCache.set(j, (v = this.op("Gather", [this.op("Shape", [input]), this.ints([axis])], [A.i("axis", 0)], "dim")));
    }
    return v;
  }
  /** A polynomial of the symbols, as a 1-element int64 tensor. */
  poly(p: Poly): string {
    let acc: string | null = null;
    let c0 = 0;
    for (const [mask, c] of p) {
      if (mask === 0) { c0 = c; continue; }
      if (c === 0) continue;
      let term: string | null = null;
      for (let j = 0; mask >> j; j++) if (mask & (1 << j)) term = term ? this.op("Mul", [term, this.sym(j)]) : this.sym(j);
      if (c !== 1) term = this.op("Mul", [term!, this.ints([c])]);
      acc = acc ? this.op("Add", [acc, term!]) : term;
    }
    if (!acc) return this.ints([c0]);
    return c0 ? this.op("Add", [acc, this.ints([c0])]) : acc;
  }
  /** A 1-d int64 vector whose entries are numbers, or polynomials of the symbols where given. */
  vec(values: readonly number[], polys: readonly (Poly | undefined)[]): string {
    if (!polys.some((q) => q)) return this.ints(values);
    const parts: string[] = [];
    let run: number[] = [];
    values.forEach((v, i) => {
      const q = polys[i];
      if (!q) { run.push(v); return; }
      if (run.length) parts.push(this.ints(run));
      run = [];
      parts.push(this.poly(q));
    });
    if (run.length) parts.push(this.ints(run));
    return parts.length === 1 ? parts[0]! : this.op("Concat", parts, [A.i("axis", 0)]);
  }
  cast(x: string, to: DType): string {
    return this.op("Cast", [x], [A.i("to", ONNX_TYPE[to])]);
  }
}

function tensorProto(name: string, dtype: DType, shape: readonly number[], values: ArrayLike<number | bigint>): Attr {
  return { name, dims: [...shape], dataType: ONNX_TYPE[dtype], rawData: rawBytes(dtype, values, numel(shape)) };
}

function valueInfo(name: string, dtype: DType, shape: readonly number[], dyn?: Record<number, string> | number[]): Attr {
  const named: Record<number, string> = Array.isArray(dyn) ? Object.fromEntries(dyn.map((a) => [a, `${name}_dim${a}`])) : (dyn ?? {});
  const dim = shape.map((d, i) => {
    const p = named[i] ?? named[i - shape.length];
    return p !== undefined ? { dimParam: p } : { dimValue: d };
  });
  return { name, type: { tensorType: { elemType: ONNX_TYPE[dtype], shape: { dim } } } };
}

/** Flattens what a forward returns (a tensor, or nested arrays of tensors) into a list. */
function flattenOutputs(out: unknown, list: Tensor[] = []): Tensor[] {
  if (out instanceof Tensor) list.push(out);
  else if (Array.isArray(out)) for (const o of out) flattenOutputs(o, list);
  else if (out && typeof out === "object" && Symbol.iterator in out) for (const o of out as Iterable<unknown>) flattenOutputs(o, list);
  else throw new OnnxError(`saveOnnx: forward returned ${out === null ? "null" : typeof out}; expected a Tensor or an array of Tensors`);
  return list;
}

/** Nodes reachable from `outputs`, sources before users, stopping at `isLeaf`. */
function topoOrder(outputs: LazyNode[], isLeaf: (n: LazyNode) => boolean): LazyNode[] {
  const order: LazyNode[] = [];
  const seen = new Set<LazyNode>();
  const stack: [LazyNode, boolean][] = outputs.map((n) => [n, false]);
  while (stack.length) {
    const [n, expanded] = stack.pop()!;
    if (expanded) {
      order.push(n);
      continue;
    }
    if (seen.has(n)) continue;
    seen.add(n);
    stack.push([n, true]);
    if (!isLeaf(n)) for (let i = n.srcs.length - 1; i >= 0; i--) if (!seen.has(n.srcs[i]!)) stack.push([n.srcs[i]!, false]);
  }
  return order;
}

/** A leaf of a trace: a graph input, a parameter or buffer, or a constant value. */
type Leaf = { kind: "input"; index: number } | { kind: "param"; name: string; tensor: Tensor } | { kind: "const" };

interface Trace {
  order: LazyNode[];
  leaf: Map<LazyNode, Leaf>;
  outs: Tensor[];
  inputs: Tensor[];
}

/** Runs forward on `inputs` and collects the graph behind its outputs. */
function trace(module: Module, inputs: Tensor[], inputNames: string[]): Trace {
  // Leaves, taken before the forward runs (an in-place buffer update would swap nodes).
  const leaf = new Map<LazyNode, Leaf>();
  inputs.forEach((t, i) => {
    const prev = leaf.get(t.node);
    if (prev) throw new OnnxError(`saveOnnx: sample inputs ${prev.kind === "input" ? prev.index : "?"} and ${i} (${inputNames[i]}) are the same tensor; pass distinct tensors`);
    leaf.set(t.node, { kind: "input", index: i });
  });
  const named: [string, Tensor][] = [...Object.entries(module.stateDict()), ...module.namedBuffers()];
  for (const [name, t] of named) if (!leaf.has(t.node)) leaf.set(t.node, { kind: "param", name, tensor: t });
  const probe = full([], 0);
  const traceStart = probe.node.id;
  probe.dispose();

  const outs = flattenOutputs(noGrad(() => (module.forward as (...a: Tensor[]) => unknown).apply(module, inputs)));
  if (!outs.length) throw new OnnxError("saveOnnx: forward returned no tensors");
  const isLeaf = (n: LazyNode) => leaf.has(n) || n.realized || n.op === "buffer";
  const order = topoOrder(outs.map((t) => t.node), isLeaf);
  for (const n of order) {
    if (leaf.has(n) || !(n.realized || n.op === "buffer")) continue;
    if (n.op !== "buffer" && n.id >= traceStart) {
      throw new OnnxError(`saveOnnx: a value computed in forward (${n.op}, shape [${n.shape.join(", ")}]) was read or realized during the trace, so its dependence on the inputs is lost; export cannot trace through data-dependent code`);
    }
    leaf.set(n, { kind: "const" });
  }
  return { order, leaf, outs, inputs };
}

/**
 * A shape entry as a function of the symbolic dims: coefficients of the products of symbols,
 * keyed by the bit mask of the symbols in the product (0: the constant term).
 */
type Poly = Map<number, number>;

/** Numeric fields of two params objects that differ, by path ("shape.0", "ranges.1.0"). */
function diffParams(a: unknown, b: unknown, path: string, out: Map<string, [number, number]>, what: string): void {
  if (typeof a === "number" && typeof b === "number") {
    if (a !== b && !(Number.isNaN(a) && Number.isNaN(b))) out.set(path, [a, b]);
  } else if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) throw new OnnxError(`saveOnnx: ${what}: the number of dims changes with a dynamic axis; the graph cannot be exported with these dynamicAxes`);
    a.forEach((v, i) => diffParams(v, b[i], path ? `${path}.${i}` : `${i}`, out, what));
  } else if (a && b && typeof a === "object" && typeof b === "object") {
    for (const k of Object.keys(a)) diffParams((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], path ? `${path}.${k}` : k, out, what);
  } else if (a !== b) throw new OnnxError(`saveOnnx: ${what}: its parameters change with a dynamic axis`);
}

/**
 * Multilinear fit over 2^k corner traces: `vals[c]` is the value in the trace where symbol j has
 * size `hi[j]` when bit j of c is set (else `lo[j]`). Integer coefficients, or null.
 */
function fitPoly(vals: number[], lo: number[], hi: number[]): Poly | null {
  const k = lo.length;
  // Express in the basis prod_{j in S} N_j: solve variable by variable.
  let coef = vals.slice();
  for (let j = 0; j < k; j++) {
    const next = coef.slice();
    for (let c = 0; c < coef.length; c++) {
      if (c & (1 << j)) continue;
      const v0 = coef[c]!, v1 = coef[c | (1 << j)]!;
      const a = (v1 - v0) / (hi[j]! - lo[j]!);
      next[c | (1 << j)] = a;
      next[c] = v0 - a * lo[j]!;
    }
    coef = next;
  }
  const poly: Poly = new Map();
  for (let m = 0; m < coef.length; m++) {
    const v = coef[m]!;
    if (Math.abs(v - Math.round(v)) > 1e-9) return null;
    if (Math.round(v) !== 0 || m === 0) poly.set(m, Math.round(v));
  }
  return poly;
}

/** `x` resized to `n` along `axis` by repeating it (values keep their kind, e.g. valid indices). */
function resizeAlong(x: Tensor, axis: number, n: number): Tensor {
  const s = x.shape[axis]!;
  if (s === n) return x;
  if (s === 0) throw new OnnxError(`saveOnnx: dynamic axis ${axis} of a sample input has size 0`);
  const reps = Math.ceil(n / s);
  return cat(Array.from({ length: reps }, () => x), axis).narrow(axis, 0, n);
}

/**
 * Traces `module.forward(...sampleInputs)` and returns the ONNX model's bytes.
 *
 * @example
 * const bytes = st.io.exportOnnx(model.eval(), [st.randn([1, 784])], { dynamicAxes: { input: { 0: "batch" } } });
 */
export function exportOnnx(module: Module, sampleInputs: Tensor | Tensor[], opts: SaveOnnxOpts = {}): Uint8Array {
  const opset = opts.opset ?? 17;
  if (!Number.isInteger(opset) || opset < 13 || opset > 21) throw new OnnxError(`saveOnnx: opset ${opset} is not supported (13 to 21)`);
  const inputs = Array.isArray(sampleInputs) ? sampleInputs : [sampleInputs];
  const inputNames = opts.inputNames ?? (inputs.length === 1 ? ["input"] : inputs.map((_, i) => `input${i}`));
  if (inputNames.length !== inputs.length) throw new OnnxError(`saveOnnx: ${inputNames.length} input names for ${inputs.length} sample inputs`);

  // Symbolic dims of the inputs: one symbol per distinct name.
  const symbols: { name: string; uses: [number, number][]; size: number }[] = [];
  inputs.forEach((t, i) => {
    const d = opts.dynamicAxes?.[inputNames[i]!];
    if (!d) return;
    const entries: [number, string][] = Array.isArray(d) ? d.map((a) => [a, `${inputNames[i]}_dim${a}`]) : Object.entries(d).map(([a, nm]) => [Number(a), nm]);
    for (const [a0, nm] of entries) {
      const a = a0 < 0 ? a0 + t.ndim : a0;
      if (!Number.isInteger(a) || a < 0 || a >= t.ndim) throw new OnnxError(`saveOnnx: dynamicAxes: input '${inputNames[i]}' has ${t.ndim} dims, no axis ${a0}`);
      let sym = symbols.find((s) => s.name === nm);
      if (!sym) symbols.push((sym = { name: nm, uses: [], size: t.shape[a]! }));
      if (sym.size !== t.shape[a]) throw new OnnxError(`saveOnnx: dynamicAxes: '${nm}' is ${sym.size} in one sample input and ${t.shape[a]} in '${inputNames[i]}'`);
      sym.uses.push([i, a]);
    }
  });
  if (symbols.length > 3) throw new OnnxError(`saveOnnx: dynamicAxes: at most 3 distinct symbolic dims, got ${symbols.length}`);
  // Each symbol is traced at two sizes (size 1 is avoided: broadcasting from 1 can elide ops).
  const lo = symbols.map((s) => Math.max(2, s.size)), hi = lo.map((v) => 2 * v + 1);

  const traces: Trace[] = [];
  try {
    for (let c = 0; c < 1 << symbols.length; c++) {
      let ins = inputs;
      if (symbols.some((sy, j) => (c & (1 << j) ? hi[j] : lo[j]) !== sy.size)) {
        ins = inputs.map((t, i) => {
          let x = t;
          symbols.forEach((sy, j) => { for (const [ii, a] of sy.uses) if (ii === i) x = resizeAlong(x, a, c & (1 << j) ? hi[j]! : lo[j]!); });
          return x;
        });
        realizeNodes(ins.map((t) => t.node));
      }
      traces.push(trace(module, ins, inputNames));
    }
    const symSrc = symbols.map((s) => [inputNames[s.uses[0]![0]]!, s.uses[0]![1]] as [string, number]);
    return build(module, traces, inputNames, symbols.map((s) => s.name), symSrc, lo, hi, opset, opts);
  } finally {
    for (const t of traces) {
      for (const o of t.outs) o.dispose();
      for (const x of t.inputs) if (!inputs.includes(x)) x.dispose();
    }
  }
}

function build(module: Module, traces: Trace[], inputNames: string[], symbols: string[], symSrc: [string, number][], lo: number[], hi: number[], opset: number, opts: SaveOnnxOpts): Uint8Array {
  const [t0] = traces as [Trace];
  const outs = t0.outs;
  const outputNames = opts.outputNames ?? (outs.length === 1 ? ["output"] : outs.map((_, i) => `output${i}`));
  if (outputNames.length !== outs.length) throw new OnnxError(`saveOnnx: ${outputNames.length} output names for ${outs.length} outputs`);

  // The traces must be the same graph; numeric params that differ become functions of the symbols.
  const dyn = new Map<LazyNode, Map<string, Poly>>();
  const outPolys: (Poly | null)[][] = outs.map((o) => o.shape.map(() => null));
  if (traces.length > 1) {
    const pos = traces.map((t) => new Map(t.order.map((n, i) => [n, i])));
    for (const [ti, t] of traces.entries()) {
      if (t.order.length !== t0.order.length || t.outs.length !== outs.length) {
        throw new OnnxError(`saveOnnx: the traced graph changes with the size of a dynamic axis (${t0.order.length} nodes at one size, ${t.order.length} at another): a loop over that dim, such as a recurrent layer over time, is unrolled by the trace; make only other dims dynamic`);
      }
      t.order.forEach((n, i) => {
        const m = t0.order[i]!;
        const lm = t0.leaf.get(m), ln = t.leaf.get(n);
        const sameLeaf = lm?.kind === ln?.kind && (lm?.kind !== "input" || lm.index === (ln as { index: number }).index) && (lm?.kind !== "param" || lm.name === (ln as { name: string }).name);
        const differs = lm || ln ? !sameLeaf : n.op !== m.op || n.srcs.length !== m.srcs.length || n.srcs.some((s, k) => pos[ti]!.get(s) !== pos[0]!.get(m.srcs[k]!));
        if (differs) throw new OnnxError(`saveOnnx: the traced graph changes with the size of a dynamic axis (at ${m.op} [${m.shape.join(", ")}]); export it without dynamicAxes`);
        if (lm?.kind === "const" && n.shape.some((d, k) => d !== m.shape[k])) throw new OnnxError(`saveOnnx: a constant of shape [${m.shape.join(", ")}] used by forward changes shape with a dynamic axis; make it from the input's shape with tensor ops`);
      });
    }
    t0.order.forEach((m, i) => {
      if (t0.leaf.has(m)) return;
      const diffs = traces.map((t) => {
        const d = new Map<string, [number, number]>();
        diffParams(m.params, t.order[i]!.params, "", d, `${m.op} [${m.shape.join(", ")}]`);
        return d;
      });
      const keys = new Set(diffs.flatMap((d) => [...d.keys()]));
      if (!keys.size) return;
      const polys = new Map<string, Poly>();
      for (const k of keys) {
        const base = diffs.find((d) => d.has(k))!.get(k)![0];
        const vals = diffs.map((d) => d.get(k)?.[1] ?? base);
        const poly = fitPoly(vals, lo, hi);
        if (!poly) throw new OnnxError(`saveOnnx: ${m.op} [${m.shape.join(", ")}]: '${k}' is not an integer polynomial of the dynamic dims; export it without dynamicAxes`);
        polys.set(k, poly);
      }
      dyn.set(m, polys);
    });
    outs.forEach((o, oi) => o.shape.forEach((_, k) => {
      const vals = traces.map((t) => t.outs[oi]!.shape[k]!);
      if (vals.some((v) => v !== vals[0])) outPolys[oi]![k] = fitPoly(vals, lo, hi);
    }));
  }

  // Subgraphs that one ONNX op expresses (Relu, MaxPool) stand for their nodes; what only they
  // used is then not written.
  const fused = findFusions(traces);
  const live = new Set<LazyNode>();
  const stack = outs.map((o) => o.node);
  while (stack.length) {
    const n = stack.pop()!;
    if (live.has(n)) continue;
    live.add(n);
    if (t0.leaf.has(n)) continue;
    const f = fused.get(n);
    stack.push(...(f ? [f.input] : n.srcs));
  }

  const b = new GraphBuilder(opset, symSrc);
  const name = new Map<LazyNode, string>();
  const initializers: Attr[] = [];
  const usedParams = new Set<string>();
  for (const n of t0.order) {
    if (!live.has(n)) continue;
    const l = t0.leaf.get(n);
    const f = fused.get(n);
    if (l?.kind === "input") name.set(n, inputNames[l.index]!);
    else if (l?.kind === "param") {
      name.set(n, l.name);
      if (!usedParams.has(l.name)) {
        usedParams.add(l.name);
        initializers.push(tensorProto(l.name, n.dtype, n.shape, l.tensor.dataSync()));
      }
    } else if (l?.kind === "const") {
      const t = new Tensor(n);
      try {
        name.set(n, b.constant(n.dtype, n.shape, t.dataSync()));
      } finally {
        t.dispose();
      }
    } else if (f) {
      name.set(n, b.op(f.opType, [name.get(f.input)!], f.ints.map(([k, v]) => A.ints(k, v))));
    } else {
      const d = dyn.get(n) ?? new Map<string, Poly>();
      name.set(n, emit(b, n, n.srcs.map((s) => name.get(s)!), d));
    }
  }

  // Output dims: the user's names, else a symbol's name where the dim is exactly that symbol.
  const outDims = (oi: number): Record<number, string> => {
    const user = opts.dynamicAxes?.[outputNames[oi]!];
    const named: Record<number, string> = Array.isArray(user) ? Object.fromEntries(user.map((a) => [a, `${outputNames[oi]}_dim${a}`])) : { ...(user ?? {}) };
    outPolys[oi]!.forEach((p, k) => {
      if (named[k] !== undefined || named[k - outs[oi]!.ndim] !== undefined) return;
      const terms = p ? [...p].filter(([, c]) => c !== 0) : [];
      const single = terms.length === 1 && terms[0]![1] === 1 && Number.isInteger(Math.log2(terms[0]![0])) ? symbols[Math.log2(terms[0]![0])] : undefined;
      named[k] = single ?? `${outputNames[oi]}_dim${k}`;
    });
    return named;
  };
  const graphOutputs = outs.map((t, i) => {
    b.nodes.push({ opType: "Identity", input: [name.get(t.node)!], output: [outputNames[i]!], name: `output_${i}`, attribute: [] });
    return valueInfo(outputNames[i]!, t.dtype, t.shape, outDims(i));
  });
  const graphInputs = t0.inputs.map((t, i) => valueInfo(inputNames[i]!, t.dtype, t.shape, opts.dynamicAxes?.[inputNames[i]!]));

  const model = {
    irVersion: opset >= 21 ? 10 : opset >= 19 ? 9 : 8,
    opsetImport: [{ domain: "", version: opset }],
    producerName: opts.producerName ?? "strata",
    producerVersion: "0.1.0",
    graph: {
      name: module.constructor.name || "strata",
      node: b.nodes, initializer: initializers, input: graphInputs, output: graphOutputs,
      ...(opts.docString ? { docString: opts.docString } : {}),
    },
  };
  const err = ModelProto.verify(model);
  if (err) throw new OnnxError(`saveOnnx: internal error building the model: ${err}`);
  return ModelProto.encode(ModelProto.fromObject(model)).finish();
}

/**
 * Traces `module.forward(...sampleInputs)` and writes the graph as an ONNX model file (atomically).
 * Call `module.eval()` first for inference (Dropout off, BatchNorm on its running statistics).
 *
 * @example
 * await st.io.saveOnnx(model.eval(), [st.randn([1, 1, 28, 28])], "cnn.onnx", { inputNames: ["image"] });
 */
export async function saveOnnx(module: Module, sampleInputs: Tensor | Tensor[], path: string, opts: SaveOnnxOpts = {}): Promise<void> {
  const bytes = exportOnnx(module, sampleInputs, opts);
  const { atomicWriteFile } = await import("../atomic.ts");
  await atomicWriteFile(path, bytes);
}

/** ONNX nodes for one primitive; returns the name of its value. */
function emit(b: GraphBuilder, n: LazyNode, x: string[], dyn: Map<string, Poly>): string {
  const op = n.op as Prim;
  const used = new Set<string>();
  const dynAt = (key: string) => {
    const q = dyn.get(key);
    if (q) used.add(key);
    return q;
  };
  /** A vector of params[key][i] (or params[key][i][sub]), with dynamic entries computed at run time. */
  const vec = (key: string, values: readonly number[], sub?: number) =>
    b.vec(values, values.map((_, i) => dynAt(sub === undefined ? `${key}.${i}` : `${key}.${i}.${sub}`)));
  const out = emitOp(b, n, x, op, vec, dynAt);
  const left = [...dyn.keys()].filter((k) => !used.has(k));
  if (left.length) throw new OnnxError(`saveOnnx: ${op} [${n.shape.join(", ")}]: ${left.join(", ")} change${left.length > 1 ? "" : "s"} with a dynamic axis, which the exporter cannot express; export it without dynamicAxes`);
  return out;
}

type VecFn = (key: string, values: readonly number[], sub?: number) => string;

function emitOp(b: GraphBuilder, n: LazyNode, x: string[], op: Prim, vec: VecFn, dynAt: (key: string) => Poly | undefined): string {
  const src = n.srcs;
  const dt = (i: number) => src[i]!.dtype;
  const p = n.params as PrimParams[typeof op];
  const unary = (t: string) => b.op(t, [x[0]!]);
  const binary = (t: string) => b.op(t, [x[0]!, x[1]!]);
  switch (op) {
    case "neg": return unary("Neg");
    case "exp": return unary("Exp");
    case "log": return unary("Log");
    case "sin": return unary("Sin");
    case "sqrt": return unary("Sqrt");
    case "recip": return unary("Reciprocal");
    case "erf": return unary("Erf");
    case "trunc": {
      return isFloat(dt(0)) ? emitTrunc(b, x[0]!, dt(0)) : unary("Identity");
    }
    case "cast": return b.cast(x[0]!, (p as PrimParams["cast"]).dtype);
    case "add": return dt(0) === "bool" ? binary("Or") : binary("Add");
    case "mul": return dt(0) === "bool" ? binary("And") : binary("Mul");
    case "div": return binary("Div");
    case "max": return dt(0) === "bool" ? binary("Or") : binary("Max");
    case "pow": return binary("Pow");
    case "idiv": {
      if (!isFloat(dt(0))) return binary("Div"); // integer Div truncates, as idiv does
      return emitTrunc(b, binary("Div"), dt(0));
    }
    case "mod": return b.op("Mod", [x[0]!, x[1]!], [A.i("fmod", 1)]); // the sign of the dividend, as JS's %
    case "cmplt": {
      const w = widen(dt(0));
      return b.op("Less", w === dt(0) ? [x[0]!, x[1]!] : [b.cast(x[0]!, w), b.cast(x[1]!, w)]);
    }
    case "cmpeq": {
      const w = dt(0) === "bool" ? "bool" : widen(dt(0));
      return b.op("Equal", w === dt(0) ? [x[0]!, x[1]!] : [b.cast(x[0]!, w), b.cast(x[1]!, w)]);
    }
    case "where": return b.op("Where", [x[0]!, x[1]!, x[2]!]);
    case "sum": case "amax": case "prod": {
      const axes = (p as PrimParams["sum"]).axes;
      if (!axes.length) return unary("Identity");
      const type = op === "sum" ? "ReduceSum" : op === "amax" ? "ReduceMax" : "ReduceProd";
      const narrow = dt(0) === "bool" || dt(0) === "uint8";
      const inp = narrow ? b.cast(x[0]!, "int32") : x[0]!;
      const axesAsInput = type === "ReduceSum" || b.opset >= 18;
      const r = axesAsInput
        ? b.op(type, [inp, b.ints(axes)], [A.i("keepdims", 1)])
        : b.op(type, [inp], [A.ints("axes", axes), A.i("keepdims", 1)]);
      return narrow ? b.cast(r, dt(0)) : r;
    }
    case "reshape": {
      const shape = (p as PrimParams["reshape"]).shape;
      const zero = shape.includes(0);
      return b.op("Reshape", [x[0]!, vec("shape", shape)], zero ? [A.i("allowzero", 1)] : []);
    }
    case "permute": return b.op("Transpose", [x[0]!], [A.ints("perm", (p as PrimParams["permute"]).perm)]);
    case "expand": return b.op("Expand", [x[0]!, vec("shape", (p as PrimParams["expand"]).shape)]);
    case "pad": {
      const pads = (p as PrimParams["pad"]).pads;
      if (pads.some(([l, h]) => l < 0 || h < 0)) throw new OnnxError(`saveOnnx: pad with negative widths [${pads.join("; ")}] is not supported`);
      const inp = dt(0) === "bool" ? b.cast(x[0]!, "uint8") : x[0]!;
      const both = vec("pads", pads.map((q) => q[0]), 0), after = vec("pads", pads.map((q) => q[1]), 1);
      const r = b.op("Pad", [inp, b.op("Concat", [both, after], [A.i("axis", 0)])], [A.s("mode", "constant")]);
      return dt(0) === "bool" ? b.cast(r, "bool") : r;
    }
    case "shrink": {
      const ranges = (p as PrimParams["shrink"]).ranges;
      const isDyn = (i: number) => dynAt(`ranges.${i}.0`) || dynAt(`ranges.${i}.1`);
      const axes = ranges.map((_, i) => i).filter((i) => ranges[i]![0] !== 0 || ranges[i]![1] !== src[0]!.shape[i] || isDyn(i));
      if (!axes.length) return unary("Identity");
      const bound = (k: 0 | 1) => b.vec(axes.map((a) => ranges[a]![k]), axes.map((a) => dynAt(`ranges.${a}.${k}`)));
      return b.op("Slice", [x[0]!, bound(0), bound(1), b.ints(axes)]);
    }
    case "flip": {
      const axes = (p as PrimParams["flip"]).axes;
      if (!axes.length) return unary("Identity");
      return b.op("Slice", [x[0]!, b.ints(axes.map(() => -1)), b.ints(axes.map(() => INT64_MIN)), b.ints(axes), b.ints(axes.map(() => -1))]);
    }
    case "const": {
      const c = p as PrimParams["const"];
      const scalar = b.constant(c.dtype, [], [c.dtype === "int64" && Number.isFinite(c.value) ? BigInt(Math.trunc(c.value)) : c.value]);
      return c.shape.length ? b.op("Expand", [scalar, vec("shape", c.shape)]) : scalar;
    }
    case "iota": {
      const io = p as PrimParams["iota"];
      const len = io.shape[io.axis]!;
      const rdt: DType = io.dtype === "float64" || io.dtype === "int32" || io.dtype === "int64" ? io.dtype : isFloat(io.dtype) ? "float32" : "int64";
      const sc = (v: number) => b.constant(rdt, [], [rdt === "int64" ? BigInt(v) : v]);
      const lenDyn = dynAt(`shape.${io.axis}`);
      let limit = sc(len);
      if (lenDyn) {
        limit = b.op("Reshape", [b.poly(lenDyn), b.ints([])]);
        if (rdt !== "int64") limit = b.cast(limit, rdt);
      }
      let r = b.op("Range", [sc(0), limit, sc(1)]);
      if (rdt !== io.dtype) r = b.cast(r, io.dtype);
      const lineShape = io.shape.map((d, i) => (i === io.axis ? d : 1));
      if (io.shape.length !== 1) r = b.op("Reshape", [r, b.ints(lineShape.map((d, i) => (i === io.axis ? -1 : d)))]);
      const full = lineShape.every((d, i) => d === io.shape[i] && (i === io.axis || !dynAt(`shape.${i}`)));
      return full ? r : b.op("Expand", [r, vec("shape", io.shape)]);
    }
    case "random": {
      const rp = p as PrimParams["random"];
      const rdt: DType = rp.dtype === "float64" || rp.dtype === "float16" ? rp.dtype : "float32";
      const r = b.op("RandomUniform", [], [A.i("dtype", ONNX_TYPE[rdt]), A.ints("shape", rp.shape), A.f("low", 0), A.f("high", 1)]);
      return rdt === rp.dtype ? r : b.cast(r, rp.dtype);
    }
    case "gather": {
      const idx = dt(1) === "int32" || dt(1) === "int64" ? x[1]! : b.cast(x[1]!, "int64");
      return b.op("GatherElements", [x[0]!, idx], [A.i("axis", (p as PrimParams["gather"]).dim)]);
    }
    case "scatterAdd": {
      if (b.opset < 16) throw new OnnxError(`saveOnnx: scatterAdd needs ScatterElements with reduction 'add' (opset 16 or more); opset ${b.opset} was asked for`);
      const idx = dt(1) === "int32" || dt(1) === "int64" ? x[1]! : b.cast(x[1]!, "int64");
      return b.op("ScatterElements", [x[0]!, idx, x[2]!], [A.i("axis", (p as PrimParams["scatterAdd"]).dim), A.s("reduction", "add")]);
    }
    case "dot": return b.op("MatMul", [x[0]!, x[1]!]);
    case "conv": {
      const c = p as PrimParams["conv"];
      let inp = x[0]!;
      // ONNX pads are non-negative; a negative pad crops the input first.
      const crop = c.padding.map(([l, h]) => [Math.max(0, -l), Math.max(0, -h)] as const);
      if (crop.some(([l, h]) => l || h)) {
        const axes = c.padding.map((_, i) => i + 2);
        inp = b.op("Slice", [inp, b.ints(crop.map(([l]) => l)), b.ints(crop.map(([, h]) => (h ? -h : INT64_MAX))), b.ints(axes)]);
      }
      const pads = c.padding.map(([l, h]) => [Math.max(0, l), Math.max(0, h)] as const);
      return b.op("Conv", [inp, x[1]!], [
        A.ints("kernel_shape", src[1]!.shape.slice(2)), A.ints("strides", c.stride), A.ints("dilations", c.dilation),
        A.ints("pads", [...pads.map((q) => q[0]), ...pads.map((q) => q[1])]), A.i("group", c.groups),
      ]);
    }
    case "contiguous": return unary("Identity");
    default: return op satisfies never;
  }
}

/** Rounds toward zero (ONNX has no Trunc). */
function emitTrunc(b: GraphBuilder, v: string, dtype: DType): string {
  const neg = b.op("Less", [v, b.constant(dtype, [], [0])]);
  return b.op("Where", [neg, b.op("Ceil", [v]), b.op("Floor", [v])]);
}

/** A dtype every ONNX Runtime comparison kernel takes. */
function widen(d: DType): DType {
  return d === "bool" || d === "uint8" ? "int32" : d === "float16" || d === "bfloat16" ? "float32" : d;
}
