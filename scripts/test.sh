#!/usr/bin/env bash
# The test suite: set up if needed, then type-check the tests and run them all
# (unit, and integration against real nats-server processes the tests start).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
npx tsc -p tsconfig.test.json
exec npx vitest run "$@"
