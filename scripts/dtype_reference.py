"""Writes test/fixtures/dtypes.json: PyTorch's dtype promotion and half-precision rounding, the
reference values of test/dtype.test.ts.

Run with a Python that has torch (Debian's python3-torch):
    /usr/bin/python3 scripts/dtype_reference.py
Non-finite floats are written as the strings "nan", "inf" and "-inf" (JSON has no literal for them).
"""
import json
import math
import os

import torch

DTYPES = {
    "bool": torch.bool,
    "uint8": torch.uint8,
    "int32": torch.int32,
    "int64": torch.int64,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float64": torch.float64,
}
NAME = {v: k for k, v in DTYPES.items()}

# Operands of result_type: a 1-D tensor ("t:"), a 0-d tensor ("z:") or a Python scalar ("s:").
SCALARS = {"s:int": 2, "s:float": 2.5, "s:bool": True}


def operand(spec):
    if spec in SCALARS:
        return SCALARS[spec]
    kind, dt = spec.split(":")
    value = torch.ones([2] if kind == "t" else [], dtype=DTYPES[dt])
    return value


def enc(v):
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


def main():
    names = list(DTYPES)
    promote = {a: {b: NAME[torch.promote_types(DTYPES[a], DTYPES[b])] for b in names} for a in names}

    specs = [f"t:{d}" for d in names] + [f"z:{d}" for d in names] + list(SCALARS)
    result_type = []
    for a in specs:
        for b in specs:
            if a in SCALARS and b in SCALARS:
                continue
            r = torch.result_type(operand(a), operand(b))
            result_type.append({"a": a, "b": b, "result": NAME[r]})

    # Values around the edges of float16 and bfloat16: ties (round half to even), the largest
    # finite values and what overflows, subnormals and what underflows, non-finite values.
    values = [
        0.0, -0.0, 1.0, -1.0, 0.1, -0.1, 1 / 3, math.pi, 1e-3, 123.456, -2.5e4,
        1 + 2**-11, 1 + 3 * 2**-11, 1 + 2**-10 + 2**-11, 1 + 2**-11 + 2**-20,
        1 + 2**-8, 1 + 3 * 2**-8, 1 + 2**-8 + 2**-16, 2048 + 1, 2048 + 3,
        65504.0, 65519.0, 65520.0, -65520.0, 1e5, 70000.0,
        6.103515625e-05, 6.0e-05, 2**-24, 2**-25, 3 * 2**-26, 2**-26, 1e-8, -3e-7, 5.9e-8,
        3.3895313892515355e38, 3.39e38, 3.4e38, 1e38, 1e-38, 9.2e-41, 1e-45,
        float("inf"), float("-inf"), float("nan"),
    ]
    halves = {}
    for dt in ("float16", "bfloat16"):
        from64 = torch.tensor(values, dtype=torch.float64).to(DTYPES[dt]).to(torch.float64).tolist()
        from32 = torch.tensor(values, dtype=torch.float32).to(DTYPES[dt]).to(torch.float64).tolist()
        bits = torch.tensor(values, dtype=torch.float32).to(DTYPES[dt]).view(torch.int16).to(torch.int32).bitwise_and(0xFFFF).tolist()
        halves[dt] = {"fromFloat64": [enc(v) for v in from64], "fromFloat32": [enc(v) for v in from32], "bits": bits}

    floats = [2.7, -2.7, 0.5, -0.5, 1.999, -1.999, 100.9, -100.9, 0.0]
    casts = {
        "inputs": floats,
        "int32": torch.tensor(floats, dtype=torch.float32).to(torch.int32).tolist(),
        "int64": torch.tensor(floats, dtype=torch.float32).to(torch.int64).tolist(),
        "bool": torch.tensor(floats, dtype=torch.float32).to(torch.bool).tolist(),
        "uint8FromPositive": torch.tensor([2.7, 0.5, 255.9, 128.2], dtype=torch.float32).to(torch.uint8).tolist(),
        "uint8FromInt32": {"inputs": [300, -1, 255, 256, -256, 7], "outputs": torch.tensor([300, -1, 255, 256, -256, 7], dtype=torch.int32).to(torch.uint8).tolist()},
    }
    i32max = torch.tensor([2**31 - 1], dtype=torch.int32)
    int32 = {
        "maxPlusOne": (i32max + 1).tolist()[0],
        "minMinusOne": (torch.tensor([-(2**31)], dtype=torch.int32) - 1).tolist()[0],
        "mulOverflow": (torch.tensor([65536], dtype=torch.int32) * torch.tensor([65537], dtype=torch.int32)).tolist()[0],
        "negMin": (-torch.tensor([-(2**31)], dtype=torch.int32)).tolist()[0],
    }

    out = {
        "torch": torch.__version__,
        "dtypes": names,
        "promote": promote,
        "resultType": result_type,
        "halfValues": [enc(v) for v in values],
        "half": halves,
        "casts": casts,
        "int32": int32,
    }
    path = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "dtypes.json")
    with open(path, "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {os.path.normpath(path)}: {len(names)}x{len(names)} promotions, {len(result_type)} result types, {len(values)} half values")


if __name__ == "__main__":
    main()
