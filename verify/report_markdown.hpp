// Markdown summary for GitHub job summaries ($GITHUB_STEP_SUMMARY) and merge-request comments:
// the summary line, one section per failing case (diagnosis, reproduce command, tensor table),
// the errors, crashes and skips, and every case in a collapsed <details> table. Long lists are cut
// (50 failure sections, 200 other outcomes, 1000 table rows) to stay under GitHub's 1 MiB limit.
#pragma once

#include <string>
#include <string_view>

#include "verify/report.hpp"

namespace mhc::verify {

std::string render_markdown(const SweepReport& report);

// Text that renders literally in GitHub-flavoured Markdown, also inside a table cell: Markdown
// punctuation is backslash-escaped, & < > become entities, line breaks become spaces.
std::string markdown_escape(std::string_view s);

}  // namespace mhc::verify
