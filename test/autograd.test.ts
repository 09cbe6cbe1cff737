/**
 * The autograd API: .grad accumulation, st.grad (with higher derivatives), grad modes, detach,
 * requiresGrad_, retainGrad, backward with an explicit gradient, and fan-out.
 */
import { describe, expect, it } from "vitest";
import * as st from "../src/index.ts";

const f64 = (data: number[], requiresGrad = true) => st.tensor(data, { dtype: "float64", requiresGrad });
const vals = async (t: st.Tensor | null): Promise<number[]> => {
  expect(t).not.toBeNull();
  return Array.from(await t!.data(), Number);
};
const close = (got: readonly number[], want: readonly number[], tol = 1e-12) => {
  expect(got.length).toBe(want.length);
  got.forEach((g, i) => expect(Math.abs(g - want[i]!), `[${i}] ${g} vs ${want[i]}`).toBeLessThanOrEqual(tol * (1 + Math.abs(want[i]!))));
};

describe("backward and .grad", () => {
  it("fills .grad of leaves that require grad, and only those", async () => {
    const x = f64([1, 2, 3]), c = f64([4, 5, 6], false);
    const y = x.mul(c).sum();
    y.backward();
    close(await vals(x.grad), [4, 5, 6]);
    expect(c.grad).toBeNull();
    expect(x.grad!.requiresGrad).toBe(false);
    expect(x.grad!.dtype).toBe("float64");
    expect(x.grad!.shape).toEqual([3]);
  });

  it("accumulates into .grad across backward calls, keeping the same tensor object", async () => {
    const x = f64([1, -2]);
    x.square().sum().backward();
    const g = x.grad!;
    close(await vals(g), [2, -4]);
    x.mul(3).sum().backward();
    expect(x.grad).toBe(g);
    close(await vals(x.grad), [5, -1]);
    x.grad = null; // zeroing, as an optimizer's zeroGrad does
    x.mul(3).sum().backward();
    close(await vals(x.grad), [3, 3]);
  });

  it("gradients of a tensor used twice add up", async () => {
    const x = f64([0.5, -1, 2]);
    // y = x*x + sin(x) + x  ->  dy/dx = 2x + cos(x) + 1
    x.mul(x).add(x.sin()).add(x).sum().backward();
    close(await vals(x.grad), [0.5, -1, 2].map((v) => 2 * v + Math.cos(v) + 1));
    // the same input on both sides of one op, through a view
    const w = f64([1, 2, 3, 4]);
    const m = w.reshape([2, 2]);
    m.matmul(m).sum().backward(); // d/dW sum(W W) = 1 Wᵀ + Wᵀ 1
    const W = [[1, 2], [3, 4]];
    const want: number[] = [];
    for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) want.push(W[j]![0]! + W[j]![1]! + W[0]![i]! + W[1]![i]!);
    close(await vals(w.grad), want);
  });

  it("backward of a non-scalar output takes the gradient argument (a vector-Jacobian product)", async () => {
    const x = f64([1, 2, 3]);
    const y = x.square(); // Jacobian diag(2x)
    y.backward(st.tensor([1, 0.5, -1], { dtype: "float64" }));
    close(await vals(x.grad), [2, 2, -6]);
    // without it: an error naming the shape
    const z = f64([1, 2]).mul(2);
    expect(() => z.backward()).toThrow(st.AutogradError);
    expect(() => z.backward()).toThrow(/scalar outputs.*\[2\]/);
    // a gradient of the wrong shape raises a ShapeError
    expect(() => f64([1, 2]).mul(2).backward(st.ones([3], { dtype: "float64" }))).toThrow(st.ShapeError);
  });

  it("a gradient argument of another float dtype is cast to the output's", async () => {
    const x = f64([1, 2]);
    x.mul(3).backward(st.tensor([1, 2])); // float32 gradient for a float64 output
    expect(x.grad!.dtype).toBe("float64");
    close(await vals(x.grad), [3, 6]);
  });

  it("backward on something that does not require grad raises", () => {
    const x = f64([1, 2], false);
    expect(() => x.sum().backward()).toThrow(st.AutogradError);
  });
});

describe("st.grad", () => {
  it("returns gradients without touching .grad", async () => {
    const x = f64([1, 2]), y = f64([3, 4]);
    const [gx, gy] = st.grad(x.mul(y).sum(), [x, y]);
    close(await vals(gx!), [3, 4]);
    close(await vals(gy!), [1, 2]);
    expect(x.grad).toBeNull();
    expect(y.grad).toBeNull();
  });

  it("createGraph gives second and third derivatives: x^3 -> 3x^2 -> 6x -> 6", async () => {
    const x = f64([-1.5, 0.5, 2, 3]);
    const [d1] = st.grad(x.pow(3).sum(), [x], { createGraph: true });
    expect(d1!.requiresGrad).toBe(true);
    close(await vals(d1!), [-1.5, 0.5, 2, 3].map((v) => 3 * v * v));
    const [d2] = st.grad(d1!.sum(), [x], { createGraph: true });
    close(await vals(d2!), [-1.5, 0.5, 2, 3].map((v) => 6 * v));
    const [d3] = st.grad(d2!.sum(), [x]);
    close(await vals(d3!), [6, 6, 6, 6]);
    expect(d3!.requiresGrad).toBe(false);
  });

  it("second derivatives through exp, mul and a reduction (a Hessian-vector product)", async () => {
    // f(x) = sum(exp(x) * x);  df = exp(x)(x + 1);  d2f = exp(x)(x + 2) on the diagonal
    const xs = [0.1, -0.7, 1.3];
    const x = f64(xs);
    const [g] = st.grad(x.exp().mul(x).sum(), [x], { createGraph: true });
    const v = st.tensor([1, 2, 3], { dtype: "float64" });
    const [hv] = st.grad(g!.mul(v).sum(), [x]);
    close(await vals(hv!), xs.map((a, i) => Math.exp(a) * (a + 2) * (i + 1)));
  });

  it("double backward into .grad with createGraph", async () => {
    const x = f64([2]);
    const y = x.pow(4).sum();
    y.backward(undefined, { createGraph: true }); // x.grad = 4x^3, still differentiable
    const g = x.grad!;
    close(await vals(g), [32]);
    expect(g.requiresGrad).toBe(true);
    const [h] = st.grad(g.sum(), [x]); // 12x^2
    close(await vals(h!), [48]);
  });

  it("unused inputs raise unless allowUnused; inputs must require grad", () => {
    const x = f64([1]), y = f64([2]);
    expect(() => st.grad(x.mul(2).sum(), [x, y])).toThrow(/allowUnused/);
    const [gx, gy] = st.grad(x.mul(2).sum(), [x, y], { allowUnused: true });
    expect(gx).not.toBeNull();
    expect(gy).toBeNull();
    expect(() => st.grad(x.mul(2).sum(), [f64([1], false)])).toThrow(st.AutogradError);
  });
});

describe("grad modes", () => {
  it("noGrad records nothing; enableGrad inside it records again", async () => {
    const x = f64([1, 2]);
    const y = st.noGrad(() => x.mul(2));
    expect(y.requiresGrad).toBe(false);
    expect(y.gradFn).toBeNull();
    expect(st.isGradEnabled()).toBe(true);
    const z = st.noGrad(() => {
      expect(st.isGradEnabled()).toBe(false);
      const inner = st.enableGrad(() => {
        expect(st.isGradEnabled()).toBe(true);
        return x.mul(3);
      });
      expect(st.isGradEnabled()).toBe(false);
      expect(inner.sum().requiresGrad).toBe(false); // made under noGrad again
      return inner;
    });
    expect(z.requiresGrad).toBe(true);
    z.sum().backward();
    close(await vals(x.grad), [3, 3]);
    close(await vals(y), [2, 4]); // values are computed all the same
  });

  it("the mode is restored when the block throws", () => {
    expect(() => st.noGrad(() => { throw new Error("boom"); })).toThrow("boom");
    expect(st.isGradEnabled()).toBe(true);
  });

  it("detach cuts the graph and keeps the values", async () => {
    const x = f64([1, 2, 3]);
    const h = x.mul(2);
    const d = h.detach();
    expect(d.requiresGrad).toBe(false);
    expect(d.isLeaf).toBe(true);
    close(await vals(d), [2, 4, 6]);
    // d(x * detach(x)) / dx = detach(x)
    x.mul(x.detach()).sum().backward();
    close(await vals(x.grad), [1, 2, 3]);
  });

  it("requiresGrad_ turns recording on for a leaf, only for float dtypes", async () => {
    const x = st.tensor([1, 2], { dtype: "float64" });
    expect(x.requiresGrad).toBe(false);
    expect(x.requiresGrad_()).toBe(x);
    expect(x.requiresGrad).toBe(true);
    x.mul(x).sum().backward();
    close(await vals(x.grad), [2, 4]);
    expect(() => st.tensor([1, 2], { dtype: "int64" }).requiresGrad_()).toThrow(st.AutogradError);
    // a non-leaf cannot stop requiring grad (detach is the way)
    expect(() => x.mul(2).requiresGrad_(false)).toThrow(/detach/);
    x.requiresGrad_(false);
    expect(x.mul(2).requiresGrad).toBe(false);
  });

  it("integer results (comparisons, argmax) carry no gradient", () => {
    const x = f64([1, 3, 2]);
    expect(x.gt(1).requiresGrad).toBe(false);
    expect(x.argmax().requiresGrad).toBe(false);
  });
});

describe("non-leaf gradients", () => {
  it("retainGrad keeps .grad on a non-leaf; without it .grad stays null", async () => {
    const x = f64([1, 2, 3]);
    const h = x.mul(2).retainGrad();
    const k = h.add(1);
    const y = k.square().sum(); // dy/dh = 2(h + 1)
    expect(h.isLeaf).toBe(false);
    y.backward();
    close(await vals(h.grad), [6, 10, 14]);
    expect(k.grad).toBeNull();
    close(await vals(x.grad), [12, 20, 28]);
  });

  it("retainGrad on a tensor that does not require grad raises", () => {
    expect(() => st.tensor([1]).retainGrad()).toThrow(st.AutogradError);
  });
});
