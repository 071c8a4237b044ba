// Test inputs for the backends, generated with a fixed-seed std::mt19937 (tests/kernels may not
// depend on verify/casegen), and the error measures the tests assert on.
#pragma once

#include <cstdint>
#include <string>

#include "kernels/backend.hpp"

namespace mhc::test {

struct Case {
  Shape shape;
  Semantics s;
  std::uint32_t seed = 1;
};

// x ~ N(0, 1) in bf16, phi ~ N(0, 1/K), alpha ~ [0.8, 1.2, 1.6], bias ~ N(0, 0.5), gamma ~ 1 + N(0, 0.1)
// (present iff s.use_gamma). Logit scale `logit_scale` multiplies phi's res rows (wide logits make
// H asymmetric and far from doubly stochastic).
PreInputs pre_inputs(const Case& c, double logit_scale = 1.0);
PreUpstream pre_upstream(const Case& c);
// h_post ~ U(0, 2), H ~ U(0, 1) per token (asymmetric), f ~ N(0, 1) bf16.
PostInputs post_inputs(const Case& c);
PostUpstream post_upstream(const Case& c);

// max |a - ref| / max(max |ref|, 1e-30), over all elements (NaN in a: +inf).
double rel_max_error(const Tensor& a, const Tensor& ref);
double max_abs(const Tensor& t);
// True when a and b hold the same values (compared after widening; NaN == NaN).
bool same_values(const Tensor& a, const Tensor& b);

}  // namespace mhc::test
