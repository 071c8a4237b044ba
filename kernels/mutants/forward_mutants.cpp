// Mutants whose bug lives in a forward step of pre: the projection's tiling and precision, the
// inverse RMS, the apply step's addressing, the Sinkhorn iteration count and the Sinkhorn start.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/bf16.hpp"
#include "kernels/emulated/reduce.hpp"
#include "kernels/emulated/resmap.hpp"
#include "kernels/mutants/mutant.hpp"

namespace mhc::mutants {
namespace {

using emulated::Problem;
using emulated::TokenBackward;
using emulated::TokenForward;

// mhc_ops: the tile width min(D, BLOCK) = 32 was narrower than the row, and masked loads past it
// read zeros, so only channels 0..31 of each stream reach the norm and the projection.
class Tile32Channels : public Mutant {
 public:
  using Mutant::Mutant;

 protected:
  void norm_proj(const Problem& p, TokenForward& tf) const override {
    constexpr std::int64_t kTile = 32;
    const std::vector<float> v = tf.v;
    for (std::int64_t i = 0; i < p.n; ++i) {
      for (std::int64_t c = kTile; c < p.C; ++c) tf.v[i * p.C + c] = 0.0f;
    }
    Mutant::norm_proj(p, tf);
    tf.v = v;  // the apply step and the backward read x correctly
  }
};

// mhc_ops: the accumulator of the projection's K loop was re-initialised in every iteration, so
// m keeps only the last BLOCK_K block of the K = n*C reduction.
class KLoopLastBlock : public Mutant {
 public:
  using Mutant::Mutant;

 protected:
  void norm_proj(const Problem& p, TokenForward& tf) const override {
    constexpr std::int64_t kBlock = 64;
    Mutant::norm_proj(p, tf);  // r is computed by its own (correct) reduction
    const std::int64_t last = (p.K - 1) / kBlock * kBlock;
    for (std::int64_t j = 0; j < p.M; ++j) {
      tf.m[j] = emulated::dot(tf.v.data() + last, p.phi_gemm.data() + j * p.K + last, p.K - last, p.opt.reorder);
    }
  }
};

// Megatron #4469 (the projection's precision switched at a K threshold) with FlagGems' bf16 GEMM
// (mhc_pre): above K = 128 the projection is a bf16 GEMM whose output m is rounded to bf16. Real
// kernels switch at a larger K; this one switches where the self-test's small cases cross it.
class Bf16GemmAboveK : public Mutant {
 public:
  using Mutant::Mutant;

 protected:
  void norm_proj(const Problem& p, TokenForward& tf) const override {
    constexpr std::int64_t kThreshold = 128;
    Mutant::norm_proj(p, tf);
    if (p.K <= kThreshold) return;
    for (float& m : tf.m) m = round_bf16(m);
  }
};

// TileOPs #712: eps added outside the rsqrt, r = 1/sqrt(s/K) + eps: inf on an all-zero token row,
// hence NaN in m_hat = r * 0 and everything after it.
class EpsOutsideRsqrt : public Mutant {
 public:
  using Mutant::Mutant;

 protected:
  float inv_rms_of(const Problem& p, float mean_square) const override {
    return 1.0f / std::sqrt(mean_square) + static_cast<float>(p.s.eps_rms);
  }
};

// TE / aiter / mlx-lm #13: an apply kernel unrolled for n = 4 (stream stride 4*C, four h_pre
// weights) dispatched for every n. Correct at n = 4; elsewhere it reads other tokens' rows
// (masked to zero past the end of x) and drops streams >= 4.
class FastPathN4Only : public Mutant {
 public:
  using Mutant::Mutant;

 protected:
  void apply(const Problem& p, const Tensor& x, std::int64_t t, const TokenForward& tf, float* y) const override {
    constexpr std::int64_t kStreams = 4;
    const std::int64_t C = p.C, total = x.numel();
    std::vector<float> row(C);
    std::fill(y, y + C, 0.0f);
    for (std::int64_t i = 0; i < std::min(kStreams, p.n); ++i) {
      const std::int64_t offset = (t * kStreams + i) * C;
      if (offset + C > total) continue;  // masked load
      emulated::widen_row(x, offset, C, row.data());
      for (std::int64_t c = 0; c < C; ++c) y[c] += tf.h_pre[i] * row[c];
    }
  }
};

// A Sinkhorn loop bound off by one: R - 1 iterations instead of R. The backward is the exact
// gradient of the forward it ran, so only H (and what follows from it) is wrong.
class SinkhornDroppedIteration : public Mutant {
 public:
  using Mutant::Mutant;

 protected:
  void resmap_fwd(const Problem& p, TokenForward& tf) const override {
    if (!is_sinkhorn(p)) return Mutant::resmap_fwd(p, tf);
    const std::int64_t nn = p.n * p.n, R = p.s.repeats;
    emulated::resmap_forward(p, tf.z_res(), static_cast<int>(R - 1), tf.iterates.data());
    // The kernel's last iterate is its H: fill the slot the full loop would have written.
    std::copy_n(tf.iterates.data() + (R - 1) * nn, nn, tf.iterates.data() + R * nn);
  }
  void resmap_bwd(const Problem& p, const TokenForward& tf, TokenBackward& tb) const override {
    if (!is_sinkhorn(p)) return Mutant::resmap_bwd(p, tf, tb);
    emulated::resmap_backward(p, tf.z_res(), p.s.repeats - 1, tf.iterates.data(), tb.dH.data(),
                              tb.dz.data() + 2 * p.n);
  }

 private:
  static bool is_sinkhorn(const Problem& p) {
    return p.s.resmap == ResMap::sinkhorn || p.s.resmap == ResMap::sinkhorn_exp;
  }
};

// eps_sk only inside the Sinkhorn divisions: the start is softmax(Z) without its + eps_sk. The
// backward is the exact gradient of that forward (eps shifts the start, not its derivative).
class SinkhornEpsStartDropped : public Mutant {
 public:
  using Mutant::Mutant;

 protected:
  void resmap_fwd(const Problem& p, TokenForward& tf) const override {
    if (p.s.resmap != ResMap::sinkhorn) return Mutant::resmap_fwd(p, tf);
    float* it = tf.iterates.data();
    emulated::resmap_forward(p, tf.z_res(), 0, it);  // the start alone: softmax + eps_sk
    for (std::int64_t i = 0; i < p.n * p.n; ++i) it[i] -= static_cast<float>(p.s.eps_sk);
    emulated::sinkhorn_iterations(p, static_cast<int>(p.s.repeats), it);
  }
};

}  // namespace

std::vector<MutantEntry> forward_mutants() {
  return {
      entry<Tile32Channels>({"tile_32_channels", "pre",
                             "only the first 32 channels of each stream row enter the norm and the projection "
                             "(tile narrower than the row, masked loads read zeros)",
                             "mhc_ops BLOCK_K = min(D, 32)", "h_post", "tap.m", "bounds_channels"}),
      entry<KLoopLastBlock>({"k_loop_last_block", "pre",
                             "the projection's K loop re-initialises its accumulator, keeping only the last "
                             "64-wide block of K = n*C",
                             "mhc_ops projection K loop", "h_post", "tap.m", "bounds_channels"}),
      entry<Bf16GemmAboveK>({"bf16_gemm_above_k", "pre",
                             "above K = 128 the projection switches to a bf16 GEMM: m is rounded to bf16",
                             "Megatron-LM #4469 (precision switched at a K threshold), FlagGems mhc_pre (bf16 GEMM)",
                             "h_post", "tap.m", "precision"}),
      entry<EpsOutsideRsqrt>({"eps_outside_rsqrt", "pre",
                              "eps_rms added outside the rsqrt (1/sqrt(s/K) + eps): inf/NaN on all-zero token "
                              "rows, wrong on near-zero rows",
                              "TileOPs #712", "h_post", "tap.inv_rms", "eps_placement"}),
      entry<FastPathN4Only>({"fast_path_n4_only", "pre",
                             "an apply fast path hard-coded for n = 4 (stream stride 4*C, four weights) is "
                             "dispatched for every n",
                             "TransformerEngine, ROCm aiter, mlx-lm #13", "y", "tap.y", "n_specific"}),
      entry<SinkhornDroppedIteration>({"sinkhorn_dropped_iteration", "pre",
                                       "the Sinkhorn loop runs R - 1 iterations instead of R",
                                       "Megatron-LM #5106 (Sinkhorn variants drifting)", "h_res", "tap.h_res",
                                       "sinkhorn_forward"}),
      entry<SinkhornEpsStartDropped>({"sinkhorn_eps_start_dropped", "pre",
                                      "eps_sk only inside the Sinkhorn divisions: the start is softmax(Z), not "
                                      "softmax(Z) + eps_sk",
                                      "sglang #36817 (eps moved inside a Sinkhorn division)", "h_res",
                                      "tap.sinkhorn.0", "eps_placement"}),
  };
}

}  // namespace mhc::mutants
