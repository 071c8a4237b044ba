#!/usr/bin/env bash
# Configures and builds the release preset (CUDA kernels too when nvcc is installed).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
source scripts/ccache.env
cmake --preset release >/dev/null
cmake --build --preset release -j"$(nproc)"
