#!/usr/bin/env bash
# Sanitizer runs (issue 6): the CPU test suite under AddressSanitizer + UndefinedBehaviorSanitizer
# (preset `asan`, GPU tests excluded) and the server/client tests under ThreadSanitizer (preset
# `tsan`, label `server`).
#
#   scripts/sanitizers.sh [asan|tsan|all] [extra ctest arguments]   (default: asan)
#
# Any sanitizer report fails the test that produced it (-fno-sanitize-recover, halt_on_error).
set -euo pipefail
cd "$(dirname "$0")/.."

which="${1:-asan}"
(($#)) && shift
jobs="$(nproc)"

# handle_segv=0: the crash mutant's deliberate SIGSEGV must kill its process by the signal, as the
# death test and the service's crash verdict expect, not become an ASan report and exit(1).
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1:handle_segv=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/scripts/tsan.supp}"

run() {
  local preset="$1"
  shift
  source scripts/ccache.env
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j"$jobs"
  ctest --preset "$preset" -j"$jobs" --timeout 1500 "$@"
}

case "$which" in
  asan) run asan "$@" ;;
  tsan) run tsan "$@" ;;
  all) run asan "$@" && run tsan "$@" ;;
  *) echo "sanitizers.sh: expected asan, tsan or all, not $which" >&2; exit 2 ;;
esac
