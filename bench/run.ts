/**
 * `npm run bench`: every framework x benchmark of bench/README.md, one child process each (run one
 * after the other, never in parallel: the machine's cores are the thing measured), then a table of
 * the values and of the ratios Strata is held to, the machine's ceilings (FMA peak and OpenBLAS
 * sgemm from C, when gcc is there), and a JSON file with everything.
 *
 *   npm run bench -- [--only a,b] [--seconds S] [--out FILE] [--skip-peers] [--timeout S]
 *
 *   --only a,b     benchmark ids and/or framework names to run (default: all)
 *   --seconds S    timed seconds per benchmark after warm-up (default 3)
 *   --out FILE     where the JSON goes (default bench-results.json in the current directory)
 *   --skip-peers   Strata only (strata, strata-noblas), and no ceilings
 *   --timeout S    wall-clock limit per child process (default max(120, 30 * seconds))
 *
 * A child that fails, hangs past the limit or prints no result line is recorded with its error text
 * and the run goes on.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { BENCHES, type BenchName, type BenchResult, FLOP_PER_UNIT, packageVersion } from "./frameworks/common.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const FW_DIR = join(ROOT, "bench", "frameworks");

// ---- options ----

function parseOptions(argv: readonly string[]): Record<string, string> {
  const o: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith("--")) throw new Error(`bench: unexpected argument ${a} (options: --only a,b --seconds S --out FILE --skip-peers --timeout S)`);
    const key = a.slice(2);
    if (key === "skip-peers") o[key] = "1";
    else {
      const v = argv[++i];
      if (v === undefined) throw new Error(`bench: ${a} needs a value`);
      o[key] = v;
    }
  }
  return o;
}
const opts = parseOptions(process.argv.slice(2));
const seconds = Number(opts.seconds ?? 3);
if (!(seconds > 0)) throw new Error(`bench: --seconds must be a positive number, got ${opts.seconds}`);
const timeoutS = Number(opts.timeout ?? Math.max(120, 30 * seconds));
const outFile = resolve(process.cwd(), opts.out ?? "bench-results.json");
const skipPeers = opts["skip-peers"] === "1";

// ---- frameworks ----

interface Framework {
  name: string;
  /** Short column header. */
  short: string;
  /** What it is, for the JSON file. */
  about: string;
  peer: boolean;
  /** Benchmarks it is run on (others are recorded as not applicable, without a process). */
  benches?: readonly BenchName[];
  command(bench: BenchName): string[] | null;
}

const ALL_BENCHES = Object.keys(BENCHES) as BenchName[];
const tsx = (script: string, ...rest: string[]) => (bench: BenchName) => [process.execPath, "--import", "tsx", join(FW_DIR, script), bench, "--seconds", String(seconds), ...rest];

/** A python3 with torch: $STRATA_BENCH_PYTHON, python3, /usr/bin/python3, the first that imports it. */
function findTorchPython(): { python: string; version: string } | { python: null; tried: string[] } {
  const candidates = [process.env.STRATA_BENCH_PYTHON, "python3", "/usr/bin/python3"].filter((p): p is string => !!p);
  const tried: string[] = [];
  for (const py of candidates) {
    const r = spawnSync(py, ["-c", "import torch; print(torch.__version__)"], { encoding: "utf8", timeout: 60_000 });
    if (r.status === 0 && r.stdout.trim()) return { python: py, version: r.stdout.trim() };
    tried.push(`${py}: ${(r.error?.message ?? r.stderr.trim().split("\n").pop() ?? `exit ${r.status}`).slice(0, 120)}`);
  }
  return { python: null, tried };
}

const torch = skipPeers ? null : findTorchPython();
const INFER_ONLY: readonly BenchName[] = ["gemm-512", "gemm-1024", "gemm-2048", "cnn-infer"];

const FRAMEWORKS: Framework[] = [
  { name: "strata", short: "strata", about: "Strata, wasm device, BLAS auto (OpenBLAS through koffi when found)", peer: false, command: tsx("strata.ts") },
  { name: "strata-noblas", short: "st-noblas", about: "Strata, wasm device, --blas off (its own wasm kernels only, as in a browser)", peer: false, command: tsx("strata.ts", "--blas", "off") },
  { name: "jax-js", short: "jax-js", about: "@jax-js/jax, wasm device, jit, 2 Web Workers (worker_threads shim)", peer: true, command: tsx("jax.ts", "--threads", "2") },
  { name: "tfjs-wasm", short: "tfjs-wasm", about: "@tensorflow/tfjs + tfjs-backend-wasm, SIMD, threaded binary with 2 threads", peer: true, command: tsx("tfjs.ts", "--threads", "2") },
  { name: "onnxruntime-node", short: "ort", about: "onnxruntime-node CPU EP, 2 intra-op threads, on Strata's own ONNX export", peer: true, benches: INFER_ONLY, command: tsx("ort.ts", "--threads", "2") },
  { name: "onnxruntime-node-ref", short: "ort-ref", about: "onnxruntime-node CPU EP, 2 intra-op threads, on the textbook ONNX graph of the CNN (same weights)", peer: true, benches: ["cnn-infer"], command: tsx("ort.ts", "--threads", "2", "--graph", "reference") },
  {
    name: "pytorch", short: "pytorch", about: "PyTorch eager, CPU, torch.set_num_threads(2)", peer: true,
    command: (bench) => (torch?.python ? [torch.python, join(FW_DIR, "torch_bench.py"), bench, "--seconds", String(seconds), "--threads", "2"] : null),
  },
];

// --only: benchmark ids and/or framework names.
const only = (opts.only ?? "").split(",").map((s) => s.trim()).filter(Boolean);
for (const o of only) {
  if (!(o in BENCHES) && !FRAMEWORKS.some((f) => f.name === o)) throw new Error(`bench: --only ${o}: not a benchmark (${ALL_BENCHES.join(", ")}) nor a framework (${FRAMEWORKS.map((f) => f.name).join(", ")})`);
}
const onlyBenches = only.filter((o) => o in BENCHES) as BenchName[];
const onlyFrameworks = only.filter((o) => !(o in BENCHES));
const benches = onlyBenches.length ? ALL_BENCHES.filter((b) => onlyBenches.includes(b)) : ALL_BENCHES;
const frameworks = FRAMEWORKS.filter((f) => (!skipPeers || !f.peer) && (!onlyFrameworks.length || onlyFrameworks.includes(f.name)));

// ---- running one child ----

interface Record_ extends Partial<BenchResult> {
  bench: BenchName;
  framework: string;
  value: number | null;
  error?: string;
  wallSeconds?: number;
  command?: string;
  /** Not applicable to this framework: no process was run. */
  skipped?: boolean;
  /** value x the benchmark's counted FLOPs per unit (FLOP_PER_UNIT): the contractions' GFLOP/s. */
  gflops?: number | null;
}

function tail(s: string, n = 600): string {
  const t = s.trim();
  return t.length > n ? `...${t.slice(-n)}` : t;
}

/** The process group of the child running now, ended with the harness on Ctrl-C. */
let runningGroup: number | null = null;
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    if (runningGroup !== null) {
      try { process.kill(-runningGroup, "SIGKILL"); } catch { /* already gone */ }
    }
    process.exit(130);
  });
}

/** Runs `cmd`, in its own process group (so a timeout ends its children too), to its JSON line. */
function runChild(cmd: string[], bench: BenchName, framework: string): Promise<Record_> {
  return new Promise((resolveRun) => {
    let settled = false;
    const done = (r: Record_) => {
      if (settled) return;
      settled = true;
      runningGroup = null;
      resolveRun(r);
    };
    const t0 = performance.now();
    const child = spawn(cmd[0]!, cmd.slice(1), { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], detached: true, env: process.env });
    runningGroup = child.pid ?? null;
    let out = "", err = "", timedOut = false;
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      try { process.kill(-child.pid!, "SIGKILL"); } catch { /* already gone */ }
    }, timeoutS * 1000);
    const finish = (code: number | null, signal: string | null, spawnError?: Error) => {
      clearTimeout(timer);
      const wallSeconds = (performance.now() - t0) / 1000;
      const command = cmd.map((c) => (c.startsWith(ROOT) ? c.slice(ROOT.length + 1) : c)).join(" ");
      let line: BenchResult | null = null;
      for (const l of out.trim().split("\n").reverse()) {
        try {
          const j = JSON.parse(l) as BenchResult;
          if (j && typeof j === "object" && j.bench === bench) { line = j; break; }
        } catch { /* not the result line */ }
      }
      const base = { bench, framework, wallSeconds, command };
      if (spawnError) return done({ ...base, value: null, error: `could not start: ${spawnError.message}` });
      if (timedOut) return done({ ...(line ?? {}), ...base, value: null, error: `timed out after ${timeoutS} s${err ? `: ${tail(err, 300)}` : ""}` });
      if (!line) return done({ ...base, value: null, error: `exit ${code ?? signal}, no result line: ${tail(err || out) || "(no output)"}` });
      const rec: Record_ = { ...line, ...base, framework };
      // A script prints value null with a note and exits 0 for what its framework cannot do; a
      // non-zero exit is a failure, whatever it printed.
      if (code !== 0) rec.error = `exit ${code ?? signal}: ${rec.note ?? ""}${rec.note && err ? " / " : ""}${tail(err, 300)}`;
      done(rec);
    };
    child.on("error", (e) => finish(null, null, e));
    child.on("close", (code, signal) => finish(code, signal));
  });
}

// ---- ceilings ----

type FmaResult = { isa: string; lanes: number; accumulators: number; gflops1: number; threads: number; gflopsN: number } | { error: string };
type BlasResult = { library: string; config: string; threads: number; gflops: Record<string, number> } | { error: string };

interface Ceilings {
  note?: string;
  compiler?: string;
  /** FMA peak measured before the benchmarks (a check that the cores are free) and after. */
  fmaBefore?: FmaResult;
  fma?: FmaResult;
  blas?: BlasResult;
  blas1?: BlasResult;
}

/**
 * The C programs of bench/ceilings, compiled into a temp dir: `fma()` and `blas(threads)` run
 * them, `done()` removes the dir. Null (with the reason) when gcc is missing.
 */
function ceilingPrograms(): { compiler: string; fma(): FmaResult; blas(threads: number): BlasResult; done(): void } | { note: string } {
  const gcc = spawnSync("gcc", ["--version"], { encoding: "utf8" });
  if (gcc.status !== 0) return { note: "no gcc: ceilings not measured" };
  const dir = mkdtempSync(join(os.tmpdir(), "strata-bench-ceilings-"));
  const build = (src: string, exe: string, extra: string[]): string | null => {
    const r = spawnSync("gcc", ["-O2", "-march=native", join(ROOT, "bench", "ceilings", src), "-o", join(dir, exe), ...extra], { encoding: "utf8" });
    return r.status === 0 ? null : `gcc failed: ${tail(r.stderr, 300)}`;
  };
  const runJson = (exe: string, args: string[]) => {
    const r = spawnSync(join(dir, exe), args, { encoding: "utf8", timeout: 120_000 });
    try {
      return JSON.parse(r.stdout.trim().split("\n").pop() ?? "") as Record<string, unknown>;
    } catch {
      return { error: `exit ${r.status}: ${tail(r.stderr || r.stdout || String(r.error ?? ""), 300)}` };
    }
  };
  const s = String(Math.max(0.5, Math.min(seconds, 2)));
  const fmaErr = build("fma-peak.c", "fma-peak", ["-pthread"]);
  const blasErr = build("blas-gemm.c", "blas-gemm", ["-ldl"]);
  return {
    compiler: gcc.stdout.split("\n")[0] ?? "gcc",
    fma: () => (fmaErr ? { error: fmaErr } : runJson("fma-peak", ["2", s])) as FmaResult,
    blas: (threads) => (blasErr ? { error: blasErr } : runJson("blas-gemm", [String(threads), s])) as BlasResult,
    done: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** How much of `threads` cores the FMA loop got: 2-thread GFLOP/s / (threads x 1-thread GFLOP/s). */
function coreShare(f: FmaResult | undefined): number | null {
  return f && !("error" in f) && f.gflops1 > 0 ? f.gflopsN / (f.threads * f.gflops1) : null;
}

// ---- machine and versions ----


function machineInfo(): Record<string, unknown> {
  const cpus = os.cpus();
  const git = spawnSync("git", ["rev-parse", "HEAD"], { cwd: ROOT, encoding: "utf8" });
  let cpuFlags: string[] = [];
  try {
    const info = readFileSync("/proc/cpuinfo", "utf8");
    const flags = /^flags\s*:\s*(.*)$/m.exec(info)?.[1]?.split(" ") ?? [];
    cpuFlags = flags.filter((f) => /^(avx|avx2|fma|avx512f|avx512bw|avx512vl|avx512_bf16|avx_vnni|amx\w*)$/.test(f));
  } catch { /* not Linux */ }
  return {
    cpuModel: cpus[0]?.model ?? "?",
    logicalCpus: cpus.length,
    availableParallelism: os.availableParallelism(),
    cpuFlags,
    memoryGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    node: process.version,
    loadAverageAtStart: os.loadavg().map((x) => +x.toFixed(2)),
    strataCommit: git.status === 0 ? git.stdout.trim() : null,
  };
}

// ---- the table ----

function fmt(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return "-";
  if (v >= 1000) return Math.round(v).toLocaleString("en-US");
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

/** A ratio of two results; `target` null: for information (no pass or fail). */
interface Ratio { name: string; bench: BenchName; num: string; den: string; value: number | null; target: number | null; pass: boolean | null }

function computeRatios(results: Record_[], ceilings: Ceilings | null): Ratio[] {
  const val = (b: BenchName, f: string) => results.find((r) => r.bench === b && r.framework === f)?.value ?? null;
  const blasC = ceilings?.blas && "gflops" in ceilings.blas ? ceilings.blas.gflops : null;
  const out: Ratio[] = [];
  const add = (name: string, bench: BenchName, num: string, den: string, a: number | null, b: number | null, target: number | null) => {
    const value = a !== null && b !== null && b > 0 ? a / b : null;
    out.push({ name, bench, num, den, value, target, pass: value === null || target === null ? null : value >= target });
  };
  for (const b of benches) {
    add("strata/pytorch", b, "strata", "pytorch", val(b, "strata"), val(b, "pytorch"), 1.0);
    if (b === "cnn-infer") {
      add("strata/onnxruntime", b, "strata", "onnxruntime-node", val(b, "strata"), val(b, "onnxruntime-node"), 1.0);
      add("strata/onnxruntime-ref", b, "strata", "onnxruntime-node-ref", val(b, "strata"), val(b, "onnxruntime-node-ref"), null);
    }
    add("strata-noblas/jax-js", b, "strata-noblas", "jax-js", val(b, "strata-noblas"), val(b, "jax-js"), 2.0);
    const n = BENCHES[b].n;
    if (n !== undefined) add("strata/openblas-c", b, "strata", "OpenBLAS sgemm from C (2 threads)", val(b, "strata"), blasC?.[String(n)] ?? null, 0.95);
  }
  return out;
}

function table(results: Record_[], ratios: Ratio[], ceilings: Ceilings | null): string {
  const ratioColsAll: { head: string; name: string }[] = [
    { head: "st/torch>=1", name: "strata/pytorch" },
    { head: "st/ort>=1", name: "strata/onnxruntime" },
    { head: "st/ort-ref", name: "strata/onnxruntime-ref" },
    { head: "noblas/jax>=2", name: "strata-noblas/jax-js" },
    { head: "st/blas>=.95", name: "strata/openblas-c" },
  ];
  const blasCol = !!ceilings?.blas && benches.some((b) => BENCHES[b].n !== undefined);
  const selected = (name: string) => frameworks.some((f) => f.name === name) || (name.startsWith("OpenBLAS") && blasCol);
  const ratioCols = ratioColsAll.filter((c) => ratios.some((r) => r.name === c.name && (r.value !== null || (selected(r.num) && selected(r.den)))));
  const head = ["benchmark", "unit", ...frameworks.map((f) => f.short), ...(blasCol ? ["blas-c"] : []), ...ratioCols.map((c) => c.head)];
  const rows: string[][] = [head];
  const notes: string[] = [];
  for (const b of benches) {
    const row: string[] = [b, BENCHES[b].unit];
    for (const f of frameworks) {
      const r = results.find((x) => x.bench === b && x.framework === f.name);
      if (!r || (r.skipped && !/no training/.test(r.note ?? ""))) row.push("");
      else if (r.error) {
        row.push("err");
        notes.push(`${f.name} ${b}: ${r.error.split("\n")[0]!.slice(0, 200)}`);
      } else if (r.value === null) {
        row.push("n/a");
        if (r.note && !/no training/.test(r.note)) notes.push(`${f.name} ${b}: ${r.note}`);
      } else row.push(fmt(r.value));
    }
    if (blasCol && ceilings?.blas) {
      const n = BENCHES[b].n;
      row.push(n !== undefined && "gflops" in ceilings.blas ? fmt(ceilings.blas.gflops[String(n)]) : "");
    }
    for (const c of ratioCols) {
      const r = ratios.find((x) => x.bench === b && x.name === c.name);
      row.push(!r ? "" : r.value === null ? "-" : `${r.value.toFixed(2)}${r.pass === false ? " *" : ""}`);
    }
    rows.push(row);
  }
  const widths = head.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) => r.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ").trimEnd();
  const sep = widths.map((w) => "-".repeat(w)).join("  ");
  let s = [line(rows[0]!), sep, ...rows.slice(1).map(line)].join("\n");
  s += "\n\nratios: st = strata (BLAS auto), noblas = strata --blas off, blas = OpenBLAS sgemm called from C with 2 threads;";
  s += "\n        the target follows the column name; * marks a ratio below its target, - a ratio with a missing side.";
  if (notes.length) s += `\n\nnotes:\n${notes.map((n) => `  ${n}`).join("\n")}`;
  return s;
}

/** The values as GFLOP/s of counted contraction FLOPs (bench/README.md), to read against the ceilings. */
function flopsTable(results: Record_[], ceilings: Ceilings | null): string {
  const head = ["benchmark", "GFLOP/unit", ...frameworks.map((f) => f.short)];
  const rows: string[][] = [head];
  for (const b of benches) {
    const row: string[] = [b, BENCHES[b].n !== undefined ? "-" : (FLOP_PER_UNIT[b] / 1e9).toPrecision(3)];
    for (const f of frameworks) {
      const r = results.find((x) => x.bench === b && x.framework === f.name);
      row.push(r?.gflops ? fmt(r.gflops) : "");
    }
    rows.push(row);
  }
  const widths = head.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) => r.map((c, i) => (i < 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  const peak = ceilings?.fma && !("error" in ceilings.fma) ? `; FMA peak ${fmt(ceilings.fma.gflopsN)} GFLOP/s on ${ceilings.fma.threads} threads` : "";
  return [`as GFLOP/s (counted contraction FLOPs per unit x value${peak}):`, line(rows[0]!), widths.map((w) => "-".repeat(w)).join("  "), ...rows.slice(1).map(line)].join("\n");
}

function ceilingText(c: Ceilings): string {
  if (c.note) return `ceilings: ${c.note}`;
  const lines = ["ceilings (C, gcc -O2 -march=native):"];
  const shares = ([["before the benchmarks", coreShare(c.fmaBefore)], ["after", coreShare(c.fma)]] as const).filter(([, x]) => x !== null) as [string, number][];
  if (shares.length) {
    const low = Math.min(...shares.map(([, x]) => x));
    lines.push(`  core check: the 2-thread FMA loop got ${shares.map(([when, x]) => `${(100 * x).toFixed(0)}% ${when}`).join(", ")} of 2 x one core${low < 0.9 ? ": the cores were shared, multi-threaded numbers are low" : ""}`);
  }
  if (c.fma) {
    lines.push("error" in c.fma
      ? `  FMA peak: ${c.fma.error}`
      : `  FMA peak fp32 (${c.fma.isa}, ${c.fma.accumulators} accumulators): 1 core ${fmt(c.fma.gflops1)} GFLOP/s, ${c.fma.threads} threads ${fmt(c.fma.gflopsN)} GFLOP/s`);
  }
  for (const b of [c.blas, c.blas1]) {
    if (!b) continue;
    lines.push("error" in b ? `  OpenBLAS sgemm: ${b.error}` : `  OpenBLAS sgemm, ${b.threads} thread${b.threads > 1 ? "s" : ""} (${b.config}): ${Object.entries(b.gflops).map(([n, g]) => `n=${n} ${fmt(g)}`).join(", ")} GFLOP/s`);
  }
  return lines.join("\n");
}

// ---- main ----

async function main(): Promise<void> {
  const t0 = performance.now();
  const machine = machineInfo();
  const versions: Record<string, string | null> = {
    strata: packageVersion("strata") ?? (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version,
    "@jax-js/jax": packageVersion("@jax-js/jax"),
    "@tensorflow/tfjs": packageVersion("@tensorflow/tfjs"),
    "@tensorflow/tfjs-backend-wasm": packageVersion("@tensorflow/tfjs-backend-wasm"),
    "onnxruntime-node": packageVersion("onnxruntime-node"),
    torch: torch?.python ? torch.version : null,
  };
  process.stderr.write(`bench: ${benches.length} benchmarks x ${frameworks.length} frameworks, ${seconds} s each, timeout ${timeoutS} s; ${String(machine.cpuModel)}, ${os.cpus().length} CPUs, node ${process.version}\n`);
  const load = os.loadavg()[0]!;
  if (load > 0.5) process.stderr.write(`bench: load average ${load.toFixed(2)} before starting: other processes share the cores, timings will be noisy\n`);
  if (torch && torch.python === null) process.stderr.write(`bench: no python3 with torch (tried ${torch.tried.join("; ")}): pytorch skipped\n`);

  const programs = skipPeers ? null : ceilingPrograms();
  const ceilings: Ceilings | null = programs ? ("note" in programs ? { note: programs.note } : { compiler: programs.compiler }) : null;
  if (programs && !("note" in programs) && ceilings) {
    ceilings.fmaBefore = programs.fma();
    const share = coreShare(ceilings.fmaBefore);
    if (share !== null && share < 0.9) process.stderr.write(`bench: the FMA loop got ${(100 * share).toFixed(0)}% of 2 cores before starting: the cores are shared, multi-threaded numbers will be low\n`);
  }

  const results: Record_[] = [];
  for (const b of benches) {
    for (const f of frameworks) {
      if (f.benches && !f.benches.includes(b)) {
        const training = !INFER_ONLY.includes(b);
        results.push({ bench: b, framework: f.name, value: null, unit: BENCHES[b].unit, note: training ? "inference runtime: no training" : "not run (same graph as onnxruntime-node)", skipped: true });
        continue;
      }
      const cmd = f.command(b);
      if (!cmd) {
        results.push({ bench: b, framework: f.name, value: null, unit: BENCHES[b].unit, note: "no python3 with torch found (set STRATA_BENCH_PYTHON)" });
        continue;
      }
      process.stderr.write(`  ${b.padEnd(18)} ${f.name.padEnd(21)} `);
      const r = await runChild(cmd, b, f.name);
      r.gflops = r.value === null || r.value === undefined ? null : (r.value * FLOP_PER_UNIT[b]) / 1e9;
      results.push(r);
      process.stderr.write(`${r.error ? `error (${r.error.split("\n")[0]!.slice(0, 100)})` : r.value === null ? `n/a (${r.note ?? ""})` : `${fmt(r.value)} ${BENCHES[b].unit}`}  [${r.wallSeconds?.toFixed(1)} s]\n`);
    }
  }

  if (programs && !("note" in programs) && ceilings) {
    process.stderr.write("  ceilings (fma-peak.c, blas-gemm.c) ...\n");
    try {
      ceilings.fma = programs.fma();
      ceilings.blas = programs.blas(2);
      ceilings.blas1 = programs.blas(1);
    } finally {
      programs.done();
    }
  }
  const ratios = computeRatios(results, ceilings);
  const text = table(results, ratios, ceilings);
  console.log(`\n${text}`);
  console.log(`\n${flopsTable(results, ceilings)}`);
  if (ceilings) console.log(`\n${ceilingText(ceilings)}`);

  const json = {
    date: new Date().toISOString(),
    options: { seconds, only, skipPeers, timeoutS },
    machine,
    versions,
    frameworks: frameworks.map((f) => ({ name: f.name, about: f.about })),
    flopPerUnit: Object.fromEntries(benches.map((b) => [b, FLOP_PER_UNIT[b]])),
    results,
    ratios,
    ceilings,
    loadAverageAtEnd: os.loadavg().map((x) => +x.toFixed(2)),
    totalSeconds: +((performance.now() - t0) / 1000).toFixed(1),
  };
  writeFileSync(outFile, `${JSON.stringify(json, null, 2)}\n`);
  console.log(`\nversions: ${Object.entries(versions).map(([k, v]) => `${k} ${v ?? "-"}`).join(", ")}`);
  console.log(`wrote ${outFile} (${json.totalSeconds} s)`);
}

await main();
