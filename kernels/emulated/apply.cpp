// Stage "apply": y[c] = sum_i h_pre[i] X[i, c], one token, f32 accumulation over streams.
#include "kernels/emulated/emulated_backend.hpp"

namespace mhc::emulated {

void EmulatedBackend::apply(const Problem& p, const Tensor&, std::int64_t, const TokenForward& tf, float* y) const {
  for (std::int64_t c = 0; c < p.C; ++c) y[c] = 0.0f;
  for (std::int64_t ii = 0; ii < p.n; ++ii) {
    const std::int64_t i = p.opt.reorder ? p.n - 1 - ii : ii;
    const float h = tf.h_pre[i];
    const float* xi = tf.v.data() + i * p.C;
    for (std::int64_t c = 0; c < p.C; ++c) y[c] += h * xi[c];
  }
}

}  // namespace mhc::emulated
