// Pre backward: per-token gradients in parallel (recomputing the forward, as the kernels do),
// sums over tokens in fixed token blocks added in block order (MATH.md "Backward pre").
#include <algorithm>
#include <cmath>
#include <string>

#include "core/bf16.hpp"
#include "kernels/emulated/emulated_backend.hpp"
#include "kernels/emulated/reduce.hpp"
#include "kernels/emulated/resmap.hpp"
#include "kernels/taps.hpp"

namespace mhc::emulated {
namespace {

// Token blocks for the sums over tokens: at least 64 tokens, at most 32 blocks, a function of T
// only (never of the thread count), so the summation order is fixed.
std::int64_t block_tokens(std::int64_t T) { return std::max<std::int64_t>(64, (T + 31) / 32); }

float sigmoid(float z) { return 1.0f / (1.0f + std::exp(-z)); }

// dphi' += sum_g dm_g^T v_g for a group of kTokenGroup tokens, each element summed in the
// group's (token) order: the same order as one token at a time, but one pass over dphi' per group,
// with a kColumnTile-wide tile of dphi' held in registers while the group streams past.
constexpr std::int64_t kTokenGroup = 16;
constexpr std::int64_t kColumnTile = 32;

void add_outer_products(const std::vector<float>& dm, const std::vector<float>& v, std::int64_t count,
                        std::int64_t M, std::int64_t K, float* dphi) {
  for (std::int64_t j = 0; j < M; ++j) {
    for (std::int64_t k0 = 0; k0 < K; k0 += kColumnTile) {
      const std::int64_t width = std::min(kColumnTile, K - k0);
      float* row = dphi + j * K + k0;
      float acc[kColumnTile];
      std::copy_n(row, width, acc);
      for (std::int64_t g = 0; g < count; ++g) {
        const float dmj = dm[g * M + j];
        const float* vg = v.data() + g * K + k0;
        for (std::int64_t kk = 0; kk < width; ++kk) acc[kk] += dmj * vg[kk];
      }
      std::copy_n(acc, width, row);
    }
  }
}

}  // namespace

TokenBackward::TokenBackward(const Problem& p)
    : dy(p.C),
      dh_post(p.n),
      dH(p.n * p.n),
      dh_pre(p.n),
      dz(p.M),
      dm_hat(p.M),
      dm(p.M),
      dx_apply(p.K),
      dx_norm(p.K),
      u(3 * p.K),
      dx_mm(3 * p.K) {}

GradPartials::GradPartials(const Problem& p)
    : dphi_folded(p.M * p.K, 0.0f), dgamma(p.gamma.empty() ? 0 : 3 * p.K, 0.0f), dbias(p.M, 0.0f) {}

void EmulatedBackend::resmap_bwd(const Problem& p, const TokenForward& tf, TokenBackward& tb) const {
  resmap_backward(p, tf.z_res(), p.s.repeats, tf.iterates.data(), tb.dH.data(), tb.dz.data() + 2 * p.n);
}

void EmulatedBackend::backproject(const Problem& p, const TokenForward&, TokenBackward& tb) const {
  const std::int64_t K = p.K;
  for (int b = 0; b < 3; ++b) {
    float* u = tb.u.data() + b * K;
    const std::int64_t lo = p.block_begin(b), hi = p.block_end(b);
    // u[k] = sum_j dm[j] phi[j, k] over the block's rows, in row order (reversed on reorder).
    std::fill(u, u + K, 0.0f);
    for (std::int64_t jj = lo; jj < hi; ++jj) {
      const std::int64_t j = p.opt.reorder ? hi - 1 - (jj - lo) : jj;
      const float dmj = tb.dm[j];
      const float* phi_j = p.phi.data() + j * K;
      for (std::int64_t k = 0; k < K; ++k) u[k] += dmj * phi_j[k];
    }
    float* dx_mm = tb.dx_mm.data() + b * K;
    // dm . phi' = gamma * (dm . phi): gamma is a per-column scale of phi'.
    for (std::int64_t k = 0; k < K; ++k) dx_mm[k] = p.gamma.empty() ? u[k] : p.gamma[k] * u[k];
  }
}

void EmulatedBackend::accumulate(const Problem& p, const TokenForward& tf, const TokenBackward& tb,
                                 GradPartials& sums) const {
  const std::int64_t K = p.K;
  for (std::int64_t j = 0; j < p.M; ++j) sums.dbias[j] += tb.dz[j];
  for (int b = 0; b < 3; ++b) {
    const std::int64_t lo = p.block_begin(b), hi = p.block_end(b);
    float acc = 0.0f;
    for (std::int64_t j = lo; j < hi; ++j) acc += tb.dz[j] * tf.m_hat[j];
    sums.dalpha[b] += acc;
  }
  if (!p.gamma.empty()) {
    for (int b = 0; b < 3; ++b) {
      float* g = sums.dgamma.data() + b * K;
      const float* u = tb.u.data() + b * K;
      for (std::int64_t k = 0; k < K; ++k) g[k] += tf.v[k] * u[k];
    }
  }
}

void EmulatedBackend::backward_token(const Problem& p, const TokenForward& tf, TokenBackward& tb) const {
  const std::int64_t n = p.n, C = p.C, K = p.K, M = p.M;
  const bool reorder = p.opt.reorder;
  // 1. apply: dh_pre[i] = X[i] . dy, dx_apply[i] = h_pre[i] dy
  for (std::int64_t i = 0; i < n; ++i) {
    tb.dh_pre[i] = dot(tf.v.data() + i * C, tb.dy.data(), C, reorder);
    for (std::int64_t c = 0; c < C; ++c) tb.dx_apply[i * C + c] = tf.h_pre[i] * tb.dy[c];
  }
  // mHC-lite merge H - h_post (x) h_pre: its gradient reaches h_post and h_pre.
  if (p.s.merged_residual) {
    for (std::int64_t i = 0; i < n; ++i) {
      float acc_post = 0.0f, acc_pre = 0.0f;
      for (std::int64_t j = 0; j < n; ++j) {
        acc_post += tb.dH[i * n + j] * tf.h_pre[j];
        acc_pre += tb.dH[j * n + i] * tf.h_post[j];
      }
      tb.dh_post[i] -= acc_post;
      tb.dh_pre[i] -= acc_pre;
    }
  }
  // 2-3. dz = [dh_pre sigma' | dh_post p sigma' | resmap backward]
  resmap_bwd(p, tf, tb);
  const float post_mult = static_cast<float>(p.s.post_mult);
  for (std::int64_t i = 0; i < n; ++i) {
    const float s_pre = sigmoid(tf.z[i]), s_post = sigmoid(tf.z[n + i]);
    tb.dz[i] = tb.dh_pre[i] * (s_pre * (1.0f - s_pre));
    tb.dz[n + i] = tb.dh_post[i] * (post_mult * (s_post * (1.0f - s_post)));
  }
  // 5. dm_hat, dm = r dm_hat, dr = dm_hat . m
  for (std::int64_t j = 0; j < M; ++j) {
    tb.dm_hat[j] = tb.dz[j] * p.alpha_e[j];
    tb.dm[j] = tf.inv_rms * tb.dm_hat[j];
  }
  float dr = 0.0f;
  for (std::int64_t jj = 0; jj < M; ++jj) {
    const std::int64_t j = reorder ? M - 1 - jj : jj;
    dr += tb.dm_hat[j] * tf.m[j];
  }
  tb.dinv_rms = dr;
  // 6. the path through the inverse RMS
  const float r = tf.inv_rms;
  const float coef = -(tb.dinv_rms * r * r * r / static_cast<float>(K));
  for (std::int64_t k = 0; k < K; ++k) tb.dx_norm[k] = coef * tf.v[k];
  // 7. the projection's transpose
  backproject(p, tf, tb);
}

PreGrads EmulatedBackend::pre_backward(const Semantics& s, const PreInputs& in, const PreUpstream& up,
                                       TensorMap* parts) {
  const Problem p = make_pre_problem(s, options_, in.x, in.phi, in.gamma, in.alpha, in.bias);
  const std::int64_t T = p.T, n = p.n, C = p.C, K = p.K, M = p.M, nn = n * n;
  expect_tensor(up.dy, "dy", {T, C});
  expect_tensor(up.dh_post, "dh_post", {T, n});
  expect_tensor(up.dh_res, "dh_res", {T, n, n});
  const bool reorder = p.opt.reorder, with_gamma = !p.gamma.empty();

  PreGrads g;
  g.dx = Tensor(DType::bf16, {T, n, C});
  g.dphi = Tensor(DType::f32, {M, K});
  g.dalpha = Tensor(DType::f32, {3});
  g.dbias = Tensor(DType::f32, {M});
  if (with_gamma) g.dgamma = Tensor(DType::f32, {K});

  Tensor p_dh_pre, p_dz, p_dr, p_apply, p_mm, p_norm;
  std::array<Tensor, 3> p_mm_block;
  if (parts) {
    p_dh_pre = Tensor(DType::f32, {T, n});
    p_dz = Tensor(DType::f32, {T, M});
    p_dr = Tensor(DType::f32, {T});
    p_apply = Tensor(DType::f32, {T, n, C});
    p_mm = Tensor(DType::f32, {T, n, C});
    p_norm = Tensor(DType::f32, {T, n, C});
    for (auto& t : p_mm_block) t = Tensor(DType::f32, {T, n, C});
  }

  const std::int64_t per_block = block_tokens(T);
  const std::int64_t blocks = (T + per_block - 1) / per_block;
  std::vector<GradPartials> sums(blocks, GradPartials(p));

#pragma omp parallel
  {
    TokenForward tf(p);
    TokenBackward tb(p);
    std::vector<float> dx_mm(K), dx(K), group_dm(kTokenGroup * M), group_v(kTokenGroup * K);
#pragma omp for schedule(static)
    for (std::int64_t blk = 0; blk < blocks; ++blk) {
      const std::int64_t lo = blk * per_block, hi = std::min(T, lo + per_block);
      std::int64_t grouped = 0;
      for (std::int64_t tt = lo; tt < hi; ++tt) {
        const std::int64_t t = reorder ? hi - 1 - (tt - lo) : tt;
        forward_token(p, in.x, t, tf);
        widen_row(up.dy, t * C, C, tb.dy.data());
        widen_row(up.dh_post, t * n, n, tb.dh_post.data());
        widen_row(up.dh_res, t * nn, nn, tb.dH.data());
        backward_token(p, tf, tb);
        accumulate(p, tf, tb, sums[blk]);
        std::copy_n(tb.dm.data(), M, group_dm.data() + grouped * M);
        std::copy_n(tf.v.data(), K, group_v.data() + grouped * K);
        if (++grouped == kTokenGroup || tt == hi - 1) {
          add_outer_products(group_dm, group_v, grouped, M, K, sums[blk].dphi_folded.data());
          grouped = 0;
        }

        // dx = dx_apply + dx_mm + dx_norm, dx_mm = pre + post + res blocks
        const float* mm_pre = tb.dx_mm.data();
        const float* mm_post = mm_pre + K;
        const float* mm_res = mm_post + K;
        for (std::int64_t k = 0; k < K; ++k) {
          dx_mm[k] = reorder ? (mm_res[k] + mm_post[k]) + mm_pre[k] : (mm_pre[k] + mm_post[k]) + mm_res[k];
        }
        if (p.opt.bf16_dx_stages) {
          // dx lives in a bf16 buffer between the three kernels that add to it.
          for (std::int64_t k = 0; k < K; ++k) {
            dx[k] = round_bf16(round_bf16(round_bf16(tb.dx_apply[k]) + dx_mm[k]) + tb.dx_norm[k]);
          }
        } else if (reorder) {
          for (std::int64_t k = 0; k < K; ++k) dx[k] = tb.dx_apply[k] + (dx_mm[k] + tb.dx_norm[k]);
        } else {
          for (std::int64_t k = 0; k < K; ++k) dx[k] = (tb.dx_apply[k] + dx_mm[k]) + tb.dx_norm[k];
        }
        store_row(g.dx, t * K, K, dx.data());

        if (parts) {
          std::copy_n(tb.dh_pre.data(), n, p_dh_pre.data<float>() + t * n);
          std::copy_n(tb.dz.data(), M, p_dz.data<float>() + t * M);
          p_dr.data<float>()[t] = tb.dinv_rms;
          std::copy_n(tb.dx_apply.data(), K, p_apply.data<float>() + t * K);
          std::copy_n(dx_mm.data(), K, p_mm.data<float>() + t * K);
          std::copy_n(tb.dx_norm.data(), K, p_norm.data<float>() + t * K);
          for (int b = 0; b < 3; ++b) std::copy_n(tb.dx_mm.data() + b * K, K, p_mm_block[b].data<float>() + t * K);
        }
      }
    }
  }

  // Sums over tokens: block partials added in block order (reversed on reorder).
  GradPartials total(p);
  for (std::int64_t bb = 0; bb < blocks; ++bb) {
    const GradPartials& part = sums[reorder ? blocks - 1 - bb : bb];
    for (std::int64_t j = 0; j < M; ++j) total.dbias[j] += part.dbias[j];
    for (int b = 0; b < 3; ++b) total.dalpha[b] += part.dalpha[b];
  }
#pragma omp parallel for schedule(static)
  for (std::int64_t idx = 0; idx < M * K; ++idx) {
    float acc = 0.0f;
    for (std::int64_t bb = 0; bb < blocks; ++bb) acc += sums[reorder ? blocks - 1 - bb : bb].dphi_folded[idx];
    // dphi = dphi' * gamma (the fold phi' = phi * gamma)
    g.dphi.data<float>()[idx] = with_gamma ? acc * p.gamma[idx % K] : acc;
  }
  if (with_gamma) {
    for (std::int64_t idx = 0; idx < 3 * K; ++idx) {
      float acc = 0.0f;
      for (std::int64_t bb = 0; bb < blocks; ++bb) acc += sums[reorder ? blocks - 1 - bb : bb].dgamma[idx];
      total.dgamma[idx] = acc;
    }
    for (std::int64_t k = 0; k < K; ++k) {
      g.dgamma.data<float>()[k] = (total.dgamma[k] + total.dgamma[K + k]) + total.dgamma[2 * K + k];
    }
  }
  std::copy_n(total.dbias.data(), M, g.dbias.data<float>());
  std::copy_n(total.dalpha.data(), 3, g.dalpha.data<float>());

  if (parts) {
    (*parts)[std::string(taps::dh_pre)] = std::move(p_dh_pre);
    (*parts)[std::string(taps::dz)] = std::move(p_dz);
    (*parts)[std::string(taps::dinv_rms)] = std::move(p_dr);
    (*parts)[std::string(taps::dx_apply)] = std::move(p_apply);
    (*parts)[std::string(taps::dx_mm)] = std::move(p_mm);
    (*parts)[std::string(taps::dx_norm)] = std::move(p_norm);
    for (int b = 0; b < 3; ++b) {
      const std::string_view name = taps::blocks[b];
      const std::int64_t lo = p.block_begin(b), rows = p.block_end(b) - lo;
      (*parts)[taps::dx_mm_block(name)] = std::move(p_mm_block[b]);
      Tensor dphi_b(DType::f32, {rows, K}), dbias_b(DType::f32, {rows});
      std::copy_n(g.dphi.data<float>() + lo * K, rows * K, dphi_b.data<float>());
      std::copy_n(total.dbias.data() + lo, rows, dbias_b.data<float>());
      (*parts)[taps::dphi_block(name)] = std::move(dphi_b);
      (*parts)[taps::dbias_block(name)] = std::move(dbias_b);
      if (with_gamma) {
        Tensor dgamma_b(DType::f32, {K});
        std::copy_n(total.dgamma.data() + b * K, K, dgamma_b.data<float>());
        (*parts)[taps::dgamma_block(name)] = std::move(dgamma_b);
      }
    }
  }
  return g;
}

}  // namespace mhc::emulated
