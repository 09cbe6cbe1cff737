export * as functional from "./functional.ts";
export { Parameter } from "./parameter.ts";
export { Module, snakeCase, type LoadResult, type StateDict } from "./module.ts";
export { ModuleDict, ModuleList, Sequential } from "./container.ts";
