// Stage "norm_proj": m = v . phi'^T and the inverse RMS r, one token.
#include <cmath>

#include "core/bf16.hpp"
#include "kernels/emulated/emulated_backend.hpp"
#include "kernels/emulated/reduce.hpp"

namespace mhc::emulated {

float EmulatedBackend::inv_rms_of(const Problem& p, float mean_square) const {
  return 1.0f / std::sqrt(mean_square + static_cast<float>(p.s.eps_rms));
}

void EmulatedBackend::norm_proj(const Problem& p, TokenForward& tf) const {
  const bool reorder = p.opt.reorder;
  for (std::int64_t j = 0; j < p.M; ++j) {
    float mj = dot(tf.v.data(), p.phi_gemm.data() + j * p.K, p.K, reorder);
    // FlagGems' bf16 GEMM hands m to the next step as bf16.
    if (p.opt.gemm == EmulatedOptions::Gemm::bf16_out) mj = round_bf16(mj);
    tf.m[j] = mj;
  }
  const float sum_sq = dot(tf.v.data(), tf.v.data(), p.K, reorder);
  tf.inv_rms = inv_rms_of(p, sum_sq / static_cast<float>(p.K));
}

}  // namespace mhc::emulated
