// Each mutant reproduces its BUGS.md signature: it differs from the emulated backend on an input
// that exposes the bug and (where the bug has a hiding input) equals it on one that hides it.
#include <gtest/gtest.h>

#include <csignal>
#include <cmath>
#include <set>

#include "core/error.hpp"

#include "inputs.hpp"
#include "kernels/emulated/emulated.hpp"
#include "kernels/mutants/mutants.hpp"
#include "kernels/taps.hpp"

namespace mhc::test {
namespace {

const std::set<std::string> kTags = {"orientation",   "eps_placement",          "sinkhorn_forward", "sinkhorn_backward",
                                     "bounds_channels", "bounds_streams",       "bounds_tail",      "missing_factor",
                                     "duplicate_accumulation", "ignored_input", "batch_dropped",    "precision",
                                     "nondeterminism",
                                     "n_specific",    "inputs_modified",        "crash"};

TEST(MutantCatalog, WellFormed) {
  const auto& catalog = mutant_catalog();
  EXPECT_GE(catalog.size(), 18u);
  std::set<std::string> names;
  for (const auto& m : catalog) {
    EXPECT_TRUE(names.insert(m.name).second) << "duplicate " << m.name;
    EXPECT_TRUE(m.op == "pre" || m.op == "post") << m.name;
    EXPECT_FALSE(m.description.empty()) << m.name;
    EXPECT_FALSE(m.source.empty()) << m.name;
    EXPECT_TRUE(kTags.count(m.diagnosis)) << m.name << ": " << m.diagnosis;
    EXPECT_TRUE(m.diagnosis == "crash" || !m.tensor.empty()) << m.name;
    EXPECT_TRUE(m.component.empty() || m.component.starts_with("tap.") || m.component.starts_with("part."))
        << m.name;
    EXPECT_EQ(make_mutant_backend(m.name)->name(), "mutant:" + m.name);
    EXPECT_EQ(make_mutant_backend(m.name)->baseline_name(), "emulated+reorder");
  }
  EXPECT_THROW(make_mutant_backend("no_such_bug"), Error);
}

struct Pair {
  std::unique_ptr<Backend> mutant, emulated;
};

Pair pair(const std::string& name) { return {make_mutant_backend(name), make_emulated_backend({})}; }

Semantics deepseek(int repeats = 20) {
  Semantics s = preset("deepseek");
  s.repeats = repeats;
  return s;
}

TEST(Mutants, PostHNotTransposedHiddenBySymmetricH) {
  auto [mut, emu] = pair("post_h_not_transposed");
  const Semantics s = deepseek();
  const Case c{{4, 3, 10}, s, 2};
  PostInputs in = post_inputs(c);
  EXPECT_FALSE(same_values(mut->post_forward(s, in, nullptr).out, emu->post_forward(s, in, nullptr).out));
  for (std::int64_t t = 0; t < 4; ++t) {
    for (std::int64_t i = 0; i < 3; ++i) {
      for (std::int64_t j = 0; j < i; ++j) in.h_res.set(t * 9 + i * 3 + j, in.h_res.get(t * 9 + j * 3 + i));
    }
  }
  EXPECT_TRUE(same_values(mut->post_forward(s, in, nullptr).out, emu->post_forward(s, in, nullptr).out));
}

TEST(Mutants, PostBwdHTransposedTransposesDhResAndBreaksDx) {
  auto [mut, emu] = pair("post_bwd_h_transposed");
  const Semantics s = deepseek();
  const Case c{{4, 3, 10}, s, 3};
  const PostInputs in = post_inputs(c);
  const PostUpstream up = post_upstream(c);
  const PostGrads gm = mut->post_backward(s, in, up, nullptr), ge = emu->post_backward(s, in, up, nullptr);
  EXPECT_FALSE(same_values(gm.dx, ge.dx));
  EXPECT_TRUE(same_values(gm.df, ge.df));
  for (std::int64_t t = 0; t < 4; ++t) {
    for (std::int64_t i = 0; i < 3; ++i) {
      for (std::int64_t j = 0; j < 3; ++j) EXPECT_EQ(gm.dh_res.get(t * 9 + i * 3 + j), ge.dh_res.get(t * 9 + j * 3 + i));
    }
  }
  EXPECT_TRUE(same_values(mut->post_forward(s, in, nullptr).out, emu->post_forward(s, in, nullptr).out));
}

TEST(Mutants, Tile32ChannelsOnlyPastChannel32) {
  auto [mut, emu] = pair("tile_32_channels");
  const Semantics s = deepseek();
  const Case narrow{{3, 2, 32}, s, 4}, wide{{3, 2, 40}, s, 4};
  EXPECT_TRUE(same_values(mut->pre_forward(s, pre_inputs(narrow), nullptr).h_post,
                          emu->pre_forward(s, pre_inputs(narrow), nullptr).h_post));
  EXPECT_FALSE(same_values(mut->pre_forward(s, pre_inputs(wide), nullptr).h_post,
                           emu->pre_forward(s, pre_inputs(wide), nullptr).h_post));
}

TEST(Mutants, KLoopLastBlockOnlyPastOneBlock) {
  auto [mut, emu] = pair("k_loop_last_block");
  const Semantics s = deepseek();
  const Case one_block{{3, 4, 16}, s, 5}, two_blocks{{3, 4, 17}, s, 5};
  EXPECT_TRUE(same_values(mut->pre_forward(s, pre_inputs(one_block), nullptr).h_post,
                          emu->pre_forward(s, pre_inputs(one_block), nullptr).h_post));
  EXPECT_FALSE(same_values(mut->pre_forward(s, pre_inputs(two_blocks), nullptr).h_post,
                           emu->pre_forward(s, pre_inputs(two_blocks), nullptr).h_post));
}

TEST(Mutants, DxGridStream0ZeroesStreamsAboveZero) {
  auto [mut, emu] = pair("dx_grid_stream0");
  const Semantics s = deepseek();
  const Case one{{3, 1, 9}, s, 6}, three{{3, 3, 9}, s, 6};
  EXPECT_TRUE(same_values(mut->pre_backward(s, pre_inputs(one), pre_upstream(one), nullptr).dx,
                          emu->pre_backward(s, pre_inputs(one), pre_upstream(one), nullptr).dx));
  const Tensor dx = mut->pre_backward(s, pre_inputs(three), pre_upstream(three), nullptr).dx;
  const Tensor ref = emu->pre_backward(s, pre_inputs(three), pre_upstream(three), nullptr).dx;
  for (std::int64_t t = 0; t < 3; ++t) {
    for (std::int64_t c = 0; c < 9; ++c) {
      EXPECT_EQ(dx.get(t * 27 + c), ref.get(t * 27 + c));
      EXPECT_EQ(dx.get(t * 27 + 9 + c), 0.0);
      EXPECT_EQ(dx.get(t * 27 + 18 + c), 0.0);
    }
  }
}

TEST(Mutants, TailUntouchedPastFlatIndex16384) {
  auto [mut, emu] = pair("tail_untouched");
  const Semantics s = deepseek();
  const Case small{{8, 4, 512}, s, 7}, large{{9, 4, 512}, s, 7};  // 16384 and 18432 elements
  EXPECT_TRUE(same_values(mut->post_forward(s, post_inputs(small), nullptr).out,
                          emu->post_forward(s, post_inputs(small), nullptr).out));
  const Tensor out = mut->post_forward(s, post_inputs(large), nullptr).out;
  EXPECT_FALSE(same_values(out, emu->post_forward(s, post_inputs(large), nullptr).out));
  for (std::int64_t i = 16384; i < out.numel(); ++i) ASSERT_EQ(out.get(i), 0.0) << i;
}

TEST(Mutants, DxResMissingInvRmsOnlyThroughTheResBlock) {
  auto [mut, emu] = pair("dx_res_missing_inv_rms");
  Semantics s = deepseek();
  s.use_gamma = true;
  const Case c{{5, 3, 7}, s, 8};
  const PreInputs in = pre_inputs(c);
  PreUpstream up = pre_upstream(c);
  const PreGrads gm = mut->pre_backward(s, in, up, nullptr), ge = emu->pre_backward(s, in, up, nullptr);
  EXPECT_FALSE(same_values(gm.dx, ge.dx));
  EXPECT_FALSE(same_values(gm.dgamma, ge.dgamma));
  EXPECT_TRUE(same_values(gm.dphi, ge.dphi));
  EXPECT_TRUE(same_values(gm.dbias, ge.dbias));
  for (std::int64_t i = 0; i < up.dh_res.numel(); ++i) up.dh_res.set(i, 0.0);  // no gradient reaches the res block
  EXPECT_TRUE(same_values(mut->pre_backward(s, in, up, nullptr).dx, emu->pre_backward(s, in, up, nullptr).dx));
}

TEST(Mutants, DbiasResN2OnlyInTheResBlockAndOnlyForNAbove1) {
  auto [mut, emu] = pair("dbias_res_n2");
  const Semantics s = deepseek();
  const Case one{{4, 1, 6}, s, 9}, three{{4, 3, 6}, s, 9};
  EXPECT_TRUE(same_values(mut->pre_backward(s, pre_inputs(one), pre_upstream(one), nullptr).dbias,
                          emu->pre_backward(s, pre_inputs(one), pre_upstream(one), nullptr).dbias));
  const Tensor bm = mut->pre_backward(s, pre_inputs(three), pre_upstream(three), nullptr).dbias;
  const Tensor be = emu->pre_backward(s, pre_inputs(three), pre_upstream(three), nullptr).dbias;
  for (std::int64_t j = 0; j < 6; ++j) EXPECT_EQ(bm.get(j), be.get(j)) << j;
  EXPECT_FALSE(same_values(bm, be));
}

TEST(Mutants, HResDiscardedIgnoresH) {
  auto [mut, emu] = pair("h_res_discarded");
  const Semantics s = deepseek();
  const Case c{{3, 3, 8}, s, 10};
  PostInputs in = post_inputs(c);
  EXPECT_FALSE(same_values(mut->post_forward(s, in, nullptr).out, emu->post_forward(s, in, nullptr).out));
  const PostGrads g = mut->post_backward(s, in, post_upstream(c), nullptr);
  for (std::int64_t i = 0; i < g.dh_res.numel(); ++i) EXPECT_EQ(g.dh_res.get(i), 0.0);
  for (std::int64_t i = 0; i < in.h_res.numel(); ++i) in.h_res.set(i, (i % 9) % 4 == 0 ? 1.0 : 0.0);  // H = I (n = 3)
  EXPECT_TRUE(same_values(mut->post_forward(s, in, nullptr).out, emu->post_forward(s, in, nullptr).out));
}

TEST(Mutants, PostBwdHToken0RightOnlyWhereTokensShareH) {
  auto [mut, emu] = pair("post_bwd_h_token0");
  const Semantics s = deepseek();
  const Case c{{4, 3, 10}, s, 11};
  PostInputs in = post_inputs(c);
  const PostUpstream up = post_upstream(c);
  const PostGrads gm = mut->post_backward(s, in, up, nullptr), ge = emu->post_backward(s, in, up, nullptr);
  for (std::int64_t i = 0; i < 3 * 10; ++i) EXPECT_EQ(gm.dx.get(i), ge.dx.get(i)) << i;  // token 0
  EXPECT_FALSE(same_values(gm.dx, ge.dx));
  EXPECT_TRUE(same_values(gm.dh_res, ge.dh_res));
  for (std::int64_t i = 9; i < in.h_res.numel(); ++i) in.h_res.set(i, in.h_res.get(i % 9));
  EXPECT_TRUE(same_values(mut->post_backward(s, in, up, nullptr).dx, emu->post_backward(s, in, up, nullptr).dx));
}

// Rows whose mean square is comparable to eps_rms (x scaled by 1e-3: s/K ~ 1e-6).
PreInputs with_near_zero_rows(PreInputs in, std::int64_t rows_per_token) {
  const std::int64_t per_token = in.x.numel() / in.x.dim(0);
  for (std::int64_t i = 0; i < rows_per_token * per_token; ++i) in.x.set(i, in.x.get(i) * 1e-3);
  return in;
}

TEST(Mutants, BwdEpsRmsMismatchOnlyOnNearZeroRows) {
  auto [mut, emu] = pair("bwd_eps_rms_mismatch");
  Semantics s = deepseek();
  const Case c{{3, 2, 16}, s, 11};
  const PreInputs in = with_near_zero_rows(pre_inputs(c), 1);
  const PreUpstream up = pre_upstream(c);
  const Tensor dm = mut->pre_backward(s, in, up, nullptr).dx, de = emu->pre_backward(s, in, up, nullptr).dx;
  EXPECT_GT(rel_max_error(dm, de), 0.1);
  s.eps_rms = 0.0;  // nothing to get wrong
  EXPECT_TRUE(same_values(mut->pre_backward(s, in, up, nullptr).dx, emu->pre_backward(s, in, up, nullptr).dx));
}

TEST(Mutants, EpsOutsideRsqrtNaNOnZeroRows) {
  auto [mut, emu] = pair("eps_outside_rsqrt");
  Semantics s = deepseek();
  const Case c{{3, 2, 16}, s, 12};
  PreInputs in = pre_inputs(c);
  for (std::int64_t i = 0; i < 32; ++i) in.x.set(i, 0.0);  // token 0 all zero
  const PreOutputs om = mut->pre_forward(s, in, nullptr), oe = emu->pre_forward(s, in, nullptr);
  EXPECT_TRUE(std::isnan(om.h_post.get(0)));
  EXPECT_FALSE(std::isnan(oe.h_post.get(0)));
  s.eps_rms = 0.0;
  in = pre_inputs(c);
  EXPECT_TRUE(same_values(mut->pre_forward(s, in, nullptr).h_post, emu->pre_forward(s, in, nullptr).h_post));
}

TEST(Mutants, SinkhornDroppedIterationOnlyForSinkhornMaps) {
  auto [mut, emu] = pair("sinkhorn_dropped_iteration");
  const Semantics s = deepseek(3);
  const Case c{{4, 4, 8}, s, 13};
  const PreInputs in = pre_inputs(c, 4.0);
  EXPECT_FALSE(same_values(mut->pre_forward(s, in, nullptr).h_res, emu->pre_forward(s, in, nullptr).h_res));
  const Semantics id = preset("mhc_ops");
  const Case ci{{4, 4, 8}, id, 13};
  const PreInputs in_id = pre_inputs(ci);
  EXPECT_TRUE(same_values(mut->pre_forward(id, in_id, nullptr).h_res, emu->pre_forward(id, in_id, nullptr).h_res));
}

TEST(Mutants, SinkhornEpsStartDroppedShiftsTheStartByEps) {
  auto [mut, emu] = pair("sinkhorn_eps_start_dropped");
  Semantics s = deepseek(3);
  s.eps_sk = 0.1;
  const Case c{{4, 4, 8}, s, 15};
  const PreInputs in = pre_inputs(c);
  TensorMap tm, te;
  EXPECT_FALSE(same_values(mut->pre_forward(s, in, &tm).h_res, emu->pre_forward(s, in, &te).h_res));
  const Tensor& start_m = tm.at(taps::sinkhorn(0));
  const Tensor& start_e = te.at(taps::sinkhorn(0));
  for (std::int64_t i = 0; i < start_e.numel(); ++i) EXPECT_NEAR(start_e.get(i) - start_m.get(i), 0.1, 1e-6);
  s.eps_sk = 0.0;  // nothing to drop
  EXPECT_TRUE(same_values(mut->pre_forward(s, in, nullptr).h_res, emu->pre_forward(s, in, nullptr).h_res));
}

TEST(Mutants, SinkhornImplicitGradEqualsTheImplicitSemantics) {
  auto [mut, emu] = pair("sinkhorn_implicit_grad");
  Semantics s = deepseek(3);
  const Case c{{4, 4, 8}, s, 14};
  const PreInputs in = pre_inputs(c, 4.0);
  const PreUpstream up = pre_upstream(c);
  const PreGrads gm = mut->pre_backward(s, in, up, nullptr);
  EXPECT_FALSE(same_values(gm.dbias, emu->pre_backward(s, in, up, nullptr).dbias));
  s.sinkhorn_grad = SinkhornGrad::implicit;  // the semantics that asks for exactly this gradient
  EXPECT_TRUE(same_values(gm.dbias, emu->pre_backward(s, in, up, nullptr).dbias));
}

TEST(Mutants, Bf16TokenAccumulationLosesPrecisionOverTokens) {
  auto [mut, emu] = pair("bf16_token_accumulation");
  const Semantics s = deepseek();
  const Case c{{200, 2, 8}, s, 15};
  const PreGrads gm = mut->pre_backward(s, pre_inputs(c), pre_upstream(c), nullptr);
  const PreGrads ge = emu->pre_backward(s, pre_inputs(c), pre_upstream(c), nullptr);
  EXPECT_GT(rel_max_error(gm.dbias, ge.dbias), 1e-4);
  EXPECT_TRUE(same_values(gm.dphi, ge.dphi));
}

TEST(Mutants, NondeterministicReductionDiffersBetweenCalls) {
  auto [mut, emu] = pair("nondeterministic_reduction");
  const Semantics s = deepseek();
  const Case c{{300, 2, 8}, s, 16};
  const PreInputs in = pre_inputs(c);
  const PreUpstream up = pre_upstream(c);
  const Tensor a = mut->pre_backward(s, in, up, nullptr).dbias, b = mut->pre_backward(s, in, up, nullptr).dbias;
  EXPECT_FALSE(bitwise_equal(a, b));
  EXPECT_LE(rel_max_error(a, emu->pre_backward(s, in, up, nullptr).dbias), 1e-4);  // only the order is wrong
  const Case one{{1, 2, 8}, s, 16};
  EXPECT_TRUE(bitwise_equal(mut->pre_backward(s, pre_inputs(one), pre_upstream(one), nullptr).dbias,
                            mut->pre_backward(s, pre_inputs(one), pre_upstream(one), nullptr).dbias));
}

TEST(Mutants, FastPathN4OnlyRightAtN4) {
  auto [mut, emu] = pair("fast_path_n4_only");
  const Semantics s = deepseek();
  const Case four{{3, 4, 9}, s, 17}, three{{3, 3, 9}, s, 17}, five{{3, 5, 9}, s, 17};
  EXPECT_TRUE(same_values(mut->pre_forward(s, pre_inputs(four), nullptr).y,
                          emu->pre_forward(s, pre_inputs(four), nullptr).y));
  EXPECT_FALSE(same_values(mut->pre_forward(s, pre_inputs(three), nullptr).y,
                           emu->pre_forward(s, pre_inputs(three), nullptr).y));
  EXPECT_FALSE(same_values(mut->pre_forward(s, pre_inputs(five), nullptr).y,
                           emu->pre_forward(s, pre_inputs(five), nullptr).y));
}

TEST(Mutants, DxIntoInputOverwritesX) {
  auto [mut, emu] = pair("dx_into_input");
  const Semantics s = deepseek();
  const Case c{{3, 2, 5}, s, 18};
  PreInputs in = pre_inputs(c);
  const Tensor x_before = in.x;
  const PreGrads g = mut->pre_backward(s, in, pre_upstream(c), nullptr);
  EXPECT_FALSE(bitwise_equal(in.x, x_before));
  EXPECT_TRUE(bitwise_equal(in.x, g.dx));
  EXPECT_TRUE(same_values(g.dx, emu->pre_backward(s, pre_inputs(c), pre_upstream(c), nullptr).dx));
}

TEST(MutantsDeathTest, CrashOutOfBoundsKillsTheProcess) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const Semantics s = deepseek();
  const Case c{{2, 2, 4}, s, 19};
  const PreInputs in = pre_inputs(c);
  EXPECT_EXIT(make_mutant_backend("crash_out_of_bounds")->pre_forward(s, in, nullptr),
              ::testing::KilledBySignal(SIGSEGV), "");
}

}  // namespace
}  // namespace mhc::test
