#include "verify/report_junit.hpp"

#include <fmt/format.h>

#include "verify/report_format.hpp"
#include "verify/report_text.hpp"

namespace mhc::verify {

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Length of the well-formed UTF-8 sequence starting at s[i], or 0 when it is ill-formed.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char lead = b(i);
  std::size_t len = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // range of the second byte (excludes overlongs and surrogates)
  if (lead >= 0xC2 && lead <= 0xDF) len = 2;
  else if (lead >= 0xE0 && lead <= 0xEF) len = 3, lo = lead == 0xE0 ? 0xA0 : 0x80, hi = lead == 0xED ? 0x9F : 0xBF;
  else if (lead >= 0xF0 && lead <= 0xF4) len = 4, lo = lead == 0xF0 ? 0x90 : 0x80, hi = lead == 0xF4 ? 0x8F : 0xBF;
  else return 0;
  if (i + len > s.size()) return 0;
  if (b(i + 1) < lo || b(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < len; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
  }
  return len;
}

std::string attr(std::string_view name, std::string_view value) {
  return fmt::format(" {}=\"{}\"", name, xml_escape(value));
}

std::string seconds_attr(double s) { return attr("time", fmt::format("{:.3f}", s >= 0 ? s : 0.0)); }

std::string classname(const CaseReport& c) { return std::string(to_string(c.spec.op)) + "." + c.spec.preset; }

// The per-tensor rows of one case as plain text: the body of <failure>.
std::string tensor_table(const CaseReport& c) {
  SweepReport one;
  one.cases = {c};
  return render_table(one, {.summary = false});
}

}  // namespace

std::string xml_escape(std::string_view s, bool attribute) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const unsigned char ch = static_cast<unsigned char>(s[i]);
    if (ch < 0x80) {
      switch (ch) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&apos;"; break;
        case '\n': out += attribute ? "&#10;" : "\n"; break;
        case '\r': out += "&#13;"; break;
        case '\t': out += attribute ? "&#9;" : "\t"; break;
        default:
          if (ch < 0x20 || ch == 0x7F) out += kReplacement;
          else out += static_cast<char>(ch);
      }
      ++i;
      continue;
    }
    const std::size_t len = utf8_sequence_length(s, i);
    if (len == 0) {
      out += kReplacement;
      ++i;
    } else {
      out.append(s.substr(i, len));
      i += len;
    }
  }
  return out;
}

std::string render_junit(const SweepReport& report) {
  const SweepSummary s = report.summary();
  const int errors = s.errors + s.crashed;
  const std::string suite_name = report.name.empty() ? "mhc-verify" : report.name;
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out += "<testsuites" + attr("name", "mhc-verify") + attr("tests", std::to_string(s.total())) +
         attr("failures", std::to_string(s.failed)) + attr("errors", std::to_string(errors)) +
         attr("skipped", std::to_string(s.skipped)) + seconds_attr(report.seconds) + ">\n";
  out += "  <testsuite" + attr("name", suite_name) + attr("tests", std::to_string(s.total())) +
         attr("failures", std::to_string(s.failed)) + attr("errors", std::to_string(errors)) +
         attr("skipped", std::to_string(s.skipped)) + seconds_attr(report.seconds) + ">\n";
  out += "    <properties>\n";
  out += "      <property" + attr("name", "backend") + attr("value", report.backend) + "/>\n";
  out += "      <property" + attr("name", "tool_version") + attr("value", report.tool_version) + "/>\n";
  out += "    </properties>\n";
  for (const CaseReport& c : report.cases) {
    out += "    <testcase" + attr("classname", classname(c)) + attr("name", display_name(c)) + seconds_attr(c.seconds);
    std::string body;
    switch (c.verdict) {
      case Verdict::pass: break;
      case Verdict::fail: {
        const std::string message = c.diagnosis ? diagnosis_line(c) : "numerical check failed";
        const std::string type = c.diagnosis ? c.diagnosis->tag : "fail";
        body += "      <failure" + attr("message", message) + attr("type", type) + ">" + xml_escape(tensor_table(c), false) +
                "</failure>\n";
        break;
      }
      case Verdict::skip: body += "      <skipped" + attr("message", c.error) + "/>\n"; break;
      case Verdict::error:
      case Verdict::crash:
        body += "      <error" + attr("message", outcome_message(c)) + attr("type", to_string(c.verdict)) + ">" +
                xml_escape(c.error, false) + "</error>\n";
        break;
    }
    std::string system_out = "backend: " + c.backend + " on " + c.device + "\n";
    if (!c.reproduce.empty()) system_out += "reproduce: " + c.reproduce + "\n";
    body += "      <system-out>" + xml_escape(system_out, false) + "</system-out>\n";
    out += ">\n" + body + "    </testcase>\n";
  }
  out += "  </testsuite>\n</testsuites>\n";
  return out;
}

}  // namespace mhc::verify
