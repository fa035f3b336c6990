#!/usr/bin/env bash
# Brings a fresh checkout to a runnable state: Node packages (npm ci, only when the lock
# file changed), nats-server (from Debian's packages when it is missing), and the
# compiled program in dist/. Safe to run again; the quick start and the tests call it.
set -euo pipefail
cd "$(dirname "$0")/.."

major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$major" -lt 20 ]; then
  echo "gradswarm needs Node.js 20 or newer (found: $(node --version 2>/dev/null || echo none))." >&2
  exit 1
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing Node packages (npm ci)" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
fi

have_nats() {
  [ -n "${GRADSWARM_NATS_SERVER:-}" ] && [ -x "$GRADSWARM_NATS_SERVER" ] && return 0
  command -v nats-server >/dev/null 2>&1 && return 0
  for d in /usr/sbin /usr/local/sbin; do [ -x "$d/nats-server" ] && return 0; done
  return 1
}
if ! have_nats; then
  echo "setup: installing nats-server (apt-get)" >&2
  sudo=""
  [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && sudo="sudo"
  if ! $sudo apt-get install -y -qq nats-server >&2 2>/dev/null; then
    $sudo apt-get update -qq >&2
    $sudo apt-get install -y -qq nats-server >&2
  fi
fi

echo "setup: compiling (tsc)" >&2
npx tsc -p tsconfig.json
chmod +x dist/coordinator/cli.js dist/worker/cli.js
