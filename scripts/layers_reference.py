#!/usr/bin/python3
"""PyTorch reference values for Strata's layers (test/layers.test.ts).

For each case: build the torch layer with a fixed seed (in float64), round its state dict to 12
significant digits (so both sides start from the same exact values), make small inputs and a
cotangent, run the layer (after optional extra train-mode forwards, for running statistics), and
record the output, the gradients of sum(out * cot) with respect to each float input and each
parameter, and the buffers afterwards. Values are written with 12 significant digits.

    /usr/bin/python3 scripts/layers_reference.py test/fixtures/layers.json

The case names must match the table in test/layers.test.ts, which builds the same layers in Strata.
"""
import json
import sys

import torch
from torch import nn

torch.set_default_dtype(torch.float64)
DIGITS = 12


def rnd(t):
    return torch.tensor([float(f"{v:.{DIGITS}g}") for v in t.detach().double().reshape(-1).tolist()], dtype=torch.float64).reshape(t.shape)


def enc(t):
    t = t.detach()
    if t.dtype.is_floating_point:
        data = [float(f"{v:.{DIGITS}g}") for v in t.double().reshape(-1).tolist()]
        dtype = "float64"
    else:
        data = [int(v) for v in t.reshape(-1).tolist()]
        dtype = {torch.int64: "int64", torch.int32: "int32"}[t.dtype]
    return {"shape": list(t.shape), "dtype": dtype, "data": data}


class RMSNormRef(nn.Module):
    """torch 1.13 has no nn.RMSNorm: the formula of torch 2.4's, weight named `weight`."""

    def __init__(self, shape, eps=None):
        super().__init__()
        self.shape = (shape,) if isinstance(shape, int) else tuple(shape)
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(self.shape))

    def forward(self, x):
        eps = self.eps if self.eps is not None else torch.finfo(x.dtype).eps
        dims = tuple(range(x.dim() - len(self.shape), x.dim()))
        return x * torch.rsqrt(x.pow(2).mean(dims, keepdim=True) + eps) * self.weight


def randomize(*names):
    """Replaces the named params/buffers by random values (so that ones/zeros init does not hide bugs)."""
    def f(m):
        with torch.no_grad():
            for n in names:
                t = m.get_parameter(n) if n in dict(m.named_parameters()) else m.get_buffer(n)
                if "var" in n:
                    t.copy_(torch.rand(t.shape) + 0.5)
                else:
                    t.copy_(torch.randn(t.shape))
    return f


def f(*shape):
    return ("float", shape)


def ints(values):
    return ("int", values)


# name: (constructor, inputs, options)
CASES = {
    "linear": (lambda: nn.Linear(4, 3), [f(2, 4)], {}),
    "linear_nobias_3d": (lambda: nn.Linear(5, 2, bias=False), [f(2, 3, 5)], {}),
    "bilinear": (lambda: nn.Bilinear(3, 4, 2), [f(5, 3), f(5, 4)], {}),
    "conv1d": (lambda: nn.Conv1d(2, 4, 3, stride=2, padding=1), [f(2, 2, 9)], {}),
    "conv1d_groups_dilation": (lambda: nn.Conv1d(4, 4, 3, groups=2, dilation=2, bias=False), [f(1, 4, 10)], {}),
    "conv2d": (lambda: nn.Conv2d(2, 3, 3, padding=1), [f(2, 2, 5, 5)], {}),
    "conv2d_stride_groups": (lambda: nn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2), [f(2, 4, 6, 7)], {}),
    "conv2d_reflect": (lambda: nn.Conv2d(2, 2, 3, padding=1, padding_mode="reflect"), [f(1, 2, 5, 4)], {}),
    "conv2d_circular": (lambda: nn.Conv2d(1, 2, 3, padding=(1, 2), padding_mode="circular"), [f(1, 1, 5, 5)], {}),
    "conv2d_same_replicate": (lambda: nn.Conv2d(1, 2, 4, padding="same", padding_mode="replicate"), [f(1, 1, 5, 6)], {}),
    "conv2d_unbatched": (lambda: nn.Conv2d(2, 2, 2), [f(2, 4, 4)], {}),
    "conv_transpose1d": (lambda: nn.ConvTranspose1d(3, 2, 4, stride=2, padding=1), [f(2, 3, 5)], {}),
    "conv_transpose2d": (lambda: nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1, output_padding=1), [f(2, 2, 4, 4)], {}),
    "conv_transpose2d_groups": (lambda: nn.ConvTranspose2d(4, 2, (2, 3), stride=(1, 2), groups=2, dilation=(2, 1), bias=False), [f(1, 4, 3, 3)], {}),
    "conv_transpose2d_output_size": (lambda: nn.ConvTranspose2d(2, 2, 3, stride=2, padding=1), [f(1, 2, 5, 5)], {"forward_kwargs": {"output_size": [10, 10]}}),
    "maxpool1d": (lambda: nn.MaxPool1d(3, stride=2, padding=1), [f(2, 3, 9)], {}),
    "maxpool2d": (lambda: nn.MaxPool2d(2), [f(2, 3, 6, 6)], {}),
    "maxpool2d_ceil": (lambda: nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True), [f(1, 2, 8, 7)], {}),
    "maxpool2d_dilation": (lambda: nn.MaxPool2d((2, 3), stride=1, dilation=2), [f(1, 1, 6, 7)], {}),
    "avgpool2d": (lambda: nn.AvgPool2d(2), [f(2, 3, 6, 6)], {}),
    "avgpool2d_pad": (lambda: nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False, ceil_mode=True), [f(1, 2, 7, 6)], {}),
    "avgpool2d_include_pad": (lambda: nn.AvgPool2d((3, 2), stride=(2, 1), padding=1), [f(1, 2, 5, 5)], {}),
    "adaptive_avgpool2d": (lambda: nn.AdaptiveAvgPool2d((3, 2)), [f(2, 3, 7, 5)], {}),
    "adaptive_avgpool2d_global": (lambda: nn.AdaptiveAvgPool2d(1), [f(2, 3, 4, 4)], {}),
    "adaptive_avgpool2d_none": (lambda: nn.AdaptiveAvgPool2d((None, 3)), [f(1, 2, 4, 6)], {}),
    "batchnorm1d": (lambda: nn.BatchNorm1d(4), [f(6, 4)], {"init": randomize("weight", "bias")}),
    "batchnorm1d_cumulative": (lambda: nn.BatchNorm1d(3, momentum=None), [f(4, 3, 5)], {"pre": [[f(4, 3, 5)], [f(4, 3, 5)]]}),
    "batchnorm2d": (lambda: nn.BatchNorm2d(3, momentum=0.3), [f(2, 3, 4, 4)], {"init": randomize("weight", "bias", "running_mean", "running_var")}),
    "batchnorm2d_eval": (lambda: nn.BatchNorm2d(3, eps=1e-3), [f(2, 3, 4, 4)], {"eval": True, "init": randomize("weight", "bias", "running_mean", "running_var")}),
    "batchnorm2d_untracked_eval": (lambda: nn.BatchNorm2d(3, affine=False, track_running_stats=False), [f(2, 3, 3, 3)], {"eval": True}),
    "layernorm": (lambda: nn.LayerNorm(5), [f(2, 3, 5)], {"init": randomize("weight", "bias")}),
    "layernorm_2d_noaffine": (lambda: nn.LayerNorm([3, 4], elementwise_affine=False, eps=1e-3), [f(2, 3, 4)], {}),
    "groupnorm": (lambda: nn.GroupNorm(2, 6), [f(2, 6, 3, 3)], {"init": randomize("weight", "bias")}),
    "groupnorm_noaffine": (lambda: nn.GroupNorm(3, 3, affine=False), [f(4, 3, 5)], {}),
    "rmsnorm": (lambda: RMSNormRef(5), [f(3, 5)], {"init": randomize("weight")}),
    "rmsnorm_eps": (lambda: RMSNormRef([2, 3], eps=1e-3), [f(2, 2, 3)], {"init": randomize("weight")}),
    "embedding": (lambda: nn.Embedding(10, 3), [ints([[1, 2, 4, 5], [4, 3, 2, 9]])], {}),
    "embedding_padding": (lambda: nn.Embedding(6, 3, padding_idx=2), [ints([[1, 2, 2], [5, 0, 2]])], {}),
    "flatten": (lambda: nn.Flatten(), [f(2, 3, 2, 2)], {}),
    "flatten_range": (lambda: nn.Flatten(0, 2), [f(2, 3, 4, 2)], {}),
    "unflatten": (lambda: nn.Unflatten(1, (2, 3)), [f(2, 6)], {}),
    "identity": (lambda: nn.Identity(), [f(3, 4)], {}),
    "dropout_eval": (lambda: nn.Dropout(0.3), [f(3, 4)], {"eval": True}),
    "relu": (lambda: nn.ReLU(), [f(3, 5)], {}),
    "leaky_relu": (lambda: nn.LeakyReLU(0.2), [f(3, 5)], {}),
    "elu": (lambda: nn.ELU(0.5), [f(3, 5)], {}),
    "gelu": (lambda: nn.GELU(), [f(3, 5)], {}),
    "gelu_tanh": (lambda: nn.GELU(approximate="tanh"), [f(3, 5)], {}),
    "silu": (lambda: nn.SiLU(), [f(3, 5)], {}),
    "tanh": (lambda: nn.Tanh(), [f(3, 5)], {}),
    "sigmoid": (lambda: nn.Sigmoid(), [f(3, 5)], {}),
    "softmax": (lambda: nn.Softmax(dim=1), [f(3, 5)], {}),
    "log_softmax": (lambda: nn.LogSoftmax(dim=-1), [f(2, 3, 4)], {}),
    "sequential_cnn": (lambda: nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8, 3)), [f(2, 1, 6, 6)], {}),
}


def make_input(spec):
    kind, v = spec
    if kind == "int":
        return torch.tensor(v, dtype=torch.int64)
    return rnd(torch.randn(v) * 1.5)


def run_case(seed, name, ctor, input_specs, opts):
    torch.manual_seed(seed)
    m = ctor()
    if "init" in opts:
        opts["init"](m)
    with torch.no_grad():
        for t in list(m.parameters()) + [b for b in m.buffers() if b.dtype.is_floating_point]:
            t.copy_(rnd(t))
    state = {k: enc(v) for k, v in m.state_dict().items()}
    pre = []
    for step in opts.get("pre", []):
        xs = [make_input(s) for s in step]
        pre.append([enc(x) for x in xs])
        with torch.no_grad():
            m(*xs)
    if opts.get("eval"):
        m.eval()
    xs = [make_input(s) for s in input_specs]
    for x in xs:
        if x.dtype.is_floating_point:
            x.requires_grad_(True)
    out = m(*xs, **opts.get("forward_kwargs", {}))
    cot = rnd(torch.randn(out.shape))
    (out * cot).sum().backward()
    grads = {}
    for i, x in enumerate(xs):
        if x.dtype.is_floating_point:
            grads[f"input{i}"] = enc(x.grad)
    for k, p in m.named_parameters():
        grads[k] = enc(p.grad)
    return {
        "name": name,
        "repr": repr(m) if not isinstance(m, RMSNormRef) else None,
        "mode": "eval" if opts.get("eval") else "train",
        "forward_kwargs": opts.get("forward_kwargs", {}),
        "state": state,
        "pre": pre,
        "inputs": [enc(x) for x in xs],
        "cot": enc(cot),
        "out": enc(out),
        "grads": grads,
        "buffers_after": {k: enc(v) for k, v in m.named_buffers()},
    }


def main():
    out_path = sys.argv[1] if len(sys.argv) > 1 else "test/fixtures/layers.json"
    cases = [run_case(1000 + i, name, *spec) for i, (name, spec) in enumerate(CASES.items())]
    with open(out_path, "w") as fh:
        json.dump({"torch": torch.__version__, "digits": DIGITS, "cases": cases}, fh, separators=(",", ":"))
    print(f"wrote {len(cases)} cases to {out_path}")


if __name__ == "__main__":
    main()
