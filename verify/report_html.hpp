// One self-contained HTML file (inline CSS and SVG; no script, no network): the summary, per
// case and tensor error bars against the tolerance (err/tol on a log scale), error-vs-shape plots
// per op (one series per tensor), and for each failure its diagnosis, reproduce command and
// stage/component decomposition table.
#pragma once

#include <string>
#include <string_view>

#include "verify/report.hpp"

namespace mhc::verify {

std::string render_html(const SweepReport& report);

// & < > " ' as entities: safe in element text and in quoted attribute values.
std::string html_escape(std::string_view s);

}  // namespace mhc::verify
