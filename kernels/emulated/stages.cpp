// Stage isolation (Backend::run_stage): one step of the fused path fed with given tensors,
// typically the golden's taps, so the first diverging stage is found even when later stages
// would mask it. Inputs of any float dtype are widened to f32; outputs match the fused taps.
#include <algorithm>
#include <string>

#include "core/error.hpp"
#include "kernels/emulated/emulated_backend.hpp"
#include "kernels/emulated/resmap.hpp"
#include "kernels/taps.hpp"

namespace mhc::emulated {
namespace {

const Tensor& need(const TensorMap& in, std::string_view stage, std::string_view name) {
  const auto it = in.find(std::string(name));
  if (it == in.end() || !it->second.defined()) {
    invalid_input("stage \"" + std::string(stage) + "\" needs tensor " + std::string(name));
  }
  return it->second;
}

Tensor optional(const TensorMap& in, std::string_view name) {
  const auto it = in.find(std::string(name));
  return it == in.end() ? Tensor() : it->second;
}

// n from the mix width M (2n + n^2, or 2n + n! for the permutation map).
std::int64_t streams_from_mix(const Semantics& s, std::int64_t M, std::string_view stage) {
  for (std::int64_t n = 1; n <= 8; ++n) {
    if (mix_count(s.resmap, n) == M) return n;
  }
  invalid_input("stage \"" + std::string(stage) + "\": tap.m/tap.z width " + std::to_string(M) +
                " is not a mix width 2n + " + (s.resmap == ResMap::permutations ? "n!" : "n^2") + " for any n");
}

// A Problem for the steps after the projection: only n, M, alpha and bias matter.
Problem mix_problem(const Semantics& s, const EmulatedOptions& opt, const Tensor& z_like, std::string_view stage) {
  if (z_like.rank() != 2) invalid_input("stage \"" + std::string(stage) + "\": expected [T, M], got " + z_like.describe());
  Problem p;
  p.s = s;
  p.opt = opt;
  p.T = z_like.dim(0);
  p.M = z_like.dim(1);
  p.n = streams_from_mix(s, p.M, stage);
  validate(Shape{p.T, p.n, 1}, s);
  if (s.resmap == ResMap::permutations) p.perms = permutations_of(p.n);
  return p;
}

}  // namespace

TensorMap EmulatedBackend::run_stage(const Semantics& s, std::string_view stage, const TensorMap& in) {
  TensorMap out;
  if (stage == "norm_proj") {
    const Tensor& x = need(in, stage, "x");
    const Tensor& phi = need(in, stage, "phi");
    if (x.rank() != 3) invalid_input("tensor x must be [T, n, C], got " + x.describe());
    // alpha and bias do not enter this stage; neutral ones satisfy the problem's checks.
    const std::int64_t M = mix_count(s.resmap, x.dim(1));
    Tensor alpha(DType::f32, {3}), bias(DType::f32, {M});
    const Problem p = make_pre_problem(s, options_, x, phi, optional(in, "gamma"), alpha, bias);
    Tensor m(DType::f32, {p.T, p.M}), r(DType::f32, {p.T});
#pragma omp parallel
    {
      TokenForward tf(p);
#pragma omp for schedule(static)
      for (std::int64_t t = 0; t < p.T; ++t) {
        widen_row(x, t * p.K, p.K, tf.v.data());
        norm_proj(p, tf);
        std::copy_n(tf.m.data(), p.M, m.data<float>() + t * p.M);
        r.data<float>()[t] = tf.inv_rms;
      }
    }
    out[std::string(taps::m)] = std::move(m);
    out[std::string(taps::inv_rms)] = std::move(r);
  } else if (stage == "mix") {
    const Tensor& m = need(in, stage, taps::m);
    const Tensor& r = need(in, stage, taps::inv_rms);
    Problem p = mix_problem(s, options_, m, stage);
    expect_tensor(r, std::string(taps::inv_rms), {p.T});
    const Tensor& alpha = need(in, stage, "alpha");
    const Tensor& bias = need(in, stage, "bias");
    expect_tensor(alpha, "alpha", {3});
    expect_tensor(bias, "bias", {p.M});
    std::vector<float> a(3);
    widen_row(alpha, 0, 3, a.data());
    p.alpha_e.resize(p.M);
    for (std::int64_t j = 0; j < p.M; ++j) p.alpha_e[j] = a[p.block_of(j)];
    p.bias.resize(p.M);
    widen_row(bias, 0, p.M, p.bias.data());
    Tensor m_hat(DType::f32, {p.T, p.M}), z(DType::f32, {p.T, p.M}), h_pre(DType::f32, {p.T, p.n}),
        h_post(DType::f32, {p.T, p.n});
    TokenForward tf(p);
    for (std::int64_t t = 0; t < p.T; ++t) {
      widen_row(m, t * p.M, p.M, tf.m.data());
      widen_row(r, t, 1, &tf.inv_rms);
      mix(p, tf);
      std::copy_n(tf.m_hat.data(), p.M, m_hat.data<float>() + t * p.M);
      std::copy_n(tf.z.data(), p.M, z.data<float>() + t * p.M);
      std::copy_n(tf.h_pre.data(), p.n, h_pre.data<float>() + t * p.n);
      std::copy_n(tf.h_post.data(), p.n, h_post.data<float>() + t * p.n);
    }
    out[std::string(taps::m_hat)] = std::move(m_hat);
    out[std::string(taps::z)] = std::move(z);
    out[std::string(taps::h_pre)] = std::move(h_pre);
    out[std::string(taps::h_post)] = std::move(h_post);
  } else if (stage == "resmap") {
    const Tensor& z = need(in, stage, taps::z);
    const Problem p = mix_problem(s, options_, z, stage);
    const std::int64_t nn = p.n * p.n;
    Tensor h_res(DType::f32, {p.T, p.n, p.n});
    TokenForward tf(p);
    for (std::int64_t t = 0; t < p.T; ++t) {
      widen_row(z, t * p.M, p.M, tf.z.data());
      resmap_fwd(p, tf);
      std::copy_n(tf.H(), nn, h_res.data<float>() + t * nn);
    }
    out[std::string(taps::h_res)] = std::move(h_res);
  } else if (stage == "apply") {
    const Tensor& x = need(in, stage, "x");
    const Tensor& h_pre = need(in, stage, taps::h_pre);
    const Problem p = dimensions_from_x(s, options_, x);
    expect_tensor(h_pre, std::string(taps::h_pre), {p.T, p.n});
    Tensor y(DType::bf16, {p.T, p.C}), tap_y(DType::f32, {p.T, p.C});
    TokenForward tf(p);
    std::vector<float> yt(p.C);
    for (std::int64_t t = 0; t < p.T; ++t) {
      widen_row(x, t * p.K, p.K, tf.v.data());
      widen_row(h_pre, t * p.n, p.n, tf.h_pre.data());
      apply(p, x, t, tf, yt.data());
      store_row(y, t * p.C, p.C, yt.data());
      widen_row(y, t * p.C, p.C, tap_y.data<float>() + t * p.C);
    }
    out[std::string(taps::y)] = std::move(tap_y);
  } else if (stage == "post") {
    PostInputs pin{need(in, stage, "x"), need(in, stage, "f"), need(in, stage, "h_post"), need(in, stage, "h_res")};
    out["out"] = post_forward(s, pin, nullptr).out;
  } else {
    invalid_input("unknown stage \"" + std::string(stage) +
                  "\" (choose norm_proj, mix, resmap, apply or post)");
  }
  return out;
}

}  // namespace mhc::emulated
