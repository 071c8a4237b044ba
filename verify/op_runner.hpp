// Runs one op (forward then backward) on a backend with the case's tensors held in one map under
// the interchange names (DESIGN.md), so the verifier, `check` files and diagnosis probes share a
// single path.
#pragma once

#include <string>
#include <vector>

#include "kernels/backend.hpp"
#include "verify/case.hpp"
#include "verify/compare.hpp"

namespace mhc::verify {

// Inputs and upstream gradients: pre x, phi, [gamma], alpha, bias, dy, dh_post, dh_res;
// post x, f, h_post, h_res, dout.
std::vector<std::string> input_names(Op op, const Semantics& s);
// Tensors from a file or an upload may hold NaN/Inf. The golden propagates them, a candidate that
// does the same "matches" it, and a check would pass without having compared anything there:
// Error(invalid_input) naming the first non-finite element of an input. Absent inputs are left to
// run_op.
void require_finite_inputs(Op op, const Semantics& s, const TensorMap& tensors);
// Outputs then gradients: pre y, h_post, h_res, dx, dphi, dalpha, dbias, [dgamma];
// post out, dx, df, dh_post, dh_res.
std::vector<std::string> result_names(Op op, const Semantics& s);
TensorRole role_of(const std::string& name);  // outputs vs gradients (k = 2 vs 3)
// False for parameter gradients (dphi, dalpha, dbias, dgamma and their block parts), which have
// no token axis.
bool is_per_token(const std::string& name);
// Length of the longest reduction that produces `name` (for the fixed rule's scaling).
std::int64_t reduction_length(Op op, const std::string& name, const Shape& shape, const Semantics& s);

struct OpRun {
  TensorMap results;               // outputs and gradients by name
  TensorMap taps;                  // taps and parts, when asked
  std::string modified_input;      // non-empty when the backend wrote into an input ("x")
  // Wall time of the backend's forward and backward calls alone: not the copies of the inputs
  // handed to it or the inputs-unchanged check, which are verification work (docs/verifier.md).
  double backend_seconds = 0;
};

// Throws mhc::Error for missing or malformed inputs (naming the tensor). The backend gets copies of
// the inputs; modified_input names the first one it wrote into.
OpRun run_op(Backend& backend, Op op, const Semantics& s, const TensorMap& inputs, bool with_taps);

// run_op without the copies (the verifier's runs at full size: a copy of every input per backend
// call was a measurable part of the verification overhead): the backend gets `inputs`' own
// tensors, which are compared with `pristine` (the same tensors, copied once per case) afterwards.
// When the backend wrote into one, modified_input names it and every input is restored from
// `pristine`, so the next backend sees the case's inputs again.
OpRun run_op_in_place(Backend& backend, Op op, const Semantics& s, TensorMap& inputs, const TensorMap& pristine);

// Shape of a case from its tensors (x is [T, n, C]); throws Error(invalid_input).
Shape shape_of(const TensorMap& inputs);

}  // namespace mhc::verify
