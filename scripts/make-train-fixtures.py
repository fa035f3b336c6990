#!/usr/bin/python3
"""PyTorch references for the training engine (src/train/): torch.optim.SGD and Adam/AdamW
under torch.optim.lr_scheduler schedules, in float64, on a tiny MLP.

Run by hand from the repository root with Debian's Python (python3-torch 1.13):

    /usr/bin/python3 scripts/make-train-fixtures.py

Deterministic (fixed seeds, one thread): running it again rewrites the same bytes. Writes
test/fixtures/train/train.json:

  model        {"layers": [8, 6, 3], "activation": "tanh"}: Dense 8→6 tanh, Dense 6→3 linear
  weights      the initial weights in Keras layout (kernel [in, out]), float32 values
               (written as the doubles they are exactly), names dense_1/kernel, ... as in
               src/model/mlp.ts
  x, y         20 examples of 8 float32 features, labels in [0, 3)
  batch_size   8; the order is 0..19 every epoch (DataLoader shuffle=False, drop_last=False):
               minibatches of 8, 8 and 4, so 6 steps cover 2 epochs
  runs         one per optimizer × schedule: {"name", "optimizer", "schedule" (the
               src/train configs), "lr": the rate each step used (param_groups[0]["lr"]
               before optimizer.step()), "loss": each step's minibatch loss,
               "weights": the weights after each step, {name: flat list}}
  schedules    longer runs of the schedules alone: {"schedule", "lr", "values": the rate
               of steps 0..len-1}

Loss: F.cross_entropy (mean), as src/train/trainer.ts. The model is float64 throughout
(torch.set_default_dtype(torch.float64)); the scheduler is stepped once after every
optimizer step.
"""

import json
import math
import os

import torch
import torch.nn.functional as F

torch.set_num_threads(1)
torch.set_default_dtype(torch.float64)

OUT = os.path.join("test", "fixtures", "train", "train.json")
LAYERS = [8, 6, 3]
N, BATCH, STEPS = 20, 8, 6

OPTIMIZERS = {
    "sgd": {"kind": "sgd", "lr": 0.1, "momentum": 0.0, "nesterov": False, "weightDecay": 0.0},
    "sgd-momentum-wd": {"kind": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": False, "weightDecay": 0.01},
    "sgd-nesterov-wd": {"kind": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True, "weightDecay": 0.01},
    "adam-wd": {"kind": "adam", "lr": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weightDecay": 0.01, "decoupled": False},
    "adamw": {"kind": "adam", "lr": 0.01, "beta1": 0.8, "beta2": 0.99, "eps": 1e-6, "weightDecay": 0.1, "decoupled": True},
}
SCHEDULES = {
    "constant": {"kind": "constant"},
    "warmup": {"kind": "warmup", "warmupSteps": 3, "startFactor": 0.25},
    "cosine": {"kind": "cosine", "warmupSteps": 2, "startFactor": 0.25, "totalSteps": 6, "minLr": 0.001},
}
LONG_SCHEDULES = [
    ({"kind": "constant"}, 0.3, 10),
    ({"kind": "warmup", "warmupSteps": 5, "startFactor": 0.1}, 0.3, 12),
    ({"kind": "warmup", "warmupSteps": 1, "startFactor": 0.5}, 0.3, 4),
    ({"kind": "cosine", "warmupSteps": 0, "startFactor": 1.0, "totalSteps": 20, "minLr": 0.0}, 0.3, 21),
    ({"kind": "cosine", "warmupSteps": 5, "startFactor": 0.1, "totalSteps": 40, "minLr": 1e-4}, 0.3, 41),
    ({"kind": "cosine", "warmupSteps": 3, "startFactor": 0.01, "totalSteps": 7, "minLr": 0.05}, 0.3, 8),
]


def f32(t):
    """Rounded to float32, held as float64: the values the TensorFlow.js side starts from."""
    return t.to(torch.float32).to(torch.float64)


def make_optimizer(cfg, params):
    if cfg["kind"] == "sgd":
        return torch.optim.SGD(params, lr=cfg["lr"], momentum=cfg["momentum"], nesterov=cfg["nesterov"], weight_decay=cfg["weightDecay"], dampening=0)
    cls = torch.optim.AdamW if cfg["decoupled"] else torch.optim.Adam
    return cls(params, lr=cfg["lr"], betas=(cfg["beta1"], cfg["beta2"]), eps=cfg["eps"], weight_decay=cfg["weightDecay"])


def make_scheduler(cfg, opt):
    sched = torch.optim.lr_scheduler
    if cfg["kind"] == "constant":
        return None
    warm = cfg["warmupSteps"]
    if cfg["kind"] == "warmup":
        return sched.LinearLR(opt, start_factor=cfg["startFactor"], end_factor=1.0, total_iters=warm)
    cosine = sched.CosineAnnealingLR(opt, T_max=cfg["totalSteps"] - warm, eta_min=cfg["minLr"])
    if warm == 0:
        return cosine
    # Each scheduler's constructor sets the group's lr; SequentialLR resets it to the first's.
    linear = sched.LinearLR(opt, start_factor=cfg["startFactor"], end_factor=1.0, total_iters=warm)
    return sched.SequentialLR(opt, [linear, cosine], milestones=[warm])


def keras_weights(model):
    out = {}
    for i, layer in enumerate([m for m in model if isinstance(m, torch.nn.Linear)]):
        out[f"dense_{i + 1}/kernel"] = layer.weight.detach().t().reshape(-1).tolist()
        out[f"dense_{i + 1}/bias"] = layer.bias.detach().reshape(-1).tolist()
    return out


def build(init):
    model = torch.nn.Sequential(torch.nn.Linear(8, 6), torch.nn.Tanh(), torch.nn.Linear(6, 3))
    with torch.no_grad():
        for i, layer in enumerate([model[0], model[2]]):
            layer.weight.copy_(init[f"dense_{i + 1}/kernel"].t())
            layer.bias.copy_(init[f"dense_{i + 1}/bias"])
    return model


def main():
    g = torch.Generator().manual_seed(20261204)
    init = {}
    for i in range(len(LAYERS) - 1):
        init[f"dense_{i + 1}/kernel"] = f32(torch.randn(LAYERS[i], LAYERS[i + 1], generator=g) * 0.5)
        init[f"dense_{i + 1}/bias"] = f32(torch.randn(LAYERS[i + 1], generator=g) * 0.1)
    x = f32(torch.randn(N, LAYERS[0], generator=g))
    y = torch.randint(0, LAYERS[-1], (N,), generator=g)
    batches = [list(range(s, min(s + BATCH, N))) for s in range(0, N, BATCH)]

    runs = []
    for oname, ocfg in OPTIMIZERS.items():
        for sname, scfg in SCHEDULES.items():
            model = build(init)
            opt = make_optimizer(ocfg, model.parameters())
            sch = make_scheduler(scfg, opt)
            lrs, losses, weights = [], [], []
            for step in range(STEPS):
                idx = torch.tensor(batches[step % len(batches)])
                lrs.append(opt.param_groups[0]["lr"])
                opt.zero_grad()
                loss = F.cross_entropy(model(x[idx]), y[idx])
                loss.backward()
                opt.step()
                if sch is not None:
                    sch.step()
                losses.append(loss.item())
                weights.append(keras_weights(model))
            runs.append({"name": f"{oname}/{sname}", "optimizer": ocfg, "schedule": scfg, "lr": lrs, "loss": losses, "weights": weights})

    schedules = []
    for cfg, lr, length in LONG_SCHEDULES:
        p = torch.nn.Parameter(torch.zeros(1))
        opt = torch.optim.SGD([p], lr=lr)
        sch = make_scheduler(cfg, opt)
        values = []
        for _ in range(length):
            values.append(opt.param_groups[0]["lr"])
            opt.step()
            if sch is not None:
                sch.step()
        schedules.append({"schedule": cfg, "lr": lr, "values": values})

    doc = {
        "torch": torch.__version__,
        "model": {"layers": LAYERS, "activation": "tanh"},
        "weights": {k: v.reshape(-1).tolist() for k, v in init.items()},
        "x": x.reshape(-1).tolist(),
        "y": y.tolist(),
        "batch_size": BATCH,
        "steps": STEPS,
        "runs": runs,
        "schedules": schedules,
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {OUT}: {len(runs)} runs of {STEPS} steps, {len(schedules)} schedules, {os.path.getsize(OUT)} bytes")


if __name__ == "__main__":
    main()
