#!/usr/bin/env python3
"""PyTorch peer for bench/resnet18.ts: minibatch gradients per second of ResNet-18-CIFAR.

The model: torchvision's resnet18(num_classes=10) with a CIFAR stem (conv1 = 3x3 stride 1
padding 1 without bias, no max pool), in eval mode (BatchNorm with its running
statistics, as gradswarm differentiates it), float32, on random 32x32x3 images with
random labels. One gradient: the mean softmax cross-entropy of a minibatch, backward
through every parameter (torch.autograd.grad), as bench/resnet18.ts times ours.

Prints one JSON object on stdout: {"torch", "device", "threads", "mkldnn", "parameters", "checksum", "libraries",
"config", "batch", "gradients", "seconds", "grads_per_s", "times"}; bench/torch-blas.ts
reads "libraries" and "config" to refuse a peer on the reference BLAS. Progress on stderr.

--export PATH writes the same model (seeded: the same weights every run) as ONNX, the way
users export theirs, and prints {"onnx", "checksum"}: bench/resnet18.ts converts it with
src/model/onnx and checks the timing run's checksum against it.

Run: /usr/bin/python3 bench/torch-resnet18.py [--threads 2] [--batch 32] [--gradients 3] [--export PATH]
"""

import argparse
import json
import os
import sys
import time

_ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
_ap.add_argument("--threads", type=int, default=2)
_ap.add_argument("--batch", type=int, default=32)
_ap.add_argument("--export", metavar="PATH", help="write the model (the same seeded weights the timing uses) as ONNX to PATH, print its checksum as JSON and time nothing")
_ap.add_argument("--gradients", type=int, default=3, help="timed gradients after one warm-up; the rate is over all of them, the best single time is reported too")
ARGS = _ap.parse_args()

# Before torch loads: glibc malloc tuned (a re-exec) and the thread counts (torch_common.py).
from torch_common import log, mapped_libraries, prepare_process  # noqa: E402

prepare_process(ARGS.threads, malloc_tuning=not ARGS.export)

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import torchvision  # noqa: E402


def resnet18_cifar():
    model = torchvision.models.resnet18(num_classes=10)
    model.conv1 = torch.nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
    model.maxpool = torch.nn.Identity()
    return model.eval()


def checksum(model):
    """Σ|θ| and Σθ over every parameter and buffer in float64: the bench checks both sides run the same weights."""
    tensors = list(model.state_dict().values())
    return [float(sum(t.double().abs().sum() for t in tensors)), float(sum(t.double().sum() for t in tensors))]


def export(path):
    """The model as gradswarm's users export theirs (README "Measure your PyTorch model"; examples/resnet18/make.py)."""
    torch.manual_seed(0)
    model = resnet18_cifar()
    torch.onnx.export(model, torch.zeros(1, 3, 32, 32), path, opset_version=13, training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False, input_names=["input"], output_names=["logits"])
    json.dump({"onnx": path, "checksum": checksum(model)}, sys.stdout)
    sys.stdout.write("\n")


def main():
    if ARGS.export:
        export(ARGS.export)
        return
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
            "checksum": checksum(model),
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
