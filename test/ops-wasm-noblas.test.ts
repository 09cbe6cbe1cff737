/**
 * The op suite (test/op-suite.ts) on the wasm backend as it runs in a browser: no system BLAS (the
 * wasm GEMM) and one thread.
 */
import * as st from "../src/index.ts";
import { WasmBackend } from "../src/backends/wasm/backend.ts";
import { opSuite } from "./op-suite.ts";

st.registerBackend("wasm-noblas", () => new WasmBackend({ name: "wasm-noblas", blas: "off", threads: 1 }));
opSuite("wasm-noblas");
