#include "inputs.hpp"

#include <algorithm>
#include <cmath>
#include <random>

namespace mhc::test {
namespace {

Tensor normal(std::mt19937& rng, DType dtype, std::vector<std::int64_t> shape, double mean, double stddev) {
  Tensor t(dtype, std::move(shape));
  std::normal_distribution<double> d(mean, stddev);
  for (std::int64_t i = 0; i < t.numel(); ++i) t.set(i, d(rng));
  return t;
}

Tensor uniform(std::mt19937& rng, DType dtype, std::vector<std::int64_t> shape, double lo, double hi) {
  Tensor t(dtype, std::move(shape));
  std::uniform_real_distribution<double> d(lo, hi);
  for (std::int64_t i = 0; i < t.numel(); ++i) t.set(i, d(rng));
  return t;
}

}  // namespace

PreInputs pre_inputs(const Case& c, double logit_scale) {
  std::mt19937 rng(c.seed);
  const std::int64_t T = c.shape.T, n = c.shape.n, C = c.shape.C, K = n * C, M = mix_count(c.s.resmap, n);
  PreInputs in;
  in.x = normal(rng, DType::bf16, {T, n, C}, 0.0, 1.0);
  in.phi = normal(rng, DType::f32, {M, K}, 0.0, 1.0 / std::sqrt(static_cast<double>(K)));
  for (std::int64_t i = 2 * n * K; i < M * K; ++i) in.phi.set(i, in.phi.get(i) * logit_scale);
  if (c.s.use_gamma) in.gamma = normal(rng, DType::f32, {K}, 1.0, 0.1);
  in.alpha = Tensor(DType::f32, {3});
  in.alpha.set(0, 0.8);
  in.alpha.set(1, 1.2);
  in.alpha.set(2, 1.6);
  in.bias = normal(rng, DType::f32, {M}, 0.0, 0.5);
  return in;
}

PreUpstream pre_upstream(const Case& c) {
  std::mt19937 rng(c.seed + 1000);
  const std::int64_t T = c.shape.T, n = c.shape.n, C = c.shape.C;
  return {normal(rng, DType::bf16, {T, C}, 0.0, 1.0), normal(rng, DType::f32, {T, n}, 0.0, 1.0),
          normal(rng, DType::f32, {T, n, n}, 0.0, 1.0)};
}

PostInputs post_inputs(const Case& c) {
  std::mt19937 rng(c.seed + 2000);
  const std::int64_t T = c.shape.T, n = c.shape.n, C = c.shape.C;
  return {normal(rng, DType::bf16, {T, n, C}, 0.0, 1.0), normal(rng, DType::bf16, {T, C}, 0.0, 1.0),
          uniform(rng, DType::f32, {T, n}, 0.0, 2.0), uniform(rng, DType::f32, {T, n, n}, 0.0, 1.0)};
}

PostUpstream post_upstream(const Case& c) {
  std::mt19937 rng(c.seed + 3000);
  return {normal(rng, DType::bf16, {c.shape.T, c.shape.n, c.shape.C}, 0.0, 1.0)};
}

double rel_max_error(const Tensor& a, const Tensor& ref) {
  double scale = 1e-30, err = 0.0;
  for (std::int64_t i = 0; i < ref.numel(); ++i) {
    const double r = ref.get(i), d = std::fabs(a.get(i) - r);
    if (std::isnan(d)) return INFINITY;
    scale = std::max(scale, std::fabs(r));
    err = std::max(err, d);
  }
  return err / scale;
}

double max_abs(const Tensor& t) {
  double m = 0.0;
  for (std::int64_t i = 0; i < t.numel(); ++i) m = std::max(m, std::fabs(t.get(i)));
  return m;
}

bool same_values(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return false;
  for (std::int64_t i = 0; i < a.numel(); ++i) {
    const double x = a.get(i), y = b.get(i);
    if (!(x == y || (std::isnan(x) && std::isnan(y)))) return false;
  }
  return true;
}

}  // namespace mhc::test
