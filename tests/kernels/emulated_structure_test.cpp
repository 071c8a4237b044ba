// The emulated backend's contract beyond accuracy: taps and parts (names, shapes, components that
// add up to totals), stage entry points equal to the fused path, bitwise determinism across runs
// and thread counts, untouched inputs, names, and clear errors on bad input.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <functional>
#include <string>

#include "core/error.hpp"
#include "inputs.hpp"
#include "kernels/emulated/emulated.hpp"
#include "kernels/golden_backend.hpp"
#include "kernels/taps.hpp"

namespace mhc::test {
namespace {

Semantics gamma_semantics() {
  Semantics s = preset("deepseek");
  s.use_gamma = true;
  s.repeats = 6;
  return s;
}

const Tensor& at(const TensorMap& m, std::string_view name) {
  const auto it = m.find(std::string(name));
  if (it == m.end()) throw std::runtime_error("missing " + std::string(name));
  return it->second;
}

// |sum of parts - total| relative to the largest magnitude involved, elementwise.
double sum_mismatch(const std::vector<const Tensor*>& parts, const Tensor& total) {
  double worst = 0.0, scale = 1e-30;
  for (std::int64_t i = 0; i < total.numel(); ++i) {
    double sum = 0.0;
    for (const Tensor* p : parts) {
      sum += p->get(i);
      scale = std::max(scale, std::fabs(p->get(i)));
    }
    worst = std::max(worst, std::fabs(sum - total.get(i)));
  }
  return worst / scale;
}

TEST(EmulatedTaps, ForwardTapsHaveTheDocumentedShapes) {
  const Semantics s = gamma_semantics();
  const Case c{{5, 3, 11}, s, 3};
  auto b = make_emulated_backend({});
  TensorMap taps;
  const PreOutputs out = b->pre_forward(s, pre_inputs(c), &taps);
  const std::int64_t T = 5, n = 3, C = 11, M = 15;
  EXPECT_EQ(at(taps, taps::m).shape(), (std::vector<std::int64_t>{T, M}));
  EXPECT_EQ(at(taps, taps::inv_rms).shape(), (std::vector<std::int64_t>{T}));
  EXPECT_EQ(at(taps, taps::m_hat).shape(), (std::vector<std::int64_t>{T, M}));
  EXPECT_EQ(at(taps, taps::z).shape(), (std::vector<std::int64_t>{T, M}));
  EXPECT_EQ(at(taps, taps::h_pre).shape(), (std::vector<std::int64_t>{T, n}));
  EXPECT_EQ(at(taps, taps::h_post).shape(), (std::vector<std::int64_t>{T, n}));
  EXPECT_EQ(at(taps, taps::y).shape(), (std::vector<std::int64_t>{T, C}));
  for (int k = 0; k <= s.repeats; ++k) {
    EXPECT_EQ(at(taps, taps::sinkhorn(k)).shape(), (std::vector<std::int64_t>{T, n, n})) << k;
  }
  EXPECT_EQ(taps.count(taps::sinkhorn(s.repeats + 1)), 0u);
  EXPECT_TRUE(same_values(at(taps, taps::sinkhorn(s.repeats)), at(taps, taps::h_res)));
  EXPECT_TRUE(same_values(at(taps, taps::h_res), out.h_res));
  EXPECT_TRUE(same_values(at(taps, taps::y), out.y));
  EXPECT_TRUE(same_values(at(taps, taps::h_post), out.h_post));
}

TEST(EmulatedParts, ComponentsAddUpToTotals) {
  const Semantics s = gamma_semantics();
  const Case c{{70, 3, 13}, s, 5};
  for (const std::string name : {"emulated", "emulated:bf16dx+reorder"}) {
    auto b = make_emulated_backend(parse_emulated_name(name));
    TensorMap parts;
    const PreGrads g = b->pre_backward(s, pre_inputs(c), pre_upstream(c), &parts);
    const Tensor &apply = at(parts, taps::dx_apply), &mm = at(parts, taps::dx_mm), &norm = at(parts, taps::dx_norm);
    EXPECT_EQ(apply.shape(), g.dx.shape());
    // dx is bf16: its sum of components agrees to a bf16 rounding (plus bf16dx's staged roundings).
    EXPECT_LE(sum_mismatch({&apply, &mm, &norm}, g.dx), 2e-2) << name;
    std::vector<const Tensor*> mm_blocks, dphi_blocks, dbias_blocks, dgamma_blocks;
    for (const auto blk : taps::blocks) {
      mm_blocks.push_back(&at(parts, taps::dx_mm_block(blk)));
      dgamma_blocks.push_back(&at(parts, taps::dgamma_block(blk)));
    }
    EXPECT_LE(sum_mismatch(mm_blocks, mm), 1e-6) << name;
    EXPECT_LE(sum_mismatch(dgamma_blocks, g.dgamma), 1e-6) << name;
    // dphi and dbias blocks are row slices: concatenated they are the totals exactly.
    std::int64_t row = 0;
    for (const auto blk : taps::blocks) {
      const Tensor& dphi_b = at(parts, taps::dphi_block(blk));
      const Tensor& dbias_b = at(parts, taps::dbias_block(blk));
      ASSERT_EQ(dphi_b.dim(1), g.dphi.dim(1));
      for (std::int64_t i = 0; i < dbias_b.numel(); ++i) {
        EXPECT_EQ(dbias_b.get(i), g.dbias.get(row + i)) << blk;
        for (std::int64_t k = 0; k < dphi_b.dim(1); ++k) {
          EXPECT_EQ(dphi_b.get(i * dphi_b.dim(1) + k), g.dphi.get((row + i) * g.dphi.dim(1) + k)) << blk;
        }
      }
      row += dbias_b.numel();
    }
    EXPECT_EQ(row, g.dbias.numel());
    EXPECT_EQ(at(parts, taps::dz).shape(), (std::vector<std::int64_t>{70, 15}));
    EXPECT_EQ(at(parts, taps::dh_pre).shape(), (std::vector<std::int64_t>{70, 3}));
    EXPECT_EQ(at(parts, taps::dinv_rms).shape(), (std::vector<std::int64_t>{70}));
  }
}

TEST(EmulatedStages, EachStageEqualsTheFusedPath) {
  for (const std::string preset_name : {"deepseek", "lite", "mhc_ops", "paper"}) {
    Semantics s = preset(preset_name);
    const Case c{{6, 3, 19}, s, 9};
    auto b = make_emulated_backend(parse_emulated_name("emulated:tf32"));
    ASSERT_TRUE(b->has_stages());
    const PreInputs in = pre_inputs(c);
    TensorMap taps;
    b->pre_forward(s, in, &taps);

    TensorMap np_in{{"x", in.x}, {"phi", in.phi}};
    if (s.use_gamma) np_in["gamma"] = in.gamma;
    const TensorMap np = b->run_stage(s, "norm_proj", np_in);
    EXPECT_TRUE(bitwise_equal(at(np, taps::m), at(taps, taps::m))) << preset_name;
    EXPECT_TRUE(bitwise_equal(at(np, taps::inv_rms), at(taps, taps::inv_rms))) << preset_name;

    const TensorMap mix = b->run_stage(s, "mix", {{std::string(taps::m), at(taps, taps::m)},
                                                  {std::string(taps::inv_rms), at(taps, taps::inv_rms)},
                                                  {"alpha", in.alpha},
                                                  {"bias", in.bias}});
    for (auto name : {taps::m_hat, taps::z, taps::h_pre, taps::h_post}) {
      EXPECT_TRUE(bitwise_equal(at(mix, name), at(taps, name))) << preset_name << " " << name;
    }
    const TensorMap rm = b->run_stage(s, "resmap", {{std::string(taps::z), at(taps, taps::z)}});
    EXPECT_TRUE(bitwise_equal(at(rm, taps::h_res), at(taps, taps::h_res))) << preset_name;
    const TensorMap ap = b->run_stage(s, "apply", {{"x", in.x}, {std::string(taps::h_pre), at(taps, taps::h_pre)}});
    EXPECT_TRUE(bitwise_equal(at(ap, taps::y), at(taps, taps::y))) << preset_name;

    const PostInputs pin = post_inputs(c);
    const TensorMap post =
        b->run_stage(s, "post", {{"x", pin.x}, {"f", pin.f}, {"h_post", pin.h_post}, {"h_res", pin.h_res}});
    EXPECT_TRUE(bitwise_equal(at(post, "out"), b->post_forward(s, pin, nullptr).out)) << preset_name;
  }
}

// Decomposition feeds the golden's f64 taps to a stage: the stage's output must then be close to
// the golden's next tap (only this stage's f32 rounding separates them).
TEST(EmulatedStages, AcceptGoldenTapsAndLandCloseToTheGolden) {
  Semantics s = gamma_semantics();
  const Case c{{7, 4, 21}, s, 21};
  const PreInputs in = pre_inputs(c);
  auto golden = make_golden_backend();
  auto b = make_emulated_backend({});
  TensorMap g;
  golden->pre_forward(s, in, &g);
  const TensorMap mix = b->run_stage(s, "mix", {{std::string(taps::m), at(g, taps::m)},
                                                {std::string(taps::inv_rms), at(g, taps::inv_rms)},
                                                {"alpha", in.alpha},
                                                {"bias", in.bias}});
  EXPECT_LE(rel_max_error(at(mix, taps::z), at(g, taps::z)), 1e-6);
  const TensorMap rm = b->run_stage(s, "resmap", {{std::string(taps::z), at(g, taps::z)}});
  EXPECT_LE(rel_max_error(at(rm, taps::h_res), at(g, taps::h_res)), 1e-5);
  const TensorMap ap = b->run_stage(s, "apply", {{"x", in.x}, {std::string(taps::h_pre), at(g, taps::h_pre)}});
  EXPECT_LE(rel_max_error(at(ap, taps::y), at(g, taps::y)), 1e-2);
}

// Activations may arrive as f32 (CaseSpec dtype=f32): widened as they are, outputs keep the
// interface dtypes.
TEST(EmulatedInputs, F32ActivationsAreAccepted) {
  const Semantics s = preset("deepseek");
  const Case c{{3, 2, 17}, s, 23};
  PreInputs in = pre_inputs(c);
  in.x = in.x.to(DType::f32);
  PreUpstream up = pre_upstream(c);
  up.dy = up.dy.to(DType::f32);
  auto b = make_emulated_backend({});
  auto golden = make_golden_backend();
  const PreOutputs o = b->pre_forward(s, in, nullptr);
  EXPECT_EQ(o.y.dtype(), DType::bf16);
  EXPECT_LE(rel_max_error(o.y, golden->pre_forward(s, in, nullptr).y), 1.5e-2);
  EXPECT_LE(rel_max_error(b->pre_backward(s, in, up, nullptr).dphi, golden->pre_backward(s, in, up, nullptr).dphi),
            1e-5);
}

TEST(EmulatedStages, StageErrorsNameTheProblem) {
  auto b = make_emulated_backend({});
  const Semantics s = preset("deepseek");
  try {
    b->run_stage(s, "softmax", {});
    FAIL() << "unknown stage accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid_input);
    EXPECT_NE(std::string(e.what()).find("softmax"), std::string::npos);
  }
  try {
    b->run_stage(s, "resmap", {});
    FAIL() << "missing tensor accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tap.z"), std::string::npos);
  }
}

TEST(EmulatedDeterminism, BitwiseEqualAcrossRunsAndThreadCounts) {
  const Semantics s = gamma_semantics();
  const Case c{{200, 4, 24}, s, 13};
  const PreInputs in = pre_inputs(c);
  const PreUpstream up = pre_upstream(c);
  auto b = make_emulated_backend({});
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  const PreGrads one = b->pre_backward(s, in, up, nullptr);
  const PreOutputs f_one = b->pre_forward(s, in, nullptr);
  omp_set_num_threads(std::max(2, threads));
  const PreGrads a = b->pre_backward(s, in, up, nullptr), again = b->pre_backward(s, in, up, nullptr);
  const PreOutputs f_many = b->pre_forward(s, in, nullptr);
  omp_set_num_threads(threads);
  for (auto [x, y] : {std::pair{&one.dx, &a.dx}, std::pair{&one.dphi, &a.dphi}, std::pair{&one.dalpha, &a.dalpha},
                      std::pair{&one.dbias, &a.dbias}, std::pair{&one.dgamma, &a.dgamma},
                      std::pair{&a.dphi, &again.dphi}, std::pair{&a.dx, &again.dx}}) {
    EXPECT_TRUE(bitwise_equal(*x, *y));
  }
  EXPECT_TRUE(bitwise_equal(f_one.y, f_many.y));
  EXPECT_TRUE(bitwise_equal(f_one.h_res, f_many.h_res));
}

TEST(EmulatedInputs, NeverModifiedByAnyCall) {
  const Semantics s = gamma_semantics();
  const Case c{{4, 2, 9}, s, 17};
  const PreInputs in = pre_inputs(c), in_copy = in;
  const PreUpstream up = pre_upstream(c), up_copy = up;
  const PostInputs pin = post_inputs(c), pin_copy = pin;
  const PostUpstream pup = post_upstream(c), pup_copy = pup;
  for (const auto& name : emulated_names()) {
    auto b = make_emulated_backend(parse_emulated_name(name));
    TensorMap taps, parts;
    b->pre_forward(s, in, &taps);
    b->pre_backward(s, in, up, &parts);
    b->post_forward(s, pin, nullptr);
    b->post_backward(s, pin, pup, nullptr);
    for (auto [now, before] : {std::pair{&in.x, &in_copy.x}, std::pair{&in.phi, &in_copy.phi},
                               std::pair{&in.gamma, &in_copy.gamma}, std::pair{&in.alpha, &in_copy.alpha},
                               std::pair{&in.bias, &in_copy.bias}, std::pair{&up.dy, &up_copy.dy},
                               std::pair{&up.dh_post, &up_copy.dh_post}, std::pair{&up.dh_res, &up_copy.dh_res},
                               std::pair{&pin.x, &pin_copy.x}, std::pair{&pin.f, &pin_copy.f},
                               std::pair{&pin.h_post, &pin_copy.h_post}, std::pair{&pin.h_res, &pin_copy.h_res},
                               std::pair{&pup.dout, &pup_copy.dout}}) {
      EXPECT_TRUE(bitwise_equal(*now, *before)) << name;
    }
  }
}

TEST(EmulatedNames, RoundTripAndRejectUnknown) {
  EXPECT_EQ(emulated_names().size(), 8u);
  for (const auto& name : emulated_names()) {
    EXPECT_TRUE(is_emulated_name(name));
    EXPECT_EQ(emulated_name(parse_emulated_name(name)), name);
    EXPECT_EQ(make_emulated_backend(parse_emulated_name(name))->name(), name);
  }
  EXPECT_EQ(parse_emulated_name("emulated:tf32+reorder").gemm, EmulatedOptions::Gemm::tf32_phi);
  EXPECT_TRUE(parse_emulated_name("emulated:bf16dx").bf16_dx_stages);
  EXPECT_FALSE(is_emulated_name("emulated:fp8"));
  EXPECT_THROW(parse_emulated_name("emulated:fp8"), Error);
}

void expect_invalid(const std::function<void()>& call, const std::string& names) {
  try {
    call();
    ADD_FAILURE() << "accepted bad " << names;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid_input);
    EXPECT_NE(std::string(e.what()).find(names), std::string::npos) << e.what();
  }
}

TEST(EmulatedInputs, BadShapesAndMissingTensorsNameTheTensor) {
  const Semantics s = preset("deepseek");
  const Case c{{3, 2, 5}, s, 1};
  auto b = make_emulated_backend({});
  PreInputs in = pre_inputs(c);
  in.phi = Tensor(DType::f32, {8, 9});
  expect_invalid([&] { b->pre_forward(s, in, nullptr); }, "phi");
  in = pre_inputs(c);
  in.bias = Tensor();
  expect_invalid([&] { b->pre_forward(s, in, nullptr); }, "bias");
  in = pre_inputs(c);
  in.gamma = Tensor(DType::f32, {10});
  expect_invalid([&] { b->pre_forward(s, in, nullptr); }, "gamma");
  in = pre_inputs(c);
  in.x = Tensor(DType::bf16, {3, 10});
  expect_invalid([&] { b->pre_forward(s, in, nullptr); }, "x");
  PreUpstream up = pre_upstream(c);
  up.dh_res = Tensor(DType::f32, {3, 2});
  expect_invalid([&] { b->pre_backward(s, pre_inputs(c), up, nullptr); }, "dh_res");
  PostInputs pin = post_inputs(c);
  pin.f = Tensor(DType::bf16, {3, 6});
  expect_invalid([&] { b->post_forward(s, pin, nullptr); }, "f");
  Semantics bad = s;
  bad.repeats = 0;
  expect_invalid([&] { b->pre_forward(bad, pre_inputs(c), nullptr); }, "repeats");
}

}  // namespace
}  // namespace mhc::test
