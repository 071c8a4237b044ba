// The emulated backend as a class: the drivers (pre/post forward/backward, stages) walk the
// tokens and call one protected virtual per kernel step. A mutant (kernels/mutants/) derives from
// it and overrides exactly the step its bug lives in, so the production steps below carry no bug
// switches and a mutant's arithmetic equals the emulated one everywhere else.
//
// Parallelism and determinism: forward steps and per-token gradients run under OpenMP over
// tokens; sums over tokens (dphi, dalpha, dbias, dgamma) are accumulated per fixed block of
// tokens (the partition depends only on T) and the block partials are added in block order, so
// results are bit-identical for any thread count.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/backend.hpp"
#include "kernels/emulated/emulated.hpp"
#include "kernels/emulated/problem.hpp"

namespace mhc::emulated {

// One token's forward state (reused across the tokens one thread handles).
struct TokenForward {
  explicit TokenForward(const Problem& p);
  std::int64_t n;
  std::vector<float> v;         // [K] float(x[t]) flattened
  std::vector<float> m;         // [M] v . phi'^T
  float inv_rms = 0.0f;         // r
  std::vector<float> m_hat;     // [M]
  std::vector<float> z;         // [M]
  std::vector<float> h_pre;     // [n]
  std::vector<float> h_post;    // [n]
  std::vector<float> iterates;  // [R + 1, n, n] Sinkhorn iterates, or [n, n]; the last is H
  const float* H() const { return iterates.data() + iterates.size() - n * n; }
  const float* z_res() const { return z.data() + 2 * n; }
};

// One token's backward state.
struct TokenBackward {
  explicit TokenBackward(const Problem& p);
  std::vector<float> dy;        // [C]
  std::vector<float> dh_post;   // [n] upstream, plus the merge term
  std::vector<float> dH;        // [n, n] upstream gradient of H
  std::vector<float> dh_pre;    // [n]
  std::vector<float> dz;        // [M]
  std::vector<float> dm_hat;    // [M]
  std::vector<float> dm;        // [M]
  float dinv_rms = 0.0f;
  std::vector<float> dx_apply;  // [K]
  std::vector<float> dx_norm;   // [K]
  std::vector<float> u;         // [3, K] dm . phi (unfolded) per mix block; feeds dgamma
  std::vector<float> dx_mm;     // [3, K] dm . phi' per mix block
};

// Sums over one block of tokens.
struct GradPartials {
  explicit GradPartials(const Problem& p);
  std::vector<float> dphi_folded;  // [M, K] sum_t dm^T v (gradient of phi')
  std::vector<float> dgamma;       // [3, K] sum_t v * u_block
  std::vector<float> dbias;        // [M]
  std::array<float, 3> dalpha{};   // per mix block
};

class EmulatedBackend : public Backend {
 public:
  explicit EmulatedBackend(EmulatedOptions options) : options_(options) {}

  std::string name() const override { return emulated_name(options_); }
  std::string baseline_name() const override;

  PreOutputs pre_forward(const Semantics& s, const PreInputs& in, TensorMap* taps) override;
  PreGrads pre_backward(const Semantics& s, const PreInputs& in, const PreUpstream& up, TensorMap* parts) override;
  PostOutputs post_forward(const Semantics& s, const PostInputs& in, TensorMap* taps) override;
  PostGrads post_backward(const Semantics& s, const PostInputs& in, const PostUpstream& up,
                          TensorMap* parts) override;

  bool has_stages() const override { return true; }
  TensorMap run_stage(const Semantics& s, std::string_view stage, const TensorMap& in) override;

 protected:
  const EmulatedOptions& options() const { return options_; }

  // ---- forward steps, one token
  // tf.v -> tf.m, tf.inv_rms
  virtual void norm_proj(const Problem& p, TokenForward& tf) const;
  // r from the mean square s/K: 1/sqrt(s/K + eps_rms)
  virtual float inv_rms_of(const Problem& p, float mean_square) const;
  // tf.m, tf.inv_rms -> tf.m_hat, tf.z, tf.h_pre, tf.h_post
  virtual void mix(const Problem& p, TokenForward& tf) const;
  // tf.z (res block) -> tf.iterates (H last)
  virtual void resmap_fwd(const Problem& p, TokenForward& tf) const;
  // y[t] = sum_i h_pre[i] x[t, i, :] (f32, rounded by the caller). x is the whole tensor so that a
  // step can be written with its own addressing; tf.v is x[t] widened.
  virtual void apply(const Problem& p, const Tensor& x, std::int64_t t, const TokenForward& tf, float* y) const;
  // out[t] from x[t] [n, C], f[t] [C], h_post[t] [n], H [n, n] in the semantics' orientation.
  virtual void post_fwd(const Problem& p, const float* x, const float* f, const float* h_post, const float* H,
                        float* out) const;

  // ---- backward steps, one token
  virtual void post_bwd(const Problem& p, const float* x, const float* f, const float* h_post, const float* H,
                        const float* dout, float* dx, float* df, float* dh_post, float* dH) const;
  // tb.dH -> dz_res (the res block of tb.dz)
  virtual void resmap_bwd(const Problem& p, const TokenForward& tf, TokenBackward& tb) const;
  // tb.dm -> tb.u, tb.dx_mm (the projection's transpose, per mix block)
  virtual void backproject(const Problem& p, const TokenForward& tf, TokenBackward& tb) const;
  // Adds one token's contributions to its block's sums over tokens (dbias, dalpha, dgamma; the
  // driver adds dphi' = sum_t dm^T v itself, a group of tokens at a time).
  virtual void accumulate(const Problem& p, const TokenForward& tf, const TokenBackward& tb,
                          GradPartials& sums) const;

  // ---- drivers shared by the entry points
  // widen x[t], then norm_proj, mix, resmap_fwd
  void forward_token(const Problem& p, const Tensor& x, std::int64_t t, TokenForward& tf) const;
  // every per-token gradient of pre backward, given the forward state and widened upstreams
  void backward_token(const Problem& p, const TokenForward& tf, TokenBackward& tb) const;

 private:
  EmulatedOptions options_;
};

}  // namespace mhc::emulated
