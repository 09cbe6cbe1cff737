export * as functional from "./functional.ts";
