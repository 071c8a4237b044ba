// Hand-made reports covering every outcome (pass, fail with diagnosis and decomposition, skip,
// error, crash) for the renderer, JSON and merge tests.
#pragma once

#include <cstdint>
#include <string>

#include "verify/report.hpp"

namespace mhc::verify::testing {

// A judged tensor; `ratio` = max_abs / elem_tolerance.
TensorCheck check(const std::string& name, double ratio, bool pass);

CaseReport passing_case(std::int64_t T = 13, std::int64_t n = 4, std::int64_t C = 64, std::uint64_t seed = 0);
// pre backward missing inv_rms on the res block: dx and dgamma fail, diagnosis "missing_factor"
// blaming part.dx_mm_res, with forward taps and gradient components.
CaseReport failing_case();
// post with H instead of H^T: fails with a diagnosis but no decomposition.
CaseReport orientation_case();
CaseReport skipped_case();
CaseReport error_case();
CaseReport crashed_case();

// One sweep with every outcome and several T values (for the error-vs-shape plots); cases carry
// their sweep index.
SweepReport sample_sweep();

}  // namespace mhc::verify::testing
