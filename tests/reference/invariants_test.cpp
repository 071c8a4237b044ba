// Invariants of the golden: Sinkhorn marginals, h_post range, stream-permutation equivariance,
// linearity of the backward in the upstream gradient, components summing to totals, exact
// widening of bf16/f32 inputs, T = 0, and bit-identical results for 1, 2 and 8 OpenMP threads.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "cases.hpp"
#include "invariants.hpp"
#include "kernels/taps.hpp"

namespace mhc::test {
namespace {

TEST(Invariants, SinkhornMarginals) {
  Semantics s = preset("deepseek");
  const PreCase c = make_pre_case(s, 16, 4, 8, 1);
  const ref::PreForward out = ref::pre_forward(s, c.args(), nullptr);
  // The last step normalises columns: their sums are c/(c + eps) = 1 - O(eps).
  const Marginals mg = marginals(out.h_res);
  EXPECT_LE(mg.col, 4 * s.eps_sk);
  EXPECT_LE(mg.row, 1e-3);  // rows only converge: R = 20 on moderate logits
  s = preset("paper");
  s.repeats = 200;
  const PreCase p = make_pre_case(s, 16, 4, 8, 1);
  const Marginals exp_mg = marginals(ref::pre_forward(s, p.args(), nullptr).h_res);
  EXPECT_LE(exp_mg.col, 1e-12);
  EXPECT_LE(exp_mg.row, 1e-12);
}

TEST(Invariants, SinkhornIteratesEndAtHRes) {
  const Semantics s = preset("deepseek");
  const PreCase c = make_pre_case(s, 5, 3, 4, 2);
  ref::Named taps;
  ref::pre_forward(s, c.args(), &taps);
  ASSERT_EQ(taps.count(taps::sinkhorn(s.repeats)), 1u);
  EXPECT_EQ(taps.count(taps::sinkhorn(s.repeats + 1)), 0u);
  EXPECT_TRUE(bitwise_equal(taps.at(taps::sinkhorn(s.repeats)), taps.at(std::string(taps::h_res))));
  // Iterate 0 is softmax + eps: rows sum to 1 + n eps.
  const std::vector<double> it0 = values(taps.at(taps::sinkhorn(0)));
  for (std::int64_t row = 0; row < 5 * 3; ++row) {
    EXPECT_NEAR(it0[row * 3] + it0[row * 3 + 1] + it0[row * 3 + 2], 1 + 3 * s.eps_sk, 1e-14);
  }
}

TEST(Invariants, HPostInOpenInterval) {
  for (const char* name : {"deepseek", "mhc_ops", "lite", "paper"}) {
    Semantics s = preset(name);
    const PreCase c = make_pre_case(s, 9, 3, 5, 3, 4.0);
    for (double h : values(ref::pre_forward(s, c.args(), nullptr).h_post)) {
      EXPECT_GT(h, 0.0) << name;
      EXPECT_LT(h, s.post_mult) << name;
    }
  }
}

TEST(Invariants, StreamPermutationEquivariance) {
  for (const char* name : {"deepseek", "mhc_ops", "lite", "paper"}) {
    for (std::int64_t n : {2, 3, 4}) {
      Semantics s = preset(name);
      s.use_gamma = true;
      const PreCase c = make_pre_case(s, 3, n, 5, 4 + n, 2.0);
      std::vector<int> pi(static_cast<std::size_t>(n));
      std::iota(pi.begin(), pi.end(), 0);
      std::rotate(pi.begin(), pi.begin() + 1, pi.end());
      std::swap(pi[0], pi.back());  // not a rotation, not symmetric
      EXPECT_LE(equivariance_error(c, pi), 1e-12) << name << " n=" << n;
    }
  }
}

TEST(Invariants, BackwardLinearInUpstream) {
  for (const char* name : {"deepseek", "mhc_ops", "lite", "paper"}) {
    Semantics s = preset(name);
    EXPECT_LE(linearity_error(make_pre_case(s, 4, 3, 7, 5), make_pre_case(s, 4, 3, 7, 6), 0.75, -2.5), 1e-12) << name;
  }
}

TEST(Invariants, ComponentsSumToTotals) {
  for (const char* name : {"deepseek", "mhc_ops", "lite", "paper"}) {
    Semantics s = preset(name);
    s.use_gamma = true;
    s.merged_residual = std::string(name) == "lite";
    EXPECT_LE(components_error(make_pre_case(s, 70, 3, 5, 7)), 1e-12) << name;
  }
}

TEST(Invariants, NarrowInputsWidenExactly) {
  const Semantics s = preset("deepseek");
  const PreCase c = make_pre_case(s, 5, 4, 6, 8);
  for (DType dt : {DType::bf16, DType::f32}) {
    const Tensor x = c.x.to(dt), phi = c.phi.to(dt), alpha = c.alpha.to(dt), bias = c.bias.to(dt), none;
    const Tensor xw = x.to(DType::f64), phiw = phi.to(DType::f64), alphaw = alpha.to(DType::f64),
                 biasw = bias.to(DType::f64);
    const ref::PreForward narrow = ref::pre_forward(s, {x, phi, none, alpha, bias}, nullptr);
    const ref::PreForward wide = ref::pre_forward(s, {xw, phiw, none, alphaw, biasw}, nullptr);
    EXPECT_TRUE(bitwise_equal(narrow.y, wide.y));
    EXPECT_TRUE(bitwise_equal(narrow.h_res, wide.h_res));
  }
}

TEST(Invariants, NoTokensGiveEmptyOutputsAndZeroParameterGradients) {
  Semantics s = preset("deepseek");
  s.use_gamma = true;
  PreCase c = make_pre_case(s, 0, 4, 3, 9);
  const ref::PreForward out = ref::pre_forward(s, c.args(), nullptr);
  EXPECT_EQ(out.y.shape(), (std::vector<std::int64_t>{0, 3}));
  EXPECT_EQ(out.h_res.shape(), (std::vector<std::int64_t>{0, 4, 4}));
  const ref::PreGradients g = ref::pre_backward(s, c.args(), c.upstream(), nullptr);
  EXPECT_EQ(g.dx.shape(), (std::vector<std::int64_t>{0, 4, 3}));
  for (const Tensor* t : {&g.dphi, &g.dalpha, &g.dbias, &g.dgamma}) {
    ASSERT_TRUE(t->defined());
    for (double v : values(*t)) EXPECT_EQ(v, 0.0);
  }
  EXPECT_EQ(g.dphi.shape(), (std::vector<std::int64_t>{24, 12}));
}

// Shapes with several token blocks (T > 64) and several dphi column chunks (K > 256).
TEST(Invariants, BitIdenticalForAnyThreadCount) {
  const int saved = omp_get_max_threads();
  for (const char* name : {"deepseek", "lite"}) {
    Semantics s = preset(name);
    s.use_gamma = true;
    const PreCase c = make_pre_case(s, 150, 4, 70, 10);
    std::vector<ref::PreGradients> grads;
    std::vector<ref::PreForward> outs;
    for (int threads : {1, 2, 8}) {
      omp_set_num_threads(threads);
      outs.push_back(ref::pre_forward(s, c.args(), nullptr));
      grads.push_back(ref::pre_backward(s, c.args(), c.upstream(), nullptr));
    }
    for (std::size_t i = 1; i < grads.size(); ++i) {
      EXPECT_TRUE(bitwise_equal(outs[0].y, outs[i].y)) << name;
      EXPECT_TRUE(bitwise_equal(outs[0].h_res, outs[i].h_res)) << name;
      EXPECT_TRUE(bitwise_equal(grads[0].dx, grads[i].dx)) << name;
      EXPECT_TRUE(bitwise_equal(grads[0].dphi, grads[i].dphi)) << name;
      EXPECT_TRUE(bitwise_equal(grads[0].dalpha, grads[i].dalpha)) << name;
      EXPECT_TRUE(bitwise_equal(grads[0].dbias, grads[i].dbias)) << name;
      EXPECT_TRUE(bitwise_equal(grads[0].dgamma, grads[i].dgamma)) << name;
    }
  }
  omp_set_num_threads(saved);
}

}  // namespace
}  // namespace mhc::test
