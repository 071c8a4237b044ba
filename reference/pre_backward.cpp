// Pre backward (MATH.md "Backward pre") with its gradient components. Two passes over x: the
// forward recomputation fused with the per-token backward (dz, dm, dx) per token block, then
// dphi' = sum_t dm^T v by column chunks, each summing its token blocks in a fixed order.
#include <algorithm>
#include <array>
#include <memory>

#include "kernels/taps.hpp"
#include "reference/gemm.hpp"
#include "reference/pre_common.hpp"

namespace mhc::ref {
namespace {

// dphi' columns per parallel task and tokens per GEMM inside it (both fixed: they set the
// summation order, never the thread count).
constexpr std::int64_t kPhiChunk = 256;
constexpr std::int64_t kReduceBlock = 256;

// The row ranges [begin, end) of phi's pre, post and res blocks.
std::array<std::array<std::int64_t, 2>, 3> block_rows(const Dims& d) {
  return {{{0, d.n}, {d.n, 2 * d.n}, {2 * d.n, d.M}}};
}

// Optional dx components, allocated only when the caller asks for parts.
struct DxParts {
  Tensor apply, mm, norm;
  std::array<Tensor, 3> mm_block;
  explicit DxParts(const Dims& d)
      : apply(zeros({d.T, d.n, d.C})), mm(zeros({d.T, d.n, d.C})), norm(zeros({d.T, d.n, d.C})),
        mm_block{zeros({d.T, d.n, d.C}), zeros({d.T, d.n, d.C}), zeros({d.T, d.n, d.C})} {}
};

// dphi'[:, chunk] = sum over token blocks (in order) of dm_block^T v_block[:, chunk].
std::vector<double> dphi_folded(const Dims& d, const Tensor& x, const std::vector<double>& dm) {
  const std::int64_t T = d.T, M = d.M, K = d.K;
  std::vector<double> dphi(static_cast<std::size_t>(M * K), 0.0);
  const std::int64_t chunks = (K + kPhiChunk - 1) / kPhiChunk;
#pragma omp parallel if (worth_parallel(T * M * K))
  {
    std::vector<double> v(kReduceBlock * kPhiChunk);
#pragma omp for schedule(dynamic)
    for (std::int64_t ch = 0; ch < chunks; ++ch) {
      const std::int64_t k0 = ch * kPhiChunk, w = std::min(kPhiChunk, K - k0);
      for (std::int64_t t0 = 0; t0 < T; t0 += kReduceBlock) {
        const std::int64_t rows = std::min(kReduceBlock, T - t0);
        for (std::int64_t t = t0; t < t0 + rows; ++t) widen(x, t * K + k0, w, v.data() + (t - t0) * w);
        gemm_atb_acc(dm.data() + t0 * M, rows, M, v.data(), w, dphi.data() + k0, K);
      }
    }
  }
  return dphi;
}

}  // namespace

PreGradients pre_backward(const Semantics& s, const PreArgs& in, const PreUpstreamArgs& up, Named* parts) {
  const Dims d = dims_from_x(s, in.x);
  expect_pre_params(s, d, in.phi, in.gamma, in.alpha, in.bias);
  expect_shape(up.dy, "dy", {d.T, d.C});
  expect_shape(up.dh_post, "dh_post", {d.T, d.n});
  expect_shape(up.dh_res, "dh_res", {d.T, d.n, d.n});
  const std::int64_t T = d.T, n = d.n, C = d.C, K = d.K, M = d.M, nn = n * n;

  const MixParams p(s, d, in.alpha, in.bias);
  const std::vector<double> phi_f = folded_phi(s, d, in.phi, in.gamma);
  PreState st = sized_state(p, 0);
  const std::vector<double> dh_post = widen_all(up.dh_post), dh_res = widen_all(up.dh_res);

  std::vector<double> dz(T * M), dm(T * M), dr(T), dh_pre(T * n);
  PreGradients g;
  g.dx = zeros({T, n, C});
  double* dx = g.dx.data<double>();
  std::unique_ptr<DxParts> dxp = parts ? std::make_unique<DxParts>(d) : nullptr;
  const auto brows = block_rows(d);
  double* dx_apply = dxp ? dxp->apply.data<double>() : nullptr;
  double* dx_norm = dxp ? dxp->norm.data<double>() : nullptr;
  const std::int64_t blocks = (T + kTokenBlock - 1) / kTokenBlock;
#pragma omp parallel if (worth_parallel(T * M * K))
  {
    std::vector<double> v(kTokenBlock * K), dy(kTokenBlock * C), dh_pre_x(n);
#pragma omp for schedule(dynamic)
    for (std::int64_t b = 0; b < blocks; ++b) {
      const std::int64_t t0 = b * kTokenBlock, rows = std::min(kTokenBlock, T - t0);
      // The forward of this block (x widened into v once), then its backward.
      project_block(in.x, phi_f.data(), M, K, s.eps_rms, t0, rows, v.data(), st.m.data(), st.r.data());
      for (std::int64_t t = t0; t < t0 + rows; ++t) mix_token(p, st, t, 0);
      widen(up.dy, t0 * C, rows * C, dy.data());
      for (std::int64_t t = t0; t < t0 + rows; ++t) {
        const double* vt = v.data() + (t - t0) * K;
        const double* dyt = dy.data() + (t - t0) * C;
        for (std::int64_t i = 0; i < n; ++i) dh_pre_x[i] = dot(vt + i * C, dyt, C);  // sum_c X[i,c] dy[c]
        dr[t] = mix_backward(p, st.m.data() + t * M, st.r[t], st.z.data() + t * M, st.h_pre.data() + t * n,
                             st.h_post.data() + t * n, dh_pre_x.data(), dh_post.data() + t * n,
                             dh_res.data() + t * nn, dh_pre.data() + t * n, dz.data() + t * M, dm.data() + t * M);
      }
      gemm_ab(dm.data() + t0 * M, M, rows, M, phi_f.data(), K, K, dx + t0 * K, K);  // dx_mm = dm . phi'
      if (dxp) {
        std::copy(dx + t0 * K, dx + (t0 + rows) * K, dxp->mm.data<double>() + t0 * K);
        for (std::size_t blk = 0; blk < 3; ++blk) {
          const std::int64_t r0 = brows[blk][0], rn = brows[blk][1] - brows[blk][0];
          gemm_ab(dm.data() + t0 * M + r0, M, rows, rn, phi_f.data() + r0 * K, K, K,
                  dxp->mm_block[blk].data<double>() + t0 * K, K);
        }
      }
      for (std::int64_t t = t0; t < t0 + rows; ++t) {
        const double* vt = v.data() + (t - t0) * K;
        const double* dyt = dy.data() + (t - t0) * C;
        const double r = st.r[t];
        const double norm_coef = -(dr[t] * r * r * r / static_cast<double>(K));  // dx_norm = coef . v
        double* dxt = dx + t * K;
        for (std::int64_t i = 0; i < n; ++i) {
          const double h = st.h_pre[t * n + i];
          for (std::int64_t c = 0; c < C; ++c) {
            const std::int64_t k = i * C + c;
            dxt[k] += h * dyt[c];
            dxt[k] += norm_coef * vt[k];
            if (dxp) {
              dx_apply[t * K + k] = h * dyt[c];
              dx_norm[t * K + k] = norm_coef * vt[k];
            }
          }
        }
      }
    }
  }

  // Reductions over tokens, sequential in token order.
  std::vector<double> dbias(M, 0.0), dalpha(3, 0.0);
  for (std::int64_t t = 0; t < T; ++t) {
    for (std::int64_t j = 0; j < M; ++j) {
      dbias[j] += dz[t * M + j];
      dalpha[j < n ? 0 : j < 2 * n ? 1 : 2] += dz[t * M + j] * st.m_hat[t * M + j];
    }
  }
  g.dbias = to_tensor(dbias, {M});
  g.dalpha = to_tensor(dalpha, {3});

  // gamma unfold: dphi = dphi' . gamma, dgamma[k] = sum_rows dphi'[row,k] phi[row,k] (per block).
  std::vector<double> dphi = dphi_folded(d, in.x, dm);
  std::array<std::vector<double>, 3> dgamma_block;
  if (s.use_gamma) {
    const std::vector<double> phi_raw = widen_all(in.phi), gamma = widen_all(in.gamma);
    std::vector<double> dgamma(K, 0.0);
    for (std::size_t blk = 0; blk < 3; ++blk) {
      dgamma_block[blk].assign(K, 0.0);
      for (std::int64_t row = brows[blk][0]; row < brows[blk][1]; ++row) {
        for (std::int64_t k = 0; k < K; ++k) dgamma_block[blk][k] += dphi[row * K + k] * phi_raw[row * K + k];
      }
      for (std::int64_t k = 0; k < K; ++k) dgamma[k] += dgamma_block[blk][k];
    }
    for (std::int64_t row = 0; row < M; ++row) {
      for (std::int64_t k = 0; k < K; ++k) dphi[row * K + k] *= gamma[k];
    }
    g.dgamma = to_tensor(dgamma, {K});
  }
  g.dphi = to_tensor(dphi, {M, K});

  if (parts) {
    Named& P = *parts;
    P[std::string(taps::dh_pre)] = to_tensor(dh_pre, {T, n});
    P[std::string(taps::dz)] = to_tensor(dz, {T, M});
    P[std::string(taps::dinv_rms)] = to_tensor(dr, {T});
    P[std::string(taps::dx_apply)] = std::move(dxp->apply);
    P[std::string(taps::dx_mm)] = std::move(dxp->mm);
    P[std::string(taps::dx_norm)] = std::move(dxp->norm);
    for (std::size_t blk = 0; blk < 3; ++blk) {
      const std::string_view name = taps::blocks[blk];
      const std::int64_t r0 = brows[blk][0], r1 = brows[blk][1];
      P[taps::dx_mm_block(name)] = std::move(dxp->mm_block[blk]);
      P[taps::dphi_block(name)] =
          to_tensor(std::vector<double>(dphi.begin() + r0 * K, dphi.begin() + r1 * K), {r1 - r0, K});
      P[taps::dbias_block(name)] = to_tensor(std::vector<double>(dbias.begin() + r0, dbias.begin() + r1), {r1 - r0});
      if (s.use_gamma) P[taps::dgamma_block(name)] = to_tensor(dgamma_block[blk], {K});
    }
  }
  return g;
}

}  // namespace mhc::ref
