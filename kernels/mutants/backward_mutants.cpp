// Mutants whose bug lives in the pre backward: a missing factor, duplicate or low-precision
// accumulation over tokens, the implicit Sinkhorn gradient, and an eps that differs from the
// forward's.
#include <vector>

#include "core/bf16.hpp"
#include "kernels/emulated/resmap.hpp"
#include "kernels/mutants/mutant.hpp"

namespace mhc::mutants {
namespace {

using emulated::GradPartials;
using emulated::Problem;
using emulated::TokenBackward;
using emulated::TokenForward;

// mhc_ops: the res block of the dx kernel used dm_hat where it needed dm = r * dm_hat, so
// dx_mm_res (and dgamma's res part, which reuses it) misses inv_rms; dphi is a separate kernel and
// stays right.
class DxResMissingInvRms : public Mutant {
 public:
  using Mutant::Mutant;

 protected:
  void backproject(const Problem& p, const TokenForward& tf, TokenBackward& tb) const override {
    const std::vector<float> dm = tb.dm;
    for (std::int64_t j = 2 * p.n; j < p.M; ++j) tb.dm[j] = tb.dm_hat[j];
    Mutant::backproject(p, tf, tb);
    tb.dm = dm;
  }
};

// mhc_ops: dbias's res block was added inside a nested (i, j) loop over the n x n matrix, so every
// token's dz_res lands in dbias n^2 times.
class DbiasResN2 : public Mutant {
 public:
  using Mutant::Mutant;

 protected:
  void accumulate(const Problem& p, const TokenForward& tf, const TokenBackward& tb,
                  GradPartials& sums) const override {
    Mutant::accumulate(p, tf, tb, sums);
    for (std::int64_t extra = 1; extra < p.n * p.n; ++extra) {
      for (std::int64_t j = 2 * p.n; j < p.M; ++j) sums.dbias[j] += tb.dz[j];
    }
  }
};

// PaddleFleet #1794, Megatron #4469 review: the running sums over tokens of dbias and dalpha kept in
// bf16 registers, so every token's addition rounds to 8 significant bits.
class Bf16TokenAccumulation : public Mutant {
 public:
  using Mutant::Mutant;

 protected:
  void accumulate(const Problem& p, const TokenForward& tf, const TokenBackward& tb,
                  GradPartials& sums) const override {
    Mutant::accumulate(p, tf, tb, sums);
    for (float& b : sums.dbias) b = round_bf16(b);
    for (float& a : sums.dalpha) a = round_bf16(a);
  }
};

// FlagGems mhc_bwd, tilelang #1758, TileKernels #2: the implicit (fixed-point) Sinkhorn gradient
// used for a finite-iteration forward, even when the exact one is asked for.
class SinkhornImplicitGrad : public Mutant {
 public:
  using Mutant::Mutant;

 protected:
  void resmap_bwd(const Problem& p, const TokenForward& tf, TokenBackward& tb) const override {
    if (p.s.resmap != ResMap::sinkhorn && p.s.resmap != ResMap::sinkhorn_exp) return Mutant::resmap_bwd(p, tf, tb);
    emulated::sinkhorn_backward_implicit(p, tf.z_res(), p.s.repeats, tf.iterates.data(), tb.dH.data(),
                                         tb.dz.data() + 2 * p.n);
  }
};

// PaddleFleet #1055, Megatron #4527: the backward recomputes inv_rms with eps_rms = 1e-8 while the
// forward used 1e-6 (the backward's eps is 100x smaller than the semantics' one). Invisible
// unless s/K is comparable to eps, i.e. on near-zero token rows.
class BwdEpsRmsMismatch : public Mutant {
 public:
  using Mutant::Mutant;

  PreGrads pre_backward(const Semantics& s, const PreInputs& in, const PreUpstream& up, TensorMap* parts) override {
    Semantics backward_semantics = s;
    backward_semantics.eps_rms = s.eps_rms * 1e-2;
    return Mutant::pre_backward(backward_semantics, in, up, parts);
  }
};

}  // namespace

std::vector<MutantEntry> backward_mutants() {
  return {
      entry<DxResMissingInvRms>({"dx_res_missing_inv_rms", "pre",
                                 "the res block of dx (and of dgamma) uses dm_hat instead of inv_rms * dm_hat",
                                 "mhc_ops backward", "dx", "part.dx_mm_res", "missing_factor"}),
      entry<DbiasResN2>({"dbias_res_n2", "pre",
                         "dbias's res block is accumulated inside a nested n x n loop, n^2 times per token",
                         "mhc_ops backward", "dbias", "part.dbias_res", "duplicate_accumulation"}),
      entry<Bf16TokenAccumulation>({"bf16_token_accumulation", "pre",
                                    "dbias and dalpha are summed over tokens in bf16 instead of f32",
                                    "PaddleFleet #1794, Megatron-LM #4469 review", "dbias", "", "precision"}),
      entry<SinkhornImplicitGrad>({"sinkhorn_implicit_grad", "pre",
                                   "the implicit (fixed-point) Sinkhorn gradient is used for a finite-iteration "
                                   "forward instead of the exact unrolled one",
                                   "FlagGems mhc_bwd, tilelang #1758, TileKernels #2", "dbias", "part.dbias_res",
                                   "sinkhorn_backward"}),
      entry<BwdEpsRmsMismatch>({"bwd_eps_rms_mismatch", "pre",
                                "the backward recomputes inv_rms with eps_rms 100x smaller than the forward's "
                                "(1e-8 vs 1e-6)",
                                "PaddleFleet #1055, Megatron-LM #4527", "dx", "", "eps_placement"}),
  };
}

}  // namespace mhc::mutants
