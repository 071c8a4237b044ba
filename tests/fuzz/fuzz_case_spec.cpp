// libFuzzer target: a case line as a user or an RPC gives it. CaseSpec::parse then validate_case
// (what every generator runs before allocating) must answer with a CaseSpec, an
// Error(invalid_input), or for a case over the memory limit an Error(environment); an accepted
// line must round-trip through its canonical form.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/error.hpp"
#include "verify/case.hpp"
#include "verify/casegen.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace mhc;
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  verify::CaseSpec spec;
  try {
    spec = verify::CaseSpec::parse(line);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::invalid_input) std::abort();
    return 0;
  }
  const verify::CaseSpec again = verify::CaseSpec::parse(spec.to_string());
  if (again != spec || again.to_string() != spec.to_string()) std::abort();
  try {
    // A fixed limit, so the outcome does not depend on the fuzzing machine's memory.
    verify::CaseLimits limits;
    limits.max_bytes = std::uint64_t{1} << 34;
    verify::validate_case(spec, limits);
  } catch (const Error& e) {
    // Over the memory limit is environment (a larger machine runs the case), the rest bad input.
    if (e.kind() != ErrorKind::invalid_input && e.kind() != ErrorKind::environment) std::abort();
  }
  return 0;
}
