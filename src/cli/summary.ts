/**
 * `strata summary`: what a safetensors file holds, from its header alone (the data is not read).
 */
import { stat } from "node:fs/promises";
import { fileDTypeBytes, readHeader } from "../io/safetensors.ts";
import { CHECKPOINT_KEY } from "../train/checkpoint.ts";

const num = (n: number) => n.toLocaleString("en-US");

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024, u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
}

/** The summary of a safetensors file as text lines. */
export async function summarize(path: string): Promise<string> {
  const h = await readHeader(path);
  const size = (await stat(path)).size;
  const rows = [...h.tensors].map(([name, t]) => {
    const count = t.shape.reduce((a, b) => a * b, 1);
    return { name, dtype: t.dtype, shape: `[${t.shape.join(", ")}]`, count, bytes: count * fileDTypeBytes(t.dtype) };
  }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const weights = rows.filter((r) => !r.name.includes("/")), state = rows.filter((r) => r.name.includes("/"));
  const wn = Math.max(4, ...rows.map((r) => r.name.length)), ws = Math.max(5, ...rows.map((r) => r.shape.length));
  const lines: string[] = [`${path}: ${num(rows.length)} tensors, ${formatBytes(size)} (header ${num(h.dataStart - 8)} bytes)`, ""];
  lines.push(`${"name".padEnd(wn)}  dtype    ${"shape".padEnd(ws)}  ${"params".padStart(12)}  ${"bytes".padStart(12)}`);
  for (const r of rows) lines.push(`${r.name.padEnd(wn)}  ${r.dtype.padEnd(7)}  ${r.shape.padEnd(ws)}  ${num(r.count).padStart(12)}  ${num(r.bytes).padStart(12)}`);
  const sum = (rs: typeof rows, k: "count" | "bytes") => rs.reduce((a, r) => a + r[k], 0);
  lines.push("");
  if (state.length) {
    lines.push(`weights: ${num(weights.length)} tensors, ${num(sum(weights, "count"))} parameters, ${formatBytes(sum(weights, "bytes"))}`);
    lines.push(`training state (optimizer, ...): ${num(state.length)} tensors, ${num(sum(state, "count"))} values, ${formatBytes(sum(state, "bytes"))}`);
  } else {
    lines.push(`total: ${num(sum(rows, "count"))} parameters, ${formatBytes(sum(rows, "bytes"))}`);
  }
  const dtypes = new Map<string, number>();
  for (const r of rows) dtypes.set(r.dtype, (dtypes.get(r.dtype) ?? 0) + r.count);
  if (dtypes.size) lines.push(`dtypes: ${[...dtypes].map(([d, n]) => `${d} ${num(n)}`).join(", ")}`);
  const meta = Object.entries(h.metadata);
  if (meta.length) {
    lines.push("", "metadata:");
    for (const [k, v] of meta) {
      if (k === CHECKPOINT_KEY) {
        try {
          const doc = JSON.parse(v) as { step?: number; epoch?: number; rng?: { seed: number; offset: number }; optimizer?: { param_groups?: { lr?: number }[] } };
          const lr = doc.optimizer?.param_groups?.[0]?.lr;
          lines.push(`  ${k}: Strata checkpoint, step ${doc.step}, epoch ${doc.epoch}${lr !== undefined ? `, lr ${lr}` : ""}${doc.rng ? `, rng seed ${doc.rng.seed} offset ${doc.rng.offset}` : ""} (${num(v.length)} bytes of JSON)`);
          continue;
        } catch {
          // not JSON: shown as is below
        }
      }
      lines.push(`  ${k}: ${v.length > 200 ? `${v.slice(0, 200)}... (${num(v.length)} chars)` : v}`);
    }
  }
  return lines.join("\n");
}
