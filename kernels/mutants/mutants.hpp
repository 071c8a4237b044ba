// Deliberately broken variants of the emulated backend, one per bug class that happened in
// public mHC kernels (../shared/design/BUGS.md). The self-test (verify/) must catch every one and
// localise it to the expected tensor, component and diagnosis.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/backend.hpp"

namespace mhc {

struct MutantInfo {
  std::string name;         // "post_h_not_transposed"; the backend is "mutant:<name>"
  std::string op;           // "pre" or "post": the op whose sweep exposes it
  std::string description;  // one sentence: what the kernel does wrong
  std::string source;       // where it happened in public code (BUGS.md)
  // Expected localisation: the tensor that must fail ("out", "dx", "dh_res", "dbias", ...), the
  // finest component that must fail ("part.dx_mm_res", or empty when the tensor has none), and the
  // diagnosis tag the verifier must give. Tags (shared with verify/diagnosis):
  //   orientation, eps_placement, sinkhorn_forward, sinkhorn_backward, bounds_channels,
  //   bounds_streams, bounds_tail, missing_factor, duplicate_accumulation, ignored_input,
  //   batch_dropped, precision, nondeterminism, n_specific, inputs_modified
  // and "crash" for a mutant that kills its process (the self-test skips it; the server's
  // worker-isolation tests use it).
  std::string tensor;
  std::string component;
  std::string diagnosis;
};

const std::vector<MutantInfo>& mutant_catalog();
// name without the "mutant:" prefix; throws Error(invalid_input) listing the valid names.
std::unique_ptr<Backend> make_mutant_backend(std::string_view name);

}  // namespace mhc
