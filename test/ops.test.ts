/**
 * Every op of the table (test/op-table.ts) against PyTorch on the js backend; the suite itself is
 * test/op-suite.ts (test/ops-wasm.test.ts runs it on wasm).
 */
import { opSuite } from "./op-suite.ts";

opSuite("js");
