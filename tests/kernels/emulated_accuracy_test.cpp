// The emulated backend (every precision mode, with and without reorder) and the plain f32 backend
// against the f64 golden, for every preset on small odd shapes (n = 1..8, T = 0/1, odd C).
//
// Bounds are relative to the largest reference magnitude of each tensor. bf16 tensors (y, out,
// dx, df) carry one bf16 rounding (2^-9 relative; observed <= 3.7e-3, 8.2e-3 with bf16 dx stages).
// f32 tensors carry f32 rounding of short reductions (observed <= 2.6e-6), except where a mode
// rounds an operand of the projection: TF32 phi' (2^-11 relative per weight; observed 2.4e-3 in
// dalpha) and the bf16 GEMM output m (2^-9; observed 7.5e-3). Each bound is about 4x the largest
// error observed over these cases; a wrong formula gives O(1).
#include <gtest/gtest.h>

#include <cctype>
#include <memory>
#include <string>
#include <vector>

#include "inputs.hpp"
#include "kernels/emulated/emulated.hpp"
#include "kernels/golden_backend.hpp"

namespace mhc::test {
namespace {

struct Bounds {
  double bf16_tensor;
  double f32_tensor;
};

Bounds bounds_for(const std::string& backend) {
  if (backend.find("bf16gemm") != std::string::npos) return {1.5e-2, 3e-2};
  if (backend.find("tf32") != std::string::npos) return {1.5e-2, 1e-2};
  if (backend.find("bf16dx") != std::string::npos) return {3e-2, 1e-5};
  return {1.5e-2, 1e-5};
}

std::vector<std::pair<std::string, Semantics>> semantics_variants() {
  std::vector<std::pair<std::string, Semantics>> v;
  for (const auto& name : preset_names()) v.emplace_back(name, preset(name));
  Semantics ds_gamma = preset("deepseek");
  ds_gamma.use_gamma = true;
  ds_gamma.repeats = 10;
  ds_gamma.post_mult = 1.0;
  v.emplace_back("deepseek+gamma,R=10,p=1", ds_gamma);
  Semantics implicit = preset("deepseek");
  implicit.sinkhorn_grad = SinkhornGrad::implicit;
  v.emplace_back("deepseek+implicit", implicit);
  Semantics merged = preset("lite");
  merged.merged_residual = true;
  v.emplace_back("lite+merged", merged);
  Semantics plain_sk = preset("deepseek");
  plain_sk.orientation = Orientation::plain;
  plain_sk.eps_sk = 1e-2;
  v.emplace_back("deepseek,plain,eps_sk=1e-2", plain_sk);
  return v;
}

std::vector<Shape> shapes() {
  return {{3, 4, 37}, {1, 1, 5}, {0, 2, 8}, {5, 8, 3}, {4, 3, 33}, {2, 5, 7}, {70, 2, 9}};
}

bool supported(const Semantics& s, const Shape& sh) { return s.resmap != ResMap::permutations || sh.n <= 5; }

// Sums over zero tokens are exactly zero; otherwise an all-zero reference would prove nothing.
void expect_close(const std::string& what, const Tensor& got, const Tensor& ref, double bound, bool no_tokens) {
  ASSERT_EQ(got.shape(), ref.shape()) << what;
  if (no_tokens) {
    EXPECT_EQ(max_abs(got), 0.0) << what;
  } else {
    EXPECT_GT(max_abs(ref), 0.0) << what << ": an all-zero reference proves nothing";
  }
  EXPECT_LE(rel_max_error(got, ref), bound) << what;
}

void check_backend(Backend& b) {
  const Bounds bound = bounds_for(b.name());
  auto golden = make_golden_backend();
  for (const auto& [label, s] : semantics_variants()) {
    for (const Shape& sh : shapes()) {
      if (!supported(s, sh)) continue;
      const Case c{sh, s, 7};
      const std::string where = b.name() + " " + label + " T=" + std::to_string(sh.T) + " n=" +
                                std::to_string(sh.n) + " C=" + std::to_string(sh.C) + ": ";
      const PreInputs in = pre_inputs(c);
      const PreUpstream up = pre_upstream(c);
      const PreOutputs fo = b.pre_forward(s, in, nullptr), fr = golden->pre_forward(s, in, nullptr);
      expect_close(where + "y", fo.y, fr.y, bound.bf16_tensor, sh.T == 0);
      expect_close(where + "h_post", fo.h_post, fr.h_post, bound.f32_tensor, sh.T == 0);
      expect_close(where + "h_res", fo.h_res, fr.h_res, bound.f32_tensor, sh.T == 0);
      const PreGrads go = b.pre_backward(s, in, up, nullptr), gr = golden->pre_backward(s, in, up, nullptr);
      expect_close(where + "dx", go.dx, gr.dx, bound.bf16_tensor, sh.T == 0);
      expect_close(where + "dphi", go.dphi, gr.dphi, bound.f32_tensor, sh.T == 0);
      expect_close(where + "dalpha", go.dalpha, gr.dalpha, bound.f32_tensor, sh.T == 0);
      expect_close(where + "dbias", go.dbias, gr.dbias, bound.f32_tensor, sh.T == 0);
      EXPECT_EQ(go.dgamma.defined(), s.use_gamma) << where;
      if (s.use_gamma) expect_close(where + "dgamma", go.dgamma, gr.dgamma, bound.f32_tensor, sh.T == 0);

      const PostInputs pin = post_inputs(c);
      const PostUpstream pup = post_upstream(c);
      expect_close(where + "out", b.post_forward(s, pin, nullptr).out, golden->post_forward(s, pin, nullptr).out,
                   bound.bf16_tensor, sh.T == 0);
      const PostGrads po = b.post_backward(s, pin, pup, nullptr), pr = golden->post_backward(s, pin, pup, nullptr);
      expect_close(where + "post dx", po.dx, pr.dx, bound.bf16_tensor, sh.T == 0);
      expect_close(where + "df", po.df, pr.df, bound.bf16_tensor, sh.T == 0);
      expect_close(where + "dh_post", po.dh_post, pr.dh_post, bound.f32_tensor, sh.T == 0);
      expect_close(where + "dh_res", po.dh_res, pr.dh_res, bound.f32_tensor, sh.T == 0);
    }
  }
}

class EmulatedVsGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(EmulatedVsGolden, EveryPresetAndShapeWithinBounds) {
  auto b = make_emulated_backend(parse_emulated_name(GetParam()));
  EXPECT_EQ(b->name(), GetParam());
  check_backend(*b);
}

// "emulated:tf32+reorder" -> "emulated_tf32_reorder" (test names are identifiers).
std::string test_name(const ::testing::TestParamInfo<std::string>& param) {
  std::string name = param.param;
  for (char& ch : name) {
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(AllModes, EmulatedVsGolden, ::testing::ValuesIn(emulated_names()), test_name);

TEST(PlainF32VsGolden, EveryPresetAndShapeWithinBounds) {
  auto b = make_plain_f32_backend();
  EXPECT_EQ(b->name(), "f32");
  check_backend(*b);
}

// The reorder baseline is an independent sample of rounding error: bitwise different from the
// kernel order on a case with long reductions, yet as accurate.
TEST(EmulatedReorder, DiffersBitwiseButIsEquallyAccurate) {
  const Semantics s = preset("deepseek");
  const Case c{{96, 4, 100}, s, 11};
  const PreInputs in = pre_inputs(c);
  const PreUpstream up = pre_upstream(c);
  auto golden = make_golden_backend();
  auto plain = make_emulated_backend({});
  EmulatedOptions ro;
  ro.reorder = true;
  auto reordered = make_emulated_backend(ro);
  EXPECT_EQ(plain->baseline_name(), "emulated+reorder");
  EXPECT_EQ(reordered->baseline_name(), "emulated");

  const PreGrads gr = golden->pre_backward(s, in, up, nullptr);
  const PreGrads ga = plain->pre_backward(s, in, up, nullptr), gb = reordered->pre_backward(s, in, up, nullptr);
  EXPECT_FALSE(bitwise_equal(ga.dphi, gb.dphi));
  EXPECT_FALSE(bitwise_equal(ga.dbias, gb.dbias));
  const PreOutputs fa = plain->pre_forward(s, in, nullptr), fb = reordered->pre_forward(s, in, nullptr);
  EXPECT_FALSE(bitwise_equal(fa.h_res, fb.h_res));
  for (auto [name, a, b, ref] : {std::tuple{"dphi", &ga.dphi, &gb.dphi, &gr.dphi},
                                 std::tuple{"dbias", &ga.dbias, &gb.dbias, &gr.dbias},
                                 std::tuple{"dx", &ga.dx, &gb.dx, &gr.dx}}) {
    const double ea = rel_max_error(*a, *ref), eb = rel_max_error(*b, *ref);
    EXPECT_GT(ea, 0.0) << name;
    EXPECT_LE(eb, 3 * ea) << name;
    EXPECT_LE(ea, 3 * eb) << name;
  }
}

}  // namespace
}  // namespace mhc::test
