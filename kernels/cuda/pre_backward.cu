// Pre backward, the passes over x (MATH.md "Backward pre" steps 1, 7-9):
//   dh_pre[t, i] = sum_c x[t, i, c] dy[t, c]                      (launch_dh_pre)
//   dx[t, k] = h_pre[i] dy[c] + sum_j dm[t, j] phi'[j, k] + cn[t] v[k]   with k = i C + c
//   dphi'[j, k] = sum_t dm[t, j] v[t, k]                          (launch_dx_dphi)
// and the fixed-order reductions over token splits (dphi, dgamma) and token blocks (dbias,
// dalpha). No atomics anywhere: every sum has one order, fixed by the shape.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>

#include "core/bf16.hpp"
#include "kernels/cuda/cuda_check.hpp"
#include "kernels/cuda/mma.cuh"
#include "kernels/cuda/ops.hpp"
#include "kernels/cuda/pdl.cuh"
#include "kernels/cuda/switch.hpp"

namespace mhc::cuda {
namespace {

constexpr int kDhWarps = 8;  // one warp per token, fixed-order butterfly

template <int N, int V>
__global__ void __launch_bounds__(kDhWarps * 32) dh_pre_kernel(const std::uint16_t* __restrict__ x,
                                                               const std::uint16_t* __restrict__ dy,
                                                               float* __restrict__ dh_pre, std::int64_t T,
                                                               std::int64_t C) {
  const int lane = threadIdx.x & 31;
  // Last tokens first: the first ones, which dx_dphi's first CTAs read first, are then the ones
  // still in L2 when it starts.
  const std::int64_t t = T - 1 - (blockIdx.x * static_cast<std::int64_t>(kDhWarps) + (threadIdx.x >> 5));
  if (t < 0) return;
  float acc[N];
#pragma unroll
  for (int i = 0; i < N; ++i) acc[i] = 0.0f;
  for (std::int64_t c = static_cast<std::int64_t>(lane) * V; c < C; c += 32 * V) {
    if constexpr (V == 8) {
      const uint4 g = __ldg(reinterpret_cast<const uint4*>(dy + t * C + c));
      const std::uint32_t gs[4] = {g.x, g.y, g.z, g.w};
#pragma unroll
      for (int i = 0; i < N; ++i) {
        const uint4 w = __ldg(reinterpret_cast<const uint4*>(x + (t * N + i) * C + c));
        const std::uint32_t ws[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
        for (int q = 0; q < 4; ++q) {
          acc[i] = fmaf(bf16_lo(ws[q]), bf16_lo(gs[q]), acc[i]);
          acc[i] = fmaf(bf16_hi(ws[q]), bf16_hi(gs[q]), acc[i]);
        }
      }
    } else {
      const float g = f32_from_bf16_bits(dy[t * C + c]);
#pragma unroll
      for (int i = 0; i < N; ++i) acc[i] = fmaf(f32_from_bf16_bits(x[(t * N + i) * C + c]), g, acc[i]);
    }
  }
#pragma unroll
  for (int i = 0; i < N; ++i) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) acc[i] += __shfl_xor_sync(0xFFFFFFFFu, acc[i], o);
    if (lane == i) dh_pre[t * N + i] = acc[i];
  }
}

// One CTA per output j: thread r sums blocks r, r + 256, ... in order, then a fixed-order tree.
constexpr int kReduceThreads = 256;

__device__ __forceinline__ float block_tree_sum(float v, float* shared) {
  shared[threadIdx.x] = v;
  __syncthreads();
  for (int width = kReduceThreads / 2; width > 0; width >>= 1) {
    if (threadIdx.x < width) shared[threadIdx.x] += shared[threadIdx.x + width];
    __syncthreads();
  }
  return shared[0];
}

__global__ void __launch_bounds__(kReduceThreads) reduce_sums_kernel(const float* __restrict__ sums,
                                                                    std::int64_t blocks, int M,
                                                                    float* __restrict__ dbias,
                                                                    float* __restrict__ dalpha) {
  wait_for_prior_kernel();
  __shared__ float shared[kReduceThreads];
  const int S = M + 3;
  const int j = blockIdx.x;
  float v = 0.0f;
  for (std::int64_t b = threadIdx.x; b < blocks; b += kReduceThreads) v += sums[b * S + j];
  v = block_tree_sum(v, shared);
  if (threadIdx.x == 0) {
    if (j < M) dbias[j] = v;
    else dalpha[j - M] = v;
  }
}

constexpr int kDxThreads = 256;  // threads per CTA; each owns V adjacent columns k
constexpr int kDxTokens = 32;    // tokens staged in shared memory at a time

// V adjacent columns per thread (V = 2 when C is even: 4-byte loads of x and dy, and every
// shared-memory read of dm feeds 2V FMAs); dm is read as float4 broadcasts (M padded to 4).
template <int N, int M, int V>
__global__ void __launch_bounds__(kDxThreads, 2) dx_dphi_kernel(const DxDphiArgs a) {
  wait_for_prior_kernel();
  constexpr int M4 = (M + 3) / 4;
  __shared__ float4 s_dm[kDxTokens][M4];
  __shared__ float s_cn[kDxTokens];
  __shared__ float s_hp[kDxTokens][N];
  constexpr int kAhead = 4;
  const std::int64_t T = a.d.T, C = a.d.C, K = a.d.K();
  const std::uint16_t* __restrict__ x = a.x;
  const std::uint16_t* __restrict__ dy = a.dy;
  std::uint16_t* __restrict__ dx = a.dx;
  const std::int64_t k0 = (blockIdx.x * static_cast<std::int64_t>(kDxThreads) + threadIdx.x) * V;
  const bool valid = k0 < K;  // V = 2 implies K even, so k0 + 1 < K too
  const int i = valid ? static_cast<int>(k0 / C) : 0;
  const std::int64_t c0 = valid ? k0 - i * C : 0;

  float phi_col[V][4 * M4], acc[V][4 * M4];
#pragma unroll
  for (int j = 0; j < 4 * M4; ++j) {
#pragma unroll
    for (int u = 0; u < V; ++u) {
      phi_col[u][j] = valid && j < M ? a.phi_folded[j * K + k0 + u] : 0.0f;
      acc[u][j] = 0.0f;
    }
  }
  const std::int64_t t_begin = blockIdx.y * a.plan.tokens_per_split;
  const std::int64_t t_end = std::min<std::int64_t>(T, t_begin + a.plan.tokens_per_split);
  const bool parts = a.part_dx_apply != nullptr;
  float* s_dm_flat = reinterpret_cast<float*>(s_dm);

  for (std::int64_t tb = t_begin; tb < t_end; tb += kDxTokens) {
    const int count = static_cast<int>(std::min<std::int64_t>(kDxTokens, t_end - tb));
    __syncthreads();
    for (int e = threadIdx.x; e < kDxTokens * 4 * M4; e += kDxThreads) {
      const int tt = e / (4 * M4), j = e % (4 * M4);
      s_dm_flat[e] = tt < count && j < M ? a.dm[(tb + tt) * M + j] : 0.0f;
    }
    for (int e = threadIdx.x; e < count * N; e += kDxThreads) s_hp[e / N][e % N] = a.h_pre[tb * N + e];
    if (threadIdx.x < count) s_cn[threadIdx.x] = a.cn[tb + threadIdx.x];
    __syncthreads();
    if (!valid) continue;
    // Groups of kAhead tokens: their x and dy loads are all issued before the first FMA, so a
    // thread keeps kAhead loads in flight instead of waiting on each token in turn.
    for (int t0 = 0; t0 < count; t0 += kAhead) {
      float v[kAhead][V], g[kAhead][V];
#pragma unroll
      for (int h = 0; h < kAhead; ++h) {
        const std::int64_t t = tb + t0 + h;
        const bool in = t0 + h < count;
        if constexpr (V == 2) {
          const std::uint32_t xv = in ? __ldg(reinterpret_cast<const unsigned int*>(x + t * K + k0)) : 0u;
          const std::uint32_t gv = in ? __ldg(reinterpret_cast<const unsigned int*>(dy + t * C + c0)) : 0u;
          v[h][0] = bf16_lo(xv), v[h][1] = bf16_hi(xv);
          g[h][0] = bf16_lo(gv), g[h][1] = bf16_hi(gv);
        } else {
          v[h][0] = in ? f32_from_bf16_bits(__ldg(x + t * K + k0)) : 0.0f;
          g[h][0] = in ? f32_from_bf16_bits(__ldg(dy + t * C + c0)) : 0.0f;
        }
      }
#pragma unroll
      for (int h = 0; h < kAhead; ++h) {
        const int tt = t0 + h;
        if (tt >= count) break;
        const std::int64_t t = tb + tt;
        float mm[V][3];
#pragma unroll
        for (int u = 0; u < V; ++u) mm[u][0] = mm[u][1] = mm[u][2] = 0.0f;
#pragma unroll
        for (int q = 0; q < M4; ++q) {
          const float4 d4 = s_dm[tt][q];
          const float dm[4] = {d4.x, d4.y, d4.z, d4.w};
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const int j = 4 * q + e;
            if (j >= M) break;
            const int blk = j < N ? 0 : (j < 2 * N ? 1 : 2);
#pragma unroll
            for (int u = 0; u < V; ++u) {
              mm[u][blk] = fmaf(dm[e], phi_col[u][j], mm[u][blk]);
              acc[u][j] = fmaf(dm[e], v[h][u], acc[u][j]);
            }
          }
        }
        float dxv[V];
#pragma unroll
        for (int u = 0; u < V; ++u) {
          const float dx_apply = s_hp[tt][i] * g[h][u];
          const float dx_mm = (mm[u][0] + mm[u][1]) + mm[u][2];
          const float dx_norm = s_cn[tt] * v[h][u];
          dxv[u] = (dx_apply + dx_mm) + dx_norm;
          if (parts) {
            const std::int64_t at = t * K + k0 + u;
            a.part_dx_apply[at] = dx_apply;
            a.part_dx_mm[at] = dx_mm;
            a.part_dx_norm[at] = dx_norm;
#pragma unroll
            for (int b = 0; b < 3; ++b) a.part_dx_mm_block[b][at] = mm[u][b];
          }
        }
        if constexpr (V == 2) {
          *reinterpret_cast<std::uint32_t*>(dx + t * K + k0) =
              bf16_bits_from_f32(dxv[0]) | (static_cast<std::uint32_t>(bf16_bits_from_f32(dxv[1])) << 16);
        } else {
          dx[t * K + k0] = bf16_bits_from_f32(dxv[0]);
        }
      }
    }
  }
  if (!valid) return;
#pragma unroll
  for (int j = 0; j < M; ++j) {
#pragma unroll
    for (int u = 0; u < V; ++u) {
      a.dphi_part[(blockIdx.y * static_cast<std::int64_t>(M) + j) * K + k0 + u] = acc[u][j];
    }
  }
}

// dphi'[j, k] = sum over token splits in order; one thread per (j, k).
__global__ void reduce_dphi_kernel(const float* __restrict__ dphi_part, int splits, std::int64_t MK,
                                   std::int64_t K, const float* __restrict__ gamma, float* __restrict__ dphi_folded,
                                   float* __restrict__ dphi) {
  wait_for_prior_kernel();
  for (std::int64_t e = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; e < MK;
       e += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    float d = 0.0f;
    for (int s = 0; s < splits; ++s) d += dphi_part[s * MK + e];
    if (gamma) {
      dphi_folded[e] = d;
      dphi[e] = d * gamma[e % K];
    } else {
      dphi[e] = d;
    }
  }
}

// dgamma[k] = sum_j dphi'[j, k] phi[j, k], per mix block, then (pre + post) + res.
__global__ void dgamma_kernel(const float* __restrict__ dphi_folded, const float* __restrict__ phi, int M, int n,
                              std::int64_t K, float* __restrict__ dgamma, float* dgamma_pre, float* dgamma_post,
                              float* dgamma_res) {
  wait_for_prior_kernel();
  for (std::int64_t k = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; k < K;
       k += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    float gb[3] = {0.0f, 0.0f, 0.0f};
    for (int j = 0; j < M; ++j) {
      const int blk = j < n ? 0 : (j < 2 * n ? 1 : 2);
      gb[blk] = fmaf(dphi_folded[j * K + k], phi[j * K + k], gb[blk]);
    }
    dgamma[k] = (gb[0] + gb[1]) + gb[2];
    if (dgamma_pre) {
      dgamma_pre[k] = gb[0];
      dgamma_post[k] = gb[1];
      dgamma_res[k] = gb[2];
    }
  }
}

}  // namespace

void launch_dh_pre(const PreDims& d, const std::uint16_t* x, const std::uint16_t* dy, float* dh_pre,
                   cudaStream_t stream) {
  if (d.T == 0) return;
  const unsigned blocks = static_cast<unsigned>((d.T + kDhWarps - 1) / kDhWarps);
  n_switch(d.n, [&](auto nc) {
    constexpr int N = decltype(nc)::value;
    if (d.C % 8 == 0) {
      dh_pre_kernel<N, 8><<<blocks, kDhWarps * 32, 0, stream>>>(x, dy, dh_pre, d.T, d.C);
    } else {
      dh_pre_kernel<N, 1><<<blocks, kDhWarps * 32, 0, stream>>>(x, dy, dh_pre, d.T, d.C);
    }
  });
  check_launch("dh_pre_kernel");
}

void launch_reduce_sums(const PreDims& d, const float* sums, float* dbias, float* dalpha, cudaStream_t stream) {
  const std::int64_t blocks = (d.T + kCoeffTokens - 1) / kCoeffTokens;
  const int S = d.M + 3;
  if (blocks == 0) {
    MHC_CUDA_CHECK(cudaMemsetAsync(dbias, 0, sizeof(float) * d.M, stream));
    MHC_CUDA_CHECK(cudaMemsetAsync(dalpha, 0, sizeof(float) * 3, stream));
    return;
  }
  launch_after(reduce_sums_kernel, dim3(S), dim3(kReduceThreads), 0, stream, sums, blocks, d.M, dbias, dalpha);
  check_launch("reduce_sums_kernel");
}

// Two columns per thread while the per-thread arrays (2 x 2 x M floats) fit in registers.
static int dx_columns_per_thread(const PreDims& d) { return d.C % 2 == 0 && d.M <= 48 ? 2 : 1; }

DxDphiPlan plan_dx_dphi(const PreDims& d) {
  DxDphiPlan plan;
  plan.tensor_cores = dx_dphi_mma_applies(d);
  const std::int64_t per_cta = plan.tensor_cores ? dx_dphi_mma_columns(d) : kDxThreads * dx_columns_per_thread(d);
  const std::int64_t column_ctas = (d.K() + per_cta - 1) / per_cta;
  const std::int64_t token_groups = std::max<std::int64_t>(1, (d.T + kDxTokens - 1) / kDxTokens);
  // 1 to 8 waves of 264 CTAs, choosing the fewest splits whose last wave is fullest (C = 7168:
  // 224 column CTAs fill 85% of any wave count up to 5, 7 splits fill 99% of 6). 264 is 2 CTAs
  // per SM of a 132-SM H100, the CUDA-core kernel's occupancy; the tensor-core kernel holds 3 and
  // was measured best with this rule too (65536 x 4 x 1024: 33 splits, dx_dphi 0.557-0.562 ms;
  // 24 splits filling 97% of 2 waves of 396: 0.574-0.582; 98 filling 8: 0.557, and reduce_dphi
  // reads three times the partials). A function of the shape only, so the reduction order (and
  // the bits) do not depend on the device model.
  constexpr std::int64_t kWave = 264;
  std::int64_t best = 1;
  double best_fill = -1;
  const std::int64_t lo = std::clamp<std::int64_t>((kWave + column_ctas - 1) / column_ctas, 1, token_groups);
  const std::int64_t hi = std::clamp<std::int64_t>((8 * kWave) / column_ctas, lo, token_groups);
  for (std::int64_t s = lo; s <= hi; ++s) {
    const double waves = static_cast<double>(column_ctas * s) / kWave;
    const double fill = waves / std::ceil(waves);
    if (fill > best_fill + 1e-9) best = s, best_fill = fill;
  }
  const std::int64_t groups_per_split = (token_groups + best - 1) / best;
  plan.tokens_per_split = groups_per_split * kDxTokens;
  plan.splits_t = static_cast<int>((token_groups + groups_per_split - 1) / groups_per_split);
  return plan;
}

void launch_dx_dphi(const DxDphiArgs& a, cudaStream_t stream) {
  if (a.plan.tensor_cores) return launch_dx_dphi_mma(a, stream);
  const int V = dx_columns_per_thread(a.d);
  const std::int64_t per_cta = kDxThreads * V;
  const dim3 grid(static_cast<unsigned>((a.d.K() + per_cta - 1) / per_cta), static_cast<unsigned>(a.plan.splits_t));
  n_kind_switch(a.d.n, a.resmap, [&](auto nc, auto kc) {
    constexpr int N = decltype(nc)::value;
    constexpr int M = MixShape<N, decltype(kc)::value>::kM;
    if (V == 2) {
      launch_after(dx_dphi_kernel<N, M, 2>, grid, dim3(kDxThreads), 0, stream, a);
    } else {
      launch_after(dx_dphi_kernel<N, M, 1>, grid, dim3(kDxThreads), 0, stream, a);
    }
  });
  check_launch("dx_dphi_kernel");
}

void launch_reduce_dphi(const PreDims& d, int splits_t, const float* dphi_part, const float* phi,
                        const float* gamma, float* dphi, float* dgamma, float* const (&dgamma_block)[3],
                        float* dphi_folded, cudaStream_t stream) {
  const std::int64_t K = d.K(), MK = d.M * K;
  const unsigned blocks = static_cast<unsigned>(std::min<std::int64_t>((MK + 255) / 256, 132 * 16));
  launch_after(reduce_dphi_kernel, dim3(blocks), dim3(256), 0, stream, dphi_part, splits_t, MK, K, gamma, dphi_folded,
               dphi);
  check_launch("reduce_dphi_kernel");
  if (!gamma) return;
  const unsigned kblocks = static_cast<unsigned>(std::min<std::int64_t>((K + 255) / 256, 132 * 16));
  launch_after(dgamma_kernel, dim3(kblocks), dim3(256), 0, stream, dphi_folded, phi, d.M, d.n, K, dgamma,
               dgamma_block[0], dgamma_block[1], dgamma_block[2]);
  check_launch("dgamma_kernel");
}

}  // namespace mhc::cuda
