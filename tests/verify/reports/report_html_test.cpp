// The HTML report: self-contained and escaped (static checks), and rendered in headless Chromium:
// a screenshot that is neither empty nor one flat colour, and no console errors. The rendering
// test skips when chromium is not installed (the project setup script installs it for CI).
#include <set>

#include <gtest/gtest.h>

#include "png_image.hpp"
#include "sample_reports.hpp"
#include "tool_runner.hpp"
#include "verify/report_format.hpp"
#include "verify/report_html.hpp"

namespace mhc::verify {
namespace {

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

SweepReport hostile_sweep() {
  SweepReport r = testing::sample_sweep();
  r.name = "<script>alert('x')</script> & co";
  r.cases[6].spec.distribution = "we<ird>&\"q\"'";
  r.cases[6].diagnosis->sentence = "H <b>not</b> transposed & \"quoted\"";
  r.cases[9].error = "<img src=x onerror=alert(1)>";
  return r;
}

TEST(ReportHtml, SelfContainedAndEscaped) {
  const std::string html = render_html(hostile_sweep());
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_FALSE(contains(html, "<script")) << "no script, and user text is escaped";
  EXPECT_FALSE(contains(html, "<img"));
  EXPECT_FALSE(contains(html, "<b>not</b>"));
  EXPECT_FALSE(contains(html, "http://"));
  EXPECT_FALSE(contains(html, "https://"));
  EXPECT_FALSE(contains(html, "src=\""));
  EXPECT_FALSE(contains(html, "<link"));
  for (std::size_t p = html.find("href=\""); p != std::string::npos; p = html.find("href=\"", p + 1)) {
    EXPECT_EQ(html.compare(p, 12, "href=\"#case-"), 0) << "only links within the page";
  }
  EXPECT_FALSE(contains(html, "@import"));
  EXPECT_FALSE(contains(html, "url("));
  EXPECT_TRUE(contains(html, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; co"));
  EXPECT_TRUE(contains(html, "dist=we&lt;ird&gt;&amp;&quot;q&quot;&#39;"));
  EXPECT_EQ(html_escape("<a b=\"c\">&'"), "&lt;a b=&quot;c&quot;&gt;&amp;&#39;");
}

TEST(ReportHtml, HasSummaryBarsPlotsAndDecomposition) {
  const SweepReport r = testing::sample_sweep();
  const std::string html = render_html(r);
  EXPECT_TRUE(contains(html, r.summary_line()));
  EXPECT_TRUE(contains(html, "<h2 id=\"failures\">Failures</h2>"));
  EXPECT_TRUE(contains(html, html_escape(testing::failing_case().reproduce)));
  EXPECT_TRUE(contains(html, "missing_factor"));
  // Decomposition table rows for every stage and component of the failing case.
  for (const TensorCheck& t : testing::failing_case().decomposition) {
    EXPECT_TRUE(contains(html, "<td class=\"name\">" + t.name)) << t.name;
  }
  EXPECT_TRUE(contains(html, "<span class=\"mark\">blamed</span>"));
  // One shape plot per op. The judged post cases vary only in T, so T is their x axis; the pre
  // cases vary in T and C, so theirs is the element count.
  EXPECT_TRUE(contains(html, "<figcaption>pre</figcaption>"));
  EXPECT_TRUE(contains(html, "<figcaption>post</figcaption>"));
  EXPECT_TRUE(contains(html, "post: err/tol against T (tokens), log-log"));
  EXPECT_TRUE(contains(html, "pre: err/tol against T·n·C (elements of x), log-log"));
  EXPECT_TRUE(contains(html, "title=\"dx: err/tol 41.0\""));
  EXPECT_TRUE(contains(html, "<h2 id=\"others\">Errors, crashes and skips</h2>"));
}

TEST(ReportHtml, EmptyAndDegenerateSweepsRender) {
  SweepReport empty;
  EXPECT_TRUE(contains(render_html(empty), "0 passed, 0 failed, 0 skipped"));
  SweepReport one;  // a single shape: the plot has one x value
  one.cases = {testing::passing_case()};
  EXPECT_TRUE(contains(render_html(one), "<polyline"));
  SweepReport zero_t;  // T = 0 cannot sit on a log axis
  CaseReport c = testing::passing_case(0);
  zero_t.cases = {c};
  EXPECT_TRUE(contains(render_html(zero_t), "No judged tensors with a non-empty shape"));
}

TEST(ReportHtml, LargeSweepsStayCompact) {
  SweepReport r;  // 2000 passing cases over 5 shapes: 10,000 points per plot before thinning
  for (int i = 0; i < 2000; ++i) {
    r.cases.push_back(testing::passing_case(std::int64_t{1} << (2 * (i % 5)), 4, 64, static_cast<std::uint64_t>(i)));
  }
  const std::string html = render_html(r);
  std::size_t circles = 0;
  for (std::size_t p = html.find("<circle"); p != std::string::npos; p = html.find("<circle", p + 1)) ++circles;
  EXPECT_LE(circles, 5u * 5u) << "only the worst point per tensor and shape";
  EXPECT_LT(html.size(), r.cases.size() * 2048) << "bytes per case";
}

// ---------------------------------------------------------------------------------------------
// Rendering in headless Chromium.

struct Rendered {
  testing::Run run;
  std::string dom;
  testing::Image screenshot;
};

// Console messages and page errors that Chromium logs with --enable-logging=stderr.
std::vector<std::string> console_problems(const std::string& log) {
  std::vector<std::string> problems;
  std::size_t start = 0;
  while (start < log.size()) {
    std::size_t end = log.find('\n', start);
    if (end == std::string::npos) end = log.size();
    const std::string line = log.substr(start, end - start);
    if (contains(line, ":CONSOLE") || contains(line, "Uncaught") || contains(line, "Failed to load resource") ||
        contains(line, "Refused to")) {
      problems.push_back(line);
    }
    start = end + 1;
  }
  return problems;
}

Rendered render_in_chromium(const std::string& chromium, const std::string& html) {
  testing::TempDir dir;
  const auto page = dir.path() / "report.html";
  const auto png = dir.path() / "shot.png";
  testing::write_file(page, html);
  const std::string flags =
      " --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking"
      " --disable-component-update --disable-sync --enable-logging=stderr --v=0";
  const std::string url = testing::shell_quote("file://" + page.string());
  Rendered r;
  r.run = testing::run_command("timeout 120 " + testing::shell_quote(chromium) + flags + " --user-data-dir=" +
                               testing::shell_quote((dir.path() / "profile-shot").string()) + " --screenshot=" +
                               testing::shell_quote(png.string()) + " --window-size=1280,2000 " + url);
  const testing::Run dom = testing::run_command("timeout 120 " + testing::shell_quote(chromium) + flags +
                                                " --user-data-dir=" +
                                                testing::shell_quote((dir.path() / "profile-dom").string()) +
                                                " --dump-dom " + url);
  r.dom = dom.output;
  r.run.output += dom.output;
  if (const char* keep = std::getenv("MHC_KEEP_SCREENSHOT")) std::filesystem::copy_file(png, keep, std::filesystem::copy_options::overwrite_existing);
  if (std::filesystem::exists(png)) r.screenshot = testing::decode_png(testing::read_file(png));
  return r;
}

TEST(ReportHtmlChromium, RendersWithoutConsoleErrors) {
  const std::string chromium = testing::find_on_path("chromium");
  if (chromium.empty()) GTEST_SKIP() << "chromium not installed (Debian package `chromium`)";

  // Control: a page with a console error and an uncaught exception must be caught by the check.
  const Rendered control = render_in_chromium(
      chromium, "<!DOCTYPE html><html><body><p>control</p><script>console.error('boom'); missing();</script></body></html>");
  ASSERT_GE(console_problems(control.run.output).size(), 2u) << control.run.output;

  const SweepReport report = hostile_sweep();
  const Rendered page = render_in_chromium(chromium, render_html(report));
  EXPECT_EQ(page.run.exit_code, 0) << page.run.output;
  const std::vector<std::string> problems = console_problems(page.run.output);
  EXPECT_TRUE(problems.empty()) << problems.front();
  // The DOM holds the rendered, unescaped text: the page was parsed as intended.
  EXPECT_TRUE(contains(page.dom, report.summary_line())) << page.dom.substr(0, 2000);
  EXPECT_TRUE(contains(page.dom, "dist=we&lt;ird&gt;&amp;\"q\"'"));

  const testing::Image& shot = page.screenshot;
  ASSERT_EQ(shot.width, 1280);
  ASSERT_EQ(shot.height, 2000);
  std::set<std::uint32_t> colours(shot.pixels.begin(), shot.pixels.end());
  EXPECT_GT(colours.size(), 50u) << "the screenshot is (nearly) one flat colour";
  // Pass green and fail red both appear: the bars and pills were drawn.
  EXPECT_TRUE(colours.contains(0x2e8540));
  EXPECT_TRUE(colours.contains(0xc62828));
}

}  // namespace
}  // namespace mhc::verify
