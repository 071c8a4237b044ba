// JSON form of reports: lossless round trips, non-finite numbers, unknown fields ignored, and
// malformed input rejected with an Error naming the field.
#include <cmath>
#include <limits>

#include <gtest/gtest.h>

#include "core/error.hpp"
#include "sample_reports.hpp"
#include "verify/report.hpp"

namespace mhc::verify {
namespace {

using nlohmann::json;
using testing::sample_sweep;

void expect_same_stats(const ErrorStats& a, const ErrorStats& b) {
  EXPECT_EQ(a.max_abs, b.max_abs);
  EXPECT_EQ(a.max_at, b.max_at);
  EXPECT_EQ(a.max_rel, b.max_rel);
  EXPECT_EQ(a.rel_l2, b.rel_l2);
  EXPECT_EQ(a.worst_row_rel_l2, b.worst_row_rel_l2);
  EXPECT_EQ(a.worst_row, b.worst_row);
  EXPECT_EQ(a.max_ulps, b.max_ulps);
  EXPECT_EQ(a.nonfinite_mismatches, b.nonfinite_mismatches);
  EXPECT_EQ(a.first_nonfinite_at, b.first_nonfinite_at);
}

void expect_same_check(const TensorCheck& a, const TensorCheck& b) {
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.shape, b.shape);
  EXPECT_EQ(a.ref_max_abs, b.ref_max_abs);
  expect_same_stats(a.candidate, b.candidate);
  ASSERT_EQ(a.baseline.has_value(), b.baseline.has_value());
  if (a.baseline) expect_same_stats(*a.baseline, *b.baseline);
  EXPECT_EQ(a.rule, b.rule);
  EXPECT_EQ(a.elem_tolerance, b.elem_tolerance);
  EXPECT_EQ(a.row_tolerance, b.row_tolerance);
  EXPECT_EQ(a.mismatches, b.mismatches);
  EXPECT_EQ(a.mismatch_fraction, b.mismatch_fraction);
  EXPECT_EQ(a.verdict, b.verdict);
  EXPECT_EQ(a.reason, b.reason);
}

void expect_same_case(const CaseReport& a, const CaseReport& b) {
  EXPECT_EQ(a.index, b.index);
  EXPECT_EQ(a.spec, b.spec);
  EXPECT_EQ(a.backend, b.backend);
  EXPECT_EQ(a.baseline, b.baseline);
  EXPECT_EQ(a.device, b.device);
  EXPECT_EQ(a.verdict, b.verdict);
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (std::size_t i = 0; i < a.tensors.size(); ++i) expect_same_check(a.tensors[i], b.tensors[i]);
  ASSERT_EQ(a.decomposition.size(), b.decomposition.size());
  for (std::size_t i = 0; i < a.decomposition.size(); ++i) expect_same_check(a.decomposition[i], b.decomposition[i]);
  ASSERT_EQ(a.diagnosis.has_value(), b.diagnosis.has_value());
  if (a.diagnosis) {
    EXPECT_EQ(a.diagnosis->tag, b.diagnosis->tag);
    EXPECT_EQ(a.diagnosis->sentence, b.diagnosis->sentence);
    EXPECT_EQ(a.diagnosis->tensor, b.diagnosis->tensor);
    EXPECT_EQ(a.diagnosis->component, b.diagnosis->component);
    EXPECT_EQ(a.diagnosis->first_stage, b.diagnosis->first_stage);
    EXPECT_EQ(a.diagnosis->fields, b.diagnosis->fields);
  }
  EXPECT_EQ(a.error, b.error);
  if (a.verdict == Verdict::error) {
    EXPECT_EQ(a.error_kind, b.error_kind);
  }
  EXPECT_EQ(a.reproduce, b.reproduce);
  EXPECT_EQ(a.seconds, b.seconds);
  EXPECT_EQ(a.backend_seconds, b.backend_seconds);
}

TEST(ReportJson, VerdictStringsRoundTrip) {
  for (Verdict v : {Verdict::pass, Verdict::fail, Verdict::skip, Verdict::error, Verdict::crash}) {
    EXPECT_EQ(verdict_from_string(to_string(v)), v);
  }
  EXPECT_THROW(verdict_from_string("PASS"), Error);
}

TEST(ReportJson, ErrorKindOfAnErrorRoundTrips) {
  for (ErrorKind k : {ErrorKind::invalid_input, ErrorKind::unsupported, ErrorKind::environment, ErrorKind::internal}) {
    CaseReport c;
    c.verdict = Verdict::error;
    c.error_kind = k;
    const json j = to_json(c);
    EXPECT_EQ(j.at("error_kind"), std::string(to_string(k)));
    EXPECT_EQ(case_report_from_json(j).error_kind, k);
  }
  EXPECT_FALSE(to_json(CaseReport{}).contains("error_kind")) << "only errors have a kind";
}

// Reports written before error_kind existed still merge, with the old meaning of an error (exit 3).
TEST(ReportJson, ErrorWithoutKindIsEnvironment) {
  const json j = {{"case", "pre T=4 n=2 C=8 preset=deepseek seed=1 dist=normal"}, {"verdict", "error"}};
  EXPECT_EQ(case_report_from_json(j).error_kind, ErrorKind::environment);
}

// merge's version guard compares these, so a report the tool writes must carry its version.
TEST(ReportJson, NewReportsCarryTheToolVersion) {
  EXPECT_FALSE(SweepReport{}.tool_version.empty());
  EXPECT_EQ(to_json(SweepReport{}).at("tool_version"), std::string(this_tool_version()));
}

// Reproduce lines from the verifier, the CLI and the server quote alike: one word for the shell,
// a single quote in a path included (the verifier's own copy once left it unescaped).
TEST(ReproduceLines, ShellQuoteKeepsEveryCharacterInOneWord) {
  EXPECT_EQ(shell_quote("pre T=1 n=4 C=8"), "'pre T=1 n=4 C=8'");
  EXPECT_EQ(shell_quote("it's.safetensors"), "'it'\\''s.safetensors'");
}

TEST(ReportJson, SweepRoundTripsThroughText) {
  const SweepReport original = sample_sweep();
  const SweepReport back = sweep_report_from_json(json::parse(to_json(original).dump()));
  EXPECT_EQ(back.name, original.name);
  EXPECT_EQ(back.tool_version, original.tool_version);
  EXPECT_EQ(back.backend, original.backend);
  EXPECT_EQ(back.seconds, original.seconds);
  ASSERT_EQ(back.cases.size(), original.cases.size());
  for (std::size_t i = 0; i < back.cases.size(); ++i) expect_same_case(back.cases[i], original.cases[i]);
}

TEST(ReportJson, WritesSchemaVersionSummaryAndCaseLine) {
  const json j = to_json(sample_sweep());
  EXPECT_EQ(j.at("schema_version"), 1);
  EXPECT_EQ(j.at("summary").at("passed"), 6);
  EXPECT_EQ(j.at("summary").at("failed"), 2);
  EXPECT_EQ(j.at("summary").at("total"), 11);
  const json& failing = j.at("cases").at(6);
  EXPECT_EQ(failing.at("verdict"), "fail");
  EXPECT_EQ(failing.at("case"), testing::failing_case().spec.to_string());
  EXPECT_EQ(failing.at("shape").at("T"), 137);
  EXPECT_EQ(failing.at("diagnosis").at("tag"), "missing_factor");
  EXPECT_FALSE(j.at("cases").at(0).contains("diagnosis"));
}

TEST(ReportJson, NonFiniteNumbersSurviveAsStrings) {
  CaseReport c = testing::failing_case();
  c.tensors[0].candidate.max_abs = std::numeric_limits<double>::infinity();
  c.tensors[0].candidate.max_rel = std::numeric_limits<double>::quiet_NaN();
  c.tensors[0].ref_max_abs = -std::numeric_limits<double>::infinity();
  const json j = to_json(c);
  EXPECT_EQ(j.at("tensors").at(0).at("candidate").at("max_abs"), "inf");
  const CaseReport back = case_report_from_json(json::parse(j.dump()));
  EXPECT_TRUE(std::isinf(back.tensors[0].candidate.max_abs));
  EXPECT_GT(back.tensors[0].candidate.max_abs, 0);
  EXPECT_TRUE(std::isnan(back.tensors[0].candidate.max_rel));
  EXPECT_EQ(back.tensors[0].ref_max_abs, -std::numeric_limits<double>::infinity());
}

TEST(ReportJson, CaseWithoutIndexHasNoIndexField) {
  CaseReport c = testing::passing_case();
  EXPECT_FALSE(to_json(c).contains("index"));
  EXPECT_FALSE(case_report_from_json(to_json(c)).index.has_value());
}

TEST(ReportJson, UnknownFieldsAreIgnored) {
  json j = to_json(sample_sweep());
  j["produced_by"] = {{"host", "gpu-7"}};
  j["cases"][6]["future_field"] = 42;
  j["cases"][6]["tensors"][0]["histogram"] = json::array({1, 2, 3});
  j["cases"][6]["diagnosis"]["confidence"] = 0.9;
  const SweepReport back = sweep_report_from_json(j);
  EXPECT_EQ(back.cases.size(), 11u);
  EXPECT_EQ(back.cases[6].diagnosis->tag, "missing_factor");
}

TEST(ReportJson, OptionalFieldsDefault) {
  const json j = {{"case", "pre T=4 n=2 C=8 preset=deepseek seed=1 dist=normal"}, {"verdict", "pass"}};
  const CaseReport c = case_report_from_json(j);
  EXPECT_EQ(c.spec.shape.T, 4);
  EXPECT_EQ(c.device, "cpu");
  EXPECT_TRUE(c.tensors.empty());
  EXPECT_FALSE(c.diagnosis.has_value());
}

// The message of the Error thrown by reading `j`, or "" when it did not throw.
std::string sweep_error(const json& j) {
  try {
    sweep_report_from_json(j);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid_input);
    return e.what();
  }
  return "";
}

TEST(ReportJson, MalformedFieldsAreNamed) {
  const json good = to_json(sample_sweep());
  struct Corruption {
    const char* pointer;
    json value;
    const char* expected;  // must appear in the message
  };
  const Corruption corruptions[] = {
      {"/cases/3/tensors/1/candidate/max_abs", "big", "cases[3].tensors[1].candidate.max_abs"},
      {"/cases/6/verdict", "passed", "cases[6].verdict"},
      {"/cases/2/case", "pre T=abc n=4 C=8", "cases[2].case"},
      {"/cases/2/case", 17, "cases[2].case"},
      {"/cases/0/tensors", json::object(), "cases[0].tensors"},
      {"/cases/0/tensors/0/shape", "x", "cases[0].tensors[0].shape"},
      {"/cases/0/tensors/0/candidate/max_at", json::array({1, "2"}), "cases[0].tensors[0].candidate.max_at[1]"},
      {"/cases/6/diagnosis/fields/block", 3, "cases[6].diagnosis.fields.block"},
      {"/cases/1/index", -4, "cases[1].index"},
      {"/cases/9/error_kind", "oops", "cases[9].error_kind"},
      {"/cases/1/index", 1.5, "cases[1].index"},
      {"/cases/4", json::array(), "cases[4]"},
      {"/cases", json::object(), "cases"},
      {"/schema_version", 2, "schema_version"},
      {"/seconds", json::array(), "seconds"},
  };
  for (const Corruption& c : corruptions) {
    json bad = good;
    bad[json::json_pointer(c.pointer)] = c.value;
    const std::string message = sweep_error(bad);
    EXPECT_NE(message.find(c.expected), std::string::npos) << c.pointer << " -> \"" << message << "\"";
  }
}

TEST(ReportJson, MissingRequiredFieldsAreNamed) {
  json j = to_json(sample_sweep());
  j.erase("schema_version");
  EXPECT_NE(sweep_error(j).find("schema_version"), std::string::npos);

  j = to_json(sample_sweep());
  j.erase("cases");
  EXPECT_NE(sweep_error(j).find("cases"), std::string::npos);

  j = to_json(sample_sweep());
  j["cases"][2].erase("case");
  EXPECT_NE(sweep_error(j).find("cases[2].case: required field is missing"), std::string::npos);

  j = to_json(sample_sweep());
  j["cases"][0]["tensors"][0].erase("name");
  EXPECT_NE(sweep_error(j).find("cases[0].tensors[0].name"), std::string::npos);

  EXPECT_NE(sweep_error(json::array()).find("expected an object"), std::string::npos);
}

TEST(ReportSummary, CountsEveryOutcome) {
  const SweepReport r = sample_sweep();
  const SweepSummary s = r.summary();
  EXPECT_EQ(s.passed, 6);
  EXPECT_EQ(s.failed, 2);
  EXPECT_EQ(s.skipped, 1);
  EXPECT_EQ(s.errors, 1);
  EXPECT_EQ(s.crashed, 1);
  EXPECT_EQ(s.total(), 11);
  EXPECT_EQ(r.summary_line(), "6 passed, 2 failed, 1 skipped, 1 error, 1 crashed in 4.20s");
}

TEST(ReportSummary, LineOmitsZeroErrorsAndCrashes) {
  SweepReport r;
  r.cases = {testing::passing_case(), testing::passing_case()};
  r.seconds = 12.34;
  EXPECT_EQ(r.summary_line(), "2 passed, 0 failed, 0 skipped in 12.3s");
  r.cases.push_back(testing::error_case());
  r.cases.push_back(testing::error_case());
  EXPECT_EQ(r.summary_line(), "2 passed, 0 failed, 0 skipped, 2 errors in 12.3s");
}

}  // namespace
}  // namespace mhc::verify
