/**
 * The op suite (test/op-suite.ts) on the wasm backend, with its contractions through the system
 * BLAS when one is installed (test/ops-wasm-noblas.test.ts forces the wasm GEMM on one thread),
 * and every kernel that can be split over threads split over three (two workers and the caller),
 * however small.
 */
import * as st from "../src/index.ts";
import { WasmBackend } from "../src/backends/wasm/backend.ts";
import { opSuite } from "./op-suite.ts";

st.registerBackend("wasm-threads", () => new WasmBackend({ name: "wasm-threads", threads: 3, parallelMinWork: 1 }));
opSuite("wasm-threads");
