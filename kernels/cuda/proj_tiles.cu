// The projection wherever no cluster kernel fits (rows of n C > 8192 at n = 4, and every n > 4)
// for C % 64 = 0 and up to 80 mix outputs (n <= 8; not the permutation map at n = 5):
// m = v . phi'^T and Σv², for tiles of 256 (or 128) tokens over the whole row.
//
// pre_fused.cu's projection splits every token row into channel slices whose phi' columns its
// warps hold in registers; that leaves one CTA of 16 warps per SM, a cross-warp sum of the
// partials per 16-token tile, and 28 splits for the mix kernel to add at C = 7168. Here a CTA
// owns 256 tokens and a range of the row's 64-channel blocks instead, and phi' streams through
// shared memory beside x, already in the mma's B-fragment order (prepare_phi_fragments), so:
//   * each stage is one 64-channel block of one stream for the tile's tokens (32 KB of x by one TMA
//     tensor copy, 128-byte swizzled lines) plus that block's phi' fragments (NT 3 KB by one bulk
//     copy), both counted by the stage's barrier;
//   * each of the 8 warps owns 32 tokens (two mma row tiles) for the whole range, so its sums
//     stay in registers: no partials cross warps, and the only barrier per stage is the one that
//     frees the stage for its refill (past 40 mix outputs two warps share 32 tokens, each taking
//     half the columns: 128-token tiles);
//   * a row's K is split over KS CTAs only where there are too few tiles to fill the GPU (KS = 2
//     at 16384 tokens); the mix kernel adds the KS splits in order.
//
// Bits: per 32-k chunk the same 6 products per n-tile as pre_fused.cu (small parts first, the
// tensor cores' non-IEEE accumulation kept to the chunk), chunk sums added in IEEE f32 in k order,
// splits in order: fixed by the shape alone, so results repeat bitwise on any GPU.
#include <cuda.h>
#include <cuda_runtime.h>

#include <algorithm>

#include "kernels/cuda/bulk.cuh"
#include "kernels/cuda/cuda_check.hpp"
#include "kernels/cuda/mma.cuh"
#include "kernels/cuda/ops.hpp"
#include "kernels/cuda/pdl.cuh"
#include "kernels/cuda/x_map.hpp"

namespace mhc::cuda {
namespace {

constexpr int kWarps = 8;
constexpr int kRowTiles = 2;             // 16-token mma row tiles per warp
constexpr int kLineBytes = 2 * kXBlock;  // one token's 64 channels
// A warp's accumulators hold all NT n-tiles up to 5 (40 mix outputs: n <= 5); beyond, the 8 warps
// form two column groups, each warp projecting half the n-tiles of its 32 tokens, and a CTA tile
// holds 128 tokens instead of 256 (the TMA's largest box).
constexpr int col_groups(int NT) { return NT <= 5 ? 1 : 2; }
constexpr int tile_tokens(int NT) { return kWarps / col_groups(NT) * kRowTiles * 16; }
constexpr bool takes(int NT) { return NT >= 1 && NT <= 10 && NT % col_groups(NT) == 0; }  // 1-6, 8, 10
// phi' fragments per 32-k chunk, n-tile and part: one 16-byte word per lane holding b0, b1 of the
// chunk's two k16 steps.
constexpr int kFragBytes = 32 * 16;
constexpr int kChunksPerBlock = kXBlock / 32;
// Three stages (96 KB of x in flight per SM), though five fit: fewer copies in flight moved x
// faster (H100, norm_proj at 16384,4,7168 with 3, 4, 5 stages: 0.326, 0.328, 0.330 ms), as they
// did for pre_fused.cu's projection.
constexpr int kStages = 3;
constexpr int kSwizzleAlign = 1024;  // the TMA's 128-byte swizzle repeats every 1024 bytes
// The split rule's target: an H100's SMs, as a constant, so the bits do not depend on the GPU.
constexpr int kFillSMs = 132;

// A stage is the block's x lines, then its phi' fragments [chunk][n-tile][part][lane]; stage
// sizes are multiples of 1024 bytes, so every stage's x keeps the swizzle's alignment. The
// stages' barriers follow them.
template <int NT>
constexpr int kXBytes = tile_tokens(NT) * kLineBytes;  // a stage's x: 32 or 16 KB
template <int NT>
constexpr int kStageBytes = kXBytes<NT> + kChunksPerBlock * NT * 3 * kFragBytes;
template <int NT>
constexpr int kSmemBytes = kStages * kStageBytes<NT> + 8 * kStages + kSwizzleAlign;  // with the alignment slack

int blocks_of(const PreDims& d) { return static_cast<int>(d.K() / kXBlock); }

struct TileArgs {
  CUtensorMap x_map;      // boxes of {64 channels, tile_tokens(NT), 1 stream, 1 block}
  const uint4* phi_frag;  // [K / 32][NT][3][32 lanes]
  std::int64_t T;
  int channel_blocks;  // C / 64
  int blocks;          // K / 64: the row's stages
  int M, splits;
  float* m_part;  // [KS, T, M]
  float* s_part;  // [KS, T]
};

template <int NT>
__global__ void __launch_bounds__(kWarps * 32, 1) proj_tiles_kernel(const __grid_constant__ TileArgs a) {
  constexpr int kTokens = tile_tokens(NT), kGroups = col_groups(NT), kWarpTiles = NT / kGroups;
  constexpr int kStage = kStageBytes<NT>, kX = kXBytes<NT>, kPhiBytes = kStage - kX;
  static_assert(takes(NT));
  extern __shared__ unsigned char smem_raw[];
  unsigned char* smem = smem_raw + ((kSwizzleAlign - shared_address(smem_raw) % kSwizzleAlign) % kSwizzleAlign);
  auto* full = reinterpret_cast<std::uint64_t*>(smem + kStages * kStage);  // [kStages]: the block landed
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, q = lane & 3;
  const int group = warp % kGroups, nt_first = group * kWarpTiles;  // this warp's n-tiles
  const int token_warp = warp / kGroups;                            // and its 32 tokens
  const std::int64_t T = a.T;
  const int split = static_cast<int>(blockIdx.x % a.splits);
  const int tile = static_cast<int>(blockIdx.x / a.splits);  // fits an int: the TMA takes token coordinates as int
  // The split's blocks [b_first, b_first + J) of the row, stream-major (k = i C + channel).
  const int b_first = static_cast<int>(static_cast<std::int64_t>(a.blocks) * split / a.splits);
  const int J = static_cast<int>(static_cast<std::int64_t>(a.blocks) * (split + 1) / a.splits) - b_first;

  if (tid == 0) {
    for (int s = 0; s < kStages; ++s) mbarrier_init(&full[s], 1);
    mbarrier_init_fence();
    tensormap_prefetch(&a.x_map);
  }
  __syncthreads();
  wait_for_prior_kernel();  // prepare_phi writes the fragments

  // Thread 0 loads block b of the split into stage s.
  const auto issue = [&](int s, int b) {
    const int row_block = b_first + b;
    unsigned char* stage = smem + s * kStage;
    mbarrier_arrive_expect_tx(&full[s], kStage);
    tensor_load_4d(stage, &a.x_map, 0, tile * kTokens, row_block / a.channel_blocks, row_block % a.channel_blocks,
                   &full[s]);
    bulk_load(stage + kX, a.phi_frag + static_cast<std::int64_t>(row_block) * (kPhiBytes / 16), kPhiBytes,
              &full[s]);
  };
  if (tid == 0) {
    for (int s = 0; s < kStages && s < J; ++s) issue(s, s);
  }

  // ldmatrix: lane l addresses token (l & 7) + 8 ((l >> 3) & 1) of a row tile, channels
  // 8 (l >> 4).. of a k16 step, so the four matrices come back as the mma's a0..a3.
  const int a_line = token_warp * kRowTiles * 16 + (lane & 7) + 8 * ((lane >> 3) & 1), a_half = lane >> 4;
  float acc[kRowTiles][kWarpTiles][4] = {};
  float ss[kRowTiles][4] = {};  // Σv² of row g (registers a0, a2) and g + 8 (a1, a3), two chains each
  int s = 0, parity = 0;
  for (int j = 0; j < J; ++j) {
    mbarrier_wait(&full[s], parity);
    const unsigned char* stage = smem + s * kStage;
#pragma unroll
    for (int c = 0; c < kChunksPerBlock; ++c) {
      std::uint32_t x16[kRowTiles][2][4];
#pragma unroll
      for (int mt = 0; mt < kRowTiles; ++mt) {
#pragma unroll
        for (int st = 0; st < 2; ++st) {
          const int line = a_line + 16 * mt, unit = 4 * c + 2 * st + a_half;
          ldmatrix_x4(x16[mt][st], stage + line * kLineBytes + ((unit ^ (line & 7)) << 4));
#pragma unroll
          for (int r = 0; r < 4; ++r) {
            const float v0 = bf16_lo(x16[mt][st][r]), v1 = bf16_hi(x16[mt][st][r]);
            ss[mt][r] = fmaf(v0, v0, ss[mt][r]);
            ss[mt][r] = fmaf(v1, v1, ss[mt][r]);
          }
        }
      }
      // One 32-k chunk: 6 products per n-tile (small parts first), then added in IEEE f32.
      const uint4* frag = reinterpret_cast<const uint4*>(stage + kX) + ((c * NT + nt_first) * 3) * 32 + lane;
      float chunk[kRowTiles][kWarpTiles][4];
#pragma unroll
      for (int sp = 2; sp >= 0; --sp) {
        uint4 b[kWarpTiles];
#pragma unroll
        for (int nt = 0; nt < kWarpTiles; ++nt) b[nt] = frag[(nt * 3 + sp) * 32];
#pragma unroll
        for (int st = 0; st < 2; ++st) {
#pragma unroll
          for (int nt = 0; nt < kWarpTiles; ++nt) {
#pragma unroll
            for (int mt = 0; mt < kRowTiles; ++mt) {
              const std::uint32_t* x = x16[mt][st];
              const std::uint32_t b0 = word(b[nt], 2 * st), b1 = word(b[nt], 2 * st + 1);
              if (sp == 2 && st == 0) {
                mma_bf16_16816_zero(chunk[mt][nt], x[0], x[1], x[2], x[3], b0, b1);
              } else {
                mma_bf16_16816(chunk[mt][nt], x[0], x[1], x[2], x[3], b0, b1);
              }
            }
          }
        }
      }
#pragma unroll
      for (int mt = 0; mt < kRowTiles; ++mt) {
#pragma unroll
        for (int nt = 0; nt < kWarpTiles; ++nt) {
#pragma unroll
          for (int e = 0; e < 4; ++e) acc[mt][nt][e] += chunk[mt][nt][e];
        }
      }
    }
    // Every warp is done with the stage: refill it with the block kStages further on.
    __syncthreads();
    if (tid == 0 && j + kStages < J) issue(s, j + kStages);
    if (++s == kStages) s = 0, parity ^= 1;
  }

  // The split's partials of rows g and g + 8 of each row tile (Σv² from the first column group).
#pragma unroll
  for (int mt = 0; mt < kRowTiles; ++mt) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const float v = quad_sum(ss[mt][h] + ss[mt][h + 2]);
      const std::int64_t row =
          static_cast<std::int64_t>(tile) * kTokens + token_warp * kRowTiles * 16 + mt * 16 + g + 8 * h;
      if (row >= T) continue;
      if (q == 0 && group == 0) a.s_part[split * T + row] = v;
      float* out = a.m_part + (split * T + row) * a.M;
#pragma unroll
      for (int nt = 0; nt < kWarpTiles; ++nt) {
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const int col = (nt_first + nt) * 8 + 2 * q + e;
          if (col < a.M) out[col] = acc[mt][nt][2 * h + e];
        }
      }
    }
  }
}

// phi' (already folded with gamma where there is one) split into hi + mid + lo and
// stored in the B-fragment order the kernel reads: word 2 st + h of lane 4 g + q, for chunk c,
// n-tile nt and part sp, holds part sp of column 8 nt + g at k = 32 c + 16 st + 2 q + 8 h and
// k + 1 (zero past M). One thread per (chunk, n-tile, lane).
template <int NT>
__global__ void phi_fragments_kernel(const float* __restrict__ phi_folded, int M, std::int64_t K,
                                     uint4* __restrict__ frag) {
  const std::int64_t total = K / 32 * NT * 32;
  for (std::int64_t e = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const int lane = static_cast<int>(e % 32), nt = static_cast<int>(e / 32 % NT);
    const std::int64_t c = e / (32 * NT);
    const int col = nt * 8 + lane / 4;
    std::uint32_t w[3][4];
#pragma unroll
    for (int v = 0; v < 4; ++v) {  // v = 2 st + h
      const std::int64_t k = 32 * c + 16 * (v >> 1) + 2 * (lane % 4) + 8 * (v & 1);
      float f[2] = {0.0f, 0.0f};
      if (col < M) {
#pragma unroll
        for (int u = 0; u < 2; ++u) f[u] = phi_folded[col * K + k + u];
      }
      std::uint32_t parts[3];
      split2(f[0], f[1], parts);
#pragma unroll
      for (int sp = 0; sp < 3; ++sp) w[sp][v] = parts[sp];
    }
    uint4* out = frag + (c * NT * 3) * 32 + lane;
#pragma unroll
    for (int sp = 0; sp < 3; ++sp) out[(nt * 3 + sp) * 32] = make_uint4(w[sp][0], w[sp][1], w[sp][2], w[sp][3]);
  }
}

template <int NT>
void launch_fragments(const PreDims& d, const float* phi_folded, uint4* frag, cudaStream_t stream) {
  const std::int64_t total = d.K() / 32 * NT * 32;
  const int blocks = static_cast<int>(std::min<std::int64_t>((total + 255) / 256, 4096));
  phi_fragments_kernel<NT><<<blocks, 256, 0, stream>>>(phi_folded, d.M, d.K(), frag);
}

template <int NT>
void launch_tiles(const PreDims& d, const std::uint16_t* x, const uint4* frag, int splits, float* m_part,
                  float* s_part, cudaStream_t stream) {
  auto* kernel = proj_tiles_kernel<NT>;
  MHC_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmemBytes<NT>));
  const std::int64_t tiles = (d.T + tile_tokens(NT) - 1) / tile_tokens(NT);
  TileArgs k{make_x_map(x, d, tile_tokens(NT), 1, 1), frag, d.T, static_cast<int>(d.C / kXBlock), blocks_of(d), d.M,
             splits, m_part, s_part};
  launch_after(kernel, dim3(static_cast<unsigned>(tiles * splits)), dim3(kWarps * 32), kSmemBytes<NT>, stream, k);
}

}  // namespace

int projection_tile_splits(const PreDims& d) {
  const int NT = (d.M + 7) / 8;
  if (d.T <= 0 || d.C % kXBlock != 0 || !takes(NT)) return 0;
  const std::int64_t tiles = (d.T + tile_tokens(NT) - 1) / tile_tokens(NT);
  if (tiles > (std::int64_t{1} << 31) / tile_tokens(NT)) return 0;  // the TMA takes token coordinates as int
  // Enough CTAs for one wave where T is small, each split keeping at least 4 blocks of its row.
  const std::int64_t most = std::max(1, blocks_of(d) / 4);
  return static_cast<int>(std::clamp<std::int64_t>(kFillSMs / tiles, 1, most));
}

std::size_t phi_fragment_words(const PreDims& d) {
  return static_cast<std::size_t>(d.K() / 32) * ((d.M + 7) / 8) * 3 * 32;
}

void prepare_phi_fragments(const PreDims& d, const float* phi_folded, uint4* frag, cudaStream_t stream) {
  switch ((d.M + 7) / 8) {
    case 1: launch_fragments<1>(d, phi_folded, frag, stream); break;
    case 2: launch_fragments<2>(d, phi_folded, frag, stream); break;
    case 3: launch_fragments<3>(d, phi_folded, frag, stream); break;
    case 4: launch_fragments<4>(d, phi_folded, frag, stream); break;
    case 5: launch_fragments<5>(d, phi_folded, frag, stream); break;
    case 6: launch_fragments<6>(d, phi_folded, frag, stream); break;
    case 8: launch_fragments<8>(d, phi_folded, frag, stream); break;
    case 10: launch_fragments<10>(d, phi_folded, frag, stream); break;
    default: fail(ErrorKind::internal, "prepare_phi_fragments: no instantiation for this many mix outputs");
  }
  check_launch("phi_fragments_kernel");
}

void launch_proj_tiles(const PreDims& d, int splits, const std::uint16_t* x, const uint4* phi_frag, float* m_part,
                       float* s_part, cudaStream_t stream) {
  if (d.T == 0) return;
  if (reinterpret_cast<std::uintptr_t>(x) % 16 != 0) {
    fail(ErrorKind::internal, "launch_proj_tiles: x is not 16-byte aligned");
  }
  switch ((d.M + 7) / 8) {
    case 1: launch_tiles<1>(d, x, phi_frag, splits, m_part, s_part, stream); break;
    case 2: launch_tiles<2>(d, x, phi_frag, splits, m_part, s_part, stream); break;
    case 3: launch_tiles<3>(d, x, phi_frag, splits, m_part, s_part, stream); break;
    case 4: launch_tiles<4>(d, x, phi_frag, splits, m_part, s_part, stream); break;
    case 5: launch_tiles<5>(d, x, phi_frag, splits, m_part, s_part, stream); break;
    case 6: launch_tiles<6>(d, x, phi_frag, splits, m_part, s_part, stream); break;
    case 8: launch_tiles<8>(d, x, phi_frag, splits, m_part, s_part, stream); break;
    case 10: launch_tiles<10>(d, x, phi_frag, splits, m_part, s_part, stream); break;
    default: fail(ErrorKind::internal, "launch_proj_tiles: no instantiation for this many mix outputs");
  }
  check_launch("proj_tiles_kernel");
}

}  // namespace mhc::cuda
