#include "verify/report_text.hpp"

#include <algorithm>
#include <vector>

#include <fmt/format.h>

#include "verify/report_format.hpp"

namespace mhc::verify {

namespace {

// ---------------------------------------------------------------------------------------------
// ANSI colour, applied after padding so that escape codes never disturb the alignment.

constexpr std::string_view kReset = "\033[0m";
constexpr std::string_view kBold = "\033[1m";
constexpr std::string_view kRed = "\033[31m";
constexpr std::string_view kGreen = "\033[32m";
constexpr std::string_view kYellow = "\033[33m";
constexpr std::string_view kMagenta = "\033[35m";
constexpr std::string_view kDim = "\033[2m";

std::string_view verdict_color(Verdict v) {
  switch (v) {
    case Verdict::pass: return kGreen;
    case Verdict::fail: return kRed;
    case Verdict::skip: return kYellow;
    case Verdict::error:
    case Verdict::crash: return kMagenta;
  }
  return kMagenta;
}

std::string paint(std::string_view text, std::string_view color, bool enabled) {
  if (!enabled || color.empty()) return std::string(text);
  return std::string(color) + std::string(text) + std::string(kReset);
}

// ---------------------------------------------------------------------------------------------
// A table of text cells with per-column alignment. Rows without cells are free text lines
// (diagnosis, reproduce) printed as they are.

enum class Align { left, right };

struct Cell {
  std::string text;
  std::string_view color;
};

struct Line {
  std::vector<Cell> cells;
  std::string free_text;  // used when cells is empty
};

class Table {
 public:
  explicit Table(std::vector<Align> align) : align_(std::move(align)) {}
  void row(std::vector<Cell> cells) {
    for (Cell& c : cells) c.text = printable(c.text);
    lines_.push_back({std::move(cells), {}});
  }
  // Free text as given: the caller escapes what came from outside (printable) and paints the rest.
  void text(std::string line) { lines_.push_back({{}, std::move(line)}); }

  std::string render(bool color) const {
    std::vector<std::size_t> width(align_.size(), 0);
    for (const Line& l : lines_) {
      for (std::size_t i = 0; i < l.cells.size(); ++i) width[i] = std::max(width[i], display_width(l.cells[i].text));
    }
    std::string out;
    for (const Line& l : lines_) {
      if (l.cells.empty()) {
        out += l.free_text + "\n";
        continue;
      }
      std::string line;
      for (std::size_t i = 0; i < l.cells.size(); ++i) {
        const std::string& t = l.cells[i].text;
        const std::string pad(width[i] - display_width(t), ' ');
        const bool last = i + 1 == l.cells.size();
        const std::string painted = paint(t, l.cells[i].color, color);
        line += align_[i] == Align::right ? pad + painted : painted + (last ? "" : pad);
        if (!last) line += "  ";
      }
      while (!line.empty() && line.back() == ' ') line.pop_back();
      out += line + "\n";
    }
    return out;
  }

 private:
  std::vector<Align> align_;
  std::vector<Line> lines_;
};

bool is_problem(Verdict v) { return v != Verdict::pass && v != Verdict::skip; }

constexpr std::size_t kMaxCaseColumn = 72;

}  // namespace

// ---------------------------------------------------------------------------------------------

std::string render_summary(const SweepReport& report, bool color) {
  const SweepSummary s = report.summary();
  std::string_view c = kGreen;
  if (s.failed + s.errors + s.crashed > 0) c = kRed;
  else if (s.passed == 0) c = kYellow;  // nothing ran: not a success to celebrate
  return paint(report.summary_line(), color ? std::string(kBold) + std::string(c) : "", color);
}

std::string render_table(const SweepReport& report, const TextOptions& options) {
  const bool color = options.color;
  Table table({Align::left, Align::left, Align::right, Align::right, Align::right, Align::left, Align::left});
  table.row({{"case", kBold}, {"tensor", kBold}, {"max err", kBold}, {"tolerance", kBold}, {"err/tol", kBold},
             {"rule", kBold}, {"verdict", kBold}});
  bool any_case = false;
  for (const CaseReport& c : report.cases) {
    if (options.only_failures && !is_problem(c.verdict)) continue;
    any_case = true;
    // A case line longer than the column (semantic overrides) gets a line of its own, so one
    // unusual case does not push every row of the table off the screen.
    std::string line = display_name(c);
    if (line.size() > kMaxCaseColumn) {
      table.text(printable(line));
      line.clear();
    }
    if (c.tensors.empty()) {
      table.row({{line, {}}, {"-", {}}, {"", {}}, {"", {}}, {"", {}}, {"", {}},
                 {std::string(verdict_label(c.verdict)), verdict_color(c.verdict)}});
    }
    bool first = true;
    for (const TensorCheck& t : c.tensors) {
      const double ratio = tolerance_ratio(t);
      table.row({{first ? line : "", {}},
                 {t.name, {}},
                 {format_error(t.candidate.max_abs), {}},
                 {format_error(t.elem_tolerance), {}},
                 {format_ratio(ratio), ratio > 1 ? kRed : std::string_view{}},
                 {t.rule, kDim},
                 {std::string(verdict_label(t.verdict)), verdict_color(t.verdict)}});
      first = false;
    }
    // A case can fail, crash or error with every listed tensor passing (a determinism check,
    // a crash after the outputs): its own verdict must then be visible too.
    const bool tensors_tell = std::any_of(c.tensors.begin(), c.tensors.end(),
                                          [&](const TensorCheck& t) { return t.verdict == c.verdict; });
    if (!c.tensors.empty() && !tensors_tell) {
      table.row({{"", {}}, {"(case)", {}}, {"", {}}, {"", {}}, {"", {}}, {"", {}},
                 {std::string(verdict_label(c.verdict)), verdict_color(c.verdict)}});
    }
    const std::string indent = "    ";
    if (c.verdict == Verdict::fail) {
      for (const TensorCheck& t : c.tensors) {
        if (t.verdict == Verdict::fail && !t.reason.empty()) table.text(printable(indent + t.name + ": " + t.reason));
      }
      if (const std::string d = diagnosis_line(c); !d.empty()) {
        table.text(indent + paint("diagnosis:", kRed, color) + " " + printable(d));
      }
    }
    if (c.verdict != Verdict::pass && c.verdict != Verdict::fail) table.text(printable(indent + outcome_message(c)));
    else if (!c.error.empty()) table.text(printable(indent + c.error));
    if (is_problem(c.verdict) && !c.reproduce.empty()) table.text(printable(indent + "reproduce: " + c.reproduce));
  }
  std::string out = any_case ? table.render(color) : "";  // no header over an empty table
  if (options.summary) out += render_summary(report, color) + "\n";
  return out;
}

std::string progress_line(std::size_t done, std::size_t total, const CaseReport& c, bool color) {
  const std::size_t width = std::to_string(total).size();
  return fmt::format("[{:>{}}/{}] {} ... {} {}", done, width, total, display_name(c),
                     paint(verdict_label(c.verdict), verdict_color(c.verdict), color), format_seconds(c.seconds));
}

std::string render_decomposition(const CaseReport& c, bool color) {
  std::string out = "case:     " + display_name(c) + "\n";
  out += "backend:  " + c.backend + (c.device.empty() ? "" : " on " + c.device);
  if (!c.baseline.empty()) out += ", baseline " + c.baseline;
  out += "\nverdict:  " + paint(verdict_label(c.verdict), verdict_color(c.verdict), color) + "\n\n";

  const std::string first_stage = c.diagnosis ? c.diagnosis->first_stage : "";
  const std::string blamed = c.diagnosis ? c.diagnosis->component : "";
  Table table({Align::left, Align::right, Align::right, Align::right, Align::right, Align::right, Align::right,
               Align::right, Align::left, Align::left});
  table.row({{"stage/component", kBold}, {"max err", kBold}, {"at", kBold}, {"tolerance", kBold},
             {"err/tol", kBold}, {"row rel L2", kBold}, {"ulps", kBold}, {"mismatch", kBold}, {"verdict", kBold},
             {"", {}}});
  for (const DecompositionGroup& g : decomposition_groups(c)) {
    table.text(paint(g.title, kBold, color));
    for (const TensorCheck* t : g.rows) {
      const double ratio = tolerance_ratio(*t);
      std::string mark;
      if (!first_stage.empty() && t->name == first_stage) mark = "<- first divergence";
      if (!blamed.empty() && t->name == blamed) mark += (mark.empty() ? "" : ", ") + std::string("<- blamed");
      table.row({{"  " + t->name, {}},
                 {format_error(t->candidate.max_abs), {}},
                 {format_position(t->candidate.max_at), kDim},
                 {format_error(t->elem_tolerance), {}},
                 {format_ratio(ratio), ratio > 1 ? kRed : std::string_view{}},
                 {format_error(t->candidate.worst_row_rel_l2), {}},
                 {fmt::format("{:.3g}", t->candidate.max_ulps), {}},
                 {fmt::format("{:.2g}%", 100 * t->mismatch_fraction), {}},
                 {std::string(verdict_label(t->verdict)), verdict_color(t->verdict)},
                 {mark, kBold}});
    }
  }
  out += table.render(color);
  if (const std::string d = diagnosis_line(c); !d.empty()) out += "\ndiagnosis: " + d + "\n";
  if (c.verdict != Verdict::pass && c.verdict != Verdict::fail) out += "\n" + outcome_message(c) + "\n";
  if (!c.reproduce.empty()) out += "reproduce: " + c.reproduce + "\n";
  return out;
}

}  // namespace mhc::verify
