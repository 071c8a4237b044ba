// Decomposition and diagnosis of a case (DESIGN.md "Decomposition and diagnosis"): compare every
// tap and gradient component, isolate stages by feeding them golden inputs, and name the bug class
// of BUGS.md from the shape of the error (which streams, channels, tokens, blocks) and from probes
// (alternative semantics, perturbed inputs, n = 4).
#pragma once

#include <string>
#include <vector>

#include "kernels/backend.hpp"
#include "verify/case.hpp"
#include "verify/report.hpp"
#include "verify/tolerance.hpp"

namespace mhc::verify {

// What the verifier saw while running the candidate, before looking at numbers.
struct Findings {
  std::string modified_input;    // an input the candidate wrote into
  std::string nondeterministic;  // a result that differed bitwise between two runs
};

struct DiagnoseInput {
  Op op;
  const Semantics& semantics;
  Shape shape;
  const TensorMap& inputs;
  const TensorMap& golden;     // golden results
  const TensorMap& candidate;  // candidate results
  const TensorMap& baseline;   // baseline results (empty under fixed tolerances)
  const std::vector<TensorCheck>& checks;
  const Findings& findings;
  Backend* candidate_backend;  // null when the results came from a file
  Backend& golden_backend;
  Backend& baseline_backend;
  const Tolerance& tolerance;
  const CaseSpec* spec = nullptr;  // null for check files (no regeneration probes)
};

struct Decomposition {
  std::vector<TensorCheck> rows;  // taps, parts and isolated stages, in pipeline order
  Diagnosis diagnosis;
};

Decomposition decompose_and_diagnose(const DiagnoseInput& in, bool failed);

}  // namespace mhc::verify
