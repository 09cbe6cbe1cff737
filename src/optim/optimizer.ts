/**
 * `Optimizer`: the base of the optimizers, as `torch.optim.Optimizer`. It holds parameter groups
 * (each a list of parameters and its own options), per-parameter state, and runs a step as one
 * lazy graph that a single realization computes.
 *
 * How a step runs: each subclass writes its update rule with tensor ops (`_update`), which build
 * the new parameter and state values lazily; the parameters and state tensors then take the new
 * values in place (their node is swapped, as `copy_` does), and everything is computed by ONE
 * `realize`, so the whole update is scheduled together. Hyperparameters (lr, momentum, betas, eps,
 * ...) enter the graph as realized 0-d float64 tensors, never as constants in the kernel: a
 * scheduler that changes the learning rate or the momentum every step writes a new 0-d buffer
 * and the compiled kernels are reused (see `st.engine.stats().compiles`).
 */
import { enableGrad, noGrad } from "../autograd/grad-mode.ts";
import { realize } from "../engine/realize.ts";
import { onReplay, recording, untraced } from "../engine/trace.ts";
import { ValueError } from "../ir/errors.ts";
import { full, tensor as makeTensor } from "../tensor/create.ts";
import { scope } from "../tensor/scope.ts";
import { Tensor } from "../tensor/tensor.ts";

/**
 * One parameter group: its parameters and its options (camelCase: `lr`, `weightDecay`, ...).
 * Schedulers add their own entries (`initialLr`, `maxLr`, ...), as in PyTorch.
 */
export interface ParamGroup {
  params: Tensor[];
  lr: number;
  [option: string]: unknown;
}

/** What a constructor accepts per group: parameters and any options that differ from the defaults. */
export type ParamGroupSpec<O> = { params: Iterable<Tensor> } & Partial<O> & { [option: string]: unknown };

/** The state of one parameter: named tensors (`step`, `exp_avg`, `momentum_buffer`, ...). */
export type ParamState = Record<string, Tensor>;

/**
 * PyTorch's `optimizer.state_dict()` structure: `state` keyed by parameter index (the parameters
 * numbered across groups in order), and `param_groups` with each group's options and the indices
 * of its parameters. Option names are PyTorch's (`weight_decay`, `initial_lr`), so a dict from
 * PyTorch (tensors converted) loads as well.
 */
export interface OptimizerStateDict {
  state: Record<number, ParamState>;
  param_groups: ({ params: number[] } & Record<string, unknown>)[];
}

/** camelCase option name -> PyTorch's snake_case (`weightDecay` -> `weight_decay`). */
const toSnake = (k: string): string => k.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase();
/** snake_case -> camelCase (`initial_lr` -> `initialLr`). */
const toCamel = (k: string): string => k.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** Deep copy of an option value (arrays such as `betas` are not shared between groups). */
const copyOption = (v: unknown): unknown => (Array.isArray(v) ? v.map(copyOption) : v);

/** Parameters as a list of groups, from either form the constructors accept. */
function toGroups<O>(params: Iterable<Tensor> | readonly ParamGroupSpec<O>[], name: string): ParamGroupSpec<O>[] {
  const list = Array.from(params as Iterable<Tensor | ParamGroupSpec<O>>);
  if (!list.length) throw new ValueError(`${name}: optimizer got an empty parameter list`);
  if (list[0] instanceof Tensor) {
    if (!list.every((p) => p instanceof Tensor)) throw new ValueError(`${name}: params must be all tensors or all parameter groups`);
    return [{ params: list as Tensor[] } as unknown as ParamGroupSpec<O>];
  }
  return list as ParamGroupSpec<O>[];
}

export abstract class Optimizer<G extends ParamGroup = ParamGroup> {
  /** The options of a group that does not set them. */
  readonly defaults: Readonly<Record<string, unknown>>;
  paramGroups: G[] = [];
  /** Per-parameter state, created at the parameter's first step (PyTorch's `optimizer.state`). */
  state = new Map<Tensor, ParamState>();
  /** @internal 0-d hyperparameter tensors per group and option: the value they hold and the tensor. */
  private _scalars = new Map<ParamGroup, Map<string, { v: number; t: Tensor; option: string; index: number | undefined }>>();
  /** @internal Bumped when state or hyperparameter tensors are made or replaced (a traced step must not do that). */
  private _stateVersion = 0;
  /** @internal The class name, for messages. */
  protected readonly _name: string;

  constructor(params: Iterable<Tensor> | readonly ParamGroupSpec<object>[], defaults: Record<string, unknown>) {
    this._name = new.target.name;
    this.defaults = defaults;
    for (const g of toGroups(params, this._name)) this.addParamGroup(g);
  }

  /**
   * Adds a group of parameters with its own options (the others from `defaults`), e.g. to train
   * layers unfrozen later, as PyTorch's `add_param_group`.
   */
  addParamGroup(spec: ParamGroupSpec<object>): void {
    const params = spec.params instanceof Tensor ? [spec.params] : Array.from(spec.params);
    for (const p of params) {
      if (!(p instanceof Tensor)) throw new ValueError(`${this._name}: optimizer can only optimize tensors, got ${typeof p}`);
      if (!p.isLeaf) throw new ValueError(`${this._name}: can't optimize a non-leaf tensor`);
      if (!p.isFloatingPoint()) throw new ValueError(`${this._name}: can only optimize floating point tensors, got ${p.dtype}`);
    }
    if (new Set(params).size !== params.length) throw new ValueError(`${this._name}: a parameter appears more than once in a parameter group`);
    const group: Record<string, unknown> = { params };
    for (const [k, v] of Object.entries(spec)) if (k !== "params") group[k] = copyOption(v);
    for (const [k, v] of Object.entries(this.defaults)) {
      if (group[k] !== undefined) continue;
      if (v === undefined) throw new ValueError(`${this._name}: parameter group didn't specify a value of required optimization parameter ${k}`);
      group[k] = copyOption(v);
    }
    this._validate(group as G);
    const seen = new Set(this.paramGroups.flatMap((g) => g.params));
    if (params.some((p) => seen.has(p))) throw new ValueError(`${this._name}: some parameters appear in more than one parameter group`);
    this.paramGroups.push(group as G);
  }

  /** Checks a group's options (PyTorch's "Invalid ..." errors). */
  protected _validate(group: G): void {
    if (!(group.lr >= 0)) throw new ValueError(`${this._name}: invalid learning rate: ${group.lr}`);
  }

  /**
   * Drops the gradients (sets `.grad` to null, PyTorch's default `set_to_none`); with
   * `{ setToNone: false }` zeroes them in place instead.
   */
  zeroGrad(opts: { setToNone?: boolean } = {}): void {
    for (const g of this.paramGroups) {
      for (const p of g.params) {
        if (!p.grad) continue;
        if (opts.setToNone === false) noGrad(() => p.grad!.zero_());
        else p.grad = null;
      }
    }
  }

  /**
   * One update of every parameter that has a gradient (parameters whose `.grad` is null are
   * skipped, as in PyTorch). The new parameters and state are computed in one realization. With
   * a `closure` (which recomputes the loss and calls `backward()`), it is called first, with
   * gradients enabled, and its loss returned.
   */
  step(closure?: () => Tensor): Tensor | undefined {
    const loss = closure ? enableGrad(closure) : undefined;
    const version = this._stateVersion;
    scope(() => noGrad(() => {
      const targets: Tensor[] = [];
      for (const group of this.paramGroups) {
        for (const p of group.params) {
          const grad = p.grad;
          if (!grad) continue;
          let state = this.state.get(p);
          if (!state) this.state.set(p, (state = {}));
          this._update(p, grad, state, group, targets);
        }
      }
      realize(targets.map((t) => t.node));
    }));
    if (recording()) {
      // Under st.jit: a replay of this step applies while the options keep the update's
      // structure (see _structure) and the step made no new state; it runs with the options'
      // current values (a learning-rate schedule), written to the hyperparameter tensors.
      const structure = this._structure(), made = this._stateVersion !== version;
      onReplay(() => !made && this._structure() === structure && this._syncScalars());
    }
    return loss;
  }

  /**
   * What of the options decides which ops a step builds: the update rules branch on flags, and
   * on numbers only by zero or not (`weightDecay !== 0`, `momentum > 0`).
   */
  private _structure(): string {
    const kind = (v: unknown): string =>
      typeof v === "number" ? (v === 0 ? "0" : v !== v ? "nan" : "n") : Array.isArray(v) ? `[${v.map(kind).join(",")}]` : typeof v === "object" && v ? "object" : String(v);
    const groups = this.paramGroups.map((g) =>
      `${g.params.length}:${Object.keys(g).filter((k) => k !== "params").sort().map((k) => `${k}=${kind(g[k])}`).join(",")}`);
    return `${this.state.size};${groups.join("|")}`;
  }

  /** Brings every hyperparameter tensor to its option's current value; true. */
  private _syncScalars(): boolean {
    for (const [group, m] of this._scalars) {
      for (const e of m.values()) {
        const v = e.index === undefined ? (group[e.option] as number) : (group[e.option] as number[])[e.index]!;
        if (!Object.is(v, e.v)) this._setScalar(e, v);
      }
    }
    return true;
  }

  /** Gives a hyperparameter tensor a new value in place (a new 0-d buffer; kernels stay). */
  private _setScalar(e: { v: number; t: Tensor }, v: number): void {
    untraced(() => noGrad(() => scope(() => e.t._replace(makeTensor(v, { dtype: "float64", device: e.t.device }), `${this._name}.step`))));
    e.v = v;
  }

  /**
   * The update rule for one parameter: builds the new values with tensor ops and gives them to
   * `_assign` (parameters and existing state) or `_keep` (new state entries). Tensors pushed to
   * `targets` are realized with the step (small derived scalars, so they run once, not per element).
   */
  protected abstract _update(p: Tensor, grad: Tensor, state: ParamState, group: G, targets: Tensor[]): void;

  /** Gives `t` (a parameter or a state tensor) its new value in place. */
  protected _assign(t: Tensor, value: Tensor, targets: Tensor[]): void {
    t._replace(value, `${this._name}.step`);
    targets.push(t);
  }

  /** A new state tensor holding `value`, owned by the optimizer (no `st.scope` frees it). */
  protected _keep(value: Tensor, targets: Tensor[]): Tensor {
    this._stateVersion++;
    const t = value.detach();
    t.pinned = true;
    targets.push(t);
    return t;
  }

  /** A new state tensor of zeros (or `fill`) shaped like `p`; computed with the first step. */
  protected _stateLike(p: Tensor, fill = 0): Tensor {
    this._stateVersion++;
    const t = full(p.shape, fill, { dtype: p.dtype, device: p.device });
    t.pinned = true;
    return t;
  }

  /** A new `step` counter: a float32 0-d tensor, as PyTorch's `state['step']`. */
  protected _stepCounter(p: Tensor): Tensor {
    this._stateVersion++;
    const t = makeTensor(0, { dtype: "float32", device: p.device });
    t.pinned = true;
    return t;
  }

  /**
   * The value of option `option` of a group (element `index` of it, for `betas`) as a realized
   * 0-d float64 tensor on `like`'s device. The tensor is kept, and takes a new value in place
   * when the option changes: the kernels that read it stay the same (no recompilation), and a
   * replayed `st.jit` step reads the current value.
   */
  protected _scalar(group: ParamGroup, option: string, like: Tensor, index?: number): Tensor {
    const value = index === undefined ? (group[option] as number) : (group[option] as number[])[index]!;
    let m = this._scalars.get(group);
    if (!m) this._scalars.set(group, (m = new Map()));
    const key = `${option}${index ?? ""}@${like.device}`;
    const e = m.get(key);
    if (e) {
      if (!Object.is(e.v, value)) this._setScalar(e, value);
      return e.t;
    }
    const t = makeTensor(value, { dtype: "float64", device: like.device });
    t.pinned = true;
    m.set(key, { v: value, t, option, index });
    this._stateVersion++;
    return t;
  }

  /**
   * The state in PyTorch's structure (see `OptimizerStateDict`). The tensors are snapshots: they
   * share the current buffers, and later steps do not change them.
   */
  stateDict(): OptimizerStateDict {
    const index = new Map<Tensor, number>();
    const param_groups = this.paramGroups.map((g) => {
      const packed: { params: number[] } & Record<string, unknown> = { params: [] };
      for (const [k, v] of Object.entries(g)) if (k !== "params") packed[toSnake(k)] = copyOption(v);
      packed.params = g.params.map((p) => {
        if (!index.has(p)) index.set(p, index.size);
        return index.get(p)!;
      });
      return packed;
    });
    const state: Record<number, ParamState> = {};
    for (const [p, s] of this.state) {
      const i = index.get(p);
      if (i === undefined) continue;
      const out: ParamState = {};
      for (const [k, t] of Object.entries(s)) out[k] = t.detach();
      state[i] = out;
    }
    return { state, param_groups };
  }

  /**
   * Loads a state saved by `stateDict()` (or PyTorch's, with tensors): the groups' options and
   * each parameter's state. The groups must match this optimizer's in number and sizes.
   * State tensors are cast to their parameter's dtype and device, except `step`.
   */
  loadStateDict(sd: OptimizerStateDict): void {
    const saved = sd.param_groups;
    if (saved.length !== this.paramGroups.length) {
      throw new ValueError(`${this._name}.loadStateDict: loaded state dict has ${saved.length} parameter groups, the optimizer has ${this.paramGroups.length}`);
    }
    saved.forEach((s, i) => {
      if (s.params.length !== this.paramGroups[i]!.params.length) {
        throw new ValueError(`${this._name}.loadStateDict: parameter group ${i} of the loaded state dict has ${s.params.length} parameters, the optimizer's has ${this.paramGroups[i]!.params.length}`);
      }
    });
    const byIndex = new Map<number, Tensor>();
    saved.forEach((s, i) => s.params.forEach((idx, j) => byIndex.set(idx, this.paramGroups[i]!.params[j]!)));
    const state = new Map<Tensor, ParamState>();
    for (const [k, entry] of Object.entries(sd.state)) {
      const p = byIndex.get(Number(k));
      if (!p) continue;
      const s: ParamState = {};
      for (const [name, v] of Object.entries(entry)) {
        if (!(v instanceof Tensor)) continue;
        let t = v.detach().to(p.device);
        if (name !== "step") t = t.to(p.dtype);
        if (name === "step" && t.ndim !== 0) t = t.reshape([]);
        t = t.detach();
        t.pinned = true;
        s[name] = t;
      }
      state.set(p, s);
    }
    const groups = saved.map((s, i) => {
      const g: Record<string, unknown> = { params: this.paramGroups[i]!.params };
      for (const [k, v] of Object.entries(s)) if (k !== "params") g[toCamel(k)] = copyOption(v);
      return g as G;
    });
    groups.forEach((g) => this._validate(g));
    this._disposeScalars();
    this.state = state;
    this.paramGroups = groups;
  }

  private _disposeScalars(): void {
    this._stateVersion++;
    for (const m of this._scalars.values()) for (const e of m.values()) e.t.dispose();
    this._scalars.clear();
  }
}

/** Checks `0 <= v` (PyTorch's "Invalid <name> value" errors). */
export function checkNonNegative(op: string, name: string, v: unknown): void {
  if (typeof v !== "number" || !(v >= 0)) throw new ValueError(`${op}: invalid ${name} value: ${String(v)}`);
}
