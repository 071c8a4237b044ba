#include "tests/cuda/gpu.hpp"

#include "kernels/cuda/cuda_backend.hpp"

namespace mhc::test {

bool have_gpu() {
  static const bool present = cuda_device_count() > 0;
  return present;
}

verify::CaseSpec case_spec(verify::Op op, const std::string& preset, std::int64_t T, std::int64_t n, std::int64_t C,
                           const std::string& extra, const std::string& dist, std::uint64_t seed) {
  std::string line = std::string(verify::to_string(op)) + " T=" + std::to_string(T) + " n=" + std::to_string(n) +
                     " C=" + std::to_string(C) + " preset=" + preset + " seed=" + std::to_string(seed) +
                     " dist=" + dist;
  if (!extra.empty()) line += " " + extra;
  return verify::CaseSpec::parse(line);
}

}  // namespace mhc::test
