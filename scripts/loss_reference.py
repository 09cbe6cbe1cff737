#!/usr/bin/python3
"""PyTorch reference values for Strata's losses (test/loss.test.ts).

    /usr/bin/python3 scripts/loss_reference.py test/fixtures/loss.json

Writes, per case: the inputs (values on a 1/16 grid, exact in float32 and float64), the options,
torch's float64 output and the float64 gradients of sum(out * cot) with respect to the inputs
marked `grad`. An input may carry `pre` ("logSoftmax" over the last dim, "softmax", "sigmoid"):
the loss sees the transformed tensor and the gradient is taken with respect to the raw one. CTC
cases use it so that gradients are compared with respect to logits: PyTorch's CTC kernel returns
the gradient with respect to log_probs plus exp(log_probs), which cancels through the log-softmax.

Also: the state-dict keys of loss modules with class weights, and the message of each error case
that torch also rejects (the TypeScript test checks that Strata raises for each id).
"""
import json
import math
import random
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
rng = random.Random(20240611)


def grid(shape, lo=-2.0, hi=2.0, step=1 / 16, offset=0.0):
    n = math.prod(shape)
    k = int(round((hi - lo) / step))
    return [lo + step * rng.randint(0, k) + offset for _ in range(n)]


def ints(shape, lo, hi):
    return [rng.randint(lo, hi) for _ in range(math.prod(shape))]


def f(shape, grad=True, pre=None, **kw):
    return {"shape": list(shape), "dtype": "float", "v": grid(shape, **kw), "grad": grad, **({"pre": pre} if pre else {})}


def lit(shape, values, dtype="float", grad=False, pre=None):
    assert len(values) == math.prod(shape)
    return {"shape": list(shape), "dtype": dtype, "v": list(values), "grad": grad, **({"pre": pre} if pre else {})}


def i64(shape, values):
    return lit(shape, values, "int64")


PRE = {None: lambda t: t, "logSoftmax": lambda t: t.log_softmax(-1), "softmax": lambda t: t.softmax(-1), "sigmoid": torch.sigmoid}
DT = {"float": torch.float64, "int64": torch.int64, "int32": torch.int32}

cases = []


def enc(x):
    if isinstance(x, float) and math.isnan(x):
        return "nan"
    if isinstance(x, float) and math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def add(cid, fn, inputs, kw, torch_fn, check_grad=True):
    leaves = []
    for inp in inputs:
        t = torch.tensor(inp["v"], dtype=DT[inp["dtype"]]).reshape(inp["shape"])
        if inp["grad"]:
            t.requires_grad_(True)
        leaves.append(t)
    seen = [PRE[inp.get("pre")](t) for inp, t in zip(inputs, leaves)]
    out = torch_fn(*seen)
    rec = {"id": cid, "fn": fn, "inputs": inputs, "kw": kw, "out": {"shape": list(out.shape), "v": [enc(v) for v in out.detach().reshape(-1).tolist()]}}
    if check_grad and any(inp["grad"] for inp in inputs):
        if out.dim() > 0:
            cot = grid(list(out.shape), lo=0.5, hi=1.5)
            rec["cot"] = cot
            loss = (out * torch.tensor(cot).reshape(out.shape)).sum()
        else:
            loss = out
        gs = torch.autograd.grad(loss, [t for t, inp in zip(leaves, inputs) if inp["grad"]])
        it = iter(gs)
        rec["grads"] = [[enc(v) for v in next(it).reshape(-1).tolist()] if inp["grad"] else None for inp in inputs]
        assert all(math.isfinite(v) for g in rec["grads"] if g for v in g), cid
    cases.append(rec)


# ---- regression losses: targets off the inputs' grid by 1/32, so |d| never sits on a kink ----
for red in ["mean", "sum", "none"]:
    add(f"mseLoss/{red}", "mseLoss", [f([3, 4]), f([3, 4], offset=1 / 32)], {"reduction": red}, lambda a, b, red=red: F.mse_loss(a, b, reduction=red))
    add(f"l1Loss/{red}", "l1Loss", [f([3, 4]), f([3, 4], offset=1 / 32)], {"reduction": red}, lambda a, b, red=red: F.l1_loss(a, b, reduction=red))
for beta, red, shape in [(1.0, "mean", [3, 4]), (0.5, "sum", [3, 4]), (0.0, "none", [2, 5]), (2.0, "mean", [2, 3, 2]), (1.0, "none", [])]:
    add(f"smoothL1Loss/beta={beta}/{red}/{shape}", "smoothL1Loss", [f(shape, lo=-3, hi=3), f(shape, offset=1 / 32)], {"beta": beta, "reduction": red},
        lambda a, b, beta=beta, red=red: F.smooth_l1_loss(a, b, beta=beta, reduction=red))
for delta, red, shape in [(1.0, "mean", [3, 4]), (0.5, "sum", [3, 4]), (2.0, "none", [2, 5]), (1.5, "mean", [2, 3, 2])]:
    add(f"huberLoss/delta={delta}/{red}/{shape}", "huberLoss", [f(shape, lo=-3, hi=3), f(shape, offset=1 / 32)], {"delta": delta, "reduction": red},
        lambda a, b, delta=delta, red=red: F.huber_loss(a, b, delta=delta, reduction=red))

# ---- binary cross entropy ----
add("binaryCrossEntropy/mean", "binaryCrossEntropy", [f([3, 4], pre="sigmoid"), f([3, 4], lo=0, hi=1, grad=False)], {}, lambda x, t: F.binary_cross_entropy(x, t))
add("binaryCrossEntropy/weight/sum", "binaryCrossEntropy", [f([3, 4], pre="sigmoid"), f([3, 4], lo=0, hi=1, grad=False), f([4], lo=0.5, hi=2, grad=False)],
    {"weight": 2, "reduction": "sum"}, lambda x, t, w: F.binary_cross_entropy(x, t, weight=w, reduction="sum"))
add("binaryCrossEntropy/none", "binaryCrossEntropy", [f([5], pre="sigmoid"), lit([5], [0, 1, 1, 0, 0.25])], {"reduction": "none"}, lambda x, t: F.binary_cross_entropy(x, t, reduction="none"))
add("binaryCrossEntropyWithLogits/mean", "binaryCrossEntropyWithLogits", [f([3, 4], lo=-4, hi=4), f([3, 4], lo=0, hi=1, grad=False)], {},
    lambda x, t: F.binary_cross_entropy_with_logits(x, t))
add("binaryCrossEntropyWithLogits/posWeight/none", "binaryCrossEntropyWithLogits", [f([2, 3]), f([2, 3], lo=0, hi=1, grad=False), f([3], lo=0.5, hi=3, grad=False)],
    {"posWeight": 2, "reduction": "none"}, lambda x, t, pw: F.binary_cross_entropy_with_logits(x, t, pos_weight=pw, reduction="none"))
add("binaryCrossEntropyWithLogits/weight+posWeight/sum", "binaryCrossEntropyWithLogits",
    [f([4, 3]), f([4, 3], lo=0, hi=1, grad=False), f([4, 1], lo=0.5, hi=2, grad=False), f([3], lo=0.5, hi=3, grad=False)],
    {"weight": 2, "posWeight": 3, "reduction": "sum"}, lambda x, t, w, pw: F.binary_cross_entropy_with_logits(x, t, weight=w, pos_weight=pw, reduction="sum"))

# ---- nll / cross entropy (class indices and probabilities) ----
add("nllLoss/mean", "nllLoss", [f([4, 5], pre="logSoftmax"), i64([4], [0, 4, 2, 2])], {}, lambda x, t: F.nll_loss(x, t))
add("nllLoss/weight/ignore/mean", "nllLoss", [f([5, 3], pre="logSoftmax"), i64([5], [0, 2, -100, 1, 2]), f([3], lo=0.5, hi=2, grad=False)], {"weight": 2},
    lambda x, t, w: F.nll_loss(x, t, weight=w))
add("nllLoss/kdim/none", "nllLoss", [f([2, 3, 2, 2]), i64([2, 2, 2], [0, 1, 2, 2, 1, 0, 7, 1])], {"ignoreIndex": 7, "reduction": "none"},
    lambda x, t: F.nll_loss(x, t, ignore_index=7, reduction="none"))
add("nllLoss/unbatched/sum", "nllLoss", [f([4], pre="logSoftmax"), i64([], [3])], {"reduction": "sum"}, lambda x, t: F.nll_loss(x, t, reduction="sum"))
add("crossEntropy/mean", "crossEntropy", [f([4, 5]), i64([4], [1, 0, 4, 4])], {}, lambda x, t: F.cross_entropy(x, t))
add("crossEntropy/weight/ignore/smoothing/mean", "crossEntropy", [f([5, 4]), i64([5], [1, -100, 3, 0, 3]), f([4], lo=0.5, hi=2, grad=False)],
    {"weight": 2, "labelSmoothing": 0.15}, lambda x, t, w: F.cross_entropy(x, t, weight=w, label_smoothing=0.15))
add("crossEntropy/ignoreIndex/smoothing/sum", "crossEntropy", [f([4, 3]), i64([4], [2, 1, 1, 0])], {"ignoreIndex": 1, "labelSmoothing": 0.3, "reduction": "sum"},
    lambda x, t: F.cross_entropy(x, t, ignore_index=1, label_smoothing=0.3, reduction="sum"))
add("crossEntropy/kdim/weight/none", "crossEntropy", [f([2, 3, 4]), i64([2, 4], [0, 1, 2, 2, 1, 1, 0, 2]), f([3], lo=0.5, hi=2, grad=False)],
    {"weight": 2, "reduction": "none"}, lambda x, t, w: F.cross_entropy(x, t, weight=w, reduction="none"))
add("crossEntropy/kdim/smoothing/mean", "crossEntropy", [f([2, 3, 2, 2]), i64([2, 2, 2], [0, 1, 2, 2, 1, 0, 0, 1])], {"labelSmoothing": 0.2},
    lambda x, t: F.cross_entropy(x, t, label_smoothing=0.2))
add("crossEntropy/unbatched", "crossEntropy", [f([6]), i64([], [4])], {}, lambda x, t: F.cross_entropy(x, t))
add("crossEntropy/probs/mean", "crossEntropy", [f([3, 4]), f([3, 4], pre="softmax")], {}, lambda x, t: F.cross_entropy(x, t))
add("crossEntropy/probs/weight/smoothing/none", "crossEntropy", [f([3, 4]), f([3, 4], grad=False, pre="softmax"), f([4], lo=0.5, hi=2, grad=False)],
    {"weight": 2, "labelSmoothing": 0.1, "reduction": "none"}, lambda x, t, w: F.cross_entropy(x, t, weight=w, label_smoothing=0.1, reduction="none"))
add("crossEntropy/probs/kdim/sum", "crossEntropy", [f([2, 3, 2]), f([2, 3, 2], lo=0, hi=1, grad=False)], {"reduction": "sum"},
    lambda x, t: F.cross_entropy(x, t, reduction="sum"))

# ---- KL divergence ----
for red in ["mean", "batchmean", "sum", "none"]:
    add(f"klDiv/{red}", "klDiv", [f([3, 4], pre="logSoftmax"), f([3, 4], pre="softmax")], {"reduction": red}, lambda x, t, red=red: F.kl_div(x, t, reduction=red))
    add(f"klDiv/logTarget/{red}", "klDiv", [f([2, 5], pre="logSoftmax"), f([2, 5], pre="logSoftmax")], {"reduction": red, "logTarget": True},
        lambda x, t, red=red: F.kl_div(x, t, reduction=red, log_target=True))
# zeros in the target: they contribute 0 (torch's target gradient there is NaN, so only the input's)
add("klDiv/zeroTargets/batchmean", "klDiv", [f([2, 3], pre="logSoftmax"), lit([2, 3], [0, 0.25, 0.75, 0.5, 0, 0.5])], {"reduction": "batchmean"},
    lambda x, t: F.kl_div(x, t, reduction="batchmean"))
add("klDiv/unbatched/batchmean", "klDiv", [f([4], pre="logSoftmax"), f([4], pre="softmax")], {"reduction": "batchmean"}, lambda x, t: F.kl_div(x, t, reduction="batchmean"))

# ---- cosine embedding ----
add("cosineEmbeddingLoss/mean", "cosineEmbeddingLoss", [f([4, 5]), f([4, 5]), i64([4], [1, -1, -1, 1])], {}, lambda a, b, y: F.cosine_embedding_loss(a, b, y))
add("cosineEmbeddingLoss/margin/none", "cosineEmbeddingLoss", [f([5, 3]), f([5, 3]), lit([5], [-1, -1, 1, -1, 1])], {"margin": -0.25, "reduction": "none"},
    lambda a, b, y: F.cosine_embedding_loss(a, b, y, margin=-0.25, reduction="none"))
add("cosineEmbeddingLoss/margin/sum", "cosineEmbeddingLoss", [f([4, 3]), f([4, 3]), i64([4], [-1, 1, -1, -1])], {"margin": 0.3, "reduction": "sum"},
    lambda a, b, y: F.cosine_embedding_loss(a, b, y, margin=0.3, reduction="sum"))
add("cosineEmbeddingLoss/unbatched", "cosineEmbeddingLoss", [f([6]), f([6]), i64([], [-1])], {"margin": -0.5}, lambda a, b, y: F.cosine_embedding_loss(a, b, y, margin=-0.5))

# ---- triplet margin ----
tm_opts = [({}, "default"), ({"p": 1.0}, "p=1"), ({"p": 3.0, "margin": 2.0}, "p=3"), ({"swap": True, "margin": 1.5}, "swap"), ({"eps": 0.01, "reduction": "none", "margin": 2.0}, "eps/none"),
           ({"reduction": "sum", "swap": True, "p": 1.0, "margin": 0.75}, "swap/p=1/sum")]
for kw, name in tm_opts:
    pk = {"margin": kw.get("margin", 1.0), "p": kw.get("p", 2.0), "eps": kw.get("eps", 1e-6), "swap": kw.get("swap", False), "reduction": kw.get("reduction", "mean")}
    add(f"tripletMarginLoss/{name}", "tripletMarginLoss", [f([5, 4]), f([5, 4]), f([5, 4])], kw, lambda a, p, n, pk=pk: F.triplet_margin_loss(a, p, n, **pk))
add("tripletMarginLoss/unbatched", "tripletMarginLoss", [f([4]), f([4]), f([4])], {"margin": 3.0}, lambda a, p, n: F.triplet_margin_loss(a, p, n, margin=3.0))


# ---- CTC: logits [T, N, C] (log-softmaxed by both sides), padded or concatenated targets ----
def ctc(cid, T, C, targets, in_lens, tg_lens, blank=0, reduction="mean", zero_inf=False, concat=False, as_tensor=False, unbatched=False, check_grad=True):
    N = len(targets)
    S = max([len(t) for t in targets] + [1])
    if concat:
        tg = i64([sum(len(t) for t in targets)], [v for t in targets for v in t])
    elif unbatched:
        tg = i64([len(targets[0])], targets[0])
    else:
        # padding past each length: filler values (-1, blank or out of range), which must be ignored
        tg = i64([N, S], [v for t in targets for v in (t + [[-1, blank, C + 3][i % 3] for i in range(S - len(t))])])
    shape = [T, C] if unbatched else [T, N, C]
    kw = {"inputLengths": in_lens[0] if unbatched else in_lens, "targetLengths": tg_lens[0] if unbatched else tg_lens, "blank": blank, "reduction": reduction,
          "zeroInfinity": zero_inf, "lengthsAsTensor": as_tensor}
    add(f"ctcLoss/{cid}", "ctcLoss", [f(shape, lo=-3, hi=3, pre="logSoftmax"), tg], kw,
        lambda lp, t: F.ctc_loss(lp, t, torch.tensor(in_lens) if as_tensor else in_lens, torch.tensor(tg_lens) if as_tensor else tg_lens,
                                 blank=blank, reduction=reduction, zero_infinity=zero_inf), check_grad)


ctc("padded/mean", 8, 5, [[1, 1, 2], [3, 4], [2, 4, 4, 1]], [8, 6, 8], [3, 2, 4])
ctc("concatenated/sum", 8, 5, [[1, 1, 2], [3, 4], [2, 4, 4, 1]], [8, 6, 8], [3, 2, 4], reduction="sum", concat=True)
ctc("blank=last/none", 7, 5, [[0, 3, 3], [2], [1, 0, 2, 3]], [7, 5, 6], [3, 1, 4], blank=4, reduction="none")
ctc("blank=middle/mean", 9, 6, [[1, 3, 3, 3], [5, 0], [4, 4]], [9, 9, 4], [4, 2, 2], blank=2)
ctc("repeats/tight/none", 6, 4, [[1, 1, 1], [2, 2, 3], [3, 1, 2, 1, 3, 2]], [5, 6, 6], [3, 3, 6], reduction="none")
# (an input length of 0 is left out: torch's CPU kernel returns uninitialised memory for it)
ctc("emptyTarget/none", 5, 4, [[2, 3], [], []], [5, 4, 1], [2, 0, 0], reduction="none")
ctc("lengthTensors/concatenated/mean", 10, 5, [[4, 2, 4, 2], [1], [3, 3]], [10, 7, 3], [4, 1, 2], concat=True, as_tensor=True)
ctc("unbatched/mean", 7, 4, [[3, 1, 1]], [7], [3], unbatched=True)
ctc("unbatched/none", 6, 5, [[2, 4]], [5], [2], unbatched=True, reduction="none", blank=1)
ctc("long/mean", 20, 6, [[1, 2, 3, 4, 5, 5, 4, 3], [2, 2, 2, 2, 2]], [20, 17], [8, 5])
# infeasible targets (more labels and repeat-separating blanks than frames): inf, or 0 with zeroInfinity
ctc("infeasible/none", 5, 4, [[1, 1, 1], [1, 2, 3, 1, 2, 3], [2, 3]], [4, 5, 5], [3, 6, 2], reduction="none", check_grad=False)
ctc("infeasible/zeroInfinity/none", 5, 4, [[1, 1, 1], [1, 2, 3, 1, 2, 3], [2, 3]], [4, 5, 5], [3, 6, 2], reduction="none", zero_inf=True)
ctc("infeasible/zeroInfinity/mean", 5, 4, [[1, 1, 1], [2, 3], [1, 2, 3, 1, 2, 3]], [4, 5, 5], [3, 2, 6], zero_inf=True)
ctc("infeasible/zeroInfinity/sum", 6, 3, [[1, 2, 1], [2, 2, 2, 2]], [6, 6], [3, 4], reduction="sum", zero_inf=True)

# ---- state dicts: class weights are buffers ----
w = torch.ones(3)
state_dicts = {
    "CrossEntropyLoss": list(nn.CrossEntropyLoss().state_dict().keys()),
    "CrossEntropyLoss(weight)": list(nn.CrossEntropyLoss(weight=w).state_dict().keys()),
    "NLLLoss(weight)": list(nn.NLLLoss(weight=w).state_dict().keys()),
    "BCELoss(weight)": list(nn.BCELoss(weight=w).state_dict().keys()),
    "BCEWithLogitsLoss(weight, posWeight)": list(nn.BCEWithLogitsLoss(weight=w, pos_weight=w * 2).state_dict().keys()),
    "BCEWithLogitsLoss(posWeight)": list(nn.BCEWithLogitsLoss(pos_weight=w).state_dict().keys()),
    "MSELoss": list(nn.MSELoss().state_dict().keys()),
}
buffers = {"BCEWithLogitsLoss(weight, posWeight)": [n for n, _ in nn.BCEWithLogitsLoss(weight=w, pos_weight=w * 2).named_buffers()]}

# ---- error cases torch rejects too (ids match test/loss.test.ts) ----
lp = torch.randn(5, 2, 4).log_softmax(2)
x34 = torch.randn(3, 4)
errors = {
    "ctc/inputLength>T": lambda: F.ctc_loss(lp, torch.tensor([[1, 2], [1, 1]]), [6, 5], [2, 2]),
    "ctc/targetLength>S": lambda: F.ctc_loss(lp, torch.tensor([[1, 2], [1, 1]]), [5, 5], [3, 2]),
    "ctc/concatenated size": lambda: F.ctc_loss(lp, torch.tensor([1, 2, 3]), [5, 5], [2, 2]),
    "ctc/inputLengths count": lambda: F.ctc_loss(lp, torch.tensor([[1, 2], [1, 1]]), [5], [2, 2]),
    "ctc/targetLengths count": lambda: F.ctc_loss(lp, torch.tensor([[1, 2], [1, 1]]), [5, 5], [2]),
    "ctc/blank range": lambda: F.ctc_loss(lp, torch.tensor([[1, 2], [1, 1]]), [5, 5], [2, 2], blank=4),
    "ctc/int logProbs": lambda: F.ctc_loss(lp.long(), torch.tensor([[1, 2], [1, 1]]), [5, 5], [2, 2]),
    "ctc/4-D logProbs": lambda: F.ctc_loss(lp.unsqueeze(0), torch.tensor([[1, 2], [1, 1]]), [5, 5], [2, 2]),
    "crossEntropy/float labels [N]": lambda: F.cross_entropy(x34, torch.tensor([0.0, 1, 2])),
    "crossEntropy/weight size": lambda: F.cross_entropy(x34, torch.tensor([0, 1, 2]), weight=torch.ones(3)),
    "crossEntropy/int probabilities": lambda: F.cross_entropy(x34, torch.zeros(3, 4, dtype=torch.long)),
    "crossEntropy/target shape": lambda: F.cross_entropy(x34, torch.tensor([0, 1])),
    "crossEntropy/reduction": lambda: F.cross_entropy(x34, torch.tensor([0, 1, 2]), reduction="avg"),
    "bce/int labels": lambda: F.binary_cross_entropy(x34.sigmoid(), torch.ones(3, 4, dtype=torch.long)),
    "bceWithLogits/int labels": lambda: F.binary_cross_entropy_with_logits(x34, torch.ones(3, 4, dtype=torch.long)),
    "bceWithLogits/posWeight shape": lambda: F.binary_cross_entropy_with_logits(x34, torch.ones(3, 4), pos_weight=torch.ones(3)),
    "smoothL1/beta<0": lambda: F.smooth_l1_loss(x34, x34, beta=-1),
    "huber/delta=0": lambda: F.huber_loss(x34, x34, delta=0),
    "klDiv/int target": lambda: F.kl_div(x34, torch.ones(3, 4, dtype=torch.long)),
    "klDiv/reduction": lambda: F.kl_div(x34, x34, reduction="batch"),
    "cosine/target dims": lambda: F.cosine_embedding_loss(x34, x34, torch.ones(3, 1)),
    "cosine/1-D target, 1-D inputs": lambda: F.cosine_embedding_loss(torch.randn(4), torch.randn(4), torch.ones(4)),
    "cosine/target size": lambda: F.cosine_embedding_loss(x34, x34, torch.ones(2)),
    "cosine/input shapes": lambda: F.cosine_embedding_loss(x34, torch.randn(3, 5), torch.ones(3)),
    "triplet/dims": lambda: F.triplet_margin_loss(x34, x34, torch.randn(4)),
    "triplet/sizes": lambda: F.triplet_margin_loss(x34, x34, torch.randn(2, 4)),
    "nll/weight size": lambda: F.nll_loss(x34, torch.tensor([0, 1, 2]), weight=torch.ones(5)),
}
torch_raises = {}
for k, fn in errors.items():
    try:
        fn()
        raise SystemExit(f"torch accepted error case {k}")
    except (RuntimeError, ValueError, TypeError) as e:
        torch_raises[k] = str(e).split("\n")[0][:200]

out = {"torch": torch.__version__, "cases": cases, "stateDicts": state_dicts, "buffers": buffers, "torchRaises": torch_raises}
with open(sys.argv[1], "w") as fh:
    json.dump(out, fh, separators=(",", ":"))
print(f"{len(cases)} cases, {len(torch_raises)} error cases -> {sys.argv[1]}")
