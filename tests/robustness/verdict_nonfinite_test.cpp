// Verdicts on non-finite values: the verifier must say which tensor, which element (in MATH.md's
// axis names), what the candidate produced and what the golden holds there, and never pass a
// candidate whose NaN/Inf the golden does not share.
#include <limits>
#include <string>

#include <gtest/gtest.h>

#include "tests/robustness/extremes.hpp"
#include "verify/verifier.hpp"

namespace mhc::robustness {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// A CheckTensors-style request: the case's inputs plus the emulated backend's results as the
// candidate (a correct implementation in GPU precision), which `corrupt` may then edit.
verify::CheckRequest check_request(const Case& c) {
  verify::CheckRequest request;
  request.op = c.spec.op;
  request.semantics = c.spec.semantics;
  request.preset = c.spec.preset;
  request.tensors = c.tensors;
  for (auto& [name, t] : results_of("emulated", c)) request.tensors.insert_or_assign(name, std::move(t));
  request.label = "robustness";
  return request;
}

const verify::TensorCheck& tensor_check(const verify::CaseReport& report, const std::string& name) {
  for (const auto& t : report.tensors)
    if (t.name == name) return t;
  throw std::runtime_error("no check of " + name);
}

verify::CaseReport check(const verify::CheckRequest& request) {
  verify::VerifyOptions options;
  options.backend = "golden";
  options.diagnose = false;
  verify::Verifier verifier(options);
  return verifier.check(request);
}

TEST(VerdictNonfinite, CorrectCandidatePasses) {
  const auto report = check(check_request(make_case("post T=5 n=4 C=32 preset=deepseek seed=8")));
  EXPECT_EQ(report.verdict, verify::Verdict::pass) << report.error;
}

TEST(VerdictNonfinite, CandidateNaNWhereTheGoldenIsFiniteIsNamedExactly) {
  const auto c = make_case("post T=5 n=4 C=32 preset=deepseek seed=8");
  auto request = check_request(c);
  Tensor& out = request.tensors.at("out");
  out.set(flat_index(out, {3, 1, 17}), kNaN);
  const auto report = check(request);
  ASSERT_EQ(report.verdict, verify::Verdict::fail) << report.error;
  const auto& t = tensor_check(report, "out");
  EXPECT_EQ(t.verdict, verify::Verdict::fail);
  EXPECT_NE(t.reason.find("candidate produced NaN at [t=3, i=1, c=17] where the golden is finite"),
            std::string::npos) << t.reason;
  EXPECT_EQ(t.candidate.nonfinite_mismatches, 1);
  EXPECT_EQ(t.candidate.first_nonfinite_at, (std::vector<std::int64_t>{3, 1, 17}));
  // Every other tensor is untouched and still passes.
  for (const auto& other : report.tensors) {
    if (other.name == "out") continue;
    EXPECT_EQ(other.verdict, verify::Verdict::pass) << other.name << ": " << other.reason;
  }
}

TEST(VerdictNonfinite, CandidateInfInAParameterGradientIsNamedWithItsAxes) {
  const auto c = make_case("pre T=4 n=4 C=16 preset=deepseek seed=9");
  auto request = check_request(c);
  Tensor& dphi = request.tensors.at("dphi");
  dphi.set(flat_index(dphi, {2, 5}), -kInf);
  const auto report = check(request);
  const auto& t = tensor_check(report, "dphi");
  EXPECT_EQ(t.verdict, verify::Verdict::fail);
  EXPECT_NE(t.reason.find("candidate produced -inf at [m=2, k=5] where the golden is finite"), std::string::npos)
      << t.reason;
}

TEST(VerdictNonfinite, CandidateFiniteWhereTheGoldenIsNaNIsAMismatch) {
  // eps_rms = 0 and an all-zero token: inv_rms = 1/sqrt(0) = inf, so the golden's y[0] is NaN
  // (0 * inf). A candidate that quietly writes zeros there differs from the math.
  auto c = make_case("pre T=3 n=4 C=16 preset=deepseek seed=10 eps_rms=0 dtype=f32");
  Tensor& x = c.tensors.at("x");
  for (std::int64_t i = 0; i < 4 * 16; ++i) x.set(i, 0.0);  // token 0
  auto request = check_request(c);
  Tensor& y = request.tensors.at("y");
  for (std::int64_t i = 0; i < 16; ++i) y.set(i, 0.0);
  const auto report = check(request);
  ASSERT_NE(report.verdict, verify::Verdict::error) << report.error;
  const auto& t = tensor_check(report, "y");
  EXPECT_EQ(t.verdict, verify::Verdict::fail) << t.reason;
  EXPECT_NE(t.reason.find("where the golden is NaN"), std::string::npos) << t.reason;
}

TEST(VerdictNonfinite, NaNInAnInputIsAnErrorNamingTheElement) {
  // A NaN in x poisons the golden and the candidate alike; agreement on NaN is not evidence of
  // correctness, so the check must not pass: it is refused, naming the element.
  auto c = make_case("post T=5 n=4 C=32 preset=deepseek seed=11");
  Tensor& x = c.tensors.at("x");
  x.set(flat_index(x, {2, 0, 3}), kNaN);
  const auto report = check(check_request(c));
  EXPECT_EQ(report.verdict, verify::Verdict::error);
  EXPECT_NE(report.error.find("input x[t=2, i=0, c=3] is NaN"), std::string::npos) << report.error;
}

TEST(VerdictNonfinite, InfInAParameterInputIsAnErrorNamingTheElement) {
  auto c = make_case("pre T=3 n=4 C=16 preset=deepseek seed=12");
  Tensor& bias = c.tensors.at("bias");
  bias.set(7, kInf);
  const auto report = check(check_request(c));
  EXPECT_EQ(report.verdict, verify::Verdict::error);
  EXPECT_NE(report.error.find("input bias[m=7] is +inf"), std::string::npos) << report.error;
}

}  // namespace
}  // namespace mhc::robustness
