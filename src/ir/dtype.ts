import { DTypeError } from "./errors.ts";

/** The element types of Strata tensors. */
export type DType = "float32" | "float64" | "float16" | "bfloat16" | "int32" | "int64" | "uint8" | "bool";

export type DTypeKind = "float" | "int" | "bool";

interface DTypeInfo {
  readonly bytes: number;
  readonly kind: DTypeKind;
  /** Order within its kind for promotion; dtypes of one kind with equal rank promote to `tie`. */
  readonly rank: number;
}

export const DTYPES: { readonly [D in DType]: DTypeInfo } = {
  bool: { bytes: 1, kind: "bool", rank: 0 },
  uint8: { bytes: 1, kind: "int", rank: 1 },
  int32: { bytes: 4, kind: "int", rank: 3 },
  int64: { bytes: 8, kind: "int", rank: 4 },
  float16: { bytes: 2, kind: "float", rank: 1 },
  bfloat16: { bytes: 2, kind: "float", rank: 1 },
  float32: { bytes: 4, kind: "float", rank: 2 },
  float64: { bytes: 8, kind: "float", rank: 3 },
};

export const ALL_DTYPES = Object.keys(DTYPES) as DType[];

export const isFloat = (d: DType): boolean => DTYPES[d].kind === "float";
export const isInt = (d: DType): boolean => DTYPES[d].kind === "int";
export const isBool = (d: DType): boolean => d === "bool";

const KIND_ORDER: { readonly [K in DTypeKind]: number } = { bool: 0, int: 1, float: 2 };

/** PyTorch's `torch.promote_types` for the dtypes Strata has. */
export function promoteTypes(a: DType, b: DType): DType {
  if (a === b) return a;
  const ia = DTYPES[a], ib = DTYPES[b];
  if (ia.kind !== ib.kind) return KIND_ORDER[ia.kind] > KIND_ORDER[ib.kind] ? a : b;
  if (ia.rank === ib.rank) return "float32"; // float16 with bfloat16
  return ia.rank > ib.rank ? a : b;
}

export function kindOf(d: DType): DTypeKind {
  return DTYPES[d].kind;
}

/** The dtype of a JS number used as a scalar operand: integer-valued numbers count as ints. */
export function scalarKind(v: number | boolean): DTypeKind {
  if (typeof v === "boolean") return "bool";
  return Number.isInteger(v) ? "int" : "float";
}

export function assertDType(op: string, d: string): DType {
  if (!(d in DTYPES)) throw new DTypeError(`${op}: unknown dtype '${d}' (expected one of ${ALL_DTYPES.join(", ")})`);
  return d as DType;
}
