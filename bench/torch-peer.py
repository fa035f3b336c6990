#!/usr/bin/env python3
"""PyTorch peer for bench/worker.ts: per-minibatch gradients of the same workloads.

Workloads (mean softmax cross-entropy, the same shapes as gradswarm's models):
  mlp-64   MLP 784-64-10 relu, minibatch 32 (the seed's workload, examples/quickstart.yaml)
  mlp-256  MLP 784-256-256-10 relu, minibatch 64
  cnn      conv 3x3x32 'same' + relu + 2x2 max pool, conv 3x3x64 + relu + pool, dense 10,
           on 28x28x1 inputs, minibatches of 64 and 512

For K = 1, 8, 32 minibatch gradients at one set of weights (one "step"), each with its
own minibatch drawn from the data:
  loop  K forward/backward passes (torch.autograd.grad), one per minibatch
  vmap  functorch's vmap(grad(loss)) over the K minibatches (torch.func in torch >= 2.0;
        functorch in 1.13), where present
  bmm   MLPs only: the weights replicated K times, one pass of batched matmuls; the
        gradient with respect to copy k is minibatch k's gradient

Prints one JSON object on stdout: {"device", "torch", "threads", "blas", "libraries",
"config", "vmap", "rows": [{workload, method, k, batch, minibatch_grads_per_s,
examples_per_s, device, reps, seconds}]}. Progress goes to stderr.

--probe measures nothing: it prints {"torch", "device", "libraries", "config"} (the shared
objects this process has mapped, symlinks resolved, and torch.__config__.show()), from
which bench/torch-blas.ts tells which BLAS torch uses; the benches refuse a peer on the
reference BLAS.

Run with a python3 that has torch (Debian: /usr/bin/python3 with python3-torch and
libopenblas0-pthread installed, else torch links the slow reference BLAS; scripts/bench-setup.sh
installs both):
  /usr/bin/python3 bench/torch-peer.py [--threads 2] [--reps 3] [--min-time 0.25]
      [--workloads mlp-64,mlp-256,cnn] [--ks 1,8,32] [--row-budget 3] [--max-step-s 4]
      [--no-malloc-tuning] [--probe]
"""

import argparse
import json
import math
import os
import sys
import time

# OpenMP and OpenBLAS read these when the library loads, so before `import torch`.
_ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
_ap.add_argument("--threads", type=int, default=int(os.environ.get("GRADSWARM_TORCH_THREADS", "2")))
_ap.add_argument("--reps", type=int, default=3, help="timed repetitions per row; the best is reported")
_ap.add_argument("--min-time", type=float, default=0.25, help="seconds each repetition lasts at least (several steps)")
_ap.add_argument("--workloads", default="mlp-64,mlp-256,cnn")
_ap.add_argument("--ks", default="1,8,32")
_ap.add_argument("--row-budget", type=float, default=3.0, help="seconds of timed repetitions per row (fewer repetitions for slow rows, at least one)")
_ap.add_argument("--max-step-s", type=float, default=4.0, help="skip a row whose single step is estimated to take longer")
_ap.add_argument("--device", default="auto", help="auto (cuda if present), cpu or cuda")
_ap.add_argument("--no-malloc-tuning", action="store_true", help="keep glibc malloc's defaults (see MALLOC_TUNING)")
_ap.add_argument("--probe", action="store_true", help="print the torch version, device, mapped libraries and build config as JSON; measure nothing")
ARGS = _ap.parse_args()

# Before torch loads: glibc malloc tuned (a re-exec) and the thread counts (torch_common.py).
from torch_common import log, malloc_description, mapped_libraries, prepare_process  # noqa: E402

prepare_process(ARGS.threads, malloc_tuning=not ARGS.no_malloc_tuning and not ARGS.probe)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def find_vmap():
    """(vmap, grad, where) from torch.func (>= 2.0) or functorch (1.13), else (None, None, why)."""
    try:
        from torch.func import grad, vmap  # type: ignore

        return vmap, grad, "torch.func"
    except Exception:
        pass
    try:
        from functorch import grad, vmap  # type: ignore

        return vmap, grad, "functorch"
    except Exception as err:  # noqa: BLE001
        return None, None, f"unavailable ({type(err).__name__}: {err})"


def probe():
    """What bench/torch-blas.ts needs to tell which BLAS torch computes with."""
    torch.mm(torch.ones(64, 64), torch.ones(64, 64))  # a BLAS loaded on first use is mapped now
    cuda = ARGS.device == "cuda" or (ARGS.device == "auto" and torch.cuda.is_available())
    json.dump({"torch": torch.__version__, "device": "cuda" if cuda else "cpu", "libraries": mapped_libraries(), "config": torch.__config__.show()}, sys.stdout, indent=1)
    sys.stdout.write("\n")


def blas_library():
    """The BLAS shared library torch actually loaded (Debian picks it through alternatives)."""
    try:
        with open("/proc/self/maps") as f:
            libs = sorted({line.split()[-1] for line in f if "blas" in line.lower() and "/" in line})
        return ", ".join(os.path.realpath(p) for p in libs) or "none mapped (static or MKL)"
    except OSError:
        return "unknown"


def load_data(device):
    """examples/data (10,000 MNIST digits as IDX, the order scripts/make-example-data.mjs writes), else random."""
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "data")
    try:
        with open(os.path.join(root, "images-idx3-ubyte"), "rb") as f:
            raw = f.read()
        with open(os.path.join(root, "labels-idx1-ubyte"), "rb") as f:
            lab = f.read()
        n, rows, cols = (int.from_bytes(raw[i : i + 4], "big") for i in (4, 8, 12))
        x = np.frombuffer(raw, dtype=np.uint8, offset=16, count=n * rows * cols).astype(np.float32) / 255.0
        y = np.frombuffer(lab, dtype=np.uint8, offset=8, count=n).astype(np.int64)
        source = f"examples/data ({n} images)"
    except OSError:
        n = 10000
        rng = np.random.default_rng(0)
        x = rng.random((n, 784), dtype=np.float32)
        y = rng.integers(0, 10, n)
        source = "random (examples/data missing)"
    return torch.from_numpy(x.reshape(n, 784).copy()).to(device), torch.from_numpy(y.copy()).to(device), source


# ---------------------------------------------------------------------------------------
# models, written functionally so that loop, vmap and bmm differentiate the same function


def glorot(fan_in, fan_out, shape, gen):
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return (torch.rand(shape, generator=gen) * 2 - 1) * limit


def mlp_params(layers, device):
    gen = torch.Generator().manual_seed(1)
    ps = []
    for a, b in zip(layers[:-1], layers[1:]):
        ps += [glorot(a, b, (a, b), gen), torch.zeros(b)]  # kernel [in, out] as in tfjs
    return [p.to(device).requires_grad_() for p in ps]


def mlp_logits(ps, x):
    h = x
    n = len(ps) // 2
    for i in range(n):
        h = torch.addmm(ps[2 * i + 1], h, ps[2 * i]) if h.dim() == 2 else h @ ps[2 * i] + ps[2 * i + 1]
        if i < n - 1:
            h = torch.relu(h)
    return h


def cnn_params(device):
    gen = torch.Generator().manual_seed(1)
    ps = [
        glorot(9 * 1, 9 * 32, (32, 1, 3, 3), gen), torch.zeros(32),
        glorot(9 * 32, 9 * 64, (64, 32, 3, 3), gen), torch.zeros(64),
        glorot(7 * 7 * 64, 10, (7 * 7 * 64, 10), gen), torch.zeros(10),
    ]  # fmt: skip
    return [p.to(device).requires_grad_() for p in ps]


def cnn_logits(ps, x):
    h = x.reshape(-1, 1, 28, 28)
    h = F.max_pool2d(torch.relu(F.conv2d(h, ps[0], ps[1], padding=1)), 2)
    h = F.max_pool2d(torch.relu(F.conv2d(h, ps[2], ps[3], padding=1)), 2)
    return h.flatten(1) @ ps[4] + ps[5]


WORKLOADS = {
    # name: (description, batches, params(device), logits(ps, x), is_mlp)
    "mlp-64": ("MLP 784-64-10 relu", [32], lambda d: mlp_params([784, 64, 10], d), mlp_logits, True),
    "mlp-256": ("MLP 784-256-256-10 relu", [64], lambda d: mlp_params([784, 256, 256, 10], d), mlp_logits, True),
    "cnn": ("CNN conv3x3x32-pool-conv3x3x64-pool-dense10", [64, 512], cnn_params, cnn_logits, False),
}


# ---------------------------------------------------------------------------------------
# the three ways to K minibatch gradients


def make_loop(ps, logits):
    def step(xs, ys):
        out = []
        for x, y in zip(xs, ys):
            loss = F.cross_entropy(logits(ps, x), y)
            out.append(torch.autograd.grad(loss, ps))
        return out

    return step


def make_vmap(ps, logits, vmap, grad):
    def loss_fn(params, x, y):
        return F.cross_entropy(logits(params, x), y)

    per_batch = vmap(grad(loss_fn), in_dims=(None, 0, 0))
    detached = [p.detach() for p in ps]

    def step(xs, ys):
        return per_batch(detached, xs, ys)

    return step


def make_bmm(ps):
    def step(xs, ys):
        k, b, _ = xs.shape
        # The copies are made from θ at each step (as gradswarm's grouped pass does).
        reps = [p.detach().unsqueeze(0).repeat(k, *([1] * p.dim())).requires_grad_() for p in ps]
        h = xs
        n = len(reps) // 2
        for i in range(n):
            h = torch.baddbmm(reps[2 * i + 1].unsqueeze(1), h, reps[2 * i])
            if i < n - 1:
                h = torch.relu(h)
        # Σ_k mean_b CE: minibatch k's mean loss is differentiated through copy k only.
        loss = F.cross_entropy(h.reshape(k * b, -1), ys.reshape(-1), reduction="sum") / b
        return torch.autograd.grad(loss, reps)

    return step


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def measure(step, data, k, batch, device, gen):
    """
    Seconds per step: one warm-up step (two when it is quick), then up to ARGS.reps timed
    repetitions of enough steps to last ARGS.min_time each, the best kept. A slow row
    (a single step longer than ARGS.row_budget / ARGS.reps) gets fewer repetitions, at
    least one. Returns (seconds per step, repetitions, steps per repetition).
    """
    x_all, y_all = data

    def draw():
        idx = torch.randint(0, x_all.shape[0], (k, batch), generator=gen).to(device)
        return x_all[idx], y_all[idx]

    def run(steps):
        sync(device)
        t = time.perf_counter()
        for _ in range(steps):
            xs, ys = draw()
            step(xs, ys)
        sync(device)
        return (time.perf_counter() - t) / steps

    estimate = run(1)  # warm-up: allocator, kernels, vmap's first trace
    if estimate < ARGS.min_time:
        estimate = run(1)
    steps = max(1, math.ceil(ARGS.min_time / max(estimate, 1e-6)))
    reps = max(1, min(ARGS.reps, int(ARGS.row_budget // (steps * estimate))))
    times = [run(steps) for _ in range(reps)]
    return min(times), reps, steps


def main():
    torch.set_num_threads(ARGS.threads)
    torch.manual_seed(0)
    if ARGS.device == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(ARGS.device)
    if device.type == "cuda":
        device_name = f"cuda ({torch.cuda.get_device_name(device)}, cuDNN {torch.backends.cudnn.version()})"
    else:
        device_name = f"cpu ({torch.get_num_threads()} threads)"
    vmap, grad, vmap_where = find_vmap()
    x, y, source = load_data(device)
    blas = blas_library()
    log(f"torch {torch.__version__} on {device_name}; BLAS {blas}; OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}; malloc {'defaults' if ARGS.no_malloc_tuning else 'tuned'}; vmap: {vmap_where}; data: {source}")
    gen = torch.Generator().manual_seed(3)
    ks = [int(s) for s in ARGS.ks.split(",") if s]
    rows = []
    notes = []
    for name in [w for w in ARGS.workloads.split(",") if w]:
        desc, batches, make_params, logits, is_mlp = WORKLOADS[name]
        ps = make_params(device)
        methods = [("loop", make_loop(ps, logits))]
        if vmap is not None:
            methods.append(("vmap", make_vmap(ps, logits, vmap, grad)))
        else:
            notes.append(f"{name}: vmap {vmap_where}")
        if is_mlp:
            methods.append(("bmm", make_bmm(ps)))
        for batch in batches:
            for method, step in methods:
                per_grad = None  # seconds per minibatch gradient at the last K, to skip long rows
                for k in ks:
                    if per_grad is not None and per_grad * k > ARGS.max_step_s:
                        notes.append(f"{name} B={batch} {method} K={k}: skipped (a step would take ~{per_grad * k:.0f} s)")
                        log(notes[-1])
                        continue
                    try:
                        s, reps, steps = measure(step, (x, y), k, batch, device, gen)
                    except Exception as err:  # noqa: BLE001  (a vmap batching rule missing, say)
                        notes.append(f"{name} B={batch} {method} K={k}: failed ({type(err).__name__}: {str(err).splitlines()[0][:160]})")
                        log(notes[-1])
                        break
                    per_grad = s / k
                    row = {
                        "workload": name,
                        "method": method,
                        "k": k,
                        "batch": batch,
                        "minibatch_grads_per_s": k / s,
                        "examples_per_s": k * batch / s,
                        "device": device_name,
                        "reps": reps,
                        "seconds": s,
                    }
                    rows.append(row)
                    log(f"{name:8s} B={batch:<4d} {method:5s} K={k:<3d} {k / s:10.1f} minibatch grads/s {k * batch / s:12.0f} examples/s  (best of {reps} x {steps} steps)")
    out = {
        "device": device_name,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "blas": blas,
        "libraries": mapped_libraries(),
        "config": torch.__config__.show(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "malloc": malloc_description(not ARGS.no_malloc_tuning),
        "vmap": vmap_where,
        "data": source,
        "timing": f"best of up to {ARGS.reps} repetitions of >= {ARGS.min_time} s each (fewer past {ARGS.row_budget} s per row), after warm-up",
        "workloads": {k: v[0] for k, v in WORKLOADS.items()},
        "notes": notes,
        "rows": rows,
    }
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    if ARGS.probe:
        probe()
    else:
        main()
