/**
 * Memory: buffers are freed deterministically by st.scope and dispose() / `using`, training
 * loops run flat, `.grad` outlives the scope that made it, and the FinalizationRegistry is the
 * backstop for tensors nobody disposed.
 */
import v8 from "node:v8";
import vm from "node:vm";
import { describe, expect, it } from "vitest";
import * as st from "../src/index.ts";

const buffers = (): number => st.memory().js?.buffers ?? 0;
const bytes = (): number => st.memory().js?.bytes ?? 0;

/** The engine's garbage collector hook, when this Node lets us have it. */
function getGc(): (() => void) | null {
  try {
    v8.setFlagsFromString("--expose-gc");
    const gc = vm.runInNewContext("gc") as unknown;
    return typeof gc === "function" ? (gc as () => void) : null;
  } catch {
    return null;
  }
}
const gc = getGc();

/**
 * Collects garbage and lets the FinalizationRegistry callbacks run, until the live buffer count
 * has settled (the same over three rounds).
 */
async function collect(): Promise<void> {
  let last = -1, same = 0;
  for (let i = 0; i < 50 && same < 3; i++) {
    gc!();
    await new Promise((r) => setTimeout(r, 2));
    const n = buffers();
    same = n === last ? same + 1 : 0;
    last = n;
  }
}

/** A small linear regression: the data and two parameters, all realized. */
function regression() {
  st.manualSeed(0);
  const x = st.randn([8, 4]).realize();
  const trueW = st.tensor([[1], [-2], [0.5], [3]]);
  const y = st.scope(() => x.matmul(trueW).add(0.25).realize());
  trueW.dispose();
  const w = st.zeros([4, 1], { requiresGrad: true }).realize();
  const b = st.zeros([1], { requiresGrad: true }).realize();
  return { x, y, w, b };
}

describe("a training loop runs flat", () => {
  it("10,000 steps with st.scope per step: the live buffer count never grows (no GC involved)", () => {
    const start = buffers(); // a synchronous test: no finalizer runs until it ends
    const { x, y, w, b } = regression();
    const step = (): number =>
      st.scope(() => {
        const loss = x.matmul(w).add(b).sub(y).square().mean();
        w.grad = null; // PyTorch's zeroGrad: the old gradient is let go, and this scope frees it
        b.grad = null;
        loss.backward();
        st.noGrad(() => {
          w.sub_(w.grad!.mul(0.05));
          b.sub_(b.grad!.mul(0.05));
        });
        st.realize(w, b); // as an optimizer's step() does: the update runs now
        return Number(loss.itemSync());
      });
    const first = step();
    for (let i = 0; i < 49; i++) step();
    const warm = buffers(), warmBytes = bytes();
    // x, y, w, b and the two gradients
    expect(warm - start).toBe(6);
    let last = first;
    for (let i = 1; i <= 10_000; i++) {
      last = step();
      // checked along the way too: the loop is synchronous, so no finalizer can have helped
      if (i % 2500 === 0) expect(buffers(), `after ${i} steps`).toBe(warm);
    }
    expect(buffers()).toBe(warm);
    expect(bytes()).toBe(warmBytes);
    // and it trained: the data are exactly linear, so the loss goes to ~0
    expect(last).toBeLessThan(first * 1e-4);
    const wv = Array.from(w.dataSync() as Float32Array);
    [1, -2, 0.5, 3].forEach((v, i) => expect(wv[i]).toBeCloseTo(v, 3));
    expect(Number(b.itemSync())).toBeCloseTo(0.25, 3);
  });

  it.skipIf(!gc)("10,000 steps with `using` and dispose(): flat once internal temporaries are collected", async () => {
    await collect();
    const start = buffers();
    const { x, y, w, b } = regression();
    const step = (): number => {
      // Everything this code names is disposed at the end of the block. The temporaries that ops
      // make inside (broadcast views, the pieces of mean()) are left to the FinalizationRegistry.
      using h = x.matmul(w);
      using pred = h.add(b);
      using diff = pred.sub(y);
      using sq = diff.square();
      using loss = sq.mean();
      for (const p of [w, b]) {
        p.grad?.dispose();
        p.grad = null;
      }
      loss.backward();
      st.noGrad(() => {
        using gw = w.grad!.mul(0.05);
        using gb = b.grad!.mul(0.05);
        w.sub_(gw);
        b.sub_(gb);
      });
      st.realize(w, b);
      expect(loss.isDisposed).toBe(false);
      return Number(loss.itemSync());
    };
    const first = step();
    for (let i = 0; i < 49; i++) step();
    await collect();
    const warm = buffers();
    expect(warm - start).toBe(6);
    let last = first;
    for (let i = 0; i < 10_000; i++) last = step();
    await collect();
    expect(buffers()).toBe(warm);
    expect(last).toBeLessThan(first * 1e-4);
  });
});

describe("dispose and using", () => {
  it("dispose frees the buffer now; using it afterwards raises DisposedError", () => {
    const before = buffers();
    const t = st.ones([1000]).realize();
    expect(buffers()).toBe(before + 1);
    t.dispose();
    expect(buffers()).toBe(before);
    expect(t.isDisposed).toBe(true);
    expect(() => t.add(1)).toThrow(st.DisposedError);
    expect(() => t.shape).toThrow(st.DisposedError);
    expect(() => t.dataSync()).toThrow(/disposed/);
    expect(() => t.dispose()).not.toThrow(); // twice is fine
    expect(t.toString()).toBe("tensor(<disposed>)");
  });

  it("a `using` declaration disposes at the end of its block", () => {
    const before = buffers();
    let escaped: st.Tensor;
    {
      using t = st.arange(10).realize();
      escaped = t;
      expect(buffers()).toBe(before + 1);
      expect(t.tolistSync()).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    }
    expect(escaped.isDisposed).toBe(true);
    expect(buffers()).toBe(before);
  });

  it("a buffer lives while any tensor or pending computation still needs it", () => {
    const before = buffers();
    const a = st.tensor([1, 2, 3]);
    const view = a.detach(); // shares a's node
    const later = a.mul(10); // not computed yet: it still needs a's buffer
    a.dispose();
    expect(buffers()).toBe(before + 1);
    expect(view.tolistSync()).toEqual([1, 2, 3]);
    view.dispose();
    expect(buffers()).toBe(before + 1); // `later` holds it
    expect(later.tolistSync()).toEqual([10, 20, 30]);
    expect(buffers()).toBe(before + 1); // later's own result now; a's buffer is gone
    later.dispose();
    expect(buffers()).toBe(before);
  });

  it("memory() counts bytes by dtype and keeps the peak", () => {
    const b0 = bytes();
    const f = st.zeros([1000]).realize(), d = st.zeros([1000], { dtype: "float64" }).realize();
    const h = st.zeros([1000], { dtype: "float16" }).realize(), i = st.zeros([1000], { dtype: "int64" }).realize();
    expect(bytes() - b0).toBe(4000 + 8000 + 2000 + 8000);
    expect(st.memory().js!.peakBytes).toBeGreaterThanOrEqual(bytes());
    for (const t of [f, d, h, i]) t.dispose();
    expect(bytes()).toBe(b0);
  });

  it("in-place updates leave nothing behind, even outside any scope", () => {
    const p = st.zeros([16]).realize();
    const g = st.ones([16]).realize();
    const before = buffers();
    for (let i = 0; i < 500; i++) {
      p.sub_(g, { alpha: 0.5 });
      p.mul_(0.9);
      p.clamp_(-100, 100);
      p.realize();
    }
    expect(buffers()).toBe(before);
    expect(Number(p.sum().itemSync())).toBeCloseTo(16 * (-0.5 * (1 - 0.9 ** 500) * 0.9 / 0.1), 3);
  });
});

describe("st.scope", () => {
  it("frees what the block made, except what it returns (directly, in arrays, objects and Maps)", () => {
    const before = buffers();
    const inner: st.Tensor[] = [];
    const out = st.scope(() => {
      const a = st.ones([4]).realize(), b = st.ones([5]).realize(), c = st.ones([6]).realize();
      const d = st.ones([7]).realize(), e = st.ones([8]).realize();
      inner.push(e);
      return { a, list: [b, { deep: c }], map: new Map([["d", d]]) };
    });
    expect(inner[0]!.isDisposed).toBe(true);
    expect(out.a.isDisposed).toBe(false);
    expect((out.list[0] as st.Tensor).shape).toEqual([5]);
    expect(((out.list[1] as { deep: st.Tensor }).deep).shape).toEqual([6]);
    expect(out.map.get("d")!.shape).toEqual([7]);
    expect(buffers()).toBe(before + 4);
    const single = st.scope(() => st.ones([3]).add(1));
    expect(single.tolistSync()).toEqual([2, 2, 2]);
    for (const t of [out.a, out.list[0] as st.Tensor, (out.list[1] as { deep: st.Tensor }).deep, out.map.get("d")!, single]) t.dispose();
    expect(buffers()).toBe(before);
  });

  it("scopes nest: what an inner scope returns belongs to the outer one", () => {
    const before = buffers();
    let fromInner: st.Tensor | null = null;
    const kept = st.scope(() => {
      fromInner = st.scope(() => {
        st.ones([2]).realize(); // freed when the inner scope ends
        return st.ones([3]).realize();
      });
      expect(buffers()).toBe(before + 1);
      const k = fromInner.mul(2).realize();
      return k;
    });
    expect(fromInner!.isDisposed).toBe(true); // the outer scope did not return it
    expect(kept.tolistSync()).toEqual([2, 2, 2]);
    expect(buffers()).toBe(before + 1);
    kept.dispose();
    expect(buffers()).toBe(before);
  });

  it("frees what it made when the block throws, and rethrows", () => {
    const before = buffers();
    let made: st.Tensor | null = null;
    expect(() =>
      st.scope(() => {
        made = st.ones([3]).realize();
        throw new Error("boom");
      }),
    ).toThrow("boom");
    expect(made!.isDisposed).toBe(true);
    expect(buffers()).toBe(before);
  });

  it("awaits an async block before freeing", async () => {
    const before = buffers();
    const r = await st.scope(async () => {
      const a = st.ones([4]).realize();
      await new Promise((res) => setTimeout(res, 1));
      return a.add(1).sum().item();
    });
    expect(r).toBe(8);
    expect(buffers()).toBe(before);
  });

  it(".grad survives the scope it was made in (pinned), and accumulates across scopes", () => {
    const w = st.tensor([1, 2, 3], { requiresGrad: true });
    const x = st.tensor([4, 5, 6]);
    st.scope(() => {
      w.mul(x).sum().backward();
    });
    const g = w.grad!;
    expect(g.isDisposed).toBe(false);
    expect(g.pinned).toBe(true);
    expect(g.tolistSync()).toEqual([4, 5, 6]);
    st.scope(() => {
      w.mul(x).sum().backward();
    });
    expect(w.grad).toBe(g);
    expect(g.tolistSync()).toEqual([8, 10, 12]);
  });

  it("clearing .grad inside a scope frees the old gradient at the scope's end", () => {
    const w = st.tensor([1, 2], { requiresGrad: true }).realize();
    w.square().sum().backward();
    const before = buffers();
    const old = w.grad!;
    st.scope(() => {
      w.grad = null;
    });
    expect(old.isDisposed).toBe(true);
    expect(old.pinned).toBe(false);
    expect(buffers()).toBe(before - 1);
    // disposing a tensor disposes the gradient it owns
    w.square().sum().backward();
    const g = w.grad!;
    w.dispose();
    expect(g.isDisposed).toBe(true);
  });

  it("a tensor returned from a scope can still be backpropagated (its history is kept)", () => {
    const w = st.tensor([[1, 2], [3, 4]], { requiresGrad: true });
    const x = st.tensor([[1, 1], [0, 2]]);
    const loss = st.scope(() => x.matmul(w).relu().mean());
    loss.backward(); // d mean(x w) / dw = xᵀ 1 / 4
    expect(w.grad!.tolistSync()).toEqual([[0.25, 0.25], [0.75, 0.75]]);
  });

  it("backward frees its own intermediate tensors", () => {
    const w = st.randn([16, 16], { requiresGrad: true }).realize();
    const x = st.randn([4, 16]).realize();
    const h = st.scope(() => x.matmul(w).tanh().matmul(w).sigmoid().sum());
    h.backward(undefined, { retainGraph: true }); // makes w.grad
    const before = buffers();
    for (let i = 0; i < 5; i++) {
      // accumulates into the same w.grad; the gradient graph it built on the way is freed
      h.backward(undefined, { retainGraph: true });
      expect(buffers()).toBe(before);
    }
  });
});

describe("the FinalizationRegistry backstop", () => {
  it.skipIf(!gc)("frees the buffers of tensors that were dropped without dispose", async () => {
    await collect();
    const before = buffers();
    (() => {
      for (let i = 0; i < 200; i++) st.randn([64]).add(1).realize();
    })();
    expect(buffers()).toBe(before + 200);
    await collect();
    expect(buffers()).toBe(before);
  });

  it.skipIf(!gc)("a collected tensor does not free a buffer that another tensor still uses", async () => {
    const keep = (() => {
      const a = st.arange(5).to("float32").realize();
      return a.detach(); // the same node, another tensor
    })();
    await collect();
    expect(keep.tolistSync()).toEqual([0, 1, 2, 3, 4]);
  });
});
