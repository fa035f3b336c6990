#!/usr/bin/env bash
# Mutation testing (Stryker) of the modules where a silent bug costs most, one module at a
# time, with the unit tests of test/mutation/vitest.config.ts (docs/mutation.md).
#   scripts/mutation.sh                 every module
#   scripts/mutation.sh journal phases  only these
# Modules: estimators journal task-table dispatcher phases validate messages. Each module's report
# lands in reports/mutation/<module>.{html,json,log} (not in git). Not part of CI: it takes
# minutes per module (the estimators' half an hour on two busy cores the first time).
# Incremental: a module's next run tests again only the mutants whose code or tests
# changed (reports/mutation/<module>.incremental.json); --force as the first argument
# tests every mutant again.
set -euo pipefail
cd "$(dirname "$0")/.."

ALL=(estimators journal task-table dispatcher phases validate messages)

files_of() {
  case "$1" in
    estimators) echo "src/coordinator/estimators/**/*.ts" ;;
    journal) echo "src/coordinator/journal.ts" ;;
    task-table) echo "src/coordinator/task-table.ts" ;;
    dispatcher) echo "src/coordinator/dispatcher.ts,src/coordinator/stall-report.ts,src/coordinator/worker-registry.ts" ;;
    phases) echo "src/coordinator/phases/recover.ts" ;;
    validate) echo "src/protocol/validate.ts" ;;
    messages) echo "src/protocol/messages.ts" ;;
    *) echo "mutation: unknown module '$1' (known: ${ALL[*]})" >&2; return 1 ;;
  esac
}

force=()
if [ "${1:-}" = "--force" ]; then force=(--force); shift; fi
modules=("$@")
[ ${#modules[@]} -eq 0 ] && modules=("${ALL[@]}")
for m in "${modules[@]}"; do files_of "$m" >/dev/null; done

out=reports/mutation
mkdir -p "$out"
status=0
for m in "${modules[@]}"; do
  echo "mutation: $m ($(files_of "$m"))" >&2
  if npx stryker run test/mutation/stryker.config.mjs --mutate "$(files_of "$m")" --incremental --incrementalFile "$out/$m.incremental.json" "${force[@]}" 2>&1 | tee "$out/$m.log"; then
    mv "$out/mutation.json" "$out/$m.json"
    mv "$out/mutation.html" "$out/$m.html"
  else
    echo "mutation: $m failed; see $out/$m.log" >&2
    status=1
  fi
done
# One line per module: Stryker's "All files" row (score total and covered, killed,
# timeout, survived, no coverage, errors).
for m in "${modules[@]}"; do
  row=$(grep -E "^All files" "$out/$m.log" 2>/dev/null | tail -1 || true)
  printf '%-11s %s\n' "$m" "${row:-(no result)}"
done
exit $status
