/**
 * The ONNX backend conformance suite (node test cases) as shipped by Debian's libonnx-testdata:
 * each case is a folder with model.onnx and test_data_set_N/input_K.pb and output_K.pb TensorProtos.
 * Prints pass / fail / unsupported per case and the totals.
 *
 *   npm run onnx-conformance                       # all cases, in parallel worker processes
 *   npm run onnx-conformance -- --filter conv      # cases whose name contains "conv"
 *   npm run onnx-conformance -- --verbose          # the reason for each failure
 *   ONNX_TESTDATA=/path/to/data/node npm run onnx-conformance
 */
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as st from "../src/index.ts";
import { decodeModel, OnnxModule, UnsupportedOperatorError } from "../src/io/onnx/model.ts";
import { TensorProtoType, type OnnxTensorProto } from "../src/io/onnx/schema.ts";
import { ONNX_DTYPES, tensorFromProto, tensorProtoValues } from "../src/io/onnx/tensor-proto.ts";

const DATA = process.env.ONNX_TESTDATA ?? "/usr/share/libonnx-testdata/data/node";
const args = process.argv.slice(2);
const flag = (n: string) => args.includes(n);
const value = (n: string) => { const i = args.indexOf(n); return i >= 0 ? args[i + 1] : undefined; };
// `--device wasm` runs every case with tensors on that device (the default is the js backend).
if (value("--device")) st.device(value("--device")!);

type Status = "pass" | "fail" | "unsupported";
interface Result { name: string; status: Status; reason?: string; ms: number }

const readProto = (f: string) => TensorProtoType.decode(readFileSync(f)) as unknown as OnnxTensorProto;
const sortedPb = (dir: string, prefix: string) =>
  readdirSync(dir).filter((f) => f.startsWith(prefix) && f.endsWith(".pb")).sort((a, b) => parseInt(a.slice(prefix.length)) - parseInt(b.slice(prefix.length)));

function compare(actual: st.Tensor, expected: OnnxTensorProto): string | null {
  // ONNX 1.12's test data stores bfloat16 values as their UINT16 bits.
  if (expected.dataType === 4 && actual.dtype === "bfloat16") expected = { ...expected, dataType: 16 };
  const { values, shape } = tensorProtoValues(expected);
  if (actual.shape.length !== shape.length || actual.shape.some((s, i) => s !== shape[i])) return `shape [${actual.shape}] != expected [${shape}]`;
  const got = actual.dataSync() as ArrayLike<number | bigint>;
  const t = expected.dataType;
  const isF = t === 1 || t === 10 || t === 11 || t === 16;
  const rtol = t === 10 || t === 16 ? 1e-2 : 1e-3, atol = t === 10 || t === 16 ? 1e-3 : t === 11 ? 1e-7 : 1e-7;
  for (let i = 0; i < values.length; i++) {
    const e = Number(values[i]), a = Number(got[i]);
    if (isF) {
      if (Number.isNaN(e) && Number.isNaN(a)) continue;
      if (e === a) continue;
      // float32 results compared with a little slack for float32 rounding of rtol
      if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e))) return `element ${i}: ${a} != expected ${e}`;
    } else if (a !== e) return `element ${i}: ${a} != expected ${e} (${ONNX_DTYPES[t]?.name})`;
  }
  return null;
}

function runCase(name: string): Result {
  const t0 = performance.now();
  const dir = join(DATA, name);
  const done = (status: Status, reason?: string): Result => ({ name, status, reason, ms: performance.now() - t0 });
  let model;
  try {
    model = decodeModel(readFileSync(join(dir, "model.onnx")));
  } catch (e) {
    return done("fail", (e as Error).message);
  }
  const g = model.graph!;
  for (const vi of [...g.input, ...g.output]) {
    const tt = vi.type?.tensorType;
    if (!tt) return done("unsupported", `'${vi.name}' is not a tensor (sequence, map or optional)`);
    if (!ONNX_DTYPES[tt.elemType]?.to) return done("unsupported", `'${vi.name}' has type ${ONNX_DTYPES[tt.elemType]?.name ?? tt.elemType}`);
  }
  let m: OnnxModule;
  try {
    m = new OnnxModule(model);
  } catch (e) {
    if (e instanceof UnsupportedOperatorError) return done("unsupported", e.message);
    return done("fail", `load: ${(e as Error).message}`);
  }
  const sets = readdirSync(dir).filter((d) => d.startsWith("test_data_set_")).sort();
  try {
    for (const s of sets) {
      st.scope(() => {
        const sdir = join(dir, s);
        const declared = g.input.filter((vi) => m.inputNames.includes(vi.name)).map((vi) => vi.type?.tensorType?.elemType);
        const ins = sortedPb(sdir, "input_").map((f, i) => {
          const p = readProto(join(sdir, f));
          return tensorFromProto(p.dataType === 4 && declared[i] === 16 ? { ...p, dataType: 16 } : p);
        });
        const feeds: Record<string, st.Tensor> = {};
        // Inputs are given in the order of the graph's inputs (optional ones may be left out).
        g.input.filter((vi) => m.inputNames.includes(vi.name)).forEach((vi, i) => { if (ins[i]) feeds[vi.name] = ins[i]!; });
        const missing = m.inputNames.filter((n) => !feeds[n]);
        const usable = missing.length === 0 ? m : null;
        if (!usable) throw new Error(`missing inputs ${missing.join(", ")}`);
        const out = m.runSync(feeds);
        sortedPb(sdir, "output_").forEach((f, i) => {
          const exp = readProto(join(sdir, f));
          const name = m.outputNames[i]!;
          const msg = compare(out[name]!, exp);
          if (msg) throw new Error(`${s} output '${name}': ${msg}`);
        });
      });
    }
  } catch (e) {
    return done("fail", (e as Error).message.split("\n")[0]);
  }
  return done("pass");
}

async function main(): Promise<void> {
  if (!existsSync(DATA)) {
    console.error(`onnx-conformance: no test data at ${DATA}; install Debian's libonnx-testdata (or set ONNX_TESTDATA)`);
    process.exit(2);
  }
  const filter = value("--filter");
  const all = readdirSync(DATA).filter((d) => existsSync(join(DATA, d, "model.onnx"))).sort().filter((d) => !filter || d.includes(filter));
  const shard = value("--shard");
  if (shard) {
    // Worker: run our share, print one JSON line per case.
    const [k, n] = shard.split("/").map(Number) as [number, number];
    for (let i = k; i < all.length; i += n) process.stdout.write(JSON.stringify(runCase(all[i]!)) + "\n");
    return;
  }
  const jobs = Number(value("--jobs") ?? Math.min(availableParallelism(), 8));
  const t0 = performance.now();
  const results: Result[] = [];
  const self = fileURLToPath(import.meta.url);
  await Promise.all(Array.from({ length: jobs }, (_, k) => new Promise<void>((resolve) => {
    const child = spawn(process.execPath, [...process.execArgv, self, ...args, "--shard", `${k}/${jobs}`], { stdio: ["ignore", "pipe", "inherit"] });
    let buf = "";
    child.stdout.on("data", (d) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl); buf = buf.slice(nl + 1);
        try { results.push(JSON.parse(line) as Result); } catch { /* not ours */ }
      }
    });
    child.on("close", () => resolve());
  })));
  const seen = new Set(results.map((r) => r.name));
  for (const n of all) if (!seen.has(n)) results.push({ name: n, status: "fail", reason: "crashed (worker exited)", ms: 0 });
  results.sort((a, b) => a.name.localeCompare(b.name));
  const verbose = flag("--verbose");
  for (const r of results) console.log(`${r.status.padEnd(11)} ${r.name}${(verbose || r.status === "unsupported") && r.reason ? `  (${r.reason})` : ""}`);
  const count = (s: Status) => results.filter((r) => r.status === s).length;
  const total = results.length;
  console.log(`\nONNX node tests: ${count("pass")} pass, ${count("fail")} fail, ${count("unsupported")} unsupported of ${total} (${((100 * count("pass")) / Math.max(total, 1)).toFixed(1)}% pass) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  if (flag("--slowest")) for (const r of [...results].sort((a, b) => b.ms - a.ms).slice(0, 10)) console.log(`  ${r.ms.toFixed(0)} ms ${r.name}`);
  // CI gate: `--min-pass 0.9` fails the run when fewer cases than that fraction pass.
  const minPass = value("--min-pass");
  if (minPass !== undefined && count("pass") < Number(minPass) * total) {
    console.error(`onnx-conformance: ${count("pass")} of ${total} passed, below the required ${(Number(minPass) * 100).toFixed(0)}%`);
    process.exit(1);
  }
}

await main();
