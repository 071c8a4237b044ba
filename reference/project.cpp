#include <algorithm>

#include "reference/gemm.hpp"
#include "reference/pre_common.hpp"

namespace mhc::ref {

std::vector<double> folded_phi(const Semantics& s, const Dims& d, const Tensor& phi, const Tensor& gamma) {
  std::vector<double> folded = widen_all(phi);
  if (s.use_gamma) {
    const std::vector<double> g = widen_all(gamma);
    for (std::int64_t row = 0; row < d.M; ++row) {
      for (std::int64_t k = 0; k < d.K; ++k) folded[row * d.K + k] *= g[k];
    }
  }
  return folded;
}

void apply_token(const double* v, const double* h_pre, std::int64_t n, std::int64_t C, double* y) {
  for (std::int64_t c = 0; c < C; ++c) y[c] = 0.0;
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t c = 0; c < C; ++c) y[c] += h_pre[i] * v[i * C + c];
  }
}

void project_block(const Tensor& x, const double* phi, std::int64_t M, std::int64_t K, double eps_rms, std::int64_t t0,
                   std::int64_t rows, double* v, double* m, double* r) {
  widen(x, t0 * K, rows * K, v);
  gemm_abt(v, rows, phi, M, K, m + t0 * M);  // m = v . phi'^T
  for (std::int64_t t = t0; t < t0 + rows; ++t) {
    const double* vt = v + (t - t0) * K;
    r[t] = inv_rms(dot(vt, vt, K), static_cast<double>(K), eps_rms);
  }
}

PreState sized_state(const MixParams& p, int iters) {
  const std::int64_t T = p.d.T, n = p.d.n, M = p.d.M, nn = n * n;
  PreState st;
  st.m.resize(T * M);
  st.r.resize(T);
  st.m_hat.resize(T * M);
  st.z.resize(T * M);
  st.h_pre.resize(T * n);
  st.h_post.resize(T * n);
  st.H.resize(T * nn);
  st.iterates.resize(T * iters * nn);
  return st;
}

void mix_token(const MixParams& p, PreState& st, std::int64_t t, int iters) {
  const std::int64_t n = p.d.n, M = p.d.M, nn = n * n;
  const MixRow row{st.m_hat.data() + t * M, st.z.data() + t * M, st.h_pre.data() + t * n, st.h_post.data() + t * n,
                   st.H.data() + t * nn};
  mix_forward(p, st.m.data() + t * M, st.r[t], row, iters ? st.iterates.data() + t * iters * nn : nullptr);
}

void project(const Dims& d, const Tensor& x, const std::vector<double>& phi_folded, double eps_rms,
             std::vector<double>& m, std::vector<double>& r) {
  const std::int64_t T = d.T, M = d.M, K = d.K;
  m.assign(static_cast<std::size_t>(T * M), 0.0);
  r.assign(static_cast<std::size_t>(T), 0.0);
  const std::int64_t blocks = (T + kTokenBlock - 1) / kTokenBlock;
#pragma omp parallel if (worth_parallel(T * M * K))
  {
    std::vector<double> v(kTokenBlock * K);
#pragma omp for schedule(dynamic)
    for (std::int64_t b = 0; b < blocks; ++b) {
      project_block(x, phi_folded.data(), M, K, eps_rms, b * kTokenBlock, std::min(kTokenBlock, T - b * kTokenBlock), v.data(), m.data(),
                    r.data());
    }
  }
}

PreState mix_all(const MixParams& p, std::vector<double> m, std::vector<double> r, bool keep_iterates) {
  const int iters = keep_iterates ? p.resmap.iterate_count() : 0;
  PreState st = sized_state(p, iters);
  st.m = std::move(m);
  st.r = std::move(r);
  const std::int64_t T = p.d.T;
#pragma omp parallel for schedule(static) if (worth_parallel(T * p.d.n * p.d.n * (p.resmap.iterate_count() + 1) * 8))
  for (std::int64_t t = 0; t < T; ++t) mix_token(p, st, t, iters);
  return st;
}

// One pass over x: each token block is projected, mixed and (with y) applied while its widened
// rows are in cache.
PreState project_and_mix(const MixParams& p, const Tensor& x, const std::vector<double>& phi_folded,
                         bool keep_iterates, double* y) {
  const Dims& d = p.d;
  const std::int64_t T = d.T, M = d.M, K = d.K;
  const int iters = keep_iterates ? p.resmap.iterate_count() : 0;
  PreState st = sized_state(p, iters);
  const std::int64_t blocks = (T + kTokenBlock - 1) / kTokenBlock;
#pragma omp parallel if (worth_parallel(T * M * K))
  {
    std::vector<double> v(kTokenBlock * K);
#pragma omp for schedule(dynamic)
    for (std::int64_t b = 0; b < blocks; ++b) {
      const std::int64_t t0 = b * kTokenBlock, rows = std::min(kTokenBlock, T - t0);
      project_block(x, phi_folded.data(), M, K, p.s.eps_rms, t0, rows, v.data(), st.m.data(), st.r.data());
      for (std::int64_t t = t0; t < t0 + rows; ++t) {
        mix_token(p, st, t, iters);
        if (y) apply_token(v.data() + (t - t0) * K, st.h_pre.data() + t * d.n, d.n, d.C, y + t * d.C);
      }
    }
  }
  return st;
}

void apply_all(const Dims& d, const Tensor& x, const std::vector<double>& h_pre, double* y) {
#pragma omp parallel if (worth_parallel(d.T * d.K))
  {
    std::vector<double> v(d.K);
#pragma omp for schedule(dynamic, 16)
    for (std::int64_t t = 0; t < d.T; ++t) {
      widen(x, t * d.K, d.K, v.data());
      apply_token(v.data(), h_pre.data() + t * d.n, d.n, d.C, y + t * d.C);
    }
  }
}

std::vector<double> h_res_output(const Semantics& s, const Dims& d, const PreState& st) {
  std::vector<double> out = st.H;
  if (!s.merged_residual) return out;
  const std::int64_t n = d.n;
  for (std::int64_t t = 0; t < d.T; ++t) {
    for (std::int64_t i = 0; i < n; ++i) {
      for (std::int64_t j = 0; j < n; ++j) out[(t * n + i) * n + j] -= st.h_post[t * n + i] * st.h_pre[t * n + j];
    }
  }
  return out;
}

}  // namespace mhc::ref
