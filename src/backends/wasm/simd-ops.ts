/**
 * The 0xfd-prefixed (fixed-width SIMD) opcodes that vectorized kernels use, by the names of the
 * WebAssembly SIMD proposal. Lane ops take a lane index byte after the opcode (after the memarg
 * for the memory forms).
 */
export const V = {
  v128Load: 0x00, v128Store: 0x0b, v128Const: 0x0c, i8x16Shuffle: 0x0d,
  i32x4Splat: 0x11, i64x2Splat: 0x12, f32x4Splat: 0x13, f64x2Splat: 0x14,
  i32x4ExtractLane: 0x1b, i32x4ReplaceLane: 0x1c, f32x4ExtractLane: 0x1f, f32x4ReplaceLane: 0x20,
  i32x4Eq: 0x37, i32x4Ne: 0x38, i32x4LtS: 0x39, i32x4LtU: 0x3a,
  f32x4Eq: 0x41, f32x4Ne: 0x42, f32x4Lt: 0x43, f32x4Gt: 0x44,
  v128And: 0x4e, v128Or: 0x50, v128Xor: 0x51, v128Bitselect: 0x52, v128AnyTrue: 0x53,
  v128Load32Splat: 0x09, v128Load8Lane: 0x54, v128Load32Lane: 0x56, v128Load32Zero: 0x5c, v128Load64Zero: 0x5d,
  f32x4DemoteF64x2Zero: 0x5e, f64x2PromoteLowF32x4: 0x5f,
  f32x4Trunc: 0x69,
  i16x8ExtendLowI8x16U: 0x89, i32x4ExtendLowI16x8U: 0xa9,
  f64x2Nearest: 0x94,
  i32x4Neg: 0xa1, i32x4AllTrue: 0xa3, i32x4ShrS: 0xac, i32x4Add: 0xae, i32x4Sub: 0xb1, i32x4Mul: 0xb5, i32x4MaxS: 0xb8, i32x4MaxU: 0xb9,
  i64x2ExtendLowI32x4S: 0xc7, i64x2Shl: 0xcb, i64x2Add: 0xce,
  f32x4Neg: 0xe1, f32x4Sqrt: 0xe3, f32x4Add: 0xe4, f32x4Sub: 0xe5, f32x4Mul: 0xe6, f32x4Div: 0xe7,
  f64x2Add: 0xf0, f64x2Sub: 0xf1, f64x2Mul: 0xf2, f64x2Pmin: 0xf6, f64x2Pmax: 0xf7,
  i32x4TruncSatF64x2SZero: 0xfc, f32x4ConvertI32x4S: 0xfa,
} as const;
