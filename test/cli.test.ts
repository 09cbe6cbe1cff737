/**
 * The `strata` command (bin/strata.mjs), run as a user would: help texts, `summary` of good and
 * corrupt files, and a short `train` (the MLP on 512 digits) followed by `train --resume`,
 * `eval`, `predict` and `summary` on its run folder.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..");
const tmp = mkdtempSync(join(tmpdir(), "strata-cli-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function strata(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(ROOT, "bin", "strata.mjs"), ...args], { cwd: ROOT, encoding: "utf8", timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("strata CLI", () => {
  it("prints help for the command and for each subcommand", () => {
    const main = strata("--help");
    expect(main.code).toBe(0);
    for (const cmd of ["train", "eval", "predict", "summary"]) expect(main.stdout).toContain(`  ${cmd} `);
    for (const cmd of ["train", "eval", "predict", "summary"]) {
      const r = strata(cmd, "--help");
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^Usage: strata ${cmd}`));
    }
    expect(strata("train", "--help").stdout).toContain("--resume");
    const bad = strata("frobnicate");
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("unknown command 'frobnicate'");
    const badOpt = strata("train", "--epochs", "zero");
    expect(badOpt.code).toBe(2);
    expect(badOpt.stderr).toContain("--epochs must be an integer >= 1, got 'zero'");
    expect(strata("train", "--bogus").stderr).toContain("Unknown option '--bogus'");
  });

  it("summarizes a safetensors file, and reports a corrupt one clearly", () => {
    const r = strata("summary", join(ROOT, "test", "fixtures", "safetensors", "torch-model.safetensors"));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/conv\.weight\s+F32\s+\[3, 1, 3, 3\]\s+27\s+108/);
    expect(r.stdout).toMatch(/bn\.num_batches_tracked\s+I64\s+\[\]\s+1\s+8/);
    expect(r.stdout).toContain("total: 291 parameters, 1.14 KiB");
    expect(r.stdout).toContain("format: pt");
    const bad = join(tmp, "bad.safetensors");
    writeFileSync(bad, Buffer.from([255, 255, 255, 255, 255, 255, 255, 255, 123]));
    const e = strata("summary", bad);
    expect(e.code).toBe(1);
    expect(e.stderr).toContain("SafetensorsError: safetensors: the header length 18446744073709551615 exceeds the limit of 100000000 bytes");
    expect(strata("summary", join(tmp, "missing.safetensors")).stderr).toContain("no such file");
  });

  it("trains, resumes, evaluates, predicts and summarizes a run", () => {
    const run = join(tmp, "run");
    const t = strata("train", "--model", "mlp", "--data", "mnist", "--epochs", "1", "--limit", "512", "--out", run, "--log", "lines", "--checkpoint-every", "5");
    expect(t.code, t.stderr).toBe(0);
    expect(t.stdout).toContain("strata train: mlp (101,770 parameters) on mnist (512 train, 2,000 test), 1 epochs");
    expect(t.stderr).toMatch(/epoch 1\/1 {2}loss [\d.]+ {2}accuracy [\d.]+% {2}valLoss [\d.]+ {2}valAccuracy [\d.]+%/);
    for (const f of ["config.json", "model.safetensors", "log.jsonl", "report.json", "report.md", "ckpt-00000008.safetensors"]) expect(existsSync(join(run, f)), f).toBe(true);
    const r1 = JSON.parse(readFileSync(join(run, "report.json"), "utf8"));
    expect(r1.steps).toBe(8);
    expect(r1.test.accuracy).toBeGreaterThan(0.7);

    // --resume with more epochs continues from the newest checkpoint.
    const t2 = strata("train", "--out", run, "--resume", "--epochs", "2", "--log", "none");
    expect(t2.code, t2.stderr).toBe(0);
    expect(t2.stderr).toContain("resumed from");
    const r2 = JSON.parse(readFileSync(join(run, "report.json"), "utf8"));
    expect(r2.steps).toBe(16);
    expect(r2.history.map((h: { epoch: number }) => h.epoch)).toEqual([1, 2]);

    const e = strata("eval", run, "--json");
    expect(e.code, e.stderr).toBe(0);
    const ev = JSON.parse(e.stdout);
    expect(ev).toMatchObject({ model: "mlp", data: "mnist", split: "test", samples: 2000 });
    expect(ev.accuracy).toBeCloseTo(r2.test.accuracy, 10);
    expect(ev.confusionMatrix.flat().reduce((a: number, b: number) => a + b, 0)).toBe(2000);
    const text = strata("eval", run);
    expect(text.stdout).toContain(`accuracy ${(r2.test.accuracy * 100).toFixed(2)}%`);

    const p = strata("predict", run, "--count", "5", "--offset", "195", "--json");
    expect(p.code, p.stderr).toBe(0);
    const rows = JSON.parse(p.stdout) as { name: string; prediction: number; probability: number; truth: number }[];
    expect(rows.map((r) => r.name)).toEqual(["test[195]", "test[196]", "test[197]", "test[198]", "test[199]"]);
    for (const r of rows) expect(r.probability).toBeGreaterThan(0.1);
    expect(rows.every((r) => r.truth === 0 || r.truth === 1)).toBe(true); // the test set is ordered by digit

    const s = strata("summary", join(run, "model.safetensors"));
    expect(s.stdout).toContain("total: 101,770 parameters");
    expect(s.stdout).toContain("strata.model: mlp");
    const ck = strata("summary", join(run, "ckpt-00000016.safetensors"));
    expect(ck.stdout).toMatch(/strata\.checkpoint: Strata checkpoint, step 16, epoch 2, lr [0-9.e-]+, rng seed \d+ offset \d+/);
    expect(ck.stdout).toContain("training state (optimizer, ...): 4 tensors, 101,770 values");
  });
});
