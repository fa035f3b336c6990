#!/usr/bin/python3
# Small ONNX models for the importer's edge cases (src/model/onnx), with PyTorch's float64
# logits, loss and per-parameter squared gradient norms on a fixed batch, written to
# test/fixtures/onnx-edge/. Run by hand from the repository root with Debian's python3-torch:
#     /usr/bin/python3 scripts/make-onnx-edge-fixtures.py
# Deterministic (fixed seeds); the outputs are committed.
import json, os
import torch, torch.nn as nn, torch.nn.functional as F

torch.manual_seed(0)
torch.set_num_threads(1)
OUT = "test/fixtures/onnx-edge"


class Misc(nn.Module):
    """Concat of ReLU6 (Relu → Clip) and Sigmoid branches, AvgPool2d with the
    padding counted (Pad + AveragePool), a depthwise conv with channel multiplier 2 and stride 2 (zero
    padding), torch.flatten then ReLU and BatchNorm1d before the Linear (PyTorch's C·H·W
    order needed: a Permute)."""

    def __init__(s):
        super().__init__()
        s.a = nn.Conv2d(2, 4, 3, padding=1)
        s.b = nn.Conv2d(2, 3, 1)
        s.pool = nn.AvgPool2d(3, stride=1, padding=1)
        s.dw = nn.Conv2d(7, 14, 3, stride=2, padding=1, groups=7, bias=False)
        s.bn = nn.BatchNorm1d(14 * 5 * 6)
        s.fc = nn.Linear(14 * 5 * 6, 3)

    def forward(s, x):
        y = torch.cat([F.relu6(s.a(x)), torch.sigmoid(s.b(x))], 1)
        y = s.dw(s.pool(y))
        y = F.relu(torch.flatten(y, 1))
        return s.fc(s.bn(y))


class Pools(nn.Module):
    """Conv with asymmetric padding (1, 0) and stride 2, MaxPool 3/2/1 after a ReLU (zero
    padding exact), LeakyReLU, MaxPool 3/1/1 on values of any sign (TF.js 'same'), AvgPool2d with padding counted (Pad + AveragePool), Tanh,
    x.view(x.size(0), -1) (Shape/Gather/Unsqueeze/Concat/Reshape), a final LogSoftmax."""

    def __init__(s):
        super().__init__()
        s.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        s.bn1 = nn.BatchNorm2d(8)
        s.conv2 = nn.Conv2d(8, 8, 3, stride=2, padding=(1, 0))
        s.fc = nn.Linear(8 * 2 * 2, 5)

    def forward(s, x):
        x = F.max_pool2d(F.relu(s.bn1(s.conv1(x))), 3, 2, 1)
        x = F.max_pool2d(F.leaky_relu(s.conv2(x), 0.1), 3, 1, 1)
        x = torch.tanh(F.avg_pool2d(x, 2, padding=1))
        return F.log_softmax(s.fc(x.view(x.size(0), -1)), 1)


class Gelu(nn.Module):
    """Linear, GELU (torch 1.13 exports its erf form), Dropout, Linear."""

    def __init__(s):
        super().__init__()
        s.l1 = nn.Linear(12, 16)
        s.l2 = nn.Linear(16, 4)

    def forward(s, x):
        return s.l2(F.dropout(F.gelu(s.l1(x)), training=s.training))


class Dilated(nn.Module):
    """Dilated convolutions (TF.js has no gradient for them: rewritten as one Conv2D over the
    dilation phases stacked): dilation (2, 3) with pads (2, 3) on a 9×11 map (not multiples of the
    dilations: rows and columns added, then cropped), then dilation 2 with pads 1 (the map
    shrinks), then Linear."""

    def __init__(s):
        super().__init__()
        s.conv1 = nn.Conv2d(2, 3, 3, dilation=(2, 3), padding=(2, 3))
        s.conv2 = nn.Conv2d(3, 4, 3, dilation=2, padding=1, bias=False)
        s.fc = nn.Linear(4 * 7 * 9, 3)

    def forward(s, x):
        return s.fc(torch.flatten(torch.tanh(s.conv2(F.relu(s.conv1(x)))), 1))


def export(name, m, shape, classes):
    m.eval()
    for mod in m.modules():
        if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.5, 2)
            mod.weight.data.uniform_(0.5, 1.5)
            mod.bias.data.uniform_(-0.2, 0.2)
    x = torch.randn(*shape)
    y = torch.randint(0, classes, (shape[0],))
    torch.onnx.export(m, x, f"{OUT}/{name}.onnx", opset_version=13, training=torch.onnx.TrainingMode.PRESERVE,
                      do_constant_folding=False, input_names=["x"], output_names=["logits"], dynamic_axes={"x": {0: "N"}, "logits": {0: "N"}})
    m64 = m.double()
    out = m64(x.double())
    # pools ends in LogSoftmax: its output is log-probabilities, which cross_entropy takes
    # as logits (log_softmax is idempotent), so loss and gradients are those of its logits.
    loss = F.cross_entropy(out, y)
    params = [(n, p) for n, p in m64.named_parameters()]
    grads = torch.autograd.grad(loss, [p for _, p in params])
    ref = {
        "x": x.flatten().tolist(), "shape": list(shape), "y": y.tolist(), "classes": classes,
        "output": out.tolist(), "log_softmax_output": name == "pools", "loss": loss.item(),
        "sq_norm": {n: float((g * g).sum()) for (n, _), g in zip(params, grads)},
    }
    with open(f"{OUT}/{name}.json", "w") as f:
        json.dump(ref, f)
    print(name, os.path.getsize(f"{OUT}/{name}.onnx"), "bytes")


os.makedirs(OUT, exist_ok=True)
export("misc", Misc(), (4, 2, 10, 12), 3)
export("pools", Pools(), (4, 3, 12, 12), 5)
export("gelu", Gelu(), (4, 12), 4)
export("dilated", Dilated(), (4, 2, 9, 11), 3)
