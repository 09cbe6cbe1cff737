/**
 * The gather half of a 2-d full correlation (backend.ts `fullCorrelation`), written by hand: with
 * cols[c, k1, k2, b, x1, x2] from one GEMM, out[b, c, y1, y2] = Σ_{k1,k2} cols[c, k1, k2, b,
 * y1 + k1 - (K1 - 1), y2 + k2 - (K2 - 1)] over the taps that land inside cols.
 *
 * The compiled gather kernel (conv.ts `col2imKernel`) computes each output as a reduction over
 * the taps, with bounds checks at every tap; its vector lanes run along a row of only Y2 outputs.
 * Here the caller zeroes the output (one memory.fill), then, plane (b, c) by plane, every tap adds
 * its X1 x X2 slab of cols into the plane at offset (K1 - 1 - k1, K2 - 1 - k2): whole rows of
 * contiguous vector adds, no conditions, the plane in L1 after its first tap.
 * Each output still sums its taps in (k1, k2) order, in the dtype (as BLAS sums).
 */
import { Fn, ModuleBuilder, Op, OpFD, T } from "./encoder.ts";

export interface Col2imExports {
  /**
   * Adds into out [nb, c, X1 + K1 - 1, X2 + K2 - 1], which the caller has zeroed (one
   * memory.fill), the taps of cols [c, K1, K2, nb, X1, X2].
   */
  col2im(out: number, cols: number, nb: number, c: number, k1: number, k2: number, x1: number, x2: number): void;
}

export function emitCol2im(dt: "float32" | "float64", sharedMemory = false): Uint8Array {
  const f32 = dt === "float32";
  const SH = f32 ? 2 : 3, L = f32 ? 4 : 2;
  const vadd = f32 ? OpFD.f32x4Add : OpFD.f64x2Add;
  const sload = f32 ? Op.f32Load : Op.f64Load, sstore = f32 ? Op.f32Store : Op.f64Store, sadd = f32 ? Op.f32Add : Op.f64Add;
  const mb = new ModuleBuilder(sharedMemory);
  const f = new Fn([T.i32, T.i32, T.i32, T.i32, T.i32, T.i32, T.i32, T.i32]);
  const [OUT, COLS, NB, C, K1, K2, X1, X2] = [0, 1, 2, 3, 4, 5, 6, 7];
  const p = f.local(T.i32), planes = f.local(T.i32), plane = f.local(T.i32), y2 = f.local(T.i32), planeLen = f.local(T.i32);
  const a = f.local(T.i32), b = f.local(T.i32), ci = f.local(T.i32);
  const t1 = f.local(T.i32), t2 = f.local(T.i32), x = f.local(T.i32), j = f.local(T.i32);
  const src = f.local(T.i32), dst = f.local(T.i32), vend = f.local(T.i32);
  const inc = (v: number, by = 1) => { f.get(v).i32(by).op(Op.i32Add).set(v); };
  /** for (v = 0; v < limit; v++) { body } with `limit` a local. */
  const forTo = (v: number, limit: number, body: () => void) => {
    f.i32(0).set(v).block().loop();
    f.get(v).get(limit).op(Op.i32GeS).brIf(1);
    body();
    inc(v);
    f.br(0).end().end();
  };

  // y2 = X2 + K2 - 1; a plane holds (X1 + K1 - 1) * y2 elements.
  f.get(X2).get(K2).op(Op.i32Add).i32(1).op(Op.i32Sub).set(y2);
  f.get(X1).get(K1).op(Op.i32Add).i32(1).op(Op.i32Sub).get(y2).op(Op.i32Mul).set(planeLen);
  // Vector steps cover x2 < vend; the rest of a row is scalar.
  f.get(X2).i32(L - 1).op(Op.i32Sub).set(vend);
  f.get(NB).get(C).op(Op.i32Mul).set(planes);
  f.i32(0).set(p).block().loop();
  f.get(p).get(planes).op(Op.i32GeS).brIf(1);
  {
    // p = ci * NB + b: neighbouring planes read neighbouring slabs of cols (its taps' streams
    // advance together); plane = out + (b * C + ci) * planeLen.
    f.get(p).get(NB).op(Op.i32DivU).set(ci);
    f.get(p).get(NB).op(Op.i32RemU).set(b);
    f.get(b).get(C).op(Op.i32Mul).get(ci).op(Op.i32Add).get(planeLen).op(Op.i32Mul).i32(SH).op(Op.i32Shl).get(OUT).op(Op.i32Add).set(plane);
    forTo(t1, K1, () => {
      forTo(t2, K2, () => {
        // src = cols + ((((ci * K1 + t1) * K2 + t2) * NB + b) * X1 * X2) elements
        f.get(ci).get(K1).op(Op.i32Mul).get(t1).op(Op.i32Add).get(K2).op(Op.i32Mul).get(t2).op(Op.i32Add);
        f.get(NB).op(Op.i32Mul).get(b).op(Op.i32Add).get(X1).op(Op.i32Mul).get(X2).op(Op.i32Mul);
        f.i32(SH).op(Op.i32Shl).get(COLS).op(Op.i32Add).set(src);
        forTo(x, X1, () => {
          // dst = plane + ((x + K1 - 1 - t1) * y2 + K2 - 1 - t2) elements
          f.get(x).get(K1).op(Op.i32Add).i32(1).op(Op.i32Sub).get(t1).op(Op.i32Sub).get(y2).op(Op.i32Mul);
          f.get(K2).op(Op.i32Add).i32(1).op(Op.i32Sub).get(t2).op(Op.i32Sub);
          f.i32(SH).op(Op.i32Shl).get(plane).op(Op.i32Add).set(dst);
          f.i32(0).set(j).block().loop();
          f.get(j).get(vend).op(Op.i32GeS).brIf(1);
          f.get(dst).get(j).i32(SH).op(Op.i32Shl).op(Op.i32Add).set(a);
          f.get(a);
          f.get(a).memFD(OpFD.v128Load, 0);
          f.get(src).get(j).i32(SH).op(Op.i32Shl).op(Op.i32Add).memFD(OpFD.v128Load, 0);
          f.fd(vadd).memFD(OpFD.v128Store, 0);
          inc(j, L);
          f.br(0).end().end();
          f.block().loop();
          f.get(j).get(X2).op(Op.i32GeS).brIf(1);
          f.get(dst).get(j).i32(SH).op(Op.i32Shl).op(Op.i32Add).set(a);
          f.get(a);
          f.get(a).mem(sload, SH);
          f.get(src).get(j).i32(SH).op(Op.i32Shl).op(Op.i32Add).mem(sload, SH);
          f.op(sadd).mem(sstore, SH);
          inc(j);
          f.br(0).end().end();
          // The next row of the slab.
          f.get(src).get(X2).i32(SH).op(Op.i32Shl).op(Op.i32Add).set(src);
        });
      });
    });
  }
  inc(p);
  f.br(0).end().end();
  mb.addFunc("col2im", f);
  return mb.encode();
}
