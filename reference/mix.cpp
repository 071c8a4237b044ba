#include "reference/mix.hpp"

#include <cmath>

namespace mhc::ref {
namespace {

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

}  // namespace

MixParams::MixParams(const Semantics& s_, const Dims& d_, const Tensor& alpha_t, const Tensor& bias_t)
    : s(s_), d(d_), alpha(widen_all(alpha_t)), alpha_e(static_cast<std::size_t>(d_.M)), bias(widen_all(bias_t)),
      resmap(s_, d_.n) {
  for (std::int64_t j = 0; j < d.M; ++j) alpha_e[j] = alpha[j < d.n ? 0 : j < 2 * d.n ? 1 : 2];
}

double inv_rms(double sum_sq, double K, double eps_rms) { return 1.0 / std::sqrt(sum_sq / K + eps_rms); }

void mix_forward(const MixParams& p, const double* m, double r, const MixRow& out, double* iterates) {
  const std::int64_t n = p.d.n, M = p.d.M;
  for (std::int64_t j = 0; j < M; ++j) {
    out.m_hat[j] = r * m[j];
    out.z[j] = p.alpha_e[j] * out.m_hat[j] + p.bias[j];
  }
  for (std::int64_t i = 0; i < n; ++i) {
    out.h_pre[i] = sigmoid(out.z[i]) + p.s.eps_pre;
    out.h_post[i] = p.s.post_mult * sigmoid(out.z[n + i]);
  }
  p.resmap.forward(out.z + 2 * n, out.H, iterates);
}

double mix_backward(const MixParams& p, const double* m, double r, const double* z, const double* h_pre,
                    const double* h_post, const double* dh_pre, const double* dh_post, const double* dh_res,
                    double* dh_pre_total, double* dz, double* dm) {
  const std::int64_t n = p.d.n, M = p.d.M;
  for (std::int64_t i = 0; i < n; ++i) {
    // H_merged[i,j] = H[i,j] - h_post[i] h_pre[j] adds -dh_res^T h_post to h_pre's gradient
    // and -dh_res h_pre to h_post's.
    double merge_pre = 0, merge_post = 0;
    if (p.s.merged_residual) {
      for (std::int64_t k = 0; k < n; ++k) {
        merge_pre -= dh_res[k * n + i] * h_post[k];
        merge_post -= dh_res[i * n + k] * h_pre[k];
      }
    }
    dh_pre_total[i] = dh_pre[i] + merge_pre;
    const double sp = sigmoid(z[i]), so = sigmoid(z[n + i]);
    dz[i] = dh_pre_total[i] * sp * (1.0 - sp);
    dz[n + i] = (dh_post[i] + merge_post) * p.s.post_mult * so * (1.0 - so);
  }
  p.resmap.backward(z + 2 * n, dh_res, dz + 2 * n);
  double dr = 0;
  for (std::int64_t j = 0; j < M; ++j) {
    const double dm_hat = dz[j] * p.alpha_e[j];
    dm[j] = r * dm_hat;
    dr += dm_hat * m[j];
  }
  return dr;
}

}  // namespace mhc::ref
