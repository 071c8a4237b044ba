// libFuzzer target: verify/sweep.hpp parse_sweep on arbitrary text. Whatever the YAML, the
// loader answers with a Sweep or an Error(invalid_input) ("FILE:LINE:COLUMN: ..."); an accepted
// sweep holds at most kMaxSweepCases cases, no duplicates, and every case line parses back to
// the same case.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "verify/sweep.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace mhc;
  const std::string_view yaml(reinterpret_cast<const char*>(data), size);
  verify::Sweep sweep;
  try {
    sweep = verify::parse_sweep(yaml, "fuzz.yaml");
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::invalid_input) std::abort();
    return 0;
  }
  if (sweep.cases.size() > verify::kMaxSweepCases) std::abort();
  std::set<std::string> lines;
  for (const auto& c : sweep.cases) {
    const std::string line = c.spec.to_string();
    if (!lines.insert(line).second) std::abort();                 // a duplicate case
    if (verify::CaseSpec::parse(line) != c.spec) std::abort();     // the line is not the case
  }
  return 0;
}
