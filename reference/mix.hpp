// Per-token mixing (MATH.md "Forward pre" steps 3-6 and "Backward pre" steps 1-5): from the
// projection m and the inverse RMS r to z, h_pre, h_post, H, and back from their gradients to dm.
#pragma once

#include <vector>

#include "core/semantics.hpp"
#include "reference/inputs.hpp"
#include "reference/resmap.hpp"

namespace mhc::ref {

struct MixParams {
  MixParams(const Semantics& s, const Dims& d, const Tensor& alpha, const Tensor& bias);
  Semantics s;
  Dims d;
  std::vector<double> alpha;    // [3]
  std::vector<double> alpha_e;  // [M]: alpha0 x n, alpha1 x n, alpha2 x (M - 2n)
  std::vector<double> bias;     // [M]
  ResMapPlan resmap;
};

// One token's forward values; every pointer points at that token's row.
struct MixRow {
  double* m_hat;   // [M]
  double* z;       // [M]
  double* h_pre;   // [n]
  double* h_post;  // [n]
  double* H;       // [n, n], before the lite merge
};

// m [M], r: forward of steps 3-6. iterates: [R+1, n, n] or null.
void mix_forward(const MixParams& p, const double* m, double r, const MixRow& out, double* iterates);

// Gradients of one token from the forward values (z, h_pre, h_post, m, r) and the upstream
// gradients dh_pre (= sum_c X[i,c] dy[c]), dh_post [n], dh_res [n, n] (of the h_res output,
// merged when merged_residual). Writes dh_pre_total [n] (with the merge term), dz [M], dm [M];
// returns dr.
double mix_backward(const MixParams& p, const double* m, double r, const double* z, const double* h_pre,
                    const double* h_post, const double* dh_pre, const double* dh_post, const double* dh_res,
                    double* dh_pre_total, double* dz, double* dm);

// Inverse RMS r = 1/sqrt(sum(v^2)/K + eps_rms).
double inv_rms(double sum_sq, double K, double eps_rms);

}  // namespace mhc::ref
