#!/usr/bin/env bash
# Runs one test file (or folder) N times in a row and prints how many runs passed and
# failed, optionally under load: K busy loops, and/or the rest of the suite running beside
# it over and over. A flaky test is a bug until shown otherwise; this is how it is shown.
#
#   scripts/stress.sh [--busy K] [--beside-suite] TEST N
#
#   scripts/stress.sh test/chaos/cluster.test.ts 10 --beside-suite
#   scripts/stress.sh test/chaos 3 --busy 2
#
# Each run's output goes to a log file (its path is printed for the failed ones). Exit
# status: 0 when every run passed, 1 otherwise, 2 for bad arguments.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: scripts/stress.sh [--busy K] [--beside-suite] TEST N" >&2; exit 2; }
busy=0
beside=0
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --busy) [ $# -ge 2 ] || usage; busy="$2"; shift 2 ;;
    --beside-suite) beside=1; shift ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "stress: unknown option $1" >&2; usage ;;
    *) args+=("$1"); shift ;;
  esac
done
[ ${#args[@]} -eq 2 ] || usage
test_path="${args[0]}"
runs="${args[1]}"
[ -e "$test_path" ] || { echo "stress: $test_path: no such test file or folder" >&2; exit 2; }
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "stress: N must be a positive whole number, got '$runs'" >&2; exit 2; }
[[ "$busy" =~ ^[0-9]+$ ]] || { echo "stress: --busy takes a whole number, got '$busy'" >&2; exit 2; }

scripts/setup.sh
npx tsc -p tsconfig.test.json

logs=$(mktemp -d "${TMPDIR:-/tmp}/gradswarm-stress-XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -- "-$p" 2>/dev/null || kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

for ((i = 0; i < busy; i++)); do
  setsid bash -c 'while :; do :; done' &
  pids+=($!)
done
if [ "$beside" -eq 1 ]; then
  # The rest of the suite, again and again, in its own process group (killed at the end).
  setsid bash -c "while :; do npx vitest run --exclude '$test_path' --exclude '$test_path/**' >>'$logs/beside.log' 2>&1 || true; done" &
  pids+=($!)
fi
echo "stress: $test_path × $runs (busy loops: $busy, rest of the suite beside it: $([ "$beside" -eq 1 ] && echo yes || echo no)); logs in $logs" >&2

passed=0
failed=0
for ((i = 1; i <= runs; i++)); do
  log="$logs/run-$i.log"
  start=$(date +%s)
  if npx vitest run "$test_path" >"$log" 2>&1; then
    passed=$((passed + 1)); verdict="passed"
  else
    failed=$((failed + 1)); verdict="FAILED (log: $log)"
  fi
  echo "run $i/$runs: $verdict in $(( $(date +%s) - start )) s" >&2
done
echo "$test_path: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
