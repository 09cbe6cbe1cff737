/**
 * Merging a kernel's output dims (src/ir/merge-dims.ts): which dims merge, for kernels the
 * scheduler really builds, and that each merged kernel writes exactly what the unmerged one
 * writes, run on the js backend from the same inputs.
 */
import { describe, expect, it } from "vitest";
import * as st from "../src/index.ts";
import { JsBackend } from "../src/backends/js/backend.ts";
import { mergeDims } from "../src/ir/merge-dims.ts";
import type { Kernel } from "../src/ir/kernel.ts";

/** The kernels (not routines) the scheduler plans for `t`, on the js device. */
function kernels(t: st.Tensor): Kernel[] {
  return st.engine.schedule(t).flatMap((it) => (it.kind === "kernel" ? [it.kernel] : []));
}

/** Runs k on the js backend with deterministic inputs; returns the output. */
function runJs(k: Kernel): number[] {
  const js = new JsBackend();
  const bufs = k.bufs.map((b, i) => {
    const buf = js.alloc(b.dtype, b.size);
    const vals = Array.from({ length: b.size }, (_, j) => (b.dtype === "bool" ? (j * 7 + i) % 3 === 0 ? 1 : 0 : b.dtype.startsWith("int") ? (j * 5 + i) % 4 : Math.sin(j * 1.3 + i) * 3));
    if (i > 0) js.write(buf, b.dtype === "int64" ? vals.map(BigInt) : vals);
    return buf;
  });
  js.run(js.compile(k), bufs, k.scalars);
  return Array.from(js.readSync(bufs[0]!) as ArrayLike<number>, Number);
}

const CASES: [string, () => st.Tensor, number[][]][] = [
  ["a contiguous elementwise op: one loop", () => st.rand([4, 3, 5, 5]).mul(2), [[300]]],
  ["a bias along dim 1: the dims after it merge, not the ones around it", () => st.rand([4, 3, 5, 5]).add(st.rand([1, 3, 1, 1])), [[4, 3, 25]]],
  ["a transposed read: only the dims that stay in order merge", () => st.rand([2, 3, 4, 5]).permute([0, 2, 1, 3]).contiguous(), [[2, 4, 3, 5]]],
  ["leading batch dims of a permute merge", () => st.rand([2, 3, 4, 5]).permute([0, 1, 3, 2]).contiguous(), [[6, 5, 4]]],
  ["a reduction keeps its reduced dims; the outputs merge", () => st.rand([3, 4, 6]).sum(-1, { keepdim: true }).add(1), [[12]]],
  ["a window's un-windowing keeps the dims it divides", () =>
    st.rand([2, 3, 4, 4]).reshape([2, 3, 4, 1, 4, 1]).expand([2, 3, 4, 2, 4, 2]).reshape([2, 3, 8, 8]).add(st.rand([2, 3, 8, 8])), [[6, 8, 8]]],
];

describe("mergeDims", () => {
  for (const [name, build, shapes] of CASES) {
    it(name, () => {
      st.device("js");
      const ks = kernels(build());
      expect(ks.length).toBeGreaterThan(0);
      for (const k of ks) {
        const m = mergeDims(k);
        expect(m.shape.reduce((a, b) => a * b, 1), "same number of outputs").toBe(k.shape.reduce((a, b) => a * b, 1));
        expect(runJs(m), `kernel [${k.shape}] merged to [${m.shape}]`).toEqual(runJs(k));
      }
      const merged = ks.map((k) => mergeDims(k).shape);
      for (const s of shapes) expect(merged).toContainEqual(s);
    });
  }

  it("leaves a kernel alone when no dims merge", () => {
    st.device("js");
    const [k] = kernels(st.rand([3, 5]).t().contiguous());
    expect(mergeDims(k!)).toBe(k);
  });
});
