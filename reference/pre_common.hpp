// Shared by the pre forward and backward (internal to reference/): the per-token forward state,
// the fixed token blocking, and the projection + mixing pass.
#pragma once

#include <cstdint>
#include <vector>

#include "reference/golden.hpp"
#include "reference/inputs.hpp"
#include "reference/mix.hpp"
#include "reference/parallel.hpp"

namespace mhc::ref {

// Every forward intermediate, token dimension first.
struct PreState {
  std::vector<double> m;         // [T, M]
  std::vector<double> r;         // [T]
  std::vector<double> m_hat;     // [T, M]
  std::vector<double> z;         // [T, M]
  std::vector<double> h_pre;     // [T, n]
  std::vector<double> h_post;    // [T, n]
  std::vector<double> H;         // [T, n, n] before the lite merge
  std::vector<double> iterates;  // [T, R+1, n, n] when requested, else empty
};

// phi' = phi . gamma (gamma broadcast over rows), or phi without gamma: [M, K].
std::vector<double> folded_phi(const Semantics& s, const Dims& d, const Tensor& phi, const Tensor& gamma);

// A state with every per-token array sized for p.d.T tokens (iterates: `iters` per token).
PreState sized_state(const MixParams& p, int iters);

// Steps 1-2 for tokens [t0, t0 + rows): widens them into v ([rows, K]) and fills their m, r.
void project_block(const Tensor& x, const double* phi, std::int64_t M, std::int64_t K, double eps_rms, std::int64_t t0,
                   std::int64_t rows, double* v, double* m, double* r);

// Steps 3-6 for token t of the state (m and r filled).
void mix_token(const MixParams& p, PreState& st, std::int64_t t, int iters);

// Steps 1-2 for every token: m = v . phi'^T [T, M] and r [T].
void project(const Dims& d, const Tensor& x, const std::vector<double>& phi_folded, double eps_rms,
             std::vector<double>& m, std::vector<double>& r);

// Steps 3-6 for every token, from m and r (moved into the state).
PreState mix_all(const MixParams& p, std::vector<double> m, std::vector<double> r, bool keep_iterates);

// Steps 1-6, and step 7 into y ([T, C]) when y is non-null.
PreState project_and_mix(const MixParams& p, const Tensor& x, const std::vector<double>& phi_folded,
                         bool keep_iterates, double* y);

// Step 7 for every token into y [T, C].
void apply_all(const Dims& d, const Tensor& x, const std::vector<double>& h_pre, double* y);

// y[c] = sum_i h_pre[i] X[i, c] for one token (v = X[t] flattened).
void apply_token(const double* v, const double* h_pre, std::int64_t n, std::int64_t C, double* y);

// The h_res output: H, or lite's H_merged = H - h_post (x) h_pre.
std::vector<double> h_res_output(const Semantics& s, const Dims& d, const PreState& st);

}  // namespace mhc::ref
