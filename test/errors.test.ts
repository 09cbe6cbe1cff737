/**
 * The StrataError family: what raises, when (at the call for shapes and dtypes; at realization
 * for out-of-range index values), with which class, and with a message that names the op and the
 * values involved. Also empty tensors, which must work rather than raise.
 */
import { describe, expect, it } from "vitest";
import * as st from "../src/index.ts";

const F = st.nn.functional;
const i64 = (data: number[] | number[][]) => st.tensor(data, { dtype: "int64" });

/** Runs `fn`, which must throw an instance of `cls` whose message matches `msg`; returns it. */
function raises(fn: () => unknown, cls: new (...a: never[]) => st.StrataError, msg: string | RegExp): st.StrataError {
  let err: unknown = null;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, "expected an error").toBeInstanceOf(cls);
  expect(err).toBeInstanceOf(st.StrataError);
  const m = (err as Error).message;
  if (typeof msg === "string") expect(m).toBe(msg);
  else expect(m).toMatch(msg);
  return err as st.StrataError;
}

/** Shape and dtype errors raise when the op is called: nothing has been scheduled or run. */
function raisesAtCall(fn: () => unknown, cls: new (...a: never[]) => st.StrataError, msg: string | RegExp): void {
  const before = st.engine.stats();
  raises(fn, cls, msg);
  expect(st.engine.stats().kernels).toBe(before.kernels);
}

describe("the error family", () => {
  it("every error class is a StrataError and an Error, with its own name", () => {
    const classes = [st.ShapeError, st.DTypeError, st.IndexError, st.ValueError, st.DeviceError, st.AutogradError, st.DisposedError];
    for (const C of classes) {
      const e = new C("m");
      expect(e).toBeInstanceOf(st.StrataError);
      expect(e).toBeInstanceOf(Error);
      expect(e.name).toBe(C.name);
    }
    expect(new st.StrataError("m").name).toBe("StrataError");
  });
});

describe("shape errors, raised at the call", () => {
  const a = () => st.randn([2, 3]);

  it("matmul names the shapes and the mismatched sizes", () => {
    raisesAtCall(() => st.zeros([2, 3]).matmul(st.zeros([4, 5])), st.ShapeError, "matmul: shapes [2, 3] and [4, 5] cannot be multiplied (3 != 4)");
    raisesAtCall(() => st.matmul(st.zeros([3]), st.zeros([4])), st.ShapeError, "matmul: shapes [3] and [4] cannot be multiplied (3 != 4)");
    raisesAtCall(() => st.zeros([2, 3, 4]).matmul(st.zeros([3, 4, 5])), st.ShapeError,
      "matmul: shapes [2, 3, 4] and [3, 4, 5] cannot be multiplied (batch dimensions [2] and [3] cannot be broadcast together)");
    raisesAtCall(() => st.zeros([]).matmul(st.zeros([2])), st.ShapeError, /matmul: both arguments need at least 1 dimension/);
    raisesAtCall(() => F.linear(st.zeros([2, 3]), st.zeros([4, 5])), st.ShapeError, "matmul: shapes [2, 3] and [5, 4] cannot be multiplied (3 != 5)");
    raisesAtCall(() => st.bmm(st.zeros([2, 3, 4]), st.zeros([3, 4, 5])), st.ShapeError, "bmm: batch sizes differ (2 != 3)");
  });

  it("broadcasting names the op, both shapes and the dimension", () => {
    raisesAtCall(() => a().add(st.zeros([4])), st.ShapeError, "add: shapes [2, 3] and [4] cannot be broadcast together (dimension -1: 3 vs 4)");
    raisesAtCall(() => a().mul(st.zeros([3, 3])), st.ShapeError, "mul: shapes [2, 3] and [3, 3] cannot be broadcast together (dimension -2: 2 vs 3)");
    raisesAtCall(() => st.where(st.zeros([2]).gt(0), st.zeros([3]), 0), st.ShapeError, /^where: shapes \[2\] and \[3\] cannot be broadcast/);
    raisesAtCall(() => a().expand([4, 3]), st.ShapeError, /^expand: the expanded size of the tensor \(4\) must match the existing size \(2\)/);
  });

  it("reshape, permute, cat, stack and split name the shapes", () => {
    raisesAtCall(() => a().reshape([4, 2]), st.ShapeError, "reshape: shape [4, 2] is invalid for input of size 6");
    raisesAtCall(() => a().reshape([-1, 4]), st.ShapeError, "reshape: shape [-1, 4] is invalid for input of size 6");
    raisesAtCall(() => a().reshape([-1, -1]), st.ValueError, /only one dimension can be inferred/);
    raisesAtCall(() => a().permute([0]), st.ShapeError, /^permute: number of dims don't match/);
    raisesAtCall(() => st.cat([st.zeros([2, 3]), st.zeros([2, 4])], 0), st.ShapeError,
      "cat: sizes of tensors must match except in dimension 0; expected [2, 3] (any size at dim 0) but got [2, 4] for tensor number 1 in the list");
    raisesAtCall(() => st.cat([]), st.ValueError, /non-empty list/);
    raisesAtCall(() => st.stack([st.zeros([2]), st.zeros([3])]), st.ShapeError, /stack: expects each tensor to be equal size, but got \[2\] at entry 0 and \[3\] at entry 1/);
    raisesAtCall(() => a().split([1, 1], 1), st.ShapeError, /split: split sizes \[1, 1\] sum to 2, but the input has 3/);
  });

  it("conv2d: channel mismatch, too-small input, bad weight rank", () => {
    raisesAtCall(() => F.conv2d(st.zeros([1, 3, 8, 8]), st.zeros([4, 2, 3, 3])), st.ShapeError,
      "conv2d: given groups=1, weight of size [4, 2, 3, 3], expected input [1, 3, 8, 8] to have 2 channels, but got 3 channels instead");
    raisesAtCall(() => F.conv2d(st.zeros([1, 3, 2, 2]), st.zeros([4, 3, 3, 3])), st.ShapeError, /conv2d: input \[1, 3, 2, 2\] is too small for kernel \[3, 3\]/);
    raisesAtCall(() => F.conv2d(st.zeros([1, 3, 8, 8]), st.zeros([4, 3, 3])), st.ShapeError, /conv2d: expected a 4-D weight/);
    raisesAtCall(() => F.conv2d(st.zeros([3, 8]), st.zeros([4, 3, 3, 3])), st.ShapeError, /conv2d: expected a 3-D \(unbatched\) or 4-D \(batched\) input, got \[3, 8\]/);
  });

  it("gather and scatterAdd: index dims must fit", () => {
    raisesAtCall(() => a().gather(1, i64([0, 1])), st.ShapeError, "gather: index [2] must have as many dims as the input [2, 3]");
    raisesAtCall(() => a().gather(1, i64([[0], [1], [2]])), st.ShapeError, /gather: size of index \[3, 1\] does not fit the input \[2, 3\] at dim 0 \(3 > 2\)/);
    raisesAtCall(() => st.zeros([3]).scatterAdd(0, i64([[0]]), st.ones([1])), st.ShapeError, /scatterAdd: index \[1, 1\], src \[1\] and input \[3\]/);
    raisesAtCall(() => a().indexSelect(0, i64([[0]])), st.ShapeError, /indexSelect: index must be 0-D or 1-D/);
  });

  it("losses check target shapes", () => {
    raisesAtCall(() => F.mseLoss(st.zeros([2, 3]), st.zeros([3, 2])), st.ShapeError, "mseLoss: target size [3, 2] must be the same as input size [2, 3]");
    raisesAtCall(() => F.crossEntropy(st.zeros([4, 3]), i64([0, 1, 2])), st.ShapeError, "nllLoss: expected target of shape [4] for input [4, 3], got [3]");
    raisesAtCall(() => F.crossEntropy(st.zeros([4, 3]), st.zeros([4])), st.ShapeError, /^crossEntropy: .*\[4, 3\].*\[4\]/);
  });

  it("backward's gradient must match the output's shape", () => {
    const x = st.ones([2], { requiresGrad: true });
    raises(() => x.mul(2).backward(st.ones([3])), st.ShapeError, "backward: gradient of shape [3] does not match the output of shape [2]");
  });
});

describe("dtype errors, raised at the call", () => {
  it("where needs a bool condition", () => {
    raisesAtCall(() => st.where(st.zeros([2]), st.zeros([2]), 1), st.DTypeError, "where: expected condition to be a bool tensor, got float32");
    raisesAtCall(() => st.zeros([2]).maskedFill(st.zeros([2], { dtype: "int32" }), 1), st.DTypeError, /got int32/);
  });

  it("mean and var of integers raise (no silent cast)", () => {
    raisesAtCall(() => st.zeros([2], { dtype: "int32" }).mean(), st.DTypeError, "mean: could not infer output dtype; input dtype must be floating point, got int32");
    raisesAtCall(() => st.arange(4).var(), st.DTypeError, /var: expected a floating point input, got int64/);
  });

  it("matmul and conv of two dtypes raise rather than cast one operand", () => {
    raisesAtCall(() => st.zeros([2, 3]).matmul(st.zeros([3, 2], { dtype: "float64" })), st.DTypeError,
      "matmul: expected both operands to have the same dtype, but got float32 and float64");
    raisesAtCall(() => F.conv2d(st.zeros([1, 3, 8, 8]), st.zeros([4, 3, 3, 3], { dtype: "float64" })), st.DTypeError,
      "conv2d: input (float32) and weight (float64) must have the same dtype");
  });

  it("crossEntropy: float logits; integer class targets or float probabilities of the input's shape", () => {
    raisesAtCall(() => F.crossEntropy(st.zeros([4, 3], { dtype: "int64" }), i64([0, 1, 2, 0])), st.DTypeError, "crossEntropy: expected floating point logits, got int64");
    raisesAtCall(() => F.nllLoss(st.zeros([4, 3]), st.zeros([4])), st.DTypeError, /nllLoss: expected target of an integer dtype \(class indices, int64\), got float32/);
    raisesAtCall(() => F.crossEntropy(st.zeros([4, 3]), st.tensor([true, false, true, true])), st.DTypeError, /got bool/);
    // float targets of the input's shape are class probabilities, and work
    const p = st.tensor([[0.2, 0.8], [1, 0]]);
    const l = F.crossEntropy(st.zeros([2, 2]), p);
    expect(l.itemSync()).toBeCloseTo(Math.log(2), 6);
  });

  it("indices must be integers; gradients only for floats; unknown dtypes", () => {
    raisesAtCall(() => st.randn([2, 3]).gather(1, st.zeros([2, 1])), st.DTypeError, "gather: expected an integer index tensor (int64 or int32), got float32");
    raisesAtCall(() => st.randn([2, 3]).indexSelect(0, st.zeros([1])), st.DTypeError, /indexSelect: expected an integer index tensor/);
    raises(() => st.zeros([2], { dtype: "int32", requiresGrad: true }), st.AutogradError, /only tensors of floating point dtype can require gradients \(got int32\)/);
    raises(() => st.zeros([2], { dtype: "complex64" as st.DType }), st.DTypeError, /full: unknown dtype 'complex64'/);
    raises(() => st.arange(3, undefined, 1, { dtype: "int16" as st.DType }), st.DTypeError, /arange: unknown dtype 'int16'/);
    raises(() => st.rand([2], { dtype: "float8" as st.DType }), st.DTypeError, /rand: unknown dtype 'float8'/);
    raises(() => st.tensor([1], { dtype: "float8" as st.DType }), st.DTypeError, /tensor: unknown dtype 'float8'/);
  });
});

describe("index errors", () => {
  it("dims out of range (normDim) raise IndexError with PyTorch's message", () => {
    const x = st.zeros([2, 3]);
    raisesAtCall(() => x.sum(2), st.IndexError, "sum: dimension out of range (expected to be in range of [-2, 1], but got 2)");
    raisesAtCall(() => x.sum(-3), st.IndexError, "sum: dimension out of range (expected to be in range of [-2, 1], but got -3)");
    raisesAtCall(() => x.softmax(5), st.IndexError, /^softmax: dimension out of range/);
    raisesAtCall(() => x.transpose(0, 2), st.IndexError, /^transpose: dimension out of range/);
    raisesAtCall(() => x.unsqueeze(4), st.IndexError, /^unsqueeze: dimension out of range \(expected to be in range of \[-3, 2\], but got 4\)/);
    raisesAtCall(() => st.cat([x, x], 2), st.IndexError, /^cat: dimension out of range/);
    raisesAtCall(() => x.size(2), st.IndexError, /^size: dimension out of range/);
    raisesAtCall(() => x.sum([0, 0]), st.ValueError, /appears more than once/);
  });

  it("index(): integers out of range and too many indices raise at the call", () => {
    const x = st.zeros([2, 3]);
    raisesAtCall(() => x.index(2), st.IndexError, "index: index 2 is out of bounds for dimension 0 with size 2");
    raisesAtCall(() => x.index(0, -4), st.IndexError, "index: index -4 is out of bounds for dimension 1 with size 3");
    raisesAtCall(() => x.index(0, 0, 0), st.IndexError, "index: too many indices for tensor of dimension 2 (got 3)");
    raisesAtCall(() => x.index("...", 0, "..."), st.IndexError, /single ellipsis/);
    raisesAtCall(() => x.narrow(1, 2, 2), st.IndexError, /narrow: start \(2\) \+ length \(2\) exceeds dimension size \(3\)/);
    // in range, negative indices count from the end
    expect(st.arange(6).reshape([2, 3]).index(-1, -1).itemSync()).toBe(5);
  });

  it("out-of-range index values raise IndexError when the graph runs (gather, indexSelect, scatterAdd)", () => {
    const x = st.randn([2, 3]);
    const g = x.gather(1, i64([[0], [3]])); // building is fine: the values are not known yet
    raises(() => g.realize(), st.IndexError, "gather: index 3 is out of bounds for dimension with size 3");
    raises(() => x.gather(1, i64([[-1], [0]])).dataSync(), st.IndexError, "gather: index -1 is out of bounds for dimension with size 3");
    raises(() => x.indexSelect(0, i64([0, 2])).dataSync(), st.IndexError, /index 2 is out of bounds for dimension with size 2/);
    raises(() => st.zeros([3]).scatterAdd(0, i64([0, 7]), st.ones([2])).dataSync(), st.IndexError, "scatterAdd: index 7 is out of bounds for dimension with size 3");
    raises(() => x.index(i64([5])).dataSync(), st.IndexError, /index 5 is out of bounds for dimension with size 2/);
    raises(() => F.embedding(i64([1, 9]), st.randn([4, 2])).dataSync(), st.IndexError, /index 9 is out of bounds for dimension with size 4/);
    raises(() => F.crossEntropy(st.randn([4, 3]), i64([0, 1, 5, 2])).dataSync(), st.IndexError, /index 5 is out of bounds for dimension with size 3/);
  });

  it("the index is checked even when the gathered value does not depend on it", () => {
    // a constant source, a broadcast source and a size-1 dim all fold the index away
    raises(() => st.zeros([2, 3]).gather(1, i64([[0], [3]])).dataSync(), st.IndexError, /index 3 is out of bounds/);
    raises(() => st.full([3, 2], 7).indexSelect(0, i64([1, 3])).dataSync(), st.IndexError, /index 3 is out of bounds/);
    raises(() => st.randn([1, 3]).expand([4, 3]).gather(0, i64([[0, 1, 9]])).dataSync(), st.IndexError, /index 9 is out of bounds for dimension with size 4/);
    raises(() => st.randn([2, 1]).gather(1, i64([[0], [5]])).dataSync(), st.IndexError, /index 5 is out of bounds for dimension with size 1/);
    expect(st.full([3, 2], 7).indexSelect(0, i64([2, 0])).tolistSync()).toEqual([[7, 7], [7, 7]]);
  });

  it("a failed realization leaks no buffers, and the tensor can be rebuilt with good indices", () => {
    const x = st.randn([4, 3]).realize();
    const before = st.memory().js!.buffers;
    const bad = st.scope(() => {
      const idx = i64([[0], [1], [2], [8]]);
      expect(() => x.exp().gather(1, idx).sum().realize()).toThrow(st.IndexError);
      return null;
    });
    expect(bad).toBeNull();
    expect(st.memory().js!.buffers).toBe(before);
    const ok = x.gather(1, i64([[0], [1], [2], [2]]));
    const X = x.dataSync() as Float32Array;
    expect(Array.from(ok.dataSync() as Float32Array)).toEqual([X[0], X[4], X[8], X[11]]);
  });
});

describe("empty tensors work", () => {
  it("sum of an empty tensor is 0; prod is 1; mean is NaN (as PyTorch)", () => {
    expect(st.zeros([0]).sum().itemSync()).toBe(0);
    expect(st.zeros([0, 3]).sum().itemSync()).toBe(0);
    expect(st.zeros([0], { dtype: "int64" }).sum().itemSync()).toBe(0);
    expect(st.zeros([0]).prod().itemSync()).toBe(1);
    expect(Number.isNaN(st.zeros([0]).mean().itemSync())).toBe(true);
  });

  it("elementwise ops, views and reductions over [0, 3]", () => {
    const e = st.zeros([0, 3]);
    const y = e.exp().add(st.ones([3])).mul(2);
    expect(y.shape).toEqual([0, 3]);
    expect(y.dataSync()).toHaveLength(0);
    expect(y.tolistSync()).toEqual([]);
    expect(y.sum(0).tolistSync()).toEqual([0, 0, 0]);
    expect(y.sum(1).shape).toEqual([0]);
    expect(y.t().shape).toEqual([3, 0]);
    expect(y.reshape([3, 0, 1]).shape).toEqual([3, 0, 1]);
    expect(st.cat([e, st.ones([2, 3])], 0).tolistSync()).toEqual([[1, 1, 1], [1, 1, 1]]);
    expect(y.amax(1).shape).toEqual([0]); // reducing a non-empty dim of an empty tensor is fine
  });

  it("matmul with K = 0 gives zeros; with M = 0 an empty result", () => {
    expect(st.ones([2, 0]).matmul(st.ones([0, 3])).tolistSync()).toEqual([[0, 0, 0], [0, 0, 0]]);
    expect(st.ones([0, 4]).matmul(st.ones([4, 3])).shape).toEqual([0, 3]);
    const x = st.ones([2, 0], { requiresGrad: true });
    x.matmul(st.ones([0, 3])).sum().backward();
    expect(x.grad!.shape).toEqual([2, 0]);
  });

  it("amax, max, argmax of an empty dim raise IndexError", () => {
    raises(() => st.zeros([0]).amax(), st.IndexError, "amax: expected reduction dim 0 to have non-zero size");
    raises(() => st.zeros([0, 3]).max(0), st.IndexError, /expected reduction dim 0 to have non-zero size/);
    raises(() => st.zeros([0]).argmax(), st.IndexError, /argmax: expected reduction dim 0 to have non-zero size/);
    raises(() => st.zeros([3, 0]).amin(1), st.IndexError, /reduction dim 1/);
  });
});

describe("autograd misuse", () => {
  it("an in-place op on a leaf that requires grad raises (outside noGrad)", () => {
    const w = st.ones([2], { requiresGrad: true });
    raises(() => w.add_(1), st.AutogradError, /add_: a tensor that requires grad cannot be changed in place while gradients are recorded/);
    raises(() => w.zero_(), st.AutogradError, /fill_/);
    // under noGrad it is the way to update parameters
    st.noGrad(() => w.sub_(0.5));
    expect(w.tolistSync()).toEqual([0.5, 0.5]);
    expect(w.requiresGrad).toBe(true);
  });

  it("backward twice raises unless the first kept the graph (retainGraph)", () => {
    const x = st.tensor([1, 2], { dtype: "float64", requiresGrad: true });
    const y = x.exp().sum();
    y.backward();
    raises(() => y.backward(), st.AutogradError, /backward through the graph a second time.*retainGraph: true/);
    const x2 = st.tensor([1, 2], { dtype: "float64", requiresGrad: true });
    const y2 = x2.exp().sum();
    y2.backward(undefined, { retainGraph: true });
    y2.backward();
    expect(x2.grad!.tolistSync()).toEqual([2 * Math.E, 2 * Math.exp(2)]);
  });

  it("changing a saved tensor in place after the op raises at backward", () => {
    // a constant factor changed after use: d(x * c)/dx needs the old c
    const x = st.ones([2], { requiresGrad: true });
    const c = st.tensor([2, 3]);
    const y = x.mul(c).sum();
    c.mul_(10); // allowed: c does not require grad
    raises(() => y.backward(), st.AutogradError, /modified by an in-place operation \(version 1, expected 0\)/);
    // an intermediate changed under noGrad
    const w = st.ones([2], { requiresGrad: true });
    const h = w.mul(3);
    const z = h.mul(h).sum();
    st.noGrad(() => h.add_(1));
    raises(() => z.backward(), st.AutogradError, /one of the tensors needed for gradient computation .* has been modified by an in-place operation/);
  });
});

describe("other misuse", () => {
  it("a disposed tensor raises DisposedError; item() of many elements raises ValueError", () => {
    const x = st.ones([2]);
    x.dispose();
    raises(() => x.add(1), st.DisposedError, /disposed/);
    raises(() => st.ones([2]).itemSync(), st.ValueError, "item(): a tensor with 2 elements cannot be converted to a scalar");
  });
  it("unknown devices raise DeviceError; bad sizes raise ValueError", () => {
    raises(() => st.ones([2]).to("tpu"), st.DeviceError, /device 'tpu' is not available \(known: js/);
    raises(() => st.zeros([-1]), st.ValueError, "full: invalid shape [-1] (sizes must be non-negative integers)");
    raises(() => st.arange(0, 5, 0), st.ValueError, /step must be nonzero/);
  });
});
