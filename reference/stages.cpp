// Stage entry points (kernels/taps.hpp "Stages"): each stage of the pre forward, and post, on
// its own, so decomposition can feed golden inputs to one stage at a time.
#include <algorithm>
#include <string>

#include "core/error.hpp"
#include "kernels/taps.hpp"
#include "reference/pre_common.hpp"

namespace mhc::ref {
namespace {

const Tensor& need(const Named& in, std::string_view stage, std::string_view name) {
  const auto it = in.find(std::string(name));
  if (it == in.end() || !it->second.defined()) {
    invalid_input("stage \"" + std::string(stage) + "\": missing input tensor \"" + std::string(name) + "\"");
  }
  return it->second;
}

const Tensor& optional(const Named& in, std::string_view name) {
  static const Tensor undefined;
  const auto it = in.find(std::string(name));
  return it == in.end() ? undefined : it->second;
}

// The stages that see only mix logits learn n from M = mix_count(resmap, n).
Dims dims_from_logits(const Semantics& s, std::string_view stage, const Tensor& t, std::string_view name) {
  if (t.rank() != 2) invalid_input(std::string(name) + ": expected shape [T,M], got " + t.describe());
  const std::int64_t M = t.dim(1);
  for (std::int64_t n = 1; n <= (s.resmap == ResMap::permutations ? 5 : M); ++n) {
    if (mix_count(s.resmap, n) == M) {
      Dims d{t.dim(0), n, 1, n, M};
      validate(Shape{d.T, d.n, 1}, s);
      return d;
    }
  }
  invalid_input("stage \"" + std::string(stage) + "\": " + std::string(name) + " has " + std::to_string(M) +
                " mix logits, which is 2n + " + (s.resmap == ResMap::permutations ? "n!" : "n^2") + " for no n");
}

Named norm_proj(const Semantics& s, const Named& in) {
  const Tensor& x = need(in, "norm_proj", "x");
  const Dims d = dims_from_x(s, x);
  const Tensor& phi = need(in, "norm_proj", "phi");
  const Tensor& gamma = optional(in, "gamma");
  expect_shape(phi, "phi", {d.M, d.K});
  if (s.use_gamma) expect_shape(gamma, "gamma", {d.K});
  std::vector<double> m, r;
  project(d, x, folded_phi(s, d, phi, gamma), s.eps_rms, m, r);
  return {{std::string(taps::m), to_tensor(m, {d.T, d.M})}, {std::string(taps::inv_rms), to_tensor(r, {d.T})}};
}

Named mix(const Semantics& s, const Named& in) {
  const Tensor& m = need(in, "mix", taps::m);
  Dims d = dims_from_logits(s, "mix", m, taps::m);
  const Tensor& r = need(in, "mix", taps::inv_rms);
  expect_shape(r, taps::inv_rms, {d.T});
  const Tensor& alpha = need(in, "mix", "alpha");
  const Tensor& bias = need(in, "mix", "bias");
  expect_shape(alpha, "alpha", {3});
  expect_shape(bias, "bias", {d.M});
  const PreState st = mix_all(MixParams(s, d, alpha, bias), widen_all(m), widen_all(r), false);
  return {{std::string(taps::m_hat), to_tensor(st.m_hat, {d.T, d.M})},
          {std::string(taps::z), to_tensor(st.z, {d.T, d.M})},
          {std::string(taps::h_pre), to_tensor(st.h_pre, {d.T, d.n})},
          {std::string(taps::h_post), to_tensor(st.h_post, {d.T, d.n})}};
}

Named resmap(const Semantics& s, const Named& in) {
  const Tensor& z_t = need(in, "resmap", taps::z);
  const Dims d = dims_from_logits(s, "resmap", z_t, taps::z);
  const std::vector<double> z = widen_all(z_t);
  const ResMapPlan plan(s, d.n);
  const std::int64_t nn = d.n * d.n, iters = plan.iterate_count();
  std::vector<double> H(d.T * nn), iterates(d.T * iters * nn);
#pragma omp parallel for schedule(static) if (worth_parallel(d.T * nn * (iters + 1) * 8))
  for (std::int64_t t = 0; t < d.T; ++t) {
    plan.forward(z.data() + t * d.M + 2 * d.n, H.data() + t * nn, iters ? iterates.data() + t * iters * nn : nullptr);
  }
  Named out{{std::string(taps::h_res), to_tensor(H, {d.T, d.n, d.n})}};
  for (std::int64_t k = 0; k < iters; ++k) {
    std::vector<double> it(d.T * nn);
    for (std::int64_t t = 0; t < d.T; ++t) {
      std::copy_n(iterates.begin() + (t * iters + k) * nn, nn, it.begin() + t * nn);
    }
    out[taps::sinkhorn(static_cast<int>(k))] = to_tensor(it, {d.T, d.n, d.n});
  }
  return out;
}

Named apply(const Semantics& s, const Named& in) {
  const Tensor& x = need(in, "apply", "x");
  const Dims d = dims_from_x(s, x);
  const Tensor& h_pre = need(in, "apply", taps::h_pre);
  expect_shape(h_pre, taps::h_pre, {d.T, d.n});
  Tensor y = zeros({d.T, d.C});
  apply_all(d, x, widen_all(h_pre), y.data<double>());
  return {{std::string(taps::y), std::move(y)}};
}

Named post(const Semantics& s, const Named& in) {
  const PostArgs args{need(in, "post", "x"), need(in, "post", "f"), need(in, "post", "h_post"),
                      need(in, "post", "h_res")};
  return {{"out", post_forward(s, args)}};
}

}  // namespace

Named run_stage(const Semantics& s, std::string_view stage, const Named& in) {
  if (stage == "norm_proj") return norm_proj(s, in);
  if (stage == "mix") return mix(s, in);
  if (stage == "resmap") return resmap(s, in);
  if (stage == "apply") return apply(s, in);
  if (stage == "post") return post(s, in);
  invalid_input("unknown stage \"" + std::string(stage) + "\" (choose norm_proj, mix, resmap, apply or post)");
}

}  // namespace mhc::ref
