#!/usr/bin/env bash
# The whole test suite on a fresh machine: install, build, run every CPU test (GPU tests skip
# without a device).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
ctest --preset release -j"$(nproc)" --timeout 1500 "$@"
