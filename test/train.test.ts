/**
 * st.train: metrics, checkpoints (bit-exact restore of weights, optimizer, scheduler, loader and
 * RNG), the fit loop (determinism, exact resume, schedulers per batch and per epoch, early
 * stopping with best weights, model checkpoints, JSON-lines logs, flat memory), evaluate, predict
 * and the progress display.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import * as st from "../src/index.ts";

const tmp = mkdtempSync(join(tmpdir(), "strata-train-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let dirs = 0;
const newDir = () => join(tmp, `d${dirs++}`);

/** Four Gaussian blobs in 2-d (class = quadrant), fixed by the seed. */
function blobs(n: number, seed: number): { x: st.Tensor; y: st.Tensor } {
  const g = new st.data.Generator(seed);
  const x = new Float32Array(n * 2), y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % 4;
    y[i] = c;
    x[2 * i] = (c & 1 ? 1.5 : -1.5) + (g.random() - 0.5) * 2;
    x[2 * i + 1] = (c & 2 ? 1.5 : -1.5) + (g.random() - 0.5) * 2;
  }
  return { x: st.tensor(x).reshape([n, 2]).realize(), y: st.tensor(y).to("int64").realize() };
}

class Net extends st.nn.Module {
  l1 = new st.nn.Linear(2, 16);
  drop = new st.nn.Dropout(0.1); // draws random numbers: resume must restore the generator
  l2 = new st.nn.Linear(16, 4);
  forward(x: st.Tensor): st.Tensor {
    return this.l2.forward(this.drop.forward(this.l1.forward(x).relu()));
  }
}

const weightsOf = async (m: st.nn.Module) => Object.fromEntries(await Promise.all(Object.entries(m.stateDict()).map(async ([k, t]) => [k, Array.from(await t.data(), Number)] as const)));

interface Setup {
  model: Net;
  opt: st.optim.Adam;
  sched: st.optim.StepLR;
  loader: st.data.DataLoader<st.Tensor[], st.Tensor[]>;
  val: st.data.DataLoader<st.Tensor[], st.Tensor[]>;
}
function setup(seed = 0): Setup {
  st.manualSeed(seed);
  const model = new Net();
  const opt = new st.optim.Adam(model.parameters(), { lr: 0.05 });
  const sched = new st.optim.StepLR(opt, 2, { gamma: 0.5 });
  const tr = blobs(96, 1), va = blobs(40, 2);
  const loader = new st.data.DataLoader(new st.data.TensorDataset(tr.x, tr.y), { batchSize: 16, shuffle: true }) as st.data.DataLoader<st.Tensor[], st.Tensor[]>;
  const val = new st.data.DataLoader(new st.data.TensorDataset(va.x, va.y), { batchSize: 20 }) as st.data.DataLoader<st.Tensor[], st.Tensor[]>;
  return { model, opt, sched, loader, val };
}

describe("metrics", () => {
  const out = st.tensor([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.3, 0.5], [0.6, 0.3, 0.1]]);
  const y = st.tensor([1, 1, 0, 0], { dtype: "int64" });
  it("accuracy, top-k accuracy and the confusion matrix count the right samples", async () => {
    const acc = st.train.accuracy(), top2 = st.train.topKAccuracy(2), cm = st.train.confusionMatrix(3);
    for (const m of [acc, top2, cm]) await m.update(out, y);
    expect(acc.compute()).toBe(0.5); // rows 0 and 3
    expect(top2.name).toBe("top2Accuracy");
    expect(top2.compute()).toBe(0.75); // row 2's target (0) is third
    expect(cm.compute()).toEqual([[1, 0, 1], [1, 1, 0], [0, 0, 0]]);
    await acc.update(st.tensor([[0, 1]]), st.tensor([1], { dtype: "int64" }));
    expect(acc.compute()).toBe(0.6);
    acc.reset();
    expect(acc.compute()).toBeNaN();
  });
  it("reads binary outputs by thresholding, and names metrics from strings", async () => {
    const acc = st.train.accuracy();
    await acc.update(st.tensor([0.9, 0.2, 0.6]), st.tensor([1, 0, 0], { dtype: "int64" }));
    expect(acc.compute()).toBeCloseTo(2 / 3);
    expect(st.train.resolveMetrics(["accuracy", "top5", "confusionMatrix:4"]).map((m) => m.name)).toEqual(["accuracy", "top5Accuracy", "confusionMatrix"]);
    expect(() => st.train.resolveMetrics(["f1"])).toThrow("unknown metric 'f1'");
    await expect(st.train.topKAccuracy(4).update(out, y)).rejects.toThrow("k = 4 exceeds the 3 classes");
    await expect(acc.update(out, st.tensor([1, 0], { dtype: "int64" }))).rejects.toThrow("expected targets of shape [4]");
  });
});

describe("checkpoints", () => {
  it("restore weights, optimizer, scheduler, loader position and RNG bit for bit; training then continues identically", async () => {
    const step = async (s: Setup, batch: st.Tensor[]) => st.scope(async () => {
      const l = st.nn.functional.crossEntropy(s.model.forward(batch[0]!), batch[1]!);
      s.opt.zeroGrad();
      l.backward();
      s.opt.step();
      return Number(await l.item());
    });
    const take = async (s: Setup, it: Iterator<st.Tensor[]>, n: number) => {
      const losses: number[] = [];
      for (let i = 0; i < n; i++) {
        const r = it.next();
        if (r.done) break;
        losses.push(await step(s, r.value));
      }
      return losses;
    };
    const a = setup();
    const itA = a.loader[Symbol.iterator]();
    await take(a, itA, 3); // 3 of the epoch's 6 batches
    a.sched.step();
    const path = join(tmp, "ck.safetensors");
    await st.train.saveCheckpoint(path, { model: a.model, optimizer: a.opt, scheduler: a.sched, loader: a.loader, step: 3, epoch: 0, extra: { note: "hi", best: NaN, t: st.tensor([1, 2]) } });
    expect(readdirSync(tmp).filter((f) => f.endsWith(".tmp"))).toEqual([]);
    const rng = st.getRngState();
    const weights = await weightsOf(a.model);
    const continued = [...(await take(a, itA, 10)), ...(await take(a, a.loader[Symbol.iterator](), 2))]; // the epoch's 3 others, then 2 of the next

    const b = setup(123); // other weights, another generator state, a fresh loader
    const back = await st.train.loadCheckpoint(path, { model: b.model, optimizer: b.opt, scheduler: b.sched, loader: b.loader });
    expect(back.step).toBe(3);
    expect(back.epoch).toBe(0);
    expect(back.extra.note).toBe("hi");
    expect(back.extra.best).toBeNaN();
    expect(await (back.extra.t as st.Tensor).tolist()).toEqual([1, 2]);
    expect(st.getRngState()).toEqual(rng);
    expect(await weightsOf(b.model)).toEqual(weights);
    expect(b.sched.lastEpoch).toBe(1);
    expect(b.loader.stateDict()).toMatchObject({ epoch: 0, batchIndex: 3 });
    const resumed = [...(await take(b, b.loader[Symbol.iterator](), 10)), ...(await take(b, b.loader[Symbol.iterator](), 2))];
    expect(resumed).toEqual(continued);
    expect(resumed.length).toBe(5);
    expect(await weightsOf(b.model)).toEqual(await weightsOf(a.model));
  });

  it("the file is a PyTorch-style weights file too, and summary-friendly", async () => {
    const a = setup();
    const path = join(tmp, "ck2.safetensors");
    await st.train.saveCheckpoint(path, { model: a.model, optimizer: a.opt, step: 0, epoch: 0 });
    const h = await st.io.readHeader(path);
    expect([...h.tensors.keys()].filter((k) => !k.includes("/")).sort()).toEqual(["l1.bias", "l1.weight", "l2.bias", "l2.weight"]);
    expect(h.metadata.format).toBe("pt");
    const doc = JSON.parse(h.metadata[st.train.CHECKPOINT_KEY]!);
    expect(doc.optimizer.param_groups[0]).toMatchObject({ lr: 0.05, params: [0, 1, 2, 3] });
    await expect(st.train.loadCheckpoint(path, { model: a.model, scheduler: a.sched })).rejects.toThrow("a scheduler was given but the checkpoint holds no scheduler state");
    await st.io.saveFile(a.model.stateDict(), join(tmp, "w.safetensors"));
    await expect(st.train.loadCheckpoint(join(tmp, "w.safetensors"), { model: a.model })).rejects.toThrow("not a Strata checkpoint");
  });
});

describe("fit", () => {
  const opts = (s: Setup, extra: Partial<st.train.FitOptions> = {}): st.train.FitOptions => ({
    data: s.loader, valData: s.val, loss: "crossEntropy", optimizer: s.opt, scheduler: s.sched, epochs: 4, metrics: ["accuracy"], log: false, ...extra,
  });

  it("learns, logs per epoch, and is deterministic with a seed", async () => {
    const a = setup();
    const ra = await st.train.fit(a.model, opts(a, { seed: 5 }));
    expect(ra.history.map((h) => h.epoch)).toEqual([1, 2, 3, 4]);
    expect(ra.step).toBe(24);
    expect(ra.history[3]!.valAccuracy).toBeGreaterThan(0.9);
    expect(ra.history[3]!.loss).toBeLessThan(ra.history[0]!.loss);
    expect(ra.history.map((h) => h.lr)).toEqual([0.05, 0.025, 0.025, 0.0125]); // StepLR(2, 0.5) stepped after each epoch
    const b = setup();
    await st.train.fit(b.model, opts(b, { seed: 5 }));
    expect(await weightsOf(b.model)).toEqual(await weightsOf(a.model));
  });

  it("jit: true trains to the very weights and logs of an eager run, replaying most steps", async () => {
    const a = setup();
    const ra = await st.train.fit(a.model, opts(a, { seed: 5 }));
    const b = setup();
    st.engine.resetStats();
    const rb = await st.train.fit(b.model, opts(b, { seed: 5, jit: true }));
    expect(await weightsOf(b.model)).toEqual(await weightsOf(a.model));
    expect(rb.history.map((h) => [h.loss, h.valLoss, h.valAccuracy, h.lr])).toEqual(ra.history.map((h) => [h.loss, h.valLoss, h.valAccuracy, h.lr]));
    // 24 steps: the first of each batch shape runs eagerly, each epoch's first is traced anew
    // (evaluate() switched the model to eval mode and back).
    expect(st.engine.stats().replays).toBeGreaterThan(12);
  });

  it("resumes a run stopped mid-epoch to the very weights of an uninterrupted one", async () => {
    const a = setup();
    await st.train.fit(a.model, opts(a, { seed: 1 }));
    const want = await weightsOf(a.model);

    const dir = newDir();
    const b = setup();
    class Crash extends Error {}
    const crashAt = (n: number): st.train.Callback => ({ onBatchEnd: (ctx) => { if (ctx.step === n) throw new Crash(); } });
    const ck = () => new st.train.ModelCheckpoint({ dir, everySteps: 4, keepLast: 2 });
    await expect(st.train.fit(b.model, opts(b, { seed: 1, callbacks: [ck(), crashAt(15)] }))).rejects.toThrow(Crash);
    expect(st.train.listCheckpoints(dir).map((c) => c.step)).toEqual([8, 12]); // keepLast 2
    // A fresh process would rebuild everything: here, new objects with other initial weights.
    const c = setup(99);
    const rc = await st.train.fit(c.model, opts(c, { seed: 1, resume: dir, callbacks: [ck()] }));
    expect(rc.step).toBe(24);
    expect(await weightsOf(c.model)).toEqual(want);
    expect(rc.history.length).toBe(4);
  });

  it("resumes plain arrays / generators (no loader state) by replaying the epoch's shuffle", async () => {
    const { x, y } = blobs(64, 3);
    const gen = { length: 4, *[Symbol.iterator]() { const p = st.randperm(64); for (let i = 0; i < 64; i += 16) { const idx = p.narrow(0, i, 16); yield [x.indexSelect(0, idx), y.indexSelect(0, idx)] as [st.Tensor, st.Tensor]; } } };
    const make = (seed: number) => { st.manualSeed(seed); const m = new Net(); return { m, opt: new st.optim.SGD(m.parameters(), { lr: 0.1, momentum: 0.9 }) }; };
    const a = make(0);
    await st.train.fit(a.m, { data: gen, loss: "crossEntropy", optimizer: a.opt, epochs: 3, log: false, seed: 2 });
    const dir = newDir();
    const b = make(0);
    const stop: st.train.Callback = { onBatchEnd: (ctx) => { if (ctx.step === 6) throw new Error("stop"); } };
    await expect(st.train.fit(b.m, { data: gen, loss: "crossEntropy", optimizer: b.opt, epochs: 3, log: false, seed: 2, callbacks: [new st.train.ModelCheckpoint({ dir, everySteps: 5 }), stop] })).rejects.toThrow("stop");
    const c = make(1);
    await st.train.fit(c.m, { data: gen, loss: "crossEntropy", optimizer: c.opt, epochs: 3, log: false, seed: 2, resume: dir });
    expect(await weightsOf(c.m)).toEqual(await weightsOf(a.m));
  });

  it("steps a scheduler per batch, and gives ReduceLROnPlateau the monitored value", async () => {
    const a = setup();
    const sched = new st.optim.StepLR(a.opt, 1, { gamma: 0.9 });
    const r = await st.train.fit(a.model, opts(a, { epochs: 1, scheduler: { scheduler: sched, interval: "step" } }));
    expect(r.history[0]!.lr).toBeCloseTo(0.05 * 0.9 ** 6, 12);
    const b = setup();
    const plateau = new st.optim.ReduceLROnPlateau(b.opt, { patience: 0, factor: 0.5 });
    const seen: number[] = [];
    const orig = plateau.step.bind(plateau);
    plateau.step = (v: number) => { seen.push(v); return orig(v); };
    const rb = await st.train.fit(b.model, opts(b, { epochs: 3, scheduler: plateau }));
    expect(seen).toEqual(rb.history.map((h) => h.valLoss));
  });

  it("EarlyStopping stops when the monitored value stops improving and restores the best weights", async () => {
    const a = setup();
    // Validation labels that contradict training: the validation loss gets worse as training goes on.
    const va = blobs(40, 2);
    const wrong = new st.data.DataLoader(new st.data.TensorDataset(va.x, va.y.add(1).remainder(4)), { batchSize: 20 });
    const snaps: Record<string, number[]>[] = [];
    const snap: st.train.Callback = { onEpochEnd: async (ctx) => { snaps.push(await weightsOf(ctx.model)); } };
    const es = new st.train.EarlyStopping({ monitor: "valLoss", patience: 2 });
    const r = await st.train.fit(a.model, opts(a, { epochs: 20, valData: wrong, callbacks: [snap, es], scheduler: null }));
    expect(r.stopped).toBe(true);
    const losses = r.history.map((h) => h.valLoss as number);
    const best = losses.indexOf(Math.min(...losses));
    expect(r.history.length).toBe(best + 3); // patience 2
    expect(es.bestEpoch).toBe(best + 1);
    expect(await weightsOf(a.model)).toEqual(snaps[best]);
  });

  it("writes JSON lines, keeps the last K checkpoints, the best one, and memory stays flat", async () => {
    const a = setup();
    const dir = newDir();
    const logPath = join(tmp, "log.jsonl");
    const buffers: number[] = [];
    const mem: st.train.Callback = { onEpochEnd: () => { buffers.push(st.memory().js?.buffers ?? 0); } };
    const mc = new st.train.ModelCheckpoint({ dir, everyEpochs: 1, keepLast: 2, monitor: "valAccuracy" });
    await st.train.fit(a.model, opts(a, { epochs: 4, callbacks: [new st.train.JsonLogger(logPath, { everySteps: 2 }), mc, mem] }));
    const lines = readFileSync(logPath, "utf8").trim().split("\n").map((l) => JSON.parse(l));
    expect(lines.filter((l) => l.event === "batch").map((l) => l.step)).toEqual([2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24]);
    const epochs = lines.filter((l) => l.event === "epoch");
    expect(epochs.map((l) => l.epoch)).toEqual([1, 2, 3, 4]);
    expect(Object.keys(epochs[0])).toEqual(expect.arrayContaining(["loss", "accuracy", "valLoss", "valAccuracy", "lr", "time"]));
    expect(st.train.listCheckpoints(dir).map((c) => c.step)).toEqual([18, 24]);
    expect(existsSync(join(dir, "best.safetensors"))).toBe(true);
    // No growth from epoch 2 on (the garbage of earlier tests may be collected meanwhile: fewer is fine).
    expect(buffers[3]).toBeLessThanOrEqual(buffers[1]!);
  });

  it("evaluate and predict agree with the model run by hand, and restore train mode", async () => {
    const a = setup();
    await st.train.fit(a.model, opts(a, { epochs: 2 }));
    const va = blobs(40, 2);
    a.model.train();
    const r = await st.train.evaluate(a.model, a.val, { loss: "crossEntropy", metrics: ["accuracy"] , log: false });
    expect(a.model.training).toBe(true);
    a.model.eval();
    const logits = st.noGrad(() => a.model.forward(va.x));
    const want = Number(await logits.argmax(1).eq(va.y).float().mean().item());
    expect(r.accuracy).toBeCloseTo(want, 10);
    expect(r.loss).toBeCloseTo(Number(await st.nn.functional.crossEntropy(logits, va.y).item()), 5);
    const p = await st.train.predict(a.model, a.val, { log: false });
    expect(p.shape).toEqual([40, 4]);
    expect(Array.from(await p.data(), Number)).toEqual(Array.from(await logits.data(), Number));
  });

  it("rejects bad options with clear errors", async () => {
    const a = setup();
    await expect(st.train.fit(a.model, opts(a, { loss: "hinge" as never }))).rejects.toThrow("unknown loss 'hinge'");
    await expect(st.train.fit(a.model, opts(a, { epochs: -1 }))).rejects.toThrow("epochs must be a non-negative integer");
    await expect(st.train.fit(a.model, opts(a, { data: [st.zeros([2, 2])] }))).rejects.toThrow("the batches have no targets");
  });
});

describe("progress display", () => {
  const stream = (isTTY: boolean) => {
    const chunks: string[] = [];
    return { chunks, s: { isTTY, columns: 200, write: (c: string) => chunks.push(c) } };
  };
  it("redraws a bar in place on a terminal, with rate and ETA", () => {
    let t = 0;
    const { chunks, s } = stream(true);
    const bar = new st.train.ProgressBar({ mode: "bar", stream: s, now: () => t });
    bar.start("epoch 1/2", 10);
    t = 1000;
    bar.update(5, 320, { loss: 0.5, accuracy: 0.9 });
    expect(chunks.at(-1)).toBe("\r\x1b[2Kepoch 1/2  [##########..........]  5/10  loss 0.5000  accuracy 90.00%  320 samples/s  ETA 0:01");
    t = 1050;
    bar.update(6, 384, { loss: 0.4 }); // within 100 ms: not redrawn
    expect(chunks.length).toBe(1);
    bar.finish("epoch 1/2 done");
    expect(chunks.slice(1)).toEqual(["\r\x1b[2K", "epoch 1/2 done\n"]);
  });
  it("prints plain lines when not a terminal, at most one per interval", () => {
    let t = 0;
    const { chunks, s } = stream(false);
    const bar = new st.train.ProgressBar({ stream: s, now: () => t, lineEverySeconds: 10 });
    expect(bar.mode).toBe("lines");
    bar.start("epoch 1/1", 100);
    for (let i = 1; i <= 100; i++) {
      t = i * 500;
      bar.update(i, i * 10, { loss: 1 / i });
    }
    bar.finish("epoch 1/1  loss 0.0100");
    expect(chunks.length).toBe(5); // at 10, 20, 30, 40 s (not at the end), then the summary
    expect(chunks[0]).toBe("epoch 1/1  20/100  loss 0.0500  20 samples/s  ETA 0:40\n");
    expect(chunks.at(-1)).toBe("epoch 1/1  loss 0.0100\n");
  });
});
