// verify/case.cpp: the one-line case form. Examples pin the canonical spelling; a RapidCheck
// property checks parse(to_string(spec)) == spec over every field.
#include "verify/case.hpp"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <cstring>

#include "core/error.hpp"

namespace mhc::verify {
namespace {

std::string parse_error(std::string_view line) {
  try {
    CaseSpec::parse(line);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid_input);
    return e.what();
  }
  ADD_FAILURE() << "accepted \"" << line << "\"";
  return {};
}

TEST(CaseLine, CanonicalFormOmitsPresetValues) {
  CaseSpec s;
  s.shape = {137, 4, 1280};
  s.seed = 3;
  EXPECT_EQ(s.to_string(), "pre T=137 n=4 C=1280 preset=deepseek seed=3 dist=normal");
  s.semantics.repeats = 10;
  s.semantics.post_mult = 1.0;
  s.semantics.eps_rms = 1e-2;
  EXPECT_EQ(s.to_string(), "pre T=137 n=4 C=1280 preset=deepseek seed=3 dist=normal repeats=10 eps_rms=0.01 post_mult=1");
}

TEST(CaseLine, DtypeToleranceAndBooleans) {
  CaseSpec s;
  s.op = Op::post;
  s.shape = {1, 2, 3};
  s.preset = "paper";
  s.semantics = preset("paper");
  s.semantics.use_gamma = true;
  s.semantics.orientation = Orientation::transposed;
  s.dtype = DType::f32;
  s.tolerance = "mhc_public_5e-2";
  s.distribution = "zero_rows";
  EXPECT_EQ(s.to_string(),
            "post T=1 n=2 C=3 preset=paper seed=0 dist=zero_rows dtype=f32 tol=mhc_public_5e-2 orientation=transposed gamma=true");
  EXPECT_EQ(CaseSpec::parse(s.to_string()), s);
}

TEST(CaseLine, ParsesAnyOrderAndWhitespace) {
  const CaseSpec a = CaseSpec::parse("pre T=5 n=3 C=9 preset=lite seed=1 dist=normal");
  const CaseSpec b = CaseSpec::parse("  pre\tseed=1  C=9 preset=lite n=3 T=5 ");
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.semantics, preset("lite"));
  EXPECT_EQ(a.shape, (Shape{5, 3, 9}));
  // dist and preset default to normal / deepseek; seed to 0.
  const CaseSpec c = CaseSpec::parse("post T=1 n=1 C=1");
  EXPECT_EQ(c.distribution, "normal");
  EXPECT_EQ(c.preset, "deepseek");
  EXPECT_EQ(c.seed, 0u);
  // A field given at its preset value is accepted and dropped from the canonical form.
  EXPECT_EQ(CaseSpec::parse("pre T=1 n=4 C=8 repeats=20").to_string(), "pre T=1 n=4 C=8 preset=deepseek seed=0 dist=normal");
}

TEST(CaseLine, OverridesApplyOnTopOfThePreset) {
  const CaseSpec s = CaseSpec::parse("pre T=2 n=4 C=8 preset=paper repeats=3 eps_sk=0.1 merged_residual=true sinkhorn_grad=implicit resmap=sinkhorn");
  Semantics expected = preset("paper");
  expected.repeats = 3;
  expected.eps_sk = 0.1;
  expected.merged_residual = true;
  expected.sinkhorn_grad = SinkhornGrad::implicit;
  expected.resmap = ResMap::sinkhorn;
  EXPECT_EQ(s.semantics, expected);
  EXPECT_EQ(CaseSpec::parse(s.to_string()), s);
}

TEST(CaseLine, ErrorsNameTheToken) {
  EXPECT_NE(parse_error("").find("empty"), std::string::npos);
  EXPECT_NE(parse_error("mid T=1 n=1 C=1").find("mid"), std::string::npos);
  EXPECT_NE(parse_error("pre T=1 n=1 C=1 color=red").find("color"), std::string::npos);
  EXPECT_NE(parse_error("pre T=1 n=1 C=1 T=2").find("\"T\" given twice"), std::string::npos);
  EXPECT_NE(parse_error("pre T=x n=1 C=1").find("T=x"), std::string::npos);
  EXPECT_NE(parse_error("pre T=1.5 n=1 C=1").find("T=1.5"), std::string::npos);
  EXPECT_NE(parse_error("pre T=1 n=1 C=1 seed=-1").find("seed=-1"), std::string::npos);
  EXPECT_NE(parse_error("pre T=1 n=1 C=99999999999999999999").find("C="), std::string::npos);
  EXPECT_NE(parse_error("pre T=1 n=1").find("must give T, n and C"), std::string::npos);
  EXPECT_NE(parse_error("pre T=1 n=1 C=1 seed").find("\"seed\""), std::string::npos);
  EXPECT_NE(parse_error("pre T=1 n=1 C=1 =3").find("\"=3\""), std::string::npos);
  EXPECT_NE(parse_error("pre T=1 n=1 C=1 preset=deepseak").find("deepseak"), std::string::npos);
  EXPECT_NE(parse_error("pre T=1 n=1 C=1 dtype=f64").find("dtype=f64"), std::string::npos);
  EXPECT_NE(parse_error("pre T=1 n=1 C=1 repeats=ten").find("repeats"), std::string::npos);
  EXPECT_NE(parse_error("pre T=1 n=1 C=1 gamma=maybe").find("gamma"), std::string::npos);
  // use_gamma (the metadata's spelling) is gamma, so giving both is giving one key twice.
  EXPECT_TRUE(CaseSpec::parse("pre T=1 n=1 C=1 use_gamma=true").semantics.use_gamma);
  EXPECT_NE(parse_error("pre T=1 n=1 C=1 gamma=true use_gamma=false").find("twice"), std::string::npos);
  EXPECT_NE(parse_error("pre T=1 n=1 C=1 orientation=sideways").find("sideways"), std::string::npos);
  EXPECT_NE(parse_error("pre T=1 n=1 C=1 dist=").find("dist"), std::string::npos);
  EXPECT_NE(parse_error("pre T=1 n=1 C=1 dist=gaussian").find("dist=gaussian"), std::string::npos);
  EXPECT_NE(parse_error("pre T=1 n=1 C=1 tol=loose").find("tol=loose"), std::string::npos);
}

TEST(Op, Strings) {
  EXPECT_EQ(to_string(Op::pre), "pre");
  EXPECT_EQ(op_from_string("post"), Op::post);
  EXPECT_THROW(op_from_string("Pre"), Error);
}

rc::Gen<double> eps_like() {
  // Non-negative finite doubles of every magnitude, including 0 and awkward decimals.
  return rc::gen::oneOf(rc::gen::element(0.0, 1e-6, 1e-2, 0.1, 1e-300, 5e-324, 0.1 + 0.2),
                        rc::gen::map(rc::gen::arbitrary<std::uint64_t>(), [](std::uint64_t bits) {
                          double d;
                          bits &= 0x7FEFFFFFFFFFFFFFull;  // positive, finite
                          std::memcpy(&d, &bits, 8);
                          return d;
                        }));
}

rc::Gen<CaseSpec> any_case() {
  return rc::gen::exec([] {
    CaseSpec s;
    s.op = *rc::gen::element(Op::pre, Op::post);
    s.shape.T = *rc::gen::inRange<std::int64_t>(0, std::int64_t{1} << 40);
    s.shape.n = *rc::gen::inRange<std::int64_t>(1, 9);
    s.shape.C = *rc::gen::inRange<std::int64_t>(1, 1 << 20);
    s.preset = *rc::gen::element<std::string>("deepseek", "mhc_ops", "lite", "paper");
    s.semantics = preset(s.preset);
    s.seed = *rc::gen::arbitrary<std::uint64_t>();
    s.distribution = *rc::gen::element<std::string>("normal", "uniform", "zero_rows", "wide_logits", "large");
    s.dtype = *rc::gen::element(DType::bf16, DType::f32);
    s.tolerance = *rc::gen::element<std::string>("baseline", "assert_close_bf16", "mhc_public_2.5e-2");
    if (*rc::gen::arbitrary<bool>()) s.semantics.repeats = *rc::gen::inRange(0, 100);
    if (*rc::gen::arbitrary<bool>()) s.semantics.eps_rms = *eps_like();
    if (*rc::gen::arbitrary<bool>()) s.semantics.eps_pre = *eps_like();
    if (*rc::gen::arbitrary<bool>()) s.semantics.eps_sk = *eps_like();
    if (*rc::gen::arbitrary<bool>()) s.semantics.post_mult = *eps_like();
    if (*rc::gen::arbitrary<bool>()) {
      s.semantics.resmap = *rc::gen::element(ResMap::sinkhorn, ResMap::sinkhorn_exp, ResMap::identity, ResMap::permutations);
    }
    if (*rc::gen::arbitrary<bool>()) s.semantics.orientation = *rc::gen::element(Orientation::plain, Orientation::transposed);
    s.semantics.use_gamma = *rc::gen::arbitrary<bool>();
    s.semantics.merged_residual = *rc::gen::arbitrary<bool>();
    s.semantics.sinkhorn_grad = *rc::gen::element(SinkhornGrad::exact, SinkhornGrad::implicit);
    return s;
  });
}

RC_GTEST_PROP(CaseLineProperty, ParseInvertsToString, ()) {
  const CaseSpec s = *any_case();
  const std::string line = s.to_string();
  RC_ASSERT(CaseSpec::parse(line) == s);
  RC_ASSERT(CaseSpec::parse(line).to_string() == line);  // canonical: printing is idempotent
}

}  // namespace
}  // namespace mhc::verify
