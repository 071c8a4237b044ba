#include "reference/inputs.hpp"

#include <algorithm>
#include <string>

#include "core/error.hpp"
#include "reference/gemm.hpp"  // MHC_REF_CLONES

namespace mhc::ref {

static std::string shape_string(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

Dims dims_from_x(const Semantics& s, const Tensor& x, std::string_view x_name) {
  if (!x.defined() || x.rank() != 3) {
    invalid_input(std::string(x_name) + ": expected shape [T,n,C], got " + (x.defined() ? x.describe() : "no tensor"));
  }
  Dims d;
  d.T = x.dim(0);
  d.n = x.dim(1);
  d.C = x.dim(2);
  validate(Shape{d.T, d.n, d.C}, s);
  d.K = d.n * d.C;
  d.M = mix_count(s.resmap, d.n);
  return d;
}

void expect_shape(const Tensor& t, std::string_view name, const std::vector<std::int64_t>& shape) {
  if (!t.defined()) invalid_input(std::string(name) + ": missing, expected shape " + shape_string(shape));
  if (t.shape() != shape) {
    invalid_input(std::string(name) + ": expected shape " + shape_string(shape) + ", got " + t.describe());
  }
}

void expect_pre_params(const Semantics& s, const Dims& d, const Tensor& phi, const Tensor& gamma,
                       const Tensor& alpha, const Tensor& bias) {
  expect_shape(phi, "phi", {d.M, d.K});
  if (s.use_gamma) {
    expect_shape(gamma, "gamma", {d.K});
  } else if (gamma.defined()) {
    invalid_input("gamma: given, but the semantics has use_gamma = false (set use_gamma or drop gamma)");
  }
  expect_shape(alpha, "alpha", {3});
  expect_shape(bias, "bias", {d.M});
}

// Pure conversions: every clone gives the same bits.
MHC_REF_CLONES
void widen(const Tensor& t, std::int64_t offset, std::int64_t count, double* dst) {
  switch (t.dtype()) {
    case DType::bf16: {
      const bf16* src = t.data<bf16>() + offset;
      for (std::int64_t i = 0; i < count; ++i) dst[i] = f32_from_bf16_bits(src[i].bits);
      break;
    }
    case DType::f32: {
      const float* src = t.data<float>() + offset;
      for (std::int64_t i = 0; i < count; ++i) dst[i] = src[i];
      break;
    }
    case DType::f64: {
      const double* src = t.data<double>() + offset;
      for (std::int64_t i = 0; i < count; ++i) dst[i] = src[i];
      break;
    }
  }
}

std::vector<double> widen_all(const Tensor& t) {
  std::vector<double> v(static_cast<std::size_t>(t.numel()));
  widen(t, 0, t.numel(), v.data());
  return v;
}

Tensor zeros(std::vector<std::int64_t> shape) { return Tensor(DType::f64, std::move(shape)); }

}  // namespace mhc::ref

namespace mhc::ref {

Tensor to_tensor(const std::vector<double>& values, std::vector<std::int64_t> shape) {
  Tensor t(DType::f64, std::move(shape));
  std::copy(values.begin(), values.end(), t.data<double>());
  return t;
}

}  // namespace mhc::ref
