// The stage entry points chained together reproduce pre_forward's taps bit for bit (the same
// code runs either way), and post as a stage equals post_forward.
#include <gtest/gtest.h>

#include "cases.hpp"
#include "kernels/taps.hpp"

namespace mhc::test {
namespace {

TEST(Stages, ChainEqualsPreForwardTaps) {
  for (const char* name : {"deepseek", "mhc_ops", "lite", "paper"}) {
    Semantics s = preset(name);
    s.use_gamma = true;
    const PreCase c = make_pre_case(s, 7, 3, 5, 40);
    ref::Named taps;
    ref::pre_forward(s, c.args(), &taps);
    const ref::Named np = ref::run_stage(s, "norm_proj", {{"x", c.x}, {"phi", c.phi}, {"gamma", c.gamma}});
    EXPECT_TRUE(bitwise_equal(np.at(std::string(taps::m)), taps.at(std::string(taps::m)))) << name;
    EXPECT_TRUE(bitwise_equal(np.at(std::string(taps::inv_rms)), taps.at(std::string(taps::inv_rms)))) << name;
    ref::Named mix_in = np;
    mix_in["alpha"] = c.alpha;
    mix_in["bias"] = c.bias;
    const ref::Named mx = ref::run_stage(s, "mix", mix_in);
    for (std::string_view t : {taps::m_hat, taps::z, taps::h_pre, taps::h_post}) {
      EXPECT_TRUE(bitwise_equal(mx.at(std::string(t)), taps.at(std::string(t)))) << name << " " << t;
    }
    const ref::Named rm = ref::run_stage(s, "resmap", {{std::string(taps::z), mx.at(std::string(taps::z))}});
    for (const auto& [key, tensor] : rm) {
      EXPECT_TRUE(bitwise_equal(tensor, taps.at(key))) << name << " " << key;
    }
    EXPECT_EQ(rm.size(), s.resmap == ResMap::sinkhorn || s.resmap == ResMap::sinkhorn_exp ? s.repeats + 2u : 1u);
    const ref::Named ap = ref::run_stage(s, "apply", {{"x", c.x}, {std::string(taps::h_pre), mx.at(std::string(taps::h_pre))}});
    EXPECT_TRUE(bitwise_equal(ap.at(std::string(taps::y)), taps.at(std::string(taps::y)))) << name;
  }
}

TEST(Stages, PostStageEqualsPostForward) {
  const Semantics s = preset("deepseek");
  const PostCase c = make_post_case(s, 4, 3, 6, 41);
  const ref::Named out = ref::run_stage(s, "post", {{"x", c.x}, {"f", c.f}, {"h_post", c.h_post}, {"h_res", c.h_res}});
  EXPECT_TRUE(bitwise_equal(out.at("out"), ref::post_forward(s, c.args())));
}

}  // namespace
}  // namespace mhc::test
