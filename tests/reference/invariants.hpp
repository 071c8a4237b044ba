// Invariant checks shared by the example tests and the RapidCheck properties. Each returns a
// scale-free error (max |a - b| / max(1, max |b|)) that must be at f64 rounding level.
#pragma once

#include <vector>

#include "cases.hpp"

namespace mhc::test {

// Largest |row sum - 1| and |column sum - 1| over every token's [n, n] matrix.
struct Marginals {
  double row = 0, col = 0;
};
Marginals marginals(const Tensor& h_res);

// Permuting the streams by pi (stream i of the new case is stream pi[i] of the old), together
// with phi's columns, the rows of its three blocks, bias, gamma and the upstream gradients,
// must permute every output and gradient the same way.
double equivariance_error(const PreCase& c, const std::vector<int>& pi);

// backward(a u1 + b u2) == a backward(u1) + b backward(u2), with c1's inputs and c1's and c2's
// upstream gradients as u1 and u2.
double linearity_error(const PreCase& c1, const PreCase& c2, double a, double b);

// dx = dx_apply + dx_mm + dx_norm, dx_mm = sum of block parts, dphi/dbias/dgamma = their blocks.
double components_error(const PreCase& c);

// max |a - b| / max(1, max |b|).
double scaled_error(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace mhc::test
