// Error paths (issue 4): no device, bad input, unsupported requests and device out-of-memory
// become mhc::Error values of the right kind, never an abort.
#include <gtest/gtest.h>


#include "core/error.hpp"
#include "kernels/backend.hpp"
#include "kernels/cuda/cuda_backend.hpp"
#include "kernels/cuda/workspace.hpp"
#include "tests/cuda/gpu.hpp"
#include "tests/thrown_kind.hpp"
#include "verify/casegen.hpp"

namespace mhc::test {
namespace {

TEST(CudaErrors, WithoutDeviceConstructionIsAnEnvironmentError) {
  if (have_gpu()) GTEST_SKIP() << "a device is present";
  EXPECT_EQ(cuda_device_count(), 0);
  EXPECT_TRUE(cuda_device_descriptions().empty());
  EXPECT_EQ(thrown_kind([] { make_cuda_backend(0); }), ErrorKind::environment);
  // `auto` falls back to the CPU backend instead of failing.
  EXPECT_NE(make_backend("auto")->name(), "cuda");
}

TEST(CudaErrors, DeviceIndexOutOfRange) {
  MHC_REQUIRE_GPU();
  EXPECT_EQ(thrown_kind([] { make_cuda_backend(cuda_device_count()); }), ErrorKind::invalid_input);
  EXPECT_FALSE(cuda_device_descriptions().empty());
}

TEST(CudaErrors, BadInputsAreInvalidInput) {
  MHC_REQUIRE_GPU();
  auto cuda = make_backend("cuda");
  const auto spec = case_spec(verify::Op::pre, "deepseek", 13, 4, 7);
  const verify::PreCase c = verify::make_pre_case(spec);
  PreInputs bad = c.in;
  bad.phi = Tensor(DType::f32, {23, 28});  // M must be 24
  EXPECT_EQ(thrown_kind([&] { cuda->pre_forward(spec.semantics, bad, nullptr); }), ErrorKind::invalid_input);
  PreUpstream up = c.up;
  up.dh_res = Tensor(DType::f32, {13, 4});
  EXPECT_EQ(thrown_kind([&] { cuda->pre_backward(spec.semantics, c.in, up, nullptr); }), ErrorKind::invalid_input);
  EXPECT_EQ(thrown_kind([&] { cuda->run_stage(spec.semantics, "mix", {}); }), ErrorKind::invalid_input);
  EXPECT_EQ(thrown_kind([&] { cuda->run_stage(spec.semantics, "nonsense", {}); }), ErrorKind::unsupported);
}

TEST(CudaErrors, UnsupportedRequestsAreUnsupported) {
  MHC_REQUIRE_GPU();
  auto cuda = make_backend("cuda");
  const auto spec = case_spec(verify::Op::pre, "deepseek", 13, 4, 7);
  const verify::PreCase c = verify::make_pre_case(spec);
  PreInputs f32_x = c.in;
  f32_x.x = c.in.x.to(DType::f32);  // the kernels stream bf16 activations
  EXPECT_EQ(thrown_kind([&] { cuda->pre_forward(spec.semantics, f32_x, nullptr); }), ErrorKind::unsupported);
  Semantics implicit = spec.semantics;
  implicit.sinkhorn_grad = SinkhornGrad::implicit;
  EXPECT_EQ(thrown_kind([&] { cuda->pre_backward(implicit, c.in, c.up, nullptr); }), ErrorKind::unsupported);
  // n = 9 streams: valid math, beyond the kernels' 1..8.
  const Semantics s = preset("deepseek");
  PreInputs wide;
  wide.x = Tensor(DType::bf16, {2, 9, 3});
  wide.phi = Tensor(DType::f32, {18 + 81, 27});
  wide.alpha = Tensor(DType::f32, {3});
  wide.bias = Tensor(DType::f32, {18 + 81});
  EXPECT_EQ(thrown_kind([&] { cuda->pre_forward(s, wide, nullptr); }), ErrorKind::unsupported);
}

TEST(CudaErrors, DeviceOutOfMemoryIsAnEnvironmentError) {
  MHC_REQUIRE_GPU();
  cuda::Workspace ws;
  EXPECT_EQ(thrown_kind([&] { ws.get("huge", std::size_t{1} << 52); }), ErrorKind::environment);
  // The failed allocation leaves the context usable.
  EXPECT_NE(ws.get("small", 1024), nullptr);
}

TEST(CudaErrors, EmptyTokenDimensionGivesEmptyOutputs) {
  MHC_REQUIRE_GPU();
  auto cuda = make_backend("cuda");
  const auto spec = case_spec(verify::Op::pre, "deepseek", 0, 4, 7);
  const verify::PreCase c = verify::make_pre_case(spec);
  const PreOutputs o = cuda->pre_forward(spec.semantics, c.in, nullptr);
  EXPECT_EQ(o.y.numel(), 0);
  const PreGrads g = cuda->pre_backward(spec.semantics, c.in, c.up, nullptr);
  EXPECT_EQ(g.dx.numel(), 0);
  for (std::int64_t e = 0; e < g.dphi.numel(); ++e) EXPECT_EQ(g.dphi.get(e), 0.0);
  for (std::int64_t e = 0; e < 3; ++e) EXPECT_EQ(g.dalpha.get(e), 0.0);
}

}  // namespace
}  // namespace mhc::test
