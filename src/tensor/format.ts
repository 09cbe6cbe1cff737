import type { Tensor } from "./tensor.ts";

/** PyTorch-like text of a tensor's values (computes it). */
export function formatTensor(t: Tensor): string {
  if (t.isDisposed) return "tensor(<disposed>)";
  const data = t.dataSync();
  const shape = t.shape;
  const float = t.dtype.startsWith("float") || t.dtype === "bfloat16";
  const fmt = (v: number | bigint): string => {
    if (t.dtype === "bool") return v ? "true" : "false";
    const n = Number(v);
    if (!float) return String(n);
    if (!Number.isFinite(n)) return String(n);
    return Math.abs(n) >= 1e5 || (n !== 0 && Math.abs(n) < 1e-4) ? n.toExponential(4) : n.toFixed(4);
  };
  let i = 0;
  const rec = (d: number, indent: string): string => {
    if (d === shape.length) return fmt(data[i++]!);
    const parts: string[] = [];
    for (let j = 0; j < shape[d]!; j++) parts.push(rec(d + 1, indent + " "));
    const sep = d === shape.length - 1 ? ", " : `,\n${indent} `;
    return `[${parts.join(sep)}]`;
  };
  const body = rec(0, "       ");
  const extra = t.dtype !== "float32" ? `, dtype=${t.dtype}` : "";
  return `tensor(${body}${extra}${t.requiresGrad ? ", requiresGrad=true" : ""})`;
}
