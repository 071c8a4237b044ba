#!/usr/bin/env bash
# One GPU-host run of everything docs/cuda.md records (issue 4), for a device lease that allows
# a single call: the GPU tests (full sweep, determinism, stages, errors), the benchmark (and two
# n > 4 shapes), compute-sanitizer memcheck on the reduced sweep, racecheck and synccheck on the
# kernels with shared-memory pipelines, and Nsight Compute profiles of the two projection kernels.
# Full logs go to $OUT (the device tool's result folder) or ./device-out; a summary is printed
# last. Exit status 1 if any step failed.
#
#   scripts/bundle.sh build/cuda        # on the build machine: bundle/ (binaries + libraries)
#   bench/cuda/device_run.sh [BUNDLE]   # on the GPU host, from the repository root
#
# A bundle/torch.json written earlier by bundle/torch_mhc.py adds the PyTorch columns.
set -uo pipefail

bundle="${1:-bundle}"
out="${OUT:-$PWD/device-out}"
[[ -x "$bundle/run" ]] || { echo "device_run.sh: $bundle/run not found (run scripts/bundle.sh first)" >&2; exit 2; }
mkdir -p "$out"
failed=()

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader >"$out/gpu.txt" 2>&1 ||
  failed+=("nvidia-smi")

start=$SECONDS
"$bundle/run" mhc_cuda_tests >"$out/tests.log" 2>&1 || failed+=("tests (rc $?)")
tests_s=$((SECONDS - start))

torch=()
[[ -f "$bundle/torch.json" ]] && torch=(--torch "$bundle/torch.json")
"$bundle/run" mhc_bench_cuda "${torch[@]}" --json "$out/bench.json" >"$out/bench.log" 2>&1 ||
  failed+=("bench (rc $?)")
# n > 4 (no target; docs/cuda.md "The n > 4 backward on the tensor cores").
"$bundle/run" mhc_bench_cuda --shape 65536,8,1024 --shape 16384,5,7168 --runs 20 >"$out/bench_wide.log" 2>&1 ||
  failed+=("bench n > 4 (rc $?)")

# The OOM test is left out: the sanitizer reports its deliberate failed cudaMalloc as an error.
sanitizer="$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)"
start=$SECONDS
MHC_CUDA_SWEEP=reduced LD_LIBRARY_PATH="$bundle/lib" "$sanitizer" --tool memcheck --error-exitcode 9 \
  "$bundle/bin/mhc_cuda_tests" --gtest_filter='Presets/*:CudaErrors.*:-*OutOfMemory*' >"$out/memcheck.log" 2>&1 ||
  failed+=("memcheck (rc $?)")
memcheck_s=$((SECONDS - start))

# racecheck is slow (minutes): the stage tests (every projection kernel, C = 1000, 1024, 4096),
# determinism and one preset's sweep cover every kernel that shares memory between warps.
start=$SECONDS
for tool in racecheck synccheck; do
  MHC_CUDA_SWEEP=reduced LD_LIBRARY_PATH="$bundle/lib" "$sanitizer" --tool "$tool" --error-exitcode 9 \
    "$bundle/bin/mhc_cuda_tests" --gtest_filter='Presets/CudaStages.*:CudaDeterminism.*:Presets/CudaSweep.*/deepseek' \
    >"$out/$tool.log" 2>&1 || failed+=("$tool (rc $?)")
done
race_s=$((SECONDS - start))

# Profiles of the projection kernels (docs/cuda.md) at the benchmark shape each runs at:
# occupancy, stall reasons, memory throughput. NCU=0 skips them.
if [[ "${NCU:-1}" != 0 ]]; then
  ncu_bin="$(command -v ncu || echo /usr/local/cuda/bin/ncu)"
  for target in pre_fused:65536,4,1024 proj_tiles:16384,4,7168; do
    LD_LIBRARY_PATH="$bundle/lib" "$ncu_bin" --clock-control none --kernel-name "regex:${target%%:*}" --launch-count 1 \
      --section SpeedOfLight --section Occupancy --section LaunchStats --section WarpStateStats \
      --section MemoryWorkloadAnalysis "$bundle/bin/mhc_bench_cuda" --shape "${target#*:}" --runs 1 --warmup 0 \
      >"$out/ncu_${target%%:*}.log" 2>&1 || failed+=("ncu ${target%%:*} (rc $?)")
  done
fi

echo "== device: $(cat "$out/gpu.txt")"
echo "== tests (${tests_s} s):"
grep -E "cases passed|^\[  PASSED|^\[  FAILED|^\[  SKIPPED|FAILED TEST" "$out/tests.log"
echo "== bench:"
cat "$out/bench.log"
echo "== bench, n > 4:"
grep -E "^pre|stages" "$out/bench_wide.log"
echo "== memcheck, reduced sweep (${memcheck_s} s):"
tail -n 3 "$out/memcheck.log"
echo "== racecheck and synccheck (${race_s} s):"
for tool in racecheck synccheck; do tail -n 1 "$out/$tool.log"; done
for log in "$out"/ncu_*.log; do
  [[ -f "$log" ]] || continue
  echo "== $(basename "$log" .log):"
  grep -E "Duration|Memory Throughput|DRAM Throughput|Achieved Occupancy|Registers Per|Waves Per SM|Stall" "$log" | head -n 20
done
if ((${#failed[@]})); then
  echo "== FAILED: ${failed[*]}"
  exit 1
fi
echo "== all steps passed"
