// rng::TensorRng::normal_icdf, the sampler of generated cases (casegen version 2): exact quantiles
// of the standard normal at its 2^32 grid points, symmetric, monotone, one word per element, and
// its own log close to libm's.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>

#include "core/rng.hpp"

namespace mhc::rng {
namespace {

// |q| of a word (what normal_from_word inverts): (m + 1/2) 2^-32, m the low 31 bits.
double abs_q(std::uint32_t w) { return (static_cast<double>(w & 0x7fffffffu) + 0.5) * 0x1p-32; }

TEST(NormalIcdf, QuantileOfItsGridPoint) {
  // Phi(z) - 1/2 = |q| to ~1e-15 relative (checked through erf in the center and erfc, which
  // keeps the small upper tail probability accurate, beyond it).
  double worst = 0;
  for (std::uint64_t k = 0; k < 200000; ++k) {
    // Low words sweep the center densely; the last ones walk into the far tail one by one.
    const std::uint32_t w = k < 100000 ? static_cast<std::uint32_t>(k * 21474u)
                                       : 0x7fffffffu - static_cast<std::uint32_t>(k - 100000) * (k % 7 == 0 ? 1u : 9973u);
    const double z = TensorRng::normal_from_word(w);
    const double aq = abs_q(w);
    ASSERT_GE(z, 0) << w;
    const double rel = aq <= TensorRng::kIcdfCenter
                           ? std::fabs(0.5 * std::erf(z / std::sqrt(2.0)) - aq) / aq
                           : std::fabs(0.5 * std::erfc(z / std::sqrt(2.0)) - (0.5 - aq)) / (0.5 - aq);
    worst = std::max(worst, rel);
  }
  EXPECT_LT(worst, 1e-12);
  // Known quantiles: Phi^-1(0.975) and the largest value, Phi^-1(1 - 2^-33).
  EXPECT_NEAR(TensorRng::icdf_tail(0.475), 1.959963984540054, 1e-14);
  EXPECT_NEAR(TensorRng::icdf_center(0.25), 0.6744897501960817, 1e-15);
  EXPECT_NEAR(TensorRng::normal_from_word(0x7fffffffu), 6.337957754553789, 1e-13);
}

TEST(NormalIcdf, SignBitMirrorsAndMagnitudeIsMonotone) {
  double previous = -1;
  for (std::uint32_t m = 0; m < 0x80000000u; m += 65521) {
    const double z = TensorRng::normal_from_word(m);
    EXPECT_EQ(TensorRng::normal_from_word(m | 0x80000000u), -z);
    EXPECT_GT(z, previous) << m;
    previous = z;
  }
  // Across the center/tail boundary, where two formulas meet.
  const std::uint32_t edge = static_cast<std::uint32_t>(TensorRng::kIcdfCenter * 0x1p32);
  for (std::uint32_t m = edge - 1000; m < edge + 1000; ++m) {
    EXPECT_LT(TensorRng::normal_from_word(m), TensorRng::normal_from_word(m + 1)) << m;
  }
}

TEST(NormalIcdf, ElementIIsWordIMod4OfBlockIDiv4) {
  const TensorRng r = tensor_rng(21, "x");
  for (std::uint64_t i : {0ull, 1ull, 2ull, 3ull, 4ull, 4097ull, 1ull << 40}) {
    EXPECT_EQ(r.normal_icdf(i), TensorRng::normal_from_word(r.block(i / 4).v[i % 4])) << i;
  }
}

TEST(NormalIcdf, Moments) {
  const TensorRng r = tensor_rng(11, "n");
  constexpr int kN = 400000;
  double s1 = 0, s2 = 0, s3 = 0, s4 = 0;
  int beyond3 = 0;
  for (int i = 0; i < kN; ++i) {
    const double z = r.normal_icdf(static_cast<std::uint64_t>(i));
    s1 += z, s2 += z * z, s3 += z * z * z, s4 += z * z * z * z;
    beyond3 += std::fabs(z) > 3;
  }
  EXPECT_NEAR(s1 / kN, 0.0, 0.01);
  EXPECT_NEAR(s2 / kN, 1.0, 0.01);
  EXPECT_NEAR(s3 / kN, 0.0, 0.04);
  EXPECT_NEAR(s4 / kN, 3.0, 0.07);
  EXPECT_GT(beyond3, kN * 0.0020);  // P(|z| > 3) = 0.0027
  EXPECT_LT(beyond3, kN * 0.0034);
}

TEST(NormalIcdf, OwnLogWithinTwoUlpsOfLibm) {
  for (double x = 0x1p-34; x < 0.1; x *= 1.0137) {
    const double want = std::log(x);
    EXPECT_LE(std::fabs(TensorRng::log_small(x) - want), 2 * (std::nextafter(std::fabs(want), INFINITY) - std::fabs(want)))
        << x;
  }
  EXPECT_EQ(TensorRng::log_small(1.0), 0.0);
}

}  // namespace
}  // namespace mhc::rng
