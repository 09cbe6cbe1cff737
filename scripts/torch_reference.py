#!/usr/bin/python3
"""PyTorch reference values for Strata's op table.

Reads the samples that scripts/export-op-specs.ts writes, runs each torch call, and writes
test/fixtures/ops.json: per sample, every output's shape and dtype (float inputs in float64, and
again in float32 for the dtypes), its float64 values, and the float64 gradients of
sum_k sum(out_k * cot_k) with respect to the inputs that require grad.

    npx tsx scripts/export-op-specs.ts /tmp/strata-op-specs.json
    /usr/bin/python3 scripts/torch_reference.py /tmp/strata-op-specs.json test/fixtures/ops.json

The torch calls are data (see test/op-table.ts): `fn` is a dotted path, and args/kwargs are JSON
with tagged objects for inputs, slices, tuples, dtypes and non-finite floats.
"""
import importlib
import json
import math
import operator  # noqa: F401  (reachable as "operator.getitem")
import sys

import torch

ALLOWED_ROOTS = {"torch", "operator"}
DTYPES = {"float64": torch.float64, "float32": torch.float32, "int64": torch.int64, "int32": torch.int32, "bool": torch.bool, "uint8": torch.uint8}
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}


def resolve(path):
    parts = path.split(".")
    if parts[0] not in ALLOWED_ROOTS:
        raise ValueError(f"unexpected function root in {path}")
    obj = importlib.import_module(parts[0])
    for p in parts[1:]:
        obj = getattr(obj, p)
    return obj


def decode_float(v):
    if isinstance(v, dict) and "$float" in v:
        return {"inf": math.inf, "-inf": -math.inf, "nan": math.nan, "-0": -0.0}[v["$float"]]
    return v


def make_inputs(spec, float_dtype):
    leaves, inputs = [], []
    for inp in spec["inputs"]:
        dtype = float_dtype if inp["dtype"] == "float" else DTYPES[inp["dtype"]]
        values = [decode_float(v) for v in inp["values"]]
        t = torch.tensor(values, dtype=torch.float64).to(dtype).reshape(inp["shape"])
        if inp["grad"] and inp["dtype"] == "float":
            t.requires_grad_(True)
        leaves.append(t)
    for leaf, inp in zip(leaves, spec["inputs"]):
        x = leaf
        for view in inp["view"]:
            args = [decode(a, leaves, float_dtype) for a in view["args"]]
            if view["op"] == "index":
                x = x[tuple(args)]
            else:
                x = getattr(x, view["op"])(*args)
        inputs.append(x)
    return leaves, inputs


def decode(v, inputs, float_dtype):
    if isinstance(v, list):
        return [decode(x, inputs, float_dtype) for x in v]
    if isinstance(v, dict):
        if "$t" in v:
            return inputs[v["$t"]]
        if "$opt" in v:
            return inputs[v["$opt"]] if v["$opt"] < len(inputs) else None
        if "$inputs" in v:
            return list(inputs)
        if "$slice" in v:
            return slice(*v["$slice"])
        if "$ellipsis" in v:
            return Ellipsis
        if "$tuple" in v:
            return tuple(decode(x, inputs, float_dtype) for x in v["$tuple"])
        if "$dtype" in v:
            return float_dtype if v["$dtype"] == "float" else DTYPES[v["$dtype"]]
        if "$float" in v:
            return decode_float(v)
        raise ValueError(f"unknown tag in {v}")
    return v


def run(spec, float_dtype):
    leaves, inputs = make_inputs(spec, float_dtype)
    call = spec["torch"]
    fn = resolve(call["fn"])
    args = [decode(a, inputs, float_dtype) for a in call["args"]]
    kwargs = {k: decode(v, inputs, float_dtype) for k, v in call.get("kwargs", {}).items()}
    out = fn(*args, **kwargs)
    return leaves, flatten(out)


def flatten(out):
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in flatten(o)]
    raise TypeError(f"unexpected output {type(out)}")


def cotangent(n, k):
    return [(((i * 5 + k * 3) % 7) - 2.5) / 4 for i in range(n)]


def num(v):
    """A JSON value: ints as ints, floats to 12 significant digits, non-finite as strings."""
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    r = float(f"{v:.12g}")
    return int(r) if r.is_integer() and abs(r) < 2**53 else r


def values(t):
    return [num(v) for v in t.detach().reshape(-1).tolist()]


def reference(spec):
    if spec.get("error"):
        try:
            for t in run(spec, torch.float64)[1]:
                t.tolist()
        except Exception as e:  # the sample is meant to be rejected: record how torch did
            return {"sig": spec["sig"], "raises": f"{type(e).__name__}: {e}".split("\n")[0][:200]}
        raise AssertionError("torch did not raise on a sample marked error")
    leaves, outs = run(spec, torch.float64)
    _, outs32 = run(spec, torch.float32)
    rec = {
        "sig": spec["sig"],
        "outs": [
            {"shape": list(o.shape), "dtype": DTYPE_NAMES[o.dtype], "dtype32": DTYPE_NAMES[o32.dtype], "v": values(o)}
            for o, o32 in zip(outs, outs32)
        ],
    }
    if spec["grad"]:
        wrt = [t for t in leaves if t.requires_grad]
        terms = [
            (o * torch.tensor(cotangent(o.numel(), k), dtype=o.dtype).reshape(o.shape)).sum()
            for k, o in enumerate(outs)
            if o.is_floating_point() and o.requires_grad
        ]
        if terms and wrt:
            grads = torch.autograd.grad(sum(terms), wrt, allow_unused=True)
            rec["grads"] = [values(g) if g is not None else None for g in grads]
        else:
            rec["grads"] = [None for _ in wrt]
    return rec


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "/tmp/strata-op-specs.json"
    dst = sys.argv[2] if len(sys.argv) > 2 else "test/fixtures/ops.json"
    with open(src) as f:
        specs = json.load(f)
    check = specs["cotCheck"]
    assert cotangent(check["n"], check["k"]) == check["values"], "cotangent formulas differ"
    fixture = {"version": 1, "torch": torch.__version__, "samples": {}}
    failed = 0
    for spec in specs["samples"]:
        try:
            fixture["samples"][spec["id"]] = reference(spec)
        except Exception as e:  # a sample torch rejects is recorded, and the test reports it
            failed += 1
            fixture["samples"][spec["id"]] = {"sig": spec["sig"], "error": f"{type(e).__name__}: {e}"}
            print(f"{spec['id']}: {type(e).__name__}: {e}", file=sys.stderr)
    with open(dst, "w") as f:
        json.dump(fixture, f, separators=(",", ":"), allow_nan=False)
        f.write("\n")
    print(f"wrote {len(specs['samples'])} samples ({failed} torch errors) to {dst}")


if __name__ == "__main__":
    main()
