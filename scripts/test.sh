#!/usr/bin/env bash
# The whole test suite on a fresh machine: install, build, run every CPU test (GPU tests skip
# without a device). Then the hardening steps of issue 6 (docs/reliability.md): the CPU suite
# again under ASan + UBSan (scripts/sanitizers.sh asan), and each libFuzzer target for 20 s over
# its committed corpus when clang is installed (`fuzz` preset). MHC_SKIP_HARDENING=1 skips both.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ccache.env
bash scripts/build.sh
ctest --preset release -j"$(nproc)" --timeout 1500 "$@"

if [[ "${MHC_SKIP_HARDENING:-0}" == 1 ]]; then exit 0; fi
bash scripts/sanitizers.sh asan
if command -v clang++ >/dev/null; then
  cmake --preset fuzz >/dev/null
  cmake --build --preset fuzz -j"$(nproc)"
  ctest --preset fuzz
else
  echo "test.sh: clang++ is not installed (Debian: clang libclang-rt-14-dev libomp-dev); fuzzing skipped" >&2
fi
