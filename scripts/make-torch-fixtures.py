#!/usr/bin/python3
"""PyTorch fixtures for "bring your model" (issue 11): ONNX graphs, safetensors
checkpoints, .npy data and float64 gradient references that the ONNX -> TensorFlow.js
converter, the safetensors reader and the .npy reader are checked against.

Run by hand from the repository root with Debian's Python (python3-torch 1.13,
python3-torchvision, python3-onnx, python3-numpy):

    /usr/bin/python3 scripts/make-torch-fixtures.py

It is deterministic (fixed seeds, one thread): running it again rewrites the same bytes.
Outputs go to test/fixtures/torch/<model>/ for the models mlp, cnn-bn, resnet-small,
depthwise (all files below) and unsupported (model.onnx only: it contains an op the
converter must refuse, Resize from nn.Upsample):

  model.onnx            torch.onnx.export of the float32 model in eval() mode, opset 13,
                        TrainingMode.PRESERVE, no constant folding, input "input",
                        output "logits". Initializer names are the state_dict names; torch
                        1.13 replaces an initializer equal to another by an Identity node
                        (cnn-bn has one on purpose: see TIED).
  x.npy                 float32 inputs, 48 examples: [48, C, H, W] (NCHW) for the image
                        models, [48, 20] for the mlp (np.save, format 1.0, little-endian).
  y.npy                 int64 labels in [0, 10), shape [48].
  weights.safetensors   the state_dict of the exported model: the SAME weights as in
                        model.onnx. Float tensors are F32; BatchNorm's num_batches_tracked
                        is stored too, as I64 with shape [] (as safetensors.torch.save_file
                        would store a real state_dict; it is not in the ONNX graph).
  ckpt.safetensors      a DIFFERENT checkpoint of the same architecture (same names,
                        shapes, dtypes): 3 SGD steps (lr 0.05) in train mode on minibatches
                        of 16 of x, y (so BatchNorm's running statistics moved as well),
                        then N(0, 0.01^2) noise on every parameter: every tensor differs.
  reference.json        float64 references for weights.safetensors (see below).
  reference-ckpt.json   the same for ckpt.safetensors's weights, with the same pairs.

reference*.json: the model and the inputs are converted to torch.float64 (the float32
values exactly) in eval() mode, loss = F.cross_entropy(logits, y, reduction="mean"),
gradients by torch.autograd.grad with respect to every parameter (requires_grad):
  {"model", "layout": "nchw"|"flat", "classes": 10, "examples": 48,
   "parameters": [{"name", "shape"}] (trainable parameters, state_dict order),
   "logits": logits of examples 0..3 ([4][10]),
   "pairs": 6 x {"b1", "b2": disjoint minibatches of 8 indices in [0, 48),
                 "loss1", "loss2", "sq_norm1": {name: |g1|^2}, "sq_norm2": {name: |g2|^2},
                 "dot": {name: g1.g2}, "total": {"sq_norm1", "sq_norm2", "dot"}}}

The safetensors files are written by the small writer below (no safetensors package on
Debian): 8-byte little-endian header length N, N bytes of compact JSON
({"__metadata__": {"format": "pt"}, then the tensors in offset order, each
{"dtype", "shape", "data_offsets": [begin, end]}}) padded with spaces to a multiple of 8,
then the raw little-endian bytes; tensors sorted as the safetensors library sorts them
(by dtype alignment, largest first, then by name). The writer is checked against a byte
vector from the safetensors library's own tests, and every file is read back and compared.

At the end each reference is re-read and, for one parameter tensor per pair, |g1|^2,
|g2|^2 and g1.g2 are checked against central finite differences of the float64 loss
along g1 and g2 (relative error below 1e-6), so the references themselves are checked.
"""

import hashlib
import json
import os
import struct
import sys

import numpy as np
import onnx
import onnx.numpy_helper
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "test", "fixtures", "torch")
N_EXAMPLES = 48
CLASSES = 10
N_PAIRS = 6
BATCH = 8
FD_REL_TOL = 1e-6

torch.set_num_threads(1)  # same float sums on every run


# ---------------------------------------------------------------- safetensors writer

# The safetensors library's Dtype enum is declared in increasing alignment order and
# save_file sorts by that order descending, then by name; these are the ranks we can write.
ST_DTYPE_RANK = {"F32": 11, "F64": 12, "I64": 13}
ST_DTYPE_OF_TORCH = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64"}
NP_DTYPE_OF_ST = {"F32": "<f4", "F64": "<f8", "I64": "<i8"}


def safetensors_bytes(tensors, metadata):
    """tensors: {name: torch.Tensor}; metadata: {str: str} or None."""
    entries = []
    for name, t in tensors.items():
        dtype = ST_DTYPE_OF_TORCH[t.dtype]
        data = t.detach().contiguous().cpu().numpy().astype(NP_DTYPE_OF_ST[dtype]).tobytes()
        entries.append((name, dtype, list(t.shape), data))
    entries.sort(key=lambda e: (-ST_DTYPE_RANK[e[1]], e[0].encode("utf-8")))
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    offset = 0
    for name, dtype, shape, data in entries:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(e[3] for e in entries)


def read_safetensors(path):
    """Independent reader: returns ({name: np.ndarray}, metadata, names in offset order)."""
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    assert n % 8 == 0, f"{path}: header length {n} is not a multiple of 8"
    header = json.loads(buf[8 : 8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", None)
    data = buf[8 + n :]
    order = sorted(header, key=lambda k: header[k]["data_offsets"])
    out = {}
    pos = 0
    for name in order:
        info = header[name]
        begin, end = info["data_offsets"]
        assert begin == pos, f"{path}: {name} begins at {begin}, expected {pos}"
        arr = np.frombuffer(data[begin:end], dtype=NP_DTYPE_OF_ST[info["dtype"]])
        out[name] = arr.reshape(info["shape"])
        pos = end
    assert pos == len(data), f"{path}: data has {len(data)} bytes, offsets end at {pos}"
    return out, metadata, order


def check_writer_against_library_vector():
    # test_serialization in the safetensors library's safetensors/src/tensor.rs: one F32
    # tensor "attn.0" of shape [1, 2, 3] holding 0..5, no metadata.
    expected = bytes(
        [64, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 46, 48, 34, 58, 123, 34, 100,
         116, 121, 112, 101, 34, 58, 34, 70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34,
         58, 91, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102, 115,
         101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 0, 0, 0, 0, 0, 0, 128, 63,
         0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64])
    got = safetensors_bytes({"attn.0": torch.arange(6, dtype=torch.float32).reshape(1, 2, 3)}, None)
    assert got == expected, "safetensors writer differs from the library's test vector"
    # test_empty: {} padded with 6 spaces, and with metadata {"framework": "pt"}.
    assert safetensors_bytes({}, None) == bytes([8, 0, 0, 0, 0, 0, 0, 0, 123, 125]) + b" " * 6
    with_meta = safetensors_bytes({}, {"framework": "pt"})
    assert with_meta == struct.pack("<Q", 40) + b'{"__metadata__":{"framework":"pt"}}' + b" " * 5


def write_safetensors(path, state_dict):
    tensors = dict(state_dict)
    with open(path, "wb") as f:
        f.write(safetensors_bytes(tensors, {"format": "pt"}))
    back, metadata, order = read_safetensors(path)
    assert metadata == {"format": "pt"}, f"{path}: metadata {metadata}"
    assert set(back) == set(tensors), f"{path}: names differ"
    for name, t in tensors.items():
        ref = t.detach().cpu().numpy()
        assert back[name].dtype == ref.dtype and back[name].shape == ref.shape, name
        assert np.array_equal(back[name], ref), f"{path}: {name} differs after reading back"
    ranks = [(-ST_DTYPE_RANK[ST_DTYPE_OF_TORCH[tensors[k].dtype]], k) for k in order]
    assert ranks == sorted(ranks), f"{path}: tensors not in safetensors order"
    return order


# ---------------------------------------------------------------- models


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(20, 16)
        self.fc2 = nn.Linear(16, 10)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


class CnnBn(nn.Module):
    """[N,3,12,12] -> conv+BN+ReLU [8,12,12] -> maxpool [8,6,6] -> conv s2 (no bias)+BN+
    LeakyReLU [8,3,3] -> flatten (C,H,W row order, 72) -> Linear 10."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(8, 8, 3, stride=2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8 * 3 * 3, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.bn1(self.conv1(x))))
        x = F.leaky_relu(self.bn2(self.conv2(x)), 0.1)
        return self.fc(torch.flatten(x, 1))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + identity)


class ResnetSmall(nn.Module):
    """[N,3,16,16] -> stem conv3x3+BN+ReLU [8,16,16] -> block [8,16,16] -> block with
    stride-2 1x1 downsample [16,8,8] -> AdaptiveAvgPool2d(1) -> flatten -> Linear 10."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.layer1 = nn.Sequential(BasicBlock(8, 8, 1), BasicBlock(8, 16, 2))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer1(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


class Depthwise(nn.Module):
    """[N,4,10,10] -> depthwise 3x3 (groups 4) -> BN -> ReLU6 -> pointwise 1x1 4->8 ->
    depthwise 3x3 with channel multiplier 2 (8->16, groups 8) -> 3x3 conv dilation 2
    16->8 -> AvgPool2d(2) [8,5,5] -> Tanh -> flatten (200) -> Linear 10."""

    def __init__(self):
        super().__init__()
        self.dw = nn.Conv2d(4, 4, 3, groups=4, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.pw = nn.Conv2d(4, 8, 1)
        self.dw2 = nn.Conv2d(8, 16, 3, groups=8, padding=1)
        self.dilated = nn.Conv2d(16, 8, 3, padding=2, dilation=2)
        self.pool = nn.AvgPool2d(2)
        self.fc = nn.Linear(8 * 5 * 5, 10)

    def forward(self, x):
        x = self.pw(F.relu6(self.bn(self.dw(x))))
        x = self.dilated(self.dw2(x))
        return self.fc(torch.flatten(torch.tanh(self.pool(x)), 1))


class Unsupported(nn.Module):
    """conv -> nn.Upsample (exports Resize, which the converter refuses) -> mean -> Linear."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.fc = nn.Linear(4 * 8 * 8, 10)

    def forward(self, x):
        return self.fc(torch.flatten(self.up(self.conv(x)), 1))


MODELS = [
    # name, class, example shape (without N), layout, seed
    ("mlp", Mlp, (20,), "flat", 1101),
    ("cnn-bn", CnnBn, (3, 12, 12), "nchw", 1102),
    ("resnet-small", ResnetSmall, (3, 16, 16), "nchw", 1103),
    ("depthwise", Depthwise, (4, 10, 10), "nchw", 1104),
]

# torch 1.13's exporter keeps one initializer of several with equal values and emits
# Identity(kept) -> other for the rest. cnn-bn's exported weights give bn2 the running_var
# of bn1 so that its graph has such an Identity; in ckpt.safetensors the two differ again
# (train mode moved each with its own batch statistics), so a loader that writes the
# checkpoint into the ONNX graph's tensors must give the aliased name its own value.
TIED = {"cnn-bn": ("bn2.running_var", "bn1.running_var")}


def randomize_batchnorm(model, gen):
    """Non-trivial affine weights and running statistics, so that inference-form
    BatchNorm ((x - mean) / sqrt(var + eps) * weight + bias) is really exercised."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.weight.copy_(torch.rand(c, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(c, generator=gen) * 0.2)
                m.running_mean.copy_(torch.randn(c, generator=gen) * 0.3)
                m.running_var.copy_(torch.rand(c, generator=gen) * 1.5 + 0.5)
                m.num_batches_tracked.fill_(7)


# ---------------------------------------------------------------- references


def loss_and_grads(model64, x64, y, idx):
    params = [p for _, p in model64.named_parameters() if p.requires_grad]
    logits = model64(x64[idx])
    loss = F.cross_entropy(logits, y[idx], reduction="mean")
    grads = torch.autograd.grad(loss, params)
    return loss, grads


def float64_copy(model):
    import copy

    m = copy.deepcopy(model).double()
    m.eval()
    return m


def make_pairs(seed):
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(N_PAIRS):
        perm = rng.permutation(N_EXAMPLES)
        pairs.append(([int(i) for i in perm[:BATCH]], [int(i) for i in perm[BATCH : 2 * BATCH]]))
    return pairs


def reference(name, layout, model, x, y, pairs):
    m64 = float64_copy(model)
    x64 = torch.from_numpy(x).double()
    yt = torch.from_numpy(y)
    names = [n for n, p in m64.named_parameters() if p.requires_grad]
    assert names == [k for k in m64.state_dict() if k in dict(m64.named_parameters())], name
    with torch.no_grad():
        logits = m64(x64[:4])
    out = {
        "model": name,
        "layout": layout,
        "classes": CLASSES,
        "examples": N_EXAMPLES,
        "parameters": [{"name": n, "shape": list(p.shape)} for n, p in m64.named_parameters() if p.requires_grad],
        "logits": logits.tolist(),
        "pairs": [],
    }
    for b1, b2 in pairs:
        l1, g1 = loss_and_grads(m64, x64, yt, torch.tensor(b1))
        l2, g2 = loss_and_grads(m64, x64, yt, torch.tensor(b2))
        sq1 = {n: float((a * a).sum()) for n, a in zip(names, g1)}
        sq2 = {n: float((b * b).sum()) for n, b in zip(names, g2)}
        dot = {n: float((a * b).sum()) for n, a, b in zip(names, g1, g2)}
        out["pairs"].append({
            "b1": b1, "b2": b2, "loss1": float(l1), "loss2": float(l2),
            "sq_norm1": sq1, "sq_norm2": sq2, "dot": dot,
            "total": {"sq_norm1": sum(sq1.values()), "sq_norm2": sum(sq2.values()), "dot": sum(dot.values())},
        })
    return out


def finite_difference_check(ref, model, x, y):
    """For one parameter tensor per pair (cycling through the tensors), the directional
    derivative of loss1 along g1 (restricted to that tensor) is |g1|^2, of loss1 along g2
    is g1.g2, of loss2 along g2 is |g2|^2: check the stored numbers by central differences."""
    m64 = float64_copy(model)
    x64 = torch.from_numpy(x).double()
    yt = torch.from_numpy(y)
    params = dict(m64.named_parameters())
    names = [p["name"] for p in ref["parameters"]]
    worst = 0.0

    def loss_at(idx):
        with torch.no_grad():
            return float(F.cross_entropy(m64(x64[idx]), yt[idx], reduction="mean"))

    for k, pair in enumerate(ref["pairs"]):
        pname = names[(3 * k + 1) % len(names)]
        b1, b2 = torch.tensor(pair["b1"]), torch.tensor(pair["b2"])
        _, g1 = loss_and_grads(m64, x64, yt, b1)
        _, g2 = loss_and_grads(m64, x64, yt, b2)
        i = names.index(pname)
        p = params[pname]
        base = p.detach().clone()
        for idx, direction, stored in ((b1, g1[i], pair["sq_norm1"][pname]),
                                       (b1, g2[i], pair["dot"][pname]),
                                       (b2, g2[i], pair["sq_norm2"][pname])):
            h = 1e-6 / max(float(direction.norm()), 1e-30)  # a 1e-6 step: ReLU and max-pool kinks stay uncrossed
            with torch.no_grad():
                p.copy_(base + h * direction)
                up = loss_at(idx)
                p.copy_(base - h * direction)
                down = loss_at(idx)
                p.copy_(base)
            fd = (up - down) / (2 * h)
            scale = max(abs(stored), float(g1[i].norm() * g2[i].norm()), 1e-12)
            rel = abs(fd - stored) / scale
            worst = max(worst, rel)
            assert rel < FD_REL_TOL, (
                f"{ref['model']} pair {k} {pname}: finite difference {fd} vs stored {stored} (rel {rel:.2e})")
    return worst


# ---------------------------------------------------------------- export and checks


def export_onnx(model, example, path):
    model.eval()
    torch.onnx.export(model, example, path, opset_version=13,
                      training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False,
                      input_names=["input"], output_names=["logits"])
    proto = onnx.load(path)
    onnx.checker.check_model(proto)
    ops = []
    for node in proto.graph.node:
        if node.op_type not in ops:
            ops.append(node.op_type)
    inits = [i.name for i in proto.graph.initializer]
    return ops, inits, proto


def train_checkpoint(model, x, y, seed):
    """3 SGD steps in train mode (BatchNorm uses batch statistics and moves its running
    statistics), plus N(0, 0.01^2) noise on every parameter, then eval(): a different
    checkpoint of the same architecture."""
    import copy

    m = copy.deepcopy(model)
    m.train()
    opt = torch.optim.SGD(m.parameters(), lr=0.05)
    rng = np.random.default_rng(seed)
    for _ in range(3):
        idx = torch.from_numpy(rng.permutation(N_EXAMPLES)[:16])
        opt.zero_grad()
        F.cross_entropy(m(torch.from_numpy(x)[idx]), torch.from_numpy(y)[idx]).backward()
        opt.step()
    # A conv bias ahead of a BatchNorm gets no gradient in train mode (the batch mean
    # cancels it), so also nudge every parameter: no tensor keeps its exported value.
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.01)
    m.eval()
    return m


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:12]


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")


def main():
    check_writer_against_library_vector()
    print(f"torch {torch.__version__}, onnx {onnx.__version__}, numpy {np.__version__}")
    written = []
    for name, cls, shape, layout, seed in MODELS:
        d = os.path.join(OUT, name)
        os.makedirs(d, exist_ok=True)
        torch.manual_seed(seed)
        model = cls()
        randomize_batchnorm(model, torch.Generator().manual_seed(seed + 1))
        sd = model.state_dict()
        if name in TIED:
            alias, kept = TIED[name]
            with torch.no_grad():
                sd[alias].copy_(sd[kept])
        model.eval()
        rng = np.random.default_rng(seed + 2)
        x = rng.standard_normal((N_EXAMPLES,) + shape).astype(np.float32)
        y = rng.integers(0, CLASSES, size=N_EXAMPLES).astype(np.int64)

        ops, inits, proto = export_onnx(model, torch.from_numpy(x[:1]), os.path.join(d, "model.onnx"))
        identities = [(n.input[0], n.output[0]) for n in proto.graph.node if n.op_type == "Identity"]
        if name in TIED:
            assert identities == [TIED[name][::-1]], f"{name}: Identity nodes {identities}"
        for init in proto.graph.initializer:  # model.onnx holds the weights.safetensors values
            if init.name in sd:
                assert np.array_equal(onnx.numpy_helper.to_array(init), sd[init.name].numpy()), init.name
        missing = [k for k in sd if k not in inits and not k.endswith("num_batches_tracked")]
        np.save(os.path.join(d, "x.npy"), x)
        np.save(os.path.join(d, "y.npy"), y)
        write_safetensors(os.path.join(d, "weights.safetensors"), sd)
        ckpt = train_checkpoint(model, x, y, seed + 3)
        write_safetensors(os.path.join(d, "ckpt.safetensors"), ckpt.state_dict())
        changed = [k for k in sd if not torch.equal(sd[k], ckpt.state_dict()[k])]
        assert len(changed) == len(sd), f"{name}: ckpt left {set(sd) - set(changed)} unchanged"
        if name in TIED:
            assert not torch.equal(*(ckpt.state_dict()[k] for k in TIED[name])), name

        pairs = make_pairs(seed + 4)
        ref = reference(name, layout, model, x, y, pairs)
        ref_ckpt = reference(name, layout, ckpt, x, y, pairs)
        write_json(os.path.join(d, "reference.json"), ref)
        write_json(os.path.join(d, "reference-ckpt.json"), ref_ckpt)

        # The float32 model agrees with the float64 reference (sanity, not a test).
        with torch.no_grad():
            l32 = model(torch.from_numpy(x[:4])).double()
        drift = float((l32 - torch.tensor(ref["logits"])).abs().max())
        assert drift < 1e-4, f"{name}: float32 logits differ from float64 by {drift}"

        print(f"\n{name}: ops {ops}")
        print(f"  Identity nodes (initializer -> alias): {identities}")
        print(f"  initializers not named as in state_dict: {[i for i in inits if i not in sd]}")
        print(f"  state_dict entries with no initializer of that name: {missing}")
        print(f"  {len(ref['parameters'])} parameter tensors, "
              f"{sum(int(np.prod(p['shape'])) for p in ref['parameters'])} parameters; "
              f"float32 vs float64 logits max diff {drift:.1e}")
        print(f"  loss1 of pair 0: weights {ref['pairs'][0]['loss1']:.6f}, "
              f"ckpt {ref_ckpt['pairs'][0]['loss1']:.6f}")
        for f in ("model.onnx", "x.npy", "y.npy", "weights.safetensors", "ckpt.safetensors",
                  "reference.json", "reference-ckpt.json"):
            written.append(os.path.join(d, f))

    d = os.path.join(OUT, "unsupported")
    os.makedirs(d, exist_ok=True)
    torch.manual_seed(1105)
    ops, _, _ = export_onnx(Unsupported(), torch.zeros(1, 3, 4, 4), os.path.join(d, "model.onnx"))
    assert "Resize" in ops, ops
    print(f"\nunsupported: ops {ops}")
    written.append(os.path.join(d, "model.onnx"))

    print("\nfinite-difference checks of the stored references (worst relative error):")
    for name, cls, shape, layout, seed in MODELS:
        d = os.path.join(OUT, name)
        x = np.load(os.path.join(d, "x.npy"))
        y = np.load(os.path.join(d, "y.npy"))
        for ref_file, st_file in (("reference.json", "weights.safetensors"),
                                  ("reference-ckpt.json", "ckpt.safetensors")):
            with open(os.path.join(d, ref_file)) as f:
                ref = json.load(f)
            tensors, _, _ = read_safetensors(os.path.join(d, st_file))
            model = cls()
            model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in tensors.items()})
            model.eval()
            worst = finite_difference_check(ref, model, x, y)
            print(f"  {name}/{ref_file}: {worst:.1e}")

    print("\nwrote:")
    for path in written:
        print(f"  {os.path.relpath(path, ROOT)}  {os.path.getsize(path)} bytes  sha256 {sha(path)}")


if __name__ == "__main__":
    sys.exit(main())
