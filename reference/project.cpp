#include <algorithm>

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

void project(const Dims& d, const Tensor& x, const std::vector<double>& phi_folded, double eps_rms,
             std::vector<double>& m, std::vector<double>& r) {
  const std::int64_t T = d.T, M = d.M, K = d.K;
  m.assign(static_cast<std::size_t>(T * M), 0.0);
  r.assign(static_cast<std::size_t>(T), 0.0);
  const ConstRowMap phi(phi_folded.data(), M, K);
  const std::int64_t blocks = (T + kTokenBlock - 1) / kTokenBlock;
#pragma omp parallel if (worth_parallel(T * M * K))
  {
    std::vector<double> v(kTokenBlock * K);
#pragma omp for schedule(static)
    for (std::int64_t b = 0; b < blocks; ++b) {
      const std::int64_t t0 = b * kTokenBlock, rows = std::min(kTokenBlock, T - t0);
      widen(x, t0 * K, rows * K, v.data());
      RowMap(m.data() + t0 * M, rows, M).noalias() = ConstRowMap(v.data(), rows, K) * phi.transpose();
      for (std::int64_t t = t0; t < t0 + rows; ++t) {
        const double* vt = v.data() + (t - t0) * K;
        double sum_sq = 0;
        for (std::int64_t k = 0; k < K; ++k) sum_sq += vt[k] * vt[k];
        r[t] = inv_rms(sum_sq, static_cast<double>(K), eps_rms);
      }
    }
  }
}

PreState mix_all(const MixParams& p, std::vector<double> m, std::vector<double> r, bool keep_iterates) {
  const Dims& d = p.d;
  const std::int64_t T = d.T, n = d.n, M = d.M, nn = n * n;
  const int iters = keep_iterates ? p.resmap.iterate_count() : 0;
  PreState st;
  st.m = std::move(m);
  st.r = std::move(r);
  st.m_hat.resize(T * M);
  st.z.resize(T * M);
  st.h_pre.resize(T * n);
  st.h_post.resize(T * n);
  st.H.resize(T * nn);
  st.iterates.resize(T * iters * nn);
#pragma omp parallel for schedule(static) if (worth_parallel(T * nn * (p.resmap.iterate_count() + 1) * 8))
  for (std::int64_t t = 0; t < T; ++t) {
    const MixRow row{st.m_hat.data() + t * M, st.z.data() + t * M, st.h_pre.data() + t * n,
                     st.h_post.data() + t * n, st.H.data() + t * nn};
    mix_forward(p, st.m.data() + t * M, st.r[t], row, iters ? st.iterates.data() + t * iters * nn : nullptr);
  }
  return st;
}

PreState project_and_mix(const MixParams& p, const Tensor& x, const std::vector<double>& phi_folded,
                         bool keep_iterates) {
  std::vector<double> m, r;
  project(p.d, x, phi_folded, p.s.eps_rms, m, r);
  return mix_all(p, std::move(m), std::move(r), keep_iterates);
}

std::vector<double> apply_all(const Dims& d, const Tensor& x, const std::vector<double>& h_pre) {
  std::vector<double> y(static_cast<std::size_t>(d.T * d.C));
#pragma omp parallel if (worth_parallel(d.T * d.K))
  {
    std::vector<double> v(d.K);
#pragma omp for schedule(static)
    for (std::int64_t t = 0; t < d.T; ++t) {
      widen(x, t * d.K, d.K, v.data());
      apply_token(v.data(), h_pre.data() + t * d.n, d.n, d.C, y.data() + t * d.C);
    }
  }
  return y;
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
