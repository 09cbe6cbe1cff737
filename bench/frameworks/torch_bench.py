"""The benchmarks of bench/README.md in PyTorch (CPU). One benchmark per process:

    python3 bench/frameworks/torch_bench.py <bench> [--threads N] [--seconds S]

Prints one JSON line: {bench, framework: "pytorch", value, unit, ...}, as the TypeScript scripts do,
with the same timing protocol (common.ts timeLoop: warm-up steps, then steps until S seconds have
passed, at least 3). Threads: torch.set_num_threads(N) (default 2), one inter-op thread.

The models are PyTorch's own modules (nn.Linear, nn.Conv2d, nn.MaxPool2d,
nn.TransformerEncoderLayer), eager mode, fp32; training steps are zero_grad(set_to_none=True),
forward, backward, SGD(lr=0.01).step(); inference runs under torch.inference_mode().
"""
import json
import sys
import time

BENCHES = {
    "gemm-512": {"unit": "GFLOP/s", "n": 512},
    "gemm-1024": {"unit": "GFLOP/s", "n": 1024},
    "gemm-2048": {"unit": "GFLOP/s", "n": 2048},
    "mlp-train": {"unit": "samples/s", "batch": 128},
    "cnn-train": {"unit": "samples/s", "batch": 64},
    "cnn-infer": {"unit": "samples/s", "batch": 64},
    "transformer-train": {"unit": "sequences/s", "batch": 16, "seq": 128},
}


def parse_args(argv):
    opts, bench, i = {}, None, 0
    while i < len(argv):
        a = argv[i]
        if a.startswith("--"):
            opts[a[2:]] = argv[i + 1] if i + 1 < len(argv) else ""
            i += 2
        else:
            bench = a
            i += 1
    if bench not in BENCHES:
        raise SystemExit(f"benchmark: expected one of {', '.join(BENCHES)}, got {bench}")
    return bench, opts


def time_loop(step, seconds):
    """common.ts timeLoop: warm-up, then steps until `seconds` have passed (at least 3)."""
    warm, w = time.perf_counter(), 0
    while w < 2 or (w < 10 and time.perf_counter() - warm < seconds * 0.3):
        step()
        w += 1
    steps, t0, t = 0, time.perf_counter(), 0.0
    while steps < 3 or t < seconds:
        step()
        steps += 1
        t = time.perf_counter() - t0
    return steps, t / steps


def main():
    bench, opts = parse_args(sys.argv[1:])
    threads = int(opts.get("threads", 2))
    seconds = float(opts.get("seconds", 3))
    spec = BENCHES[bench]
    extra = {"threads": threads}
    try:
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
    except ImportError as e:
        print(json.dumps({"bench": bench, "framework": "pytorch", "value": None, "unit": spec["unit"], "note": f"no torch: {e}"}))
        return 1
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    torch.manual_seed(0)
    extra["version"] = torch.__version__
    extra["threads"] = torch.get_num_threads()

    def sgd_step(model, loss_fn):
        opt = torch.optim.SGD(model.parameters(), lr=0.01)

        def step():
            opt.zero_grad(set_to_none=True)
            loss_fn().backward()
            opt.step()

        return step

    def cnn():
        return nn.Sequential(
            nn.Conv2d(1, 32, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(1024, 10),
        )

    if "n" in spec:
        n = spec["n"]
        a, b, c = torch.randn(n, n), torch.randn(n, n), torch.empty(n, n)
        step, per_step = (lambda: torch.mm(a, b, out=c)), 2 * n**3 / 1e9
    elif bench == "mlp-train":
        model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
        x, y = torch.rand(spec["batch"], 784), torch.randint(0, 10, (spec["batch"],))
        step, per_step = sgd_step(model, lambda: F.cross_entropy(model(x), y)), spec["batch"]
    elif bench == "cnn-train":
        model = cnn()
        x, y = torch.rand(spec["batch"], 1, 28, 28), torch.randint(0, 10, (spec["batch"],))
        step, per_step = sgd_step(model, lambda: F.cross_entropy(model(x), y)), spec["batch"]
    elif bench == "cnn-infer":
        model = cnn().eval()
        x = torch.rand(spec["batch"], 1, 28, 28)

        def step():
            with torch.inference_mode():
                model(x)

        per_step = spec["batch"]
    elif bench == "transformer-train":
        layer = nn.TransformerEncoderLayer(256, 4, dim_feedforward=1024, dropout=0.0, batch_first=True)
        x = torch.randn(spec["batch"], spec["seq"], 256)
        step, per_step = sgd_step(layer, lambda: layer(x).square().mean()), spec["batch"]
    else:
        raise AssertionError(bench)

    steps, sec = time_loop(step, seconds)
    print(json.dumps({"bench": bench, "framework": "pytorch", **extra, "value": per_step / sec, "unit": spec["unit"], "steps": steps, "msPerStep": sec * 1e3}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
