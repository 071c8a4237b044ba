// core/semantics: presets as MATH.md names them, M per residual map, the flat field form and
// validate()'s errors.
#include "core/semantics.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "core/error.hpp"

namespace mhc {
namespace {

std::string invalid_message(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid_input);
    return e.what();
  }
  ADD_FAILURE() << "no mhc::Error thrown";
  return {};
}

TEST(Presets, NamesAndDefiningChoices) {
  EXPECT_EQ(preset_names(), (std::vector<std::string>{"deepseek", "mhc_ops", "lite", "paper"}));
  const Semantics ds = preset("deepseek");
  EXPECT_EQ(ds.resmap, ResMap::sinkhorn);
  EXPECT_EQ(ds.repeats, 20);
  EXPECT_EQ(ds.post_mult, 2.0);
  EXPECT_EQ(ds.orientation, Orientation::transposed);
  EXPECT_EQ(ds, Semantics{});  // the default semantics are DeepSeek's
  EXPECT_EQ(preset("mhc_ops").resmap, ResMap::identity);
  EXPECT_TRUE(preset("mhc_ops").use_gamma);
  EXPECT_EQ(preset("lite").resmap, ResMap::permutations);
  EXPECT_EQ(preset("lite").orientation, Orientation::plain);
  EXPECT_EQ(preset("paper").resmap, ResMap::sinkhorn_exp);
  EXPECT_EQ(preset("paper").eps_rms, 0.0);
  EXPECT_NE(invalid_message([] { preset("DeepSeek"); }).find("deepseek"), std::string::npos);
}

TEST(MixCount, PerResidualMap) {
  EXPECT_EQ(mix_count(ResMap::sinkhorn, 4), 24);  // 2n + n^2
  EXPECT_EQ(mix_count(ResMap::identity, 1), 3);
  EXPECT_EQ(mix_count(ResMap::sinkhorn, 8), 80);
  EXPECT_EQ(mix_count(ResMap::permutations, 3), 12);  // 2n + n!
  EXPECT_EQ(mix_count(ResMap::permutations, 4), 32);
  EXPECT_EQ(mix_count(ResMap::permutations, 1), 3);
  invalid_message([] { mix_count(ResMap::sinkhorn, 0); });
  invalid_message([] { mix_count(ResMap::permutations, 9); });
}

TEST(Fields, RoundTripEveryPresetAndOddValues) {
  for (const std::string& name : preset_names()) {
    const Semantics s = preset(name);
    EXPECT_EQ(from_fields(to_fields(s)), s) << name;
  }
  Semantics odd = preset("paper");
  odd.eps_rms = 0.1 + 0.2;  // not a short decimal: %.17g must keep every bit
  odd.post_mult = 1.0 / 3.0;
  odd.repeats = 3;
  odd.merged_residual = true;
  odd.sinkhorn_grad = SinkhornGrad::implicit;
  odd.use_gamma = true;
  EXPECT_EQ(from_fields(to_fields(odd), preset("deepseek")), odd);
}

TEST(Fields, OverridesOnlyGivenKeysAndIgnoresUnknown) {
  const Semantics s = from_fields({{"repeats", "7"}, {"op", "pre"}, {"preset", "lite"}}, preset("paper"));
  Semantics expected = preset("paper");
  expected.repeats = 7;
  EXPECT_EQ(s, expected);
}

TEST(Fields, MalformedValuesNameTheKey) {
  EXPECT_NE(invalid_message([] { from_fields({{"repeats", "seven"}}); }).find("repeats"), std::string::npos);
  EXPECT_NE(invalid_message([] { from_fields({{"eps_rms", "1e-6x"}}); }).find("eps_rms"), std::string::npos);
  EXPECT_NE(invalid_message([] { from_fields({{"use_gamma", "yes"}}); }).find("use_gamma"), std::string::npos);
  EXPECT_NE(invalid_message([] { from_fields({{"resmap", "sinkhorn_exp"}}); }).find("resmap"), std::string::npos);
  EXPECT_NE(invalid_message([] { from_fields({{"sinkhorn_grad", "cg"}}); }).find("sinkhorn_grad"), std::string::npos);
}

TEST(Validate, AcceptsRealShapes) {
  validate({4097, 4, 7168}, preset("deepseek"));
  validate({0, 1, 1}, preset("paper"));  // T = 0 is a valid (empty) case
  validate({3, 5, 7}, preset("lite"));
  validate({1, 8, 1}, preset("mhc_ops"));
}

TEST(Validate, RejectsWithTheFieldName) {
  EXPECT_NE(invalid_message([] { validate({-1, 4, 8}, preset("deepseek")); }).find("T"), std::string::npos);
  EXPECT_NE(invalid_message([] { validate({1, 0, 8}, preset("deepseek")); }).find("n"), std::string::npos);
  EXPECT_NE(invalid_message([] { validate({1, 4, 0}, preset("deepseek")); }).find("C"), std::string::npos);
  EXPECT_NE(invalid_message([] { validate({1, 6, 8}, preset("lite")); }).find("permutation"), std::string::npos);
  Semantics s = preset("deepseek");
  s.repeats = 0;
  EXPECT_NE(invalid_message([&] { validate({1, 4, 8}, s); }).find("repeats"), std::string::npos);
  s = preset("deepseek");
  s.eps_sk = -1e-6;
  EXPECT_NE(invalid_message([&] { validate({1, 4, 8}, s); }).find("eps"), std::string::npos);
  s = preset("deepseek");
  s.post_mult = 0;
  EXPECT_NE(invalid_message([&] { validate({1, 4, 8}, s); }).find("post_mult"), std::string::npos);
}

// Found by the service audit: repeats = 10^9 reached the golden (std::bad_alloc inside an OpenMP
// region: an abort), and a NaN eps_rms made both sides NaN, so every tensor "passed".
TEST(Validate, RejectsRepeatsPastTheCapAndNonFiniteConstants) {
  Semantics s = preset("deepseek");
  s.repeats = kMaxRepeats;
  validate({1, 4, 8}, s);
  s.repeats = kMaxRepeats + 1;
  EXPECT_NE(invalid_message([&] { validate({1, 4, 8}, s); }).find("repeats"), std::string::npos);
  s = preset("mhc_ops");  // identity map: R is unused, but still bounded
  s.repeats = 1'000'000'000;
  EXPECT_NE(invalid_message([&] { validate({1, 4, 8}, s); }).find("repeats"), std::string::npos);
  for (const double bad : {std::nan(""), HUGE_VAL, -HUGE_VAL}) {
    for (double Semantics::*field : {&Semantics::eps_rms, &Semantics::eps_pre, &Semantics::eps_sk, &Semantics::post_mult}) {
      s = preset("deepseek");
      s.*field = bad;
      const std::string message = invalid_message([&] { validate({1, 4, 8}, s); });
      EXPECT_TRUE(message.find("eps") != std::string::npos || message.find("post_mult") != std::string::npos) << message;
    }
  }
}

}  // namespace
}  // namespace mhc
