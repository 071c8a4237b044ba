#!/usr/bin/env bash
# Bundles built binaries with the shared libraries they need, so they run on a GPU host that
# lacks our Debian packages (issue 4). Copies the GPU test binary, the CUDA benchmark, the
# service benchmark (its workers re-execute the bundled binary, which inherits LD_LIBRARY_PATH
# from bundle/run) and the mhc-verify CLI (whichever exist) from BUILD_DIR into bundle/
# (git-ignored), plus every shared library `ldd` lists except the C runtime (glibc, ld-linux) and
# the driver (libcuda, libnvidia*), which must come from the host. bundle/run sets
# LD_LIBRARY_PATH and runs a bundled binary:
#
#   scripts/bundle.sh [BUILD_DIR]        (default build/release)
#   bundle/run mhc_cuda_tests --gtest_filter='CudaErrors.*'
#   OMP_NUM_THREADS=1 bundle/run bench_service --only split
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build/release}"
out="$root/bundle"
[[ -d "$build" ]] || { echo "bundle.sh: build directory $build does not exist" >&2; exit 2; }

candidates=(tests/cuda/mhc_cuda_tests bench/cuda/mhc_bench_cuda bench/service/bench_service cli/mhc-verify)
rm -rf "$out"
mkdir -p "$out/bin" "$out/lib"
found=0
for rel in "${candidates[@]}"; do
  if [[ -x "$build/$rel" ]]; then
    cp "$build/$rel" "$out/bin/"
    found=$((found + 1))
  fi
done
(( found > 0 )) || { echo "bundle.sh: none of ${candidates[*]} is built in $build" >&2; exit 2; }

# Shared libraries, transitively (ldd resolves the whole tree), minus the host's own.
for bin in "$out"/bin/*; do
  ldd "$bin" | awk '/=> \// {print $3}'
done | sort -u | while read -r lib; do
  case "$(basename "$lib")" in
    libc.so*|libm.so*|libdl.so*|librt.so*|libpthread.so*|ld-linux*|libcuda.so*|libnvidia*) ;;
    *) cp -L "$lib" "$out/lib/" ;;
  esac
done

cp "$root/bench/cuda/torch_mhc.py" "$out/" 2>/dev/null || true
cat > "$out/run" <<'RUN'
#!/usr/bin/env bash
# Runs a bundled binary with the bundled libraries first on the search path.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
name="$1"; shift
export LD_LIBRARY_PATH="$here/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
exec "$here/bin/$name" "$@"
RUN
chmod +x "$out/run"
echo "bundle.sh: $(ls "$out/bin" | tr '\n' ' ')+ $(ls "$out/lib" | wc -l) libraries, $(du -sh "$out" | cut -f1) in $out"
