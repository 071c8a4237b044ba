// Internal to decompose.cpp / diagnose.cpp.
#pragma once

#include <vector>

#include "verify/diagnose.hpp"

namespace mhc::verify {

struct TapSet {
  TensorMap candidate, golden, baseline;
};

Diagnosis diagnose(const DiagnoseInput& d, const std::vector<TensorCheck>& rows, const TapSet& taps);

}  // namespace mhc::verify
