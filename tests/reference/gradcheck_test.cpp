// Central finite differences in f64 against every gradient of every preset (MATH.md "Backward
// pre"/"Backward post"), on small shapes including n = 1, 2, 3, 4, 8, C = 1 and odd sizes.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "cases.hpp"

namespace mhc::test {
namespace {

// d loss / d t[i] by central differences, step scaled to the element.
template <class Case, class Loss>
std::vector<double> finite_difference(Case c, Tensor Case::*member, Loss loss) {
  Tensor& t = c.*member;
  std::vector<double> grad(static_cast<std::size_t>(t.numel()));
  for (std::int64_t i = 0; i < t.numel(); ++i) {
    double& v = t.template data<double>()[i];
    const double v0 = v, h = 1e-5 * std::max(1.0, std::fabs(v0));
    v = v0 + h;
    const double up = loss(c);
    v = v0 - h;
    const double down = loss(c);
    v = v0;
    grad[i] = (up - down) / (2 * h);
  }
  return grad;
}

// FD error ~ h^2 f''' + eps |L| / h: about 1e-9 here; a wrong gradient is off by O(1).
void expect_gradient(const std::string& what, const Tensor& analytic, const std::vector<double>& fd) {
  ASSERT_TRUE(analytic.defined()) << what;
  ASSERT_EQ(analytic.numel(), static_cast<std::int64_t>(fd.size())) << what;
  const std::vector<double> a = values(analytic);
  const Closeness c = closeness(a, fd, 1e-6, 1e-6);
  EXPECT_LE(c.ratio, 1.0) << what << ": element " << c.index << " analytic " << a[c.index] << " vs finite difference "
                          << fd[c.index];
  double norm = 0;
  for (double g : fd) norm += g * g;
  EXPECT_GT(norm, 0.0) << what << ": the check is vacuous (all-zero gradient)";
}

struct PreShape {
  std::int64_t T, n, C;
};

Semantics named(const std::string& preset_name, bool gamma) {
  Semantics s = preset(preset_name);
  s.use_gamma = gamma;
  return s;
}

void check_pre(const std::string& label, const Semantics& s, PreShape sh, std::uint64_t seed) {
  const PreCase c = make_pre_case(s, sh.T, sh.n, sh.C, seed, 2.0);
  const ref::PreGradients g = ref::pre_backward(s, c.args(), c.upstream(), nullptr);
  const std::string where = label + " T=" + std::to_string(sh.T) + " n=" + std::to_string(sh.n) +
                            " C=" + std::to_string(sh.C);
  expect_gradient(where + " dx", g.dx, finite_difference(c, &PreCase::x, pre_loss));
  expect_gradient(where + " dphi", g.dphi, finite_difference(c, &PreCase::phi, pre_loss));
  expect_gradient(where + " dalpha", g.dalpha, finite_difference(c, &PreCase::alpha, pre_loss));
  expect_gradient(where + " dbias", g.dbias, finite_difference(c, &PreCase::bias, pre_loss));
  if (s.use_gamma) expect_gradient(where + " dgamma", g.dgamma, finite_difference(c, &PreCase::gamma, pre_loss));
  else EXPECT_FALSE(g.dgamma.defined()) << where << ": dgamma reported without gamma";
}

const std::vector<PreShape> kShapes = {{2, 1, 3}, {3, 2, 1}, {2, 3, 5}, {2, 4, 3}, {1, 8, 2}};
// The permutation map needs n! logits: n <= 5.
const std::vector<PreShape> kLiteShapes = {{2, 1, 3}, {3, 2, 1}, {2, 3, 5}, {2, 4, 3}, {1, 5, 1}};

TEST(GradCheck, PreDeepseekWithGamma) {
  for (const auto& sh : kShapes) check_pre("deepseek+gamma", named("deepseek", true), sh, 11);
}

TEST(GradCheck, PreDeepseekNoGammaFewIterations) {
  Semantics s = named("deepseek", false);
  s.repeats = 3;  // rows far from summing to 1: the unrolled backward must still be exact
  s.eps_sk = 1e-2;
  for (const auto& sh : kShapes) check_pre("deepseek R=3", s, sh, 12);
}

TEST(GradCheck, PreMhcOps) {
  for (const auto& sh : kShapes) check_pre("mhc_ops", preset("mhc_ops"), sh, 13);
}

TEST(GradCheck, PreLite) {
  for (const auto& sh : kLiteShapes) check_pre("lite", preset("lite"), sh, 14);
}

TEST(GradCheck, PreLiteMergedResidual) {
  Semantics s = preset("lite");
  s.merged_residual = true;
  for (const auto& sh : kLiteShapes) check_pre("lite merged", s, sh, 15);
}

TEST(GradCheck, PreDeepseekMergedResidual) {
  Semantics s = named("deepseek", true);
  s.merged_residual = true;
  for (const auto& sh : kShapes) check_pre("deepseek merged", s, sh, 16);
}

TEST(GradCheck, PrePaper) {
  Semantics s = preset("paper");
  s.eps_rms = 1e-6;  // keeps r finite if a row were zero; the paper's 0 is checked by the hand cases
  for (const auto& sh : kShapes) check_pre("paper", s, sh, 17);
}

TEST(GradCheck, PostBothOrientations) {
  for (Orientation o : {Orientation::transposed, Orientation::plain}) {
    Semantics s = preset("deepseek");
    s.orientation = o;
    for (const auto& sh : kShapes) {
      const PostCase c = make_post_case(s, sh.T, sh.n, sh.C, 21);
      const ref::PostGradients g = ref::post_backward(s, c.args(), c.dout);
      const std::string where = std::string(to_string(o)) + " n=" + std::to_string(sh.n) + " C=" + std::to_string(sh.C);
      expect_gradient(where + " dx", g.dx, finite_difference(c, &PostCase::x, post_loss));
      expect_gradient(where + " df", g.df, finite_difference(c, &PostCase::f, post_loss));
      expect_gradient(where + " dh_post", g.dh_post, finite_difference(c, &PostCase::h_post, post_loss));
      expect_gradient(where + " dh_res", g.dh_res, finite_difference(c, &PostCase::h_res, post_loss));
    }
  }
}

}  // namespace
}  // namespace mhc::test
