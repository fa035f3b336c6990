#!/usr/bin/env bash
# Brings a checkout to where the benchmarks run (bench/README.md): scripts/setup.sh (Node
# packages, nats-server, dist/), then the PyTorch peer of bench/worker.ts,
# bench/compute-pool.ts and bench/resnet18.ts: Debian's python3-torch (and
# python3-torchvision) on OpenBLAS. python3-torch alone pulls in
# the reference BLAS (libblas3), against which the benches print no ratios
# (bench/torch-blas.ts); libopenblas0-pthread takes libblas.so.3 over through the
# alternatives system. Installs only what is missing; safe to run again. Ends by asking
# torch which BLAS it loaded.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

# The python the benches try first (then PATH, then /usr/bin/python3).
python="${GRADSWARM_PYTHON:-/usr/bin/python3}"
packages=()
"$python" -c "import torch" >/dev/null 2>&1 || packages+=(python3-torch)
# bench/torch-resnet18.py builds torchvision's resnet18.
"$python" -c "import torchvision" >/dev/null 2>&1 || packages+=(python3-torchvision)
if command -v dpkg-query >/dev/null 2>&1; then
  dpkg-query -W -f='${Status}' libopenblas0-pthread 2>/dev/null | grep -q "ok installed" || packages+=(libopenblas0-pthread)
fi
if [ ${#packages[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "bench-setup: no apt-get here; install PyTorch with an optimized BLAS (OpenBLAS or MKL) for $python yourself (missing: ${packages[*]})" >&2
    exit 1
  fi
  echo "bench-setup: installing ${packages[*]} (apt-get)" >&2
  sudo=""
  [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && sudo="sudo"
  if ! $sudo apt-get install -y -qq "${packages[@]}" >&2 2>/dev/null; then
    $sudo apt-get update -qq >&2
    $sudo apt-get install -y -qq "${packages[@]}" >&2
  fi
fi

# The same check the benches make. An alternatives link set by hand keeps the reference BLAS
# even with OpenBLAS installed: the message then names the library it found.
npx tsx --eval '
import { describeBlas, peerRefusal, probeTorch } from "./bench/torch-blas.ts";
const probe = probeTorch(process.argv[1], ["--device", "cpu"]);
if (typeof probe === "string") { console.error(`bench-setup: ${probe}`); process.exit(1); }
const refusal = peerRefusal(probe.blas, "cpu");
if (refusal) {
  console.error(`bench-setup: ${refusal}`);
  console.error(`bench-setup: if libopenblas0-pthread is installed, the alternatives link was set by hand: update-alternatives --auto libblas.so.3-${process.argv[2]}`);
  process.exit(1);
}
console.error(`bench-setup: torch ${probe.torch} on ${describeBlas(probe.blas)}`);
' "$python" "$(uname -m)-linux-gnu"
