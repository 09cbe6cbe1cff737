/**
 * Atomic file replacement: write a temporary file in the target's folder, flush it to disk,
 * rename it over the target, flush the folder. A crash at any moment leaves the old file or the
 * new one, never a torn one.
 */
import { randomBytes } from "node:crypto";
import { open, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

/** The temporary files `atomicWriteFile` makes are named `.<name>.<random>.tmp`. */
export const isTempFileName = (name: string): boolean => name.startsWith(".") && name.endsWith(".tmp");

/**
 * Replaces `path` with `data` atomically (temporary file in the same folder, fsync, rename,
 * fsync of the folder).
 */
export async function atomicWriteFile(path: string, data: Uint8Array | string): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  const fh = await open(tmp, "w", 0o644);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (e) {
    await fh.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw e;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw e;
  }
  await syncDir(dir);
}

/** Flushes a folder's entries (the rename) to disk; a no-op where folders cannot be opened (Windows). */
export async function syncDir(dir: string): Promise<void> {
  let fh;
  try {
    fh = await open(dir, "r");
  } catch {
    return;
  }
  try {
    await fh.sync();
  } catch {
    // Some file systems refuse fsync on a directory; the rename is then as durable as they allow.
  } finally {
    await fh.close();
  }
}
