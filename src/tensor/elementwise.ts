/**
 * Elementwise ops with PyTorch's broadcasting and type promotion, composed from the primitives.
 */
import { type DType, DTYPES, isFloat, kindOf, promoteTypes, scalarKind, type DTypeKind } from "../ir/dtype.ts";
import { DTypeError } from "../ir/errors.ts";
import type { BinaryPrim } from "../ir/ops.ts";
import { broadcastShapes } from "../ir/shape.ts";
import { apply } from "./apply.ts";
import { scalar } from "./create.ts";
import { expand } from "./movement.ts";
import { type Scalar, Tensor, type TensorOrScalar } from "./tensor.ts";

const KIND_RANK: Record<DTypeKind, number> = { bool: 0, int: 1, float: 2 };
const DEFAULT_OF_KIND: Record<DTypeKind, DType> = { bool: "bool", int: "int64", float: "float32" };

/** PyTorch's `result_type`: tensors with dims lead, 0-d tensors and scalars only raise the kind. */
export function resultType(...xs: TensorOrScalar[]): DType {
  let dimT: DType | null = null, zeroT: DType | null = null, scal: DTypeKind | null = null;
  for (const x of xs) {
    if (x instanceof Tensor) {
      if (x.ndim > 0) dimT = dimT ? promoteTypes(dimT, x.dtype) : x.dtype;
      else zeroT = zeroT ? promoteTypes(zeroT, x.dtype) : x.dtype;
    } else {
      const k = scalarKind(x);
      scal = scal === null || KIND_RANK[k] > KIND_RANK[scal] ? k : scal;
    }
  }
  let r = dimT;
  if (zeroT && (!r || KIND_RANK[kindOf(zeroT)] > KIND_RANK[kindOf(r)])) r = zeroT;
  if (scal && (!r || KIND_RANK[scal] > KIND_RANK[kindOf(r)])) r = DEFAULT_OF_KIND[scal];
  return r ?? "float32";
}

/** A scalar as a 0-d tensor beside `like` (same device), or the tensor itself. */
export function asTensor(x: TensorOrScalar, like: Tensor, dtype?: DType): Tensor {
  if (x instanceof Tensor) return x;
  return scalar(x, dtype ?? resultType(like, x), like.device);
}

export function cast(x: Tensor, dtype: DType): Tensor {
  if (!(dtype in DTYPES)) throw new DTypeError(`to: unknown dtype '${dtype}'`);
  return x.dtype === dtype ? x : apply("cast", [x], { dtype });
}

/** Both operands as tensors of one dtype and one broadcast shape. */
export function broadcastPair(op: string, a: TensorOrScalar, b: TensorOrScalar, dtype?: DType): [Tensor, Tensor] {
  const like = a instanceof Tensor ? a : (b as Tensor);
  const dt = dtype ?? resultType(a, b);
  let x = cast(asTensor(a, like, dt), dt), y = cast(asTensor(b, like, dt), dt);
  const shape = broadcastShapes(op, x.shape, y.shape);
  x = expand(x, shape);
  y = expand(y, shape);
  return [x, y];
}

function binary(prim: BinaryPrim, name: string, a: TensorOrScalar, b: TensorOrScalar, dtype?: DType): Tensor {
  const [x, y] = broadcastPair(name, a, b, dtype);
  return apply(prim, [x, y], {});
}

const floatOf = (d: DType): DType => (isFloat(d) ? d : "float32");

export function add(a: TensorOrScalar, b: TensorOrScalar, opts: { alpha?: number } = {}): Tensor {
  if (opts.alpha !== undefined && opts.alpha !== 1) b = mul(b, opts.alpha);
  return binary("add", "add", a, b);
}
export function sub(a: TensorOrScalar, b: TensorOrScalar, opts: { alpha?: number } = {}): Tensor {
  const t = a instanceof Tensor ? a : (b as Tensor);
  if (t.dtype === "bool" && b instanceof Tensor && a instanceof Tensor) throw new DTypeError("sub: subtraction of two bool tensors is not supported; use logicalXor");
  return add(a, neg(asTensor(b, t, resultType(a, b))), { alpha: opts.alpha });
}
export const mul = (a: TensorOrScalar, b: TensorOrScalar): Tensor => binary("mul", "mul", a, b);

/** True division (`roundingMode` null), or rounded toward zero ("trunc") or down ("floor"). */
export function div(a: TensorOrScalar, b: TensorOrScalar, opts: { roundingMode?: "trunc" | "floor" | null } = {}): Tensor {
  const rt = resultType(a, b);
  if (!opts.roundingMode) return binary("div", "div", a, b, floatOf(rt));
  if (isFloat(rt)) {
    const q = binary("div", "div", a, b, rt);
    return opts.roundingMode === "trunc" ? trunc(q) : floor(q);
  }
  const [x, y] = broadcastPair("div", a, b, rt);
  const q = apply("idiv", [x, y], {});
  if (opts.roundingMode === "trunc") return q;
  // Round down: step back when the signs differ and the division was not exact.
  const r = apply("mod", [x, y], {});
  const adjust = logicalAnd(ne(r, 0), ne(lt(x, 0), lt(y, 0)));
  return sub(q, cast(adjust, rt));
}
export const floorDivide = (a: TensorOrScalar, b: TensorOrScalar): Tensor => div(a, b, { roundingMode: "floor" });
/** C-style remainder (the sign of the dividend), like `torch.fmod`. */
export const fmod = (a: TensorOrScalar, b: TensorOrScalar): Tensor => binary("mod", "fmod", a, b);
/** Python-style remainder (the sign of the divisor), like `torch.remainder`. */
export function remainder(a: TensorOrScalar, b: TensorOrScalar): Tensor {
  const [x, y] = broadcastPair("remainder", a, b);
  const r = apply("mod", [x, y], {});
  const fix = logicalAnd(ne(r, 0), ne(lt(r, 0), lt(y, 0)));
  return where(fix, add(r, y), r);
}
export function pow(a: TensorOrScalar, b: TensorOrScalar): Tensor {
  if (typeof b === "number" && a instanceof Tensor) {
    if (b === 1) return a.clone();
    if (b === 2) return mul(a, a);
  }
  return binary("pow", "pow", a, b);
}
export const maximum = (a: TensorOrScalar, b: TensorOrScalar): Tensor => binary("max", "maximum", a, b);
export function minimum(a: TensorOrScalar, b: TensorOrScalar): Tensor {
  const [x, y] = broadcastPair("minimum", a, b);
  return reverseOrder(apply("max", [reverseOrder(x), reverseOrder(y)], {}));
}

/**
 * A map that reverses the order of x's dtype, so that min-type ops are max-type ops in between:
 * -x for signed types, 255 - x for uint8 (whose -x wraps around, putting 0 above everything),
 * logical not for bool (which has no negation). NaN stays NaN.
 */
export function reverseOrder(x: Tensor): Tensor {
  if (x.dtype === "bool") return logicalNot(x);
  if (x.dtype === "uint8") return sub(255, x);
  return neg(x);
}

export const lt = (a: TensorOrScalar, b: TensorOrScalar): Tensor => binary("cmplt", "lt", a, b);
export const gt = (a: TensorOrScalar, b: TensorOrScalar): Tensor => binary("cmplt", "gt", b, a);
export const eq = (a: TensorOrScalar, b: TensorOrScalar): Tensor => binary("cmpeq", "eq", a, b);
export const ne = (a: TensorOrScalar, b: TensorOrScalar): Tensor => logicalNot(eq(a, b));
export const le = (a: TensorOrScalar, b: TensorOrScalar): Tensor => logicalOr(lt(a, b), eq(a, b));
export const ge = (a: TensorOrScalar, b: TensorOrScalar): Tensor => logicalOr(gt(a, b), eq(a, b));

const toBool = (x: TensorOrScalar, like: Tensor): Tensor => {
  const t = asTensor(x, like, "bool");
  return t.dtype === "bool" ? t : logicalNot(apply("cmpeq", [t, scalarLike(t, 0)], {}));
};
const scalarLike = (t: Tensor, v: Scalar): Tensor => expand(scalar(v, t.dtype, t.device), t.shape);

export function logicalNot(x: Tensor): Tensor {
  return apply("cmpeq", [x, scalarLike(x, x.dtype === "bool" ? false : 0)], {});
}
export function logicalAnd(a: TensorOrScalar, b: TensorOrScalar): Tensor {
  const like = a instanceof Tensor ? a : (b as Tensor);
  return binary("mul", "logicalAnd", toBool(a, like), toBool(b, like), "bool");
}
export function logicalOr(a: TensorOrScalar, b: TensorOrScalar): Tensor {
  const like = a instanceof Tensor ? a : (b as Tensor);
  return binary("max", "logicalOr", toBool(a, like), toBool(b, like), "bool");
}
export function logicalXor(a: TensorOrScalar, b: TensorOrScalar): Tensor {
  const like = a instanceof Tensor ? a : (b as Tensor);
  return logicalNot(binary("cmpeq", "logicalXor", toBool(a, like), toBool(b, like), "bool"));
}

/**
 * `x` where `cond` holds, else `y`; broadcasts all three.
 *
 * @example
 * st.where(x.gt(0), x, 0) // relu
 */
export function where(cond: Tensor, x: TensorOrScalar, y: TensorOrScalar): Tensor {
  if (cond.dtype !== "bool") throw new DTypeError(`where: expected condition to be a bool tensor, got ${cond.dtype}`);
  const [a, b] = broadcastPair("where", x, y);
  const shape = broadcastShapes("where", cond.shape, a.shape);
  return apply("where", [expand(cond, shape), expand(a, shape), expand(b, shape)], {});
}
export const maskedFill = (x: Tensor, mask: Tensor, value: TensorOrScalar): Tensor => {
  const v = value instanceof Tensor ? value : scalar(value, x.dtype, x.device);
  return where(mask, cast(v, x.dtype), x);
};

function unary(prim: "neg" | "exp" | "log" | "sin" | "sqrt" | "recip" | "erf" | "trunc", x: Tensor, float: boolean): Tensor {
  const t = float && !isFloat(x.dtype) ? cast(x, "float32") : x;
  return apply(prim, [t], {});
}

export function neg(x: TensorOrScalar): Tensor {
  if (!(x instanceof Tensor)) throw new DTypeError("neg: expected a tensor");
  if (x.dtype === "bool") throw new DTypeError("neg: negation of a bool tensor is not supported; use logicalNot");
  return unary("neg", x, false);
}
export const exp = (x: Tensor): Tensor => unary("exp", x, true);
export const log = (x: Tensor): Tensor => unary("log", x, true);
export const sin = (x: Tensor): Tensor => unary("sin", x, true);
export const sqrt = (x: Tensor): Tensor => unary("sqrt", x, true);
export const erf = (x: Tensor): Tensor => unary("erf", x, true);
export const reciprocal = (x: Tensor): Tensor => unary("recip", x, true);
export const cos = (x: Tensor): Tensor => sin(add(x, Math.PI / 2));
export const tan = (x: Tensor): Tensor => div(sin(x), cos(x));
export const exp2 = (x: Tensor): Tensor => exp(mul(x, Math.LN2));
export const expm1 = (x: Tensor): Tensor => sub(exp(x), 1);
export const log2 = (x: Tensor): Tensor => mul(log(x), Math.LOG2E);
export const log10 = (x: Tensor): Tensor => mul(log(x), Math.LOG10E);
export const log1p = (x: Tensor): Tensor => log(add(x, 1));
export const rsqrt = (x: Tensor): Tensor => reciprocal(sqrt(x));
export const square = (x: Tensor): Tensor => mul(x, x);
/** |x|; unsigned and bool values are their own absolute value (their -x would wrap). */
export const abs = (x: Tensor): Tensor => (x.dtype === "bool" || x.dtype === "uint8" ? x : maximum(x, neg(x)));
export function sign(x: Tensor): Tensor {
  if (x.dtype === "bool") return x;
  return sub(cast(gt(x, 0), x.dtype), cast(lt(x, 0), x.dtype));
}
export const trunc = (x: Tensor): Tensor => (isFloat(x.dtype) ? apply("trunc", [x], {}) : x);
export function floor(x: Tensor): Tensor {
  if (!isFloat(x.dtype)) return x;
  const t = trunc(x);
  return sub(t, cast(lt(x, t), x.dtype));
}
export function ceil(x: Tensor): Tensor {
  if (!isFloat(x.dtype)) return x;
  const t = trunc(x);
  return add(t, cast(gt(x, t), x.dtype));
}
/** Rounds half to even, like `torch.round`. */
export function round(x: Tensor): Tensor {
  if (!isFloat(x.dtype)) return x;
  const f = floor(x), d = sub(x, f);
  const fIsOdd = ne(fmod(f, 2), 0);
  const up = logicalOr(gt(d, 0.5), logicalAnd(eq(d, 0.5), fIsOdd));
  return add(f, cast(up, x.dtype));
}
export const frac = (x: Tensor): Tensor => sub(x, trunc(x));
export const isnan = (x: Tensor): Tensor => (isFloat(x.dtype) ? ne(x, x) : scalarLike(x, false).to("bool"));
export const isinf = (x: Tensor): Tensor => (isFloat(x.dtype) ? eq(abs(x), Infinity) : scalarLike(x, false).to("bool"));
export const isfinite = (x: Tensor): Tensor => (isFloat(x.dtype) ? logicalNot(logicalOr(isinf(x), isnan(x))) : scalarLike(x, true).to("bool"));

/** Limits values to [min, max]; gradient 1 inside (bounds included), 0 outside, like PyTorch. */
export function clamp(x: Tensor, min?: TensorOrScalar | null, max?: TensorOrScalar | null): Tensor {
  let y = x;
  if (min !== undefined && min !== null) y = where(lt(y, min), asTensor(min, y), y);
  if (max !== undefined && max !== null) y = where(gt(y, max), asTensor(max, y), y);
  return y;
}
export const lerp = (x: Tensor, end: TensorOrScalar, w: TensorOrScalar): Tensor => add(x, mul(w, sub(end, x)));

// ---- activations ----
/** Zero where x <= 0; NaN stays NaN, and the gradient at 0 is 0 (both as in PyTorch). */
export const relu = (x: Tensor): Tensor => where(le(x, 0), 0, x);
/**
 * 1 / (1 + e^-x) for x >= 0 and e^x / (1 + e^x) below, both from e = exp(-|x|) <= 1: neither the
 * value nor the gradient overflows for large |x| (1 / (1 + exp(-x)) alone gives NaN gradients
 * there, from 0 * inf in the backward pass).
 */
export function sigmoid(x: Tensor): Tensor {
  const xf = isFloat(x.dtype) ? x : cast(x, "float32");
  const nonneg = ge(xf, 0);
  const e = exp(neg(where(nonneg, xf, neg(xf))));
  const d = add(e, 1);
  return where(nonneg, reciprocal(d), div(e, d));
}
export const tanh = (x: Tensor): Tensor => sub(mul(sigmoid(mul(x, 2)), 2), 1);
export const silu = (x: Tensor): Tensor => mul(x, sigmoid(x));
export function gelu(x: Tensor, opts: { approximate?: "none" | "tanh" } = {}): Tensor {
  if (opts.approximate === "tanh") {
    const inner = mul(add(x, mul(pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI));
    return mul(mul(x, 0.5), add(tanh(inner), 1));
  }
  return mul(mul(x, 0.5), add(erf(mul(x, Math.SQRT1_2)), 1));
}
/** log(1 + exp(beta x)) / beta, linear above `threshold` (as in PyTorch). */
export function softplus(x: Tensor, opts: { beta?: number; threshold?: number } = {}): Tensor {
  const beta = opts.beta ?? 1, threshold = opts.threshold ?? 20;
  const bx = mul(x, beta);
  // log1p(exp(-|bx|)) + max(bx, 0) avoids overflow for large inputs. |bx| and max(bx, 0) take
  // their gradients from one side (bx >= 0), so that at 0 they add up to sigmoid(0) = 1/2;
  // abs() and relu() would each give 0 there.
  const nonneg = ge(bx, 0);
  const soft = div(add(log1p(exp(neg(where(nonneg, bx, neg(bx))))), where(nonneg, bx, 0)), beta);
  return where(gt(bx, threshold), x, soft);
}

/** A 0-d zero of x's dtype on x's device. */
export const scalarZero = (x: Tensor): Tensor => scalar(x.dtype === "bool" ? false : 0, x.dtype, x.device);
