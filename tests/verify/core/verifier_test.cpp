// Verifier::run and Verifier::check end to end on small cases: correct backends pass, wrong
// results fail with a diagnosis, bad requests become Verdict::error with a message, never a throw.
#include <stop_token>

#include <fmt/format.h>

#include <gtest/gtest.h>

#include "core/semantics.hpp"
#include "produced.hpp"
#include "verify/op_runner.hpp"
#include "verify/verifier.hpp"

namespace mhc::verify {
namespace {

using testing::at;
using testing::produced_by;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::string failing(const CaseReport& r) {
  std::string s;
  for (const auto& t : r.tensors) {
    if (t.verdict != Verdict::pass) s += t.name + ": " + t.reason + "\n";
  }
  return s + r.error;
}

Verifier make(const std::string& backend) {
  VerifyOptions o;
  o.backend = backend;
  return Verifier(o);
}

void expect_all_pass(const CaseReport& r) {
  EXPECT_EQ(r.verdict, Verdict::pass) << r.spec.to_string() << "\n" << failing(r);
  EXPECT_EQ(r.tensors.size(), result_names(r.spec.op, r.spec.semantics).size());
  double largest = 0;
  for (const auto& t : r.tensors) {
    EXPECT_EQ(t.verdict, Verdict::pass) << t.name << ": " << t.reason;
    largest = std::max(largest, t.ref_max_abs);
  }
  EXPECT_GT(largest, 0) << "an all-zero golden would pass anything";
  EXPECT_FALSE(r.diagnosis.has_value());
}

TEST(VerifierRun, EmulatedPassesEveryPresetAndBothOps) {
  Verifier v = make("emulated");
  for (const auto& preset : preset_names()) {
    for (const char* op : {"pre", "post"}) {
      for (const char* shape : {"T=13 n=4 C=33 dist=normal", "T=5 n=3 C=64 dist=wide_logits"}) {
        const CaseSpec spec = CaseSpec::parse(fmt::format("{} {} preset={} seed=11", op, shape, preset));
        const CaseReport r = v.run(spec);
        expect_all_pass(r);
        EXPECT_EQ(r.backend, "emulated");
        EXPECT_EQ(r.device, "cpu");
        EXPECT_FALSE(r.baseline.empty());
        EXPECT_GT(r.backend_seconds, 0);
        EXPECT_LE(r.backend_seconds, r.seconds);
        EXPECT_TRUE(contains(r.reproduce, "mhc-verify decompose '" + spec.to_string() + "' --backend emulated"))
            << r.reproduce;
      }
    }
  }
}

TEST(VerifierRun, GoldenAsCandidatePasses) {
  Verifier v = make("golden");
  for (const char* line : {"pre T=9 n=4 C=40 preset=deepseek seed=2 dist=near_zero_rows",
                           "post T=9 n=2 C=17 preset=mhc_ops seed=3 dist=normal"}) {
    expect_all_pass(v.run(CaseSpec::parse(line)));
  }
}

TEST(VerifierRun, FixedProfileUsesNoBaseline) {
  VerifyOptions o;
  o.backend = "emulated";
  o.tolerance = tolerance_profile("mhc_public_2.5e-2");
  Verifier v(o);
  const CaseReport r = v.run(CaseSpec::parse("pre T=13 n=4 C=33 preset=deepseek seed=1 tol=mhc_public_2.5e-2"));
  expect_all_pass(r);
  EXPECT_EQ(r.baseline, "");
  for (const auto& t : r.tensors) EXPECT_TRUE(t.rule.starts_with("fixed atol=0.025")) << t.rule;
}

// The case line is what a reproduce command carries, so its tol= decides the profile; the
// options' per-tensor overrides still apply.
TEST(VerifierRun, CaseLineToleranceDecidesTheProfile) {
  VerifyOptions o;
  o.backend = "emulated";
  o.tolerance.overrides["dx"] = FixedTolerance{1, 1};
  Verifier v(o);
  const CaseReport r = v.run(CaseSpec::parse("pre T=13 n=4 C=33 preset=deepseek seed=1 tol=mhc_public_5e-2"));
  expect_all_pass(r);
  EXPECT_EQ(r.baseline, "");
  for (const auto& t : r.tensors) {
    EXPECT_TRUE(t.rule.starts_with(t.name == "dx" ? "fixed atol=1 " : "fixed atol=0.05")) << t.name << ": " << t.rule;
  }
}

TEST(VerifierRun, InvalidCaseIsAnErrorVerdictNamingTheProblem) {
  Verifier v = make("emulated");
  CaseSpec spec = CaseSpec::parse("pre T=4 n=4 C=8 preset=deepseek seed=1");
  spec.semantics.repeats = 0;  // Sinkhorn needs at least one iteration
  const CaseReport r = v.run(spec);
  EXPECT_EQ(r.verdict, Verdict::error);
  EXPECT_TRUE(contains(r.error, "repeats")) << r.error;
}

TEST(VerifierRun, StopRequestGivesCancelled) {
  Verifier v = make("emulated");
  std::stop_source stop;
  stop.request_stop();
  const CaseReport r = v.run(CaseSpec::parse("pre T=13 n=4 C=33 preset=deepseek seed=1"), stop.get_token());
  EXPECT_EQ(r.verdict, Verdict::error);
  EXPECT_EQ(r.error, "cancelled");
  EXPECT_TRUE(r.tensors.empty());

  const CaseReport c =
      v.check(produced_by("emulated", CaseSpec::parse("post T=3 n=4 C=8 seed=1")), stop.get_token());
  EXPECT_EQ(c.verdict, Verdict::error);
  EXPECT_EQ(c.error, "cancelled");
}

TEST(VerifierRun, InputsModifiedAndNondeterminismAreFindings) {
  const CaseSpec spec = CaseSpec::parse("pre T=8 n=4 C=48 preset=deepseek seed=1 dist=normal");
  const CaseReport written = make("mutant:dx_into_input").run(spec);
  EXPECT_EQ(written.verdict, Verdict::fail);
  ASSERT_TRUE(written.diagnosis.has_value());
  EXPECT_EQ(written.diagnosis->tag, "inputs_modified");
  EXPECT_EQ(written.diagnosis->tensor, "x");

  const CaseReport racy = make("mutant:nondeterministic_reduction").run(spec);
  EXPECT_EQ(racy.verdict, Verdict::fail);
  ASSERT_TRUE(racy.diagnosis.has_value());
  EXPECT_EQ(racy.diagnosis->tag, "nondeterminism");
  EXPECT_EQ(racy.diagnosis->tensor, "dbias");
  // Its numbers are legitimate: only the second run gives it away.
  for (const auto& t : racy.tensors) EXPECT_EQ(t.verdict, Verdict::pass) << t.name << ": " << t.reason;
}

class VerifierCheck : public ::testing::Test {
 protected:
  Verifier verifier = make("emulated");
  const CaseSpec pre = CaseSpec::parse("pre T=9 n=4 C=40 preset=deepseek seed=4 dist=normal");
  const CaseSpec post = CaseSpec::parse("post T=9 n=3 C=40 preset=deepseek seed=4 dist=normal");
};

TEST_F(VerifierCheck, TensorsFromCorrectImplementationsPass) {
  // The verifier's backend sets the baseline's precision: a TF32 implementation is checked
  // against the TF32 emulation.
  Verifier tf32 = make("emulated:tf32");
  for (const char* backend : {"golden", "emulated", "f32", "emulated:tf32"}) {
    for (const CaseSpec& spec : {pre, post}) {
      Verifier& v = backend == std::string("emulated:tf32") ? tf32 : verifier;
      const CaseReport r = v.check(produced_by(backend, spec));
      SCOPED_TRACE(std::string(backend) + " " + spec.to_string());
      expect_all_pass(r);
      EXPECT_EQ(r.backend, std::string(backend) + ".safetensors");
      EXPECT_EQ(r.spec.shape, spec.shape);
      EXPECT_TRUE(contains(r.reproduce, "mhc-verify check")) << r.reproduce;
    }
  }
}

TEST_F(VerifierCheck, DeclaredPrecisionSetsTheBaseline) {
  // The request's precision judges a lower-precision design against its own emulation, on a
  // verifier whose own baseline is f32.
  for (const char* precision : {"tf32", "bf16gemm", "bf16dx"}) {
    CheckRequest request = produced_by(std::string("emulated:") + precision, pre);
    request.precision = precision;
    const CaseReport r = verifier.check(request);
    SCOPED_TRACE(precision);
    expect_all_pass(r);
    EXPECT_TRUE(contains(r.baseline, std::string("emulated:") + precision + "+reorder")) << r.baseline;
  }
  CheckRequest f32 = produced_by("emulated", pre);
  f32.precision = "f32";
  expect_all_pass(verifier.check(f32));
  f32.precision = "fp8";
  const CaseReport bad = verifier.check(f32);
  EXPECT_EQ(bad.verdict, Verdict::error);
  EXPECT_EQ(bad.error_kind, ErrorKind::invalid_input);
  EXPECT_TRUE(contains(bad.error, "precision \"fp8\": choose f32, tf32")) << bad.error;
}

TEST_F(VerifierCheck, APostFileCheckedAsPreNamesEveryMissingInputAndTheOtherOp) {
  CheckRequest request = produced_by("emulated", post);
  request.op = Op::pre;
  const CaseReport r = verifier.check(request);
  EXPECT_EQ(r.verdict, Verdict::error);
  EXPECT_EQ(r.error_kind, ErrorKind::invalid_input);
  EXPECT_TRUE(contains(r.error, "no input \"phi\", \"alpha\", \"bias\", \"dy\" for pre")) << r.error;
  EXPECT_TRUE(contains(r.error, "are post's")) << r.error;
}

TEST_F(VerifierCheck, UndeclaredLowerPrecisionIsDiagnosedWithTheFlagThatJudgesIt) {
  const CaseReport r = verifier.check(produced_by("emulated:bf16gemm+reorder", pre));
  ASSERT_EQ(r.verdict, Verdict::fail);
  ASSERT_TRUE(r.diagnosis.has_value());
  EXPECT_EQ(r.diagnosis->tag, "precision") << r.diagnosis->sentence;
  EXPECT_EQ(r.diagnosis->fields.at("precision"), "bf16gemm");
  EXPECT_TRUE(contains(r.diagnosis->sentence, "--precision bf16gemm")) << r.diagnosis->sentence;
}

TEST_F(VerifierCheck, PerturbedTensorFailsWithADiagnosis) {
  CheckRequest request = produced_by("emulated", post);
  Tensor& out = request.tensors.at("out");
  const std::int64_t k = at(post.shape, 4, 1, 7);
  out.set(k, out.get(k) + 0.5);
  const CaseReport r = verifier.check(request);
  EXPECT_EQ(r.verdict, Verdict::fail);
  ASSERT_EQ(r.tensors.front().name, "out");
  EXPECT_EQ(r.tensors.front().verdict, Verdict::fail);
  EXPECT_EQ(r.tensors.front().candidate.max_at, (std::vector<std::int64_t>{4, 1, 7}));
  ASSERT_TRUE(r.diagnosis.has_value());
  EXPECT_EQ(r.diagnosis->tensor, "out");
  EXPECT_FALSE(r.diagnosis->sentence.empty());
  EXPECT_EQ(r.diagnosis->fields.at("failing_tensors"), "out");
}

TEST_F(VerifierCheck, MissingResultIsAnErrorNamingIt) {
  CheckRequest request = produced_by("emulated", pre);
  request.tensors.erase("dalpha");
  request.tensors.erase("dx");
  const CaseReport r = verifier.check(request);
  EXPECT_EQ(r.verdict, Verdict::error);
  EXPECT_TRUE(contains(r.error, "\"dalpha\"")) << r.error;
  EXPECT_TRUE(contains(r.error, "\"dx\"")) << r.error;  // every missing one, not the first

  CheckRequest no_input = produced_by("emulated", pre);
  no_input.tensors.erase("phi");
  const CaseReport e = verifier.check(no_input);
  EXPECT_EQ(e.verdict, Verdict::error);
  EXPECT_TRUE(contains(e.error, "phi")) << e.error;
}

}  // namespace
}  // namespace mhc::verify
