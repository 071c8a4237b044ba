#include "verify/report_markdown.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "verify/report_format.hpp"

namespace mhc::verify {

namespace {

// GitHub caps a job summary at 1 MiB; a self-test of 10,000 random cases must still fit.
constexpr std::size_t kMaxFailureSections = 50;
constexpr std::size_t kMaxOtherItems = 200;
constexpr std::size_t kMaxCaseRows = 1000;

// An inline code span that survives any content: the fence is longer than the longest backtick
// run inside; `|` is escaped because GitHub splits table cells before parsing code spans.
std::string code(std::string_view s, bool in_table) {
  std::size_t run = 0, longest = 0;
  for (char ch : s) {
    run = ch == '`' ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  std::string body;
  for (char ch : s) {
    if (ch == '\n' || ch == '\r') body += ' ';
    else if (ch == '|' && in_table) body += "\\|";
    else body += ch;
  }
  body = printable(body);
  const std::string fence(longest + 1, '`');
  const bool pad = !body.empty() && (body.front() == '`' || body.back() == '`');
  return fence + (pad ? " " : "") + body + (pad ? " " : "") + fence;
}

std::string verdict_badge(Verdict v) {
  switch (v) {
    case Verdict::pass: return "✅ PASS";
    case Verdict::fail: return "❌ FAIL";
    case Verdict::skip: return "⏭️ SKIP";
    case Verdict::error: return "⚠️ ERROR";
    case Verdict::crash: return "💥 CRASH";
  }
  return "ERROR";
}

std::string tensor_table(const CaseReport& c) {
  std::string out = "| tensor | max err | tolerance | err/tol | rule | verdict |\n|---|--:|--:|--:|---|---|\n";
  for (const TensorCheck& t : c.tensors) {
    const double ratio = tolerance_ratio(t);
    const std::string r = format_ratio(ratio);
    out += fmt::format("| {} | {} | {} | {} | {} | {} |\n", code(t.name, true), format_error(t.candidate.max_abs),
                       format_error(t.elem_tolerance), ratio > 1 ? "**" + r + "**" : r, markdown_escape(t.rule),
                       verdict_label(t.verdict));
  }
  return out;
}

}  // namespace

std::string markdown_escape(std::string_view s) {
  std::string out;
  for (char ch : s) {
    switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '\n':
      case '\r': out += ' '; break;
      case '\\': case '`': case '*': case '_': case '[': case ']': case '|': case '#': case '~': case '!':
        out += '\\';
        out += ch;
        break;
      default: out += printable(std::string_view(&ch, 1));
    }
  }
  return out;
}

std::string render_markdown(const SweepReport& report) {
  const SweepSummary s = report.summary();
  const bool ok = s.failed + s.errors + s.crashed == 0;
  std::string out = "## mhc-verify: " + markdown_escape(report.name.empty() ? "sweep" : report.name) + "\n\n";
  out += fmt::format("**{} {}**", ok ? "✅" : "❌", report.summary_line());
  std::string context;
  if (!report.backend.empty()) context += "backend " + code(report.backend, false);
  if (!report.tool_version.empty()) context += (context.empty() ? "" : ", ") + std::string("mhc-verify ") + markdown_escape(report.tool_version);
  out += context.empty() ? "\n" : " (" + context + ")\n";

  std::size_t failures = 0;
  for (const CaseReport& c : report.cases) {
    if (c.verdict != Verdict::fail) continue;
    if (failures++ == 0) out += "\n### Failures\n";
    if (failures > kMaxFailureSections) continue;
    out += "\n#### " + code(display_name(c), false) + "\n\n";
    if (const std::string d = diagnosis_line(c); !d.empty()) out += "- **diagnosis:** " + markdown_escape(d) + "\n";
    for (const TensorCheck& t : c.tensors) {
      if (t.verdict == Verdict::fail && !t.reason.empty()) {
        out += "- " + code(t.name, false) + ": " + markdown_escape(t.reason) + "\n";
      }
    }
    if (!c.reproduce.empty()) out += "- **reproduce:** " + code(c.reproduce, false) + "\n";
    out += '\n';
    out += tensor_table(c);
  }

  if (failures > kMaxFailureSections) {
    out += fmt::format("\n{} more failures: see the JSON or HTML report.\n", failures - kMaxFailureSections);
  }

  std::size_t others = 0;
  for (const CaseReport& c : report.cases) {
    if (c.verdict == Verdict::pass || c.verdict == Verdict::fail) continue;
    if (others++ == 0) out += "\n### Errors, crashes and skips\n\n";
    if (others > kMaxOtherItems) continue;
    out += "- " + verdict_badge(c.verdict) + " " + code(display_name(c), false) + ": " +
           markdown_escape(outcome_message(c)) + "\n";
  }
  if (others > kMaxOtherItems) out += fmt::format("- ... and {} more\n", others - kMaxOtherItems);

  out += fmt::format("\n<details><summary>All {} cases</summary>\n\n", report.cases.size());
  out += "| # | case | verdict | worst err/tol | time |\n|--:|---|---|--:|--:|\n";
  const std::size_t rows = std::min(report.cases.size(), kMaxCaseRows);
  for (std::size_t i = 0; i < rows; ++i) {
    const CaseReport& c = report.cases[i];
    const std::int64_t number = c.index ? *c.index : static_cast<std::int64_t>(i);
    out += fmt::format("| {} | {} | {} | {} | {} |\n", number, code(display_name(c), true), verdict_badge(c.verdict),
                       c.tensors.empty() ? "-" : format_ratio(worst_ratio(c)), format_seconds(c.seconds));
  }
  if (rows < report.cases.size()) {
    out += fmt::format("\n{} more cases: see the JSON or HTML report.\n", report.cases.size() - rows);
  }
  out += "\n</details>\n";
  return out;
}

}  // namespace mhc::verify
