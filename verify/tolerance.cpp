#include "verify/tolerance.hpp"

#include "core/error.hpp"

namespace mhc::verify {

std::vector<std::string> tolerance_profile_names() {
  return {"baseline", "assert_close_bf16", "mhc_public_2.5e-2", "mhc_public_5e-2"};
}

Tolerance tolerance_profile(std::string_view name) {
  Tolerance t;
  t.profile = std::string(name);
  if (name == "baseline") return t;
  if (name == "assert_close_bf16") t.fixed = FixedTolerance{1e-5, 1.6e-2};
  else if (name == "mhc_public_2.5e-2") t.fixed = FixedTolerance{2.5e-2, 2.5e-2};
  else if (name == "mhc_public_5e-2") t.fixed = FixedTolerance{5e-2, 5e-2};
  else {
    invalid_input("unknown tolerance profile \"" + std::string(name) +
                  "\" (choose baseline, assert_close_bf16, mhc_public_2.5e-2 or mhc_public_5e-2)");
  }
  return t;
}

}  // namespace mhc::verify
