// Bad input gives mhc::Error(invalid_input) naming the problem, never a crash.
#include <gtest/gtest.h>

#include <string>

#include "cases.hpp"
#include "core/error.hpp"

namespace mhc::test {
namespace {

template <class F>
void expect_invalid(F f, const std::string& mentions) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one mentioning \"" << mentions << "\"";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid_input) << e.what();
    EXPECT_NE(std::string(e.what()).find(mentions), std::string::npos) << e.what();
  }
}

TEST(Errors, WrongShapesAreNamed) {
  Semantics s = preset("deepseek");
  PreCase c = make_pre_case(s, 2, 3, 4, 1);
  PreCase bad = c;
  bad.phi = Tensor(DType::f32, {15, 11});
  expect_invalid([&] { ref::pre_forward(s, bad.args(), nullptr); }, "phi: expected shape [15,12]");
  bad = c;
  bad.bias = Tensor(DType::f32, {14});
  expect_invalid([&] { ref::pre_forward(s, bad.args(), nullptr); }, "bias");
  bad = c;
  bad.alpha = Tensor(DType::f32, {1, 3});
  expect_invalid([&] { ref::pre_forward(s, bad.args(), nullptr); }, "alpha");
  bad = c;
  bad.x = Tensor(DType::bf16, {2, 12});
  expect_invalid([&] { ref::pre_forward(s, bad.args(), nullptr); }, "x: expected shape [T,n,C]");
  bad = c;
  bad.dy = Tensor(DType::bf16, {2, 5});
  expect_invalid([&] { ref::pre_backward(s, bad.args(), bad.upstream(), nullptr); }, "dy: expected shape [2,4]");
  bad = c;
  bad.dh_res = Tensor(DType::f32, {2, 3});
  expect_invalid([&] { ref::pre_backward(s, bad.args(), bad.upstream(), nullptr); }, "dh_res");
}

TEST(Errors, GammaMustMatchUseGamma) {
  Semantics s = preset("mhc_ops");
  PreCase c = make_pre_case(s, 2, 2, 3, 2);
  c.gamma = Tensor();
  expect_invalid([&] { ref::pre_forward(s, c.args(), nullptr); }, "gamma: missing");
  s.use_gamma = false;
  c.gamma = Tensor(DType::f32, {6});
  expect_invalid([&] { ref::pre_forward(s, c.args(), nullptr); }, "use_gamma");
}

TEST(Errors, PermutationsNeedAtMostFiveStreams) {
  const Semantics s = preset("lite");
  const Tensor x(DType::bf16, {1, 6, 2}), phi(DType::f32, {732, 12}), alpha(DType::f32, {3}),
      bias(DType::f32, {732}), none;
  expect_invalid([&] { ref::pre_forward(s, {x, phi, none, alpha, bias}, nullptr); }, "n = 6");
}

TEST(Errors, PostShapes) {
  const Semantics s = preset("deepseek");
  PostCase c = make_post_case(s, 2, 3, 4, 3);
  c.h_res = Tensor(DType::f32, {2, 3, 2});
  expect_invalid([&] { ref::post_forward(s, c.args()); }, "h_res: expected shape [2,3,3]");
  c = make_post_case(s, 2, 3, 4, 3);
  const Tensor dout(DType::f32, {2, 3, 5});
  expect_invalid([&] { ref::post_backward(s, c.args(), dout); }, "dout");
}

TEST(Errors, Stages) {
  const Semantics s = preset("deepseek");
  expect_invalid([&] { ref::run_stage(s, "gemm", {}); }, "unknown stage");
  expect_invalid([&] { ref::run_stage(s, "apply", {}); }, "missing input tensor \"x\"");
  ref::Named in{{"tap.z", Tensor(DType::f32, {2, 7})}};
  expect_invalid([&] { ref::run_stage(s, "resmap", in); }, "for no n");
}

TEST(Errors, BadSemantics) {
  Semantics s = preset("deepseek");
  s.repeats = 0;
  const PreCase c = make_pre_case(preset("deepseek"), 2, 2, 2, 4);
  expect_invalid([&] { ref::pre_forward(s, c.args(), nullptr); }, "repeats");
}

}  // namespace
}  // namespace mhc::test
