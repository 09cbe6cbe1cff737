/**
 * A small WebAssembly binary encoder: enough of the format to emit kernels at run time (types,
 * imported memory and functions, function bodies with locals, loops, scalar and v128 ops).
 * No toolchain: a module is bytes built here and handed to `new WebAssembly.Module`.
 */

/** Value types. */
export const T = { i32: 0x7f, i64: 0x7e, f32: 0x7d, f64: 0x7c, v128: 0x7b } as const;
export type ValType = (typeof T)[keyof typeof T];

/** One-byte opcodes (the MVP set, plus sign-extension). */
export const Op = {
  unreachable: 0x00, block: 0x02, loop: 0x03, if: 0x04, else: 0x05, end: 0x0b, br: 0x0c, brIf: 0x0d,
  return: 0x0f, call: 0x10, drop: 0x1a, select: 0x1b,
  localGet: 0x20, localSet: 0x21, localTee: 0x22,
  i32Load: 0x28, i64Load: 0x29, f32Load: 0x2a, f64Load: 0x2b, i32Load8u: 0x2d, i32Load16u: 0x2f,
  i32Store: 0x36, i64Store: 0x37, f32Store: 0x38, f64Store: 0x39, i32Store8: 0x3a, i32Store16: 0x3b,
  i32Const: 0x41, i64Const: 0x42, f32Const: 0x43, f64Const: 0x44,
  i32Eqz: 0x45, i32Eq: 0x46, i32Ne: 0x47, i32LtS: 0x48, i32LtU: 0x49, i32GtS: 0x4a, i32GtU: 0x4b,
  i32LeS: 0x4c, i32LeU: 0x4d, i32GeS: 0x4e, i32GeU: 0x4f,
  i64Eqz: 0x50, i64Eq: 0x51, i64Ne: 0x52, i64LtS: 0x53, i64GtS: 0x55,
  f32Eq: 0x5b, f32Ne: 0x5c, f32Lt: 0x5d, f32Gt: 0x5e, f32Le: 0x5f, f32Ge: 0x60,
  f64Eq: 0x61, f64Ne: 0x62, f64Lt: 0x63, f64Gt: 0x64, f64Le: 0x65, f64Ge: 0x66,
  i32Add: 0x6a, i32Sub: 0x6b, i32Mul: 0x6c, i32DivS: 0x6d, i32DivU: 0x6e, i32RemS: 0x6f, i32RemU: 0x70,
  i32And: 0x71, i32Or: 0x72, i32Xor: 0x73, i32Shl: 0x74, i32ShrS: 0x75, i32ShrU: 0x76,
  i64Add: 0x7c, i64Sub: 0x7d, i64Mul: 0x7e, i64And: 0x83, i64Or: 0x84, i64Xor: 0x85, i64Shl: 0x86, i64ShrU: 0x88,
  f32Abs: 0x8b, f32Neg: 0x8c, f32Trunc: 0x8f, f32Sqrt: 0x91, f32Add: 0x92, f32Sub: 0x93, f32Mul: 0x94, f32Div: 0x95,
  f64Abs: 0x99, f64Neg: 0x9a, f64Floor: 0x9c, f64Trunc: 0x9d, f64Sqrt: 0x9f, f64Add: 0xa0, f64Sub: 0xa1, f64Mul: 0xa2, f64Div: 0xa3,
  f64Min: 0xa4, f64Max: 0xa5,
  i32WrapI64: 0xa7, i64ExtendI32S: 0xac, i64ExtendI32U: 0xad,
  f32ConvertI32S: 0xb2, f32ConvertI64S: 0xb4, f32DemoteF64: 0xb6,
  f64ConvertI32S: 0xb7, f64ConvertI64S: 0xb9, f64PromoteF32: 0xbb, i32ReinterpretF32: 0xbc, i64ReinterpretF64: 0xbd, f32ReinterpretI32: 0xbe, f64ReinterpretI64: 0xbf,
} as const;

/** 0xfc-prefixed opcodes. */
export const OpFC = { i32TruncSatF64S: 2, i64TruncSatF32S: 4, i64TruncSatF64S: 6, memoryCopy: 10, memoryFill: 11 } as const;

/**
 * 0xfd-prefixed (SIMD) opcodes, by the names of the WebAssembly SIMD proposal. Lane ops take a
 * lane index byte after the opcode (after the memarg for the memory forms). The relaxed ones
 * (0x100 and up; features.ts says whether the engine takes them) compute a*b + c, fused or not.
 */
export const OpFD = {
  v128Load: 0x00, v128Load32Splat: 0x09, v128Load64Splat: 0x0a, v128Store: 0x0b, v128Const: 0x0c,
  i8x16Shuffle: 0x0d, i32x4Splat: 0x11, i64x2Splat: 0x12, f32x4Splat: 0x13, f64x2Splat: 0x14,
  i32x4ExtractLane: 0x1b, i32x4ReplaceLane: 0x1c, f32x4ExtractLane: 0x1f, f32x4ReplaceLane: 0x20,
  i32x4Eq: 0x37, i32x4Ne: 0x38, i32x4LtS: 0x39, i32x4LtU: 0x3a, f32x4Eq: 0x41, f32x4Ne: 0x42,
  f32x4Lt: 0x43, f32x4Gt: 0x44, f32x4Le: 0x45, f64x2Le: 0x4b, v128And: 0x4e, v128Andnot: 0x4f,
  v128Or: 0x50, v128Xor: 0x51, v128Bitselect: 0x52, v128AnyTrue: 0x53, v128Load8Lane: 0x54,
  v128Load32Lane: 0x56, v128Load32Zero: 0x5c, v128Load64Zero: 0x5d, f32x4DemoteF64x2Zero: 0x5e,
  f64x2PromoteLowF32x4: 0x5f, f32x4Trunc: 0x69, i16x8ExtendLowI8x16U: 0x89, i32x4Neg: 0xa1,
  i32x4AllTrue: 0xa3, i32x4ExtendLowI16x8U: 0xa9, i32x4Add: 0xae, i32x4Mul: 0xb5, i32x4MaxS: 0xb8,
  i32x4MaxU: 0xb9, i64x2Shl: 0xcb, i64x2Add: 0xce, f32x4Neg: 0xe1, f32x4Sqrt: 0xe3, f32x4Add: 0xe4,
  f32x4Mul: 0xe6, f32x4Div: 0xe7, f64x2Add: 0xf0, f64x2Sub: 0xf1, f64x2Mul: 0xf2, f64x2Pmin: 0xf6,
  f64x2Pmax: 0xf7, f32x4ConvertI32x4S: 0xfa, f32x4RelaxedMadd: 0x105, f64x2RelaxedMadd: 0x107,
} as const;

export class Bytes {
  private buf = new Uint8Array(256);
  length = 0;
  byte(b: number): this {
    if (this.length === this.buf.length) {
      const n = new Uint8Array(this.buf.length * 2);
      n.set(this.buf);
      this.buf = n;
    }
    this.buf[this.length++] = b;
    return this;
  }
  bytes(bs: ArrayLike<number>): this {
    for (let i = 0; i < bs.length; i++) this.byte(bs[i]!);
    return this;
  }
  u32(v: number): this {
    do {
      let b = v & 0x7f;
      v >>>= 7;
      if (v !== 0) b |= 0x80;
      this.byte(b);
    } while (v !== 0);
    return this;
  }
  s32(v: number): this {
    v |= 0;
    for (;;) {
      const b = v & 0x7f;
      v >>= 7;
      if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) return this.byte(b);
      this.byte(b | 0x80);
    }
  }
  s64(v: bigint): this {
    for (;;) {
      const b = Number(v & 0x7fn);
      v >>= 7n;
      if ((v === 0n && (b & 0x40) === 0) || (v === -1n && (b & 0x40) !== 0)) return this.byte(b);
      this.byte(b | 0x80);
    }
  }
  f32(v: number): this {
    return this.bytes(new Uint8Array(new Float32Array([v]).buffer));
  }
  f64(v: number): this {
    return this.bytes(new Uint8Array(new Float64Array([v]).buffer));
  }
  name(s: string): this {
    const e = new TextEncoder().encode(s);
    return this.u32(e.length).bytes(e);
  }
  /** A length-prefixed copy of another byte string. */
  sized(b: Bytes): this {
    return this.u32(b.length).bytes(b.view());
  }
  view(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

/** A function body under construction: locals and instructions. */
export class Fn {
  readonly code = new Bytes();
  private readonly locals: ValType[] = [];
  constructor(readonly params: readonly ValType[], readonly results: readonly ValType[] = []) {}

  /** A new local of type t; returns its index. */
  local(t: ValType): number {
    this.locals.push(t);
    return this.params.length + this.locals.length - 1;
  }
  op(o: number): this {
    this.code.byte(o);
    return this;
  }
  fc(o: number): this {
    this.code.byte(0xfc).u32(o);
    return this;
  }
  /** memory.fill (dst, value, length on the stack) on memory 0. */
  memFill(): this {
    this.code.byte(0xfc).u32(OpFC.memoryFill).byte(0);
    return this;
  }
  /** memory.copy (dst, src, length on the stack) within memory 0. */
  memCopy(): this {
    this.code.byte(0xfc).u32(OpFC.memoryCopy).byte(0).byte(0);
    return this;
  }
  fd(o: number): this {
    this.code.byte(0xfd).u32(o);
    return this;
  }
  get(i: number): this { this.code.byte(Op.localGet).u32(i); return this; }
  set(i: number): this { this.code.byte(Op.localSet).u32(i); return this; }
  tee(i: number): this { this.code.byte(Op.localTee).u32(i); return this; }
  i32(v: number): this { this.code.byte(Op.i32Const).s32(v); return this; }
  i64(v: bigint): this { this.code.byte(Op.i64Const).s64(v); return this; }
  f32(v: number): this { this.code.byte(Op.f32Const).f32(v); return this; }
  f64(v: number): this { this.code.byte(Op.f64Const).f64(v); return this; }
  /** A load or store with its memarg (log2 alignment, constant offset). */
  mem(o: number, align: number, offset = 0): this { this.code.byte(o).u32(align).u32(offset); return this; }
  memFD(o: number, align: number, offset = 0): this { this.code.byte(0xfd).u32(o).u32(align).u32(offset); return this; }
  call(i: number): this { this.code.byte(Op.call).u32(i); return this; }
  block(): this { this.code.byte(Op.block).byte(0x40); return this; }
  loop(): this { this.code.byte(Op.loop).byte(0x40); return this; }
  if(result?: ValType): this { this.code.byte(Op.if).byte(result ?? 0x40); return this; }
  else(): this { return this.op(Op.else); }
  end(): this { return this.op(Op.end); }
  br(depth: number): this { this.code.byte(Op.br).u32(depth); return this; }
  brIf(depth: number): this { this.code.byte(Op.brIf).u32(depth); return this; }

  /** The encoded body: locals (run-length by type) then code. */
  encode(): Bytes {
    const b = new Bytes();
    const runs: [number, ValType][] = [];
    for (const t of this.locals) {
      const last = runs[runs.length - 1];
      if (last && last[1] === t) last[0]++;
      else runs.push([1, t]);
    }
    b.u32(runs.length);
    for (const [n, t] of runs) b.u32(n).byte(t);
    b.bytes(this.code.view()).byte(Op.end);
    return b;
  }
}

/** The largest wasm32 memory in pages (4 GiB); a shared memory must declare its maximum. */
export const MAX_PAGES = 65536;

/**
 * A module: one imported memory, imported functions, and the functions defined here (all exported).
 * With `sharedMemory` the memory import is shared (maximum MAX_PAGES), as worker threads need.
 */
export class ModuleBuilder {
  constructor(private readonly sharedMemory = false) {}

  private readonly types: string[] = [];
  private readonly typeSigs: [readonly ValType[], readonly ValType[]][] = [];
  private readonly imports: { mod: string; name: string; type: number }[] = [];
  private readonly funcs: { name: string; fn: Fn; type: number }[] = [];

  private typeIndex(params: readonly ValType[], results: readonly ValType[]): number {
    const key = `${params.join(",")}>${results.join(",")}`;
    let i = this.types.indexOf(key);
    if (i < 0) {
      i = this.types.length;
      this.types.push(key);
      this.typeSigs.push([params, results]);
    }
    return i;
  }
  /** Declares an imported function ("env", name); returns its function index. Imports come first. */
  importFunc(name: string, params: readonly ValType[], results: readonly ValType[]): number {
    if (this.funcs.length) throw new Error("internal: imports must be declared before functions");
    const existing = this.imports.findIndex((f) => f.name === name);
    if (existing >= 0) return existing;
    this.imports.push({ mod: "env", name, type: this.typeIndex(params, results) });
    return this.imports.length - 1;
  }
  /** Adds an exported function; returns its function index. */
  addFunc(name: string, fn: Fn): number {
    this.funcs.push({ name, fn, type: this.typeIndex(fn.params, fn.results) });
    return this.imports.length + this.funcs.length - 1;
  }
  encode(): Uint8Array {
    const out = new Bytes().bytes([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
    const section = (id: number, body: Bytes) => out.byte(id).sized(body);
    const types = new Bytes().u32(this.typeSigs.length);
    for (const [p, r] of this.typeSigs) {
      types.byte(0x60).u32(p.length);
      for (const t of p) types.byte(t);
      types.u32(r.length);
      for (const t of r) types.byte(t);
    }
    section(1, types);
    const imps = new Bytes().u32(this.imports.length + 1);
    imps.name("env").name("memory").byte(0x02);
    if (this.sharedMemory) imps.byte(0x03).u32(0).u32(MAX_PAGES);
    else imps.byte(0x00).u32(0);
    for (const f of this.imports) imps.name(f.mod).name(f.name).byte(0x00).u32(f.type);
    section(2, imps);
    const fs = new Bytes().u32(this.funcs.length);
    for (const f of this.funcs) fs.u32(f.type);
    section(3, fs);
    const ex = new Bytes().u32(this.funcs.length);
    this.funcs.forEach((f, i) => ex.name(f.name).byte(0x00).u32(this.imports.length + i));
    section(7, ex);
    const code = new Bytes().u32(this.funcs.length);
    for (const f of this.funcs) code.sized(f.fn.encode());
    section(10, code);
    return out.view().slice();
  }
}
