// The tolerance model (DESIGN.md "Tolerance model"; rationale and table in docs/tolerances.md).
//
// Baseline rule: err(candidate) <= k * err(baseline) + floor, where the baseline is the emulated
// backend in the candidate's precision with a different operation order, k = 2 for outputs and 3
// for gradients, floor = a few ulps of the tensor's dtype at its magnitude; applied to the
// element-wise maximum and to every token row's relative L2; NaN/Inf patterns must match.
// Fixed rule (assert_close style): |c - g| <= atol * s + rtol * |g|, s = sqrt(L / 1024) for a
// reduction of length L > 1024 (rounding error of a sum grows like sqrt(L)), else 1.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mhc::verify {

struct FixedTolerance {
  double atol = 0;
  double rtol = 0;
  bool operator==(const FixedTolerance&) const = default;
};

struct Tolerance {
  std::string profile = "baseline";
  // Baseline rule parameters.
  double k_output = 2.0;
  double k_gradient = 3.0;
  double floor_ulps = 2.0;
  // Fixed atol/rtol for every tensor (fixed profiles) and per-tensor overrides (any profile).
  std::optional<FixedTolerance> fixed;
  std::map<std::string, FixedTolerance> overrides;
  bool operator==(const Tolerance&) const = default;
};

// baseline, assert_close_bf16 (torch.testing defaults for bf16: atol 1e-5, rtol 1.6e-2),
// mhc_public_2.5e-2 and mhc_public_5e-2 (atol = rtol, the values of public mHC tests).
std::vector<std::string> tolerance_profile_names();
Tolerance tolerance_profile(std::string_view name);  // throws Error(invalid_input)

}  // namespace mhc::verify
