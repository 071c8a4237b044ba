// Helpers shared by every report renderer (terminal, JUnit, Markdown, HTML), so that the same
// number reads the same in every format: the err/tol ratio, number spellings, verdict labels,
// the one-line diagnosis and the grouping of decomposition rows.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "verify/report.hpp"

namespace mhc::verify {

// How far a tensor is from its tolerance: max(max_abs / elem_tolerance, worst-row rel L2 /
// row_tolerance), a tolerance of 0 meaning "not applied" for rows and "exact" for elements.
// Infinite when the NaN/Inf pattern differs. <= 1 passes under the baseline rule; under the fixed
// rule (element-wise atol + rtol*|golden|) it is a summary and the verdict is authoritative.
double tolerance_ratio(const TensorCheck& t);
// The worst ratio over a case's tensors (0 when it has none).
double worst_ratio(const CaseReport& c);

std::string format_error(double v);  // "1.23e-03", "0", "nan", "inf"
std::string format_ratio(double v);  // "0.31", "12.4", "3.1e+04", "inf"
std::string format_seconds(double s);  // "0.12s", "3.4s", "2m05s"
std::string format_position(const std::vector<std::int64_t>& index);  // "[7,1,33]", "-" when empty
std::string_view verdict_label(Verdict v);  // "PASS", "FAIL", "SKIP", "ERROR", "CRASH"

// "orientation: post out error grows with |H - H^T| (tensor out, component part.x, first stage
// tap.z; streams=1..3)". Empty when the case has no diagnosis.
std::string diagnosis_line(const CaseReport& c);
// What to print for a case that produced no tensor table: the error, skip reason or crash.
std::string outcome_message(const CaseReport& c);

// The rows of `mhc-verify decompose` and of the HTML decomposition table, in reading order:
// the judged tensors, then the forward stage taps (tap.*), then the gradient components (part.*).
struct DecompositionGroup {
  std::string title;  // "tensors", "forward stages", "gradient components"
  std::vector<const TensorCheck*> rows;
};
std::vector<DecompositionGroup> decomposition_groups(const CaseReport& c);

// `s` with its control characters other than newline and tab written as \xNN: text from a file's
// metadata or a program's output must not reach a terminal as escape sequences.
std::string printable(std::string_view s);

// Display width of UTF-8 text in terminal columns (one per code point; enough for our text).
std::size_t display_width(std::string_view s);

}  // namespace mhc::verify
