/**
 * The part of the WebAssembly JS API this backend uses, typed here: the project's TypeScript
 * libraries (ES2023, no DOM) do not declare the `WebAssembly` global.
 */
export interface WasmMemoryObject {
  readonly buffer: ArrayBufferLike;
  grow(pages: number): number;
}
export interface WasmInstance {
  readonly exports: Record<string, unknown>;
}
interface WasmApi {
  Memory: new (d: { initial: number; maximum?: number; shared?: boolean }) => WasmMemoryObject;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (m: object, imports: Record<string, Record<string, unknown>>) => WasmInstance;
  validate(bytes: Uint8Array): boolean;
}

export const Wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** Compiles and instantiates a module synchronously. */
export function instantiate(bytes: Uint8Array, env: Record<string, unknown>): WasmInstance {
  return new Wasm.Instance(new Wasm.Module(bytes), { env });
}
