#!/usr/bin/python3
"""PyTorch reference values for Strata's recurrent, attention and transformer layers.

    /usr/bin/python3 scripts/sequence_reference.py test/fixtures/sequence.json

Each case builds a torch module with a fixed seed (in float64, dropout 0, train mode), and records
its state_dict, the inputs (with masks and lengths), the outputs, and the gradients of
sum_k sum(out_k * cot_k) with respect to the float inputs and every parameter. The cotangents are
not stored: both sides compute cot_k[i] = ((7 i + 3 k) mod 11 - 5) / 4 for output k, element i.
test/sequence.test.ts loads the state dict into the Strata module (the keys must be torch's) and
compares, in float64 and float32. scaledDotProductAttention is checked against the math it is
defined by (torch 1.13 has no F.scaled_dot_product_attention). Float arrays are stored as base64
of little-endian float64 (exact, and half the size of decimal text).
"""
import base64
import json
import math
import sys

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

torch.set_default_dtype(torch.float64)


def cot(n, k):
    return torch.tensor([((7 * i + 3 * k) % 11 - 5) / 4 for i in range(n)], dtype=torch.float64)


def enc(t):
    t = t.detach()
    if t.dtype == torch.bool:
        return {"shape": list(t.shape), "dtype": "bool", "v": [bool(x) for x in t.reshape(-1).tolist()]}
    if t.dtype in (torch.int64, torch.int32):
        return {"shape": list(t.shape), "dtype": "int64", "v": [int(x) for x in t.reshape(-1).tolist()]}
    return {"shape": list(t.shape), "dtype": "float", "b64": b64(t)}


def b64(t):
    """float64 values, little-endian, base64: exact and half the size of decimal text."""
    return base64.b64encode(t.detach().to(torch.float64).contiguous().numpy().astype("<f8").tobytes()).decode("ascii")


def randn(*shape):
    return torch.randn(*shape, dtype=torch.float64)


def record(name, kind, module, inputs, run, ctor, call=None):
    """inputs: ordered dict name -> tensor (float ones get gradients); run(module, inputs) -> dict of outputs."""
    module.train()
    state = {k: enc(v) for k, v in module.state_dict().items()}
    leaves = {}
    for k, v in inputs.items():
        v = v.clone()
        if v.is_floating_point():
            v.requires_grad_(True)
        leaves[k] = v
    outs = run(module, leaves)
    loss = 0
    for k, (oname, o) in enumerate(outs.items()):
        loss = loss + (o.reshape(-1) * cot(o.numel(), k)).sum()
    params = dict(module.named_parameters())
    wrt = [(f"input:{k}", v) for k, v in leaves.items() if v.requires_grad] + [(f"param:{k}", p) for k, p in params.items()]
    grads = torch.autograd.grad(loss, [t for _, t in wrt], allow_unused=True)
    return {
        "name": name, "kind": kind, "ctor": ctor, "call": call or {},
        "state": state,
        "inputs": {k: enc(v) for k, v in inputs.items()},
        "outputs": {k: enc(o) for k, o in outs.items()},
        "grads": {n: (b64(g) if g is not None else None) for (n, _), g in zip(wrt, grads)},
    }


def rnn_run(packed=None, batch_first=False, lstm=False):
    def run(m, x):
        hx = (x["h0"], x["c0"]) if lstm else x.get("h0")
        inp = x["x"]
        if packed is not None:
            inp = pack_padded_sequence(inp, packed, batch_first=batch_first, enforce_sorted=False)
        out, h = m(inp, hx)
        res = {}
        if packed is not None:
            res["packed_data"] = out.data
            out, _ = pad_packed_sequence(out, batch_first=batch_first)
        res["out"] = out
        if lstm:
            res["hN"], res["cN"] = h
        else:
            res["hN"] = h
        return res
    return run


def rnn_cases():
    cases = []
    torch.manual_seed(1)
    m = nn.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True)
    cases.append(record("lstm 2 layers bidirectional batchFirst, h0 and c0", "LSTM", m,
                        {"x": randn(2, 5, 3), "h0": randn(4, 2, 4), "c0": randn(4, 2, 4)}, rnn_run(lstm=True, batch_first=True),
                        {"args": [3, 4], "opts": {"numLayers": 2, "bidirectional": True, "batchFirst": True}}))
    torch.manual_seed(2)
    m = nn.GRU(3, 4, num_layers=2, bidirectional=True, batch_first=True)
    cases.append(record("gru 2 layers bidirectional batchFirst, h0", "GRU", m,
                        {"x": randn(2, 5, 3), "h0": randn(4, 2, 4)}, rnn_run(batch_first=True),
                        {"args": [3, 4], "opts": {"numLayers": 2, "bidirectional": True, "batchFirst": True}}))
    torch.manual_seed(3)
    m = nn.RNN(3, 4, num_layers=2, nonlinearity="relu", bidirectional=True, batch_first=True)
    cases.append(record("rnn relu 2 layers bidirectional batchFirst, h0", "RNN", m,
                        {"x": randn(2, 5, 3), "h0": randn(4, 2, 4)}, rnn_run(batch_first=True),
                        {"args": [3, 4], "opts": {"numLayers": 2, "bidirectional": True, "batchFirst": True, "nonlinearity": "relu"}}))
    torch.manual_seed(4)
    m = nn.RNN(3, 4, bias=False)
    cases.append(record("rnn tanh unbatched, no bias", "RNN", m,
                        {"x": randn(5, 3), "h0": randn(1, 4)}, rnn_run(),
                        {"args": [3, 4], "opts": {"bias": False}}))
    torch.manual_seed(5)
    m = nn.LSTM(3, 5, proj_size=2, bidirectional=True)
    cases.append(record("lstm projSize bidirectional", "LSTM", m,
                        {"x": randn(4, 2, 3), "h0": randn(2, 2, 2), "c0": randn(2, 2, 5)}, rnn_run(lstm=True),
                        {"args": [3, 5], "opts": {"projSize": 2, "bidirectional": True}}))
    # variable lengths (packed, unsorted); the padding holds garbage on purpose: it must not leak
    torch.manual_seed(6)
    m = nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    cases.append(record("lstm packed, lengths [3, 5, 2]", "LSTM", m,
                        {"x": randn(5, 3, 3), "h0": randn(4, 3, 4), "c0": randn(4, 3, 4), "lengths": torch.tensor([3, 5, 2])},
                        rnn_run(packed=[3, 5, 2], lstm=True),
                        {"args": [3, 4], "opts": {"numLayers": 2, "bidirectional": True}}))
    torch.manual_seed(7)
    m = nn.GRU(3, 4, num_layers=2, bidirectional=True, batch_first=True)
    cases.append(record("gru packed batchFirst, lengths [4, 1, 3]", "GRU", m,
                        {"x": randn(3, 4, 3), "h0": randn(4, 3, 4), "lengths": torch.tensor([4, 1, 3])},
                        rnn_run(packed=[4, 1, 3], batch_first=True),
                        {"args": [3, 4], "opts": {"numLayers": 2, "bidirectional": True, "batchFirst": True}}))
    torch.manual_seed(8)
    m = nn.RNN(3, 4, bidirectional=True)
    cases.append(record("rnn packed, lengths [2, 5, 4, 1]", "RNN", m,
                        {"x": randn(5, 4, 3), "lengths": torch.tensor([2, 5, 4, 1])},
                        rnn_run(packed=[2, 5, 4, 1]),
                        {"args": [3, 4], "opts": {"bidirectional": True}}))
    return cases


def mha_cases():
    cases = []
    causal = torch.triu(torch.ones(4, 4, dtype=torch.bool), diagonal=1)
    torch.manual_seed(10)
    m = nn.MultiheadAttention(8, 2, batch_first=True)
    kpm = torch.tensor([[False, False, False, True], [False, False, True, True]])

    def run_self(m, x):
        out, w = m(x["x"], x["x"], x["x"], key_padding_mask=x["keyPaddingMask"], attn_mask=x["attnMask"])
        return {"out": out, "weights": w}
    cases.append(record("mha self-attention batchFirst, key padding + causal bool masks", "MHA", m,
                        {"x": randn(2, 4, 8), "keyPaddingMask": kpm, "attnMask": causal}, run_self,
                        {"args": [8, 2], "opts": {"batchFirst": True}}, {"self": True}))
    torch.manual_seed(11)
    m = nn.MultiheadAttention(8, 2, kdim=5, vdim=6)

    def run_kv(m, x):
        out, w = m(x["query"], x["key"], x["value"], key_padding_mask=x["keyPaddingMask"], attn_mask=x["attnMask"], average_attn_weights=False)
        return {"out": out, "weights": w}
    cases.append(record("mha kdim/vdim, float attn mask, per-head weights", "MHA", m,
                        {"query": randn(3, 2, 8), "key": randn(4, 2, 5), "value": randn(4, 2, 6),
                         "keyPaddingMask": torch.tensor([[False, False, False, False], [False, True, False, True]]),
                         "attnMask": randn(3, 4)}, run_kv,
                        {"args": [8, 2], "opts": {"kdim": 5, "vdim": 6}}, {"averageAttnWeights": False}))
    torch.manual_seed(12)
    m = nn.MultiheadAttention(8, 2, add_bias_kv=True, add_zero_attn=True)
    mask3 = torch.rand(4, 4, 4) < 0.4

    def run_bkv(m, x):
        out, w = m(x["x"], x["x"], x["x"], attn_mask=x["attnMask"], key_padding_mask=x["keyPaddingMask"])
        return {"out": out, "weights": w}
    cases.append(record("mha addBiasKv + addZeroAttn, 3-D bool mask", "MHA", m,
                        {"x": randn(4, 2, 8), "attnMask": mask3, "keyPaddingMask": torch.tensor([[False] * 4, [False, False, False, True]])}, run_bkv,
                        {"args": [8, 2], "opts": {"addBiasKv": True, "addZeroAttn": True}}, {"self": True}))
    torch.manual_seed(13)
    m = nn.MultiheadAttention(6, 3, bias=False)

    def run_un(m, x):
        out, w = m(x["query"], x["key"], x["key"], key_padding_mask=x["keyPaddingMask"], average_attn_weights=False)
        return {"out": out, "weights": w}
    cases.append(record("mha unbatched, no bias, key padding", "MHA", m,
                        {"query": randn(3, 6), "key": randn(5, 6), "keyPaddingMask": torch.tensor([False, True, False, False, True])}, run_un,
                        {"args": [6, 3], "opts": {"bias": False}}, {"averageAttnWeights": False, "valueIsKey": True}))
    return cases


def sdpa_ref(q, k, v, attn_mask=None, is_causal=False, scale=None):
    L, S = q.size(-2), k.size(-2)
    s = 1 / math.sqrt(q.size(-1)) if scale is None else scale
    scores = q @ k.transpose(-2, -1) * s
    if is_causal:
        attn_mask = torch.ones(L, S, dtype=torch.bool).tril()
    if attn_mask is not None:
        scores = scores.masked_fill(~attn_mask, -math.inf) if attn_mask.dtype == torch.bool else scores + attn_mask
    return torch.softmax(scores, -1) @ v


class Empty(nn.Module):
    pass


def sdpa_cases():
    cases = []
    torch.manual_seed(20)
    mask = torch.rand(3, 5) < 0.6
    mask[:, 0] = True
    cases.append(record("sdpa bool mask, broadcast batch dims", "SDPA", Empty(),
                        {"q": randn(2, 2, 3, 4), "k": randn(2, 2, 5, 4), "v": randn(2, 2, 5, 3), "attnMask": mask},
                        lambda m, x: {"out": sdpa_ref(x["q"], x["k"], x["v"], attn_mask=x["attnMask"])}, {}))
    cases.append(record("sdpa causal, scale 0.3", "SDPA", Empty(),
                        {"q": randn(2, 4, 4), "k": randn(2, 4, 4), "v": randn(2, 4, 4)},
                        lambda m, x: {"out": sdpa_ref(x["q"], x["k"], x["v"], is_causal=True, scale=0.3)}, {}, {"isCausal": True, "scale": 0.3}))
    cases.append(record("sdpa float mask", "SDPA", Empty(),
                        {"q": randn(2, 3, 3, 4), "k": randn(2, 3, 5, 4), "v": randn(2, 3, 5, 2), "attnMask": randn(2, 1, 3, 5)},
                        lambda m, x: {"out": sdpa_ref(x["q"], x["k"], x["v"], attn_mask=x["attnMask"])}, {}))
    return cases


def transformer_cases():
    cases = []
    causal_f = nn.Transformer.generate_square_subsequent_mask(5)
    torch.manual_seed(30)
    m = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, batch_first=True)
    cases.append(record("encoder layer post-norm relu batchFirst, float causal mask + key padding", "EncoderLayer", m,
                        {"src": randn(2, 5, 8), "srcMask": causal_f, "srcKeyPaddingMask": torch.tensor([[False] * 5, [False, False, False, True, True]])},
                        lambda m, x: {"out": m(x["src"], src_mask=x["srcMask"], src_key_padding_mask=x["srcKeyPaddingMask"])},
                        {"args": [8, 2], "opts": {"dimFeedforward": 16, "dropout": 0, "batchFirst": True}}))
    torch.manual_seed(31)
    m = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, activation="gelu", norm_first=True, layer_norm_eps=1e-6)
    cases.append(record("encoder layer pre-norm gelu, key padding", "EncoderLayer", m,
                        {"src": randn(5, 2, 8), "srcKeyPaddingMask": torch.tensor([[False, False, True, True, True], [False] * 5])},
                        lambda m, x: {"out": m(x["src"], src_key_padding_mask=x["srcKeyPaddingMask"])},
                        {"args": [8, 2], "opts": {"dimFeedforward": 16, "dropout": 0, "activation": "gelu", "normFirst": True, "layerNormEps": 1e-6}}))
    torch.manual_seed(32)
    m = nn.TransformerDecoderLayer(8, 2, dim_feedforward=16, dropout=0.0, batch_first=True)
    causal_b = torch.triu(torch.ones(4, 4, dtype=torch.bool), diagonal=1)
    cases.append(record("decoder layer post-norm relu batchFirst, causal bool mask + paddings", "DecoderLayer", m,
                        {"tgt": randn(2, 4, 8), "memory": randn(2, 5, 8), "tgtMask": causal_b,
                         "tgtKeyPaddingMask": torch.tensor([[False] * 4, [False, False, False, True]]),
                         "memoryKeyPaddingMask": torch.tensor([[False, False, False, False, True], [False] * 5])},
                        lambda m, x: {"out": m(x["tgt"], x["memory"], tgt_mask=x["tgtMask"], tgt_key_padding_mask=x["tgtKeyPaddingMask"],
                                               memory_key_padding_mask=x["memoryKeyPaddingMask"])},
                        {"args": [8, 2], "opts": {"dimFeedforward": 16, "dropout": 0, "batchFirst": True}}))
    torch.manual_seed(33)
    m = nn.TransformerDecoderLayer(8, 2, dim_feedforward=16, dropout=0.0, activation="gelu", norm_first=True)
    cases.append(record("decoder layer pre-norm gelu, float memory mask", "DecoderLayer", m,
                        {"tgt": randn(4, 2, 8), "memory": randn(5, 2, 8), "memoryMask": randn(4, 5)},
                        lambda m, x: {"out": m(x["tgt"], x["memory"], memory_mask=x["memoryMask"])},
                        {"args": [8, 2], "opts": {"dimFeedforward": 16, "dropout": 0, "activation": "gelu", "normFirst": True}}))
    torch.manual_seed(34)
    m = nn.Transformer(d_model=8, nhead=2, num_encoder_layers=2, num_decoder_layers=1, dim_feedforward=16, dropout=0.0, batch_first=True)
    skpm = torch.tensor([[False] * 5, [False, False, False, False, True]])

    def run_tf(m, x):
        return {"out": m(x["src"], x["tgt"], tgt_mask=x["tgtMask"], src_key_padding_mask=x["srcKeyPaddingMask"],
                         memory_key_padding_mask=x["srcKeyPaddingMask"])}
    cases.append(record("transformer 2+1 layers batchFirst, causal tgt mask, paddings", "Transformer", m,
                        {"src": randn(2, 5, 8), "tgt": randn(2, 4, 8), "tgtMask": nn.Transformer.generate_square_subsequent_mask(4),
                         "srcKeyPaddingMask": skpm}, run_tf,
                        {"opts": {"dModel": 8, "nhead": 2, "numEncoderLayers": 2, "numDecoderLayers": 1, "dimFeedforward": 16, "dropout": 0, "batchFirst": True}}))
    return cases


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "test/fixtures/sequence.json"
    cases = rnn_cases() + mha_cases() + sdpa_cases() + transformer_cases()
    with open(out, "w") as f:
        json.dump({"torch": torch.__version__, "cases": cases}, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {len(cases)} cases to {out}")


if __name__ == "__main__":
    main()
