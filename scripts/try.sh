#!/usr/bin/env bash
# The main job on a fresh machine: install, build, verify the quick example sweep.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
exec build/release/cli/mhc-verify --shapes examples/quick.yaml "$@"
