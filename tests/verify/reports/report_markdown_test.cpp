// Markdown summary: sections, tables and escaping.
#include <cctype>

#include <gtest/gtest.h>

#include "sample_reports.hpp"
#include "verify/report_markdown.hpp"

namespace mhc::verify {
namespace {

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(ReportMarkdown, SectionsForFailuresOthersAndAllCases) {
  const SweepReport r = testing::sample_sweep();
  const std::string md = render_markdown(r);
  EXPECT_EQ(md.rfind("## mhc-verify: quick\n", 0), 0u);
  EXPECT_TRUE(contains(md, "**❌ " + r.summary_line() + "**"));
  EXPECT_TRUE(contains(md, "### Failures"));
  EXPECT_TRUE(contains(md, "#### `" + testing::failing_case().spec.to_string() + "`"));
  EXPECT_TRUE(contains(md, "- **diagnosis:** missing\\_factor: "));
  EXPECT_TRUE(contains(md, "- **reproduce:** `" + testing::failing_case().reproduce + "`"));
  EXPECT_TRUE(contains(md, "| `dx` | 1.64e-01 | 4.00e-03 | **41.0** |"));
  EXPECT_TRUE(contains(md, "### Errors, crashes and skips"));
  EXPECT_TRUE(contains(md, "💥 CRASH"));
  EXPECT_TRUE(contains(md, "<details><summary>All 11 cases</summary>"));
  // One row per case in the collapsed table.
  std::size_t rows = 0;
  for (std::size_t p = md.find("\n| "); p != std::string::npos; p = md.find("\n| ", p + 1)) {
    if (md.compare(p + 3, 1, "`") != 0 && std::isdigit(static_cast<unsigned char>(md[p + 3]))) ++rows;
  }
  EXPECT_EQ(rows, r.cases.size());
}

TEST(ReportMarkdown, PassingSweepHasNoFailureSections) {
  SweepReport r;
  r.name = "ok";
  r.cases = {testing::passing_case(), testing::passing_case(137)};
  const std::string md = render_markdown(r);
  EXPECT_TRUE(contains(md, "**✅ 2 passed, 0 failed, 0 skipped"));
  EXPECT_FALSE(contains(md, "### Failures"));
  EXPECT_FALSE(contains(md, "### Errors"));
}

TEST(ReportMarkdown, EscapesTextAndCodeSpans) {
  EXPECT_EQ(markdown_escape("a|b *c* <d> & e_f\nnext"), "a\\|b \\*c\\* &lt;d&gt; &amp; e\\_f next");
  SweepReport r;
  CaseReport c = testing::failing_case();
  c.spec.distribution = "pipe|tick`s";
  r.cases = {c};
  const std::string md = render_markdown(r);
  // A backtick inside a code span needs a longer fence; in a table cell the pipe is escaped.
  EXPECT_TRUE(contains(md, "#### ``" + c.spec.to_string() + "``"));
  std::string in_table = c.spec.to_string();
  in_table.replace(in_table.find('|'), 1, "\\|");
  EXPECT_TRUE(contains(md, "| ``" + in_table + "`` |"));
}

TEST(ReportMarkdown, HugeSweepsStayWithinGithubSummaryLimit) {
  SweepReport r;
  for (int i = 0; i < 3000; ++i) {
    CaseReport c = i % 50 == 0 ? testing::failing_case() : i % 10 == 0 ? testing::skipped_case() : testing::passing_case();
    c.spec.seed = static_cast<std::uint64_t>(i);
    r.cases.push_back(c);
  }
  const std::string md = render_markdown(r);
  EXPECT_LT(md.size(), 1u << 20);
  EXPECT_TRUE(contains(md, "10 more failures: see the JSON or HTML report."));  // 60 failures, 50 shown
  EXPECT_TRUE(contains(md, "- ... and 40 more\n"));                              // 240 skips, 200 shown
  EXPECT_TRUE(contains(md, "2000 more cases: see the JSON or HTML report."));
  EXPECT_TRUE(contains(md, "<details><summary>All 3000 cases</summary>"));
}

}  // namespace
}  // namespace mhc::verify
