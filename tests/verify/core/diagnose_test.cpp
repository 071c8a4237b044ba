// Every diagnosis detector fires at least once: through the mutant that reproduces its bug class
// (with a candidate backend to probe), and through hand-made candidate maps on the check-file path
// (no backend, no case to regenerate: only the numbers speak).
#include <gtest/gtest.h>

#include "kernels/mutants/mutants.hpp"
#include "produced.hpp"
#include "verify/op_runner.hpp"
#include "verify/verifier.hpp"

namespace mhc::verify {
namespace {

using testing::at;
using testing::produced_by;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// ---- mutants -------------------------------------------------------------------------------------

struct MutantCase {
  std::string mutant;
  std::string line;  // a self-test case that exposes it
  std::string field;  // a structured field the diagnosis must carry ("" for none) ...
  std::string value;  // ... and its value
};

void PrintTo(const MutantCase& m, std::ostream* os) { *os << m.mutant; }

const MutantInfo& info(const std::string& name) {
  for (const auto& m : mutant_catalog()) {
    if (m.name == name) return m;
  }
  throw std::runtime_error("no mutant " + name);
}

class MutantDiagnosis : public ::testing::TestWithParam<MutantCase> {};

TEST_P(MutantDiagnosis, FailsWithTheDiagnosisOfBugsMd) {
  const MutantCase& mc = GetParam();
  const MutantInfo& expected = info(mc.mutant);
  VerifyOptions o;
  o.backend = "mutant:" + mc.mutant;
  Verifier v(o);
  const CaseReport r = v.run(CaseSpec::parse(mc.line));
  ASSERT_EQ(r.verdict, Verdict::fail) << r.error;
  ASSERT_TRUE(r.diagnosis.has_value());
  const Diagnosis& d = *r.diagnosis;
  EXPECT_EQ(d.tag, expected.diagnosis) << d.sentence;
  // The blamed tensor is the expected one, or the expected one is among the failing tensors
  // (a forward bug blames the first failing output, e.g. h_post before dx).
  EXPECT_TRUE(d.tensor == expected.tensor || contains("," + d.fields.at("failing_tensors") + ",", "," + expected.tensor + ","))
      << "blamed " << d.tensor << ", failing " << d.fields.at("failing_tensors") << ", expected " << expected.tensor;
  if (!expected.component.empty()) {
    EXPECT_EQ(d.component, expected.component);
  }
  EXPECT_FALSE(d.sentence.empty());
  if (!mc.field.empty()) {
    ASSERT_TRUE(d.fields.count(mc.field)) << mc.field << " missing; " << d.sentence;
    EXPECT_EQ(d.fields.at(mc.field), mc.value) << d.sentence;
  }
  // A failing pre case carries its decomposition table (taps and gradient parts).
  if (r.spec.op == Op::pre) {
    EXPECT_FALSE(r.decomposition.empty());
  }
}

const std::string kPre = "pre T=8 n=4 C=48 preset=deepseek seed=1 dist=normal";
const std::string kPost = "post T=8 n=4 C=48 preset=deepseek seed=1 dist=normal";
const std::string kNearZero = "pre T=8 n=4 C=40 preset=deepseek seed=4 dist=near_zero_rows";
// Sinkhorn far from converged: a dropped or differentiated-implicitly iteration shows in h_res.
const std::string kWideLogits = "pre T=8 n=4 C=40 preset=deepseek seed=3 dist=wide_logits repeats=3";

INSTANTIATE_TEST_SUITE_P(
    Detectors, MutantDiagnosis,
    ::testing::Values(
        // channel_cutoff probe
        MutantCase{"tile_32_channels", kPre, "channels", "32..47"},
        MutantCase{"k_loop_last_block", kPre, "streams_ignored", "0..1"},
        // alternative_semantics: eps, Sinkhorn iterations, Sinkhorn backward, orientation
        MutantCase{"eps_outside_rsqrt", kNearZero, "", ""},
        MutantCase{"bwd_eps_rms_mismatch", kNearZero, "", ""},
        MutantCase{"sinkhorn_dropped_iteration", kWideLogits, "", ""},
        MutantCase{"sinkhorn_implicit_grad", kWideLogits, "", ""},
        // sinkhorn_start_shift: every entry of the start off by -eps_sk
        MutantCase{"sinkhorn_eps_start_dropped", kPre, "shift_in_eps_sk", "-1"},
        MutantCase{"post_h_not_transposed", kPost, "", ""},
        MutantCase{"post_bwd_h_transposed", kPost, "", ""},
        // n_specific probe (reruns the case at n = 4)
        MutantCase{"fast_path_n4_only", "pre T=6 n=3 C=80 preset=deepseek seed=2 dist=normal", "n", "3"},
        // block_confined: the candidate/golden ratio of one mix block
        // (inv_rms far from 1: on kPre's unit-RMS rows the missing factor hides under rounding)
        MutantCase{"dx_res_missing_inv_rms", kNearZero, "", ""},
        MutantCase{"dbias_res_n2", kPre, "ratio", "16"},
        // precision_mode (matches emulated:bf16gemm; passes at half the channels), precision,
        // ignored_h, batch_dropped, zeroed_streams, untouched_tail, findings
        MutantCase{"bf16_gemm_above_k", kPre, "passes_at_k", "96"},
        MutantCase{"bf16_token_accumulation", kPre, "", ""},
        MutantCase{"h_res_discarded", kPost, "", ""},
        MutantCase{"post_bwd_h_token0", kPost, "", ""},
        MutantCase{"dx_grid_stream0", kPre, "streams", "1..3"},
        MutantCase{"tail_untouched", "post T=64 n=4 C=80 preset=deepseek seed=6 dist=normal", "first_untouched", "16384"},
        MutantCase{"dx_into_input", kPre, "", ""},
        MutantCase{"nondeterministic_reduction", kPre, "", ""}),
    [](const auto& p) { return p.param.mutant; });

TEST(MutantCatalog, EveryNonCrashingMutantHasADetectorTest) {
  // Keeps the table above in step with kernels/mutants: a new mutant needs a row.
  int non_crashing = 0;
  for (const auto& m : mutant_catalog()) non_crashing += m.diagnosis != "crash";
  EXPECT_EQ(non_crashing, 20);
}

TEST(NonFinite, NaNOnAZeroRowBlamesEpsPlacement) {
  VerifyOptions o;
  o.backend = "mutant:eps_outside_rsqrt";
  Verifier v(o);
  const CaseReport r = v.run(CaseSpec::parse("pre T=8 n=4 C=40 preset=deepseek seed=5 dist=zero_rows"));
  ASSERT_EQ(r.verdict, Verdict::fail);
  ASSERT_TRUE(r.diagnosis.has_value());
  EXPECT_EQ(r.diagnosis->tag, "eps_placement");
  EXPECT_TRUE(contains(r.diagnosis->sentence, "all-zero token row")) << r.diagnosis->sentence;
  EXPECT_EQ(r.diagnosis->fields.at("token"), "0");  // zero_rows: t % 3 == 0
}

// ---- check-file path: hand-made candidates ---------------------------------------------------------

class CheckPath : public ::testing::Test {
 protected:
  CaseReport check(const CheckRequest& request) {
    VerifyOptions o;
    o.backend = "emulated";  // the baseline's precision; no candidate backend runs
    return Verifier(o).check(request);
  }
  Diagnosis diagnosis(const CheckRequest& request) {
    const CaseReport r = check(request);
    EXPECT_EQ(r.verdict, Verdict::fail) << r.error;
    return r.diagnosis.value_or(Diagnosis{});
  }
  const CaseSpec pre = CaseSpec::parse("pre T=9 n=4 C=40 preset=deepseek seed=7 dist=normal");
  const CaseSpec post = CaseSpec::parse("post T=9 n=4 C=40 preset=deepseek seed=7 dist=normal");
};

TEST_F(CheckPath, ZeroedStream) {
  CheckRequest r = produced_by("emulated", pre);
  Tensor& dx = r.tensors.at("dx");
  for (std::int64_t t = 0; t < pre.shape.T; ++t)
    for (std::int64_t c = 0; c < pre.shape.C; ++c) dx.set(at(pre.shape, t, 2, c), 0.0);
  const Diagnosis d = diagnosis(r);
  EXPECT_EQ(d.tag, "bounds_streams") << d.sentence;
  EXPECT_EQ(d.tensor, "dx");
  EXPECT_EQ(d.fields.at("streams"), "2");
}

TEST_F(CheckPath, UntouchedTail) {
  CheckRequest r = produced_by("emulated", post);
  Tensor& out = r.tensors.at("out");
  const std::int64_t from = at(post.shape, 6, 0, 0);
  for (std::int64_t i = from; i < out.numel(); ++i) out.set(i, 0.0);
  const Diagnosis d = diagnosis(r);
  EXPECT_EQ(d.tag, "bounds_tail") << d.sentence;
  EXPECT_EQ(d.tensor, "out");
  EXPECT_EQ(d.fields.at("first_untouched"), std::to_string(from));
}

TEST_F(CheckPath, WrongOnlyOnLowNormRows) {
  const CaseSpec zero_rows = CaseSpec::parse("pre T=9 n=4 C=40 preset=deepseek seed=7 dist=zero_rows");
  CheckRequest r = produced_by("emulated", zero_rows);
  Tensor& dx = r.tensors.at("dx");
  for (std::int64_t t : {0, 3, 6}) {
    for (std::int64_t k = 0; k < zero_rows.shape.K(); ++k) {
      const std::int64_t i = t * zero_rows.shape.K() + k;
      dx.set(i, dx.get(i) * 1.5 + 0.25);
    }
  }
  const Diagnosis d = diagnosis(r);
  EXPECT_EQ(d.tag, "eps_placement") << d.sentence;
  EXPECT_EQ(d.fields.at("tokens"), "0,3,6");
}

TEST_F(CheckPath, DuplicateAccumulationOfDbias) {
  CheckRequest r = produced_by("emulated", pre);
  Tensor& dbias = r.tensors.at("dbias");
  for (std::int64_t i = 0; i < dbias.numel(); ++i) dbias.set(i, dbias.get(i) * 16);
  const Diagnosis d = diagnosis(r);
  EXPECT_EQ(d.tag, "duplicate_accumulation") << d.sentence;
  EXPECT_EQ(d.tensor, "dbias");
}

// The IO audit: a check file has no parts, so a bug in one mix block must be found from the rows
// of dbias and dphi themselves (BUGS.md: the res block of dbias accumulated n^2 times).
TEST_F(CheckPath, DuplicateAccumulationInTheResRowsOfDbias) {
  CheckRequest r = produced_by("emulated", pre);
  Tensor& dbias = r.tensors.at("dbias");
  for (std::int64_t i = 2 * pre.shape.n; i < dbias.numel(); ++i) dbias.set(i, dbias.get(i) * 16);
  const Diagnosis d = diagnosis(r);
  EXPECT_EQ(d.tag, "duplicate_accumulation") << d.sentence;
  EXPECT_EQ(d.component, "part.dbias_res");
  EXPECT_EQ(d.fields.at("ratio"), "16");
}

// A wrong factor on one block is small where inv_rms is near 1, but confined: not "precision".
TEST_F(CheckPath, AnErrorInTheResRowsOfDphiIsConfinedNotPrecision) {
  CheckRequest r = produced_by("emulated", pre);
  Tensor& dphi = r.tensors.at("dphi");
  const std::int64_t K = pre.shape.K();
  for (std::int64_t i = 2 * pre.shape.n * K; i < dphi.numel(); ++i) dphi.set(i, dphi.get(i) * (1 + 1.0 / 64));
  const Diagnosis d = diagnosis(r);
  EXPECT_EQ(d.tag, "unknown") << d.sentence;
  EXPECT_EQ(d.tensor, "dphi");
  EXPECT_EQ(d.fields.at("block"), "res");
  EXPECT_TRUE(contains(d.sentence, "rows 8..23")) << d.sentence;
}

TEST_F(CheckPath, HResStoredTransposedIsOrientation) {
  CheckRequest r = produced_by("emulated", pre);
  Tensor& h = r.tensors.at("h_res");
  const Tensor golden = h;
  const std::int64_t n = pre.shape.n;
  for (std::int64_t i = 0; i < h.numel(); ++i) h.set(i, golden.get(i / (n * n) * n * n + i % n * n + i % (n * n) / n));
  const Diagnosis d = diagnosis(r);
  EXPECT_EQ(d.tag, "orientation") << d.sentence;
  EXPECT_EQ(d.tensor, "h_res");
}

TEST_F(CheckPath, AConstantFactorIsNamedWhenNothingElseMatches) {
  CheckRequest r = produced_by("emulated", post);
  Tensor& dx = r.tensors.at("dx");
  for (std::int64_t i = 0; i < dx.numel(); ++i) dx.set(i, dx.get(i) * 2);
  const Diagnosis d = diagnosis(r);
  EXPECT_EQ(d.tag, "unknown") << d.sentence;
  EXPECT_EQ(d.fields.at("ratio"), "2");
  EXPECT_TRUE(contains(d.sentence, "dx is 2 x the golden everywhere")) << d.sentence;
}

TEST_F(CheckPath, SmallRelativeErrorInTokenReductionsIsPrecision) {
  CheckRequest r = produced_by("emulated", pre);
  Tensor& dalpha = r.tensors.at("dalpha");
  for (std::int64_t i = 0; i < dalpha.numel(); ++i) dalpha.set(i, dalpha.get(i) * (1 + 1.0 / 256));
  const Diagnosis d = diagnosis(r);
  EXPECT_EQ(d.tag, "precision") << d.sentence;
  EXPECT_EQ(d.tensor, "dalpha");
}

TEST_F(CheckPath, ResultsOfTheOtherOrientation) {
  Semantics flipped = post.semantics;
  flipped.orientation = flipped.orientation == Orientation::plain ? Orientation::transposed : Orientation::plain;
  const Diagnosis d = diagnosis(produced_by("emulated", post, flipped));
  EXPECT_EQ(d.tag, "orientation") << d.sentence;
  EXPECT_TRUE(contains(d.sentence, "(H where the convention needs H^T)")) << d.sentence;
  // The CLI audit: for a plain-orientation preset the sentence must say it the other way round.
  const CaseSpec plain = CaseSpec::parse("post T=9 n=4 C=40 preset=paper seed=7 dist=normal");
  Semantics transposed = plain.semantics;
  transposed.orientation = Orientation::transposed;
  const Diagnosis p = diagnosis(produced_by("emulated", plain, transposed));
  EXPECT_EQ(p.tag, "orientation") << p.sentence;
  EXPECT_TRUE(contains(p.sentence, "(H^T where the convention needs H)")) << p.sentence;
}

TEST_F(CheckPath, ResultsOfAnotherEpsRms) {
  const CaseSpec near_zero = CaseSpec::parse("pre T=9 n=4 C=40 preset=deepseek seed=7 dist=near_zero_rows");
  Semantics other = near_zero.semantics;
  other.eps_rms = 1e-4;
  const Diagnosis d = diagnosis(produced_by("emulated", near_zero, other));
  EXPECT_EQ(d.tag, "eps_placement") << d.sentence;
  EXPECT_TRUE(contains(d.sentence, "eps_rms = 0.0001")) << d.sentence;
}

TEST_F(CheckPath, NaNOnANormalRowIsReportedButNotClassified) {
  CheckRequest r = produced_by("emulated", pre);
  Tensor& y = r.tensors.at("y");
  y.set(5 * pre.shape.C + 3, std::numeric_limits<double>::quiet_NaN());
  const CaseReport report = check(r);
  ASSERT_TRUE(report.diagnosis.has_value());
  EXPECT_EQ(report.diagnosis->tag, "unknown");
  EXPECT_EQ(report.diagnosis->fields.at("token"), "5");
  EXPECT_TRUE(contains(report.diagnosis->sentence, "candidate produced NaN at [t=5, c=3]")) << report.diagnosis->sentence;
}

TEST_F(CheckPath, DxWithoutItsInverseRmsTermIsAMissingTerm) {
  // What a PyTorch implementation with the inverse RMS in f32 produced on dist=large rows: autograd's
  // d rsqrt(q)/dq underflowed and dx lost its norm term.
  CheckRequest r = produced_by("emulated", pre);
  const TensorMap parts = run_op(*make_backend("golden"), Op::pre, pre.semantics, r.tensors, true).taps;
  const Tensor& norm = parts.at("part.dx_norm");
  Tensor& dx = r.tensors.at("dx");
  for (std::int64_t i = 0; i < dx.numel(); ++i) dx.set(i, dx.get(i) - norm.get(i));
  const Diagnosis d = diagnosis(r);
  EXPECT_EQ(d.tag, "missing_factor") << d.sentence;
  EXPECT_EQ(d.component, "part.dx_norm");
  EXPECT_TRUE(contains(d.sentence, "inverse-RMS term")) << d.sentence;
}

TEST_F(CheckPath, ResultsOfToken0sHPostAreBatchDropped) {
  // A post forward that reads h_post without its token dimension.
  CheckRequest r = produced_by("emulated", post);
  TensorMap shared = r.tensors;
  Tensor& h = shared.at("h_post");
  const std::int64_t n = post.shape.n;
  for (std::int64_t i = n; i < h.numel(); ++i) h.set(i, h.get(i % n));
  r.tensors.at("out") = run_op(*make_backend("emulated"), Op::post, post.semantics, shared, false).results.at("out");
  const Diagnosis d = diagnosis(r);
  EXPECT_EQ(d.tag, "batch_dropped") << d.sentence;
  EXPECT_EQ(d.fields.at("coefficients"), "h_post");
}

TEST_F(CheckPath, NoSignatureIsUnknownWithTheNumbers) {
  CheckRequest r = produced_by("emulated", post);
  Tensor& dh = r.tensors.at("dh_post");
  dh.set(7, dh.get(7) + 3.0);
  const Diagnosis d = diagnosis(r);
  EXPECT_EQ(d.tag, "unknown") << d.sentence;
  EXPECT_EQ(d.tensor, "dh_post");
  EXPECT_TRUE(contains(d.sentence, "no known bug signature matched")) << d.sentence;
}

}  // namespace
}  // namespace mhc::verify
