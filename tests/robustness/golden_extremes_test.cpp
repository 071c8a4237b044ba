// The golden (and the emulated GPU-rounding backend) at the edges of the input space: wherever
// the math is finite the results must be finite, and where a closed form exists, equal to it.
#include <cmath>
#include <limits>

#include <gtest/gtest.h>

#include "tests/robustness/extremes.hpp"

namespace mhc::robustness {
namespace {

// All-zero streams: s = 0, so inv_rms = 1/sqrt(eps_rms) is the only thing keeping the norm finite.
TEST(GoldenExtremes, AllZeroStreamsTakeTheEpsRmsPath) {
  for (const char* line : {"pre T=4 n=4 C=16 preset=deepseek seed=1 dtype=f32",
                           "pre T=3 n=3 C=8 preset=mhc_ops seed=2", "pre T=2 n=4 C=8 preset=lite seed=3"}) {
    SCOPED_TRACE(line);
    auto c = make_case(line);
    fill(c.tensors.at("x"), 0.0);
    for (const char* backend : {"golden", "emulated"}) {
      SCOPED_TRACE(backend);
      const auto r = results_of(backend, c);
      EXPECT_EQ(first_nonfinite(r), std::nullopt);
      const Tensor& y = r.at("y");  // y = sum_i h_pre_i x_i = 0 exactly
      for (std::int64_t i = 0; i < y.numel(); ++i) ASSERT_EQ(y.get(i), 0.0) << "y[" << i << "]";
    }
  }
}

// The paper's eps_rms = 0: an all-zero token has inv_rms = 1/sqrt(0) = inf, and the math itself
// is undefined there (0 * inf). The golden says so with NaN on exactly those tokens' y, and stays
// finite on the others.
TEST(GoldenExtremes, ZeroTokenWithoutEpsRmsIsNaNOnlyThere) {
  auto c = make_case("pre T=3 n=3 C=8 preset=paper seed=2 dtype=f32");
  Tensor& x = c.tensors.at("x");
  for (std::int64_t i = 0; i < 3 * 8; ++i) x.set(flat_index(x, {1, i / 8, i % 8}), 0.0);  // token 1
  const Tensor y = results_of("golden", c).at("y");
  for (std::int64_t t = 0; t < 3; ++t)
    for (std::int64_t ch = 0; ch < 8; ++ch)
      EXPECT_EQ(std::isnan(y.get(t * 8 + ch)), t == 1) << "y[" << t << "," << ch << "] = " << y.get(t * 8 + ch);
}

// The largest finite bf16 in every stream: the f64 golden has room; pre's norm cancels the scale.
TEST(GoldenExtremes, StreamsAtTheBf16LimitGiveFiniteResults) {
  const double big = static_cast<double>(std::numeric_limits<float>::max()) * 0.99;  // in bf16: 3.37e38
  for (const char* line : {"pre T=3 n=4 C=16 preset=deepseek seed=4", "post T=3 n=4 C=16 preset=deepseek seed=4"}) {
    SCOPED_TRACE(line);
    auto c = make_case(line);
    Tensor& x = c.tensors.at("x");
    for (std::int64_t i = 0; i < x.numel(); ++i) x.set(i, i % 2 ? big : -big);
    if (c.spec.op == verify::Op::post) fill(c.tensors.at("f"), big);
    const auto r = results_of("golden", c);
    EXPECT_EQ(first_nonfinite(r), std::nullopt);
  }
}

// The `large` distribution is the largest scale at which no f32 intermediate can overflow: the
// f32-accumulating emulated backend must stay finite there too.
TEST(GoldenExtremes, LargeDistributionIsFiniteInF32) {
  for (const char* line : {"pre T=5 n=4 C=32 preset=deepseek seed=5 dist=large",
                           "post T=5 n=4 C=32 preset=deepseek seed=5 dist=large"}) {
    SCOPED_TRACE(line);
    const auto c = make_case(line);
    for (const char* backend : {"golden", "emulated"}) {
      SCOPED_TRACE(backend);
      EXPECT_EQ(first_nonfinite(results_of(backend, c)), std::nullopt);
    }
  }
}

// Logits of +-1000: exp overflows in any precision unless the sigmoid is written stably.
// h_pre -> {eps_pre, 1 + eps_pre}, h_post -> {0, post_mult}, and the gradients through the
// saturated sigmoids vanish instead of becoming inf * 0.
TEST(GoldenExtremes, SaturatedSigmoidsAreExactAndTheirGradientsVanish) {
  auto c = make_case("pre T=3 n=4 C=16 preset=deepseek seed=6 dtype=f32");
  const std::int64_t n = 4;
  Tensor& phi = c.tensors.at("phi");
  Tensor& bias = c.tensors.at("bias");
  const std::int64_t K = phi.dim(1);
  for (std::int64_t i = 0; i < n; ++i) {
    for (const std::int64_t row : {pre_row(i), post_row(n, i)}) {
      for (std::int64_t k = 0; k < K; ++k) phi.set(row * K + k, 0.0);  // logit = bias exactly
      bias.set(row, i % 2 ? 1000.0 : -1000.0);
    }
  }
  for (const char* backend : {"golden", "emulated"}) {
    SCOPED_TRACE(backend);
    const auto r = results_of(backend, c);
    EXPECT_EQ(first_nonfinite(r), std::nullopt);
    const Tensor& h_post = r.at("h_post");
    for (std::int64_t t = 0; t < 3; ++t)
      for (std::int64_t i = 0; i < n; ++i)
        EXPECT_EQ(h_post.get(t * n + i), i % 2 ? c.spec.semantics.post_mult : 0.0) << "h_post[" << t << "," << i << "]";
    const Tensor& dbias = r.at("dbias");
    for (std::int64_t i = 0; i < n; ++i) {
      EXPECT_EQ(dbias.get(pre_row(i)), 0.0) << "dbias pre " << i;
      EXPECT_EQ(dbias.get(post_row(n, i)), 0.0) << "dbias post " << i;
    }
  }
}

// Sinkhorn logits of +-80 (exp(80) = 5.5e34, near the f32 limit once summed over a row): H stays
// finite, non-negative, and its rows and columns stay normalised.
TEST(GoldenExtremes, SinkhornLogitsOfPlusMinus80StayNormalised) {
  auto c = make_case("pre T=2 n=4 C=16 preset=deepseek seed=7 dtype=f32");
  const std::int64_t n = 4;
  Tensor& phi = c.tensors.at("phi");
  Tensor& bias = c.tensors.at("bias");
  const std::int64_t K = phi.dim(1);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      const std::int64_t row = res_row(n, i, j);
      for (std::int64_t k = 0; k < K; ++k) phi.set(row * K + k, 0.0);
      bias.set(row, (i + j) % 2 ? 80.0 : -80.0);
    }
  for (const char* backend : {"golden", "emulated"}) {
    SCOPED_TRACE(backend);
    const auto r = results_of(backend, c);
    ASSERT_EQ(first_nonfinite(r), std::nullopt);
    const Tensor& h = r.at("h_res");
    for (std::int64_t t = 0; t < 2; ++t)
      for (std::int64_t i = 0; i < n; ++i) {
        double row = 0, col = 0;
        for (std::int64_t j = 0; j < n; ++j) {
          EXPECT_GE(h.get((t * n + i) * n + j), 0.0);
          row += h.get((t * n + i) * n + j);
          col += h.get((t * n + j) * n + i);
        }
        EXPECT_NEAR(row, 1.0, 1e-3) << "row " << i;
        EXPECT_NEAR(col, 1.0, 1e-3) << "column " << i;
      }
  }
}

}  // namespace
}  // namespace mhc::robustness
