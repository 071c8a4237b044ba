// Stage entry points (kernels/taps.hpp): the fused forward equals the chain of stages bitwise
// (both run the same kernels on the same values), taps are complete, and the backward
// components add up to the totals.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "kernels/backend.hpp"
#include "kernels/taps.hpp"
#include "tests/cuda/gpu.hpp"
#include "verify/casegen.hpp"

namespace mhc::test {
namespace {

class CudaStages : public ::testing::TestWithParam<std::string> {};

// The fused forward's outputs and taps against the chain of stage entry points, bitwise.
void fused_equals_stages(const verify::CaseSpec& spec) {
  const auto& s = spec.semantics;
  const verify::PreCase c = verify::make_pre_case(spec);
  auto cuda = make_backend("cuda");
  ASSERT_TRUE(cuda->has_stages());
  TensorMap taps;
  const PreOutputs out = cuda->pre_forward(s, c.in, &taps);
  for (auto key : {taps::m, taps::inv_rms, taps::m_hat, taps::z, taps::h_pre, taps::h_post, taps::h_res, taps::y}) {
    ASSERT_TRUE(taps.count(std::string(key))) << key;
  }
  if (s.resmap == ResMap::sinkhorn || s.resmap == ResMap::sinkhorn_exp) {
    // The last Sinkhorn iterate is H.
    EXPECT_TRUE(bitwise_equal(taps.at(taps::sinkhorn(s.repeats)), taps.at(std::string(taps::h_res))));
  }
  EXPECT_TRUE(bitwise_equal(taps.at(std::string(taps::y)), out.y));

  TensorMap in{{"x", c.in.x}, {"phi", c.in.phi}};
  if (s.use_gamma) in["gamma"] = c.in.gamma;
  const TensorMap np = cuda->run_stage(s, "norm_proj", in);
  EXPECT_TRUE(bitwise_equal(np.at(std::string(taps::m)), taps.at(std::string(taps::m))));
  EXPECT_TRUE(bitwise_equal(np.at(std::string(taps::inv_rms)), taps.at(std::string(taps::inv_rms))));

  const TensorMap mix = cuda->run_stage(s, "mix",
                                        {{std::string(taps::m), np.at(std::string(taps::m))},
                                         {std::string(taps::inv_rms), np.at(std::string(taps::inv_rms))},
                                         {"alpha", c.in.alpha},
                                         {"bias", c.in.bias}});
  for (auto key : {taps::m_hat, taps::z, taps::h_pre, taps::h_post}) {
    EXPECT_TRUE(bitwise_equal(mix.at(std::string(key)), taps.at(std::string(key)))) << key;
  }
  const TensorMap res = cuda->run_stage(s, "resmap", {{std::string(taps::z), mix.at(std::string(taps::z))}});
  EXPECT_TRUE(bitwise_equal(res.at(std::string(taps::h_res)), taps.at(std::string(taps::h_res))));
  if (!s.merged_residual) {
    EXPECT_TRUE(bitwise_equal(res.at(std::string(taps::h_res)), out.h_res));
  }

  const TensorMap apply =
      cuda->run_stage(s, "apply", {{"x", c.in.x}, {std::string(taps::h_pre), mix.at(std::string(taps::h_pre))}});
  EXPECT_TRUE(bitwise_equal(apply.at(std::string(taps::y)), out.y));
}

TEST_P(CudaStages, FusedForwardEqualsChainOfStagesBitwise) {
  MHC_REQUIRE_GPU();
  const std::string preset = GetParam();
  const std::int64_t n = preset == "lite" ? 3 : 4;
  // C = 1000: norm_proj.cu's projection and the apply kernel; 1024: pre_fused.cu on clusters;
  // 4096: proj_tiles.cu (with gamma for deepseek) and the apply kernel.
  for (const std::int64_t C : {1000, 1024, 4096}) {
    SCOPED_TRACE("C = " + std::to_string(C));
    fused_equals_stages(case_spec(verify::Op::pre, preset, 137, n, C, preset == "deepseek" ? "gamma=true" : ""));
  }
}

TEST_P(CudaStages, PostStageEqualsPostForward) {
  MHC_REQUIRE_GPU();
  const auto spec = case_spec(verify::Op::post, GetParam(), 13, 4, 7);
  const verify::PostCase c = verify::make_post_case(spec);
  auto cuda = make_backend("cuda");
  const PostOutputs out = cuda->post_forward(spec.semantics, c.in, nullptr);
  const TensorMap st = cuda->run_stage(
      spec.semantics, "post", {{"x", c.in.x}, {"f", c.in.f}, {"h_post", c.in.h_post}, {"h_res", c.in.h_res}});
  EXPECT_TRUE(bitwise_equal(st.at("out"), out.out));
}

// C = 129 runs the CUDA-core dx/dphi kernel, C = 128 the tensor-core one (dx_dphi_mma.cu), at
// n = 8 (not lite: its map needs n <= 5) with pre and post filling all 16 positions of slot 0.
TEST_P(CudaStages, BackwardComponentsAddUpToTotals) {
  MHC_REQUIRE_GPU();
  const std::string preset = GetParam();
  const std::int64_t n = preset == "lite" ? 3 : 4, big_n = preset == "lite" ? 4 : 8;
  const std::vector<std::pair<std::int64_t, std::int64_t>> shapes = {{n, 129}, {n, 128}, {big_n, 128}};
  for (const auto& [streams, C] : shapes) {
    SCOPED_TRACE("n = " + std::to_string(streams) + ", C = " + std::to_string(C));
    const auto spec = case_spec(verify::Op::pre, preset, 137, streams, C);
    const auto& s = spec.semantics;
    const verify::PreCase c = verify::make_pre_case(spec);
    auto cuda = make_backend("cuda");
    TensorMap parts;
    const PreGrads g = cuda->pre_backward(s, c.in, c.up, &parts);
    const Tensor& apply = parts.at(std::string(taps::dx_apply));
    const Tensor& mm = parts.at(std::string(taps::dx_mm));
    const Tensor& norm = parts.at(std::string(taps::dx_norm));
    double max_dx = 0;
    for (std::int64_t e = 0; e < g.dx.numel(); ++e) max_dx = std::max(max_dx, std::fabs(g.dx.get(e)));
    ASSERT_GT(max_dx, 0);
    for (std::int64_t e = 0; e < g.dx.numel(); ++e) {
      // dx is the bf16 rounding of the f32 sum of its components: within half a bf16 ulp.
      const double sum = (apply.get(e) + mm.get(e)) + norm.get(e);
      ASSERT_LE(std::fabs(sum - g.dx.get(e)), std::ldexp(std::fabs(sum), -8) + 1e-30) << "element " << e;
      const float pre = parts.at(taps::dx_mm_block("pre")).data<float>()[e];
      const float post = parts.at(taps::dx_mm_block("post")).data<float>()[e];
      const float res = parts.at(taps::dx_mm_block("res")).data<float>()[e];
      const volatile float pre_post = pre + post;  // keep the f32 rounding of the partial sum
      if (C % 128 != 0) {
        // The CUDA-core kernel adds its block sums as (pre + post) + res in f32.
        ASSERT_EQ(pre_post + res, mm.data<float>()[e]) << "element " << e;
      } else {
        // The tensor-core kernel sums pre and post in one k slot (the tap takes them apart with
        // extra products), so the identity holds to f32 rounding of the terms.
        const double bound = std::ldexp(std::fabs(pre) + std::fabs(post) + std::fabs(res), -18) + 1e-30;
        ASSERT_LE(std::fabs((static_cast<double>(pre) + post + res) - mm.data<float>()[e]), bound)
            << "element " << e;
      }
    }
    // Row blocks of dphi and dbias are slices of the totals.
    EXPECT_EQ(parts.at(taps::dphi_block("pre")).dim(0), spec.shape.n);
    EXPECT_EQ(parts.at(taps::dbias_block("res")).dim(0), g.dbias.dim(0) - 2 * spec.shape.n);
    EXPECT_EQ(parts.at(std::string(taps::dz)).dim(1), g.dbias.dim(0));
  }
}

INSTANTIATE_TEST_SUITE_P(Presets, CudaStages, ::testing::Values("deepseek", "mhc_ops", "lite", "paper"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

}  // namespace
}  // namespace mhc::test
