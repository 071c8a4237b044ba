// Host/device parameter blocks of the CUDA kernels: plain structs of sizes, semantics and device
// pointers. Pointers marked "optional" are nullptr when the caller does not want that tensor.
#pragma once

#include <cstdint>

#include "core/semantics.hpp"

#if defined(__CUDACC__)
#define MHC_CUDA_HD __host__ __device__
#else
#define MHC_CUDA_HD
#endif

namespace mhc::cuda {

// Residual map kinds as template parameters (core ResMap order).
enum ResKind : int { kSinkhorn = 0, kSinkhornExp = 1, kIdentity = 2, kPermutations = 3 };

// The semantics the kernels need, in f32 (the kernels' parameter precision).
struct MixSemantics {
  int resmap = kSinkhorn;
  int repeats = 20;
  float eps_rms = 1e-6f;
  float eps_pre = 1e-6f;
  float eps_sk = 1e-6f;
  float post_mult = 2.0f;
  bool transposed = true;  // post orientation
  bool merged = false;     // lite's H - h_post (x) h_pre on the h_res output
};
MixSemantics mix_semantics(const Semantics& s);

struct PreDims {
  std::int64_t T = 0;
  int n = 0;
  std::int64_t C = 0;
  int M = 0;  // 2n + n^2, or 2n + n! for permutations
  MHC_CUDA_HD std::int64_t K() const { return static_cast<std::int64_t>(n) * C; }
};

// Pre forward on device-resident data.
struct PreForwardArgs {
  PreDims d;
  MixSemantics s;
  const std::uint16_t* x = nullptr;  // [T, n, C] bf16
  const float* phi = nullptr;        // [M, K]
  const float* gamma = nullptr;      // [K], optional
  const float* alpha = nullptr;      // [3]
  const float* bias = nullptr;       // [M]
  std::uint16_t* y = nullptr;        // [T, C] bf16
  float* h_post = nullptr;           // [T, n]
  float* h_res = nullptr;            // [T, n, n] (merged when s.merged)
  // Optional taps (kernels/taps.hpp).
  float* tap_m = nullptr;         // [T, M]
  float* tap_inv_rms = nullptr;   // [T]
  float* tap_m_hat = nullptr;     // [T, M]
  float* tap_z = nullptr;         // [T, M]
  float* tap_h_pre = nullptr;     // [T, n]
  float* tap_h_res = nullptr;     // [T, n, n] before the merge
  float* tap_sinkhorn = nullptr;  // [R+1, T, n, n]
};

// Pre backward on device-resident data (recomputes the forward coefficients).
struct PreBackwardArgs {
  PreDims d;
  MixSemantics s;
  const std::uint16_t* x = nullptr;   // [T, n, C] bf16
  const float* phi = nullptr;         // [M, K]
  const float* gamma = nullptr;       // [K], optional
  const float* alpha = nullptr;       // [3]
  const float* bias = nullptr;        // [M]
  const std::uint16_t* dy = nullptr;  // [T, C] bf16
  const float* dh_post = nullptr;     // [T, n]
  const float* dh_res = nullptr;      // [T, n, n]
  std::uint16_t* dx = nullptr;        // [T, n, C] bf16
  float* dphi = nullptr;              // [M, K]
  float* dalpha = nullptr;            // [3]
  float* dbias = nullptr;             // [M]
  float* dgamma = nullptr;            // [K], only with gamma
  // Optional: m and r saved by the forward (its tap_m, tap_inv_rms), as an autograd function
  // would save them. They skip the projection recompute and give the same bits as it.
  const float* saved_m = nullptr;        // [T, M]
  const float* saved_inv_rms = nullptr;  // [T]
  // Optional components (kernels/taps.hpp).
  float* part_dh_pre = nullptr;     // [T, n]
  float* part_dz = nullptr;         // [T, M]
  float* part_dinv_rms = nullptr;   // [T]
  float* part_dx_apply = nullptr;   // [T, n, C]
  float* part_dx_mm = nullptr;      // [T, n, C]
  float* part_dx_mm_block[3] = {};  // [T, n, C] each
  float* part_dx_norm = nullptr;    // [T, n, C]
  float* part_dgamma_block[3] = {}; // [K] each
};

struct PostArgs {
  std::int64_t T = 0;
  int n = 0;
  std::int64_t C = 0;
  bool transposed = true;
  const std::uint16_t* x = nullptr;     // [T, n, C] bf16
  const std::uint16_t* f = nullptr;     // [T, C] bf16
  const float* h_post = nullptr;        // [T, n]
  const float* h_res = nullptr;         // [T, n, n]
  std::uint16_t* out = nullptr;         // [T, n, C] bf16 (forward)
  const std::uint16_t* dout = nullptr;  // [T, n, C] bf16 (backward)
  std::uint16_t* dx = nullptr;          // [T, n, C] bf16
  std::uint16_t* df = nullptr;          // [T, C] bf16
  float* dh_post = nullptr;             // [T, n]
  float* dh_res = nullptr;              // [T, n, n]
};

}  // namespace mhc::cuda
