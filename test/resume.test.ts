/**
 * A training run killed with SIGKILL at random steps (twice), resumed each time from its last
 * checkpoint, ends with the very weights (bit for bit) of a run that was never interrupted. The
 * run is a child process (test/helpers/resume-child.ts): 4 epochs of 12 batches, a checkpoint
 * every 3 steps.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import * as st from "../src/index.ts";

const CHILD = join(import.meta.dirname, "helpers", "resume-child.ts");
const TOTAL_STEPS = 48;
const tmp = mkdtempSync(join(tmpdir(), "strata-resume-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Run {
  child: ChildProcess;
  /** Resolves with the exit code (null when killed) and the signal. */
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

/** Starts the child; `onStep(n)` is called for each `step n` line it prints. */
function start(dir: string, resume: boolean, onStep: (n: number, child: ChildProcess) => void = () => {}): Run {
  const child = spawn(process.execPath, ["--import", "tsx", CHILD, dir, ...(resume ? ["resume"] : [])], { stdio: ["ignore", "pipe", "pipe"] });
  let buf = "", stderr = "";
  child.stdout!.on("data", (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      const m = /^step (\d+)$/.exec(line);
      if (m) onStep(Number(m[1]), child);
    }
  });
  child.stderr!.on("data", (d: Buffer) => { stderr += d.toString(); });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => {
    child.on("exit", (code, signal) => resolve({ code, signal, stderr }));
  });
  return { child, exit };
}

/** Runs the child, killing it with SIGKILL once it has printed `step killAt`; returns the last step seen. */
async function runAndKill(dir: string, resume: boolean, killAt: number): Promise<number> {
  let last = 0;
  const run = start(dir, resume, (n, child) => {
    last = n;
    if (n >= killAt && child.exitCode === null && !child.killed) child.kill("SIGKILL");
  });
  const r = await run.exit;
  expect(r.signal, `the run should have been killed at step ${killAt} (stderr: ${r.stderr})`).toBe("SIGKILL");
  return last;
}

async function runToEnd(dir: string, resume: boolean): Promise<void> {
  const r = await start(dir, resume).exit;
  expect(r.code, r.stderr).toBe(0);
}

/** The tensors' bytes (the data section of the file) by name. */
async function weights(dir: string): Promise<Record<string, number[]>> {
  const sd = await st.io.loadFile(join(dir, "final.safetensors"));
  return Object.fromEntries(await Promise.all(Object.entries(sd).map(async ([k, t]) => [k, Array.from(await t.data(), Number)] as const)));
}

it("a run killed with SIGKILL at random steps resumes to the weights of an uninterrupted run, bit for bit", async () => {
  const straight = join(tmp, "straight"), killed = join(tmp, "killed");
  const uninterrupted = runToEnd(straight, false);

  // Two kills at random steps: one in the first half, one in the second.
  const k1 = 4 + Math.floor(Math.random() * 18), k2 = 26 + Math.floor(Math.random() * 18);
  const seen1 = await runAndKill(killed, false, k1);
  expect(seen1).toBeGreaterThanOrEqual(k1);
  // Whatever the moment of the kill, the checkpoints on disk are whole (a write in progress is a
  // temporary file, never a torn checkpoint).
  for (const c of st.train.listCheckpoints(killed)) await expect(st.io.readHeader(c.path)).resolves.toBeDefined();
  const resumedFrom1 = st.train.listCheckpoints(killed).at(-1)!.step;
  expect(resumedFrom1).toBeGreaterThan(0);
  const seen2 = await runAndKill(killed, true, k2);
  expect(seen2).toBeGreaterThanOrEqual(k2);
  await runToEnd(killed, true);
  await uninterrupted;

  const a = await weights(straight), b = await weights(killed);
  expect(Object.keys(b).sort()).toEqual(["l1.bias", "l1.weight", "l2.bias", "l2.weight"]);
  expect(b, `killed at steps ${k1} and ${k2}`).toEqual(a);
  // The final files are byte-identical, and so are the final checkpoints (weights, optimizer
  // state, scheduler, loader position, generator state, history).
  expect(readFileSync(join(killed, "final.safetensors")).equals(readFileSync(join(straight, "final.safetensors")))).toBe(true);
  const lastA = st.train.latestCheckpoint(straight)!, lastB = st.train.latestCheckpoint(killed)!;
  expect(lastB.endsWith(`ckpt-000000${TOTAL_STEPS}.safetensors`)).toBe(true);
  const meta = async (p: string) => {
    const doc = JSON.parse((await st.io.readHeader(p)).metadata[st.train.CHECKPOINT_KEY]!);
    for (const h of doc.extra.fit.history) { delete h.time; delete h.samplesPerSec; } // wall-clock values differ
    return doc;
  };
  expect(await meta(lastB)).toEqual(await meta(lastA));
  expect(readdirSync(straight).filter((f) => f.startsWith("ckpt-")).length).toBe(2); // keepLast 2
}, 60_000);
