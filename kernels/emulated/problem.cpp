#include "kernels/emulated/problem.hpp"

#include <algorithm>
#include <numeric>

#include "core/bf16.hpp"
#include "core/error.hpp"

namespace mhc::emulated {
namespace {

std::string shape_string(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

std::vector<float> widen_all(const Tensor& t) {
  std::vector<float> v(static_cast<std::size_t>(t.numel()));
  widen_row(t, 0, t.numel(), v.data());
  return v;
}


}  // namespace

Problem dimensions_from_x(const Semantics& s, const EmulatedOptions& opt, const Tensor& x) {
  if (!x.defined()) invalid_input("tensor x is missing");
  if (x.rank() != 3) invalid_input("tensor x must be [T, n, C], got " + x.describe());
  Problem p;
  p.s = s;
  p.opt = opt;
  p.T = x.dim(0);
  p.n = x.dim(1);
  p.C = x.dim(2);
  validate(Shape{p.T, p.n, p.C}, s);
  p.K = p.n * p.C;
  p.M = mix_count(s.resmap, p.n);
  if (s.resmap == ResMap::permutations) p.perms = permutations_of(p.n);
  return p;
}

int Problem::iterate_count() const {
  const bool sinkhorn = s.resmap == ResMap::sinkhorn || s.resmap == ResMap::sinkhorn_exp;
  return sinkhorn ? s.repeats + 1 : 1;
}

void expect_tensor(const Tensor& t, const std::string& name, const std::vector<std::int64_t>& shape) {
  if (!t.defined()) invalid_input("tensor " + name + " is missing (expected " + shape_string(shape) + ")");
  if (t.shape() != shape) {
    invalid_input("tensor " + name + " has shape " + t.describe() + ", expected " + shape_string(shape));
  }
}

void widen_row(const Tensor& t, std::int64_t offset, std::int64_t count, float* dst) {
  switch (t.dtype()) {
    case DType::bf16: {
      const bf16* src = t.data<bf16>() + offset;
      for (std::int64_t i = 0; i < count; ++i) dst[i] = f32_from_bf16_bits(src[i].bits);
      return;
    }
    case DType::f32:
      std::copy_n(t.data<float>() + offset, count, dst);
      return;
    case DType::f64: {
      const double* src = t.data<double>() + offset;
      for (std::int64_t i = 0; i < count; ++i) dst[i] = static_cast<float>(src[i]);
      return;
    }
  }
}

void store_row(Tensor& t, std::int64_t offset, std::int64_t count, const float* src) {
  if (t.dtype() == DType::bf16) {
    bf16* dst = t.data<bf16>() + offset;
    for (std::int64_t i = 0; i < count; ++i) dst[i].bits = bf16_bits_from_f32(src[i]);
  } else {
    std::copy_n(src, count, t.data<float>() + offset);
  }
}

std::vector<std::int32_t> permutations_of(std::int64_t n) {
  std::vector<std::int32_t> perm(static_cast<std::size_t>(n));
  std::iota(perm.begin(), perm.end(), 0);
  std::vector<std::int32_t> all;
  do {
    all.insert(all.end(), perm.begin(), perm.end());
  } while (std::next_permutation(perm.begin(), perm.end()));
  return all;
}

Problem make_pre_problem(const Semantics& s, const EmulatedOptions& opt, const Tensor& x, const Tensor& phi,
                         const Tensor& gamma, const Tensor& alpha, const Tensor& bias) {
  Problem p = dimensions_from_x(s, opt, x);
  expect_tensor(phi, "phi", {p.M, p.K});
  expect_tensor(alpha, "alpha", {3});
  expect_tensor(bias, "bias", {p.M});
  if (s.use_gamma) {
    expect_tensor(gamma, "gamma", {p.K});
  } else if (gamma.defined()) {
    invalid_input("tensor gamma is given but the semantics has use_gamma = false");
  }

  p.phi = widen_all(phi);
  p.phi_gemm = p.phi;
  if (s.use_gamma) {
    p.gamma = widen_all(gamma);
    for (std::int64_t j = 0; j < p.M; ++j) {
      for (std::int64_t k = 0; k < p.K; ++k) p.phi_gemm[j * p.K + k] *= p.gamma[k];
    }
  }
  if (opt.gemm == EmulatedOptions::Gemm::tf32_phi) {
    for (float& w : p.phi_gemm) w = round_tf32(w);
  }
  const std::vector<float> a = widen_all(alpha);
  p.alpha_e.resize(p.M);
  for (std::int64_t j = 0; j < p.M; ++j) p.alpha_e[j] = a[p.block_of(j)];
  p.bias = widen_all(bias);
  return p;
}

Problem make_post_problem(const Semantics& s, const EmulatedOptions& opt, const Tensor& x, const Tensor& f,
                          const Tensor& h_post, const Tensor& h_res) {
  Problem p = dimensions_from_x(s, opt, x);
  expect_tensor(f, "f", {p.T, p.C});
  expect_tensor(h_post, "h_post", {p.T, p.n});
  expect_tensor(h_res, "h_res", {p.T, p.n, p.n});
  return p;
}

}  // namespace mhc::emulated
