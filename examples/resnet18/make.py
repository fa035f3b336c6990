"""Export ResNet-18 (CIFAR stem) to ONNX and write Fashion-MNIST as .npy for gradswarm.

Run with Debian's PyTorch (python3-torch, python3-torchvision) and Fashion-MNIST
(dataset-fashion-mnist):

    /usr/bin/python3 examples/resnet18/make.py

It writes, beside this file:
  resnet18.onnx  torchvision's resnet18(num_classes=10) with the CIFAR stem (conv1 3x3
                 stride 1, no max-pool), 11.2M parameters, at its seeded initialization
                 with the batch-norm running statistics of 1,024 of the images (so that
                 eval mode normalizes), exported in eval mode with batch norm kept (not
                 folded into the convolutions)
  x.npy          the first 4,096 Fashion-MNIST training images, uint8, N x 3 x 32 x 32
                 (28x28 padded by 2 pixels of 0 on every side, the grey channel repeated 3 times)
  y.npy          their labels, int64
Then `coordinator run examples/resnet18.yaml` measures it.
"""

import gzip
import os
import struct
import sys

import numpy as np
import torch
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
FASHION = "/usr/share/datasets/fashion-mnist"
COUNT = 4096


def read_idx(path):
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    dims = raw[3]
    shape = struct.unpack(">" + "I" * dims, raw[4 : 4 + 4 * dims])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def find(name):
    for candidate in (name, name + ".gz"):
        path = os.path.join(FASHION, candidate)
        if os.path.exists(path):
            return path
    sys.exit(f"{os.path.join(FASHION, name)}(.gz) not found: apt-get install dataset-fashion-mnist")


def resnet18_cifar():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=10)
    model.conv1 = torch.nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
    model.maxpool = torch.nn.Identity()
    return model.eval()


def calibrate_batch_norm(model, x):
    """Running statistics = the exact mean and variance over x (momentum None averages)."""
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    model.train()
    with torch.no_grad():
        for start in range(0, len(x), 128):
            model(torch.from_numpy(x[start : start + 128]).float() / 255)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = 0.1
    return model.eval()


def main():
    images = read_idx(find("train-images-idx3-ubyte"))[:COUNT]
    labels = read_idx(find("train-labels-idx1-ubyte"))[:COUNT]
    x = np.zeros((COUNT, 3, 32, 32), dtype=np.uint8)
    x[:, :, 2:30, 2:30] = images[:, None, :, :]
    np.save(os.path.join(HERE, "x.npy"), x)
    np.save(os.path.join(HERE, "y.npy"), labels.astype(np.int64))

    model = calibrate_batch_norm(resnet18_cifar(), x[:1024])
    path = os.path.join(HERE, "resnet18.onnx")
    torch.onnx.export(
        model,
        torch.zeros(1, 3, 32, 32),
        path,
        opset_version=13,
        training=torch.onnx.TrainingMode.PRESERVE,
        do_constant_folding=False,
        input_names=["input"],
        output_names=["logits"],
    )
    params = sum(p.numel() for p in model.parameters())
    print(f"wrote {path} ({params:,} parameters), x.npy {x.shape} uint8, y.npy {labels.shape} int64")


if __name__ == "__main__":
    main()
