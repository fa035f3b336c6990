#!/usr/bin/env python3
"""PyTorch peer for bench/train.ts: training steps per second of the same run.

MLP 784-256-10 (ReLU, float32, nn.Linear's init), mean cross-entropy, torch.optim.SGD
(lr 0.01, momentum 0.9, weight decay 5e-4), on N random examples of 784 features in
[0, 1) and 10 classes (Fashion-MNIST's shapes; the rate does not depend on the values).
Each step: the next minibatch of a fresh torch.randperm per epoch (indexing the data
tensor, as a DataLoader over a TensorDataset does without workers), forward, backward,
optimizer.step(). Timed: the best of --reps repetitions of at least --min-time seconds,
after a warm-up of a few steps.

Prints one JSON object on stdout: {"torch", "threads", "device", "libraries", "config",
"malloc", "rows": [{"batch", "steps_per_s", "cpu_s_per_step" (process CPU time of all threads,
time.process_time, in the same repetition), "examples_per_s", "reps", "steps"}]}, with the
mapped libraries and build config from which bench/torch-blas.ts tells the BLAS.

  /usr/bin/python3 bench/torch-train.py [--threads 2] [--batches 32,2048] [--n 60000]
      [--reps 3] [--min-time 1.0] [--no-malloc-tuning]
"""

import argparse
import json
import os
import time

_ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
_ap.add_argument("--threads", type=int, default=2)
_ap.add_argument("--batches", default="32,2048")
_ap.add_argument("--n", type=int, default=60000)
_ap.add_argument("--reps", type=int, default=3)
_ap.add_argument("--min-time", type=float, default=1.0)
_ap.add_argument("--no-malloc-tuning", action="store_true")
ARGS = _ap.parse_args()

from torch_common import log, malloc_description, mapped_libraries, prepare_process  # noqa: E402

prepare_process(ARGS.threads, malloc_tuning=not ARGS.no_malloc_tuning)

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def main():
    torch.set_num_threads(ARGS.threads)
    torch.manual_seed(0)
    x = torch.rand(ARGS.n, 784)
    y = torch.randint(0, 10, (ARGS.n,))
    rows = []
    for batch in [int(b) for b in ARGS.batches.split(",") if b]:
        model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
        per_epoch = (ARGS.n + batch - 1) // batch
        state = {"epoch": 0, "batch": 0, "perm": torch.randperm(ARGS.n)}

        def step():
            if state["batch"] == per_epoch:
                state["epoch"] += 1
                state["batch"] = 0
                state["perm"] = torch.randperm(ARGS.n)
            idx = state["perm"][state["batch"] * batch:(state["batch"] + 1) * batch]
            state["batch"] += 1
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            opt.step()

        for _ in range(5):
            step()
        best, reps, steps_done, cpu_per_step = None, 0, 0, None
        for _ in range(ARGS.reps):
            steps, start, cpu0 = 0, time.perf_counter(), time.process_time()
            while True:
                step()
                steps += 1
                elapsed = time.perf_counter() - start
                if elapsed >= ARGS.min_time:
                    break
            cpu = time.process_time() - cpu0
            reps += 1
            if best is None or steps / elapsed > best:
                best, steps_done, cpu_per_step = steps / elapsed, steps, cpu / steps
        rows.append({"batch": batch, "steps_per_s": best, "cpu_s_per_step": cpu_per_step, "examples_per_s": best * batch, "reps": reps, "steps": steps_done})
        log(f"torch B={batch:<5d} {best:9.1f} steps/s {best * batch:11.0f} examples/s {cpu_per_step * 1000:.2f} CPU ms/step (best of {reps})")
    print(json.dumps({
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "device": f"cpu ({torch.get_num_threads()} threads)",
        "libraries": mapped_libraries(),
        "config": torch.__config__.show(),
        "malloc": malloc_description(not ARGS.no_malloc_tuning),
        "rows": rows,
    }))


if __name__ == "__main__":
    main()
