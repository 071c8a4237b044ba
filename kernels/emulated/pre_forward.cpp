// Pre forward driver: tokens in parallel, each through norm_proj -> mix -> resmap -> apply.
#include <algorithm>
#include <string>

#include "kernels/emulated/emulated_backend.hpp"
#include "kernels/emulated/resmap.hpp"
#include "kernels/taps.hpp"

namespace mhc::emulated {

TokenForward::TokenForward(const Problem& p)
    : n(p.n),
      v(p.K),
      m(p.M),
      m_hat(p.M),
      z(p.M),
      h_pre(p.n),
      h_post(p.n),
      iterates(static_cast<std::size_t>(p.iterate_count() * p.n * p.n)) {}

void EmulatedBackend::forward_token(const Problem& p, const Tensor& x, std::int64_t t, TokenForward& tf) const {
  widen_row(x, t * p.K, p.K, tf.v.data());
  norm_proj(p, tf);
  mix(p, tf);
  resmap_fwd(p, tf);
}

PreOutputs EmulatedBackend::pre_forward(const Semantics& s, const PreInputs& in, TensorMap* taps) {
  const Problem p = make_pre_problem(s, options_, in.x, in.phi, in.gamma, in.alpha, in.bias);
  const std::int64_t T = p.T, n = p.n, C = p.C, M = p.M, nn = n * n;
  PreOutputs out{Tensor(DType::bf16, {T, C}), Tensor(DType::f32, {T, n}), Tensor(DType::f32, {T, n, n})};

  // Taps are f32 [T, ...] tensors; filled only when asked for.
  const int iterates = p.iterate_count();
  const bool sinkhorn = s.resmap == ResMap::sinkhorn || s.resmap == ResMap::sinkhorn_exp;
  Tensor tap_m, tap_r, tap_m_hat, tap_z, tap_h_pre, tap_h_post, tap_h_res, tap_y, tap_it;
  if (taps) {
    tap_m = Tensor(DType::f32, {T, M});
    tap_r = Tensor(DType::f32, {T});
    tap_m_hat = Tensor(DType::f32, {T, M});
    tap_z = Tensor(DType::f32, {T, M});
    tap_h_pre = Tensor(DType::f32, {T, n});
    tap_h_post = Tensor(DType::f32, {T, n});
    tap_h_res = Tensor(DType::f32, {T, n, n});
    tap_y = Tensor(DType::f32, {T, C});
    if (sinkhorn) tap_it = Tensor(DType::f32, {T, iterates, n, n});  // split per iterate below
  }

#pragma omp parallel
  {
    TokenForward tf(p);
    std::vector<float> y(C), h_res(nn);
#pragma omp for schedule(static)
    for (std::int64_t t = 0; t < T; ++t) {
      forward_token(p, in.x, t, tf);
      apply(p, in.x, t, tf, y.data());
      store_row(out.y, t * C, C, y.data());
      std::copy_n(tf.h_post.data(), n, out.h_post.data<float>() + t * n);
      const float* H = tf.H();
      for (std::int64_t i = 0; i < n; ++i) {
        for (std::int64_t j = 0; j < n; ++j) {
          // mHC-lite's merge: the sublayer keeps its own residual, so H loses h_post (x) h_pre.
          h_res[i * n + j] = s.merged_residual ? H[i * n + j] - tf.h_post[i] * tf.h_pre[j] : H[i * n + j];
        }
      }
      std::copy_n(h_res.data(), nn, out.h_res.data<float>() + t * nn);
      if (taps) {
        std::copy_n(tf.m.data(), M, tap_m.data<float>() + t * M);
        tap_r.data<float>()[t] = tf.inv_rms;
        std::copy_n(tf.m_hat.data(), M, tap_m_hat.data<float>() + t * M);
        std::copy_n(tf.z.data(), M, tap_z.data<float>() + t * M);
        std::copy_n(tf.h_pre.data(), n, tap_h_pre.data<float>() + t * n);
        std::copy_n(tf.h_post.data(), n, tap_h_post.data<float>() + t * n);
        std::copy_n(H, nn, tap_h_res.data<float>() + t * nn);
        float* ty = tap_y.data<float>() + t * C;
        widen_row(out.y, t * C, C, ty);  // the bf16 y the kernel stores
        if (sinkhorn) std::copy_n(tf.iterates.data(), iterates * nn, tap_it.data<float>() + t * iterates * nn);
      }
    }
  }

  if (taps) {
    (*taps)[std::string(taps::m)] = std::move(tap_m);
    (*taps)[std::string(taps::inv_rms)] = std::move(tap_r);
    (*taps)[std::string(taps::m_hat)] = std::move(tap_m_hat);
    (*taps)[std::string(taps::z)] = std::move(tap_z);
    (*taps)[std::string(taps::h_pre)] = std::move(tap_h_pre);
    (*taps)[std::string(taps::h_post)] = std::move(tap_h_post);
    (*taps)[std::string(taps::h_res)] = std::move(tap_h_res);
    (*taps)[std::string(taps::y)] = std::move(tap_y);
    for (int k = 0; sinkhorn && k < iterates; ++k) {
      Tensor it(DType::f32, {T, n, n});
      for (std::int64_t t = 0; t < T; ++t) {
        std::copy_n(tap_it.data<float>() + (t * iterates + k) * nn, nn, it.data<float>() + t * nn);
      }
      (*taps)[taps::sinkhorn(k)] = std::move(it);
    }
  }
  return out;
}

}  // namespace mhc::emulated
