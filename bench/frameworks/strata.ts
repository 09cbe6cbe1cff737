/**
 * The benchmarks of bench/README.md in Strata. One benchmark per process:
 *
 *   npx tsx bench/frameworks/strata.ts <bench> [--device wasm|js] [--blas auto|on|off] [--jit on|off] [--seconds S]
 *
 * Steps run through `st.jit` unless `--jit off` (then every step builds and schedules its graph).
 *
 * Prints one JSON line: { bench, value, unit, ... } (value: GFLOP/s, samples/s or sequences/s).
 */
import * as st from "../../src/index.ts";
import { WasmBackend } from "../../src/backends/wasm/backend.ts";
import { BENCHES, type BenchName, parseArgs, report, timeLoop, workPerStep } from "./common.ts";
import { benchCnn } from "./strata-models.ts";

const args = parseArgs(process.argv.slice(2));
const bench = args.bench as BenchName;
const blas = (args.opts.blas ?? "auto") as "auto" | "on" | "off";
const device = args.opts.device ?? "wasm";
const useJit = (args.opts.jit ?? "on") !== "off";
let blasCore: string | null = null;
if (device === "wasm") {
  st.registerBackend("wasm", () => {
    const backend = new WasmBackend({ blas });
    blasCore = backend.blas?.core ?? null;
    return backend;
  });
}
st.device(device);
st.manualSeed(0);
const spec = BENCHES[bench];
const F = st.nn.functional;

function sgdStep(model: st.nn.Module, loss: () => st.Tensor, opt: st.optim.Optimizer): () => void {
  const step = (): st.Tensor => {
    opt.zeroGrad();
    const l = loss();
    l.backward();
    opt.step();
    return l;
  };
  const run = useJit ? st.jit(step) : step;
  return () => {
    st.scope(() => {
      run();
      st.realize(...model.parameters());
    });
  };
}

function run(): () => void {
  switch (bench) {
    case "gemm-512": case "gemm-1024": case "gemm-2048": {
      const n = spec.n!;
      const a = st.randn([n, n]), b = st.randn([n, n]);
      st.realize(a, b);
      return () => st.scope(() => st.realize(a.matmul(b)));
    }
    case "mlp-train": {
      const model = new st.nn.Sequential(new st.nn.Linear(784, 512), new st.nn.ReLU(), new st.nn.Linear(512, 512), new st.nn.ReLU(), new st.nn.Linear(512, 10));
      const x = st.rand([spec.batch!, 784]), y = st.randint(0, 10, [spec.batch!]);
      st.realize(x, y);
      const opt = new st.optim.SGD(model.parameters(), { lr: 0.01 });
      return sgdStep(model, () => F.crossEntropy((model.forward(x) as st.Tensor), y), opt);
    }
    case "cnn-train": {
      const model = benchCnn();
      const x = st.rand([spec.batch!, 1, 28, 28]), y = st.randint(0, 10, [spec.batch!]);
      st.realize(x, y);
      const opt = new st.optim.SGD(model.parameters(), { lr: 0.01 });
      return sgdStep(model, () => F.crossEntropy((model.forward(x) as st.Tensor), y), opt);
    }
    case "cnn-infer": {
      const model = benchCnn();
      model.eval();
      const x = st.rand([spec.batch!, 1, 28, 28]);
      st.realize(x);
      const forward = (): st.Tensor => model.forward(x) as st.Tensor;
      const run = useJit ? st.jit(forward) : forward;
      return () => st.noGrad(() => st.scope(() => st.realize(run())));
    }
    case "transformer-train": {
      const layer = new st.nn.TransformerEncoderLayer(256, 4, { dimFeedforward: 1024, dropout: 0, batchFirst: true });
      const x = st.randn([spec.batch!, spec.seq!, 256]);
      st.realize(x);
      const opt = new st.optim.SGD(layer.parameters(), { lr: 0.01 });
      return sgdStep(layer, () => layer.forward(x).square().mean(), opt);
    }
  }
}

const r = timeLoop(run(), Number(args.opts.seconds ?? 3));
report(bench, "strata", workPerStep(bench), r, { device, blas, blasCore, jit: useJit });
