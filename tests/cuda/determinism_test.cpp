// Determinism (issue 4): 20 repeated runs of every operator give bitwise-identical results.
// The split reductions (K splits of the projection, token splits of dphi, token blocks of dbias
// and dalpha) have fixed orders, so even the f32 gradient sums over T must not move.
#include <gtest/gtest.h>

#include "kernels/backend.hpp"
#include "tests/cuda/gpu.hpp"
#include "verify/casegen.hpp"

namespace mhc::test {
namespace {

constexpr int kRuns = 20;

void expect_same(const Tensor& a, const Tensor& b, const char* name, int run) {
  EXPECT_TRUE(bitwise_equal(a, b)) << name << " differs in run " << run;
}

TEST(CudaDeterminism, PreForwardAndBackwardBitwiseOver20Runs) {
  MHC_REQUIRE_GPU();
  // T large enough for several token splits; C odd-sized relative to every tile.
  const auto spec = case_spec(verify::Op::pre, "deepseek", 4097, 4, 1280, "gamma=true");
  const verify::PreCase c = verify::make_pre_case(spec);
  auto cuda = make_backend("cuda");
  const PreOutputs first = cuda->pre_forward(spec.semantics, c.in, nullptr);
  const PreGrads first_g = cuda->pre_backward(spec.semantics, c.in, c.up, nullptr);
  for (int run = 1; run < kRuns; ++run) {
    const PreOutputs o = cuda->pre_forward(spec.semantics, c.in, nullptr);
    expect_same(o.y, first.y, "y", run);
    expect_same(o.h_post, first.h_post, "h_post", run);
    expect_same(o.h_res, first.h_res, "h_res", run);
    const PreGrads g = cuda->pre_backward(spec.semantics, c.in, c.up, nullptr);
    expect_same(g.dx, first_g.dx, "dx", run);
    expect_same(g.dphi, first_g.dphi, "dphi", run);
    expect_same(g.dalpha, first_g.dalpha, "dalpha", run);
    expect_same(g.dbias, first_g.dbias, "dbias", run);
    expect_same(g.dgamma, first_g.dgamma, "dgamma", run);
  }
}

TEST(CudaDeterminism, PostForwardAndBackwardBitwiseOver20Runs) {
  MHC_REQUIRE_GPU();
  const auto spec = case_spec(verify::Op::post, "deepseek", 4097, 4, 1280);
  const verify::PostCase c = verify::make_post_case(spec);
  auto cuda = make_backend("cuda");
  const PostOutputs first = cuda->post_forward(spec.semantics, c.in, nullptr);
  const PostGrads first_g = cuda->post_backward(spec.semantics, c.in, c.up, nullptr);
  for (int run = 1; run < kRuns; ++run) {
    expect_same(cuda->post_forward(spec.semantics, c.in, nullptr).out, first.out, "out", run);
    const PostGrads g = cuda->post_backward(spec.semantics, c.in, c.up, nullptr);
    expect_same(g.dx, first_g.dx, "dx", run);
    expect_same(g.df, first_g.df, "df", run);
    expect_same(g.dh_post, first_g.dh_post, "dh_post", run);
    expect_same(g.dh_res, first_g.dh_res, "dh_res", run);
  }
}

}  // namespace
}  // namespace mhc::test
