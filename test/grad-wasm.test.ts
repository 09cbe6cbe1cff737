/**
 * The finite-difference gradient checks (test/grad-suite.ts) on the wasm backend: the wasm GEMM
 * (no BLAS), kernels split over two threads however small.
 */
import * as st from "../src/index.ts";
import { WasmBackend } from "../src/backends/wasm/backend.ts";
import { gradSuite } from "./grad-suite.ts";

st.registerBackend("wasm-noblas", () => new WasmBackend({ name: "wasm-noblas", blas: "off", threads: 2, parallelMinWork: 1 }));
gradSuite("wasm-noblas");
