#!/usr/bin/env bash
# The test suite: set up if needed, then type-check the tests and run them all
# (unit, and integration against real nats-server processes the tests start).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

# test/integration/webgpu.test.ts runs Dawn's OpenGL ES backend on Mesa's llvmpipe (no GPU
# needed): Mesa's EGL and software driver, from Debian's packages when missing.
mesa="libegl1 libegl-mesa0 libgl1-mesa-dri libgles2"
missing=$(for p in $mesa; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"; done)
if [ -n "$missing" ] && command -v apt-get >/dev/null 2>&1; then
  echo "test: installing Mesa's EGL for the WebGPU tests (apt-get): $(echo $missing)" >&2
  sudo=""
  [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && sudo="sudo"
  # shellcheck disable=SC2086
  $sudo apt-get install -y -qq $missing >&2 2>/dev/null || { $sudo apt-get update -qq >&2 && $sudo apt-get install -y -qq $missing >&2; } ||
    echo "test: could not install $(echo $missing); the WebGPU tests will fail without them" >&2
fi

# test/integration/netns.test.ts puts nats-server, the coordinator and the workers on hosts
# of their own (network namespaces, iproute2's `ip`); it runs as root and skips otherwise.
if ! command -v ip >/dev/null 2>&1 && [ ! -x /usr/sbin/ip ] && [ ! -x /sbin/ip ] && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "test: installing iproute2 for the network-namespace test (apt-get)" >&2
  apt-get install -y -qq iproute2 >&2 2>/dev/null || { apt-get update -qq >&2 && apt-get install -y -qq iproute2 >&2; } ||
    echo "test: could not install iproute2; the network-namespace test will skip" >&2
fi

# test/integration/report-browser.test.ts opens report.html in a headless Chromium
# (playwright-core drives Debian's chromium, found on PATH): installed when missing.
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  echo "test: installing Chromium for the report's browser test (apt-get)" >&2
  sudo=""
  [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && sudo="sudo"
  $sudo apt-get install -y -qq chromium >&2 2>/dev/null || { $sudo apt-get update -qq >&2 && $sudo apt-get install -y -qq chromium >&2; } ||
    echo "test: could not install chromium; the report's browser test will fail without it" >&2
fi

npx tsc -p tsconfig.test.json
exec npx vitest run "$@"
