#!/usr/bin/env bash
# The quick start: set up if needed, then measure examples/quickstart.yaml on the
# embedded default (a local nats-server and two local workers).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec node dist/coordinator/cli.js run examples/quickstart.yaml --out runs/quickstart "$@"
