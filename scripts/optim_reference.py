#!/usr/bin/python3
"""PyTorch reference values for Strata's optimizers, LR schedulers and gradient clipping.

Writes test/fixtures/optim.json (read by test/optim.test.ts):
  - optimizers: for each optimizer and option combination, three parameters in two parameter
    groups (the second group with its own options), updated for STEPS steps with the gradients
    given in the fixture (parameter 1 has no gradient at step 2, so it skips that step), in
    float64 and in float32; the parameters after every step, and the structure of state_dict().
  - schedulers: each scheduler's learning rates (and OneCycleLR's momentum) over 30 steps.
  - clipping: clip_grad_norm_ (total norm and clipped gradients) and clip_grad_value_.

    /usr/bin/python3 scripts/optim_reference.py test/fixtures/optim.json
"""
import json
import math
import random
import sys

import warnings

import torch

warnings.filterwarnings("ignore", category=UserWarning)  # the epoch argument SequentialLR passes, and the like

STEPS = 6
SHAPES = [[3, 4], [4], [2, 3]]
SKIP = (2, 1)  # (step, parameter): no gradient there


def r(x, digits=6):
    return round(x, digits)


rng = random.Random(1234)
INIT = [[r(rng.uniform(-1, 1)) for _ in range(math.prod(s))] for s in SHAPES]
GRADS = [[[r(rng.gauss(0, 1)) for _ in range(math.prod(s))] for s in SHAPES] for _ in range(STEPS)]

# (name, torch class, group-0 options, group-1 options); option names are Strata's (camelCase).
CASES = [
    ("sgd", "SGD", {"lr": 0.1}, {"lr": 0.05}),
    ("sgd-momentum", "SGD", {"lr": 0.1, "momentum": 0.9}, {"lr": 0.05, "momentum": 0.5}),
    ("sgd-dampening", "SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.3}, {"lr": 0.2}),
    ("sgd-nesterov", "SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}, {"lr": 0.05, "momentum": 0.8, "nesterov": True}),
    ("sgd-wd-maximize", "SGD", {"lr": 0.1, "momentum": 0.9, "weightDecay": 0.1, "maximize": True}, {"lr": 0.05, "weightDecay": 0.0}),
    ("adam", "Adam", {"lr": 0.01}, {"lr": 0.05}),
    ("adam-wd", "Adam", {"lr": 0.01, "weightDecay": 0.1}, {"lr": 0.02, "weightDecay": 0.0}),
    ("adam-amsgrad", "Adam", {"lr": 0.01, "amsgrad": True}, {"lr": 0.05, "amsgrad": False}),
    ("adam-betas-eps-maximize", "Adam", {"lr": 0.02, "betas": [0.8, 0.9], "eps": 1e-3, "maximize": True}, {"lr": 0.01, "betas": [0.5, 0.99]}),
    ("adamw", "AdamW", {"lr": 0.01}, {"lr": 0.05, "weightDecay": 0.5}),
    ("adamw-amsgrad", "AdamW", {"lr": 0.01, "amsgrad": True, "weightDecay": 0.1}, {"lr": 0.03, "betas": [0.7, 0.95]}),
    ("rmsprop", "RMSprop", {"lr": 0.01}, {"lr": 0.02, "alpha": 0.9}),
    ("rmsprop-momentum", "RMSprop", {"lr": 0.01, "momentum": 0.9}, {"lr": 0.005, "momentum": 0.5, "eps": 1e-4}),
    ("rmsprop-centered", "RMSprop", {"lr": 0.01, "centered": True}, {"lr": 0.02}),
    ("rmsprop-centered-momentum-wd", "RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.8, "weightDecay": 0.1}, {"lr": 0.01, "maximize": True}),
    ("adagrad", "Adagrad", {"lr": 0.1}, {"lr": 0.05}),
    ("adagrad-decay-wd", "Adagrad", {"lr": 0.1, "lrDecay": 0.05, "weightDecay": 0.1}, {"lr": 0.2, "lrDecay": 0.2}),
    ("adagrad-init-eps-maximize", "Adagrad", {"lr": 0.1, "initialAccumulatorValue": 0.5, "eps": 1e-3, "maximize": True}, {"lr": 0.2, "initialAccumulatorValue": 0.5}),
]

SNAKE = {"weightDecay": "weight_decay", "lrDecay": "lr_decay", "initialAccumulatorValue": "initial_accumulator_value"}


def torch_opts(o):
    out = {SNAKE.get(k, k): v for k, v in o.items()}
    if "betas" in out:
        out["betas"] = tuple(out["betas"])
    return out


def run_optimizer(cls, g0, g1, dtype):
    params = [torch.tensor(v, dtype=torch.float64).to(dtype).reshape(s).requires_grad_() for v, s in zip(INIT, SHAPES)]
    # torch's Adagrad fills its initial sums with the constructor's initial_accumulator_value, not
    # the group's (Strata uses the group's): the cases give both groups the same value.
    kw = {"initial_accumulator_value": g0["initialAccumulatorValue"]} if "initialAccumulatorValue" in g0 else {}
    opt = getattr(torch.optim, cls)([{"params": params[:2], **torch_opts(g0)}, {"params": params[2:], **torch_opts(g1)}], **kw)
    after = []
    structure = None
    for step in range(STEPS):
        for i, p in enumerate(params):
            p.grad = None if (step, i) == SKIP else torch.tensor(GRADS[step][i], dtype=torch.float64).to(dtype).reshape(SHAPES[i])
        opt.step()
        after.append([p.detach().to(torch.float64).reshape(-1).tolist() for p in params])
        if step == 2:
            sd = opt.state_dict()
            structure = {
                "state": {str(k): {name: (float(v) if name == "step" else list(v.shape)) for name, v in s.items() if isinstance(v, torch.Tensor)} for k, s in sd["state"].items()},
                "param_groups": [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in sd["param_groups"]],
            }
    return after, structure


def optimizers():
    out = []
    for name, cls, g0, g1 in CASES:
        f64, structure = run_optimizer(cls, g0, g1, torch.float64)
        f32, _ = run_optimizer(cls, g0, g1, torch.float32)
        out.append({"name": name, "optimizer": cls, "groups": [g0, g1], "float64": f64, "float32": [[[float("%.9g" % x) for x in p] for p in s] for s in f32], "stateDict": structure})
    return out


# ---- schedulers ----

SCHED_STEPS = 30
S = torch.optim.lr_scheduler


def sched_opt(kind):
    ps = [torch.zeros(2, requires_grad=True), torch.zeros(3, requires_grad=True)]
    groups = [{"params": ps[:1]}, {"params": ps[1:], "lr": 0.05}]
    if kind == "Adam":
        return torch.optim.Adam(groups, lr=0.1)
    return torch.optim.SGD(groups, lr=0.1, momentum=0.9)


# (name, optimizer kind, description for the test, constructor)
SCHEDULERS = [
    ("StepLR", "SGD", {"stepSize": 7, "gamma": 0.5}, lambda o: S.StepLR(o, 7, gamma=0.5)),
    ("StepLR-default", "SGD", {"stepSize": 10}, lambda o: S.StepLR(o, 10)),
    ("MultiStepLR", "SGD", {"milestones": [5, 12, 12, 20], "gamma": 0.3}, lambda o: S.MultiStepLR(o, [5, 12, 12, 20], gamma=0.3)),
    ("ExponentialLR", "SGD", {"gamma": 0.9}, lambda o: S.ExponentialLR(o, 0.9)),
    ("CosineAnnealingLR", "SGD", {"tMax": 10, "etaMin": 0.001}, lambda o: S.CosineAnnealingLR(o, 10, eta_min=0.001)),
    ("CosineAnnealingLR-default", "SGD", {"tMax": 25}, lambda o: S.CosineAnnealingLR(o, 25)),
    ("LinearLR", "SGD", {"startFactor": 0.25, "endFactor": 0.9, "totalIters": 8}, lambda o: S.LinearLR(o, start_factor=0.25, end_factor=0.9, total_iters=8)),
    ("LinearLR-default", "SGD", {}, lambda o: S.LinearLR(o)),
    ("SequentialLR-linear-cosine", "SGD", {}, lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=0.1, total_iters=5), S.CosineAnnealingLR(o, 20)], [5])),
    ("SequentialLR-three", "SGD", {}, lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=0.5, total_iters=4), S.ExponentialLR(o, 0.8), S.StepLR(o, 3, gamma=0.5)], [6, 15])),
    ("OneCycleLR", "SGD", {"maxLr": [1.0, 0.5], "totalSteps": 30}, lambda o: S.OneCycleLR(o, [1.0, 0.5], total_steps=30)),
    ("OneCycleLR-adam-linear-three-phase", "Adam", {"maxLr": 0.01, "totalSteps": 30, "annealStrategy": "linear", "threePhase": True, "pctStart": 0.25, "divFactor": 10.0, "finalDivFactor": 100.0, "baseMomentum": 0.8, "maxMomentum": 0.9},
     lambda o: S.OneCycleLR(o, 0.01, total_steps=30, anneal_strategy="linear", three_phase=True, pct_start=0.25, div_factor=10.0, final_div_factor=100.0, base_momentum=0.8, max_momentum=0.9)),
    ("OneCycleLR-epochs-no-momentum", "SGD", {"maxLr": 0.3, "epochs": 3, "stepsPerEpoch": 10, "cycleMomentum": False}, lambda o: S.OneCycleLR(o, 0.3, epochs=3, steps_per_epoch=10, cycle_momentum=False)),
]

METRICS = [1.0, 0.9, 0.85, 0.85, 0.849999, 0.86, 0.84, 0.84, 0.84, 0.84, 0.84, 0.83, 0.83, 0.83, 0.83, 0.9, 0.9, 0.9, 0.8,
           0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.79, 0.79, 0.79, 0.79]
PLATEAU = [
    ("ReduceLROnPlateau-min-rel", {"patience": 2}, {"patience": 2}),
    ("ReduceLROnPlateau-min-abs-cooldown", {"patience": 1, "threshold": 0.01, "thresholdMode": "abs", "cooldown": 2, "factor": 0.5}, {"patience": 1, "threshold": 0.01, "threshold_mode": "abs", "cooldown": 2, "factor": 0.5}),
    ("ReduceLROnPlateau-max-minlr", {"mode": "max", "patience": 0, "factor": 0.5, "minLr": [0.02, 0.03]}, {"mode": "max", "patience": 0, "factor": 0.5, "min_lr": [0.02, 0.03]}),
    ("ReduceLROnPlateau-max-rel-eps", {"mode": "max", "patience": 1, "threshold": 0.05, "eps": 0.01}, {"mode": "max", "patience": 1, "threshold": 0.05, "eps": 0.01}),
]


def momentum_of(opt):
    return [g["betas"][0] if "betas" in g else g["momentum"] for g in opt.param_groups]


def schedulers():
    out = []
    for name, kind, opts, make in SCHEDULERS:
        opt = sched_opt(kind)
        s = make(opt)
        lrs, moms = [s.get_last_lr()], [momentum_of(opt)]
        for _ in range(SCHED_STEPS):
            opt.step()
            s.step()
            lrs.append(s.get_last_lr())
            moms.append(momentum_of(opt))
        out.append({"name": name, "optimizer": kind, "options": opts, "lrs": lrs, "momentum": moms})
    for name, opts, torch_kw in PLATEAU:
        opt = sched_opt("SGD")
        s = S.ReduceLROnPlateau(opt, **torch_kw)
        lrs = []
        for m in METRICS:
            opt.step()
            s.step(m)
            lrs.append([g["lr"] for g in opt.param_groups])
        out.append({"name": name, "optimizer": "SGD", "options": opts, "metrics": METRICS, "lrs": lrs})
    return out


# ---- clipping ----

CLIP_SHAPES = [[3, 4], [5], [2, 2]]
CLIP_GRADS = [[r(rng.gauss(0, 1)) for _ in range(math.prod(s))] for s in CLIP_SHAPES]
CLIP_CASES = [(1.0, 2.0), (0.5, 1.0), (2.0, math.inf), (1.0, 3.0), (100.0, 2.0), (0.1, 0.5)]


def clipping():
    out = []
    for dtype_name, dtype in (("float64", torch.float64), ("float32", torch.float32)):
        for n_params in (3, 1):
            for max_norm, norm_type in CLIP_CASES:
                ps = []
                for v, s in list(zip(CLIP_GRADS, CLIP_SHAPES))[:n_params]:
                    p = torch.zeros(s, dtype=dtype, requires_grad=True)
                    p.grad = torch.tensor(v, dtype=torch.float64).to(dtype).reshape(s)
                    ps.append(p)
                total = torch.nn.utils.clip_grad_norm_(ps, max_norm, norm_type)
                out.append({"kind": "norm", "dtype": dtype_name, "params": n_params, "maxNorm": max_norm, "normType": "inf" if norm_type == math.inf else norm_type,
                            "total": float(total), "grads": [p.grad.to(torch.float64).reshape(-1).tolist() for p in ps]})
        ps = []
        for v, s in zip(CLIP_GRADS, CLIP_SHAPES):
            p = torch.zeros(s, dtype=dtype, requires_grad=True)
            p.grad = torch.tensor(v, dtype=torch.float64).to(dtype).reshape(s)
            ps.append(p)
        torch.nn.utils.clip_grad_value_(ps, 0.7)
        out.append({"kind": "value", "dtype": dtype_name, "clipValue": 0.7, "grads": [p.grad.to(torch.float64).reshape(-1).tolist() for p in ps]})
    return out


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "test/fixtures/optim.json"
    data = {
        "torch": torch.__version__,
        "shapes": SHAPES, "init": INIT, "grads": GRADS, "skip": list(SKIP),
        "optimizers": optimizers(),
        "schedulers": schedulers(),
        "clip": {"shapes": CLIP_SHAPES, "grads": CLIP_GRADS, "cases": clipping()},
    }
    with open(path, "w") as f:
        json.dump(data, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
