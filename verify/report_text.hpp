// Terminal output: the result table of a sweep, the per-case progress line for stderr, and the
// stage/component table of `mhc-verify decompose`. Plain text; ANSI colour only when asked (the
// CLI decides from the TTY, NO_COLOR and --color).
#pragma once

#include <cstddef>
#include <string>

#include "verify/report.hpp"

namespace mhc::verify {

struct TextOptions {
  bool color = false;
  bool only_failures = false;  // omit the rows of passing and skipped cases (the summary still counts them)
  bool summary = true;         // end with the summary line
};

// One row per case and tensor (case, tensor, max err, tolerance, err/tol, rule, verdict) with
// aligned columns; under each failing case its diagnosis and reproduce command; under a skipped,
// erroneous or crashed case its reason; then the summary line.
std::string render_table(const SweepReport& report, const TextOptions& options = {});

// "12 passed, 1 failed, 2 skipped in 3.40s", coloured by the worst outcome when asked.
std::string render_summary(const SweepReport& report, bool color = false);

// "[ 12/240] pre T=137 n=4 C=1280 preset=deepseek seed=3 dist=normal ... PASS 0.12s"
// (`done` counts from 1; the counter is padded to the width of `total`).
std::string progress_line(std::size_t done, std::size_t total, const CaseReport& c, bool color = false);

// Every judged tensor, forward stage tap and gradient component of one case with its errors and
// verdict, the first diverging stage and the blamed component marked, then the diagnosis.
std::string render_decomposition(const CaseReport& c, bool color = false);

}  // namespace mhc::verify
