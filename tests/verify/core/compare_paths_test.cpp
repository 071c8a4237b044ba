// The fast paths of verify/compare (vector loops of compare_rows, fused mismatch count, parallel
// byte comparison) against the plain definitions, at sizes that take them: every statistic but the
// two sums equal bit for bit, the sums within rounding, and the same bits for any thread count.
#include <omp.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include <gtest/gtest.h>

#include "kernels/backend.hpp"
#include "verify/casegen.hpp"
#include "verify/compare.hpp"
#include "verify/op_runner.hpp"

namespace mhc::verify {
namespace {

// golden ~ N(0, 1) in f64 with exact zeros and subnormals sprinkled in (the max_rel exclusion and
// the ulp clamp); candidate = golden rounded to `dtype` plus noise of a few ulps.
struct Pair {
  Tensor golden, candidate;
};

Pair make_pair(DType dtype, std::vector<std::int64_t> shape, unsigned seed) {
  Pair p{Tensor(DType::f64, shape), Tensor(dtype, shape)};
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  for (std::int64_t i = 0; i < p.golden.numel(); ++i) {
    double g = normal(rng);
    if (i % 97 == 5) g = 0;
    if (i % 89 == 7) g = 1e-310 * normal(rng);
    p.golden.data<double>()[i] = g;
    p.candidate.set(i, g * (1 + 0.01 * normal(rng)));
  }
  return p;
}

void expect_same_but_sums(const ErrorStats& a, const ErrorStats& b) {
  EXPECT_EQ(a.max_abs, b.max_abs);
  EXPECT_EQ(a.max_at, b.max_at);
  EXPECT_EQ(a.max_rel, b.max_rel);
  EXPECT_EQ(a.max_ulps, b.max_ulps);
  EXPECT_EQ(a.nonfinite_mismatches, b.nonfinite_mismatches);
  EXPECT_EQ(a.first_nonfinite_at, b.first_nonfinite_at);
  EXPECT_EQ(a.worst_row, b.worst_row);
  EXPECT_NEAR(a.rel_l2, b.rel_l2, 1e-13 * b.rel_l2);
  EXPECT_NEAR(a.worst_row_rel_l2, b.worst_row_rel_l2, 1e-13 * b.worst_row_rel_l2);
}

void expect_bitwise_same(const ErrorStats& a, const ErrorStats& b) {
  expect_same_but_sums(a, b);
  EXPECT_EQ(a.rel_l2, b.rel_l2);
  EXPECT_EQ(a.worst_row_rel_l2, b.worst_row_rel_l2);
}

TEST(ComparePaths, VectorRowsMatchTheScalarLoop) {
  // Row length 123 = 30 vector steps and a tail of 3. A candidate widened to f64 takes the
  // scalar loop with the same values and the same ulp dtype.
  for (DType dtype : {DType::bf16, DType::f32}) {
    const Pair p = make_pair(dtype, {67, 3, 41}, 1);
    expect_same_but_sums(error_stats(p.candidate, p.golden, dtype), error_stats(p.candidate.to(DType::f64), p.golden, dtype));
  }
}

TEST(ComparePaths, NonFiniteRowFallsBackAndIsLocated) {
  Pair p = make_pair(DType::bf16, {300, 1000}, 2);
  p.candidate.set(123456, std::numeric_limits<double>::quiet_NaN());
  p.golden.data<double>()[200001] = std::numeric_limits<double>::infinity();
  const ErrorStats fast = error_stats(p.candidate, p.golden, DType::bf16);
  EXPECT_EQ(fast.nonfinite_mismatches, 2);
  EXPECT_EQ(fast.first_nonfinite_at, (std::vector<std::int64_t>{123, 456}));
  expect_same_but_sums(fast, error_stats(p.candidate.to(DType::f64), p.golden, DType::bf16));
}

TEST(ComparePaths, SameBitsForAnyThreadCount) {
  const Pair p = make_pair(DType::bf16, {512, 4, 256}, 3);
  const Tensor other = make_pair(DType::f32, {512, 4, 256}, 4).candidate;
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  const ErrorStats one = error_stats(p.candidate, p.golden, DType::bf16);
  const auto maxima_one = max_abs_errors(p.candidate, other, p.golden);
  omp_set_num_threads(std::max(2, saved));
  const ErrorStats many = error_stats(p.candidate, p.golden, DType::bf16);
  const auto maxima_many = max_abs_errors(p.candidate, other, p.golden);
  omp_set_num_threads(saved);
  expect_bitwise_same(one, many);
  EXPECT_EQ(maxima_one.a, maxima_many.a);
  EXPECT_EQ(maxima_one.b, maxima_many.b);
  EXPECT_EQ(maxima_one.golden, maxima_many.golden);
}

TEST(ComparePaths, BaselineMaximaOnTheVectorPath) {
  for (DType a : {DType::bf16, DType::f32}) {
    for (DType b : {DType::bf16, DType::f32}) {
      Pair p = make_pair(a, {70001}, 5);  // over one parallel chunk, with a tail
      Tensor other = make_pair(b, {70001}, 6).candidate;
      p.candidate.set(17, std::numeric_limits<double>::infinity());  // a non-finite pair is left out
      p.golden.data<double>()[70000] = -1e300;  // the largest |golden|, in the tail
      const auto [ea, eb, eg] = max_abs_errors(p.candidate, other, p.golden);
      EXPECT_EQ(ea, error_stats(p.candidate, p.golden, a).max_abs);
      EXPECT_EQ(eb, error_stats(other, p.golden, b).max_abs);
      EXPECT_EQ(eg, 1e300);
    }
  }
}

TEST(ComparePaths, JudgeCountsMismatchesInTheStatisticsPass) {
  const Pair p = make_pair(DType::bf16, {256, 512}, 7);
  const double threshold = 0.01;
  std::int64_t expected = 0;
  for (std::int64_t i = 0; i < p.golden.numel(); ++i) {
    expected += std::fabs(p.candidate.get(i) - p.golden.get(i)) > threshold + 0.02 * std::fabs(p.golden.get(i));
  }
  Tolerance fixed;
  fixed.fixed = FixedTolerance{threshold, 0.02};
  const TensorCheck c = judge({"y", TensorRole::output, &p.candidate, &p.golden, nullptr, 1, true}, fixed);
  EXPECT_GT(expected, 0);
  EXPECT_EQ(c.mismatches, expected);
}

TEST(ComparePaths, JudgeTakesTheGoldenMaximumFromTheCaller) {
  const Pair p = make_pair(DType::bf16, {64, 300}, 8);
  const Tensor base = make_pair(DType::bf16, {64, 300}, 9).candidate;
  const JudgeInput in{"y", TensorRole::output, &p.candidate, &p.golden, &base, 1, true};
  const TensorCheck computed = judge(in, Tolerance{});
  const Tensor other = make_pair(DType::f32, {64, 300}, 10).candidate;
  const TensorCheck given = judge(in, Tolerance{}, max_abs_errors(base, other, p.golden).golden);
  EXPECT_EQ(given.ref_max_abs, computed.ref_max_abs);
  EXPECT_EQ(given.elem_tolerance, computed.elem_tolerance);
  EXPECT_EQ(given.reason, computed.reason);
}

TEST(ComparePaths, SameBytesSplitsLargeTensors) {
  Tensor a(DType::f32, {3, 1 << 19}), b(DType::f32, {3, 1 << 19});
  for (std::int64_t i = 0; i < a.numel(); ++i) a.set(i, static_cast<double>(i % 1000));
  b = a;
  EXPECT_TRUE(same_bytes(a, b));
  b.bytes()[b.nbytes() - 1] ^= std::byte{1};  // the last byte of the last chunk
  EXPECT_FALSE(same_bytes(a, b));
  EXPECT_FALSE(same_bytes(a, Tensor(DType::f32, {1 << 19, 3})));
  EXPECT_FALSE(same_bytes(a, a.to(DType::f64)));
  EXPECT_TRUE(same_bytes(Tensor{}, Tensor{}));
}

TEST(RunOpInPlace, InputWrittenByTheBackendIsNamedAndRestored) {
  const CaseSpec spec = CaseSpec::parse("pre T=8 n=4 C=48 preset=deepseek seed=1 dist=normal");
  const TensorMap pristine = case_tensors(spec);
  TensorMap working = pristine;
  const auto mutant = make_backend("mutant:dx_into_input");
  const OpRun run = run_op_in_place(*mutant, spec.op, spec.semantics, working, pristine);
  EXPECT_EQ(run.modified_input, "x");
  for (const auto& [name, t] : pristine) EXPECT_TRUE(bitwise_equal(t, working.at(name))) << name;
  // A well-behaved backend leaves them alone, and its results are those of run_op.
  const auto golden = make_backend("golden");
  const OpRun in_place = run_op_in_place(*golden, spec.op, spec.semantics, working, pristine);
  EXPECT_EQ(in_place.modified_input, "");
  const OpRun copied = run_op(*golden, spec.op, spec.semantics, pristine, false);
  for (const auto& [name, t] : copied.results) EXPECT_TRUE(bitwise_equal(t, in_place.results.at(name))) << name;
}

}  // namespace
}  // namespace mhc::verify
