/**
 * WebAssembly features beyond SIMD128 that kernels use where the engine has them, each probed once
 * by validating a tiny module that uses it: validation alone answers, with nothing to instantiate.
 */
import { Fn, ModuleBuilder, OpFD, T } from "./encoder.ts";
import { Wasm } from "./wasm-api.ts";

let relaxed: boolean | undefined;

/**
 * Whether the engine takes relaxed SIMD's multiply-adds (f32x4 and f64x2 relaxed_madd). Node 20
 * (V8 11.3) has them only under `node --experimental-wasm-relaxed-simd`.
 */
export function hasRelaxedSimd(): boolean {
  if (relaxed === undefined) {
    const f = new Fn([T.v128, T.v128, T.v128], [T.v128]);
    // Both widths: the GEMM uses whichever its dtype needs, so an engine lacking either reads as
    // lacking both.
    f.get(0).get(1).get(2).fd(OpFD.f32x4RelaxedMadd).get(1).get(2).fd(OpFD.f64x2RelaxedMadd);
    const mb = new ModuleBuilder();
    mb.addFunc("madd", f);
    try {
      relaxed = Wasm.validate(mb.encode());
    } catch {
      relaxed = false;
    }
  }
  return relaxed;
}
