// Random f64 inputs for the golden's tests, and the scalar losses whose gradients the golden's
// backward must equal.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/semantics.hpp"
#include "core/tensor.hpp"
#include "reference/golden.hpp"

namespace mhc::test {

struct PreCase {
  Semantics s;
  std::int64_t T = 0, n = 0, C = 0, M = 0;
  Tensor x, phi, gamma, alpha, bias;  // inputs (f64)
  Tensor dy, dh_post, dh_res;         // upstream gradients (f64)
  ref::PreArgs args() const { return {x, phi, gamma, alpha, bias}; }
  ref::PreUpstreamArgs upstream() const { return {dy, dh_post, dh_res}; }
};

// Inputs that keep sigmoids and softmaxes away from saturation: x ~ N(0,1), phi ~ N(0,1/K),
// alpha ~ U(0.5,1.5), bias ~ N(0,0.5), gamma ~ U(0.5,1.5); upstream gradients ~ N(0,1).
// `logit_scale` widens the res logits (asymmetric, far from doubly stochastic H).
PreCase make_pre_case(const Semantics& s, std::int64_t T, std::int64_t n, std::int64_t C, std::uint64_t seed,
                      double logit_scale = 1.0);

struct PostCase {
  Semantics s;
  std::int64_t T = 0, n = 0, C = 0;
  Tensor x, f, h_post, h_res, dout;
  ref::PostArgs args() const { return {x, f, h_post, h_res}; }
};
PostCase make_post_case(const Semantics& s, std::int64_t T, std::int64_t n, std::int64_t C, std::uint64_t seed);

// <dy, y> + <dh_post, h_post> + <dh_res, h_res>: its gradient is what pre_backward returns.
double pre_loss(const PreCase& c);
// <dout, out>.
double post_loss(const PostCase& c);

// Largest |a - b| / (atol + rtol |b|) over all elements (<= 1 passes), and where.
struct Closeness {
  double ratio = 0;
  std::int64_t index = -1;
};
Closeness closeness(const std::vector<double>& a, const std::vector<double>& b, double atol, double rtol);

std::vector<double> values(const Tensor& t);

}  // namespace mhc::test
