// RapidCheck properties over rc::Arbitrary<CaseSpec> (verify/random_cases.hpp): correct backends
// match the golden on random cases, and a failing property shrinks to a small case. Failures print
// RapidCheck's reproduce string (RC_PARAMS="reproduce=...").
#include <iostream>
#include <optional>

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include "verify/random_cases.hpp"
#include "verify/verifier.hpp"

namespace mhc::verify {
namespace {

Verifier& verifier(const std::string& backend) {
  // One verifier per backend for the whole run: properties are called a hundred times.
  static std::map<std::string, std::unique_ptr<Verifier>> verifiers;
  auto& v = verifiers[backend];
  if (!v) {
    VerifyOptions o;
    o.backend = backend;
    v = std::make_unique<Verifier>(o);
  }
  return *v;
}

void matches_golden(const std::string& backend, const CaseSpec& spec) {
  const CaseReport r = verifier(backend).run(spec);
  RC_TAG(to_string(spec.op));
  std::string why = r.error;
  for (const auto& t : r.tensors) {
    if (t.verdict != Verdict::pass) why += t.name + ": " + t.reason + "; ";
  }
  RC_LOG() << spec.to_string() << ": " << why << "\n";
  RC_ASSERT(r.verdict == Verdict::pass);
}

RC_GTEST_PROP(RandomCases, EmulatedMatchesGolden, (const CaseSpec& spec)) { matches_golden("emulated", spec); }

RC_GTEST_PROP(RandomCases, F32MatchesGolden, (const CaseSpec& spec)) { matches_golden("f32", spec); }

// Counts accepted shrinks; a quiet listener also keeps this expected failure out of RapidCheck's
// end-of-run "properties had failures" summary.
class ShrinkCounter : public rc::detail::TestListener {
 public:
  int accepted = 0;
  void onTestCaseFinished(const rc::detail::CaseDescription&) override {}
  void onShrinkTried(const rc::detail::CaseDescription&, bool ok) override { accepted += ok; }
  void onTestFinished(const rc::detail::TestMetadata&, const rc::detail::TestResult&) override {}
};

TEST(RandomCases, FailingPropertyShrinksToASmallCase) {
  // The mutant leaves streams 1..n-1 of dx at zero: any pre case with T >= 1 and n >= 2 exposes
  // it. RapidCheck keeps the last failing case as it shrinks, so the last one seen is the result.
  VerifyOptions o;
  o.backend = "mutant:dx_grid_stream0";
  o.diagnose = false;
  Verifier v(o);
  std::optional<CaseSpec> last_failing;
  const auto property = rc::detail::toProperty([&](const CaseSpec& spec) {
    const bool pass = v.run(spec).verdict == Verdict::pass;
    if (!pass) last_failing = spec;
    RC_ASSERT(pass);
  });
  rc::detail::TestParams params;
  params.seed = 1;  // a fixed seed: the same search on every run
  ShrinkCounter shrinks;
  const rc::detail::TestResult result = rc::detail::checkProperty(property, {}, params, shrinks);
  ASSERT_TRUE(result.is<rc::detail::FailureResult>());
  ASSERT_TRUE(last_failing.has_value());
  EXPECT_GT(shrinks.accepted, 0) << "no shrinking step happened";
  const CaseSpec& s = *last_failing;
  EXPECT_EQ(s.op, Op::pre);
  EXPECT_EQ(s.shape.T, 1) << s.to_string();
  EXPECT_EQ(s.shape.n, 2) << s.to_string();
  EXPECT_EQ(s.shape.C, 1) << s.to_string();
  std::cout << "shrunk after " << shrinks.accepted << " accepted shrinks to: " << s.to_string() << "\n";
}

TEST(RandomCases, RandomCaseIsDeterministicAndValid) {
  for (std::uint64_t i = 0; i < 50; ++i) {
    const CaseSpec a = random_case(i), b = random_case(i);
    EXPECT_EQ(a, b);
    EXPECT_EQ(CaseSpec::parse(a.to_string()), a) << a.to_string();
    EXPECT_LE(a.shape.T * a.shape.n * a.shape.C, std::max<std::int64_t>(1 << 15, a.shape.n * a.shape.C));
  }
}

}  // namespace
}  // namespace mhc::verify
