/**
 * Containers: Sequential, ModuleList, ModuleDict. Their children are named "0", "1", ... (or by
 * key), as in PyTorch, so `layers.0.weight` is a state-dict key.
 */
import { IndexError } from "../ir/errors.ts";
import { Module } from "./module.ts";

/**
 * Runs its modules in order, each on the previous one's output.
 *
 * @example
 * const model = new st.nn.Sequential(new st.nn.Linear(784, 128), new st.nn.ReLU(), new st.nn.Linear(128, 10));
 */
export class Sequential extends Module {
  constructor(...modules: Module[]) {
    super();
    modules.forEach((m, i) => this.registerModule(String(i), m));
  }
  get length(): number {
    return this.children().length;
  }
  at(i: number): Module {
    const kids = this.children();
    const j = i < 0 ? i + kids.length : i;
    if (j < 0 || j >= kids.length) throw new IndexError(`Sequential: index ${i} is out of range for ${kids.length} modules`);
    return kids[j]!;
  }
  append(m: Module): this {
    this.registerModule(String(this.children().length), m);
    return this;
  }
  forward(x: unknown): unknown {
    let y = x;
    for (const m of this.children()) y = (m.forward as (a: unknown) => unknown)(y);
    return y;
  }
  [Symbol.iterator](): Iterator<Module> {
    return this.children()[Symbol.iterator]();
  }
}

/** A list of modules, registered so that their parameters are found. */
export class ModuleList extends Module {
  constructor(modules: Iterable<Module> = []) {
    super();
    for (const m of modules) this.append(m);
  }
  get length(): number {
    return this.children().length;
  }
  at(i: number): Module {
    const kids = this.children();
    const j = i < 0 ? i + kids.length : i;
    if (j < 0 || j >= kids.length) throw new IndexError(`ModuleList: index ${i} is out of range for ${kids.length} modules`);
    return kids[j]!;
  }
  append(m: Module): this {
    this.registerModule(String(this.children().length), m);
    return this;
  }
  forward(): never {
    throw new Error("ModuleList has no forward(); iterate over it");
  }
  [Symbol.iterator](): Iterator<Module> {
    return this.children()[Symbol.iterator]();
  }
}

/** Modules by name. */
export class ModuleDict extends Module {
  constructor(modules: Record<string, Module> | Iterable<[string, Module]> = {}) {
    super();
    const entries = Symbol.iterator in Object(modules) ? [...(modules as Iterable<[string, Module]>)] : Object.entries(modules);
    for (const [k, m] of entries) this.registerModule(k, m);
  }
  get(key: string): Module | undefined {
    return this.namedChildren().find(([k]) => k === key)?.[1];
  }
  set(key: string, m: Module): this {
    this.registerModule(key, m);
    return this;
  }
  keys(): string[] {
    return this.namedChildren().map(([k]) => k);
  }
  forward(): never {
    throw new Error("ModuleDict has no forward(); look modules up with get()");
  }
}
