/**
 * A small training run for test/resume.test.ts: `resume-child.ts <dir> [resume]`. It prints
 * `step N` after each step, checkpoints into <dir> every 3 steps, and at the end writes the
 * final weights to <dir>/final.safetensors and prints `done`. Dropout, a shuffling loader, Adam
 * and a per-step scheduler all carry state that an exact resume must restore.
 */
import { join } from "node:path";
import * as st from "../../src/index.ts";

const [dir, mode] = process.argv.slice(2);
if (!dir) throw new Error("usage: resume-child.ts <dir> [resume]");

st.manualSeed(0);
const n = 192, g = new st.data.Generator(1);
const xs = new Float32Array(n * 2), ys = new Int32Array(n);
for (let i = 0; i < n; i++) {
  ys[i] = i % 4;
  xs[2 * i] = (i & 1 ? 1 : -1) + (g.random() - 0.5) * 2.5;
  xs[2 * i + 1] = (i & 2 ? 1 : -1) + (g.random() - 0.5) * 2.5;
}
const x = st.tensor(xs).reshape([n, 2]), y = st.tensor(ys).to("int64");

class Net extends st.nn.Module {
  l1 = new st.nn.Linear(2, 32);
  drop = new st.nn.Dropout(0.2);
  l2 = new st.nn.Linear(32, 4);
  forward(t: st.Tensor): st.Tensor { // [B, 2] -> [B, 4]
    return this.l2.forward(this.drop.forward(this.l1.forward(t).relu()));
  }
}
const model = new Net();
const optimizer = new st.optim.Adam(model.parameters(), { lr: 0.02 });
const scheduler = new st.optim.StepLR(optimizer, 10, { gamma: 0.7 });
const loader = new st.data.DataLoader(new st.data.TensorDataset(x, y), { batchSize: 16, shuffle: true });
const progress: st.train.Callback = { onBatchEnd: (ctx) => { process.stdout.write(`step ${ctx.step}\n`); } };
await st.train.fit(model, {
  data: loader, loss: "crossEntropy", optimizer, scheduler: { scheduler, interval: "step" }, epochs: 4, log: false,
  callbacks: [new st.train.ModelCheckpoint({ dir, everySteps: 3, keepLast: 2 }), progress],
  resume: mode === "resume" ? dir : null,
});
await st.io.saveFile(model.stateDict(), join(dir, "final.safetensors"));
process.stdout.write("done\n");
