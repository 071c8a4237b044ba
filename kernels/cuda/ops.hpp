// Host entry points of the CUDA kernels on device-resident data. The backend (cuda_backend.cpp)
// copies host tensors in and out around these; the benchmark calls them directly so its timings
// are kernel-only. Every function launches on `stream` and returns without synchronising;
// launch errors throw Error(environment).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/cuda/params.hpp"
#include "kernels/cuda/workspace.hpp"

namespace mhc::cuda {

// ---- whole operators (pipeline.cpp)
void pre_forward(const PreForwardArgs& a, Workspace& ws, cudaStream_t stream);
void pre_backward(const PreBackwardArgs& a, Workspace& ws, cudaStream_t stream);
void post_forward(const PostArgs& a, cudaStream_t stream);
void post_backward(const PostArgs& a, cudaStream_t stream);

// ---- stage kernels (the pipeline is a chain of these, so fused == chain of stages bitwise)

// phi' = phi (.) gamma in f32 ([M, K]) and its exact three-way bf16 split
// hi + mid + lo ([3, M_pad, K_pad], zero padded) for the tensor-core projection.
struct PhiPlan {
  int M_pad = 0;
  std::int64_t K_pad = 0;
  int splits_k = 1;  // KS: fixed-order split of the K reduction (depends on the shape only)
  // Which kernel projects. cluster > 0: pre_fused.cu, whose forward runs on clusters of that many
  // blocks and applies h_pre in the same pass, each of the KS = cluster channel slices of a token
  // row being a split; else tiles: proj_tiles.cu (256- or 128-token tiles, KS splits of the row);
  // else norm_proj.cu's split kernel.
  int cluster = 0;
  bool tiles = false;
};
PhiPlan plan_projection(const PreDims& d);
// What the projection and dx_dphi read of phi': folded is phi itself without gamma (nothing to
// fold); split is set only where norm_proj.cu's kernel runs, frag only where proj_tiles.cu's
// does, and neither when `projection` is false (a backward given m and r needs only the fold).
// Buffers come from `ws` ("phi_folded", "phi_split", "phi_frag"); with none needed, nothing is
// launched.
struct PhiPrepared {
  const float* folded = nullptr;
  const std::uint16_t* split = nullptr;
  const uint4* frag = nullptr;
};
PhiPrepared prepare_phi(const PreDims& d, const PhiPlan& plan, const float* phi, const float* gamma, Workspace& ws,
                        cudaStream_t stream, bool projection = true);

// Partial projections m_part [KS, T, M] and sums of squares s_part [KS, T] of x against phi'
// (by the kernel the plan names).
void launch_norm_proj(const PreDims& d, const PhiPlan& plan, const std::uint16_t* x, const PhiPrepared& phi,
                      float* m_part, float* s_part, cudaStream_t stream);

// proj_tiles.cu: the projection of long rows. projection_tile_splits gives its KS (0 where it does
// not apply); prepare_phi_fragments writes phi' (prepare_phi's folded array, or phi without
// gamma) as the kernel's B fragments, phi_fragment_words of them.
int projection_tile_splits(const PreDims& d);
std::size_t phi_fragment_words(const PreDims& d);
void prepare_phi_fragments(const PreDims& d, const float* phi_folded, uint4* frag, cudaStream_t stream);
void launch_proj_tiles(const PreDims& d, int splits, const std::uint16_t* x, const uint4* phi_frag, float* m_part,
                       float* s_part, cudaStream_t stream);

// pre_fused.cu, used when plan.cluster > 0: the partials m_part [KS, T, M] and s_part [KS, T]
// (KS = cluster) from one read of x and, when y is set, h_pre and y = sum_i h_pre[i] x[i] from
// the same read.
struct FusedProjArgs {
  PreDims d;
  MixSemantics s;
  const std::uint16_t* x = nullptr;   // [T, n, C] bf16
  const float* phi_folded = nullptr;  // [M, K]
  const float* alpha = nullptr;       // [3], with y
  const float* bias = nullptr;        // [M], with y
  float* m_part = nullptr;            // [KS, T, M]
  float* sumsq_part = nullptr;        // [KS, T]
  std::uint16_t* y = nullptr;         // [T, C] bf16, optional
};
int fused_cluster_size(const PreDims& d);  // 0 where the fused cluster kernel does not apply
void launch_pre_fused(const FusedProjArgs& a, const PhiPlan& plan, cudaStream_t stream);

// The per-token coefficient kernel (mix.cu). Inputs are either the projection partials
// (m_part, s_part, KS) or, for the mix stage, m and r directly (KS = 1, r_in set); with z_in set
// only the residual map runs (the resmap stage).
struct MixKernelArgs {
  PreDims d;
  MixSemantics s;
  int splits_k = 1;
  const float* m_part = nullptr;  // [KS, T, M]
  const float* s_part = nullptr;  // [KS, T]
  const float* r_in = nullptr;    // [T]
  const float* z_in = nullptr;    // [T, M]
  const float* alpha = nullptr;
  const float* bias = nullptr;
  bool finish_only = false;  // only m and r (the norm_proj stage)
  bool resmap = true;        // run the residual map after the mix
  float* m = nullptr;        // [T, M]
  float* r = nullptr;        // [T]
  float* m_hat = nullptr;    // [T, M]
  float* z = nullptr;        // [T, M]
  float* h_pre = nullptr;    // [T, n]
  float* h_post = nullptr;   // [T, n]
  float* h_res = nullptr;    // [T, n, n] output (merged when s.merged)
  float* h_res_raw = nullptr;  // [T, n, n] before the merge
  float* iterates = nullptr;   // [R+1, T, n, n]
};
void launch_mix(const MixKernelArgs& a, cudaStream_t stream);

// y = sum_i h_pre[i] x[i] rounded to bf16 (apply.cu).
void launch_apply(const PreDims& d, const std::uint16_t* x, const float* h_pre, std::uint16_t* y,
                  cudaStream_t stream);

// ---- pre backward kernels (pre_backward.cu, coeff_backward.cu)

// dh_pre[t, i] = sum_c x[t, i, c] dy[t, c].
void launch_dh_pre(const PreDims& d, const std::uint16_t* x, const std::uint16_t* dy, float* dh_pre,
                   cudaStream_t stream);

// Per token: recompute the coefficients, then dz, dm = r alpha_e dz and the inverse-RMS path
// coefficient cn = -dr r^3 / K; per block of kCoeffTokens tokens, the sums of dz (M) and of the
// per-block dalpha terms (3) in `sums` [blocks, M + 3]. Two kernels: launch_coeff_post_res
// (dz of the post and res blocks and h_pre; it does not need dh_pre, so the pipeline runs it beside
// launch_dh_pre) and then launch_coeff_pre (dz of the pre block, dm, cn, sums).
inline constexpr int kCoeffTokens = 64;
struct CoeffBackwardArgs {
  PreDims d;
  MixSemantics s;
  int splits_k = 1;
  const float* m_part = nullptr;   // [KS, T, M]
  const float* s_part = nullptr;   // [KS, T]
  const float* r_in = nullptr;     // [T]: r given (m_part then holds m, KS = 1)
  const float* alpha = nullptr;
  const float* bias = nullptr;
  const float* dh_pre = nullptr;   // [T, n] (from launch_dh_pre)
  const float* dh_post = nullptr;  // [T, n]
  const float* dh_res = nullptr;   // [T, n, n]
  float* dz_all = nullptr;         // [T, M]: dz of every block (post/res from the first kernel)
  float* dm = nullptr;             // [T, M]
  float* cn = nullptr;             // [T]
  float* h_pre = nullptr;          // [T, n]
  float* sums = nullptr;           // [ceil(T / kCoeffTokens), M + 3]
  float* dinv_rms = nullptr;       // [T], optional
  float* sinkhorn_scratch = nullptr;  // [R+1, n*n, T] saved iterates; nullptr: recompute them
};
void launch_coeff_post_res(const CoeffBackwardArgs& a, cudaStream_t stream);
void launch_coeff_pre(const CoeffBackwardArgs& a, cudaStream_t stream);

// dbias[j] = sum over blocks of sums[., j]; dalpha[b] = sum of sums[., M + b] (fixed order).
void launch_reduce_sums(const PreDims& d, const float* sums, float* dbias, float* dalpha, cudaStream_t stream);

// dx (bf16) and the per-split partials of dphi' ([S, M, K]) in one pass over x and dy.
struct DxDphiPlan {
  bool tensor_cores = false;  // dx_dphi_mma.cu (M <= 80, C % 128 == 0), else the CUDA-core kernel
  int splits_t = 1;
  std::int64_t tokens_per_split = 0;
};
DxDphiPlan plan_dx_dphi(const PreDims& d);
struct DxDphiArgs {
  PreDims d;
  int resmap = kSinkhorn;
  DxDphiPlan plan;
  const std::uint16_t* x = nullptr;
  const std::uint16_t* dy = nullptr;
  const float* phi_folded = nullptr;  // [M, K]
  const float* dm = nullptr;          // [T, M]
  const float* cn = nullptr;          // [T]
  const float* h_pre = nullptr;       // [T, n]
  std::uint16_t* dx = nullptr;        // [T, n, C]
  float* dphi_part = nullptr;         // [S, M, K]
  float* part_dx_apply = nullptr;
  float* part_dx_mm = nullptr;
  float* part_dx_mm_block[3] = {};
  float* part_dx_norm = nullptr;
};
void launch_dx_dphi(const DxDphiArgs& a, cudaStream_t stream);
// The tensor-core kernel behind launch_dx_dphi (dx_dphi_mma.cu): where it applies, and the
// columns of K each of its CTAs owns.
bool dx_dphi_mma_applies(const PreDims& d);
std::int64_t dx_dphi_mma_columns(const PreDims& d);
void launch_dx_dphi_mma(const DxDphiArgs& a, cudaStream_t stream);

// dphi = (sum_s dphi_part) (.) gamma; dgamma = sum_j dphi'[j] phi[j] (per block, then summed).
// dphi_folded ([M, K]) receives dphi' when gamma is given.
void launch_reduce_dphi(const PreDims& d, int splits_t, const float* dphi_part, const float* phi,
                        const float* gamma, float* dphi, float* dgamma, float* const (&dgamma_block)[3],
                        float* dphi_folded, cudaStream_t stream);

}  // namespace mhc::cuda
