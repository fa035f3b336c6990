#!/usr/bin/env python3
"""PyTorch peer for bench/resnet18.ts: minibatch gradients per second of ResNet-18-CIFAR.

The model: torchvision's resnet18(num_classes=10) with a CIFAR stem (conv1 = 3x3 stride 1
padding 1 without bias, no max pool), in eval mode (BatchNorm with its running
statistics, as gradswarm differentiates it), float32, on random 32x32x3 images with
random labels. One gradient: the mean softmax cross-entropy of a minibatch, backward
through every parameter (torch.autograd.grad), as bench/resnet18.ts times ours.

Prints one JSON object on stdout: {"torch", "device", "threads", "mkldnn", "libraries",
"config", "batch", "gradients", "seconds", "grads_per_s", "times"}; bench/torch-blas.ts
reads "libraries" and "config" to refuse a peer on the reference BLAS. Progress on stderr.

Run: /usr/bin/python3 bench/torch-resnet18.py [--threads 2] [--batch 32] [--gradients 3]
"""

import argparse
import json
import os
import sys
import time

_ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
_ap.add_argument("--threads", type=int, default=2)
_ap.add_argument("--batch", type=int, default=32)
_ap.add_argument("--gradients", type=int, default=3, help="timed gradients after one warm-up; the rate is over all of them, the best single time is reported too")
ARGS = _ap.parse_args()

# As bench/torch-peer.py: glibc malloc tuned (ResNet activations are many MB each, and
# returning them to the kernel on every free page-faults fresh memory on every step), and
# OpenMP/OpenBLAS thread counts set before torch loads. glibc reads these at start: re-exec.
MALLOC_TUNING = {"MALLOC_MMAP_THRESHOLD_": "4294967296", "MALLOC_TRIM_THRESHOLD_": "8589934592", "MALLOC_TOP_PAD_": "1073741824"}
if os.environ.get("GRADSWARM_TORCH_PEER_EXEC") != "1":
    for _k, _v in MALLOC_TUNING.items():
        os.environ.setdefault(_k, _v)
    os.environ["GRADSWARM_TORCH_PEER_EXEC"] = "1"
    os.execv(sys.executable, [sys.executable, *sys.argv])
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OMP_NUM_THREADS", str(ARGS.threads))
os.environ.setdefault("OPENBLAS_NUM_THREADS", str(ARGS.threads))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import torchvision  # noqa: E402


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def mapped_libraries():
    """Every shared object this process has mapped, symlinks resolved (as bench/torch-peer.py)."""
    try:
        with open("/proc/self/maps") as f:
            fields = [line.rstrip("\n").split(None, 5) for line in f]
    except OSError:
        return []
    paths = {f[5] for f in fields if len(f) == 6 and f[5].startswith("/")}
    return sorted({os.path.realpath(p) for p in paths if ".so" in os.path.basename(p)})


def resnet18_cifar():
    model = torchvision.models.resnet18(num_classes=10)
    model.conv1 = torch.nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
    model.maxpool = torch.nn.Identity()
    return model.eval()


def main():
    torch.set_num_threads(ARGS.threads)
    torch.manual_seed(0)
    model = resnet18_cifar()
    params = [p for p in model.parameters() if p.requires_grad]
    n_params = sum(p.numel() for p in params)
    gen = torch.Generator().manual_seed(3)
    x = torch.rand(ARGS.batch, 3, 32, 32, generator=gen)
    y = torch.randint(0, 10, (ARGS.batch,), generator=gen)

    def gradient():
        loss = F.cross_entropy(model(x), y)
        grads = torch.autograd.grad(loss, params)
        return loss, grads

    log(f"torch {torch.__version__}, {torch.get_num_threads()} threads, mkldnn {torch.backends.mkldnn.is_available()}, {n_params} parameters, B={ARGS.batch}")
    t = time.perf_counter()
    gradient()  # warm-up
    log(f"warm-up gradient {time.perf_counter() - t:.2f} s")
    times = []
    for _ in range(ARGS.gradients):
        t = time.perf_counter()
        gradient()
        times.append(time.perf_counter() - t)
    total = sum(times)
    json.dump(
        {
            "torch": torch.__version__,
            "device": "cpu",
            "threads": torch.get_num_threads(),
            "mkldnn": torch.backends.mkldnn.is_available(),
            "parameters": n_params,
            "libraries": mapped_libraries(),
            "config": torch.__config__.show(),
            "batch": ARGS.batch,
            "gradients": ARGS.gradients,
            "seconds": total,
            "grads_per_s": ARGS.gradients / total,
            "times": times,
        },
        sys.stdout,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
