/**
 * `nn.Module`: the base of layers and models, as in PyTorch. Parameters, buffers and submodules
 * are found from the module's fields, in the order they were assigned; their names in
 * `stateDict()` are the field names in snake_case (`runningMean` -> `running_mean`,
 * `weightIhL0` -> `weight_ih_l0`, `selfAttn` -> `self_attn`), so the keys are PyTorch's.
 */
import { noGrad } from "../autograd/grad-mode.ts";
import type { DType } from "../ir/dtype.ts";
import { ShapeError, StrataError, ValueError } from "../ir/errors.ts";
import { fmtShape } from "../ir/shape.ts";
import { Tensor } from "../tensor/tensor.ts";
import { Parameter } from "./parameter.ts";
import { type Recording, recording } from "../engine/trace.ts";

/** camelCase field name -> PyTorch's snake_case state-dict name. */
export const snakeCase = (name: string): string => name.replace(/([a-z0-9])([A-Z])/g, "$1_$2").replace(/([A-Z])([A-Z][a-z])/g, "$1_$2").toLowerCase();

export type StateDict = Record<string, Tensor>;

export interface LoadResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

export abstract class Module {
  /** @internal The mode, and the trace that already checks it (see `training`). */
  private _training = true;
  private _modeCheckedBy: Recording | null = null;
  /** @internal Field names registered as buffers, and whether each is saved in the state dict. */
  private readonly _bufferFields = new Map<string, boolean>();
  /** @internal Entries registered under explicit names (not fields). */
  private readonly _named = new Map<string, Parameter | Module | Tensor | null>();

  /** The computation. Subclasses define it with their own signature. */
  abstract forward(...args: never[]): unknown;

  // ---- registration ----

  /** Registers a tensor that is state but not a parameter (running statistics, masks). */
  registerBuffer(name: string, tensor: Tensor | null, persistent = true): void {
    if (tensor) tensor.pinned = true;
    (this as unknown as Record<string, unknown>)[name] = tensor;
    this._bufferFields.set(name, persistent);
  }
  /** Registers a parameter under an explicit state-dict name (for names a field cannot have). */
  registerParameter(name: string, p: Parameter | null): void {
    this._named.set(name, p);
  }
  registerModule(name: string, m: Module | null): void {
    this._named.set(name, m);
  }
  addModule(name: string, m: Module | null): void {
    this.registerModule(name, m);
  }

  /** @internal Own entries in registration order: [state-dict name, value, kind]. */
  protected _entries(): [string, Parameter | Module | Tensor | null, "param" | "module" | "buffer" | "buffer-transient"][] {
    const out: [string, Parameter | Module | Tensor | null, "param" | "module" | "buffer" | "buffer-transient"][] = [];
    for (const [k, v] of Object.entries(this)) {
      if (k.startsWith("_")) continue;
      if (this._bufferFields.has(k)) out.push([snakeCase(k), v as Tensor | null, this._bufferFields.get(k) ? "buffer" : "buffer-transient"]);
      else if (v instanceof Parameter) out.push([snakeCase(k), v, "param"]);
      else if (v instanceof Module) out.push([snakeCase(k), v, "module"]);
    }
    for (const [k, v] of this._named) {
      if (v instanceof Module) out.push([k, v, "module"]);
      else if (v === null || v instanceof Parameter) out.push([k, v, "param"]);
    }
    return out;
  }

  // ---- traversal ----

  namedChildren(): [string, Module][] {
    return this._entries().filter(([, v, kind]) => kind === "module" && v).map(([k, v]) => [k, v as Module]);
  }
  children(): Module[] {
    return this.namedChildren().map(([, m]) => m);
  }
  namedModules(prefix = ""): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [k, m] of this.namedChildren()) out.push(...m.namedModules(prefix ? `${prefix}.${k}` : k));
    return out;
  }
  modules(): Module[] {
    return this.namedModules().map(([, m]) => m);
  }
  namedParameters(prefix = "", recurse = true): [string, Parameter][] {
    const out: [string, Parameter][] = [], seen = new Set<Tensor>();
    const visit = (m: Module, pre: string) => {
      for (const [k, v, kind] of m._entries()) {
        const name = pre ? `${pre}.${k}` : k;
        if (kind === "param" && v && !seen.has(v as Tensor)) { seen.add(v as Tensor); out.push([name, v as Parameter]); }
        else if (kind === "module" && v && recurse) visit(v as Module, name);
      }
    };
    visit(this, prefix);
    return out;
  }
  /**
   * The parameters of this module and its submodules (each once), for an optimizer.
   *
   * @example
   * const opt = new st.optim.SGD(model.parameters(), { lr: 0.1 });
   */
  parameters(recurse = true): Parameter[] {
    return this.namedParameters("", recurse).map(([, p]) => p);
  }
  namedBuffers(prefix = "", recurse = true): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const visit = (m: Module, pre: string) => {
      for (const [k, v, kind] of m._entries()) {
        const name = pre ? `${pre}.${k}` : k;
        if ((kind === "buffer" || kind === "buffer-transient") && v) out.push([name, v as Tensor]);
        else if (kind === "module" && v && recurse) visit(v as Module, name);
      }
    };
    visit(this, prefix);
    return out;
  }
  buffers(recurse = true): Tensor[] {
    return this.namedBuffers("", recurse).map(([, b]) => b);
  }

  // ---- state ----

  /**
   * Parameters and persistent buffers by PyTorch's names (`layers.0.weight`, `running_mean`).
   *
   * @example
   * const sd = model.stateDict(); // { "0.weight": Tensor, "0.bias": Tensor, ... }
   */
  stateDict(): StateDict {
    const out: StateDict = {};
    const visit = (m: Module, pre: string) => {
      for (const [k, v, kind] of m._entries()) {
        const name = pre ? `${pre}.${k}` : k;
        if ((kind === "param" || kind === "buffer") && v) out[name] = v as Tensor;
        else if (kind === "module" && v) visit(v as Module, name);
      }
    };
    visit(this, "");
    return out;
  }

  /**
   * Copies values into the parameters and buffers by name. With `strict` (the default), missing
   * or unexpected keys raise; a shape mismatch always raises. Values are cast to each
   * parameter's dtype.
   */
  loadStateDict(sd: StateDict | Map<string, Tensor>, opts: { strict?: boolean } = {}): LoadResult {
    const given = sd instanceof Map ? sd : new Map(Object.entries(sd));
    const own = this.stateDict();
    const missingKeys = Object.keys(own).filter((k) => !given.has(k));
    const unexpectedKeys = [...given.keys()].filter((k) => !(k in own));
    const strict = opts.strict ?? true;
    if (strict && (missingKeys.length || unexpectedKeys.length)) {
      throw new StrataError(`loadStateDict: error(s) in loading state dict for ${this.constructor.name}:` +
        (missingKeys.length ? ` missing keys: ${missingKeys.map((k) => `"${k}"`).join(", ")}.` : "") +
        (unexpectedKeys.length ? ` unexpected keys: ${unexpectedKeys.map((k) => `"${k}"`).join(", ")}.` : ""));
    }
    for (const [k, t] of Object.entries(own)) {
      const v = given.get(k);
      if (!v) continue;
      if (v.shape.length !== t.shape.length || v.shape.some((d, i) => d !== t.shape[i])) {
        throw new ShapeError(`loadStateDict: size mismatch for ${k}: copying a param with shape ${fmtShape(v.shape)}, the shape in current model is ${fmtShape(t.shape)}`);
      }
    }
    noGrad(() => {
      for (const [k, t] of Object.entries(own)) {
        const v = given.get(k);
        if (v) t.copy_(v.device === t.device ? v : v.to(t.device)).realize();
      }
    });
    return { missingKeys, unexpectedKeys };
  }

  // ---- modes and utilities ----

  /**
   * Train mode (dropout active, batch norm uses batch statistics) or eval mode. Read inside a
   * traced step (`st.jit`), the mode becomes a condition of the trace's replays: switching to
   * eval and back keeps the trace, and only modules whose mode a step read can retrace it.
   */
  get training(): boolean {
    const mode = this._training, rec = recording();
    if (rec && this._modeCheckedBy !== rec) {
      this._modeCheckedBy = rec;
      rec.checks.push(() => this._training === mode);
    }
    return mode;
  }
  set training(mode: boolean) {
    this._training = mode;
  }

  /** Sets train mode (default) or eval mode on this module and its children. */
  train(mode = true): this {
    for (const m of this.modules()) m.training = mode;
    return this;
  }
  eval(): this {
    return this.train(false);
  }
  /** Calls `fn` on every submodule (children first) and this module. */
  apply(fn: (m: Module) => void): this {
    for (const c of this.children()) c.apply(fn);
    fn(this);
    return this;
  }
  /** Drops the gradients of all parameters (PyTorch's default `set_to_none`). */
  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = null;
  }
  /** Freezes (false) or unfreezes (true) every parameter. */
  requiresGrad_(requiresGrad = true): this {
    for (const p of this.parameters()) p.requiresGrad_(requiresGrad);
    return this;
  }
  /** Casts floating point parameters and buffers to `dtype`, in place. */
  to(dtype: DType): this {
    if (!dtype.startsWith("float") && dtype !== "bfloat16") throw new ValueError(`Module.to: expected a floating point dtype, got ${dtype}`);
    noGrad(() => {
      for (const m of this.modules()) {
        for (const [k, v] of Object.entries(m)) {
          if (!(v instanceof Tensor) || !v.isFloatingPoint() || v.dtype === dtype) continue;
          const cast = v instanceof Parameter ? new Parameter(v.to(dtype), v.requiresGrad) : v.to(dtype);
          cast.pinned = true;
          (m as unknown as Record<string, unknown>)[k] = cast;
        }
        for (const [k, v] of m._named) {
          if (!(v instanceof Parameter) || !v.isFloatingPoint() || v.dtype === dtype) continue;
          m._named.set(k, new Parameter(v.to(dtype), v.requiresGrad));
        }
      }
    });
    return this;
  }
  double(): this { return this.to("float64"); }
  float(): this { return this.to("float32"); }

  /** Extra text in this module's line of `toString()` (its configuration), as PyTorch's extra_repr. */
  extraRepr(): string {
    return "";
  }
  /** PyTorch-style nested description of the module. */
  toString(): string {
    const kids = this.namedChildren();
    const head = `${this.constructor.name}(${this.extraRepr()}`;
    if (!kids.length) return `${head})`;
    const body = kids.map(([k, m]) => `  (${k}): ${m.toString().replace(/\n/g, "\n  ")}`).join("\n");
    return `${head}${this.extraRepr() ? "\n" : "\n"}${body}\n)`;
  }
  /** The module tree with the parameter count of each part and the total. */
  summary(): string {
    const rows: [string, string, number][] = [];
    for (const [name, m] of this.namedModules()) {
      const count = m.parameters(false).reduce((a, p) => a + p.numel(), 0);
      rows.push([name || "(root)", m.constructor.name, count]);
    }
    const total = this.parameters().reduce((a, p) => a + p.numel(), 0);
    const trainable = this.parameters().filter((p) => p.requiresGrad).reduce((a, p) => a + p.numel(), 0);
    const w = Math.max(6, ...rows.map(([n]) => n.length)), tw = Math.max(4, ...rows.map(([, t]) => t.length));
    const lines = [`${"name".padEnd(w)}  ${"type".padEnd(tw)}  params`];
    for (const [n, t, c] of rows) lines.push(`${n.padEnd(w)}  ${t.padEnd(tw)}  ${c.toLocaleString("en-US")}`);
    lines.push(`total parameters: ${total.toLocaleString("en-US")} (trainable ${trainable.toLocaleString("en-US")})`);
    return lines.join("\n");
  }
}
