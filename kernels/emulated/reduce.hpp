// Reductions in a GPU's order. A warp does not sum a row left to right: each of its lanes keeps a
// strided partial sum and the partials meet in a tree. Emulating that order (rather than a
// sequential sum) is both closer to the kernels and vectorisable without -ffast-math, because the
// order is written out explicitly.
#pragma once

#include <cstdint>

namespace mhc::emulated {

inline constexpr int kLanes = 16;

// sum_k a[k] * b[k] in f32. Forward order: lane l owns k = l (mod 16) walking upwards, then a
// halving tree (lane l += lane l+8, ...). reorder: lanes own indices counted from the end, blocks
// are walked downwards and the tree pairs neighbours (l += l+1, then l += l+2, ...).
inline float dot(const float* a, const float* b, std::int64_t len, bool reorder) {
  float acc[kLanes] = {};
  const std::int64_t head = len % kLanes;
  if (!reorder) {
    const std::int64_t full = len - head;
    for (std::int64_t k = 0; k < full; k += kLanes) {
      for (int l = 0; l < kLanes; ++l) acc[l] += a[k + l] * b[k + l];
    }
    for (std::int64_t l = 0; l < head; ++l) acc[l] += a[full + l] * b[full + l];
    for (int w = kLanes / 2; w >= 1; w /= 2) {
      for (int l = 0; l < w; ++l) acc[l] += acc[l + w];
    }
  } else {
    for (std::int64_t k = len - kLanes; k >= 0; k -= kLanes) {
      for (int l = 0; l < kLanes; ++l) acc[l] += a[k + l] * b[k + l];
    }
    for (std::int64_t l = 0; l < head; ++l) acc[l] += a[l] * b[l];
    for (int w = 1; w < kLanes; w *= 2) {
      for (int l = 0; l + w < kLanes; l += 2 * w) acc[l] += acc[l + w];
    }
  }
  return acc[0];
}

}  // namespace mhc::emulated
