/**
 * Finite-difference gradient checks on the js backend; the checks themselves are
 * test/grad-suite.ts (test/grad-wasm.test.ts runs them on wasm).
 */
import { gradSuite } from "./grad-suite.ts";

gradSuite("js");
