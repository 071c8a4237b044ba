#!/usr/bin/env bash
# Longer fuzzing runs (issue 6): builds the `fuzz` preset (clang, libFuzzer + ASan + UBSan) and
# fuzzes each target over its committed corpus.
#
#   scripts/fuzz.sh [--seconds N] [--merge] [TARGET...]
#
#   --seconds N  time per target (default 600); CI runs 20 through `ctest --preset fuzz`
#   --merge      afterwards, add the new inputs that reach new coverage to tests/fuzz/corpus/
#                (libFuzzer -merge=1: only inputs that add coverage are kept)
#   TARGET       fuzz_safetensors fuzz_sweep fuzz_case_spec fuzz_case_proto fuzz_upload (default: all)
#
# New inputs go to build/fuzz/tests/fuzz/corpus_new/TARGET, crash reproducers to
# build/fuzz/tests/fuzz/artifacts/. Each run prints libFuzzer's final stats (executions, exec/s,
# cov:, ft:), the figures recorded in docs/reliability.md. Exit status 1 when a target crashed.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=600
merge=0
targets=()
while (($#)); do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --merge) merge=1; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    fuzz_*) targets+=("$1"); shift ;;
    *) echo "fuzz.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
((${#targets[@]})) || targets=(fuzz_safetensors fuzz_sweep fuzz_case_spec fuzz_case_proto fuzz_upload)

cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j"$(nproc)"

dir=build/fuzz/tests/fuzz
status=0
for t in "${targets[@]}"; do
  mkdir -p "$dir/corpus_new/$t" "$dir/artifacts"
  echo "== $t: ${seconds} s"
  if ! "$dir/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$dir/artifacts/$t-" "$dir/corpus_new/$t" "tests/fuzz/corpus/$t" 2>"$dir/$t.log"; then
    status=1
    grep -E "ERROR|SUMMARY|artifact" "$dir/$t.log" || true
  fi
  # The last status line (#N DONE cov: ... exec/s) and the final stats.
  grep -E "^#[0-9]+.*(DONE|cov:)" "$dir/$t.log" | tail -1
  grep -E "^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)" "$dir/$t.log" || true
  if ((merge)); then
    "$dir/$t" -merge=1 "tests/fuzz/corpus/$t" "$dir/corpus_new/$t" 2>/dev/null
  fi
done
exit "$status"
