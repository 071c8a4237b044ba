// Which projection kernel each shape gets, and its K split (host code: runs without a device).
// The split is part of the bits (the mix kernel adds the splits in order), so it must depend on
// the shape alone; docs/cuda.md's timings name these plans.
#include <gtest/gtest.h>

#include "kernels/cuda/ops.hpp"

namespace mhc::cuda {
namespace {

PreDims dims(std::int64_t T, int n, std::int64_t C) { return {T, n, C, 2 * n + n * n}; }

TEST(CudaPlans, RowsAClusterHoldsRunTheClusterKernel) {
  const PhiPlan p = plan_projection(dims(65536, 4, 1024));
  EXPECT_EQ(p.cluster, 4);
  EXPECT_EQ(p.splits_k, 4);  // one split per CTA of the cluster
  EXPECT_FALSE(p.tiles);
}

TEST(CudaPlans, LongerRowsRunTheTileKernelSplitOnlyToFillTheGpu) {
  for (const std::int64_t C : {4096, 7168}) {
    const PhiPlan p = plan_projection(dims(16384, 4, C));
    EXPECT_EQ(p.cluster, 0) << C;
    EXPECT_TRUE(p.tiles) << C;
    EXPECT_EQ(p.splits_k, 2) << C;  // 64 tiles of 256 tokens on 132 SMs
  }
  EXPECT_EQ(plan_projection(dims(65536, 4, 7168)).splits_k, 1);
  // A few tokens: as many splits as fill the GPU, each keeping at least 4 blocks of the row.
  EXPECT_EQ(plan_projection(dims(161, 4, 4096)).splits_k, 64);   // 256 blocks
  EXPECT_EQ(plan_projection(dims(300, 4, 2560)).splits_k, 40);   // 160 blocks
  EXPECT_EQ(plan_projection(dims(13, 3, 3072)).splits_k, 36);    // 144 blocks; two n-tiles
  // The permutation map at n = 4 (32 mix outputs) and n > 4, where no cluster kernel runs at all.
  EXPECT_TRUE(plan_projection({16384, 4, 7168, 32}).tiles);
  EXPECT_TRUE(plan_projection(dims(16384, 5, 7168)).tiles);
  // n = 8 (80 outputs): two warps per 32 tokens, so 128-token tiles.
  const PhiPlan wide = plan_projection(dims(65536, 8, 1024));
  EXPECT_TRUE(wide.tiles);
  EXPECT_EQ(wide.splits_k, 1);
  EXPECT_EQ(plan_projection(dims(137, 8, 1280)).splits_k, 40);  // 2 tiles; 160 blocks
}

TEST(CudaPlans, OtherShapesRunTheSplitKernel) {
  // C % 64 != 0, or the permutation map at n = 5 (130 mix outputs).
  for (const PreDims& d : {dims(137, 4, 1000), dims(13, 4, 7), dims(137, 8, 33), PreDims{137, 5, 1280, 130}}) {
    const PhiPlan p = plan_projection(d);
    EXPECT_EQ(p.cluster, 0) << d.n << "," << d.C;
    EXPECT_FALSE(p.tiles) << d.n << "," << d.C;
    EXPECT_GE(p.splits_k, 1);
  }
}

TEST(CudaPlans, DxDphiRunsOnTheTensorCoresUpTo80MixOutputs) {
  for (const int n : {1, 2, 4, 5, 8}) EXPECT_TRUE(plan_dx_dphi(dims(4097, n, 1280)).tensor_cores) << n;
  EXPECT_TRUE(plan_dx_dphi({4097, 4, 7168, 32}).tensor_cores);     // permutations at n = 4
  EXPECT_FALSE(plan_dx_dphi({4097, 5, 1280, 130}).tensor_cores);   // permutations at n = 5
  EXPECT_FALSE(plan_dx_dphi(dims(4097, 8, 1000)).tensor_cores);    // C % 128 != 0
}

}  // namespace
}  // namespace mhc::cuda
