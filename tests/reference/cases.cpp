#include "cases.hpp"

#include <cmath>
#include <random>

namespace mhc::test {
namespace {

Tensor random(std::vector<std::int64_t> shape, std::mt19937_64& rng, double mean, double stddev) {
  Tensor t(DType::f64, std::move(shape));
  std::normal_distribution<double> dist(mean, stddev);
  for (std::int64_t i = 0; i < t.numel(); ++i) t.data<double>()[i] = dist(rng);
  return t;
}

Tensor uniform(std::vector<std::int64_t> shape, std::mt19937_64& rng, double lo, double hi) {
  Tensor t(DType::f64, std::move(shape));
  std::uniform_real_distribution<double> dist(lo, hi);
  for (std::int64_t i = 0; i < t.numel(); ++i) t.data<double>()[i] = dist(rng);
  return t;
}

double dot(const Tensor& a, const Tensor& b) {
  double s = 0;
  for (std::int64_t i = 0; i < a.numel(); ++i) s += a.get(i) * b.get(i);
  return s;
}

}  // namespace

PreCase make_pre_case(const Semantics& s, std::int64_t T, std::int64_t n, std::int64_t C, std::uint64_t seed,
                      double logit_scale) {
  std::mt19937_64 rng(seed);
  PreCase c;
  c.s = s;
  c.T = T;
  c.n = n;
  c.C = C;
  c.M = mix_count(s.resmap, n);
  const std::int64_t K = n * C;
  c.x = random({T, n, C}, rng, 0.0, 1.0);
  c.phi = random({c.M, K}, rng, 0.0, 1.0 / std::sqrt(static_cast<double>(K)));
  for (std::int64_t j = 2 * n; j < c.M; ++j) {
    for (std::int64_t k = 0; k < K; ++k) c.phi.data<double>()[j * K + k] *= logit_scale;
  }
  if (s.use_gamma) c.gamma = uniform({K}, rng, 0.5, 1.5);
  c.alpha = uniform({3}, rng, 0.5, 1.5);
  c.bias = random({c.M}, rng, 0.0, 0.5);
  c.dy = random({T, C}, rng, 0.0, 1.0);
  c.dh_post = random({T, n}, rng, 0.0, 1.0);
  c.dh_res = random({T, n, n}, rng, 0.0, 1.0);
  return c;
}

PostCase make_post_case(const Semantics& s, std::int64_t T, std::int64_t n, std::int64_t C, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  PostCase c;
  c.s = s;
  c.T = T;
  c.n = n;
  c.C = C;
  c.x = random({T, n, C}, rng, 0.0, 1.0);
  c.f = random({T, C}, rng, 0.0, 1.0);
  c.h_post = uniform({T, n}, rng, 0.0, 2.0);
  c.h_res = uniform({T, n, n}, rng, 0.0, 1.0);  // asymmetric, rows not summing to 1
  c.dout = random({T, n, C}, rng, 0.0, 1.0);
  return c;
}

double pre_loss(const PreCase& c) {
  const ref::PreForward out = ref::pre_forward(c.s, c.args(), nullptr);
  return dot(c.dy, out.y) + dot(c.dh_post, out.h_post) + dot(c.dh_res, out.h_res);
}

double post_loss(const PostCase& c) { return dot(c.dout, ref::post_forward(c.s, c.args())); }

Closeness closeness(const std::vector<double>& a, const std::vector<double>& b, double atol, double rtol) {
  Closeness r;
  if (a.size() != b.size()) return {INFINITY, -1};
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double q = std::fabs(a[i] - b[i]) / (atol + rtol * std::fabs(b[i]));
    if (!(q <= r.ratio)) {
      r.ratio = std::isnan(q) ? INFINITY : q;
      r.index = static_cast<std::int64_t>(i);
    }
  }
  return r;
}

std::vector<double> values(const Tensor& t) { return t.to_f64_vector(); }

}  // namespace mhc::test
