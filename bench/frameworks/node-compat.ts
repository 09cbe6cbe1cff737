/**
 * What browser-first peers expect of their host and Node 20 lacks, supplied for the benchmarks only.
 *
 * A minimal Web Worker (`new Worker(blobURL)`, `onmessage`, `postMessage`) over Node's worker_threads,
 * for peers that parallelize through the browser's Worker API (jax-js's wasm backend creates its
 * worker pool only when `globalThis.Worker` and SharedArrayBuffer exist; Node 20 has no global
 * Worker). Installing it lets such a peer run multi-threaded in Node as it would in a browser.
 *
 * The worker script (from a blob: URL) runs as a classic script with `self`, `self.onmessage` and
 * `postMessage` defined on top of `parentPort`. Messages posted before the script is loaded are
 * queued. Workers are unref'd: they never keep the process alive.
 */
import { Worker as NodeWorker } from "node:worker_threads";
import { resolveObjectURL } from "node:buffer";

const PRELUDE = [
  `const { parentPort } = require("node:worker_threads");`,
  `globalThis.self = globalThis;`,
  `globalThis.postMessage = (m) => parentPort.postMessage(m);`,
  `parentPort.on("message", (data) => { if (typeof globalThis.onmessage === "function") globalThis.onmessage({ data }); });`,
  ``,
].join("\n");

interface MessageLike { data: unknown }

class WebWorker {
  onmessage: ((e: MessageLike) => void) | null = null;
  onerror: ((e: { message: string }) => void) | null = null;
  #worker: NodeWorker | null = null;
  #queue: unknown[] = [];
  #dead = false;

  constructor(url: string | URL, _options?: { type?: string }) {
    const href = String(url);
    const blob = href.startsWith("blob:") ? resolveObjectURL(href) : undefined;
    if (!blob) throw new Error(`web-worker shim: only blob: URLs are supported, got ${href}`);
    void blob.text().then((src) => {
      if (this.#dead) return;
      const w = new NodeWorker(PRELUDE + src, { eval: true });
      w.unref();
      w.on("message", (data: unknown) => this.onmessage?.({ data }));
      w.on("error", (e: Error) => this.onerror?.({ message: e.message }));
      this.#worker = w;
      for (const m of this.#queue) w.postMessage(m);
      this.#queue = [];
    });
  }

  postMessage(message: unknown): void {
    if (this.#worker) this.#worker.postMessage(message);
    else this.#queue.push(message);
  }

  terminate(): void {
    this.#dead = true;
    void this.#worker?.terminate();
  }
}

/** Defines `globalThis.Worker` (if absent) and `navigator.hardwareConcurrency` = `threads`. */
export function installWebWorker(threads: number): void {
  const g = globalThis as Record<string, unknown>;
  if (typeof g.Worker === "undefined") g.Worker = WebWorker;
  const nav = (g.navigator ?? {}) as Record<string, unknown>;
  Object.defineProperty(nav, "hardwareConcurrency", { value: threads, configurable: true });
  if (typeof g.navigator === "undefined") g.navigator = nav;
}

/**
 * Iterator helpers (`iterator.map(...)`, ES2025; Node 22+, current browsers), which jax-js's einsum
 * parser uses. Defines the few used here on %IteratorPrototype% when absent, as lazy generators.
 */
export function installIteratorHelpers(): void {
  const proto = Object.getPrototypeOf(Object.getPrototypeOf([][Symbol.iterator]())) as Record<string, unknown>;
  type It = Iterable<unknown>;
  const helpers: Record<string, (this: It, ...a: never[]) => unknown> = {
    *map(this: It, f: (v: unknown, i: number) => unknown) { let i = 0; for (const v of this) yield f(v, i++); },
    *filter(this: It, f: (v: unknown, i: number) => boolean) { let i = 0; for (const v of this) if (f(v, i++)) yield v; },
    *flatMap(this: It, f: (v: unknown, i: number) => It) { let i = 0; for (const v of this) yield* f(v, i++); },
    toArray(this: It) { return [...this]; },
    forEach(this: It, f: (v: unknown, i: number) => void) { let i = 0; for (const v of this) f(v, i++); },
    some(this: It, f: (v: unknown, i: number) => boolean) { let i = 0; for (const v of this) if (f(v, i++)) return true; return false; },
    every(this: It, f: (v: unknown, i: number) => boolean) { let i = 0; for (const v of this) if (!f(v, i++)) return false; return true; },
  };
  for (const [name, fn] of Object.entries(helpers)) {
    if (typeof proto[name] !== "function") Object.defineProperty(proto, name, { value: fn, writable: true, configurable: true });
  }
}
