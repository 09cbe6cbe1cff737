/**
 * A browser's Web Worker, for tests, over node:worker_threads: `new Worker(url)` takes a blob: URL
 * from URL.createObjectURL and runs the blob's text as a classic script with `self`, `onmessage`
 * and `postMessage`. As in a browser, the script starts asynchronously (messages posted before are
 * queued), and messages reach it only through its event loop: it gets no receiveMessageOnPort.
 */
import { resolveObjectURL } from "node:buffer";
import { Worker as NodeWorker } from "node:worker_threads";

/** Defines the worker's globals from parentPort, then forgets `require` as a browser has none. */
const PRELUDE = `
const { parentPort: __port } = require("node:worker_threads");
globalThis.self = globalThis;
globalThis.onmessage = null;
globalThis.postMessage = (m) => __port.postMessage(m);
__port.on("message", (data) => { if (typeof globalThis.onmessage === "function") globalThis.onmessage({ data }); });
`;

/** What the shim has seen, for assertions. */
export const shimStats = { created: 0, terminated: 0, errors: [] as string[] };

export class WebWorkerShim {
  onmessage: ((e: { data: unknown }) => void) | null = null;
  onerror: ((e: { message: string }) => void) | null = null;
  #worker: NodeWorker | null = null;
  #pending: unknown[] = [];
  #terminated = false;

  constructor(url: string | URL, opts?: { type?: string }) {
    if (opts?.type === "module") throw new Error("web-worker shim: module workers are not supported");
    // Resolved now, as a browser does: the URL may be revoked before the script loads.
    const blob = resolveObjectURL(String(url));
    if (!blob) throw new Error(`web-worker shim: not a live blob: URL: ${String(url)}`);
    shimStats.created++;
    void blob.text().then((text) => {
      if (this.#terminated) return;
      // A script wrapped in a function, so that `require` is not in its scope.
      const src = `${PRELUDE}\n(function (require) {\n${text}\n})(undefined);\n`;
      const w = new NodeWorker(src, { eval: true, execArgv: [] });
      w.unref(); // a page's workers never keep the process alive
      w.on("message", (data: unknown) => this.onmessage?.({ data }));
      w.on("error", (e: Error) => {
        shimStats.errors.push(e.message);
        this.onerror?.({ message: e.message });
      });
      this.#worker = w;
      for (const m of this.#pending) w.postMessage(m);
      this.#pending = [];
    });
  }

  postMessage(message: unknown): void {
    if (this.#terminated) return;
    if (this.#worker) this.#worker.postMessage(message);
    else this.#pending.push(message);
  }

  terminate(): void {
    if (this.#terminated) return;
    this.#terminated = true;
    shimStats.terminated++;
    void this.#worker?.terminate();
  }
}

/** Installs the shim as globalThis.Worker; returns a function that puts back what was there. */
export function installWebWorker(): () => void {
  const g = globalThis as { Worker?: unknown };
  const had = Object.prototype.hasOwnProperty.call(g, "Worker"), before = g.Worker;
  g.Worker = WebWorkerShim;
  return () => {
    if (had) g.Worker = before;
    else delete g.Worker;
  };
}
