// Stage norm_proj: m = v . phi'^T and s = sum_k v_k^2 for every token (MATH.md steps 1-2).
//
// The projection runs on the tensor cores without losing f32 accuracy: x is bf16 (exact as a
// bf16 operand) and phi' (f32) is split exactly into hi + mid + lo, three bf16 values carrying
// 8 significant bits each, so every product x * part is exact in f32 and the three mma passes
// accumulate in f32: the arithmetic of an f32 GEMM up to the order of the f32 additions.
//
// Layout trick: the reduction over k does not care about the order of k, so each thread loads
// 8 consecutive bf16 of a row with one 16-byte load and assigns them to the mma fragments of two
// k16 steps; phi' is read with the same permutation, so A and B stay paired.
//
// Grid: (token tiles of 4 warps x MT x 16 tokens, KS splits of K). Each split writes its own
// partial sums; the mix kernel adds the KS partials in a fixed order (deterministic).
#include <cuda_runtime.h>

#include <algorithm>

#include "core/bf16.hpp"
#include "kernels/cuda/cuda_check.hpp"
#include "kernels/cuda/mma.cuh"
#include "kernels/cuda/ops.hpp"
#include "kernels/cuda/pdl.cuh"

namespace mhc::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kChunk = 32;  // k per iteration: one 16-byte load per row and thread quad

// phi' = phi (.) gamma into phi_folded and its split into phi_split, each only when given.
__global__ void prepare_phi_kernel(const float* __restrict__ phi, const float* __restrict__ gamma, int M,
                                   std::int64_t K, int M_pad, std::int64_t K_pad, float* __restrict__ phi_folded,
                                   std::uint16_t* __restrict__ phi_split) {
  const std::int64_t total = static_cast<std::int64_t>(M_pad) * K_pad;
  for (std::int64_t e = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const int j = static_cast<int>(e / K_pad);
    const std::int64_t k = e - j * K_pad;
    float f = 0.0f;
    if (j < M && k < K) {
      f = phi[j * K + k];
      if (phi_folded) {
        f = __fmul_rn(f, gamma[k]);
        phi_folded[j * K + k] = f;
      }
    }
    if (!phi_split) continue;
    const float hi = round_bf16(f);
    const float r1 = __fsub_rn(f, hi);  // exact
    const float mid = round_bf16(r1);
    const float lo = round_bf16(__fsub_rn(r1, mid));  // exact difference, rounded once
    phi_split[e] = bf16_bits_from_f32(hi);
    phi_split[total + e] = bf16_bits_from_f32(mid);
    phi_split[2 * total + e] = bf16_bits_from_f32(lo);
  }
}

// Eight consecutive bf16 of row `row` starting at k (zeros past T or K).
template <bool kVec>
__device__ __forceinline__ uint4 load_x8(const std::uint16_t* __restrict__ x, std::int64_t row, std::int64_t k,
                                         std::int64_t T, std::int64_t K) {
  if (row >= T) return make_uint4(0, 0, 0, 0);
  const std::uint16_t* p = x + row * K + k;
  if constexpr (kVec) {
    if (k >= K) return make_uint4(0, 0, 0, 0);
    return __ldg(reinterpret_cast<const uint4*>(p));
  } else {
    std::uint32_t w[4];
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const std::uint32_t lo = k + 2 * e < K ? p[2 * e] : 0u;
      const std::uint32_t hi = k + 2 * e + 1 < K ? p[2 * e + 1] : 0u;
      w[e] = lo | (hi << 16);
    }
    return make_uint4(w[0], w[1], w[2], w[3]);
  }
}

template <int NTILES, int MT, bool kVec>
__global__ void __launch_bounds__(kWarps * 32) norm_proj_kernel(const std::uint16_t* __restrict__ x,
                                                                const std::uint16_t* __restrict__ phi_split,
                                                                std::int64_t T, std::int64_t K, std::int64_t K_pad,
                                                                int M, int chunks_per_split,
                                                                float* __restrict__ m_part,
                                                                float* __restrict__ s_part) {
  wait_for_prior_kernel();
  constexpr int kMPad = NTILES * 8;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int g = lane >> 2, q = lane & 3;
  const std::int64_t tok0 = static_cast<std::int64_t>(blockIdx.x) * (kWarps * MT * 16) + warp * MT * 16;
  const int ks = blockIdx.y;
  const std::int64_t chunks = K_pad / kChunk;
  const std::int64_t c_begin = static_cast<std::int64_t>(ks) * chunks_per_split;
  const std::int64_t c_end = min(chunks, c_begin + chunks_per_split);
  const std::int64_t split_stride = static_cast<std::int64_t>(kMPad) * K_pad;

  float acc[NTILES][MT][4] = {};
  float ss[MT][2] = {};

#pragma unroll 2
  for (std::int64_t ch = c_begin; ch < c_end; ++ch) {
    const std::int64_t k = ch * kChunk + 8 * q;
    uint4 a[MT][2];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
      for (int h = 0; h < 2; ++h) a[mt][h] = load_x8<kVec>(x, tok0 + mt * 16 + g + 8 * h, k, T, K);
    }
    add_squares(a, ss);
#pragma unroll
    for (int nt = 0; nt < NTILES; ++nt) {
      const std::uint16_t* column = phi_split + static_cast<std::int64_t>(nt * 8 + g) * K_pad + k;
      add_chunk(a, [&](int sp) { return __ldg(reinterpret_cast<const uint4*>(column + sp * split_stride)); }, acc[nt]);
    }
  }

  // Rows g and g+8: sums over their quads, then the partials.
#pragma unroll
  for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const float v = quad_sum(ss[mt][h]);
      const std::int64_t row = tok0 + mt * 16 + g + 8 * h;
      if (q == 0 && row < T) s_part[ks * T + row] = v;
    }
#pragma unroll
    for (int nt = 0; nt < NTILES; ++nt) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const std::int64_t row = tok0 + mt * 16 + g + 8 * (e >> 1);
        const int col = nt * 8 + 2 * q + (e & 1);
        if (row < T && col < M) m_part[(ks * T + row) * M + col] = acc[nt][mt][e];
      }
    }
  }
}

// Instantiated tile counts (M = 2n + n^2 or 2n + n! for the presets' n), rounded up.
constexpr int kTileCounts[] = {1, 2, 3, 4, 5, 6, 8, 10, 17};

int tiles_for(int M) {
  const int need = (M + 7) / 8;
  for (int t : kTileCounts) {
    if (t >= need) return t;
  }
  fail(ErrorKind::unsupported, "cuda backend: " + std::to_string(M) + " mix outputs (at most 136 supported)");
}

int tokens_per_cta(int ntiles) { return kWarps * (ntiles <= 5 ? 2 : 1) * 16; }

template <int NTILES>
void launch_split(const PreDims& d, const PhiPlan& plan, const std::uint16_t* x, const std::uint16_t* phi_split,
                  float* m_part, float* s_part, cudaStream_t stream) {
  constexpr int MT = NTILES <= 5 ? 2 : 1;
  const std::int64_t K = d.K();
  const std::int64_t chunks = plan.K_pad / kChunk;
  const int per_split = static_cast<int>((chunks + plan.splits_k - 1) / plan.splits_k);
  const dim3 grid(static_cast<unsigned>((d.T + tokens_per_cta(NTILES) - 1) / tokens_per_cta(NTILES)),
                  static_cast<unsigned>(plan.splits_k));
  if (K % 8 == 0) {
    launch_after(norm_proj_kernel<NTILES, MT, true>, grid, dim3(kWarps * 32), 0, stream, x, phi_split, d.T, K,
                 plan.K_pad, d.M, per_split, m_part, s_part);
  } else {
    launch_after(norm_proj_kernel<NTILES, MT, false>, grid, dim3(kWarps * 32), 0, stream, x, phi_split, d.T, K,
                 plan.K_pad, d.M, per_split, m_part, s_part);
  }
  check_launch("norm_proj_kernel");
}

}  // namespace

PhiPlan plan_projection(const PreDims& d) {
  PhiPlan plan;
  const int ntiles = tiles_for(d.M);
  plan.M_pad = ntiles * 8;
  plan.K_pad = (d.K() + kChunk - 1) / kChunk * kChunk;
  plan.cluster = fused_cluster_size(d);
  if (plan.cluster > 0) {
    plan.splits_k = plan.cluster;
    return plan;
  }
  if (const int tile_splits = projection_tile_splits(d); tile_splits > 0) {
    plan.tiles = true;
    plan.splits_k = tile_splits;
    return plan;
  }
  // This file's split kernel: enough CTAs to fill a large GPU (4 x 132 SMs) when T is small, each
  // split keeping at least 8 chunks; a function of the shape only, so results do not depend on
  // the device model.
  const std::int64_t chunks = plan.K_pad / kChunk;
  const std::int64_t token_ctas = std::max<std::int64_t>(1, (d.T + tokens_per_cta(ntiles) - 1) / tokens_per_cta(ntiles));
  const std::int64_t want = (528 + token_ctas - 1) / token_ctas;
  plan.splits_k = static_cast<int>(std::clamp<std::int64_t>(want, 1, std::max<std::int64_t>(1, chunks / 8)));
  // Every split must own at least one chunk.
  const std::int64_t per_split = (chunks + plan.splits_k - 1) / plan.splits_k;
  plan.splits_k = static_cast<int>((chunks + per_split - 1) / per_split);
  return plan;
}

PhiPrepared prepare_phi(const PreDims& d, const PhiPlan& plan, const float* phi, const float* gamma, Workspace& ws,
                        cudaStream_t stream, bool projection) {
  const std::int64_t total = static_cast<std::int64_t>(plan.M_pad) * plan.K_pad;
  float* folded = gamma ? ws.get<float>("phi_folded", static_cast<std::size_t>(d.M) * d.K()) : nullptr;
  std::uint16_t* split = projection && plan.cluster == 0 && !plan.tiles
                            ? ws.get<std::uint16_t>("phi_split", 3 * static_cast<std::size_t>(total))
                            : nullptr;
  if (folded || split) {
    const int blocks = static_cast<int>(std::min<std::int64_t>((total + 255) / 256, 4096));
    prepare_phi_kernel<<<blocks, 256, 0, stream>>>(phi, gamma, d.M, d.K(), plan.M_pad, plan.K_pad, folded, split);
    check_launch("prepare_phi_kernel");
  }
  const float* phi_folded = folded ? folded : phi;
  uint4* frag = nullptr;
  if (projection && plan.tiles) {  // after the fold, on the same stream
    frag = ws.get<uint4>("phi_frag", phi_fragment_words(d));
    prepare_phi_fragments(d, phi_folded, frag, stream);
  }
  return {phi_folded, split, frag};
}

void launch_norm_proj(const PreDims& d, const PhiPlan& plan, const std::uint16_t* x, const PhiPrepared& phi,
                      float* m_part, float* s_part, cudaStream_t stream) {
  if (d.T == 0) return;
  if (plan.tiles) {
    launch_proj_tiles(d, plan.splits_k, x, phi.frag, m_part, s_part, stream);
    return;
  }
  if (plan.cluster > 0) {
    FusedProjArgs f;
    f.d = d;
    f.x = x;
    f.phi_folded = phi.folded;
    f.m_part = m_part;
    f.sumsq_part = s_part;
    launch_pre_fused(f, plan, stream);
    return;
  }
  switch (plan.M_pad / 8) {
    case 1: launch_split<1>(d, plan, x, phi.split, m_part, s_part, stream); break;
    case 2: launch_split<2>(d, plan, x, phi.split, m_part, s_part, stream); break;
    case 3: launch_split<3>(d, plan, x, phi.split, m_part, s_part, stream); break;
    case 4: launch_split<4>(d, plan, x, phi.split, m_part, s_part, stream); break;
    case 5: launch_split<5>(d, plan, x, phi.split, m_part, s_part, stream); break;
    case 6: launch_split<6>(d, plan, x, phi.split, m_part, s_part, stream); break;
    case 8: launch_split<8>(d, plan, x, phi.split, m_part, s_part, stream); break;
    case 10: launch_split<10>(d, plan, x, phi.split, m_part, s_part, stream); break;
    case 17: launch_split<17>(d, plan, x, phi.split, m_part, s_part, stream); break;
    default: fail(ErrorKind::internal, "norm_proj: unexpected tile count");
  }
}

}  // namespace mhc::cuda
