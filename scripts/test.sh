#!/usr/bin/env bash
# The whole test suite on a fresh machine: install, build, run every CPU test (GPU tests skip
# without a device). Then the hardening steps of issue 6 (docs/reliability.md): the CPU suite
# again under ASan + UBSan (scripts/sanitizers.sh asan), the server/client tests under TSan
# (scripts/sanitizers.sh tsan), and each libFuzzer target for 20 s over its committed corpus when
# clang is installed (`fuzz` preset). MHC_SKIP_HARDENING=1 skips them.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ccache.env
bash scripts/build.sh
ctest --preset release -j"$(nproc)" --timeout 1500 "$@"

if [[ "${MHC_SKIP_HARDENING:-0}" == 1 ]]; then exit 0; fi
bash scripts/sanitizers.sh asan
bash scripts/sanitizers.sh tsan
if command -v clang++ >/dev/null; then
  cmake --preset fuzz >/dev/null
  # Only the fuzz targets (and what they link): the rest of the tree is tested above.
  cmake --build --preset fuzz -j"$(nproc)" --target fuzz_safetensors fuzz_sweep fuzz_case_spec fuzz_case_proto fuzz_upload
  ctest --preset fuzz
else
  echo "test.sh: clang++ is not installed (Debian: clang libclang-rt-14-dev libomp-dev); fuzzing skipped" >&2
fi
