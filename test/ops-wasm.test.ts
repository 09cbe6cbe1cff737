/**
 * The op suite (test/op-suite.ts) on the wasm backend, with its contractions through the system
 * BLAS when one is installed (test/ops-wasm-noblas.test.ts forces the wasm GEMM).
 */
import { opSuite } from "./op-suite.ts";

opSuite("wasm");
