export * as functional from "./functional.ts";
export * as init from "./init.ts";
export { Parameter } from "./parameter.ts";
export { Module, snakeCase, type LoadResult, type StateDict } from "./module.ts";
export { ModuleDict, ModuleList, Sequential } from "./container.ts";
export * from "./layers/index.ts";
export * from "./sequence/index.ts";
export * from "./loss/index.ts";
export * as utils from "./utils.ts";
