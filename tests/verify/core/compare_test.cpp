// error_stats, ulp, unravel and format_index on hand-made tensors whose errors are exact powers
// of two, so every expected number is exact.
#include <cmath>
#include <limits>

#include <gtest/gtest.h>

#include "core/error.hpp"
#include "verify/compare.hpp"

namespace mhc::verify {
namespace {

Tensor filled(DType dtype, std::vector<std::int64_t> shape, const std::vector<double>& values) {
  Tensor t(dtype, std::move(shape));
  for (std::int64_t i = 0; i < t.numel(); ++i) t.set(i, values.at(static_cast<std::size_t>(i)));
  return t;
}

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

TEST(Ulp, BitsOfEachDtype) {
  EXPECT_EQ(ulp(DType::bf16, 1.0), std::ldexp(1.0, -7));
  EXPECT_EQ(ulp(DType::bf16, 1.99), std::ldexp(1.0, -7));
  EXPECT_EQ(ulp(DType::bf16, -3.0), std::ldexp(1.0, -6));
  EXPECT_EQ(ulp(DType::f32, 1.0), std::ldexp(1.0, -23));
  EXPECT_EQ(ulp(DType::f32, 6.0), std::ldexp(1.0, -21));
  EXPECT_EQ(ulp(DType::f64, 1.0), std::ldexp(1.0, -52));
  // Zero and subnormal magnitudes get the smallest subnormal step, never 0 (ulps divide by it).
  EXPECT_EQ(ulp(DType::f32, 0.0), std::ldexp(1.0, -149));
  EXPECT_EQ(ulp(DType::bf16, 1e-40), std::ldexp(1.0, -133));
  EXPECT_GT(ulp(DType::bf16, kNaN), 0.0);
}

TEST(Unravel, RowMajor) {
  EXPECT_EQ(unravel(5, {2, 3}), (std::vector<std::int64_t>{1, 2}));
  EXPECT_EQ(unravel(0, {2, 3}), (std::vector<std::int64_t>{0, 0}));
  EXPECT_EQ(unravel(23, {2, 3, 4}), (std::vector<std::int64_t>{1, 2, 3}));
  EXPECT_EQ(unravel(13, {2, 3, 4}), (std::vector<std::int64_t>{1, 0, 1}));
  EXPECT_TRUE(unravel(0, {}).empty());
}

TEST(FormatIndex, AxisLettersFromTheMath) {
  EXPECT_EQ(format_index("dx", {3, 1, 17}), "[t=3, i=1, c=17]");
  EXPECT_EQ(format_index("y", {4, 9}), "[t=4, c=9]");
  EXPECT_EQ(format_index("h_post", {4, 2}), "[t=4, i=2]");
  EXPECT_EQ(format_index("dphi", {2, 5}), "[m=2, k=5]");
  EXPECT_EQ(format_index("dbias", {7}), "[m=7]");
  EXPECT_EQ(format_index("dgamma", {7}), "[k=7]");
  EXPECT_EQ(format_index("dalpha", {1}), "[block=1]");
  EXPECT_EQ(format_index("tap.h_res", {0, 1, 2}), "[t=0, i=1, j=2]");
  EXPECT_EQ(format_index("tap.m", {3, 11}), "[t=3, m=11]");
  EXPECT_EQ(format_index("x", {}), "[]");
}

TEST(ErrorStats, MaxAbsIndexRelL2WorstRowAndUlps) {
  const Tensor golden = filled(DType::f64, {2, 3}, {1, 2, 3, 4, 5, 6});
  const Tensor cand = filled(DType::f32, {2, 3}, {1, 2, 3, 4, 5, 6.5});
  const ErrorStats s = error_stats(cand, golden, DType::bf16);
  EXPECT_EQ(s.max_abs, 0.5);
  EXPECT_EQ(s.max_at, (std::vector<std::int64_t>{1, 2}));
  EXPECT_DOUBLE_EQ(s.max_rel, 0.5 / 6);
  // Relative L2 denominators carry a floor of sqrt(count) ulps at max|golden| (bf16 ulp at 6 is
  // 2^-5), so all-zero golden rows stay finite.
  EXPECT_NEAR(s.rel_l2, 0.5 / (std::sqrt(91.0) + std::sqrt(6.0) / 32), 1e-12);
  EXPECT_EQ(s.worst_row, 1);
  EXPECT_NEAR(s.worst_row_rel_l2, 0.5 / (std::sqrt(77.0) + std::sqrt(3.0) / 32), 1e-12);
  EXPECT_EQ(s.max_ulps, 16.0);  // bf16 ulp at 6 is 2^-5
  EXPECT_EQ(s.nonfinite_mismatches, 0);
  EXPECT_TRUE(s.first_nonfinite_at.empty());
  EXPECT_EQ(error_stats(cand, golden, DType::f32).max_ulps, std::ldexp(0.5, 21));
}

TEST(ErrorStats, IdenticalTensorsHaveZeroError) {
  const Tensor golden = filled(DType::f64, {2, 2}, {0.25, -1, 3, 0});
  const ErrorStats s = error_stats(golden.to(DType::f32), golden, DType::f32);
  EXPECT_EQ(s.max_abs, 0);
  EXPECT_EQ(s.rel_l2, 0);
  EXPECT_EQ(s.worst_row_rel_l2, 0);
  EXPECT_EQ(s.max_ulps, 0);
}

TEST(ErrorStats, SameNaNOrInfIsAMatch) {
  const Tensor golden = filled(DType::f64, {1, 4}, {kNaN, kInf, -kInf, 1});
  const Tensor same = filled(DType::f32, {1, 4}, {kNaN, kInf, -kInf, 1});
  const ErrorStats s = error_stats(same, golden, DType::f32);
  EXPECT_EQ(s.nonfinite_mismatches, 0);
  EXPECT_EQ(s.max_abs, 0);
}

TEST(ErrorStats, NonFinitePatternMismatchCountsAndLocates) {
  const Tensor golden = filled(DType::f64, {2, 3}, {1, 2, kInf, 4, 5, 6});
  // -inf for +inf, NaN for a finite value: two mismatches, the first at [0, 2].
  const Tensor cand = filled(DType::f32, {2, 3}, {1, 2, -kInf, 4, kNaN, 6});
  const ErrorStats s = error_stats(cand, golden, DType::f32);
  EXPECT_EQ(s.nonfinite_mismatches, 2);
  EXPECT_EQ(s.first_nonfinite_at, (std::vector<std::int64_t>{0, 2}));
  EXPECT_EQ(s.max_abs, 0);  // the finite pairs agree
}

TEST(ErrorStats, EmptyAndMismatchedShapes) {
  const ErrorStats empty = error_stats(Tensor(DType::f32, {0, 4}), Tensor(DType::f64, {0, 4}), DType::f32);
  EXPECT_EQ(empty.max_abs, 0);
  EXPECT_TRUE(empty.max_at.empty());
  try {
    error_stats(Tensor(DType::f32, {2, 3}), Tensor(DType::f64, {3, 2}), DType::f32);
    FAIL() << "a shape mismatch must throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid_input);
    EXPECT_NE(std::string(e.what()).find("shape mismatch"), std::string::npos) << e.what();
  }
}

TEST(MaxAbsErrors, EqualErrorStatsMaxAbsOverFinitePairs) {
  const Tensor golden = filled(DType::f64, {2, 3}, {1, kNaN, 3, 4, 5, 6});
  const Tensor a = filled(DType::bf16, {2, 3}, {1.5, 2, kInf, 4, 5, 6.25});
  const Tensor b = filled(DType::f32, {2, 3}, {1, 2, 3, 4, 7, kNaN});
  const auto [ea, eb, eg] = max_abs_errors(a, b, golden);
  EXPECT_EQ(ea, 0.5);
  EXPECT_EQ(eb, 2.0);
  EXPECT_EQ(eg, 6.0);  // max |golden| over finite elements
  EXPECT_EQ(ea, error_stats(a, golden, DType::bf16).max_abs);
  EXPECT_EQ(eb, error_stats(b, golden, DType::f32).max_abs);
  EXPECT_THROW(max_abs_errors(Tensor(DType::f32, {2}), Tensor(DType::f32, {2}), Tensor(DType::f64, {3})), Error);
  EXPECT_THROW(max_abs_errors(Tensor(DType::f32, {3}), Tensor(DType::f32, {2}), Tensor(DType::f64, {3})), Error);
}

TEST(ErrorStats, RankOneTensorHasNoTokenRows) {
  const Tensor golden = filled(DType::f64, {4}, {1, 2, 3, 4});
  const ErrorStats s = error_stats(filled(DType::f32, {4}, {1, 2, 3, 5}), golden, DType::f32);
  EXPECT_EQ(s.worst_row, -1);
  EXPECT_EQ(s.max_at, (std::vector<std::int64_t>{3}));
}

}  // namespace
}  // namespace mhc::verify
