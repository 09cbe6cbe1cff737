/**
 * One WebAssembly.Memory holding every buffer of the wasm backend, with a first-fit free list
 * (coalescing neighbours) over it and a bump pointer at the top; the memory grows when neither
 * has room. Blocks are 64-byte aligned (a cache line, and v128 loads stay aligned).
 */

import { Fn, MAX_PAGES, ModuleBuilder, T } from "./encoder.ts";
import { Wasm, type WasmMemoryObject } from "./wasm-api.ts";

/**
 * memory.fill and memory.copy as functions: native memset/memmove, where typed-array fill and
 * copyWithin take a slow path on a shared memory's buffer.
 */
function bulkMemory(memory: WasmMemoryObject, shared: boolean): { fill(dst: number, len: number): void; copy(dst: number, src: number, len: number): void } {
  const mb = new ModuleBuilder(shared);
  mb.addFunc("fill", new Fn([T.i32, T.i32]).get(0).i32(0).get(1).memFill());
  mb.addFunc("copy", new Fn([T.i32, T.i32, T.i32]).get(0).get(1).get(2).memCopy());
  const inst = new Wasm.Instance(new Wasm.Module(mb.encode()), { env: { memory } });
  return inst.exports as unknown as ReturnType<typeof bulkMemory>;
}

const ALIGN = 64;
const PAGE = 65536;

export class WasmMemory {
  readonly memory: WasmMemoryObject;
  /** Free blocks, sorted by offset: [offset, bytes]. */
  private free: [number, number][] = [];
  private top = ALIGN; // nothing starts below 64 (vector.ts reads up to 12 bytes before a buffer)

  /** `shared`: a memory worker threads can share (its buffer is a SharedArrayBuffer). */
  constructor(readonly shared = false, initialBytes = 1 << 20) {
    this.memory = new Wasm.Memory({ initial: Math.ceil(initialBytes / PAGE), maximum: MAX_PAGES, shared });
    this.bulk = bulkMemory(this.memory, shared);
  }

  private readonly bulk: ReturnType<typeof bulkMemory>;

  /** Zeroes `len` bytes at `dst`. */
  zero(dst: number, len: number): void {
    this.bulk.fill(dst, len);
  }

  /** Copies `len` bytes from `src` to `dst` (the ranges may overlap). */
  copy(dst: number, src: number, len: number): void {
    this.bulk.copy(dst, src, len);
  }

  /** Bytes of the memory now. */
  get size(): number {
    return this.memory.buffer.byteLength;
  }

  /** Returns the offset of a zeroed block of at least `bytes` bytes. */
  alloc(bytes: number): number {
    const off = this.allocScratch(bytes);
    this.bulk.fill(off, Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN));
    return off;
  }

  /** Returns the offset of a block of at least `bytes` bytes, holding whatever was there. */
  allocScratch(bytes: number): number {
    const need = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    let off = -1;
    for (let i = 0; i < this.free.length; i++) {
      const [o, n] = this.free[i]!;
      if (n < need) continue;
      off = o;
      if (n === need) this.free.splice(i, 1);
      else this.free[i] = [o + need, n - need];
      break;
    }
    if (off < 0) {
      // The last free block may touch the top: extend it rather than leave it stranded.
      const last = this.free[this.free.length - 1];
      if (last && last[0] + last[1] === this.top) {
        this.free.pop();
        this.top = last[0];
      }
      off = this.top;
      // 64 bytes past the top stay in the memory: a vector load at a padding bound may read a
      // few bytes past a buffer's end and masks them off (vector.ts).
      this.ensure(off + need + ALIGN);
      this.top = off + need;
    }
    return off;
  }

  /** Returns a block to the free list, merging it with free neighbours. */
  release(off: number, bytes: number): void {
    const n = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    const fl = this.free;
    let lo = 0, hi = fl.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (fl[mid]![0] < off) lo = mid + 1;
      else hi = mid;
    }
    let start = off, len = n, at = lo, del = 0;
    const prev = fl[lo - 1];
    if (prev && prev[0] + prev[1] === off) { start = prev[0]; len += prev[1]; at = lo - 1; del++; }
    const next = fl[lo];
    if (next && off + n === next[0]) { len += next[1]; del++; }
    if (start + len === this.top) {
      // The block ends at the top: lower the top instead of keeping a free block there.
      fl.splice(at, del);
      this.top = start;
      return;
    }
    fl.splice(at, del, [start, len]);
  }

  /** Grows the memory to hold at least `end` bytes. */
  private ensure(end: number): void {
    const have = this.memory.buffer.byteLength;
    if (end <= have) return;
    const pages = Math.ceil((end - have) / PAGE);
    // Grow by at least half again, so that a growing working set does not grow page by page.
    const want = Math.min(MAX_PAGES - have / PAGE, Math.max(pages, Math.ceil(have / PAGE / 2)));
    if (want < pages) throw new RangeError(`wasm: out of memory (${end} bytes wanted, at most ${MAX_PAGES * PAGE})`);
    this.memory.grow(want);
  }

  /** The memory's current ArrayBuffer (replaced whenever the memory grows). */
  get buffer(): ArrayBufferLike {
    return this.memory.buffer;
  }

  /** Bytes in use by live blocks, and bytes reserved up to the top. */
  stats(): { top: number; freeBytes: number; freeBlocks: number } {
    return { top: this.top, freeBytes: this.free.reduce((a, [, n]) => a + n, 0), freeBlocks: this.free.length };
  }
}
