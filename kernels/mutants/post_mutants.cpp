// Mutants of the post op's use of H: the orientation bugs, H ignored altogether, and H read without
// its token dimension.
#include <algorithm>
#include <vector>

#include "kernels/mutants/mutant.hpp"

namespace mhc::mutants {
namespace {

using emulated::Problem;

std::vector<float> transposed(const float* H, std::int64_t n) {
  std::vector<float> t(n * n);
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t j = 0; j < n; ++j) t[j * n + i] = H[i * n + j];
  }
  return t;
}

// Megatron-LM #4957, NeMo Automodel #2154, AMD Primus #1040, PaddleFleet #1238: post computes
// H x where the convention is H^T x. Hidden by any symmetric H.
class PostHNotTransposed : public Mutant {
 public:
  using Mutant::Mutant;

 protected:
  void post_fwd(const Problem& p, const float* x, const float* f, const float* h_post, const float* H,
                float* out) const override {
    Mutant::post_fwd(p, x, f, h_post, transposed(H, p.n).data(), out);
  }
};

// The forward is right but the backward kernel indexes H the other way: dx uses the wrong
// orientation and dh_res is stored transposed.
class PostBwdHTransposed : public Mutant {
 public:
  using Mutant::Mutant;

 protected:
  void post_bwd(const Problem& p, const float* x, const float* f, const float* h_post, const float* H,
                const float* dout, float* dx, float* df, float* dh_post, float* dH) const override {
    Mutant::post_bwd(p, x, f, h_post, transposed(H, p.n).data(), dout, dx, df, dh_post, dH);
    const std::vector<float> dH_t = transposed(dH, p.n);
    std::copy(dH_t.begin(), dH_t.end(), dH);
  }
};

// lucidrains/hyper-connections #8: H is computed and then discarded; the streams pass through
// unmixed (identity), so out does not depend on H and dh_res is zero.
class HResDiscarded : public Mutant {
 public:
  using Mutant::Mutant;

 protected:
  void post_fwd(const Problem& p, const float* x, const float* f, const float* h_post, const float*,
                float* out) const override {
    Mutant::post_fwd(p, x, f, h_post, identity(p.n).data(), out);
  }
  void post_bwd(const Problem& p, const float* x, const float* f, const float* h_post, const float*,
                const float* dout, float* dx, float* df, float* dh_post, float* dH) const override {
    Mutant::post_bwd(p, x, f, h_post, identity(p.n).data(), dout, dx, df, dh_post, dH);
    std::fill(dH, dH + p.n * p.n, 0.0f);
  }

 private:
  static std::vector<float> identity(std::int64_t n) {
    std::vector<float> I(n * n, 0.0f);
    for (std::int64_t i = 0; i < n; ++i) I[i * n + i] = 1.0f;
    return I;
  }
};

// mHC.cu #7: the backward kernel indexes H without its token (batch) dimension, so every token's dx
// is mixed with token 0's H. A test whose tokens share one H cannot see it; dh_res, which does not
// read H, stays right.
class PostBwdHToken0 : public Mutant {
 public:
  using Mutant::Mutant;

  PostGrads post_backward(const Semantics& s, const PostInputs& in, const PostUpstream& up,
                          TensorMap* parts) override {
    const Tensor& H = in.h_res;
    if (!H.defined() || H.rank() != 3 || H.dim(0) < 2) return Mutant::post_backward(s, in, up, parts);
    PostInputs shared = in;
    const std::int64_t nn = H.dim(1) * H.dim(2);
    for (std::int64_t i = nn; i < H.numel(); ++i) shared.h_res.set(i, H.get(i % nn));
    return Mutant::post_backward(s, shared, up, parts);
  }
};

}  // namespace

std::vector<MutantEntry> post_mutants() {
  return {
      entry<PostHNotTransposed>({"post_h_not_transposed", "post",
                                 "post forward mixes the streams with H instead of H^T",
                                 "Megatron-LM #4957, NeMo Automodel #2154, AMD Primus #1040, PaddleFleet #1238",
                                 "out", "", "orientation"}),
      entry<PostBwdHTransposed>({"post_bwd_h_transposed", "post",
                                 "post backward indexes H transposed: dx uses the wrong orientation and dh_res "
                                 "comes out transposed",
                                 "Megatron-LM #4957 (backward of the same convention mix-up)", "dx", "",
                                 "orientation"}),
      entry<HResDiscarded>({"h_res_discarded", "post",
                            "H is computed and then discarded: the streams pass through unmixed and dh_res is 0",
                            "lucidrains/hyper-connections #8", "out", "", "ignored_input"}),
      entry<PostBwdHToken0>({"post_bwd_h_token0", "post",
                             "post backward reads H without its token dimension: every token's dx is mixed with "
                             "token 0's H",
                             "mHC.cu #7", "dx", "", "batch_dropped"}),
  };
}

}  // namespace mhc::mutants
