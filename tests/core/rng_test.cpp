// core/rng.hpp: Philox4x32-10 against Random123's known answers, then the properties the case
// generator relies on (purity, independence of names/seeds, ranges, moments).
#include "core/rng.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

namespace mhc::rng {
namespace {

struct Kat {
  Block ctr;
  std::uint32_t key0, key1;
  Block expected;
};

// Random123 1.14, tests/kat_vectors, the three "philox4x32 10" lines (counter, key, result).
TEST(Philox, KnownAnswers) {
  const Kat kats[] = {
      {{{0x00000000, 0x00000000, 0x00000000, 0x00000000}}, 0x00000000, 0x00000000,
       {{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}}},
      {{{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}}, 0xffffffff, 0xffffffff,
       {{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}}},
      {{{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}}, 0xa4093822, 0x299f31d0,
       {{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}}},
  };
  for (const Kat& k : kats) {
    const Block out = philox4x32_10(k.ctr, k.key0, k.key1);
    for (int w = 0; w < 4; ++w) EXPECT_EQ(out.v[w], k.expected.v[w]) << "word " << w;
  }
}

TEST(Fnv1a, KnownAnswers) {
  // FNV-1a 64 reference values (Fowler/Noll/Vo test suite).
  EXPECT_EQ(name_hash(""), 0xcbf29ce484222325ull);
  EXPECT_EQ(name_hash("a"), 0xaf63dc4c8601ec8cull);
  EXPECT_EQ(name_hash("foobar"), 0x85944171f73967e8ull);
}

TEST(TensorRng, CounterLayoutIsIndexNameSeed) {
  const TensorRng r = tensor_rng(0x0123456789abcdefull, "x");
  const std::uint64_t i = 0xfedcba9876543210ull;
  const Block expected = philox4x32_10(
      Block{{0x76543210u, 0xfedcba98u, static_cast<std::uint32_t>(r.name), static_cast<std::uint32_t>(r.name >> 32)}},
      0x89abcdefu, 0x01234567u);
  const Block got = r.block(i);
  for (int w = 0; w < 4; ++w) EXPECT_EQ(got.v[w], expected.v[w]);
}

TEST(TensorRng, PureFunctionOfSeedNameIndex) {
  const TensorRng a = tensor_rng(7, "phi"), b = tensor_rng(7, "phi");
  for (std::uint64_t i : {0ull, 1ull, 1000ull, 1ull << 40}) {
    EXPECT_EQ(a.normal_icdf(i), b.normal_icdf(i));
    EXPECT_EQ(a.uniform(i), b.uniform(i));
  }
  // Order of calls does not matter.
  const double late = a.normal_icdf(12345);
  for (int i = 0; i < 100; ++i) (void)a.normal_icdf(static_cast<std::uint64_t>(i));
  EXPECT_EQ(a.normal_icdf(12345), late);
}

TEST(TensorRng, SeedsNamesAndIndicesGiveDifferentStreams) {
  std::set<double> seen;
  for (std::uint64_t seed : {0ull, 1ull, 1ull << 32}) {
    for (const char* name : {"x", "phi", "dy", "x "}) {
      for (std::uint64_t i = 0; i < 4; ++i) seen.insert(tensor_rng(seed, name).uniform(i));
    }
  }
  EXPECT_EQ(seen.size(), 3u * 4u * 4u);
}

TEST(TensorRng, UniformRanges) {
  const TensorRng r = tensor_rng(3, "u");
  double sum = 0, sum_sq = 0;
  constexpr int kN = 200000;
  for (int i = 0; i < kN; ++i) {
    const double u = r.uniform(static_cast<std::uint64_t>(i));
    const double v = r.uniform_pos(static_cast<std::uint64_t>(i));
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    ASSERT_GT(v, 0.0);
    ASSERT_LE(v, 1.0);
    EXPECT_EQ(v - u, 0x1p-53);  // same bits, shifted by one step
    sum += u;
    sum_sq += u * u;
  }
  const double mean = sum / kN, var = sum_sq / kN - mean * mean;
  EXPECT_NEAR(mean, 0.5, 4 * std::sqrt(1.0 / 12 / kN));
  EXPECT_NEAR(var, 1.0 / 12, 0.002);
}

TEST(TensorRng, SmallIntCoversRangeUniformly) {
  const TensorRng r = tensor_rng(5, "k");
  int counts[7] = {};
  constexpr int kN = 70000;
  for (int i = 0; i < kN; ++i) {
    const std::int64_t k = r.small_int(static_cast<std::uint64_t>(i), -3, 3);
    ASSERT_GE(k, -3);
    ASSERT_LE(k, 3);
    ++counts[k + 3];
  }
  for (int c : counts) EXPECT_NEAR(c, kN / 7, 400);
  EXPECT_EQ(r.small_int(0, 4, 4), 4);
}

}  // namespace
}  // namespace mhc::rng
