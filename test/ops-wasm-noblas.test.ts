/** The op suite (test/op-suite.ts) on the wasm backend with the system BLAS off: the wasm GEMM. */
import * as st from "../src/index.ts";
import { WasmBackend } from "../src/backends/wasm/backend.ts";
import { opSuite } from "./op-suite.ts";

st.registerBackend("wasm-noblas", () => new WasmBackend({ name: "wasm-noblas", blas: "off" }));
opSuite("wasm-noblas");
