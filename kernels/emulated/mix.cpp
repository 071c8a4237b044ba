// Stage "mix": m_hat = r m, z = alpha_e m_hat + b, h_pre and h_post, one token.
#include <cmath>

#include "kernels/emulated/emulated_backend.hpp"
#include "kernels/emulated/resmap.hpp"

namespace mhc::emulated {

void EmulatedBackend::mix(const Problem& p, TokenForward& tf) const {
  for (std::int64_t j = 0; j < p.M; ++j) {
    tf.m_hat[j] = tf.inv_rms * tf.m[j];
    tf.z[j] = p.alpha_e[j] * tf.m_hat[j] + p.bias[j];
  }
  const float eps_pre = static_cast<float>(p.s.eps_pre);
  const float post_mult = static_cast<float>(p.s.post_mult);
  for (std::int64_t i = 0; i < p.n; ++i) {
    tf.h_pre[i] = 1.0f / (1.0f + std::exp(-tf.z[i])) + eps_pre;
    tf.h_post[i] = post_mult * (1.0f / (1.0f + std::exp(-tf.z[p.n + i])));
  }
}

void EmulatedBackend::resmap_fwd(const Problem& p, TokenForward& tf) const {
  resmap_forward(p, tf.z_res(), p.s.repeats, tf.iterates.data());
}

}  // namespace mhc::emulated
