/**
 * A blocked, packed SIMD GEMM emitted as WebAssembly: C (M x N) = A (M x K) @ B (K x N), all
 * row-major in the backend's memory.
 *
 * B is packed once into column panels of W = 8 floats (4 doubles), two v128 wide, zero-padded at
 * the right edge, each panel's rows contiguous: Bp[panel][k][0..W). The product runs in blocks of
 * KC rows of B (a panel's block, KC x W, stays in L1) and MC rows of A (an MC x KC block of A stays
 * in L2); a micro-kernel keeps a 4 x W tile of C in eight v128 accumulators over the KC steps,
 * each step two vector loads of B, four broadcast loads of A and eight multiply-adds. Rows left
 * over from the 4-row tiles use a 1 x W micro-kernel. C is written through a padded row pitch
 * (`ldc`, a multiple of W); the caller copies the result out when N is not a multiple of W. In
 * the last k-block the store can first add a bias along the rows and apply ReLU to the tile, in
 * its registers (a linear layer's epilogue), rather than a kernel reading C back.
 *
 * Where the engine has relaxed SIMD (features.ts) a multiply-add is one relaxed_madd, which the
 * engine may fuse (one rounding) or not (two): results differ from mul + add by rounding only.
 */
import { Fn, ModuleBuilder, Op, OpFD, T } from "./encoder.ts";
import { hasRelaxedSimd } from "./features.ts";

export const KC = 256;
export const MC = 64;

export interface GemmExports {
  /**
   * pack(B, Bp, K, N, Np, ks, js): B (K x N, element (k, j) at k·ks + j·js: ks = N, js = 1 for
   * row-major, ks = 1, js = K for B stored transposed) -> panels of W columns, zero-padded to Np.
   */
  pack(b: number, bp: number, k: number, n: number, np: number, ks: number, js: number): void;
  /**
   * gemm(A, Bp, C, M, K, Np, lda, ldc, Ap, epi, bias): C[:, :Np] = A @ Bp (C row pitch ldc
   * elements); Ap is scratch for a packed MC x KC block of A. `epi` (EPI_BIAS | EPI_RELU) says
   * what the store applies to the finished sums: + bias[j] (Np values at byte offset `bias`),
   * then ReLU.
   */
  gemm(a: number, bp: number, c: number, m: number, k: number, np: number, lda: number, ldc: number, ap: number, epi: number, bias: number): void;
  /**
   * gemmBatch(A, B, C, lo, hi, M, K, N, sa, sb, sc, ks, js, Bp, Ap, epi, bias): for i in [lo, hi),
   * pack B + i·sb (strides ks, js as in pack) and C + i·sc = (A + i·sa) @ it; sa, sb, sc in bytes;
   * N a multiple of the panel width (no padding); Bp and Ap scratch as in pack and gemm; epi and
   * bias as in gemm.
   */
  gemmBatch(a: number, b: number, c: number, lo: number, hi: number, m: number, k: number, n: number, sa: number, sb: number, sc: number, ks: number, js: number, bp: number, ap: number, epi: number, bias: number): void;
}

/** Epilogue flags of `gemm`: add a bias along the rows; then ReLU (0 where <= 0, NaN kept). */
export const EPI_BIAS = 1;
export const EPI_RELU = 2;

/** `relaxedSimd: false` keeps mul + add even where the engine has relaxed_madd. */
export function emitGemm(dt: "float32" | "float64", sharedMemory = false, relaxedSimd = true): Uint8Array {
  const f32 = dt === "float32";
  const E = f32 ? 4 : 8; // bytes per element
  const W = f32 ? 8 : 4; // panel width in elements (two v128)
  const SH = f32 ? 2 : 3;
  const splatLoad = f32 ? OpFD.v128Load32Splat : OpFD.v128Load64Splat;
  const vadd = f32 ? OpFD.f32x4Add : OpFD.f64x2Add;
  const vmul = f32 ? OpFD.f32x4Mul : OpFD.f64x2Mul;
  const vmadd = relaxedSimd && hasRelaxedSimd() ? (f32 ? OpFD.f32x4RelaxedMadd : OpFD.f64x2RelaxedMadd) : 0;
  const sload = f32 ? Op.f32Load : Op.f64Load;
  const sstore = f32 ? Op.f32Store : Op.f64Store;
  const mb = new ModuleBuilder(sharedMemory);
  let packFn = -1, gemmFn = -1;

  // ---- pack --------------------------------------------------------------------------------
  {
    const f = new Fn([T.i32, T.i32, T.i32, T.i32, T.i32, T.i32, T.i32]);
    const [B, BP, K, N, NP, KS, JS] = [0, 1, 2, 3, 4, 5, 6];
    const j0 = f.local(T.i32), k = f.local(T.i32), j = f.local(T.i32), dst = f.local(T.i32), src = f.local(T.i32);
    // Panel p (columns j0..j0+W), row k lands at Bp + (j0*K + k*W) * E.
    f.i32(0).set(j0).block().loop();
    f.get(j0).get(NP).op(Op.i32GeS).brIf(1);
    f.i32(0).set(k).block().loop();
    f.get(k).get(K).op(Op.i32GeS).brIf(1);
    f.get(BP).get(j0).get(K).op(Op.i32Mul).get(k).i32(W).op(Op.i32Mul).op(Op.i32Add).i32(SH).op(Op.i32Shl).op(Op.i32Add).set(dst);
    f.get(B).get(k).get(KS).op(Op.i32Mul).i32(SH).op(Op.i32Shl).op(Op.i32Add).set(src);
    // A whole panel of a row-major B: its W elements are contiguous, two vector copies.
    f.get(JS).i32(1).op(Op.i32Eq).get(j0).i32(W).op(Op.i32Add).get(N).op(Op.i32LeS).op(Op.i32And).if();
    f.get(dst).get(src).get(j0).i32(SH).op(Op.i32Shl).op(Op.i32Add).set(src).get(src).memFD(OpFD.v128Load, 0).memFD(OpFD.v128Store, 0);
    f.get(dst).get(src).memFD(OpFD.v128Load, 0, 16).memFD(OpFD.v128Store, 0, 16);
    f.else();
    f.i32(0).set(j).block().loop();
    f.get(j).i32(W).op(Op.i32GeS).brIf(1);
    // dst[j] = j0 + j < N ? src[j0 + j] : 0
    f.get(dst).get(j).i32(SH).op(Op.i32Shl).op(Op.i32Add);
    f.get(j0).get(j).op(Op.i32Add).get(N).op(Op.i32LtS);
    f.if(f32 ? T.f32 : T.f64);
    f.get(src).get(j0).get(j).op(Op.i32Add).get(JS).op(Op.i32Mul).i32(SH).op(Op.i32Shl).op(Op.i32Add).mem(sload, SH);
    f.else();
    if (f32) f.f32(0); else f.f64(0);
    f.end();
    f.mem(sstore, SH);
    f.get(j).i32(1).op(Op.i32Add).set(j).br(0).end().end();
    f.end();
    f.get(k).i32(1).op(Op.i32Add).set(k).br(0).end().end();
    f.get(j0).i32(W).op(Op.i32Add).set(j0).br(0).end().end();
    packFn = mb.addFunc("pack", f);
  }

  // ---- gemm --------------------------------------------------------------------------------
  {
    const f = new Fn(Array.from({ length: 11 }, () => T.i32));
    const [A, BP, C, M, K, NP, LDA, LDC, AP, EPI, BIAS] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    // The epilogue flags while the k-block being run is the last (the sums are final), else 0.
    const epi = f.local(T.i32);
    const kb = f.local(T.i32), kc = f.local(T.i32), ib = f.local(T.i32), ie = f.local(T.i32);
    const j0 = f.local(T.i32), i = f.local(T.i32);
    const pa = f.local(T.i32), pb = f.local(T.i32), pc = f.local(T.i32), pend = f.local(T.i32);
    const acc = Array.from({ length: 8 }, () => f.local(T.v128));
    const b0 = f.local(T.v128), b1 = f.local(T.v128), av = f.local(T.v128);
    const ldaB = f.local(T.i32), ldcB = f.local(T.i32), full = f.local(T.i32), ds = f.local(T.i32), kk = f.local(T.i32);
    f.get(LDA).i32(SH).op(Op.i32Shl).set(ldaB);
    f.get(LDC).i32(SH).op(Op.i32Shl).set(ldcB);

    /** Micro-kernel over `r` rows (4 or 1) at row i, panel j0, k-block kb..kb+kc. */
    const micro = (r: number) => {
      // pa = A + (i*lda + kb)*E ; pb = Bp + (j0*K + kb*W)*E ; pc = C + (i*ldc + j0)*E
      f.get(AP).get(i).get(ib).op(Op.i32Sub).get(kc).op(Op.i32Mul).i32(SH).op(Op.i32Shl).op(Op.i32Add).set(pa);
      f.get(BP).get(j0).get(K).op(Op.i32Mul).get(kb).i32(W).op(Op.i32Mul).op(Op.i32Add).i32(SH).op(Op.i32Shl).op(Op.i32Add).set(pb);
      f.get(C).get(i).get(LDC).op(Op.i32Mul).get(j0).op(Op.i32Add).i32(SH).op(Op.i32Shl).op(Op.i32Add).set(pc);
      // Accumulators start from C, or from zero on the first k-block.
      f.get(kb).op(Op.i32Eqz).if();
      for (let q = 0; q < 2 * r; q++) f.i32(0).fd(OpFD.i32x4Splat).set(acc[q]!);
      f.else();
      for (let rr = 0; rr < r; rr++) {
        for (let h = 0; h < 2; h++) {
          f.get(pc);
          if (rr) f.get(ldcB).i32(rr).op(Op.i32Mul).op(Op.i32Add);
          f.memFD(OpFD.v128Load, 4, h * 16).set(acc[rr * 2 + h]!);
        }
      }
      f.end();
      // pend = pb + kc*W*E
      f.get(pb).get(kc).i32(W * E).op(Op.i32Mul).op(Op.i32Add).set(pend);
      f.loop();
      f.get(pb).memFD(OpFD.v128Load, 4, 0).set(b0);
      f.get(pb).memFD(OpFD.v128Load, 4, 16).set(b1);
      for (let rr = 0; rr < r; rr++) {
        f.get(pa).memFD(splatLoad, SH, rr * E).set(av);
        for (let h = 0; h < 2; h++) {
          const a = acc[rr * 2 + h]!, b = h ? b1 : b0;
          if (vmadd) f.get(av).get(b).get(a).fd(vmadd).set(a);
          else f.get(a).get(av).get(b).fd(vmul).fd(vadd).set(a);
        }
      }
      f.get(pa).i32(r * E).op(Op.i32Add).set(pa);
      f.get(pb).i32(W * E).op(Op.i32Add).tee(pb).get(pend).op(Op.i32LtU).brIf(0);
      f.end();
      // The epilogue, in the registers: + bias[j0..j0+W), then ReLU as acc & ~(acc <= 0).
      f.get(epi).i32(EPI_BIAS).op(Op.i32And).if();
      f.get(BIAS).get(j0).i32(SH).op(Op.i32Shl).op(Op.i32Add).tee(pend).memFD(OpFD.v128Load, 4, 0).set(b0);
      f.get(pend).memFD(OpFD.v128Load, 4, 16).set(b1);
      for (let q = 0; q < 2 * r; q++) f.get(acc[q]!).get(q % 2 ? b1 : b0).fd(vadd).set(acc[q]!);
      f.end();
      f.get(epi).i32(EPI_RELU).op(Op.i32And).if();
      for (let q = 0; q < 2 * r; q++) {
        f.get(acc[q]!).get(acc[q]!).i32(0).fd(OpFD.i32x4Splat).fd(f32 ? OpFD.f32x4Le : OpFD.f64x2Le).fd(OpFD.v128Andnot).set(acc[q]!);
      }
      f.end();
      for (let rr = 0; rr < r; rr++) {
        for (let h = 0; h < 2; h++) {
          f.get(pc);
          if (rr) f.get(ldcB).i32(rr).op(Op.i32Mul).op(Op.i32Add);
          f.get(acc[rr * 2 + h]!).memFD(OpFD.v128Store, 4, h * 16);
        }
      }
    };

    // for kb in 0..K step KC
    f.i32(0).set(kb).block().loop();
    f.get(kb).get(K).op(Op.i32GeS).brIf(1);
    // kc = min(KC, K - kb)
    f.get(K).get(kb).op(Op.i32Sub).set(kc);
    f.i32(KC).get(kc).get(kc).i32(KC).op(Op.i32GtS).op(Op.select).set(kc);
    f.get(EPI).i32(0).get(kb).get(kc).op(Op.i32Add).get(K).op(Op.i32GeS).op(Op.select).set(epi);
    //   for ib in 0..M step MC
    f.i32(0).set(ib).block().loop();
    f.get(ib).get(M).op(Op.i32GeS).brIf(1);
    f.get(ib).i32(MC).op(Op.i32Add).tee(ie).get(M).get(ie).get(M).op(Op.i32LtS).op(Op.select).set(ie);
    // Pack A[ib..ie, kb..kb+kc]: rows of full 4-row tiles interleaved ([k][4]), the rest row by row.
    f.get(ib).get(ie).get(ib).op(Op.i32Sub).i32(-4).op(Op.i32And).op(Op.i32Add).set(full);
    f.get(ib).set(i).block().loop();
    f.get(i).get(ie).op(Op.i32GeS).brIf(1);
    f.get(A).get(i).get(LDA).op(Op.i32Mul).get(kb).op(Op.i32Add).i32(SH).op(Op.i32Shl).op(Op.i32Add).set(pa);
    f.get(i).get(full).op(Op.i32LtS).if();
    f.get(AP).get(i).get(ib).op(Op.i32Sub).tee(pc).i32(-4).op(Op.i32And).get(kc).op(Op.i32Mul)
      .get(pc).i32(3).op(Op.i32And).op(Op.i32Add).i32(SH).op(Op.i32Shl).op(Op.i32Add).set(pb);
    f.i32(4 * E).set(ds);
    f.else();
    f.get(AP).get(i).get(ib).op(Op.i32Sub).get(kc).op(Op.i32Mul).i32(SH).op(Op.i32Shl).op(Op.i32Add).set(pb);
    f.i32(E).set(ds);
    f.end();
    f.i32(0).set(kk).loop();
    f.get(pb).get(pa).mem(sload, SH).mem(sstore, SH);
    f.get(pa).i32(E).op(Op.i32Add).set(pa);
    f.get(pb).get(ds).op(Op.i32Add).set(pb);
    f.get(kk).i32(1).op(Op.i32Add).tee(kk).get(kc).op(Op.i32LtS).brIf(0);
    f.end();
    f.get(i).i32(1).op(Op.i32Add).set(i).br(0).end().end();
    //     for j0 in 0..NP step W
    f.i32(0).set(j0).block().loop();
    f.get(j0).get(NP).op(Op.i32GeS).brIf(1);
    //       for i in ib..ie step 4 (full tiles), then single rows
    f.get(ib).set(i).block().loop();
    f.get(i).i32(4).op(Op.i32Add).get(ie).op(Op.i32GtS).brIf(1);
    micro(4);
    f.get(i).i32(4).op(Op.i32Add).set(i).br(0).end().end();
    f.block().loop();
    f.get(i).get(ie).op(Op.i32GeS).brIf(1);
    micro(1);
    f.get(i).i32(1).op(Op.i32Add).set(i).br(0).end().end();
    f.get(j0).i32(W).op(Op.i32Add).set(j0).br(0).end().end();
    f.get(ib).i32(MC).op(Op.i32Add).set(ib).br(0).end().end();
    f.get(kb).i32(KC).op(Op.i32Add).set(kb).br(0).end().end();
    gemmFn = mb.addFunc("gemm", f);
  }

  // ---- gemmBatch ---------------------------------------------------------------------------
  // Products lo..hi-1 of a batch, each packed and multiplied whole, so that threads can share a
  // batch of small products by items (splitting each by rows costs a dispatch per product).
  {
    const f = new Fn(Array.from({ length: 17 }, () => T.i32));
    const [A, B, C, LO, HI, M, K, N, SA, SB, SC, KS, JS, BP, AP, EPI, BIAS] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
    const i = f.local(T.i32);
    f.get(LO).set(i).block().loop();
    f.get(i).get(HI).op(Op.i32GeS).brIf(1);
    f.get(B).get(i).get(SB).op(Op.i32Mul).op(Op.i32Add).get(BP).get(K).get(N).get(N).get(KS).get(JS).call(packFn);
    f.get(A).get(i).get(SA).op(Op.i32Mul).op(Op.i32Add).get(BP).get(C).get(i).get(SC).op(Op.i32Mul).op(Op.i32Add);
    f.get(M).get(K).get(N).get(K).get(N).get(AP).get(EPI).get(BIAS).call(gemmFn);
    f.get(i).i32(1).op(Op.i32Add).set(i).br(0).end().end();
    mb.addFunc("gemmBatch", f);
  }
  return mb.encode();
}
