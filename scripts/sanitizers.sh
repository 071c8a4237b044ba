#!/usr/bin/env bash
# Sanitizer runs (issue 6): the CPU test suite under AddressSanitizer + UndefinedBehaviorSanitizer
# (preset `asan`, GPU tests excluded) and the server/client tests under ThreadSanitizer (preset
# `tsan`, label `server`).
#
#   scripts/sanitizers.sh [asan|tsan|all] [extra ctest arguments]   (default: asan)
#
# ASan/UBSan: any report fails the test that produced it (-fno-sanitize-recover, halt_on_error).
# TSan: Debian's gRPC, Abseil and protobuf are not instrumented, so TSan cannot see the ordering
# gRPC gives its own code (hand-offs between its threads, message serialisation); our reactors
# state the callback API's ordering with annotations (server/tsan_handoff.hpp). Reports are
# collected (halt_on_error=0) and judged here: one whose every access happens in our code (std,
# protobuf and generated message code count as their caller's) fails the run; one with gRPC's
# own code on a side is counted and listed by kind, not judged (docs/reliability.md says why).
set -euo pipefail
cd "$(dirname "$0")/.."

which="${1:-asan}"
(($#)) && shift
jobs="$(nproc)"

# handle_segv=0: the crash mutant's deliberate SIGSEGV must kill its process by the signal, as the
# death test and the service's crash verdict expect, not become an ASan report and exit(1).
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1:handle_segv=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
tsan_logs="$PWD/build/tsan/tsan-reports"
# exitcode=0: the judgement below decides; handle_segv=0 as for ASan; history_size=7 so both
# stacks of a race are restored (an unrestored stack is judged as ours).
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=0:exitcode=0:handle_segv=0:history_size=7:ignore_noninstrumented_modules=1:second_deadlock_stack=1:suppressions=$PWD/scripts/tsan.supp:log_path=$tsan_logs/report}"

# run PRESET [--targets "T..."] [ctest arguments]: builds everything, or only the given targets.
run() {
  local preset="$1" targets=()
  shift
  if [[ "${1:-}" == --targets ]]; then
    read -ra targets <<<"$2"
    shift 2
  fi
  source scripts/ccache.env
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j"$jobs" ${targets[@]+--target "${targets[@]}"}
  ctest --preset "$preset" -j"$jobs" --timeout 1500 "$@"
}

# Sorts the TSan reports in $tsan_logs: fails when one has our code on every side.
judge_tsan() {
  python3 - "$tsan_logs" <<'PY'
import collections, pathlib, re, sys
ACCESS = re.compile(r"^  (?:Previous )?(?:[Aa]tomic )?(?:[Ww]rite|[Rr]ead)[^\n]*:\n((?:    [^\n]*\n)+)", re.M)
STACK = re.compile(r"^(?:  |    )[^\n]*:\n((?:    #[^\n]*\n)+)", re.M)
FRAME = re.compile(r"#\d+ (.*) (\S+) \((\S+?)\+0x[0-9a-f]+\)$")
LIBRARY = ("std::", "void std::", "__gnu_cxx::", "operator new", "operator delete")
GRPC_MODULES = ("libgrpc", "libgpr", "libabsl", "libaddress_sorting", "libupb")

def side(stack):
    """Whose code made the access: the first frame that is not std, protobuf or generated
    message code (those run on behalf of their caller)."""
    for line in stack.strip().splitlines():
        m = FRAME.search(line.strip())
        if not m:
            return "unknown"
        func, path, module = m.groups()
        module = module.rsplit("/", 1)[-1]
        if func.startswith(LIBRARY) or path.startswith(("/usr/include/c++/", "/usr/include/google/")):
            continue
        if "proto/gen/" in path or module.startswith("libprotobuf"):
            continue
        if path.startswith(("/usr/include/grpcpp/", "/usr/include/grpc/")) or module.startswith(GRPC_MODULES):
            return "gRPC"
        if path == "<null>" or module.startswith(("libtsan", "libc.", "libstdc++", "libgcc")):
            continue  # the runtime (interceptors, libc): the caller decides
        return "ours"
    return "unknown"

kinds, ours = collections.Counter(), []
for log in sorted(pathlib.Path(sys.argv[1]).glob("report*")):
    for report in log.read_text(errors="replace").split("==================\n"):
        if "WARNING: ThreadSanitizer" not in report:
            continue
        stacks = [m.group(1) for m in ACCESS.finditer(report)] or [m.group(1) for m in STACK.finditer(report)][:1]
        sides = [side(s) for s in stacks] or ["unknown"]
        kind = report.split("WARNING: ThreadSanitizer: ", 1)[1].split(" (pid")[0]
        kinds[(kind, " vs ".join(sides))] += 1
        if "gRPC" not in sides:
            ours.append(report)
print("TSan reports by kind and by whose code made each access:")
for (kind, sides), n in sorted(kinds.items(), key=lambda kv: -kv[1]):
    print(f"  {n:6d}  {kind}: {sides}{'' if 'gRPC' in sides else '   <- judged'}")
if ours:
    print(f"\n{len(ours)} report(s) with our code on every side:\n")
    print("\n==================\n".join(ours[:20]))
    sys.exit(1)
print("No TSan report with our code on every side.")
PY
}

run_tsan() {
  rm -rf "$tsan_logs"
  mkdir -p "$tsan_logs"
  # libgomp's barriers are invisible to TSan: one OpenMP thread per process.
  # Only what the `server` label runs (the preset's test filter).
  OMP_NUM_THREADS=1 run tsan --targets "mhc_server_testbin server_units_test server_rpc_test" "$@"
  judge_tsan
}

case "$which" in
  asan) run asan "$@" ;;
  tsan) run_tsan "$@" ;;
  all) run asan "$@" && run_tsan "$@" ;;
  *) echo "sanitizers.sh: expected asan, tsan or all, not $which" >&2; exit 2 ;;
esac
