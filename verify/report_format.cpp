#include "verify/report_format.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

namespace mhc::verify {

double tolerance_ratio(const TensorCheck& t) {
  constexpr double inf = std::numeric_limits<double>::infinity();
  const ErrorStats& e = t.candidate;
  if (e.nonfinite_mismatches > 0 || std::isnan(e.max_abs)) return inf;
  double ratio = t.elem_tolerance > 0 ? e.max_abs / t.elem_tolerance : (e.max_abs > 0 ? inf : 0.0);
  if (t.row_tolerance > 0) ratio = std::max(ratio, e.worst_row_rel_l2 / t.row_tolerance);
  return ratio;
}

double worst_ratio(const CaseReport& c) {
  double worst = 0;
  for (const TensorCheck& t : c.tensors) worst = std::max(worst, tolerance_ratio(t));
  return worst;
}

std::string format_error(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  if (v == 0) return "0";
  return fmt::format("{:.2e}", v);
}

std::string format_ratio(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  if (v == 0) return "0";
  if (v < 0.01 || v >= 1000) return fmt::format("{:.1e}", v);
  if (v < 10) return fmt::format("{:.2f}", v);
  return fmt::format("{:.1f}", v);
}

std::string format_seconds(double s) {
  if (!(s >= 0)) return "-";
  if (s < 10) return fmt::format("{:.2f}s", s);
  if (s < 120) return fmt::format("{:.1f}s", s);
  const auto whole = static_cast<long long>(std::llround(s));
  return fmt::format("{}m{:02}s", whole / 60, whole % 60);
}

std::string format_position(const std::vector<std::int64_t>& index) {
  if (index.empty()) return "-";
  std::string out = "[";
  for (std::size_t i = 0; i < index.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(index[i]);
  }
  return out + "]";
}

std::string_view verdict_label(Verdict v) {
  switch (v) {
    case Verdict::pass: return "PASS";
    case Verdict::fail: return "FAIL";
    case Verdict::skip: return "SKIP";
    case Verdict::error: return "ERROR";
    case Verdict::crash: return "CRASH";
  }
  return "ERROR";
}

std::string diagnosis_line(const CaseReport& c) {
  if (!c.diagnosis) return {};
  const Diagnosis& d = *c.diagnosis;
  std::vector<std::string> where;
  if (!d.tensor.empty()) where.push_back("tensor " + d.tensor);
  if (!d.component.empty()) where.push_back("component " + d.component);
  if (!d.first_stage.empty()) where.push_back("first stage " + d.first_stage);
  std::string fields;
  for (const auto& [key, value] : d.fields) fields += (fields.empty() ? "" : ", ") + key + "=" + value;
  std::string detail;
  for (const std::string& w : where) detail += (detail.empty() ? "" : ", ") + w;
  if (!fields.empty()) detail += (detail.empty() ? "" : "; ") + fields;
  std::string line = d.tag.empty() ? d.sentence : d.tag + ": " + d.sentence;
  if (!detail.empty()) line += " (" + detail + ")";
  return line;
}

std::string outcome_message(const CaseReport& c) {
  switch (c.verdict) {
    case Verdict::skip: return "skipped: " + (c.error.empty() ? std::string("by a sweep rule") : c.error);
    case Verdict::error: return "error: " + (c.error.empty() ? std::string("(no message)") : c.error);
    case Verdict::crash: return "crashed: " + (c.error.empty() ? std::string("(no message)") : c.error);
    case Verdict::pass:
    case Verdict::fail: return c.error;
  }
  return c.error;
}

std::vector<DecompositionGroup> decomposition_groups(const CaseReport& c) {
  std::vector<DecompositionGroup> groups = {
      {"outputs and gradients", {}}, {"forward stages", {}}, {"gradient components", {}}, {"other", {}}};
  for (const TensorCheck& t : c.tensors) groups[0].rows.push_back(&t);
  for (const TensorCheck& t : c.decomposition) {
    const std::size_t g = t.name.starts_with("tap.") ? 1 : t.name.starts_with("part.") ? 2 : 3;
    groups[g].rows.push_back(&t);
  }
  std::erase_if(groups, [](const DecompositionGroup& g) { return g.rows.empty(); });
  return groups;
}

std::string printable(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (const char ch : s) {
    const auto byte = static_cast<unsigned char>(ch);
    if ((byte < 0x20 && ch != '\n' && ch != '\t') || byte == 0x7f) out += fmt::format("\\x{:02x}", byte);
    else out += ch;
  }
  return out;
}

std::size_t display_width(std::string_view s) {
  // Count UTF-8 lead bytes: continuation bytes are 10xxxxxx.
  return static_cast<std::size_t>(
      std::count_if(s.begin(), s.end(), [](char ch) { return (static_cast<unsigned char>(ch) & 0xC0) != 0x80; }));
}

}  // namespace mhc::verify
