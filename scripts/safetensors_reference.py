#!/usr/bin/python3
"""safetensors fixtures from PyTorch, for test/safetensors.test.ts.

The `safetensors` Python package is not in Debian, so this writes the format by hand, following
its specification: an unsigned 64-bit little-endian header length, the JSON header (padded with
spaces to a multiple of 8), then the tensors' little-endian bytes back to back. Tensors are laid
out as the reference writer does: larger element sizes first, then by name.

    /usr/bin/python3 scripts/safetensors_reference.py test/fixtures/safetensors

Writes:
- torch-model.safetensors: the state_dict of a small torch model (conv, batch norm with its
  running statistics and int64 num_batches_tracked, linear), after a few training steps so that
  no value is an initial one; plus `x` and `y`: an input batch and the model's output in eval mode.
  The metadata says {"format": "pt"}.
- dtypes.safetensors: one small tensor per dtype the format has (F64 F32 F16 BF16 I64 I32 I16 I8
  U8 BOOL U16 U32 U64 F8_E4M3 F8_E5M2), and dtypes.json: their values as torch/numpy read them
  (non-finite floats as strings).
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch

SIZES = {"F64": 8, "I64": 8, "U64": 8, "F32": 4, "I32": 4, "U32": 4, "F16": 2, "BF16": 2, "I16": 2, "U16": 2,
         "I8": 1, "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1}
TORCH_DTYPES = {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
                torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
                torch.bool: "BOOL"}


def tensor_bytes(t):
    """(dtype name, shape, little-endian bytes) of a torch tensor."""
    t = t.detach().contiguous().cpu()
    name = TORCH_DTYPES[t.dtype]
    if t.dtype == torch.bfloat16:
        arr = t.view(torch.int16).numpy()
    else:
        arr = t.numpy()
    return name, list(t.shape), arr.astype(arr.dtype.newbyteorder("<")).tobytes()


def write(path, entries, metadata=None):
    """entries: {name: (dtype name, shape, bytes)}."""
    order = sorted(entries, key=lambda n: (-SIZES[entries[n][0]], n))
    header, pos = {}, 0
    if metadata:
        header["__metadata__"] = metadata
    for n in order:
        dtype, shape, data = entries[n]
        count = math.prod(shape)
        assert len(data) == count * SIZES[dtype], n
        header[n] = {"dtype": dtype, "shape": shape, "data_offsets": [pos, pos + len(data)]}
        pos += len(data)
    js = json.dumps(header, separators=(",", ":")).encode()
    js += b" " * (-len(js) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(js)))
        f.write(js)
        for n in order:
            f.write(entries[n][2])


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 3, 3)
        self.bn = torch.nn.BatchNorm2d(3)
        self.fc = torch.nn.Linear(3 * 3 * 3, 4)

    def forward(self, x):  # [B, 1, 8, 8] -> [B, 4]
        x = torch.nn.functional.max_pool2d(torch.relu(self.bn(self.conv(x))), 2)
        return self.fc(x.flatten(1))


def model_fixture(out):
    torch.manual_seed(0)
    net = Net()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    for _ in range(3):
        x = torch.randn(4, 1, 8, 8)
        loss = net(x).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    x = torch.randn(2, 1, 8, 8)
    with torch.no_grad():
        y = net(x)
    entries = {k: tensor_bytes(v) for k, v in net.state_dict().items()}
    entries["x"] = tensor_bytes(x)
    entries["y"] = tensor_bytes(y)
    write(os.path.join(out, "torch-model.safetensors"), entries, {"format": "pt"})


def enc(v):
    v = float(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


def dtype_fixture(out):
    floats = [0.0, -0.0, 1.0, -2.5, 1 / 3, 1e-3, 65504.0, -1e-7, math.inf, -math.inf, math.nan, 3.14159]
    ints = [0, 1, -1, 127, -128, 100, -100, 7]
    entries, values = {}, {}
    for dt in (torch.float64, torch.float32, torch.float16, torch.bfloat16):
        t = torch.tensor(floats, dtype=torch.float64).to(dt).reshape(3, 4)
        name = TORCH_DTYPES[dt]
        entries[name.lower()] = tensor_bytes(t)
        values[name.lower()] = [enc(v) for v in t.to(torch.float64).flatten().tolist()]
    big = [0, 1, -1, 2**40 + 3, -(2**52), 123456789]
    entries["i64"] = tensor_bytes(torch.tensor(big, dtype=torch.int64).reshape(2, 3))
    values["i64"] = big
    for dt in (torch.int32, torch.int16, torch.int8):
        entries[TORCH_DTYPES[dt].lower()] = tensor_bytes(torch.tensor(ints, dtype=dt).reshape(2, 2, 2))
        values[TORCH_DTYPES[dt].lower()] = ints
    u8 = [0, 1, 255, 128, 7]
    entries["u8"] = tensor_bytes(torch.tensor(u8, dtype=torch.uint8))
    values["u8"] = u8
    bools = [True, False, False, True]
    entries["bool"] = tensor_bytes(torch.tensor(bools).reshape(2, 2))
    values["bool"] = bools
    for name, np_dt, vals in (("U16", "<u2", [0, 1, 65535, 40000]), ("U32", "<u4", [0, 1, 4294967295, 3000000000]),
                              ("U64", "<u8", [0, 1, 2**53, 2**40 + 1])):
        entries[name.lower()] = (name, [len(vals)], np.array(vals, dtype=np_dt).tobytes())
        values[name.lower()] = vals
    # float8: raw bit patterns with their values by the formats' definitions (E4M3 "fn": bias 7,
    # no infinities, S.1111.111 is NaN; E5M2: bias 15, the top byte of an IEEE half).
    e4m3 = [0x00, 0x38, 0xB8, 0x7E, 0x01, 0x7F, 0x40]
    e5m2 = [0x00, 0x3C, 0xBC, 0x7B, 0x7C, 0xFC, 0x7F, 0x01]

    def e4m3_val(b):
        s = -1.0 if b & 0x80 else 1.0
        e, m = (b >> 3) & 15, b & 7
        if e == 15 and m == 7:
            return math.nan
        return s * (m / 8) * 2.0**-6 if e == 0 else s * (1 + m / 8) * 2.0 ** (e - 7)

    def e5m2_val(b):
        return float(np.frombuffer(bytes([0, b]), dtype="<f2")[0])

    entries["f8_e4m3"] = ("F8_E4M3", [len(e4m3)], bytes(e4m3))
    values["f8_e4m3"] = [enc(e4m3_val(b)) for b in e4m3]
    entries["f8_e5m2"] = ("F8_E5M2", [len(e5m2)], bytes(e5m2))
    values["f8_e5m2"] = [enc(e5m2_val(b)) for b in e5m2]
    entries["empty"] = ("F32", [0, 3], b"")
    values["empty"] = []
    entries["scalar"] = ("F32", [], struct.pack("<f", 42.5))
    values["scalar"] = [42.5]
    write(os.path.join(out, "dtypes.safetensors"), entries, {"source": "torch " + torch.__version__.split("a")[0], "note": "dtype fixture"})
    with open(os.path.join(out, "dtypes.json"), "w") as f:
        json.dump(values, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    model_fixture(out)
    dtype_fixture(out)
