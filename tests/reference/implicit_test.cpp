// The implicit (fixed-point) Sinkhorn backward: far from the exact unrolled gradient at small R,
// converging to it as R grows (BUGS.md "Sinkhorn backward").
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "core/semantics.hpp"
#include "reference/resmap.hpp"

namespace mhc::test {
namespace {

// Relative gap between the implicit and the exact dZ for random wide logits and upstream dH.
double implicit_gap(Semantics s, int repeats, std::int64_t n, std::uint64_t seed) {
  s.repeats = repeats;
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> logit(0.0, 1.5), grad(0.0, 1.0);
  std::vector<double> z(n * n), dH(n * n), exact(n * n), implicit(n * n);
  for (auto& v : z) v = logit(rng);
  for (auto& v : dH) v = grad(rng);
  s.sinkhorn_grad = SinkhornGrad::exact;
  ref::ResMapPlan(s, n).backward(z.data(), dH.data(), exact.data());
  s.sinkhorn_grad = SinkhornGrad::implicit;
  ref::ResMapPlan(s, n).backward(z.data(), dH.data(), implicit.data());
  double diff = 0, norm = 0;
  for (std::int64_t e = 0; e < n * n; ++e) {
    diff = std::max(diff, std::fabs(implicit[e] - exact[e]));
    norm = std::max(norm, std::fabs(exact[e]));
  }
  return diff / norm;
}

TEST(ImplicitSinkhorn, ConvergesToExactAsRGrows) {
  for (const char* name : {"paper", "deepseek"}) {
    Semantics s = preset(name);
    s.eps_sk = 0;  // the implicit gradient differentiates the eps-free fixed point
    for (std::int64_t n : {2, 3, 4, 8}) {
      const double small_r = implicit_gap(s, 2, n, 31 + n);
      const double large_r = implicit_gap(s, 300, n, 31 + n);
      EXPECT_GT(small_r, 1e-3) << name << " n=" << n << ": implicit equals exact at R = 2";
      EXPECT_LT(large_r, 1e-9) << name << " n=" << n;
      EXPECT_LT(implicit_gap(s, 20, n, 31 + n), small_r) << name << " n=" << n;
    }
  }
}

TEST(ImplicitSinkhorn, SingleStreamHasZeroGradient) {
  Semantics s = preset("deepseek");
  s.sinkhorn_grad = SinkhornGrad::implicit;
  const double z = 0.3, dH = 2.0;
  double dz = 1.0;
  ref::ResMapPlan(s, 1).backward(&z, &dH, &dz);
  EXPECT_EQ(dz, 0.0);
}

}  // namespace
}  // namespace mhc::test
