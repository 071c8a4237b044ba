// Device discovery. Without a driver or GPU, cudaGetDeviceCount fails: that is "0 devices", not
// an error, so `info` and `--backend auto` work on CPU-only hosts.
#include <cuda_runtime_api.h>

#include <cstdio>
#include <string>
#include <vector>

#include "kernels/cuda/cuda_backend.hpp"

namespace mhc {

int cuda_device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the non-sticky error so later calls start clean
    return 0;
  }
  return count;
}

std::vector<std::string> cuda_device_descriptions() {
  std::vector<std::string> lines;
  const int count = cuda_device_count();
  for (int d = 0; d < count; ++d) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, d) != cudaSuccess) continue;
    char line[512];
    std::snprintf(line, sizeof line, "%d: %s, sm_%d%d, %.1f GiB", d, prop.name, prop.major, prop.minor,
                  static_cast<double>(prop.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0));
    lines.emplace_back(line);
  }
  return lines;
}

}  // namespace mhc
