#!/usr/bin/env node
// The `strata` command: registers tsx's loader (Strata's sources are TypeScript, with no build
// step) and runs src/cli/main.ts with the command line.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/cli/main.ts");
process.exitCode = await main(process.argv.slice(2));
