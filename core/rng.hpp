// Counter-based random numbers: element i of tensor NAME in case SEED is a pure function of
// (seed, fnv1a64(NAME), i). No state, no order: the host, a CUDA kernel or another machine
// regenerates any element on its own, so a case travels as a line of text, never as tensors.
//
// Generator: Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11),
// the standard multipliers and Weyl key increments; checked against Random123's known answers
// in tests/core/rng_test.cpp.
//   counter = {i_lo, i_hi, name_hash_lo, name_hash_hi}, key = {seed_lo, seed_hi}
// Uniform and integer draws take one block (4 x 32 bits) per element; normals one 32-bit word
// (normal_icdf: element i is word i mod 4 of block i / 4).
//
// Host/device: everything is MHC_HD and uses only integer arithmetic and IEEE +, -, *, /, sqrt,
// so host and device draw the same bits (device code compiled without FMA contraction;
// tests/core/rng_device_test.cpp checks it on a GPU).
#pragma once

#include <math.h>
#include <string.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/bf16.hpp"  // MHC_HD

namespace mhc::rng {

struct Block {
  std::uint32_t v[4];
};

namespace detail {

MHC_HD inline void mulhilo32(std::uint32_t a, std::uint32_t b, std::uint32_t& hi, std::uint32_t& lo) {
  const std::uint64_t p = static_cast<std::uint64_t>(a) * b;
  hi = static_cast<std::uint32_t>(p >> 32);
  lo = static_cast<std::uint32_t>(p);
}

}  // namespace detail

// Philox4x32 with 10 rounds: ctr is the 128-bit counter, key the 64-bit key.
MHC_HD inline Block philox4x32_10(Block ctr, std::uint32_t key0, std::uint32_t key1) {
  constexpr std::uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  constexpr std::uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      key0 += kWeyl0;
      key1 += kWeyl1;
    }
    std::uint32_t hi0, lo0, hi1, lo1;
    detail::mulhilo32(kMul0, ctr.v[0], hi0, lo0);
    detail::mulhilo32(kMul1, ctr.v[2], hi1, lo1);
    ctr = Block{{hi1 ^ ctr.v[1] ^ key0, lo1, hi0 ^ ctr.v[3] ^ key1, lo0}};
  }
  return ctr;
}

// FNV-1a, 64-bit: a stable hash of a tensor name (independent of compiler and platform,
// unlike std::hash).
MHC_HD inline std::uint64_t fnv1a64(const char* s, std::size_t len) {
  std::uint64_t h = 0xCBF29CE484222325ull;
  for (std::size_t i = 0; i < len; ++i) {
    h ^= static_cast<unsigned char>(s[i]);
    h *= 0x100000001B3ull;
  }
  return h;
}

inline std::uint64_t name_hash(std::string_view name) { return fnv1a64(name.data(), name.size()); }

// The random values of one tensor in one case. Element-wise draws; each call is independent.
struct TensorRng {
  std::uint64_t seed = 0;
  std::uint64_t name = 0;  // name_hash(tensor name)

  MHC_HD Block block(std::uint64_t i) const {
    const Block ctr{{static_cast<std::uint32_t>(i), static_cast<std::uint32_t>(i >> 32),
                     static_cast<std::uint32_t>(name), static_cast<std::uint32_t>(name >> 32)}};
    return philox4x32_10(ctr, static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32));
  }

  // 53 random bits from two words, as an integer in [0, 2^53).
  MHC_HD static std::uint64_t bits53(std::uint32_t hi, std::uint32_t lo) {
    return ((static_cast<std::uint64_t>(hi) << 32) | lo) >> 11;
  }

  // Uniform in [0, 1), multiples of 2^-53.
  MHC_HD double uniform(std::uint64_t i) const {
    const Block b = block(i);
    return static_cast<double>(bits53(b.v[0], b.v[1])) * 0x1p-53;
  }

  // Uniform in (0, 1]: safe under log().
  MHC_HD double uniform_pos(std::uint64_t i) const {
    const Block b = block(i);
    return static_cast<double>(bits53(b.v[0], b.v[1]) + 1) * 0x1p-53;
  }

  // Standard normal by inverse CDF from one 32-bit word, four elements per block: element i is
  // word i % 4 of block(i / 4). The sign is bit 31; the other 31 bits m give |q| = (m + 1/2) 2^-32
  // in (0, 1/2), and z = +-Phi^-1(1/2 + |q|) (normal_from_word). Cases use this one: a quarter of
  // a block per element instead of one, no cos, a log for 15 % of the elements only, and made of
  // +, -, *, /, sqrt alone (its own log), so any ISA, libm or thread count gives the same bits
  // (device code too when compiled without FMA contraction). |z| <= 6.338 (P(|N| > 6.338) = 2.3e-10).
  MHC_HD double normal_icdf(std::uint64_t i) const { return normal_from_word(block(i >> 2).v[i & 3]); }

  MHC_HD static double normal_from_word(std::uint32_t w) {
    const double aq = static_cast<double>(w & 0x7fffffffu) * 0x1p-32 + 0x1p-33;
    const double z = aq <= kIcdfCenter ? icdf_center(aq) : icdf_tail(aq);
    return (w >> 31) ? -z : z;
  }

  // Wichura's AS241 (PPND16, Appl. Statist. 37, 1988), relative error ~1e-16, split by region so
  // that batch code (verify/casegen.cpp) evaluates the same expressions in vector loops.
  // |q| = p - 1/2 <= kIcdfCenter: Phi^-1(1/2 + |q|) = |q| A(r) / B(r), r = 0.180625 - q^2.
  static constexpr double kIcdfCenter = 0.425;
  MHC_HD static double icdf_center(double aq) {
    const double r = 0.180625 - aq * aq;
    const double num = ((((((2.5090809287301226727e+3 * r + 3.3430575583588128105e+4) * r + 6.7265770927008700853e+4) * r +
                           4.5921953931549871457e+4) * r + 1.3731693765509461125e+4) * r + 1.9715909503065514427e+3) * r +
                        1.3314166789178437745e+2) * r + 3.3871328727963666080e0;
    const double den = ((((((5.2264952788528545610e+3 * r + 2.8729085735721942674e+4) * r + 3.9307895800092710610e+4) * r +
                           2.1213794301586595867e+4) * r + 5.3941960214247511077e+3) * r + 6.8718700749205790830e+2) * r +
                        4.2313330701600911252e+1) * r + 1.0;
    return aq * num / den;
  }
  // kIcdfCenter < |q| < 1/2: r = sqrt(-log(1/2 - |q|)) - 1.6, C(r) / D(r). AS241 has a third
  // region for r > 5, i.e. 1/2 - |q| < 1.4e-11, below the 2^-33 that 32-bit words reach.
  MHC_HD static double icdf_tail(double aq) {
    const double r = ::sqrt(-log_small(0.5 - aq)) - 1.6;  // 0.5 - aq is exact (Sterbenz)
    const double num = ((((((7.74545014278341407640e-4 * r + 2.27238449892691845833e-2) * r + 2.41780725177450611770e-1) * r +
                           1.27045825245236838258e0) * r + 3.64784832476320460504e0) * r + 5.76949722146069140550e0) * r +
                        4.63033784615654529590e0) * r + 1.42343711074968357734e0;
    const double den = ((((((1.05075007164441684324e-9 * r + 5.47593808499534494600e-4) * r + 1.51986665636164571966e-2) * r +
                           1.48103976427480074590e-1) * r + 6.89767334985100004550e-1) * r + 1.67638483018380384940e0) * r +
                        2.05319162663775882187e0) * r + 1.0;
    return num / den;
  }
  // log(x) for a positive normal double, in basic arithmetic (libm's log differs between
  // libraries in the last bit): x = 2^e m, m in [sqrt(1/2), sqrt(2)), log m = 2 atanh(s),
  // s = (m - 1) / (m + 1), |s| < 0.172, by its series to s^23 (truncation < 1e-18); ~1 ulp.
  // Integer selects only (no branch, no FP compare), so that batch loops vectorise.
  MHC_HD static double log_small(double x) {
    std::uint64_t bits;
    ::memcpy(&bits, &x, sizeof bits);
    const std::uint64_t mantissa = bits & 0x000fffffffffffffull;
    const std::uint64_t high = mantissa > 0x6a09e667f3bccull ? 1 : 0;  // 1.mantissa > sqrt(2)
    const std::uint64_t m_bits = mantissa | ((0x3ffull - high) << 52);  // m = 1.mantissa / 2^high
    double m;
    ::memcpy(&m, &m_bits, sizeof m);
    const double de = static_cast<double>(static_cast<std::int32_t>(bits >> 52) - 1023 + static_cast<std::int32_t>(high));
    const double s = (m - 1.0) / (m + 1.0), s2 = s * s;
    const double series =
        ((((((((((s2 * (1.0 / 23) + 1.0 / 21) * s2 + 1.0 / 19) * s2 + 1.0 / 17) * s2 + 1.0 / 15) * s2 + 1.0 / 13) * s2 +
              1.0 / 11) * s2 + 1.0 / 9) * s2 + 1.0 / 7) * s2 + 1.0 / 5) * s2 + 1.0 / 3) * s2;
    constexpr double kLn2Hi = 6.93147180369123816490e-01, kLn2Lo = 1.90821492927058770002e-10;  // fdlibm: e * hi exact
    return de * kLn2Hi + ((2.0 * s + 2.0 * s * series) + de * kLn2Lo);
  }

  // Integer in [lo, hi] (hi >= lo, hi - lo < 2^32) by a 64-bit multiply-shift of one word; the
  // bias is below (hi - lo + 1) / 2^32, irrelevant for the small ranges the cases use.
  MHC_HD std::int64_t small_int(std::uint64_t i, std::int64_t lo, std::int64_t hi) const {
    const Block b = block(i);
    const std::uint64_t range = static_cast<std::uint64_t>(hi - lo) + 1;
    return lo + static_cast<std::int64_t>((static_cast<std::uint64_t>(b.v[0]) * range) >> 32);
  }
};

inline TensorRng tensor_rng(std::uint64_t seed, std::string_view name) { return {seed, name_hash(name)}; }

}  // namespace mhc::rng
