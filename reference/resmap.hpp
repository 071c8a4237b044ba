// The residual maps of MATH.md ("Residual maps") for one token, and their backward:
// sinkhorn (softmax + eps, eps in every division), sinkhorn-exp (exp, no eps), identity, and
// mHC-lite's convex combination of the n! permutation matrices.
#pragma once

#include <cstdint>
#include <vector>

#include "core/semantics.hpp"

namespace mhc::ref {

class ResMapPlan {
 public:
  ResMapPlan(const Semantics& s, std::int64_t n);

  // Number of res logits: n*n, or n! for the permutation map.
  std::int64_t logits() const { return logits_; }
  // Number of Sinkhorn iterate taps (R + 1), or 0 for the maps without iterates.
  int iterate_count() const;

  // z_res: logits() values, row-major [n, n] for the matrix maps. H: [n, n].
  // iterates (Sinkhorn maps only, may be null): [R+1, n, n], k = 0 the matrix before any
  // normalisation, k >= 1 the matrix after the k-th column normalisation.
  void forward(const double* z_res, double* H, double* iterates) const;

  // dz_res = dL/dz_res given dH = dL/dH. Sinkhorn maps: the exact unrolled gradient, or the
  // implicit fixed-point gradient when Semantics::sinkhorn_grad == implicit.
  void backward(const double* z_res, const double* dH, double* dz_res) const;

 private:
  bool is_sinkhorn() const;
  // Runs the Sinkhorn chain; states holds [steps+1, n, n]: states 0 is the matrix before any
  // normalisation, state s+1 the output of step s. S receives the row softmax (sinkhorn only).
  void sinkhorn_states(const double* z_res, std::vector<double>& states, std::vector<double>& S) const;
  int sinkhorn_steps() const;
  bool step_is_row(int step) const;
  void sinkhorn_exact_backward(const double* z_res, const double* dH, double* dz_res) const;
  void sinkhorn_implicit_backward(const double* z_res, const double* dH, double* dz_res) const;

  Semantics s_;
  std::int64_t n_;
  std::int64_t logits_;
  std::vector<std::vector<int>> perms_;  // itertools.permutations(range(n)) order
};

}  // namespace mhc::ref
