// verify/casegen: tensors are a pure function of (seed, name, index); shapes and dtypes per
// preset; each distribution has the property it is documented to have; absurd cases fail before
// allocating.
#include "verify/casegen.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <set>

#include "core/error.hpp"
#include "core/rng.hpp"

namespace mhc::verify {
namespace {

CaseSpec spec_of(const std::string& line) { return CaseSpec::parse(line); }

std::string error_message(const std::function<void()>& f, ErrorKind kind) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind);
    return e.what();
  }
  ADD_FAILURE() << "no mhc::Error thrown";
  return {};
}

std::string invalid_message(const std::function<void()>& f) { return error_message(f, ErrorKind::invalid_input); }

// Too large for this machine is not a bad case: a larger machine runs it.
std::string memory_message(const std::function<void()>& f) {
  return error_message(f, ErrorKind::environment);
}

struct Moments {
  double mean = 0, var = 0, min = INFINITY, max = -INFINITY;
};

Moments moments(const Tensor& t) {
  Moments m;
  const auto v = t.to_f64_vector();
  for (double x : v) m.mean += x, m.min = std::min(m.min, x), m.max = std::max(m.max, x);
  m.mean /= static_cast<double>(v.size());
  for (double x : v) m.var += (x - m.mean) * (x - m.mean);
  m.var /= static_cast<double>(v.size());
  return m;
}

// Mean square of token t's row of x [T, n, C].
double row_mean_square(const Tensor& x, std::int64_t t) {
  const std::int64_t row = x.dim(1) * x.dim(2);
  double s = 0;
  for (std::int64_t k = 0; k < row; ++k) s += x.get(t * row + k) * x.get(t * row + k);
  return s / static_cast<double>(row);
}

TEST(Casegen, SameSpecGivesBitwiseSameTensors) {
  // Large enough for the parallel fill path.
  for (const char* line : {"pre T=40 n=4 C=256 preset=deepseek seed=3 dist=normal gamma=true",
                           "post T=40 n=4 C=256 preset=deepseek seed=3 dist=wide_logits"}) {
    const TensorMap a = case_tensors(spec_of(line)), b = case_tensors(spec_of(line));
    ASSERT_EQ(a.size(), b.size());
    for (const auto& [name, t] : a) EXPECT_TRUE(bitwise_equal(t, b.at(name))) << line << " " << name;
  }
}

TEST(Casegen, ElementIIsTheDrawOfSeedNameIndex) {
  const PreCase c = make_pre_case(spec_of("pre T=40 n=4 C=256 preset=deepseek seed=9 dist=normal"));
  const rng::TensorRng x = rng::tensor_rng(9, "x"), dy = rng::tensor_rng(9, "dy");
  // Every element: the batch sampler (normal_chunk, vector loops) gives the bits of the scalar one.
  for (std::int64_t i = 0; i < c.in.x.numel(); ++i) {
    ASSERT_EQ(c.in.x.data<bf16>()[i].bits, bf16_bits_from_f32(static_cast<float>(x.normal_icdf(static_cast<std::uint64_t>(i)))))
        << i;
  }
  for (std::int64_t i = 0; i < c.up.dy.numel(); ++i) {
    ASSERT_EQ(c.up.dy.data<bf16>()[i].bits, bf16_bits_from_f32(static_cast<float>(dy.normal_icdf(static_cast<std::uint64_t>(i)))))
        << i;
  }
  const PreCase f = make_pre_case(spec_of("pre T=40 n=4 C=256 preset=deepseek seed=9 dist=normal dtype=f32"));
  for (std::int64_t i = 0; i < f.in.x.numel(); ++i) {
    ASSERT_EQ(f.in.x.data<float>()[i], static_cast<float>(x.normal_icdf(static_cast<std::uint64_t>(i)))) << i;
  }
  // Hence the same x for pre and post, and for any T (a prefix of a longer case).
  const PostCase p = make_post_case(spec_of("post T=40 n=4 C=256 preset=deepseek seed=9 dist=normal"));
  EXPECT_TRUE(bitwise_equal(c.in.x, p.in.x));
  const PreCase shorter = make_pre_case(spec_of("pre T=3 n=4 C=256 preset=deepseek seed=9 dist=normal"));
  EXPECT_EQ(std::memcmp(shorter.in.x.bytes(), c.in.x.bytes(), shorter.in.x.nbytes()), 0);
}

TEST(Casegen, SeedsAndNamesGiveDifferentTensors) {
  const TensorMap a = case_tensors(spec_of("post T=5 n=4 C=64 seed=0"));
  const TensorMap b = case_tensors(spec_of("post T=5 n=4 C=64 seed=1"));
  for (const auto& [name, t] : a) EXPECT_FALSE(bitwise_equal(t, b.at(name))) << name;
  // Different names, same shape, same seed: different values.
  const PostCase c = make_post_case(spec_of("post T=5 n=4 C=64 seed=0"));
  EXPECT_NE(std::memcmp(c.in.x.bytes(), c.up.dout.bytes(), c.in.x.nbytes()), 0);
}

TEST(Casegen, Bf16CaseIsTheRoundedF32Case) {
  const PreCase b = make_pre_case(spec_of("pre T=6 n=3 C=33 seed=2"));
  const PreCase f = make_pre_case(spec_of("pre T=6 n=3 C=33 seed=2 dtype=f32"));
  ASSERT_EQ(f.in.x.dtype(), DType::f32);
  EXPECT_TRUE(bitwise_equal(f.in.x.to(DType::bf16), b.in.x));
  EXPECT_TRUE(bitwise_equal(f.up.dy.to(DType::bf16), b.up.dy));
  EXPECT_TRUE(bitwise_equal(f.in.phi, b.in.phi));  // parameters are f32 either way
}

TEST(Casegen, ShapesAndDtypesPerPreset) {
  struct Want {
    const char* preset;
    std::int64_t n, M;
    bool gamma;
  };
  for (const Want w : {Want{"deepseek", 4, 24, false}, Want{"mhc_ops", 3, 15, true}, Want{"lite", 4, 32, false},
                       Want{"lite", 3, 12, false}, Want{"paper", 1, 3, false}, Want{"deepseek", 8, 80, false}}) {
    CaseSpec s = spec_of("pre T=5 n=" + std::to_string(w.n) + " C=7 preset=" + w.preset);
    const PreCase c = make_pre_case(s);
    const std::int64_t K = w.n * 7;
    EXPECT_EQ(c.in.x.describe(), "bf16[5," + std::to_string(w.n) + ",7]");
    EXPECT_EQ(c.in.phi.describe(), "f32[" + std::to_string(w.M) + "," + std::to_string(K) + "]") << w.preset;
    EXPECT_EQ(c.in.gamma.defined(), w.gamma);
    if (w.gamma) {
      EXPECT_EQ(c.in.gamma.describe(), "f32[" + std::to_string(K) + "]");
    }
    EXPECT_EQ(c.in.alpha.describe(), "f32[3]");
    EXPECT_EQ(c.in.bias.describe(), "f32[" + std::to_string(w.M) + "]");
    EXPECT_EQ(c.up.dy.describe(), "bf16[5,7]");
    EXPECT_EQ(c.up.dh_post.describe(), "f32[5," + std::to_string(w.n) + "]");
    EXPECT_EQ(c.up.dh_res.describe(), "f32[5," + std::to_string(w.n) + "," + std::to_string(w.n) + "]");
  }
  const PostCase p = make_post_case(spec_of("post T=5 n=3 C=7 preset=paper dtype=f32"));
  EXPECT_EQ(p.in.x.describe(), "f32[5,3,7]");
  EXPECT_EQ(p.in.f.describe(), "f32[5,7]");
  EXPECT_EQ(p.in.h_post.describe(), "f32[5,3]");
  EXPECT_EQ(p.in.h_res.describe(), "f32[5,3,3]");
  EXPECT_EQ(p.up.dout.describe(), "f32[5,3,7]");
}

TEST(Casegen, EmptyTokenDimension) {
  const PreCase c = make_pre_case(spec_of("pre T=0 n=4 C=16"));
  EXPECT_EQ(c.in.x.describe(), "bf16[0,4,16]");
  EXPECT_EQ(c.in.phi.numel(), 24 * 64);  // parameters do not depend on T
  const PostCase p = make_post_case(spec_of("post T=0 n=2 C=3"));
  EXPECT_EQ(p.in.h_res.describe(), "f32[0,2,2]");
}

TEST(CasegenDistribution, NormalScales) {
  const PreCase c = make_pre_case(spec_of("pre T=64 n=4 C=256 seed=1 gamma=true"));
  const Moments x = moments(c.in.x), phi = moments(c.in.phi), bias = moments(c.in.bias);
  EXPECT_NEAR(x.mean, 0, 0.02);
  EXPECT_NEAR(x.var, 1, 0.03);
  EXPECT_NEAR(phi.var * 1024, 1, 0.05);  // N(0, 1/K) with K = 1024
  EXPECT_NEAR(std::sqrt(bias.var), 0.1, 0.05);
  EXPECT_NEAR(moments(c.in.gamma).mean, 1, 0.02);
  for (std::int64_t k = 0; k < 3; ++k) {
    EXPECT_GE(c.in.alpha.get(k), 0.5);
    EXPECT_LT(c.in.alpha.get(k), 1.5);
  }
  EXPECT_NEAR(moments(c.up.dh_res).var, 1, 0.2);
}

TEST(CasegenDistribution, PostCoefficientsExposeOrientationBugs) {
  const PostCase c = make_post_case(spec_of("post T=16 n=4 C=8 seed=5 post_mult=1.5"));
  const std::int64_t T = 16, n = 4;
  std::set<float> distinct_h_post;
  for (std::int64_t i = 0; i < T * n; ++i) {
    EXPECT_GT(c.in.h_post.get(i), 0);
    EXPECT_LT(c.in.h_post.get(i), 1.5);
    distinct_h_post.insert(c.in.h_post.data<float>()[i]);
  }
  EXPECT_EQ(distinct_h_post.size(), static_cast<std::size_t>(T * n));
  const float* H = c.in.h_res.data<float>();
  for (std::int64_t t = 0; t < T; ++t) {
    const float* h = H + t * n * n;
    double asym = 0, off_identity = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      double row = 0;
      for (std::int64_t j = 0; j < n; ++j) {
        row += h[i * n + j];
        asym = std::max(asym, std::fabs(static_cast<double>(h[i * n + j]) - h[j * n + i]));
        off_identity = std::max(off_identity, std::fabs(h[i * n + j] - (i == j ? 1.0 : 0.0)));
        EXPECT_GT(h[i * n + j], 0);
      }
      EXPECT_GE(row, 0.9 - 1e-6);
      EXPECT_LE(row, 1.1 + 1e-6);
      EXPECT_GT(std::fabs(row - 1), 1e-6) << "t=" << t << " i=" << i;  // holds for this seed
    }
    EXPECT_GT(asym, 0.01) << "t=" << t;
    EXPECT_GT(off_identity, 0.1) << "t=" << t;
    if (t > 0) {
      EXPECT_NE(std::memcmp(h, h - n * n, sizeof(float) * n * n), 0);  // per-token distinct
    }
  }
}

TEST(CasegenDistribution, Uniform) {
  const PreCase c = make_pre_case(spec_of("pre T=64 n=4 C=256 seed=1 dist=uniform dtype=f32"));
  const Moments x = moments(c.in.x);
  EXPECT_NEAR(x.var, 1, 0.03);
  EXPECT_GE(x.min, -std::sqrt(3.0));
  EXPECT_LE(x.max, std::sqrt(3.0));
  EXPECT_LT(x.min, -1.7);  // reaches the ends
}

TEST(CasegenDistribution, Ones) {
  const PreCase c = make_pre_case(spec_of("pre T=3 n=2 C=5 dist=ones gamma=true"));
  for (const Tensor* t : {&c.in.x, &c.in.gamma, &c.in.alpha, &c.up.dy, &c.up.dh_post, &c.up.dh_res}) {
    const Moments m = moments(*t);
    EXPECT_EQ(m.min, 1);
    EXPECT_EQ(m.max, 1);
  }
  EXPECT_EQ(moments(c.in.phi).max, static_cast<double>(0.1f));  // 1/K, K = 10
  EXPECT_EQ(moments(c.in.bias).max, 0);
  const PostCase p = make_post_case(spec_of("post T=3 n=4 C=5 dist=ones"));
  EXPECT_EQ(moments(p.in.h_res).max, 0.25);
  EXPECT_EQ(moments(p.in.h_post).max, 1.0);  // p / 2
}

TEST(CasegenDistribution, ArangeIsReadableAndExact) {
  const PreCase c = make_pre_case(spec_of("pre T=3 n=4 C=100 dist=arange"));
  for (std::int64_t i = 0; i < c.in.x.numel(); ++i) {
    ASSERT_EQ(c.in.x.get(i), static_cast<double>(i % 256 - 128) / 128) << i;
  }
  EXPECT_EQ(c.up.dy.get(299), static_cast<double>(299 % 256 - 128) / 128);
}

TEST(CasegenDistribution, SmallIntSumsAreExact) {
  const PreCase c = make_pre_case(spec_of("pre T=8 n=4 C=300 dist=small_int gamma=true"));
  std::set<double> values;
  for (double v : c.in.x.to_f64_vector()) {
    ASSERT_EQ(v, std::round(v));
    values.insert(v);
  }
  EXPECT_EQ(values, (std::set<double>{-3, -2, -1, 0, 1, 2, 3}));
  // phi is an integer times one power of two (K = 1200: 2^-6).
  for (double v : c.in.phi.to_f64_vector()) {
    ASSERT_EQ(v * 64, std::round(v * 64));
    ASSERT_LE(std::fabs(v * 64), 2);
  }
  for (double v : c.in.gamma.to_f64_vector()) ASSERT_EQ(v * 4, std::round(v * 4));
  for (double v : c.in.bias.to_f64_vector()) ASSERT_EQ(v * 8, std::round(v * 8));
}

TEST(CasegenDistribution, ZeroRowsAreExactlyZero) {
  const PreCase c = make_pre_case(spec_of("pre T=10 n=3 C=17 dist=zero_rows"));
  for (std::int64_t t = 0; t < 10; ++t) {
    const double ms = row_mean_square(c.in.x, t);
    if (t % 3 == 0) EXPECT_EQ(ms, 0) << t;
    else EXPECT_GT(ms, 0.3) << t;
  }
  // Only x has zero rows.
  EXPECT_GT(moments(c.up.dy).var, 0.5);
}

TEST(CasegenDistribution, NearZeroRowsSitAtEpsRms) {
  for (const char* line : {"pre T=7 n=4 C=512 dist=near_zero_rows", "pre T=7 n=4 C=512 dist=near_zero_rows eps_rms=0.01"}) {
    const CaseSpec s = spec_of(line);
    const PreCase c = make_pre_case(s);
    for (std::int64_t t = 0; t < 7; ++t) {
      const double ms = row_mean_square(c.in.x, t);
      if (t % 3 == 0) {
        EXPECT_GT(ms, s.semantics.eps_rms / 2) << line << " t=" << t;
        EXPECT_LT(ms, s.semantics.eps_rms * 2) << line << " t=" << t;
      } else {
        EXPECT_GT(ms, 0.5);
      }
    }
  }
}

TEST(CasegenDistribution, WideLogits) {
  const PreCase c = make_pre_case(spec_of("pre T=4 n=4 C=64 dist=wide_logits"));
  EXPECT_GE(c.in.alpha.get(2), 6);
  EXPECT_LT(c.in.alpha.get(0), 1.5);
  double res_var = 0, pre_var = 0;
  for (std::int64_t j = 0; j < 8; ++j) pre_var += c.in.bias.get(j) * c.in.bias.get(j) / 8;
  for (std::int64_t j = 8; j < 24; ++j) res_var += c.in.bias.get(j) * c.in.bias.get(j) / 16;
  EXPECT_GT(res_var, 10 * pre_var);
  // Post: rows dominated by one entry.
  const PostCase p = make_post_case(spec_of("post T=32 n=4 C=8 dist=wide_logits"));
  double max_entry = 0;
  for (double v : p.in.h_res.to_f64_vector()) max_entry = std::max(max_entry, v);
  EXPECT_GT(max_entry, 0.9);
}

TEST(CasegenDistribution, LargeStaysBelowF32Overflow) {
  const PreCase c = make_pre_case(spec_of("pre T=16 n=4 C=1000 dist=large"));
  const double scale = std::ldexp(1.0, 58 - 6);  // K = 4000: ceil(log2 K) = 12
  EXPECT_NEAR(std::sqrt(moments(c.in.x).var), scale, 0.05 * scale);
  for (std::int64_t t = 0; t < 16; ++t) {
    float s = 0;  // the kernel's f32 sum of squares
    for (std::int64_t k = 0; k < 4000; ++k) s += static_cast<float>(c.in.x.get(t * 4000 + k) * c.in.x.get(t * 4000 + k));
    EXPECT_TRUE(std::isfinite(s));
  }
  const PostCase p = make_post_case(spec_of("post T=4 n=8 C=1000 dist=large"));
  const double post_scale = std::ldexp(1.0, 118 - 10);
  EXPECT_NEAR(std::sqrt(moments(p.in.f).var), post_scale, 0.1 * post_scale);
  // Worst case |out| <= (p + max row sum of H) * max|x|, below the f32 maximum.
  EXPECT_LT((2.0 + 8 * 1.1) * std::max(moments(p.in.x).max, -moments(p.in.x).min), 3.4e38);
}

TEST(CasegenValidation, RejectsBeforeAllocating) {
  EXPECT_NE(invalid_message([] { make_pre_case(spec_of("pre T=3000000000000 n=8 C=3000000000000")); }).find("overflow"),
            std::string::npos);
  EXPECT_NE(memory_message([] { make_pre_case(spec_of("pre T=1000000000 n=4 C=7168")); }).find("limit"),
            std::string::npos);
  CaseLimits tiny;
  tiny.max_bytes = 1000;
  EXPECT_NE(memory_message([&] { make_post_case(spec_of("post T=10 n=4 C=100"), tiny); }).find("MiB"), std::string::npos);
  EXPECT_NE(invalid_message([] { make_pre_case(spec_of("pre T=1 n=6 C=4 preset=lite")); }).find("permutation"),
            std::string::npos);
  EXPECT_NE(invalid_message([] { make_pre_case(spec_of("pre T=-1 n=4 C=4")); }).find("T"), std::string::npos);
  CaseSpec s = spec_of("pre T=1 n=1 C=1");
  s.distribution = "gauss";
  EXPECT_NE(invalid_message([&] { make_pre_case(s); }).find("gauss"), std::string::npos);
  s = spec_of("pre T=1 n=1 C=1");
  s.dtype = DType::f64;
  EXPECT_NE(invalid_message([&] { make_pre_case(s); }).find("dtype"), std::string::npos);
  EXPECT_NE(invalid_message([] { make_post_case(spec_of("pre T=1 n=1 C=1")); }).find("pre case"), std::string::npos);
}

// The estimate must bound what verifying really takes (the CLI audit saw 14x the inputs: a case
// that passed the old inputs-only check was killed by the kernel's OOM killer with no report).
TEST(CasegenValidation, PeakBytesBoundTheMeasuredPeaks) {
  const double MB = 1 << 20;
  // Maximum RSS measured with /usr/bin/time on the emulated backend (2026-11-24).
  const std::pair<const char*, double> run[] = {{"pre T=2000 n=4 C=4000", 1125},   {"pre T=2000 n=8 C=4000", 2148},
                                                {"post T=2000 n=4 C=4000", 1681},  {"post T=2000 n=8 C=4000", 3150},
                                                {"pre T=1 n=8 C=100000", 3033},    {"pre T=200000 n=8 C=1", 1853},
                                                {"pre T=4096 n=4 C=16 repeats=2000", 530}};
  for (const auto& [line, measured] : run) EXPECT_GE(case_peak_bytes(spec_of(line)) / MB, measured) << line;
  const std::pair<const char*, double> decompose[] = {{"pre T=2000 n=4 C=4000", 4001},
                                                      {"post T=2000 n=4 C=4000", 1955},
                                                      {"pre T=1 n=8 C=100000", 4700},
                                                      {"pre T=200000 n=8 C=1", 7065},
                                                      {"pre T=20000 n=4 C=1 repeats=200", 1303},
                                                      {"pre T=4096 n=4 C=16 repeats=2000", 2555}};
  for (const auto& [line, measured] : decompose) {
    EXPECT_GE(case_peak_bytes(spec_of(line), CaseWork::decompose) / MB, measured) << line;
  }
  // Not wildly above either: within 2x where the tensors of one kind dominate.
  EXPECT_LT(case_peak_bytes(spec_of("pre T=2000 n=4 C=4000")) / MB, 2 * 1125);
  EXPECT_LT(case_peak_bytes(spec_of("post T=2000 n=4 C=4000")) / MB, 2 * 1681);
}

TEST(CasegenValidation, InputBytes) {
  // pre: x 2*T*K, dy 2*T*C, phi 4*M*K, alpha+bias 4*(3+M), dh_post 4*T*n, dh_res 4*T*n*n.
  const std::uint64_t T = 13, n = 4, C = 7, K = 28, M = 24;
  EXPECT_EQ(case_input_bytes(spec_of("pre T=13 n=4 C=7")), 2 * T * K + 2 * T * C + 4 * (M * K + 3 + M + T * n + T * n * n));
  EXPECT_EQ(case_input_bytes(spec_of("post T=13 n=4 C=7 dtype=f32")), 4 * (2 * T * K + T * C + T * n + T * n * n));
}

TEST(CaseTensorMap, RoundTripAndMissingNames) {
  const CaseSpec s = spec_of("pre T=3 n=2 C=5 preset=mhc_ops");
  const TensorMap m = case_tensors(s);
  EXPECT_EQ(m.size(), 8u);
  const TensorMap again = to_tensor_map(pre_case_from_map(m));
  for (const auto& [name, t] : m) EXPECT_TRUE(bitwise_equal(t, again.at(name))) << name;
  TensorMap missing = m;
  missing.erase("dh_res");
  EXPECT_NE(invalid_message([&] { pre_case_from_map(missing); }).find("dh_res"), std::string::npos);

  const TensorMap post = case_tensors(spec_of("post T=3 n=2 C=5"));
  EXPECT_EQ(post.size(), 5u);
  const TensorMap post_again = to_tensor_map(post_case_from_map(post));
  for (const auto& [name, t] : post) EXPECT_TRUE(bitwise_equal(t, post_again.at(name))) << name;
  EXPECT_NE(invalid_message([&] { post_case_from_map(m); }).find("\"f\""), std::string::npos);
}

TEST(CaseTensorMap, MetadataRegeneratesTheCase) {
  const CaseSpec s = spec_of("post T=3 n=2 C=5 preset=paper seed=4 dist=zero_rows repeats=3");
  const auto meta = case_metadata(s);
  EXPECT_EQ(meta.at("op"), "post");
  EXPECT_EQ(meta.at("preset"), "paper");
  EXPECT_EQ(meta.at("repeats"), "3");
  EXPECT_EQ(meta.at("casegen"), std::to_string(kCaseGenVersion));
  EXPECT_EQ(CaseSpec::parse(meta.at("case")), s);
  EXPECT_EQ(from_fields(meta, preset("paper")), s.semantics);
}

}  // namespace
}  // namespace mhc::verify
