// core/bf16.hpp: round-to-nearest-even conversions as a GPU does them, and the single-rounding
// f64 -> bf16 path, checked against an independent nearest-value reference.
#include "core/bf16.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>

#include "core/rng.hpp"

namespace mhc {
namespace {

double bf16_value(std::uint16_t b) { return f32_from_bf16_bits(b); }

// Reference: the bf16 nearest to d, ties to even, found by comparing exact distances to the two
// bf16 neighbours (no f32 intermediate). Values at or past max + half an ulp overflow to inf.
std::uint16_t reference_bf16_bits(double d) {
  const std::uint16_t sign = std::signbit(d) ? 0x8000 : 0;
  const double a = std::fabs(d);
  if (std::isinf(a)) return sign | 0x7F80;
  // Largest bf16 pattern whose value is <= a.
  float t = static_cast<float>(a);
  if (static_cast<double>(t) > a) t = std::nextafter(t, 0.0f);
  std::uint16_t lo = static_cast<std::uint16_t>(f32_bits(t) >> 16);
  if (lo >= 0x7F80) lo = 0x7F7F;  // t rounded to inf: a is past the largest finite bf16
  const double lo_v = bf16_value(lo);
  const double hi_v = lo == 0x7F7F ? std::ldexp(1.0, 128) : bf16_value(static_cast<std::uint16_t>(lo + 1));
  const double below = a - lo_v, above = hi_v - a;  // exact: the neighbours are within a factor 2
  std::uint16_t r = lo;
  if (above < below || (above == below && (lo & 1))) r = static_cast<std::uint16_t>(lo + 1);
  return sign | r;
}

TEST(Bf16, RoundsToNearestEvenOnTies) {
  // ulp(1) in bf16 is 2^-7; 1 + 2^-8 is halfway between 1 (even) and 1 + 2^-7 (odd).
  EXPECT_EQ(bf16_bits_from_f32(1.0f + 0x1p-8f), 0x3F80);
  EXPECT_EQ(bf16_bits_from_f32(1.0f + 3 * 0x1p-8f), 0x3F82);  // tie between 0x3F81 and 0x3F82
  EXPECT_EQ(bf16_bits_from_f32(1.0f + 0x1p-8f + 0x1p-23f), 0x3F81);  // just above the tie
  EXPECT_EQ(bf16_bits_from_f32(-(1.0f + 0x1p-8f)), 0xBF80);
  EXPECT_EQ(bf16_bits_from_f32(-(1.0f + 3 * 0x1p-8f)), 0xBF82);
}

TEST(Bf16, NanStaysNanWithSign) {
  EXPECT_EQ(bf16_bits_from_f32(f32_from_bits(0x7FC00000u)), 0x7FC0);
  EXPECT_EQ(bf16_bits_from_f32(f32_from_bits(0xFFC00000u)), 0xFFC0);
  // A signalling NaN whose payload lives only in the low 16 bits would truncate to inf; it
  // must stay a NaN.
  const std::uint16_t s = bf16_bits_from_f32(f32_from_bits(0x7F800001u));
  EXPECT_TRUE(std::isnan(f32_from_bf16_bits(s)));
  EXPECT_EQ(s & 0x8000, 0);
  EXPECT_TRUE(std::isnan(f32_from_bf16_bits(bf16_bits_from_f32(f32_from_bits(0xFF8000FFu)))));
  EXPECT_TRUE(std::isnan(round_bf16(std::nanf(""))));
  EXPECT_TRUE(std::isnan(f32_from_bf16_bits(bf16_bits_from_f64(std::nan("")))));
}

TEST(Bf16, InfinityAndOverflow) {
  EXPECT_EQ(bf16_bits_from_f32(INFINITY), 0x7F80);
  EXPECT_EQ(bf16_bits_from_f32(-INFINITY), 0xFF80);
  // Largest finite bf16 is 0x7F7F; halfway to 2^128 rounds to even, i.e. to inf.
  EXPECT_EQ(bf16_bits_from_f32(f32_from_bits(0x7F7F7FFFu)), 0x7F7F);
  EXPECT_EQ(bf16_bits_from_f32(f32_from_bits(0x7F7F8000u)), 0x7F80);
  EXPECT_EQ(bf16_bits_from_f32(f32_from_bits(0x7F7FFFFFu)), 0x7F80);  // FLT_MAX overflows
  EXPECT_EQ(bf16_bits_from_f64(1e39), 0x7F80);
  EXPECT_EQ(bf16_bits_from_f64(-1e300), 0xFF80);
  EXPECT_EQ(bf16_bits_from_f64(bf16_value(0x7F7F)), 0x7F7F);
  // Just below the overflow midpoint stays finite, although its nearest f32 is the midpoint.
  EXPECT_EQ(bf16_bits_from_f64(bf16_value(0x7F7F) + std::ldexp(1.0, 119) - std::ldexp(1.0, 90)), 0x7F7F);
  EXPECT_EQ(bf16_bits_from_f64(bf16_value(0x7F7F) + std::ldexp(1.0, 119)), 0x7F80);
}

TEST(Bf16, Subnormals) {
  EXPECT_EQ(bf16_bits_from_f32(f32_from_bits(0x00010000u)), 0x0001);  // smallest bf16 subnormal
  EXPECT_EQ(bf16_bits_from_f32(f32_from_bits(0x00008000u)), 0x0000);  // tie with 0: even
  EXPECT_EQ(bf16_bits_from_f32(f32_from_bits(0x00008001u)), 0x0001);
  EXPECT_EQ(bf16_bits_from_f32(f32_from_bits(0x00018000u)), 0x0002);  // tie 1 | 2: even
  EXPECT_EQ(bf16_bits_from_f32(f32_from_bits(0x807F8000u)), 0x8080);  // rounds up into the normals
  EXPECT_EQ(bf16_bits_from_f64(std::ldexp(1.0, -133)), 0x0001);
  EXPECT_EQ(bf16_bits_from_f64(std::ldexp(1.0, -134)), 0x0000);      // exactly half: even
  EXPECT_EQ(bf16_bits_from_f64(std::ldexp(1.0, -134) * 1.0000001), 0x0001);
  EXPECT_EQ(bf16_bits_from_f64(std::ldexp(1.0, -300)), 0x0000);
  EXPECT_EQ(bf16_bits_from_f64(-std::ldexp(1.0, -300)), 0x8000);
}

TEST(Bf16, EveryBf16ValueRoundTrips) {
  for (std::uint32_t b = 0; b < 0x10000; ++b) {
    const std::uint16_t bits = static_cast<std::uint16_t>(b);
    if ((bits & 0x7F80) == 0x7F80 && (bits & 0x7F)) continue;  // NaN: checked above
    ASSERT_EQ(bf16_bits_from_f32(f32_from_bf16_bits(bits)), bits);
    ASSERT_EQ(bf16_bits_from_f64(bf16_value(bits)), bits);
  }
}

TEST(Bf16, F32ConversionMatchesReference) {
  // ~1M f32 patterns spread over the whole space plus the neighbourhood of every tie.
  for (std::uint64_t u = 0; u < 0x100000000ull; u += 4099) {
    const float f = f32_from_bits(static_cast<std::uint32_t>(u));
    if (std::isnan(f)) continue;
    ASSERT_EQ(bf16_bits_from_f32(f), reference_bf16_bits(f)) << std::hex << u;
  }
  for (std::uint32_t hi = 0; hi < 0x10000; hi += 7) {
    for (std::uint32_t low : {0x7FFFu, 0x8000u, 0x8001u, 0xFFFFu}) {
      const float f = f32_from_bits((hi << 16) | low);
      if (std::isnan(f)) continue;
      ASSERT_EQ(bf16_bits_from_f32(f), reference_bf16_bits(f)) << std::hex << hi << low;
    }
  }
}

TEST(Bf16, F64ConversionRoundsOnce) {
  // Cases where double -> float -> bf16 rounds twice and lands on the wrong neighbour: the f32
  // step turns "just above / below a tie" into an exact tie.
  EXPECT_EQ(bf16_bits_from_f64(1.0 + 0x1p-8 + 0x1p-30), 0x3F81);
  EXPECT_EQ(bf16_bits_from_f32(static_cast<float>(1.0 + 0x1p-8 + 0x1p-30)), 0x3F80);  // the trap
  EXPECT_EQ(bf16_bits_from_f64(1.0 + 3 * 0x1p-8 - 0x1p-30), 0x3F81);
  EXPECT_EQ(bf16_bits_from_f64(-(1.0 + 0x1p-8 + 0x1p-40)), 0xBF81);
  EXPECT_EQ(bf16_bits_from_f64(1.0 + 0x1p-8), 0x3F80);  // an exact tie still goes to even

  // Random doubles near bf16 midpoints (within 2^-20 ulp either side, or exactly on them) and
  // anywhere, across the exponent range including subnormals and overflow.
  const rng::TensorRng r = rng::tensor_rng(1, "bf16_f64");
  for (std::uint64_t i = 0; i < 300000; ++i) {
    const rng::Block blk = r.block(i);
    const auto b = static_cast<std::uint16_t>(blk.v[0] & 0x7FFF);
    if (b >= 0x7F7F) continue;
    const double lo = bf16_value(b), hi = bf16_value(static_cast<std::uint16_t>(b + 1));
    const double mid = lo + (hi - lo) / 2;
    const double nudge = (hi - lo) * std::ldexp(static_cast<double>(blk.v[1]) / 4294967296.0, -20);
    double d = 0;
    switch (blk.v[2] % 4) {
      case 0: d = mid; break;
      case 1: d = mid + nudge; break;
      case 2: d = mid - nudge; break;
      case 3: d = lo + (hi - lo) * (static_cast<double>(blk.v[3]) / 4294967296.0); break;
    }
    if (blk.v[3] & 1) d = -d;
    ASSERT_EQ(bf16_bits_from_f64(d), reference_bf16_bits(d)) << d;
  }
}

TEST(Tf32, RoundsToTenMantissaBitsNearestEven) {
  EXPECT_EQ(round_tf32(1.0f + 0x1p-11f), 1.0f);                 // tie: even
  EXPECT_EQ(round_tf32(1.0f + 3 * 0x1p-11f), 1.0f + 0x1p-9f);   // tie: even (up)
  EXPECT_EQ(round_tf32(1.0f + 0x1p-11f + 0x1p-23f), 1.0f + 0x1p-10f);
  EXPECT_EQ(round_tf32(-1.5f), -1.5f);
  EXPECT_TRUE(std::isinf(round_tf32(INFINITY)));
  EXPECT_TRUE(std::isnan(round_tf32(std::nanf(""))));
}

}  // namespace
}  // namespace mhc
