// JUnit XML for CI systems (Jenkins, GitLab, GitHub test reporters): one <testsuite> per sweep,
// one <testcase> per case (classname "<op>.<preset>", name = the case line), <failure> with the
// diagnosis as its message and the per-tensor table as its text, <skipped>, and <error> for cases
// that could not run or crashed.
#pragma once

#include <string>
#include <string_view>

#include "verify/report.hpp"

namespace mhc::verify {

std::string render_junit(const SweepReport& report);

// XML 1.0 escaping: & < > " ' become entities; in attribute values line breaks and tabs become
// character references too (parsers would otherwise normalise them to spaces); characters XML 1.0
// cannot carry at all (other C0 controls, ill-formed UTF-8) become U+FFFD.
std::string xml_escape(std::string_view s, bool attribute = true);

}  // namespace mhc::verify
