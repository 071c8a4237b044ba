// Stage "post" and its backward, one token. Both orientations go through one matrix A with
// out[a] = h_post[a] f + sum_b A[a, b] x[b]: A = H^T (transposed, DeepSeek) or A = H (plain).
#include <vector>

#include "kernels/emulated/emulated_backend.hpp"
#include "kernels/emulated/reduce.hpp"

namespace mhc::emulated {
namespace {

float mixing(const Problem& p, const float* H, std::int64_t a, std::int64_t b) {
  return p.s.orientation == Orientation::transposed ? H[b * p.n + a] : H[a * p.n + b];
}

}  // namespace

void EmulatedBackend::post_fwd(const Problem& p, const float* x, const float* f, const float* h_post, const float* H,
                               float* out) const {
  const std::int64_t n = p.n, C = p.C;
  for (std::int64_t a = 0; a < n; ++a) {
    float* o = out + a * C;
    if (!p.opt.reorder) {
      // h_post f first, then the streams in order
      for (std::int64_t c = 0; c < C; ++c) o[c] = h_post[a] * f[c];
      for (std::int64_t b = 0; b < n; ++b) {
        const float w = mixing(p, H, a, b);
        for (std::int64_t c = 0; c < C; ++c) o[c] += w * x[b * C + c];
      }
    } else {
      // the streams downwards, h_post f last
      for (std::int64_t c = 0; c < C; ++c) o[c] = 0.0f;
      for (std::int64_t b = n - 1; b >= 0; --b) {
        const float w = mixing(p, H, a, b);
        for (std::int64_t c = 0; c < C; ++c) o[c] += w * x[b * C + c];
      }
      for (std::int64_t c = 0; c < C; ++c) o[c] += h_post[a] * f[c];
    }
  }
}

void EmulatedBackend::post_bwd(const Problem& p, const float* x, const float* f, const float* h_post, const float* H,
                               const float* dout, float* dx, float* df, float* dh_post, float* dH) const {
  const std::int64_t n = p.n, C = p.C;
  const bool reorder = p.opt.reorder;
  for (std::int64_t c = 0; c < C; ++c) df[c] = 0.0f;
  for (std::int64_t aa = 0; aa < n; ++aa) {
    const std::int64_t a = reorder ? n - 1 - aa : aa;
    for (std::int64_t c = 0; c < C; ++c) df[c] += h_post[a] * dout[a * C + c];
  }
  for (std::int64_t a = 0; a < n; ++a) dh_post[a] = dot(f, dout + a * C, C, reorder);
  for (std::int64_t a = 0; a < n; ++a) {
    for (std::int64_t b = 0; b < n; ++b) {
      const float dA = dot(dout + a * C, x + b * C, C, reorder);
      if (p.s.orientation == Orientation::transposed) {
        dH[b * n + a] = dA;
      } else {
        dH[a * n + b] = dA;
      }
    }
  }
  for (std::int64_t b = 0; b < n; ++b) {
    float* g = dx + b * C;
    for (std::int64_t c = 0; c < C; ++c) g[c] = 0.0f;
    for (std::int64_t aa = 0; aa < n; ++aa) {
      const std::int64_t a = reorder ? n - 1 - aa : aa;
      const float w = mixing(p, H, a, b);
      for (std::int64_t c = 0; c < C; ++c) g[c] += w * dout[a * C + c];
    }
  }
}

}  // namespace mhc::emulated
