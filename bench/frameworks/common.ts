/**
 * What every framework's benchmark script shares: the benchmark table, argument parsing and the
 * timing loop (warm-up steps, then steps until a time budget is spent).
 */
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

/**
 * An installed package's version, read from its package.json (found next to its resolved entry
 * point: some packages' export maps hide the file); null when it is not installed.
 */
export function packageVersion(name: string): string | null {
  try {
    let dir = dirname(createRequire(import.meta.url).resolve(name));
    for (let i = 0; i < 6; i++, dir = dirname(dir)) {
      const p = join(dir, "package.json");
      if (!existsSync(p)) continue;
      const pkg = JSON.parse(readFileSync(p, "utf8")) as { name?: string; version?: string };
      if (pkg.name === name) return pkg.version ?? null;
    }
  } catch { /* not installed */ }
  return null;
}

export type BenchName = "gemm-512" | "gemm-1024" | "gemm-2048" | "mlp-train" | "cnn-train" | "cnn-infer" | "transformer-train";

export interface BenchSpec {
  unit: "GFLOP/s" | "samples/s" | "sequences/s";
  n?: number;
  batch?: number;
  seq?: number;
}

export const BENCHES: Record<BenchName, BenchSpec> = {
  "gemm-512": { unit: "GFLOP/s", n: 512 },
  "gemm-1024": { unit: "GFLOP/s", n: 1024 },
  "gemm-2048": { unit: "GFLOP/s", n: 2048 },
  "mlp-train": { unit: "samples/s", batch: 128 },
  "cnn-train": { unit: "samples/s", batch: 64 },
  "cnn-infer": { unit: "samples/s", batch: 64 },
  "transformer-train": { unit: "sequences/s", batch: 16, seq: 128 },
};

export function parseArgs(argv: readonly string[]): { bench: BenchName; opts: Record<string, string> } {
  const opts: Record<string, string> = {};
  let bench: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith("--")) opts[a.slice(2)] = argv[++i] ?? "";
    else bench = a;
  }
  if (!bench || !(bench in BENCHES)) throw new Error(`benchmark: expected one of ${Object.keys(BENCHES).join(", ")}, got ${bench}`);
  return { bench: bench as BenchName, opts };
}

/**
 * The timing rule of both loops: at least 2 warm-up steps (up to 10 within 30% of the budget),
 * then timed steps until `seconds` have passed (at least 3). `next()` is called before each step.
 */
class StepTimer {
  private warmed = 0;
  private readonly warmStart = performance.now();
  private t0 = -1;
  private steps = 0;
  private t = 0;
  constructor(private readonly seconds: number) {}
  next(): boolean {
    const now = performance.now();
    if (this.t0 < 0) {
      if (this.warmed < 2 || (this.warmed < 10 && now - this.warmStart < this.seconds * 300)) {
        this.warmed++;
        return true;
      }
      this.t0 = now;
    } else {
      this.steps++;
      this.t = now - this.t0;
    }
    return this.steps < 3 || this.t < this.seconds * 1000;
  }
  result(): { steps: number; secondsPerStep: number } {
    return { steps: this.steps, secondsPerStep: this.t / 1000 / this.steps };
  }
}

/** Runs `step` a few times to warm up, then until `seconds` have passed (at least 3 steps). */
export function timeLoop(step: () => void, seconds: number): { steps: number; secondsPerStep: number } {
  const timer = new StepTimer(seconds);
  while (timer.next()) step();
  return timer.result();
}

/** `timeLoop` for steps that finish asynchronously (peers whose work completes on worker threads). */
export async function timeLoopAsync(step: () => Promise<void>, seconds: number): Promise<{ steps: number; secondsPerStep: number }> {
  const timer = new StepTimer(seconds);
  while (timer.next()) await step();
  return timer.result();
}

/** One benchmark's result line, as every framework's script prints it (value null: not measured). */
export interface BenchResult {
  bench: BenchName;
  framework: string;
  value: number | null;
  unit: BenchSpec["unit"];
  steps?: number;
  msPerStep?: number;
  note?: string;
  [extra: string]: unknown;
}

/** Prints the one JSON result line from a timing (`perStep`: GFLOP or samples per step). */
export function report(bench: BenchName, framework: string, perStep: number, r: { steps: number; secondsPerStep: number }, extra: Record<string, unknown> = {}): void {
  const line: BenchResult = { bench, framework, ...extra, value: perStep / r.secondsPerStep, unit: BENCHES[bench].unit, steps: r.steps, msPerStep: r.secondsPerStep * 1e3 };
  console.log(JSON.stringify(line));
}

/** Prints a result line for a benchmark the framework cannot run, with the reason. */
export function reportSkip(bench: BenchName, framework: string, note: string, extra: Record<string, unknown> = {}): void {
  const line: BenchResult = { bench, framework, ...extra, value: null, unit: BENCHES[bench].unit, note };
  console.log(JSON.stringify(line));
}

/**
 * Runs a peer's benchmark; a failure becomes a result line with its message (and exit code 1).
 * Then exits: peers' worker pools or other handles would keep the process alive.
 */
export async function runPeer(bench: BenchName, framework: string, run: () => unknown, extra: Record<string, unknown> = {}): Promise<never> {
  try {
    await run();
  } catch (e) {
    reportSkip(bench, framework, `failed: ${(e as Error).message ?? String(e)}`.slice(0, 500), extra);
    process.exitCode = 1;
  }
  process.exit();
}

/** GFLOP (or samples / sequences) one step of `bench` accounts for: the numerator of its value. */
export function workPerStep(bench: BenchName): number {
  const s = BENCHES[bench];
  return s.n !== undefined ? (2 * s.n ** 3) / 1e9 : s.batch!;
}

/**
 * FLOPs that one unit of a benchmark's value stands for, counted as bench/README.md derives them:
 * a multiply-add is 2 FLOPs; only the contractions (matmuls, convolutions) are counted; a training
 * step is the forward pass plus, for each contraction, the weight gradient and (unless its input is
 * the data) the input gradient, each as many MACs as the forward contraction. Per sample (MLP, CNN),
 * per sequence (transformer), or 1e9 for GEMM (whose value is already GFLOP/s).
 */
export const FLOP_PER_UNIT: Record<BenchName, number> = (() => {
  // MLP 784-512-512-10: MACs per sample of each layer; the first layer needs no input gradient.
  const mlp = [784 * 512, 512 * 512, 512 * 10];
  const mlpFwd = mlp[0]! + mlp[1]! + mlp[2]!;
  const mlpTrain = mlpFwd /* forward */ + mlpFwd /* weight grads */ + mlp[1]! + mlp[2]! /* input grads */;
  // CNN: conv1 1->32 5x5 to 24x24, conv2 32->64 5x5 to 8x8, linear 1024->10. conv1 needs no input gradient.
  const conv1 = 24 * 24 * 32 * (1 * 5 * 5), conv2 = 8 * 8 * 64 * (32 * 5 * 5), fc = 1024 * 10;
  const cnnFwd = conv1 + conv2 + fc;
  const cnnTrain = cnnFwd + cnnFwd + conv2 + fc;
  // Transformer encoder layer, d 256, 4 heads, ff 1024, seq 128: MACs per token.
  const d = 256, ff = 1024, L = 128;
  const inProj = d * 3 * d, scores = L * d, values = L * d, outProj = d * d, ff1 = d * ff, ff2 = ff * d;
  const tfFwd = inProj + scores + values + outProj + ff1 + ff2;
  const tfTrain = tfFwd
    + (inProj + outProj + ff1 + ff2) /* weight grads */
    + (outProj + ff1 + ff2) /* input grads; the layer's input is the data */
    + 2 * (scores + values) /* both operands of QK^T and PV are activations */;
  return {
    "gemm-512": 1e9, "gemm-1024": 1e9, "gemm-2048": 1e9,
    "mlp-train": 2 * mlpTrain,
    "cnn-train": 2 * cnnTrain,
    "cnn-infer": 2 * cnnFwd,
    "transformer-train": 2 * L * tfTrain,
  };
})();
