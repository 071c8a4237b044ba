// The tolerance model's verdicts at their boundaries. Golden values are multiples of 1/64 and
// errors powers of two, exact in f32, so "at the threshold" means exactly at it.
#include <cmath>
#include <limits>

#include <gtest/gtest.h>

#include "core/error.hpp"
#include "verify/compare.hpp"
#include "verify/tolerance.hpp"

namespace mhc::verify {
namespace {

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// golden[t, c] = 1 + ((t * cols + c) mod 32) / 64, in [1, 1.5): f32 ulp 2^-23, bf16 ulp 2^-7.
Tensor ramp(std::int64_t rows, std::int64_t cols, DType dtype = DType::f64) {
  Tensor t(dtype, {rows, cols});
  for (std::int64_t i = 0; i < t.numel(); ++i) t.set(i, 1.0 + static_cast<double>(i % 32) / 64.0);
  return t;
}

Tensor with_error(Tensor t, std::int64_t at, double delta) {
  t.set(at, t.get(at) + delta);
  return t;
}

TensorCheck judge_baseline(const Tensor& cand, const Tensor& gold, const Tensor& base, TensorRole role,
                           bool per_token = true, const Tolerance& tol = Tolerance{}) {
  return judge(JudgeInput{"dx", role, &cand, &gold, &base, 1, per_token}, tol);
}

class BaselineRule : public ::testing::Test {
 protected:
  const Tensor gold = ramp(4, 64);
  // The baseline is off by 2^-6 at element 70: its max error.
  const Tensor base = with_error(ramp(4, 64, DType::f32), 70, std::ldexp(1.0, -6));
};

TEST_F(BaselineRule, OutputsPassAtTwiceTheBaselineAndFailJustAbove) {
  const Tensor at_k2 = with_error(ramp(4, 64, DType::f32), 70, std::ldexp(1.0, -5));
  const TensorCheck pass = judge_baseline(at_k2, gold, base, TensorRole::output);
  EXPECT_EQ(pass.verdict, Verdict::pass) << pass.reason;
  EXPECT_EQ(pass.rule, "baseline k=2, floor 2 ulp");
  ASSERT_TRUE(pass.baseline.has_value());
  EXPECT_EQ(pass.baseline->max_abs, std::ldexp(1.0, -6));
  EXPECT_GT(pass.elem_tolerance, std::ldexp(1.0, -5));
  EXPECT_LT(pass.elem_tolerance, std::ldexp(1.0, -5) + 1e-5);  // k * baseline + a few f32 ulps
  EXPECT_EQ(pass.mismatches, 0);
  EXPECT_DOUBLE_EQ(pass.ref_max_abs, 1.0 + 31.0 / 64);

  const Tensor above = with_error(ramp(4, 64, DType::f32), 70, std::ldexp(1.0, -5) + std::ldexp(1.0, -10));
  const TensorCheck fail = judge_baseline(above, gold, base, TensorRole::output);
  EXPECT_EQ(fail.verdict, Verdict::fail);
  EXPECT_EQ(fail.mismatches, 1);
  EXPECT_DOUBLE_EQ(fail.mismatch_fraction, 1.0 / 256);
  // The reason names the error, where it is, k and the baseline's error.
  EXPECT_TRUE(contains(fail.reason, "max |err| 3.223e-02 at [t=1, i=6]")) << fail.reason;
  EXPECT_TRUE(contains(fail.reason, "> 2 x baseline 1.562e-02")) << fail.reason;
}

TEST_F(BaselineRule, GradientsGetThreeTimesTheBaseline) {
  const Tensor above_k2 = with_error(ramp(4, 64, DType::f32), 70, std::ldexp(1.0, -5) + std::ldexp(1.0, -10));
  const TensorCheck grad = judge_baseline(above_k2, gold, base, TensorRole::gradient);
  EXPECT_EQ(grad.verdict, Verdict::pass) << grad.reason;
  EXPECT_EQ(grad.rule, "baseline k=3, floor 2 ulp");

  const Tensor above_k3 = with_error(ramp(4, 64, DType::f32), 70, 3 * std::ldexp(1.0, -6) + std::ldexp(1.0, -10));
  EXPECT_EQ(judge_baseline(above_k3, gold, base, TensorRole::gradient).verdict, Verdict::fail);
}

// A token-reduced gradient (not per token) of a case with T tokens has at most T independent
// error draws whatever its size: k grows like sqrt(32 / T) below 32 tokens.
TEST_F(BaselineRule, TokenReducedGradientsOfFewTokensGetTheSmallSampleK) {
  const Tensor five_times = with_error(ramp(4, 64, DType::f32), 70, 5 * std::ldexp(1.0, -6));
  auto run = [&](std::int64_t tokens) {
    return judge(JudgeInput{"dphi", TensorRole::gradient, &five_times, &gold, &base, 1, false, tokens}, Tolerance{});
  };
  EXPECT_EQ(run(0).verdict, Verdict::fail);   // T unknown: 256 elements, k = 3
  EXPECT_EQ(run(64).verdict, Verdict::fail);  // 64 tokens: k = 3
  const TensorCheck two = run(2);             // 2 tokens: k = 3 sqrt(16) = 12
  EXPECT_EQ(two.verdict, Verdict::pass) << two.reason;
  EXPECT_EQ(two.rule, "baseline k=12, floor 2 ulp");
  // A per-token tensor keeps its element count, whatever T is.
  EXPECT_EQ(judge(JudgeInput{"dx", TensorRole::gradient, &five_times, &gold, &base, 1, true, 2}, Tolerance{}).verdict,
            Verdict::fail);
}

TEST(BaselineFloor, ExactBaselineStillAllowsAFewUlps) {
  const Tensor gold = ramp(2, 64);
  const Tensor exact = ramp(2, 64, DType::f32);
  // f32: floor = 2 * floor_ulps * ulp(f32, max|golden|) * sqrt(L) = 4 ulps at L = 1.
  const double u32 = std::ldexp(1.0, -23);
  EXPECT_EQ(judge_baseline(with_error(exact, 5, 4 * u32), gold, exact, TensorRole::output).verdict, Verdict::pass);
  EXPECT_EQ(judge_baseline(with_error(exact, 5, 5 * u32), gold, exact, TensorRole::output).verdict, Verdict::fail);

  // bf16: floor = floor_ulps bf16 ulps at max|golden| = 2 * 2^-7.
  const Tensor exact16 = ramp(2, 64, DType::bf16);
  const double u16 = std::ldexp(1.0, -7);
  const TensorCheck two = judge_baseline(with_error(exact16, 5, 2 * u16), gold, exact16, TensorRole::output);
  EXPECT_EQ(two.verdict, Verdict::pass) << two.reason;
  const TensorCheck three = judge_baseline(with_error(exact16, 5, 3 * u16), gold, exact16, TensorRole::output);
  EXPECT_EQ(three.verdict, Verdict::fail);
  EXPECT_TRUE(contains(three.reason, "floor 1.562e-02")) << three.reason;
}

TEST(BaselineFloor, F32FloorGrowsWithSqrtOfTheReductionLength) {
  const Tensor gold = ramp(2, 64);
  const Tensor exact = ramp(2, 64, DType::f32);
  const Tensor off = with_error(exact, 5, 8 * std::ldexp(1.0, -23));
  EXPECT_EQ(judge(JudgeInput{"dx", TensorRole::output, &off, &gold, &exact, 1, true}, Tolerance{}).verdict,
            Verdict::fail);
  EXPECT_EQ(judge(JudgeInput{"dx", TensorRole::output, &off, &gold, &exact, 4, true}, Tolerance{}).verdict,
            Verdict::pass);
}

// A zeroed row of small values hides under the element rule (its error is below the baseline's
// largest error elsewhere) but its relative L2 is 1.
class RowRule : public ::testing::Test {
 protected:
  RowRule() : gold(DType::f64, {16, 32}), base(DType::f32, {16, 32}), cand(DType::f32, {16, 32}) {
    for (std::int64_t i = 0; i < gold.numel(); ++i) {
      const bool small_row = i / 32 == 9;
      const double g = (small_row ? 1.0 / 1024 : 1.0) * (1.0 + static_cast<double>(i % 32) / 64.0);
      gold.set(i, g);
      base.set(i, g * (1.0 + std::ldexp(1.0, -8)));  // 2^-8 relative everywhere
      cand.set(i, small_row ? 0.0 : g);
    }
  }
  Tensor gold, base, cand;
};

TEST_F(RowRule, CatchesOneZeroedRowTheElementRuleMisses) {
  const TensorCheck c = judge_baseline(cand, gold, base, TensorRole::output);
  EXPECT_EQ(c.verdict, Verdict::fail);
  EXPECT_LE(c.candidate.max_abs, c.elem_tolerance);  // the element rule alone would pass
  EXPECT_EQ(c.mismatches, 0);
  EXPECT_EQ(c.candidate.worst_row, 9);
  EXPECT_NEAR(c.candidate.worst_row_rel_l2, 1.0, 1e-3);
  EXPECT_TRUE(contains(c.reason, "row 9 relative L2 9.999e-01 > 2 x baseline worst row 3.906e-03")) << c.reason;
}

TEST_F(RowRule, SkippedForTensorsWithoutATokenAxis) {
  const TensorCheck c = judge_baseline(cand, gold, base, TensorRole::gradient, /*per_token=*/false);
  EXPECT_EQ(c.verdict, Verdict::pass) << c.reason;
  EXPECT_EQ(c.row_tolerance, 0);
}

TEST(FixedRule, AtolPlusRtolScaledBySqrtOfLOver1024) {
  const Tolerance tol = tolerance_profile("mhc_public_2.5e-2");
  Tensor gold(DType::f64, {2, 8}), cand(DType::f32, {2, 8});
  for (std::int64_t i = 0; i < gold.numel(); ++i) {
    gold.set(i, 1.0);
    cand.set(i, 1.0);
  }
  cand.set(3, 1.0625);  // |err| = 0.0625 > 0.025 + 0.025 * 1
  auto run = [&](std::int64_t L) { return judge(JudgeInput{"dphi", TensorRole::gradient, &cand, &gold, nullptr, L, false}, tol); };

  const TensorCheck short_sum = run(1024);
  EXPECT_EQ(short_sum.verdict, Verdict::fail);
  EXPECT_EQ(short_sum.rule, "fixed atol=0.025 rtol=0.025");
  EXPECT_EQ(short_sum.mismatches, 1);
  EXPECT_TRUE(contains(short_sum.reason, "1 of 16 elements exceed atol+rtol*|golden|; max |err| 6.250e-02 at [m=0, k=3]"))
      << short_sum.reason;
  EXPECT_FALSE(short_sum.baseline.has_value());

  // L = 4096: atol doubles to 0.05, tolerance 0.075 > 0.0625.
  const TensorCheck long_sum = run(4096);
  EXPECT_EQ(long_sum.verdict, Verdict::pass) << long_sum.reason;
  EXPECT_EQ(long_sum.rule, "fixed atol=0.025 rtol=0.025 x2.00 (L=4096)");
  EXPECT_DOUBLE_EQ(long_sum.elem_tolerance, 0.05 + 0.025);
}

TEST(Overrides, PerTensorFixedRuleInsideTheBaselineProfile) {
  Tolerance tol;  // baseline
  tol.overrides["dx"] = FixedTolerance{0.5, 0};
  const Tensor gold = ramp(2, 64);
  const Tensor exact = ramp(2, 64, DType::f32);
  const Tensor off = with_error(exact, 3, 0.25);
  const TensorCheck dx = judge(JudgeInput{"dx", TensorRole::gradient, &off, &gold, nullptr, 1, true}, tol);
  EXPECT_EQ(dx.verdict, Verdict::pass) << dx.reason;
  EXPECT_EQ(dx.rule, "fixed atol=0.5 rtol=0");
  // Other tensors keep the baseline rule: the same error fails against an exact baseline.
  const TensorCheck y = judge(JudgeInput{"y", TensorRole::output, &off, &gold, &exact, 1, true}, tol);
  EXPECT_EQ(y.verdict, Verdict::fail);
  EXPECT_EQ(y.rule, "baseline k=2, floor 2 ulp");

  // An override also beats a fixed profile.
  Tolerance strict = tolerance_profile("assert_close_bf16");
  EXPECT_EQ(judge(JudgeInput{"y", TensorRole::output, &off, &gold, nullptr, 1, true}, strict).verdict, Verdict::fail);
  strict.overrides["y"] = FixedTolerance{0.3, 0};
  EXPECT_EQ(judge(JudgeInput{"y", TensorRole::output, &off, &gold, nullptr, 1, true}, strict).verdict, Verdict::pass);
}

TEST(Judge, NonFiniteMismatchFailsWhateverTheRule) {
  const Tensor gold = ramp(2, 64);
  Tensor cand = ramp(2, 64, DType::f32);
  cand.set(67, std::numeric_limits<double>::quiet_NaN());
  for (const char* profile : {"baseline", "mhc_public_5e-2"}) {
    const TensorCheck c = judge(JudgeInput{"dx", TensorRole::gradient, &cand, &gold, &gold, 1, true},
                                tolerance_profile(profile));
    EXPECT_EQ(c.verdict, Verdict::fail) << profile;
    EXPECT_EQ(c.candidate.nonfinite_mismatches, 1);
    EXPECT_TRUE(contains(c.reason, "candidate produced NaN at [t=1, i=3] where the golden is finite")) << c.reason;
  }
}

TEST(Judge, MissingTensorsAreInternalErrors) {
  const Tensor gold = ramp(2, 4);
  try {
    judge(JudgeInput{"dx", TensorRole::output, &gold, &gold, nullptr, 1, true}, Tolerance{});
    FAIL() << "the baseline rule without a baseline must throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::internal);
    EXPECT_TRUE(contains(e.what(), "dx")) << e.what();
  }
  EXPECT_THROW(judge(JudgeInput{"dx", TensorRole::output, nullptr, &gold, &gold, 1, true}, Tolerance{}), Error);
}

TEST(Judge, AShapeMismatchNamesTheTensorAndATranspose) {
  // The error is the case's (the report's tensor column is empty), so the message names the tensor.
  const Tensor gold = ramp(3, 4);
  const auto message = [&](const Tensor& cand) {
    try {
      judge(JudgeInput{"dphi", TensorRole::gradient, &cand, &gold, &gold, 1, false}, Tolerance{});
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::invalid_input);
      return std::string(e.what());
    }
    ADD_FAILURE() << "a shape mismatch must throw";
    return std::string();
  };
  const std::string short_row = message(ramp(3, 3, DType::f32));
  EXPECT_TRUE(contains(short_row, "dphi: shape mismatch: candidate f32[3,3] vs golden f64[3,4]")) << short_row;
  EXPECT_FALSE(contains(short_row, "swapped")) << short_row;
  const std::string transposed = message(ramp(4, 3, DType::f32));
  EXPECT_TRUE(contains(transposed, "dphi: shape mismatch")) << transposed;
  EXPECT_TRUE(contains(transposed, "last two axes swapped")) << transposed;
}

TEST(ToleranceProfiles, NamesAndValues) {
  EXPECT_EQ(tolerance_profile_names(),
            (std::vector<std::string>{"baseline", "assert_close_bf16", "mhc_public_2.5e-2", "mhc_public_5e-2"}));
  for (const auto& name : tolerance_profile_names()) EXPECT_EQ(tolerance_profile(name).profile, name);

  const Tolerance b = tolerance_profile("baseline");
  EXPECT_FALSE(b.fixed.has_value());
  EXPECT_EQ(b.k_output, 2.0);
  EXPECT_EQ(b.k_gradient, 3.0);
  EXPECT_EQ(b.floor_ulps, 2.0);
  EXPECT_EQ(tolerance_profile("assert_close_bf16").fixed, (FixedTolerance{1e-5, 1.6e-2}));
  EXPECT_EQ(tolerance_profile("mhc_public_2.5e-2").fixed, (FixedTolerance{2.5e-2, 2.5e-2}));
  EXPECT_EQ(tolerance_profile("mhc_public_5e-2").fixed, (FixedTolerance{5e-2, 5e-2}));
}

TEST(ToleranceProfiles, UnknownNameIsAnInvalidInputNamingIt) {
  try {
    tolerance_profile("tight");
    FAIL() << "an unknown profile must throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid_input);
    EXPECT_TRUE(contains(e.what(), "\"tight\"")) << e.what();
    EXPECT_TRUE(contains(e.what(), "mhc_public_5e-2")) << e.what();
  }
}

}  // namespace
}  // namespace mhc::verify
