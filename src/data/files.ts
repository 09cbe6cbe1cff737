/**
 * Reading files (Node only). Node's modules are imported when first needed, so that importing
 * Strata does not require them (a browser has no file system).
 */
import { ValueError } from "../ir/errors.ts";

/** A file's bytes; a missing or unreadable file raises a ValueError naming the op and the path. */
export async function readBytes(op: string, path: string): Promise<Uint8Array> {
  const fs = await import("node:fs/promises");
  try {
    const b = await fs.readFile(path);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new ValueError(`${op}: cannot read ${path}: ${err.code === "ENOENT" ? "no such file" : err.message}`);
  }
}

/** True when `path` exists. */
export async function fileExists(path: string): Promise<boolean> {
  const fs = await import("node:fs/promises");
  try {
    await fs.access(path);
    return true;
  } catch {
    return false;
  }
}
