/**
 * fp32 and fp64 GEMM on the wasm backend: its own SIMD GEMM (on its worker threads, see
 * STRATA_THREADS) and the system BLAS path (OpenBLAS through koffi, its own threads), C = A @ B for
 * square sizes 512..2048, through the backend's `dot` routine on buffers in the wasm memory.
 * Prints GFLOP/s (2 n^3 flops per product).
 *
 *   npx tsx bench/gemm.ts [sizes...]     e.g. npx tsx bench/gemm.ts 512 1024
 */
import { WasmBackend } from "../src/backends/wasm/backend.ts";

const sizes = process.argv.slice(2).map(Number).filter((n) => n > 0);
const SIZES = sizes.length ? sizes : [512, 1024, 2048];

function bench(be: WasmBackend, dt: "float32" | "float64", n: number): number {
  const a = be.alloc(dt, n * n), b = be.alloc(dt, n * n), c = be.alloc(dt, n * n);
  const fill = new Float64Array(n * n).map((_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
  be.write(a, fill);
  be.write(b, fill);
  be.routines.dot!(c, a, b, 1, n, n, n, false, false); // warm-up (compiles the GEMM)
  let reps = 0, t = 0;
  const t0 = performance.now();
  while (t < 1000 || reps < 2) {
    be.routines.dot!(c, a, b, 1, n, n, n, false, false);
    reps++;
    t = performance.now() - t0;
  }
  be.free(a);
  be.free(b);
  be.free(c);
  return (2 * n ** 3 * reps) / (t / 1000) / 1e9;
}

const wasm = new WasmBackend({ blas: "off" });
let blas: WasmBackend | null = null;
try {
  blas = new WasmBackend({ blas: "on" });
} catch {
  console.log("no system BLAS found: only the wasm GEMM is measured");
}
const rows: string[][] = [["dtype", "n", "wasm GEMM GFLOP/s", blas ? `BLAS (${blas.blas!.library}) GFLOP/s` : "BLAS"]];
for (const dt of ["float32", "float64"] as const) {
  for (const n of SIZES) {
    const w = bench(wasm, dt, n);
    const b = blas ? bench(blas, dt, n) : NaN;
    rows.push([dt, String(n), w.toFixed(1), blas ? b.toFixed(1) : "-"]);
    console.log(rows[rows.length - 1]!.join("\t"));
  }
}
const width = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
console.log("\n" + rows.map((r) => r.map((c, i) => c.padStart(width[i]!)).join("  ")).join("\n"));
