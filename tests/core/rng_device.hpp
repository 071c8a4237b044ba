// Draws of core/rng.hpp made on the GPU, for comparison with the host (rng_device_test.cpp).
#pragma once

#include <cstdint>
#include <vector>

#include "core/rng.hpp"

namespace mhc::rng::test {

struct DeviceDraws {
  std::vector<Block> kat;  // philox4x32_10 of the Random123 known-answer inputs
  std::vector<Block> blocks;
  std::vector<double> uniform, normal;
  std::vector<std::int64_t> small_int;
};

// Elements 0..count-1 of `r` drawn by a CUDA kernel. Returns false when no CUDA device is usable.
bool draw_on_device(const TensorRng& r, std::size_t count, DeviceDraws& out);

}  // namespace mhc::rng::test
