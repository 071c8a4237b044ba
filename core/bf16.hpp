// bf16 and tf32 rounding, bit-exact with the GPU's round-to-nearest-even conversions.
//
// Host/device: every function is constexpr-free plain inline code so the CUDA kernels and the
// emulated backend share one definition of "how a GPU rounds".
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define MHC_HD __host__ __device__
#else
#define MHC_HD
#endif

namespace mhc {

MHC_HD inline std::uint32_t f32_bits(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

MHC_HD inline float f32_from_bits(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// f32 -> bf16 bits, round to nearest even; NaN stays a (quiet) NaN with its sign.
MHC_HD inline std::uint16_t bf16_bits_from_f32(float f) {
  const std::uint32_t u = f32_bits(f);
  if ((u & 0x7F800000u) == 0x7F800000u && (u & 0x007FFFFFu) != 0) {
    return static_cast<std::uint16_t>((u >> 16) | 0x0040u);
  }
  const std::uint32_t rounding = 0x7FFFu + ((u >> 16) & 1u);
  return static_cast<std::uint16_t>((u + rounding) >> 16);
}

MHC_HD inline float f32_from_bf16_bits(std::uint16_t b) {
  return f32_from_bits(static_cast<std::uint32_t>(b) << 16);
}

// Rounds an f32 to the nearest bf16 value (kept in an f32).
MHC_HD inline float round_bf16(float f) { return f32_from_bf16_bits(bf16_bits_from_f32(f)); }

// Rounds an f32 to TF32 (10 stored mantissa bits), round to nearest even, as the tensor cores
// see a float operand (DeepSeek's kernels round phi' this way before the GEMM).
MHC_HD inline float round_tf32(float f) {
  const std::uint32_t u = f32_bits(f);
  if ((u & 0x7F800000u) == 0x7F800000u) return f;
  const std::uint32_t rounding = 0xFFFu + ((u >> 13) & 1u);
  return f32_from_bits((u + rounding) & 0xFFFFE000u);
}

// f64 -> bf16 bits with a single correct rounding. A plain double->float->bf16 chain rounds
// twice and can land on the wrong neighbour; rounding to odd in the first step makes the
// second rounding correct (the f32 intermediate keeps 16 extra bits).
inline std::uint16_t bf16_bits_from_f64(double d) {
  if (std::isnan(d)) return bf16_bits_from_f32(static_cast<float>(d));
  float f = static_cast<float>(d);
  if (std::isinf(f) && !std::isinf(d)) f = std::copysign(3.4028234663852886e38f, f);
  else if (std::fabs(static_cast<double>(f)) > std::fabs(d)) f = std::nextafter(f, 0.0f);
  if (static_cast<double>(f) != d) f = f32_from_bits(f32_bits(f) | 1u);
  return bf16_bits_from_f32(f);
}

}  // namespace mhc
