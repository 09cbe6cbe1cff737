/**
 * The wasm backend's thread pool on Web Workers (src/backends/wasm/web-threads.ts), as in a
 * cross-origin isolated browser page, run here on a Web Worker shim over node:worker_threads
 * (test/helpers/web-worker-shim.ts: blob: URLs, classic scripts, messages through the event loop
 * only). Both ways of waiting for workers are run: spinning, as a browser's main thread must
 * (Atomics.wait throws there), and sleeping in Atomics.wait, as inside a worker.
 *
 * Results must equal the js device's bit for bit (elementwise and reductions) and, for the GEMM
 * and the conv built on it, a one-thread wasm device's bit for bit (and the js device's within
 * float32 rounding: the GEMM adds in another order). They are checked from the first jobs, which
 * run on the calling thread because the workers have not started, through the jobs workers decline
 * (their modules are still in messages), to jobs the workers run.
 */
import { afterAll, describe, expect, it } from "vitest";
import * as st from "../src/index.ts";
import { WasmBackend } from "../src/backends/wasm/backend.ts";
import { installWebWorker, shimStats } from "./helpers/web-worker-shim.ts";

const restoreWorker = installWebWorker();
const F = st.nn.functional;

const one = new WasmBackend({ name: "wasm-web-one", threads: 1, blas: "off" });
st.registerBackend("wasm-web-one", () => one);
const opened: WasmBackend[] = [];

afterAll(() => {
  for (const b of opened) b.pool?.close();
  restoreWorker();
});

/** Deterministic values in [-2, 2). */
function data(n: number, seed: number): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 31 - 1).map((u) => u * 2);
}

const input = (n: number, seed: number, device: string, shape: number[]) => st.tensor(new Float32Array(data(n, seed)), { device }).reshape(shape);
const host = (t: st.Tensor) => Float32Array.from(t.dataSync() as Float32Array);

/** The programs, each giving named float32 results. */
const programs: Record<string, (device: string) => Record<string, Float32Array>> = {
  elementwise(device) {
    const x = input(100_000, 1, device, [100_000]), y = input(100_000, 2, device, [100_000]);
    return { out: host(x.exp().mul(y).add(x.sin()).div(y.abs().add(1))) };
  },
  reduction(device) {
    const x = input(100_000, 3, device, [200, 500]), y = input(100_000, 4, device, [200, 500]);
    return { rows: host(x.exp().sum(1)), cols: host(x.mul(y).sum(0)) };
  },
  matmul(device) {
    const a = input(200 * 300, 5, device, [200, 300]), b = input(300 * 100, 6, device, [300, 100]);
    return { out: host(a.matmul(b)) };
  },
  conv2dStep(device) {
    const x = input(4 * 3 * 16 * 16, 7, device, [4, 3, 16, 16]);
    const w = input(8 * 3 * 3 * 3, 8, device, [8, 3, 3, 3]).mul(0.3).requiresGrad_();
    const b = input(8, 9, device, [8]).requiresGrad_();
    const y = F.conv2d(x, w, b, { padding: 1 }).relu();
    const loss = y.mul(y).mean();
    loss.backward();
    const w2 = w.detach().sub(w.grad!.mul(0.1)), b2 = b.detach().sub(b.grad!.mul(0.1));
    return { loss: host(loss), wGrad: host(w.grad!), bGrad: host(b.grad!), w: host(w2), b: host(b2) };
  },
};
/** Programs whose float32 results the js device gives bit for bit; the others go through a GEMM. */
const EXACT_VS_JS = new Set(["elementwise", "reduction"]);

const reference = Object.fromEntries(Object.entries(programs).map(([name, p]) => [name, { js: p("js"), one: p("wasm-web-one") }]));

function sameBits(a: Float32Array, b: Float32Array): string | null {
  if (a.length !== b.length) return `length ${a.length} vs ${b.length}`;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return `at ${i}: ${a[i]} vs ${b[i]}`;
  return null;
}

/** Runs every program on `device`; throws at the first result that differs from the references. */
function checkAll(device: string, when: string): void {
  for (const [name, p] of Object.entries(programs)) {
    const got = p(device), ref = reference[name]!;
    for (const [k, v] of Object.entries(got)) {
      const bad = sameBits(v, ref.one[k]!);
      if (bad) throw new Error(`${when}: ${name}.${k} differs from one wasm thread ${bad}`);
      if (EXACT_VS_JS.has(name)) {
        const badJs = sameBits(v, ref.js[k]!);
        if (badJs) throw new Error(`${when}: ${name}.${k} differs from js ${badJs}`);
      } else {
        const js = ref.js[k]!;
        for (let i = 0; i < v.length; i++) {
          if (!(Math.abs(v[i]! - js[i]!) <= 1e-4 * (1 + Math.abs(js[i]!)))) throw new Error(`${when}: ${name}.${k} at ${i}: ${v[i]} vs js ${js[i]}`);
        }
      }
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("web-threads: the references", () => {
  it("agree: one wasm thread and js give the same elementwise and reduction bits", () => {
    for (const name of EXACT_VS_JS) for (const [k, v] of Object.entries(reference[name]!.one)) expect(sameBits(v, reference[name]!.js[k]!), `${name}.${k}`).toBeNull();
  });
});

for (const callerWaits of [false, true]) {
  const mode = callerWaits ? "the caller sleeps in Atomics.wait (as in a worker)" : "the caller spins (as on a browser's main thread)";
  describe(`web-threads: ${mode}`, () => {
    const name = `wasm-web-${callerWaits ? "wait" : "spin"}`;
    let backend: WasmBackend;
    let createdBefore = 0;

    it("makes a pool of Web Workers, whose first jobs run on the calling thread", () => {
      createdBefore = shimStats.created;
      backend = new WasmBackend({ name, threads: 3, blas: "off", parallelMinWork: 1, workers: { api: "web", callerWaits } });
      opened.push(backend);
      st.registerBackend(name, () => backend);
      const pool = backend.pool!;
      expect(pool).not.toBeNull();
      expect(pool.kind).toBe("web");
      expect(pool.threads).toBe(3);
      expect(pool.callerWaits).toBe(callerWaits);
      expect(shimStats.created - createdBefore).toBe(2);
      // No await yet, so the workers' scripts have not even loaded: every share runs here.
      checkAll(name, "before the workers start");
      expect(backend.stats.parallelRuns).toBeGreaterThan(0);
      expect(backend.stats.gemmCalls).toBeGreaterThan(0);
      expect(pool.stats.worker).toBe(0);
      expect(pool.stats.declined).toBe(0);
      expect(pool.stats.unstarted).toBeGreaterThan(0);
    });

    it("declines jobs whose modules have not arrived, then runs shares on the workers, with the same results", async () => {
      const pool = backend.pool!;
      // Until a whole pass runs with every share on a started worker and none declined.
      let settled = false;
      for (let pass = 0; pass < 500 && !settled; pass++) {
        await sleep(10); // the workers' event loops start, and take their modules, meanwhile
        const before = { ...pool.stats };
        checkAll(name, `pass ${pass}`);
        settled = pool.stats.worker > before.worker && pool.stats.declined === before.declined && pool.stats.unstarted === before.unstarted;
      }
      expect(settled).toBe(true);
      // The first job naming a function declines on each worker: its module was sent with the job.
      expect(pool.stats.declined).toBeGreaterThanOrEqual(2);
      expect(pool.stats.worker).toBeGreaterThan(0);
      // Without waiting, as back-to-back kernels come: all on the workers, none declined.
      const before = { ...pool.stats };
      checkAll(name, "settled");
      checkAll(name, "settled, again");
      expect(pool.stats.declined).toBe(before.declined);
      expect(pool.stats.unstarted).toBe(before.unstarted);
      expect(pool.stats.worker).toBeGreaterThan(before.worker);
      expect(shimStats.errors).toEqual([]);
    });

    it("quiet() lets the workers sleep, and the next jobs wake them", () => {
      const pool = backend.pool!;
      pool.quiet();
      const before = pool.stats.worker;
      checkAll(name, "after quiet()");
      expect(pool.stats.worker).toBeGreaterThan(before);
    });

    it("close() terminates the workers", () => {
      const terminated = shimStats.terminated;
      backend.pool!.close();
      expect(shimStats.terminated - terminated).toBe(2);
      expect(backend.pool!.threads).toBe(1);
    });
  });
}

describe("web-threads: choosing the workers", () => {
  it("under Node, the default is worker_threads even with a global Worker", () => {
    const b = new WasmBackend({ threads: 2, blas: "off" });
    opened.push(b);
    expect(b.pool?.kind).toBe("node");
  });
  it("\"node\" where worker_threads exist, and no pool for one thread", () => {
    const b = new WasmBackend({ threads: 2, blas: "off", workers: { api: "node" } });
    opened.push(b);
    expect(b.pool?.kind).toBe("node");
    expect(new WasmBackend({ threads: 1, blas: "off", workers: { api: "web" } }).pool).toBeNull();
  });
});
