/**
 * Nodes of the lazy graph. A node is a primitive applied to source nodes, or a realized buffer.
 * Realizing a node gives it a buffer and drops its sources, so the graph behind it can be freed.
 *
 * Lifetimes are counted: `refs` is the number of tensors and unrealized consumer nodes that use a
 * node. When it falls to zero the node lets go of its buffer and of its sources. Tensors that are
 * never disposed are released by a FinalizationRegistry in the tensor layer.
 */
import type { Buf } from "../ir/backend.ts";
import type { DType } from "../ir/dtype.ts";
import type { Prim, PrimParams } from "../ir/ops.ts";
import { freeBuffer } from "./device.ts";

let nextId = 0;

export class LazyNode<P extends Prim = Prim> {
  readonly id = nextId++;
  srcs: LazyNode[];
  buffer: Buf | null = null;
  refs = 0;

  constructor(
    /** The primitive, or "buffer" for a node that only holds data. */
    readonly op: P | "buffer",
    srcs: LazyNode[],
    readonly params: PrimParams[P],
    readonly shape: readonly number[],
    readonly dtype: DType,
    readonly device: string,
  ) {
    this.srcs = srcs;
    for (const s of srcs) s.refs++;
  }

  get realized(): boolean {
    return this.buffer !== null;
  }

  /** Marks the node computed: it keeps its buffer and no longer needs its sources. */
  setBuffer(b: Buf): void {
    this.buffer = b;
    const srcs = this.srcs;
    this.srcs = [];
    for (const s of srcs) unref(s);
  }
}

export function bufferNode(buf: Buf, shape: readonly number[], device: string): LazyNode {
  const n = new LazyNode<Prim>("buffer", [], {} as never, shape, buf.dtype, device);
  n.buffer = buf;
  return n;
}

export function ref(n: LazyNode): void {
  n.refs++;
}

/** Drops one reference; a node nobody uses frees its buffer and releases its sources. */
export function unref(n: LazyNode): void {
  const stack = [n];
  while (stack.length) {
    const x = stack.pop()!;
    if (--x.refs > 0) continue;
    if (x.refs < 0) throw new Error(`internal: node ${x.id} (${x.op}) released twice`);
    if (x.buffer) {
      freeBuffer(x.device, x.buffer);
      x.buffer = null;
    }
    const srcs = x.srcs;
    x.srcs = [];
    stack.push(...srcs);
  }
}
