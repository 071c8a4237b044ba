// The terminal table, progress line and decomposition table.
#include <algorithm>
#include <cmath>
#include <sstream>
#include <vector>

#include <gtest/gtest.h>

#include "sample_reports.hpp"
#include "verify/report_format.hpp"
#include "verify/report_text.hpp"

namespace mhc::verify {
namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(ReportText, TableHasOneRowPerCaseAndTensorWithAlignedColumns) {
  const SweepReport r = testing::sample_sweep();
  const std::vector<std::string> lines = lines_of(render_table(r));
  ASSERT_FALSE(lines.empty());
  const std::string& header = lines.front();
  const std::size_t tensor_col = header.find("tensor");
  const std::size_t verdict_col = header.find("verdict");
  ASSERT_NE(tensor_col, std::string::npos);
  // Table rows end in a verdict label placed exactly under the header's "verdict".
  int rows = 0;
  for (const std::string& line : lines) {
    for (std::string_view label : {"PASS", "FAIL", "SKIP", "ERROR", "CRASH"}) {
      if (line.size() > verdict_col && line.compare(verdict_col, label.size(), label) == 0 &&
          line.size() == verdict_col + label.size()) {
        ++rows;
        EXPECT_NE(line[tensor_col], ' ') << line;  // every row names its tensor (or "-")
      }
    }
  }
  // 6 passing cases x 5 tensors, failing pre 6 + post 5 tensors, skip/error/crash one row each.
  EXPECT_EQ(rows, 30 + 6 + 5 + 3);
  EXPECT_EQ(lines.back(), r.summary_line());
}

TEST(ReportText, FailuresCarryDiagnosisReasonAndReproduce) {
  const std::string text = render_table(testing::sample_sweep());
  const CaseReport f = testing::failing_case();
  EXPECT_TRUE(contains(text, "diagnosis: " + diagnosis_line(f)));
  EXPECT_TRUE(contains(text, "reproduce: " + f.reproduce));
  EXPECT_TRUE(contains(text, "dx: " + f.tensors[3].reason));
  EXPECT_TRUE(contains(text, "skipped: " + testing::skipped_case().error));
  EXPECT_TRUE(contains(text, "crashed: " + testing::crashed_case().error));
  EXPECT_TRUE(contains(text, "error: " + testing::error_case().error));
  // The err/tol of the failing dx row (41 x tolerance).
  EXPECT_TRUE(contains(text, "41.0"));
  // Passing cases print no reproduce line.
  EXPECT_FALSE(contains(text, "reproduce: " + testing::passing_case(13).reproduce));
}

TEST(ReportText, ColourOnlyWhenAsked) {
  const SweepReport r = testing::sample_sweep();
  EXPECT_FALSE(contains(render_table(r), "\033["));
  EXPECT_FALSE(contains(render_decomposition(testing::failing_case()), "\033["));
  const std::string coloured = render_table(r, {.color = true});
  EXPECT_TRUE(contains(coloured, "\033[31mFAIL\033[0m"));
  EXPECT_TRUE(contains(coloured, "\033[32mPASS\033[0m"));
  // Escape codes must not break the alignment: stripped, the coloured table is the plain one.
  std::string stripped;
  for (std::size_t i = 0; i < coloured.size(); ++i) {
    if (coloured[i] == '\033') {
      i = coloured.find('m', i);
      continue;
    }
    stripped += coloured[i];
  }
  EXPECT_EQ(stripped, render_table(r));
}

TEST(ReportText, ControlCharactersFromFilesAreEscaped) {
  // An error quoting a file's metadata must not reach the terminal as an escape sequence; the
  // table's own colours still do.
  SweepReport r = testing::sample_sweep();
  r.cases.front().verdict = Verdict::error;
  r.cases.front().error = "precision \"\033[31mRED\": choose f32";
  for (const bool color : {false, true}) {
    const std::string out = render_table(r, {.color = color});
    EXPECT_TRUE(contains(out, "precision \"\\x1b[31mRED\"")) << out;
    EXPECT_FALSE(contains(out, "\033[31mRED"));
  }
  EXPECT_TRUE(contains(render_table(r, {.color = true}), "\033[31mFAIL\033[0m"));
}

TEST(ReportText, OnlyFailuresHidesPassingCasesButKeepsTheSummary) {
  const SweepReport r = testing::sample_sweep();
  const std::string text = render_table(r, {.only_failures = true});
  EXPECT_FALSE(contains(text, "pre T=1 n=4"));
  EXPECT_TRUE(contains(text, testing::failing_case().spec.to_string()));
  EXPECT_TRUE(contains(text, testing::crashed_case().spec.to_string()));
  EXPECT_FALSE(contains(text, testing::skipped_case().spec.to_string()));
  EXPECT_TRUE(contains(text, r.summary_line()));
}

TEST(ReportText, NothingToShowPrintsOnlyTheSummary) {
  SweepReport r;
  r.cases = {testing::passing_case(), testing::skipped_case()};
  EXPECT_EQ(render_table(r, {.only_failures = true}), r.summary_line() + "\n");
  EXPECT_EQ(render_table(SweepReport{}), SweepReport{}.summary_line() + "\n");
}

TEST(ReportText, CaseVerdictShownWhenNoTensorExplainsIt) {
  SweepReport r;
  CaseReport c = testing::passing_case();
  c.verdict = Verdict::fail;
  c.error = "non-deterministic: two runs differ bitwise in dbias";
  r.cases = {c};
  const std::string text = render_table(r);
  EXPECT_TRUE(contains(text, "(case)"));
  EXPECT_TRUE(contains(text, c.error));
}

TEST(ReportText, LongCaseLinesGetTheirOwnLine) {
  SweepReport r = testing::sample_sweep();
  r.cases[0].spec.semantics.eps_rms = 0.01;
  r.cases[0].spec.semantics.eps_sk = 0.1;
  r.cases[0].spec.semantics.repeats = 3;
  const std::string line = r.cases[0].spec.to_string();
  ASSERT_GT(line.size(), 72u);
  const std::vector<std::string> lines = lines_of(render_table(r));
  EXPECT_EQ(lines[1], line);                   // alone, before its rows
  EXPECT_LT(lines[0].find("tensor"), 72u);     // the column did not widen to fit it
  EXPECT_EQ(lines[2].find_first_not_of(' '), lines[0].find("tensor"));
}

TEST(ReportText, ProgressLine) {
  CaseReport c = testing::passing_case(137);
  EXPECT_EQ(progress_line(12, 240, c), "[ 12/240] " + c.spec.to_string() + " ... PASS 0.12s");
  EXPECT_EQ(progress_line(240, 240, testing::failing_case()),
            "[240/240] " + testing::failing_case().spec.to_string() + " ... FAIL 0.80s");
  EXPECT_TRUE(contains(progress_line(1, 9, c, true), "\033[32mPASS\033[0m"));
}

TEST(ReportText, DecompositionListsEveryStageAndMarksTheBlamedComponent) {
  const CaseReport c = testing::failing_case();
  const std::string text = render_decomposition(c);
  for (const TensorCheck& t : c.tensors) EXPECT_TRUE(contains(text, "  " + t.name + " ")) << t.name;
  for (const TensorCheck& t : c.decomposition) EXPECT_TRUE(contains(text, "  " + t.name + " ")) << t.name;
  EXPECT_TRUE(contains(text, "forward stages"));
  EXPECT_TRUE(contains(text, "gradient components"));
  for (const std::string& line : lines_of(text)) {
    if (contains(line, "<- blamed")) {
      EXPECT_TRUE(contains(line, "part.dx_mm_res")) << line;
    }
  }
  EXPECT_TRUE(contains(text, "<- blamed"));
  EXPECT_TRUE(contains(text, "diagnosis: missing_factor: "));
  EXPECT_TRUE(contains(text, "reproduce: " + c.reproduce));
  // Stages before components: reading order follows the computation.
  EXPECT_LT(text.find("tap.m "), text.find("part.dx_apply"));
}

TEST(ReportFormat, RatioUsesTheWorseOfElementAndRowRules) {
  TensorCheck t = testing::check("dx", 0.5, true);
  EXPECT_DOUBLE_EQ(tolerance_ratio(t), 0.5);
  t.candidate.worst_row_rel_l2 = 3 * t.row_tolerance;
  EXPECT_DOUBLE_EQ(tolerance_ratio(t), 3.0);
  t.row_tolerance = 0;  // row rule not applied (fixed profiles)
  EXPECT_DOUBLE_EQ(tolerance_ratio(t), 0.5);
  t.candidate.nonfinite_mismatches = 1;
  EXPECT_TRUE(std::isinf(tolerance_ratio(t)));
  EXPECT_EQ(format_ratio(tolerance_ratio(t)), "inf");
  EXPECT_EQ(format_ratio(0.314), "0.31");
  EXPECT_EQ(format_ratio(41), "41.0");
  EXPECT_EQ(format_error(1.234e-3), "1.23e-03");
  EXPECT_EQ(format_seconds(125), "2m05s");
}

}  // namespace
}  // namespace mhc::verify
