/**
 * The Tensor: a lazy value on a device, with PyTorch's methods (in camelCase). Ops build a graph;
 * values are computed when read (`await t.data()`, `await t.item()`) or realized.
 */
import { backward } from "../autograd/backward.ts";
import { isGradEnabled } from "../autograd/grad-mode.ts";
import { bufferNode, type LazyNode, ref, unref } from "../engine/lazy.ts";
import { allocBuffer, getBackend } from "../engine/device.ts";
import { readNode, readNodeSync, realize } from "../engine/realize.ts";
import type { HostArray } from "../ir/backend.ts";
import { type DType, isFloat } from "../ir/dtype.ts";
import { AutogradError, DisposedError, ValueError } from "../ir/errors.ts";
import type { Prim } from "../ir/ops.ts";
import { fmtShape, numel } from "../ir/shape.ts";
import * as C from "./create.ts";
import * as E from "./elementwise.ts";
import * as I from "./indexing.ts";
import * as L from "./linalg.ts";
import * as M from "./movement.ts";
import * as R from "./reduce.ts";
import { addToScope, type NodeBox, scope, track, untrack } from "./scope.ts";
import { formatTensor } from "./format.ts";
import { tensorHooks } from "./trace-hooks.ts";

/** What autograd keeps for a tensor made by a primitive: how to send gradients to its inputs. */
export interface GradFn {
  readonly op: Prim;
  readonly params: unknown;
  /** The inputs, or null once backward has freed the graph. */
  inputs: Tensor[] | null;
  /** The inputs' versions when the op ran; an in-place change since then makes backward raise. */
  readonly versions: number[];
}

export type Scalar = number | boolean;
export type TensorOrScalar = Tensor | Scalar;
export type Dims = number | readonly number[];
export type NestedArray = Scalar | readonly NestedArray[];

/** `x.max(dim)` and `x.min(dim)`: values and indices, by name or destructured (like PyTorch). */
export class ValuesIndices {
  constructor(
    readonly values: Tensor,
    readonly indices: Tensor,
  ) {}
  *[Symbol.iterator](): Iterator<Tensor> {
    yield this.values;
    yield this.indices;
  }
}

export class Tensor implements Disposable {
  /** @internal The node this tensor holds, shared with the finalizer. */
  readonly _box: NodeBox;
  /** @internal Bumped by every in-place op. */
  _version = 0;
  gradFn: GradFn | null;
  private _grad: Tensor | null = null;
  /** @internal Set by `retainGrad()` on a non-leaf. */
  _retainsGrad = false;
  /** Lifetime managed by another object (a parameter owns its `.grad`). */
  pinned = false;
  private _requiresGrad: boolean;

  /** @internal Use the creation functions (`st.tensor`, `st.zeros`, ...). */
  constructor(node: LazyNode, gradFn: GradFn | null = null) {
    ref(node);
    this._box = { node };
    this.gradFn = gradFn;
    this._requiresGrad = gradFn !== null;
    track(this, this._box);
    addToScope(this);
    tensorHooks.tracer?.created(this);
  }

  /** @internal */
  get node(): LazyNode {
    const n = this._box.node;
    if (!n) throw new DisposedError("this tensor was disposed (by dispose() or at the end of its st.scope) and cannot be used");
    const tracer = tensorHooks.tracer;
    return tracer ? tracer.read(this, n) : n;
  }

  get shape(): readonly number[] { return this.node.shape; }
  get dtype(): DType { return this.node.dtype; }
  get device(): string { return this.node.device; }
  get ndim(): number { return this.node.shape.length; }
  get isDisposed(): boolean { return this._box.node === null; }
  get isLeaf(): boolean { return this.gradFn === null; }

  dim(): number { return this.ndim; }
  numel(): number { return numel(this.shape); }
  /** The whole shape, or the size of one dim (negative dims count from the end). */
  size(): readonly number[];
  size(dim: number): number;
  size(dim?: number): readonly number[] | number {
    return dim === undefined ? this.shape : this.shape[M.dimIndex("size", dim, this.ndim)]!;
  }
  elementSize(): number { return { float32: 4, float64: 8, float16: 2, bfloat16: 2, int32: 4, int64: 8, uint8: 1, bool: 1 }[this.dtype]; }
  isFloatingPoint(): boolean { return isFloat(this.dtype); }

  /**
   * The accumulated gradient after `backward()`, for leaves that require grad. This tensor owns
   * it (it is pinned: no `st.scope` frees it). Setting `.grad` (to null, as a zeroGrad does, or to
   * another tensor) lets go of the old one: it then belongs to the enclosing `st.scope`, which
   * frees it at its end, or to the garbage collector when there is none.
   */
  get grad(): Tensor | null {
    tensorHooks.tracer?.grad(this, this._grad);
    return this._grad;
  }
  set grad(g: Tensor | null) {
    const prev = this._grad;
    if (prev === g) return;
    tensorHooks.tracer?.grad(this, prev);
    this._grad = g;
    if (g) g.pinned = true;
    if (prev) {
      prev.pinned = false;
      addToScope(prev);
    }
  }

  get requiresGrad(): boolean { return this._requiresGrad; }
  set requiresGrad(v: boolean) {
    if (v && !isFloat(this.dtype)) throw new AutogradError(`only tensors of floating point dtype can require gradients (got ${this.dtype})`);
    if (!v && !this.isLeaf) throw new AutogradError("you can only change requiresGrad flags of leaf tensors; use detach() for a non-leaf");
    this._requiresGrad = v;
  }
  /** Sets `requiresGrad` in place and returns this tensor (for chaining), like PyTorch. */
  requiresGrad_(v = true): this {
    this.requiresGrad = v;
    return this;
  }
  /** Keeps `.grad` for this non-leaf tensor during backward. */
  retainGrad(): this {
    if (!this._requiresGrad) throw new AutogradError("can't retain grad on a tensor that doesn't require grad");
    this._retainsGrad = true;
    return this;
  }

  // ---- reading values ----

  /** Computes the tensor now (no-op if it already is). */
  realize(): this {
    realize([this.node]);
    return this;
  }
  /** The values as a flat typed array, in row-major order. int64 reads as BigInt64Array, float16/bfloat16 as Float32Array. */
  data(): Promise<HostArray> { return readNode(this.node); }
  /** Synchronous `data()` for CPU devices. */
  dataSync(): HostArray { return readNodeSync(this.node); }
  /** The value of a one-element tensor as a JS number (or boolean for bool). */
  async item(): Promise<number | boolean> { return this.itemFrom(await this.data()); }
  itemSync(): number | boolean { return this.itemFrom(this.dataSync()); }
  private itemFrom(d: HostArray): number | boolean {
    if (d.length !== 1) throw new ValueError(`item(): a tensor with ${d.length} elements cannot be converted to a scalar`);
    const v = d[0]!;
    return this.dtype === "bool" ? v !== 0 : Number(v);
  }
  /** The values as nested JS arrays (numbers, or booleans for bool). */
  async tolist(): Promise<NestedArray> { return toNested(await this.data(), this.shape, this.dtype); }
  tolistSync(): NestedArray { return toNested(this.dataSync(), this.shape, this.dtype); }
  toString(): string { return formatTensor(this); }

  // ---- lifetime ----

  /** Frees this tensor's hold on its buffer now; using it afterwards raises. */
  dispose(): void {
    const n = this._box.node;
    if (!n) return;
    this._box.node = null;
    untrack(this);
    unref(n);
    this.gradFn = null;
    // The gradient this tensor owns goes with it.
    const g = this._grad;
    this._grad = null;
    if (g) {
      g.pinned = false;
      g.dispose();
    }
  }
  [Symbol.dispose](): void {
    this.dispose();
  }

  // ---- autograd ----

  /**
   * Computes gradients of this tensor with respect to the leaves that require grad, adding them
   * to their `.grad`. A non-scalar tensor needs `gradient` (the vector of the vector-Jacobian product).
   */
  backward(gradient?: Tensor, opts: { retainGraph?: boolean; createGraph?: boolean } = {}): void {
    const run = () => backward([this], gradient ? [gradient] : [null], opts);
    // The gradient graph's intermediate tensors are done with once the gradients are computed:
    // a scope frees them now rather than at garbage collection (the `.grad`s are pinned and stay).
    // With createGraph they stay, since the gradients' own gradFns refer to them.
    if (opts.createGraph) run();
    else scope(run);
  }
  /** The same values, cut from the autograd graph. */
  detach(): Tensor {
    return new Tensor(this.node);
  }
  /** @internal Swaps in a new value of the same shape (the core of every in-place op). */
  _replace(v: Tensor, op: string): this {
    if (isGradEnabled() && this._requiresGrad) {
      throw new AutogradError(`${op}: a tensor that requires grad cannot be changed in place while gradients are recorded; use st.noGrad(() => ...)`);
    }
    if (v.shape.length !== this.shape.length || v.shape.some((d, i) => d !== this.shape[i])) {
      throw new ValueError(`${op}: the value of shape ${fmtShape(v.shape)} does not fit a tensor of shape ${fmtShape(this.shape)}`);
    }
    const old = this.node;
    const next = v.dtype === this.dtype ? v.node : E.cast(v, this.dtype).node;
    tensorHooks.tracer?.replaced(this, old);
    this._setNode(next);
    return this;
  }
  /** @internal Holds `n` from now on (a replayed step's result for this tensor). */
  _setNode(n: LazyNode): void {
    const old = this.node;
    ref(n);
    this._box.node = n;
    unref(old);
    this._version++;
  }
  /**
   * @internal Runs an in-place op: `make` computes the new value inside a scope, so that the
   * temporaries it makes (and which would hold on to the old value) are freed right away.
   */
  private _inPlace(op: string, make: () => Tensor): this {
    scope(() => {
      this._replace(make(), op);
    });
    return this;
  }
  /** Copies `src` (broadcast to this shape, cast to this dtype) into this tensor. */
  copy_(src: TensorOrScalar): this { return this._inPlace("copy_", () => M.expand(E.asTensor(src, this), this.shape)); }
  zero_(): this { return this.fill_(0); }
  fill_(v: Scalar): this { return this._inPlace("fill_", () => C.full(this.shape, v, { dtype: this.dtype, device: this.device })); }
  add_(o: TensorOrScalar, opts?: { alpha?: number }): this { return this._inPlace("add_", () => E.add(this, o, opts)); }
  sub_(o: TensorOrScalar, opts?: { alpha?: number }): this { return this._inPlace("sub_", () => E.sub(this, o, opts)); }
  mul_(o: TensorOrScalar): this { return this._inPlace("mul_", () => E.mul(this, o)); }
  div_(o: TensorOrScalar): this { return this._inPlace("div_", () => E.div(this, o)); }
  clamp_(min?: TensorOrScalar | null, max?: TensorOrScalar | null): this { return this._inPlace("clamp_", () => E.clamp(this, min, max)); }
  /** Fills with samples from U(from, to). */
  uniform_(from = 0, to = 1): this { return this._inPlace("uniform_", () => C.rand(this.shape, { dtype: this.dtype, device: this.device }).mul(to - from).add(from)); }
  /** Fills with samples from N(mean, std²). */
  normal_(mean = 0, std = 1): this { return this._inPlace("normal_", () => C.randn(this.shape, { dtype: this.dtype, device: this.device }).mul(std).add(mean)); }

  // ---- conversion ----

  /** This tensor as another dtype (the same tensor when it already is). */
  to(dtypeOrDevice: DType | string): Tensor {
    if (dtypeOrDevice === this.dtype) return this;
    if (["float32", "float64", "float16", "bfloat16", "int32", "int64", "uint8", "bool"].includes(dtypeOrDevice)) return E.cast(this, dtypeOrDevice as DType);
    return toDevice(this, dtypeOrDevice);
  }
  float(): Tensor { return this.to("float32"); }
  double(): Tensor { return this.to("float64"); }
  half(): Tensor { return this.to("float16"); }
  bfloat16(): Tensor { return this.to("bfloat16"); }
  int(): Tensor { return this.to("int32"); }
  long(): Tensor { return this.to("int64"); }
  bool(): Tensor { return this.to("bool"); }
  byte(): Tensor { return this.to("uint8"); }
  /** A copy that shares no future in-place changes with this tensor (differentiable). */
  clone(): Tensor { return M.reshape(this, this.shape); }
  /** Same values; Strata's views need no contiguous copy, so this is a differentiable identity. */
  contiguous(): Tensor { return this.clone(); }
  newZeros(size: readonly number[]): Tensor { return C.zeros(size, { dtype: this.dtype, device: this.device }); }
  newOnes(size: readonly number[]): Tensor { return C.ones(size, { dtype: this.dtype, device: this.device }); }
  newFull(size: readonly number[], v: Scalar): Tensor { return C.full(size, v, { dtype: this.dtype, device: this.device }); }
  newTensor(data: NestedArray): Tensor { return C.tensor(data, { dtype: this.dtype, device: this.device }); }

  // ---- elementwise ----
  add(o: TensorOrScalar, opts?: { alpha?: number }): Tensor { return E.add(this, o, opts); }
  sub(o: TensorOrScalar, opts?: { alpha?: number }): Tensor { return E.sub(this, o, opts); }
  rsub(o: TensorOrScalar): Tensor { return E.sub(E.asTensor(o, this), this); }
  mul(o: TensorOrScalar): Tensor { return E.mul(this, o); }
  div(o: TensorOrScalar, opts?: { roundingMode?: "trunc" | "floor" | null }): Tensor { return E.div(this, o, opts); }
  floorDivide(o: TensorOrScalar): Tensor { return E.floorDivide(this, o); }
  remainder(o: TensorOrScalar): Tensor { return E.remainder(this, o); }
  fmod(o: TensorOrScalar): Tensor { return E.fmod(this, o); }
  pow(o: TensorOrScalar): Tensor { return E.pow(this, o); }
  maximum(o: TensorOrScalar): Tensor { return E.maximum(this, o); }
  minimum(o: TensorOrScalar): Tensor { return E.minimum(this, o); }
  eq(o: TensorOrScalar): Tensor { return E.eq(this, o); }
  ne(o: TensorOrScalar): Tensor { return E.ne(this, o); }
  lt(o: TensorOrScalar): Tensor { return E.lt(this, o); }
  le(o: TensorOrScalar): Tensor { return E.le(this, o); }
  gt(o: TensorOrScalar): Tensor { return E.gt(this, o); }
  ge(o: TensorOrScalar): Tensor { return E.ge(this, o); }
  logicalAnd(o: TensorOrScalar): Tensor { return E.logicalAnd(this, o); }
  logicalOr(o: TensorOrScalar): Tensor { return E.logicalOr(this, o); }
  logicalXor(o: TensorOrScalar): Tensor { return E.logicalXor(this, o); }
  logicalNot(): Tensor { return E.logicalNot(this); }
  neg(): Tensor { return E.neg(this); }
  abs(): Tensor { return E.abs(this); }
  sign(): Tensor { return E.sign(this); }
  exp(): Tensor { return E.exp(this); }
  exp2(): Tensor { return E.exp2(this); }
  expm1(): Tensor { return E.expm1(this); }
  log(): Tensor { return E.log(this); }
  log2(): Tensor { return E.log2(this); }
  log10(): Tensor { return E.log10(this); }
  log1p(): Tensor { return E.log1p(this); }
  sqrt(): Tensor { return E.sqrt(this); }
  rsqrt(): Tensor { return E.rsqrt(this); }
  square(): Tensor { return E.square(this); }
  reciprocal(): Tensor { return E.reciprocal(this); }
  sin(): Tensor { return E.sin(this); }
  cos(): Tensor { return E.cos(this); }
  tan(): Tensor { return E.tan(this); }
  tanh(): Tensor { return E.tanh(this); }
  sigmoid(): Tensor { return E.sigmoid(this); }
  relu(): Tensor { return E.relu(this); }
  gelu(opts?: { approximate?: "none" | "tanh" }): Tensor { return E.gelu(this, opts); }
  silu(): Tensor { return E.silu(this); }
  softplus(opts?: { beta?: number; threshold?: number }): Tensor { return E.softplus(this, opts); }
  erf(): Tensor { return E.erf(this); }
  floor(): Tensor { return E.floor(this); }
  ceil(): Tensor { return E.ceil(this); }
  round(): Tensor { return E.round(this); }
  trunc(): Tensor { return E.trunc(this); }
  frac(): Tensor { return E.frac(this); }
  clamp(min?: TensorOrScalar | null, max?: TensorOrScalar | null): Tensor { return E.clamp(this, min, max); }
  clip(min?: TensorOrScalar | null, max?: TensorOrScalar | null): Tensor { return E.clamp(this, min, max); }
  isnan(): Tensor { return E.isnan(this); }
  isinf(): Tensor { return E.isinf(this); }
  isfinite(): Tensor { return E.isfinite(this); }
  where(cond: Tensor, other: TensorOrScalar): Tensor { return E.where(cond, this, other); }
  maskedFill(mask: Tensor, value: TensorOrScalar): Tensor { return E.maskedFill(this, mask, value); }
  lerp(end: TensorOrScalar, weight: TensorOrScalar): Tensor { return E.lerp(this, end, weight); }

  // ---- reductions ----
  sum(dim?: Dims | null, opts?: R.ReduceOpts & { dtype?: DType }): Tensor { return R.sum(this, dim, opts); }
  mean(dim?: Dims | null, opts?: R.ReduceOpts): Tensor { return R.mean(this, dim, opts); }
  prod(dim?: number | null, opts?: R.ReduceOpts): Tensor { return R.prod(this, dim, opts); }
  amax(dim?: Dims | null, opts?: R.ReduceOpts): Tensor { return R.amax(this, dim, opts); }
  amin(dim?: Dims | null, opts?: R.ReduceOpts): Tensor { return R.amin(this, dim, opts); }
  /** The largest value; with `dim`, the values and their indices along it. */
  max(): Tensor;
  max(dim: number, opts?: R.ReduceOpts): ValuesIndices;
  max(dim?: number, opts?: R.ReduceOpts): Tensor | ValuesIndices { return dim === undefined ? R.amax(this) : R.maxDim(this, dim, opts); }
  min(): Tensor;
  min(dim: number, opts?: R.ReduceOpts): ValuesIndices;
  min(dim?: number, opts?: R.ReduceOpts): Tensor | ValuesIndices { return dim === undefined ? R.amin(this) : R.minDim(this, dim, opts); }
  argmax(dim?: number | null, opts?: R.ReduceOpts): Tensor { return R.argmax(this, dim, opts); }
  argmin(dim?: number | null, opts?: R.ReduceOpts): Tensor { return R.argmin(this, dim, opts); }
  var(dim?: Dims | null, opts?: R.ReduceOpts & { correction?: number }): Tensor { return R.variance(this, dim, opts); }
  std(dim?: Dims | null, opts?: R.ReduceOpts & { correction?: number }): Tensor { return R.std(this, dim, opts); }
  logsumexp(dim: Dims, opts?: R.ReduceOpts): Tensor { return R.logsumexp(this, dim, opts); }
  softmax(dim: number): Tensor { return R.softmax(this, dim); }
  logSoftmax(dim: number): Tensor { return R.logSoftmax(this, dim); }
  cumsum(dim: number): Tensor { return R.cumsum(this, dim); }
  norm(p: number | "fro" = 2, dim?: Dims | null, opts?: R.ReduceOpts): Tensor { return R.norm(this, p, dim, opts); }
  all(dim?: Dims | null, opts?: R.ReduceOpts): Tensor { return R.all(this, dim, opts); }
  any(dim?: Dims | null, opts?: R.ReduceOpts): Tensor { return R.any(this, dim, opts); }

  // ---- movement (views: they copy nothing) ----
  reshape(shape: readonly number[]): Tensor { return M.reshape(this, shape); }
  view(shape: readonly number[]): Tensor { return M.reshape(this, shape); }
  viewAs(o: Tensor): Tensor { return M.reshape(this, o.shape); }
  reshapeAs(o: Tensor): Tensor { return M.reshape(this, o.shape); }
  permute(dims: readonly number[]): Tensor { return M.permute(this, dims); }
  transpose(d0: number, d1: number): Tensor { return M.transpose(this, d0, d1); }
  swapaxes(d0: number, d1: number): Tensor { return M.transpose(this, d0, d1); }
  /** Transpose of a matrix (0-D and 1-D tensors are returned as they are). */
  t(): Tensor { return M.t(this); }
  get T(): Tensor { return M.permute(this, [...Array(this.ndim).keys()].reverse()); }
  /** Transpose of the last two dims. */
  get mT(): Tensor { return M.transpose(this, -2, -1); }
  movedim(source: Dims, destination: Dims): Tensor { return M.movedim(this, source, destination); }
  expand(shape: readonly number[]): Tensor { return M.expand(this, shape); }
  expandAs(o: Tensor): Tensor { return M.expand(this, o.shape); }
  broadcastTo(shape: readonly number[]): Tensor { return M.expand(this, shape); }
  squeeze(dim?: Dims): Tensor { return M.squeeze(this, dim); }
  unsqueeze(dim: number): Tensor { return M.unsqueeze(this, dim); }
  flatten(startDim = 0, endDim = -1): Tensor { return M.flatten(this, startDim, endDim); }
  unflatten(dim: number, sizes: readonly number[]): Tensor { return M.unflatten(this, dim, sizes); }
  narrow(dim: number, start: number, length: number): Tensor { return M.narrow(this, dim, start, length); }
  flip(dims: Dims): Tensor { return M.flip(this, dims); }
  repeat(sizes: readonly number[]): Tensor { return M.repeat(this, sizes); }
  split(splitSizeOrSections: number | readonly number[], dim = 0): Tensor[] { return M.split(this, splitSizeOrSections, dim); }
  chunk(chunks: number, dim = 0): Tensor[] { return M.chunk(this, chunks, dim); }
  unbind(dim = 0): Tensor[] { return M.unbind(this, dim); }
  roll(shifts: Dims, dims?: Dims): Tensor { return M.roll(this, shifts, dims); }
  /**
   * NumPy-style indexing, PyTorch's `x[...]`: each spec is an integer, a slice string such as
   * `"1:5:2"` or `":"`, `{ start, stop, step }`, `null` (a new axis), `"..."`, or an integer
   * tensor (gathers along that dim).
   *
   * @example
   * x.index(0, "1:", "::2")   // x[0, 1:, ::2]
   */
  index(...specs: I.IndexSpec[]): Tensor { return I.index(this, specs); }

  // ---- indexing ----
  gather(dim: number, index: Tensor): Tensor { return I.gather(this, dim, index); }
  scatterAdd(dim: number, index: Tensor, src: Tensor): Tensor { return I.scatterAdd(this, dim, index, src); }
  indexSelect(dim: number, index: Tensor): Tensor { return I.indexSelect(this, dim, index); }
  triu(diagonal = 0): Tensor { return I.triu(this, diagonal); }
  tril(diagonal = 0): Tensor { return I.tril(this, diagonal); }

  // ---- linear algebra ----
  matmul(o: Tensor): Tensor { return L.matmul(this, o); }
  mm(o: Tensor): Tensor { return L.mm(this, o); }
  bmm(o: Tensor): Tensor { return L.bmm(this, o); }
  /** Inner product of two 1-D tensors. */
  dot(o: Tensor): Tensor { return L.dot(this, o); }
  outer(o: Tensor): Tensor { return L.outer(this, o); }
}

function toNested(d: HostArray, shape: readonly number[], dtype: DType): NestedArray {
  const conv = (v: number | bigint): Scalar => (dtype === "bool" ? v !== 0 : Number(v));
  if (shape.length === 0) return conv(d[0]!);
  let i = 0;
  const rec = (k: number): NestedArray[] => {
    const out: NestedArray[] = [];
    for (let j = 0; j < shape[k]!; j++) out.push(k === shape.length - 1 ? conv(d[i++]!) : rec(k + 1));
    return out;
  };
  return rec(0);
}

function toDevice(t: Tensor, device: string): Tensor {
  if (device === t.device) return t;
  getBackend(device);
  const values = readNodeSync(t.node);
  const buf = allocBuffer(device, t.dtype, t.numel());
  getBackend(device).write(buf, values as ArrayLike<number>);
  return new Tensor(bufferNode(buf, t.shape, device));
}
