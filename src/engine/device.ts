/**
 * The backends Strata knows, the default device, and the accounting behind `st.memory()`.
 */
import type { Backend, Buf } from "../ir/backend.ts";
import type { DType } from "../ir/dtype.ts";
import { DeviceError } from "../ir/errors.ts";
import { JsBackend } from "../backends/js/backend.ts";
import { WasmBackend } from "../backends/wasm/backend.ts";

const factories = new Map<string, () => Backend>([["js", () => new JsBackend()], ["wasm", () => new WasmBackend()]]);
const live = new Map<string, Backend>();
const stats = new Map<string, { buffers: number; bytes: number; peakBytes: number }>();
let defaultDevice = "js";

export function registerBackend(name: string, factory: () => Backend): void {
  factories.set(name, factory);
}

export function getBackend(name: string): Backend {
  let b = live.get(name);
  if (!b) {
    const f = factories.get(name);
    if (!f) throw new DeviceError(`device '${name}' is not available (known: ${[...factories.keys()].join(", ")})`);
    b = f();
    live.set(name, b);
  }
  return b;
}

export function availableDevices(): string[] {
  return [...factories.keys()];
}

/** Sets (and returns) the device new tensors are created on. */
export function setDefaultDevice(name: string): string {
  getBackend(name);
  defaultDevice = name;
  return name;
}

export const getDefaultDevice = (): string => defaultDevice;

export function allocBuffer(device: string, dtype: DType, size: number): Buf {
  const b = getBackend(device).alloc(dtype, size);
  const s = stats.get(device) ?? { buffers: 0, bytes: 0, peakBytes: 0 };
  s.buffers++;
  s.bytes += b.bytes;
  s.peakBytes = Math.max(s.peakBytes, s.bytes);
  stats.set(device, s);
  return b;
}

export function freeBuffer(device: string, b: Buf): void {
  getBackend(device).free(b);
  const s = stats.get(device)!;
  s.buffers--;
  s.bytes -= b.bytes;
}

export interface MemoryStats {
  /** Live buffers on this device. */
  buffers: number;
  /** Bytes in live buffers. */
  bytes: number;
  /** Highest `bytes` seen since the process started. */
  peakBytes: number;
}

/** Live buffers and bytes per device, so that a leak shows. */
export function memory(): Record<string, MemoryStats> {
  const out: Record<string, MemoryStats> = {};
  for (const [k, v] of stats) out[k] = { ...v };
  return out;
}
