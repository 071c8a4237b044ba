// Check requests as `mhc-verify check` would build them from a file that another implementation
// wrote: the case's inputs plus that implementation's outputs and gradients.
#pragma once

#include <string>

#include "verify/case.hpp"
#include "verify/verifier.hpp"

namespace mhc::verify::testing {

// Inputs of `spec` and the results `backend` computes from them under `semantics`
// (spec.semantics when not given: a backend that got the convention wrong is simulated by passing
// another one).
CheckRequest produced_by(const std::string& backend, const CaseSpec& spec);
CheckRequest produced_by(const std::string& backend, const CaseSpec& spec, const Semantics& semantics);

// Index of element [t, i, c] of a [T, n, C] tensor.
inline std::int64_t at(const Shape& s, std::int64_t t, std::int64_t i, std::int64_t c) {
  return (t * s.n + i) * s.C + c;
}

}  // namespace mhc::verify::testing
