// Tiny cases computed by hand (n = 1, C = 2; n = 2, C = 1 for the post orientation), checked
// exactly: every input is chosen so each intermediate is a dyadic rational.
//
// Pre, n = 1, C = 2 (M = 3), eps_rms = eps_pre = eps_sk = 0, p = 2:
//   x = [2, 2]: s = 8, r = 1/sqrt(8/2) = 1/2
//   phi = [[1,0],[0,1],[1,1]]: m = [2, 2, 4], m_hat = [1, 1, 2]
//   alpha = [1,1,1], bias = [-1,-1,0]: z = [0, 0, 2]
//   h_pre = sigmoid(0) = 1/2, h_post = 2 sigmoid(0) = 1, y = h_pre x = [1, 1]
//   H = 2 (identity map), or 1 (any Sinkhorn / the single permutation)
// Backward with dy = [1, 2], dh_post = [1], dh_res = [[1]]:
//   dh_pre = 2*1 + 2*2 = 6; dz_pre = 6/4 = 1.5; dz_post = 1 * 2/4 = 0.5
//   identity: dz_res = 1;  Sinkhorn (n = 1: H is constant): dz_res = 0
//   identity: dm = r dz alpha = [0.75, 0.25, 0.5]; dr = 1.5*2 + 0.5*2 + 1*4 = 8
//     dx_norm = -(8 (1/8) / 2) [2,2] = [-1,-1]; dx_mm = dm . phi = [1.25, 0.75]; dx_apply = [0.5, 1]
//     dx = [0.75, 0.75]; dphi = dm^T v = [[1.5,1.5],[0.5,0.5],[1,1]]
//     dalpha = [1.5*1, 0.5*1, 1*2]; dbias = [1.5, 0.5, 1]; dgamma (gamma = 1) = [2.5, 1.5]
//   Sinkhorn: dm = [0.75, 0.25, 0]; dr = 4; dx_norm = [-0.5,-0.5]; dx = [0.75, 0.75]
//     dphi = [[1.5,1.5],[0.5,0.5],[0,0]]; dalpha = [1.5, 0.5, 0]; dbias = [1.5, 0.5, 0]
#include <gtest/gtest.h>

#include <vector>

#include "core/error.hpp"
#include "kernels/taps.hpp"
#include "reference/golden.hpp"

namespace mhc::test {
namespace {

Tensor make(std::vector<std::int64_t> shape, const std::vector<double>& v) {
  Tensor t(DType::f64, std::move(shape));
  for (std::size_t i = 0; i < v.size(); ++i) t.data<double>()[i] = v[i];
  return t;
}

std::vector<double> vals(const Tensor& t) { return t.to_f64_vector(); }

Semantics exact_semantics(ResMap map) {
  Semantics s = preset("mhc_ops");
  s.resmap = map;
  s.repeats = map == ResMap::sinkhorn || map == ResMap::sinkhorn_exp ? 3 : 0;
  s.eps_rms = s.eps_pre = s.eps_sk = 0;
  s.post_mult = 2;
  s.use_gamma = map == ResMap::identity;
  return s;
}

struct HandPre {
  Tensor x = make({1, 1, 2}, {2, 2});
  Tensor phi = make({3, 2}, {1, 0, 0, 1, 1, 1});
  Tensor gamma = make({2}, {1, 1});
  Tensor alpha = make({3}, {1, 1, 1});
  Tensor bias = make({3}, {-1, -1, 0});
  Tensor dy = make({1, 2}, {1, 2});
  Tensor dh_post = make({1, 1}, {1});
  Tensor dh_res = make({1, 1, 1}, {1});
  Tensor no_gamma;
  ref::PreArgs args(const Semantics& s) const { return {x, phi, s.use_gamma ? gamma : no_gamma, alpha, bias}; }
  ref::PreUpstreamArgs up() const { return {dy, dh_post, dh_res}; }
};

TEST(Hand, PreForwardIdentityMap) {
  const HandPre h;
  const Semantics s = exact_semantics(ResMap::identity);
  ref::Named taps;
  const ref::PreForward out = ref::pre_forward(s, h.args(s), &taps);
  EXPECT_EQ(vals(taps.at(std::string(taps::inv_rms))), std::vector<double>({0.5}));
  EXPECT_EQ(vals(taps.at(std::string(taps::m))), std::vector<double>({2, 2, 4}));
  EXPECT_EQ(vals(taps.at(std::string(taps::m_hat))), std::vector<double>({1, 1, 2}));
  EXPECT_EQ(vals(taps.at(std::string(taps::z))), std::vector<double>({0, 0, 2}));
  EXPECT_EQ(vals(taps.at(std::string(taps::h_pre))), std::vector<double>({0.5}));
  EXPECT_EQ(vals(out.y), std::vector<double>({1, 1}));
  EXPECT_EQ(vals(out.h_post), std::vector<double>({1}));
  EXPECT_EQ(vals(out.h_res), std::vector<double>({2}));
}

TEST(Hand, PreForwardSinkhornAndPermutationMapsGiveOne) {
  const HandPre h;
  for (ResMap map : {ResMap::sinkhorn, ResMap::sinkhorn_exp, ResMap::permutations}) {
    const Semantics s = exact_semantics(map);
    EXPECT_EQ(vals(ref::pre_forward(s, h.args(s), nullptr).h_res), std::vector<double>({1})) << to_string(map);
  }
}

TEST(Hand, PreBackwardIdentityMap) {
  const HandPre h;
  const Semantics s = exact_semantics(ResMap::identity);
  ref::Named parts;
  const ref::PreGradients g = ref::pre_backward(s, h.args(s), h.up(), &parts);
  EXPECT_EQ(vals(parts.at(std::string(taps::dh_pre))), std::vector<double>({6}));
  EXPECT_EQ(vals(parts.at(std::string(taps::dz))), std::vector<double>({1.5, 0.5, 1}));
  EXPECT_EQ(vals(parts.at(std::string(taps::dinv_rms))), std::vector<double>({8}));
  EXPECT_EQ(vals(parts.at(std::string(taps::dx_apply))), std::vector<double>({0.5, 1}));
  EXPECT_EQ(vals(parts.at(std::string(taps::dx_mm))), std::vector<double>({1.25, 0.75}));
  EXPECT_EQ(vals(parts.at(std::string(taps::dx_norm))), std::vector<double>({-1, -1}));
  EXPECT_EQ(vals(g.dx), std::vector<double>({0.75, 0.75}));
  EXPECT_EQ(vals(g.dphi), std::vector<double>({1.5, 1.5, 0.5, 0.5, 1, 1}));
  EXPECT_EQ(vals(g.dalpha), std::vector<double>({1.5, 0.5, 2}));
  EXPECT_EQ(vals(g.dbias), std::vector<double>({1.5, 0.5, 1}));
  EXPECT_EQ(vals(g.dgamma), std::vector<double>({2.5, 1.5}));
}

TEST(Hand, PreBackwardSinkhornSingleStreamHasNoResGradient) {
  const HandPre h;
  for (ResMap map : {ResMap::sinkhorn, ResMap::sinkhorn_exp}) {
    const Semantics s = exact_semantics(map);
    const ref::PreGradients g = ref::pre_backward(s, h.args(s), h.up(), nullptr);
    EXPECT_EQ(vals(g.dx), std::vector<double>({0.75, 0.75})) << to_string(map);
    EXPECT_EQ(vals(g.dphi), std::vector<double>({1.5, 1.5, 0.5, 0.5, 0, 0})) << to_string(map);
    EXPECT_EQ(vals(g.dalpha), std::vector<double>({1.5, 0.5, 0})) << to_string(map);
    EXPECT_EQ(vals(g.dbias), std::vector<double>({1.5, 0.5, 0})) << to_string(map);
  }
}

// Post, n = 1, C = 2: h_post = 3, f = [1,2], H = 0.5, x = [4,6]: out = [3+2, 6+3] = [5, 9].
// dout = [1,-1]: df = 3 dout = [3,-3]; dh_post = 1-2 = -1; dH = 4-6 = -2; dx = 0.5 dout.
TEST(Hand, PostSingleStream) {
  const Semantics s = preset("deepseek");
  const Tensor x = make({1, 1, 2}, {4, 6}), f = make({1, 2}, {1, 2}), hp = make({1, 1}, {3}),
               H = make({1, 1, 1}, {0.5}), dout = make({1, 1, 2}, {1, -1});
  const ref::PostArgs args{x, f, hp, H};
  EXPECT_EQ(vals(ref::post_forward(s, args)), std::vector<double>({5, 9}));
  const ref::PostGradients g = ref::post_backward(s, args, dout);
  EXPECT_EQ(vals(g.df), std::vector<double>({3, -3}));
  EXPECT_EQ(vals(g.dh_post), std::vector<double>({-1}));
  EXPECT_EQ(vals(g.dh_res), std::vector<double>({-2}));
  EXPECT_EQ(vals(g.dx), std::vector<double>({0.5, -0.5}));
}

// n = 2, C = 1, x = [1, 10], H = [[1,2],[3,4]], h_post = 0:
// transposed out[j] = sum_i H[i,j] x[i] = [31, 42]; plain out[i] = sum_j H[i,j] x[j] = [21, 43].
// dout = [1, 0]: transposed dH[i,j] = x[i] dout[j] = [[1,0],[10,0]], dx[i] = H[i,0] = [1,3];
// plain dH[i,j] = dout[i] x[j] = [[1,10],[0,0]], dx[j] = H[0,j] = [1,2].
TEST(Hand, PostOrientation) {
  const Tensor x = make({1, 2, 1}, {1, 10}), f = make({1, 1}, {0}), hp = make({1, 2}, {0, 0}),
               H = make({1, 2, 2}, {1, 2, 3, 4}), dout = make({1, 2, 1}, {1, 0});
  const ref::PostArgs args{x, f, hp, H};
  Semantics s = preset("deepseek");
  s.orientation = Orientation::transposed;
  EXPECT_EQ(vals(ref::post_forward(s, args)), std::vector<double>({31, 42}));
  ref::PostGradients g = ref::post_backward(s, args, dout);
  EXPECT_EQ(vals(g.dh_res), std::vector<double>({1, 0, 10, 0}));
  EXPECT_EQ(vals(g.dx), std::vector<double>({1, 3}));
  s.orientation = Orientation::plain;
  EXPECT_EQ(vals(ref::post_forward(s, args)), std::vector<double>({21, 43}));
  g = ref::post_backward(s, args, dout);
  EXPECT_EQ(vals(g.dh_res), std::vector<double>({1, 10, 0, 0}));
  EXPECT_EQ(vals(g.dx), std::vector<double>({1, 2}));
}

// n = 2 permutation map: z_res = [0, 0] gives a = [1/2, 1/2], H = (I + swap)/2 = all 1/2;
// with merged_residual, h_res = H - h_post (x) h_pre where h_pre = h_post/2 = 1/2 at z = 0.
TEST(Hand, LitePermutationsAndMerge) {
  Semantics s = preset("lite");
  s.eps_rms = 0;
  const Tensor x = make({1, 2, 1}, {1, 1}), phi = Tensor(DType::f64, {6, 2}), alpha = make({3}, {1, 1, 1}),
               bias = Tensor(DType::f64, {6}), none;
  const ref::PreArgs args{x, phi, none, alpha, bias};
  EXPECT_EQ(vals(ref::pre_forward(s, args, nullptr).h_res), std::vector<double>({0.5, 0.5, 0.5, 0.5}));
  s.post_mult = 1;  // h_post = 1/2 too
  s.merged_residual = true;
  EXPECT_EQ(vals(ref::pre_forward(s, args, nullptr).h_res), std::vector<double>({0.25, 0.25, 0.25, 0.25}));
}

}  // namespace
}  // namespace mhc::test
