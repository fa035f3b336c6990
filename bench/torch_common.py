"""What the PyTorch peers of the benchmarks (torch-peer.py, torch-resnet18.py) share.

Import it before torch: prepare_process() may re-exec the interpreter (glibc reads its
malloc settings at process start) and sets the thread counts OpenMP and OpenBLAS read when
torch loads. mapped_libraries() is what bench/torch-blas.ts reads to refuse a peer on the
reference BLAS.
"""

import os
import sys

# glibc returns every buffer over its mmap threshold (32 MB at most) to the kernel when it
# is freed, so each step with large activations (the CNN at B=512: 50 MB; ResNet's many
# MB) page-faults fresh zeroed memory: half the time went to the kernel, and these
# settings doubled PyTorch's CNN rate at B=512 here.
MALLOC_TUNING = {"MALLOC_MMAP_THRESHOLD_": "4294967296", "MALLOC_TRIM_THRESHOLD_": "8589934592", "MALLOC_TOP_PAD_": "1073741824"}
_EXEC_MARK = "GRADSWARM_TORCH_PEER_EXEC"


def prepare_process(threads, malloc_tuning=True):
    """Re-exec once with MALLOC_TUNING (unless malloc_tuning is False), then set the thread counts; before `import torch`."""
    if malloc_tuning and os.environ.get(_EXEC_MARK) != "1":
        for k, v in MALLOC_TUNING.items():
            os.environ.setdefault(k, v)
        os.environ[_EXEC_MARK] = "1"
        os.execv(sys.executable, [sys.executable, *sys.argv])
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(threads))


def malloc_description(malloc_tuning=True):
    return "glibc defaults" if not malloc_tuning else " ".join(f"{k}={os.environ.get(k)}" for k in MALLOC_TUNING)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def mapped_libraries():
    """Every shared object this process has mapped, symlinks resolved (Linux; [] elsewhere)."""
    try:
        with open("/proc/self/maps") as f:
            fields = [line.rstrip("\n").split(None, 5) for line in f]
    except OSError:
        return []
    paths = {f[5] for f in fields if len(f) == 6 and f[5].startswith("/")}
    return sorted({os.path.realpath(p) for p in paths if ".so" in os.path.basename(p)})
