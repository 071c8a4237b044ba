// dx and dphi' of the pre backward on the tensor cores (MATH.md "Backward pre" steps 7-8):
//   dx[t, k]    = h_pre[t, i] dy[t, c] + (mm_pre+post + mm_res)[t, k] + cn[t] x[t, k]
//   mm_b[t, k]  = sum_{j in block b} dm[t, j] phi'[j, k]
//   dphi'[j, k] = sum_t dm[t, j] x[t, k]
// for M <= 80 (every map at n <= 8 but the permutations at n = 5) and C % 128 == 0
// (dx_dphi_mma_applies); pre_backward.cu's CUDA-core kernel covers the rest. On the tensor cores
// x is bf16 already, and dm and phi' (f32) are split exactly into hi + mid + lo bf16 parts
// (mma.cuh split2, as norm_proj.cu's prepare_phi). dphi' (an f32
// output summed over T) takes the three products dm part x x: that kernel's f32 products,
// exactly. dx_mm takes the three products hi hi, hi mid and mid hi: the dropped ones are each
// below 2^-16 of |dm phi'|, and dx is rounded to bf16 (half an ulp: 2^-9 of |dx|) right after,
// so it keeps its rounding point (the GPU sweep's dx ratios stay 1.00) for half the MMAs of the
// f32-exact six. With taps (the decomposition judges the f32 parts against the emulated
// backend's f32 products) dx_mm takes the six products that reach f32 precision. The pre and
// post columns share one 16-wide k slot and the res columns have their own, so dx_mm is
// mm_pre+post + mm_res in f32; with taps the pre and post blocks are also taken apart.
//
// A CTA owns 128 or 256 columns of K (16 per warp; inside one stream because C is a multiple)
// and a token split; tiles of 32 tokens of x and dy arrive by cp.async kStages - 1 tiles ahead,
// those of dm, h_pre[:, i] and cn (all a CTA needs of them) one tile ahead. The kernel is bound
// by latency (MMA chains, shared memory), not by bytes in flight, so warps count more than
// pipeline depth (Config). The tensor cores' f32 accumulation is not round-to-nearest, so each
// block sum of dx_mm and each tile's contribution to dphi' starts from zero and is added in IEEE
// f32, like the projection's chunks.
#include <cuda_runtime.h>

#include <algorithm>
#include <type_traits>

#include "core/bf16.hpp"
#include "kernels/cuda/cuda_check.hpp"
#include "kernels/cuda/mma.cuh"
#include "kernels/cuda/ops.hpp"
#include "kernels/cuda/pdl.cuh"
#include "kernels/cuda/switch.hpp"

namespace mhc::cuda {
namespace {

constexpr int kTile = 32;  // tokens per stage, a split's multiple

// A CTA of W warps (16 columns of K each), Ctas of them per SM, Stages tiles of shared memory.
template <int W, int Ctas, int Stages>
struct Config {
  static constexpr int kThreads = 32 * W, kCtasPerSm = Ctas, kStages = Stages;
  static constexpr int kCols = 16 * W;
  // x and dy tile rows (bf16) padded by 32 bytes: the 8-byte fragment reads and writes of a
  // half-warp (4 rows x 32 bytes) and the 16-byte row copies then hit distinct banks.
  static constexpr int kRow = kCols + 16;
};
// Both without taps: 32 warps per SM at 64 registers, two stages (a third fits beside neither).
// Measured (H100, dx_dphi in pre fwd+bwd, ms, A/B in one call): Narrow against three CTAs of
// 8 warps and three stages at 80 registers, T,n,C = 131072,4,512 0.500 vs 0.553; 65536,4,1024
// 0.497 vs 0.516; 32768,4,2048 0.502 vs 0.525; 16384,4,4096 0.510 vs 0.567; Wide against Narrow
// at 16384,4,7168 0.871-0.875 vs 0.902-0.915 (and Wide no faster elsewhere: 0.497-0.499 at 1024,
// 0.507 at 2048). Why only the longest rows gain from wide CTAs was not measured apart. A third
// stage for Wide (x and dy, 118784 bytes with the coefficient buffers) would leave one CTA per SM;
// variants that made room for it were slower (docs/cuda.md, ninth session).
using Narrow = Config<8, 4, 2>;
using Wide = Config<16, 2, 2>;
// M > 32 (n > 4, up to 80 outputs): a warp's phi' fragments and dphi' accumulators grow with M
// (5 slots and 10 position tiles at n = 8: 100 registers), so 128 registers and two CTAs per SM.
// Measured (H100, dx_dphi alone, ms at 65536,8,1024 / 16384,8,4096 / 16384,5,7168 /
// 65536,6,1024, two rounds): 2.00-2.01 / 2.02 / 1.56-1.58 / 1.18-1.19; three stages 2.01-2.02 /
// 2.04-2.07 / 1.61 / 1.29; one CTA of 16 warps 1.98 / 1.99 / 1.67-1.68 / 1.21, with three
// stages 1.99-2.02 / 1.98-1.99 / 1.69-1.72 / 1.31.
using Big = Config<8, 2, 2>;
constexpr int kNarrowMaxM = 32, kMaxM = 80;
// With taps (decomposition, not speed): two CTAs per SM, 128 registers; at 80 its extra
// accumulators spilled 300 bytes. At n > 4 it spills 130-480 bytes, accepted for the same reason.
using Tapped = Config<8, 2, 3>;

bool wide(const PreDims& d) { return d.M <= kNarrowMaxM && d.K() > 16384 && d.C % Wide::kCols == 0; }

// Shared memory of one CTA. dm's parts are laid out by k slot, [part][t][slot position]: slot 0
// holds the pre and post columns (2n <= 16 of its 16 positions), slots 1.. the res columns, 16
// each. dx_mm reads them as the A operand (tokens x slot positions) and dphi' as the B operand
// (tokens x positions, by ldmatrix.trans), skipping the position groups of 8 that hold no column.
template <int N, int M, class Cfg>
struct Layout {
  static constexpr int kRes = M - 2 * N;
  static constexpr int kSlots = 1 + (kRes + 15) / 16;
  static constexpr int kSlotRow = 16 * kSlots + 8;  // bf16; odd number of 16-byte units
  static constexpr bool kSlot0K8 = 2 * N <= 8;  // slot 0's columns fill only its first 8 positions
  static constexpr int kJTiles0 = kSlot0K8 ? 1 : 2;
  static constexpr int kJTiles = kJTiles0 + (kRes + 7) / 8;  // groups of 8 positions holding columns
  // Bytes, each region 16-byte aligned.
  static constexpr int kXBytes = kTile * Cfg::kRow * 2;
  static constexpr int kStageBytes = 2 * kXBytes;  // x and dy
  // A tile's dm, h_pre[:, i] and cn (f32): two buffers, filled one tile ahead.
  static constexpr int kDmBytes = (kTile * M * 4 + 15) / 16 * 16;
  static constexpr int kCoeffBytes = kDmBytes + 2 * kTile * 4;
  static constexpr int kSlotBytes = 3 * kTile * kSlotRow * 2;
  static constexpr int kBytes = Cfg::kStages * kStageBytes + 2 * kCoeffBytes + kSlotBytes;
  static __device__ __forceinline__ int slot_pos(int j) { return j < 2 * N ? j : 16 + (j - 2 * N); }
  // The dm column at slot position pos, or -1 for padding.
  static __device__ __forceinline__ int column(int pos) {
    if (pos < 16) return pos < 2 * N ? pos : -1;
    const int j = 2 * N + pos - 16;
    return j < M ? j : -1;
  }
  static constexpr int tile_pos(int jt) { return jt < kJTiles0 ? 8 * jt : 16 + 8 * (jt - kJTiles0); }
};

__device__ __forceinline__ void cp_async16(void* shared, const void* global, int src_bytes) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(shared));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(global), "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n"); }
template <int Pending>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(Pending));
}

__device__ __forceinline__ void ldmatrix_x4_trans(std::uint32_t (&r)[4], const void* shared) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(shared));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(s));
}
__device__ __forceinline__ void ldmatrix_x2(std::uint32_t (&r)[2], const void* shared) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(shared));
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0,%1}, [%2];\n" : "=r"(r[0]), "=r"(r[1]) : "r"(s));
}
__device__ __forceinline__ void ldmatrix_x2_trans(std::uint32_t (&r)[2], const void* shared) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(shared));
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0,%1}, [%2];\n"
               : "=r"(r[0]), "=r"(r[1])
               : "r"(s));
}

__device__ __forceinline__ void cp_async4(void* shared, const void* global, int src_bytes) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(shared));
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(s), "l"(global), "r"(src_bytes));
}

// Copies `bytes` (a multiple of 4) of a contiguous f32 range into shared memory, zero-filling the
// rest of `cap`. A 16-byte copy may not start in the range and end past it (the range may end
// there), so the last partial chunk goes float by float.
template <int kThreads>
__device__ __forceinline__ void stage_floats(float* shared, const float* global, int bytes, int cap,
                                             const float* any_valid) {
  for (int off = threadIdx.x * 16; off < cap; off += kThreads * 16) {
    char* dst = reinterpret_cast<char*>(shared) + off;
    const char* src = reinterpret_cast<const char*>(global) + off;
    const int n = bytes - off;
    if (n >= 16) {
      cp_async16(dst, src, 16);
    } else {
#pragma unroll
      for (int w = 0; w < 16; w += 4) {
        const bool in = w < n;
        cp_async4(dst + w, in ? src + w : reinterpret_cast<const char*>(any_valid), in ? 4 : 0);
      }
    }
  }
}

// The last kProducts of the six products (dm part, phi' part) of a slot down to 2^-24 of the
// largest (6: f32 precision; 3: down to 2^-16), smallest first, for both n-tiles, interleaved so
// that two independent accumulations are in flight. Where slot 0's columns (pre and post) fill
// only the first 8 of its 16 positions (2n <= 8), its products are k8 MMAs (kK8): half the
// tensor-core work, the same products (the other 8 are zero). mask keeps the bf16 halves of the
// B words whose columns take part.
template <bool kK8, int kProducts>
__device__ __forceinline__ void slot_products(float (&d0)[4], float (&d1)[4], const std::uint32_t (&am)[3][4],
                                              const uint2 (&b0)[3], const uint2 (&b1)[3], uint2 mask) {
  constexpr int kOrder[6][2] = {{2, 0}, {0, 2}, {1, 1}, {1, 0}, {0, 1}, {0, 0}};
#pragma unroll
  for (int o = 6 - kProducts; o < 6; ++o) {
    const int pa = kOrder[o][0], pb = kOrder[o][1];
    if constexpr (kK8) {
      mma_bf16_1688(d0, am[pa][0], am[pa][1], b0[pb].x & mask.x);
      mma_bf16_1688(d1, am[pa][0], am[pa][1], b1[pb].x & mask.x);
    } else {
      mma_bf16_16816(d0, am[pa][0], am[pa][1], am[pa][2], am[pa][3], b0[pb].x & mask.x, b0[pb].y & mask.y);
      mma_bf16_16816(d1, am[pa][0], am[pa][1], am[pa][2], am[pa][3], b1[pb].x & mask.x, b1[pb].y & mask.y);
    }
  }
}

template <int N, int M, bool kTaps, class Cfg>
__global__ void __launch_bounds__(Cfg::kThreads, Cfg::kCtasPerSm) dx_dphi_mma_kernel(const DxDphiArgs a) {
  wait_for_prior_kernel();
  constexpr int kStages = Cfg::kStages, kThreads = Cfg::kThreads, kCols = Cfg::kCols, kRow = Cfg::kRow;
  constexpr int kProducts = kTaps ? 6 : 3;
  constexpr int kParts = kProducts == 6 ? 3 : 2;  // dm parts that dx_mm reads
  using L = Layout<N, M, Cfg>;
  constexpr int S = L::kSlots, JT = L::kJTiles;
  extern __shared__ __align__(16) unsigned char smem[];
  const auto x_tile = [&](int st) { return reinterpret_cast<std::uint16_t*>(smem + st * L::kStageBytes); };
  const auto dy_tile = [&](int st) { return x_tile(st) + kTile * kRow; };
  unsigned char* const coeffs = smem + kStages * L::kStageBytes;
  const auto dm_tile = [&](int b) { return reinterpret_cast<float*>(coeffs + b * L::kCoeffBytes); };
  const auto hp_tile = [&](int b) { return dm_tile(b) + L::kDmBytes / 4; };  // h_pre[t, i]
  const auto cn_tile = [&](int b) { return hp_tile(b) + kTile; };
  std::uint16_t* const slotted = reinterpret_cast<std::uint16_t*>(coeffs + 2 * L::kCoeffBytes);

  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, q = lane & 3;
  const std::int64_t T = a.d.T, C = a.d.C, K = a.d.K();
  const std::int64_t k0 = static_cast<std::int64_t>(blockIdx.x) * kCols;
  const int i = static_cast<int>(k0 / C);  // the stream of every column of this CTA
  const std::int64_t c0 = k0 - i * C;
  const int wc = 16 * warp;  // this warp's first column within the CTA
  const std::int64_t t_begin = blockIdx.y * a.plan.tokens_per_split;
  const std::int64_t t_end = std::min<std::int64_t>(T, t_begin + a.plan.tokens_per_split);
  const int tiles = static_cast<int>((t_end - t_begin + kTile - 1) / kTile);

  for (int e = threadIdx.x; e < L::kSlotBytes / 4; e += kThreads) {
    reinterpret_cast<std::uint32_t*>(slotted)[e] = 0u;  // padding stays zero
  }

  // Tile `tile` of the split: its first token, and how many of its kTile rows hold tokens.
  const auto tile_begin = [&](int tile) { return t_begin + static_cast<std::int64_t>(tile) * kTile; };
  const auto tile_count = [&](std::int64_t tb) { return static_cast<int>(std::min<std::int64_t>(kTile, t_end - tb)); };
  // Each thread copies the same 16-byte column u0 of rows r0, r0 + 16, ... of every tile.
  constexpr int kRowStep = kThreads / (kCols / 8);
  const int r0 = threadIdx.x / (kCols / 8), u0 = 8 * (threadIdx.x % (kCols / 8));
  const std::int64_t x_off = r0 * K + u0, dy_off = r0 * C + u0;
  const auto load_x_dy = [&](int tile) {
    const int st = tile % kStages;
    const std::int64_t tb = tile_begin(tile);
    const int count = tile_count(tb);
    const std::uint16_t* x = a.x + tb * K + k0;
    const std::uint16_t* dy = a.dy + tb * C + c0;
#pragma unroll
    for (int it = 0; it < kTile / kRowStep; ++it) {
      const int r = r0 + it * kRowStep;
      const bool in = r < count;  // rows past the split read nothing and are zero-filled
      cp_async16(x_tile(st) + r * kRow + u0, in ? x + x_off + it * kRowStep * K : x, in ? 16 : 0);
      cp_async16(dy_tile(st) + r * kRow + u0, in ? dy + dy_off + it * kRowStep * C : dy, in ? 16 : 0);
    }
  };
  const auto load_coeffs = [&](int tile) {
    const int b = tile & 1;
    const std::int64_t tb = tile_begin(tile);
    const int count = tile_count(tb);
    stage_floats<kThreads>(dm_tile(b), a.dm + tb * M, count * M * 4, L::kDmBytes, a.dm);
    stage_floats<kThreads>(cn_tile(b), a.cn + tb, count * 4, kTile * 4, a.cn);
    for (int t = threadIdx.x; t < kTile; t += kThreads) {
      const bool in = t < count;
      cp_async4(hp_tile(b) + t, in ? a.h_pre + (tb + t) * N + i : a.h_pre, in ? 4 : 0);
    }
  };

  // phi' of this warp's columns as the B operand of dx_mm, split once: b[nt][s][part]. The
  // n index of the products is free to choose: n-tile nt's column n is the warp's column
  // 4 (n / 2) + 2 nt + n % 2, so that a lane's outputs (n = 2q, 2q + 1 of both n-tiles) are the
  // 4 adjacent columns 4q..4q+3.
  uint2 b[2][S][3];
#pragma unroll
  for (int nt = 0; nt < 2; ++nt) {
    const float* column = a.phi_folded + k0 + wc + 4 * (g >> 1) + 2 * nt + (g & 1);
#pragma unroll
    for (int s = 0; s < S; ++s) {
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        float f[2];
#pragma unroll
        for (int u = 0; u < 2; ++u) {
          const int j = L::column(16 * s + 8 * h + 2 * q + u);
          f[u] = j >= 0 ? column[j * K] : 0.0f;
        }
        std::uint32_t p3[3];
        split2(f[0], f[1], p3);
#pragma unroll
        for (int p = 0; p < 3; ++p) (h == 0 ? b[nt][s][p].x : b[nt][s][p].y) = p3[p];
      }
    }
  }
  // With taps, slot 0's products are also taken for the pre and the post columns alone: the
  // bf16 halves of this lane's B words (positions 2q, 2q + 1 and 8 + 2q, 9 + 2q) that hold a pre
  // (post) column.
  uint2 pre_mask = make_uint2(0u, 0u);
#pragma unroll
  for (int u = 0; u < 2; ++u) {
    pre_mask.x |= (2 * q + u < N ? 0xFFFFu : 0u) << (16 * u);
    pre_mask.y |= (8 + 2 * q + u < N ? 0xFFFFu : 0u) << (16 * u);
  }
  const uint2 post_mask = make_uint2(~pre_mask.x, ~pre_mask.y), all = make_uint2(~0u, ~0u);

  float dphi[JT][4];
#pragma unroll
  for (int jt = 0; jt < JT; ++jt) dphi[jt][0] = dphi[jt][1] = dphi[jt][2] = dphi[jt][3] = 0.0f;

  // Copy groups in commit order: x/dy 0, coeffs 0, x/dy 1 .. kStages - 2, then per tile coeffs
  // tile + 1 and x/dy tile + kStages - 1. Waiting for all but the newest kStages - 2 groups then
  // finds both of a tile's groups complete, and the coefficients need two buffers whatever the
  // stage count: the next tile's land in the one the previous tile (done at the barrier) used.
  if (tiles > 0) load_x_dy(0);
  cp_async_commit();
  if (tiles > 0) load_coeffs(0);
  cp_async_commit();
#pragma unroll
  for (int st = 1; st < kStages - 1; ++st) {
    if (st < tiles) load_x_dy(st);
    cp_async_commit();
  }
  for (int tile = 0; tile < tiles; ++tile) {
    const int st = tile % kStages;
    const std::int64_t tb = tile_begin(tile);
    const int count = tile_count(tb);
    cp_async_wait<kStages - 2>();
    __syncthreads();  // this tile's bytes are visible; every warp is done with the previous tile
    if (tile + 1 < tiles) load_coeffs(tile + 1);
    cp_async_commit();
    if (tile + kStages - 1 < tiles) load_x_dy(tile + kStages - 1);
    cp_async_commit();
    // dm's exact split into the slotted layout, two adjacent columns per word (2n is even, so a
    // pair never straddles the pre/post and res slots).
    const float* dm = dm_tile(tile & 1);
    constexpr int kPairs = (M + 1) / 2;
    for (int e = threadIdx.x; e < kTile * kPairs; e += kThreads) {
      const int t = e / kPairs, j = 2 * (e % kPairs);
      std::uint32_t p3[3];
      split2(dm[t * M + j], j + 1 < M ? dm[t * M + j + 1] : 0.0f, p3);
#pragma unroll
      for (int p = 0; p < 3; ++p) {
        *reinterpret_cast<std::uint32_t*>(slotted + (p * kTile + t) * L::kSlotRow + L::slot_pos(j)) = p3[p];
      }
    }
    __syncthreads();

    std::uint16_t* xs = x_tile(st);
    // dphi'^T[col, j] += sum_t x[t, col] dm[t, j]: A = x^T by ldmatrix.trans, B = dm parts. Up
    // to 4 position tiles per pass (every map at n <= 4 in one), so that the chunks take 16
    // registers whatever M.
    constexpr int kGroup = 4;
#pragma unroll
    for (int j0 = 0; j0 < JT; j0 += kGroup) {
      float chunk[kGroup][4] = {};
#pragma unroll
      for (int ks = 0; ks < kTile / 16; ++ks) {
        std::uint32_t xa[4];
        ldmatrix_x4_trans(xa, xs + (16 * ks + ((lane >> 4) << 3) + (lane & 7)) * kRow + wc + ((lane >> 3) & 1) * 8);
#pragma unroll
        for (int p = 2; p >= 0; --p) {
#pragma unroll
          for (int jj = 0; jj < kGroup && j0 + jj < JT; ++jj) {
            std::uint32_t bm[2];
            ldmatrix_x2_trans(bm, slotted + (p * kTile + 16 * ks + (lane & 15)) * L::kSlotRow + L::tile_pos(j0 + jj));
            mma_bf16_16816(chunk[jj], xa[0], xa[1], xa[2], xa[3], bm[0], bm[1]);
          }
        }
      }
#pragma unroll
      for (int jj = 0; jj < kGroup && j0 + jj < JT; ++jj) {
#pragma unroll
        for (int e = 0; e < 4; ++e) dphi[j0 + jj][e] += chunk[jj][e];
      }
    }
    __syncwarp();  // the ldmatrix reads of x are done before dx overwrites it below

    // dx per 16-token row tile: dm phi' by slot (pre + post in slot 0, res in the others), then
    // the elementwise terms; dx is written over x in shared memory and stored in 16-byte rows.
    const std::uint16_t* dys = dy_tile(st);
    const float* hp = hp_tile(tile & 1);
    const float* cn = cn_tile(tile & 1);
#pragma unroll
    for (int mt = 0; mt < kTile / 16; ++mt) {
      float mm[2][2][4], split_pp[2][2][4];  // [nt][pre+post, res]; with taps [nt][pre, post]
#pragma unroll
      for (int nt = 0; nt < 2; ++nt) {
#pragma unroll
        for (int e = 0; e < 4; ++e) mm[nt][0][e] = mm[nt][1][e] = split_pp[nt][0][e] = split_pp[nt][1][e] = 0.0f;
      }
      // All slots' A fragments first: the loads are in flight together, then the products
      // (slot 0 with 2n <= 8: the k8 fragment, rows 0-7 and 8-15 of its first 8 positions).
      std::uint32_t am[S][3][4];
#pragma unroll
      for (int s = 0; s < S; ++s) {
#pragma unroll
        for (int p = 0; p < kParts; ++p) {
          const std::uint16_t* at = slotted + (p * kTile + 16 * mt + ((lane >> 3) & 1) * 8 + (lane & 7)) * L::kSlotRow +
                                    16 * s + (lane >> 4) * 8;
          if (s == 0 && L::kSlot0K8) {
            std::uint32_t half[2];
            ldmatrix_x2(half, at);
            am[0][p][0] = half[0], am[0][p][1] = half[1], am[0][p][2] = am[0][p][3] = 0u;
          } else {
            ldmatrix_x4(am[s][p], at);
          }
        }
      }
      constexpr bool kK8 = L::kSlot0K8;
      slot_products<kK8, kProducts>(mm[0][0], mm[1][0], am[0], b[0][0], b[1][0], all);
#pragma unroll
      for (int s = 1; s < S; ++s) {
        slot_products<false, kProducts>(mm[0][1], mm[1][1], am[s], b[0][s], b[1][s], all);
      }
      if constexpr (kTaps) {
        slot_products<kK8, kProducts>(split_pp[0][0], split_pp[1][0], am[0], b[0][0], b[1][0], pre_mask);
        slot_products<kK8, kProducts>(split_pp[0][1], split_pp[1][1], am[0], b[0][0], b[1][0], post_mask);
      }
      const int col = wc + 4 * q;
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int t = 16 * mt + g + 8 * h;
        const uint2 xv = *reinterpret_cast<const uint2*>(xs + t * kRow + col);
        const uint2 gv = *reinterpret_cast<const uint2*>(dys + t * kRow + col);
        const float v[4] = {bf16_lo(xv.x), bf16_hi(xv.x), bf16_lo(xv.y), bf16_hi(xv.y)};
        const float gg[4] = {bf16_lo(gv.x), bf16_hi(gv.x), bf16_lo(gv.y), bf16_hi(gv.y)};
        const float hpt = hp[t], cnt = cn[t];
        float dxv[4];
#pragma unroll
        for (int c = 0; c < 4; ++c) {  // column col + c: n-tile c / 2, output 2 h + c % 2
          const int nt = c >> 1, e = 2 * h + (c & 1);
          const float dx_apply = hpt * gg[c];
          const float dx_mm = mm[nt][0][e] + mm[nt][1][e];
          const float dx_norm = cnt * v[c];
          dxv[c] = (dx_apply + dx_mm) + dx_norm;
          if (kTaps && t < count) {
            const std::int64_t at = (tb + t) * K + k0 + col + c;
            a.part_dx_apply[at] = dx_apply;
            a.part_dx_mm[at] = dx_mm;
            a.part_dx_norm[at] = dx_norm;
            a.part_dx_mm_block[0][at] = split_pp[nt][0][e];
            a.part_dx_mm_block[1][at] = split_pp[nt][1][e];
            a.part_dx_mm_block[2][at] = mm[nt][1][e];
          }
        }
        *reinterpret_cast<uint2*>(xs + t * kRow + col) = make_uint2(bf16x2(dxv[0], dxv[1]), bf16x2(dxv[2], dxv[3]));
      }
    }
    __syncwarp();
    // The warp's 16 columns of a row are one 32-byte sector: two lanes store it whole.
    std::uint16_t* dx = a.dx + tb * K + k0 + wc + 8 * (lane & 1) + (lane >> 1) * K;
    const std::uint16_t* dx_shared = xs + (lane >> 1) * kRow + wc + 8 * (lane & 1);
#pragma unroll
    for (int it = 0; it < kTile / 16; ++it) {
      if ((lane >> 1) + 16 * it < count) {
        *reinterpret_cast<uint4*>(dx + 16 * it * K) = *reinterpret_cast<const uint4*>(dx_shared + 16 * it * kRow);
      }
    }
  }
  cp_async_wait<0>();

#pragma unroll
  for (int jt = 0; jt < JT; ++jt) {
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int j = L::column(L::tile_pos(jt) + 2 * q + (e & 1));
      const std::int64_t col = k0 + wc + g + 8 * (e >> 1);
      if (j >= 0) a.dphi_part[(blockIdx.y * static_cast<std::int64_t>(M) + j) * K + col] = dphi[jt][e];
    }
  }
}

}  // namespace

bool dx_dphi_mma_applies(const PreDims& d) { return d.M <= kMaxM && d.C % Narrow::kCols == 0; }

std::int64_t dx_dphi_mma_columns(const PreDims& d) { return wide(d) ? Wide::kCols : Narrow::kCols; }

void launch_dx_dphi_mma(const DxDphiArgs& a, cudaStream_t stream) {
  n_kind_switch(a.d.n, a.resmap, [&](auto nc, auto kc) {
    constexpr int N = decltype(nc)::value;
    constexpr int M = MixShape<N, decltype(kc)::value>::kM;
    if constexpr (M <= kMaxM) {
      // Every configuration takes the same tiles and token splits, so the same bits (but for
      // dx_mm's products with taps, above).
      const auto run = [&](auto taps, auto cfg) {
        using Cfg = decltype(cfg);
        const auto kernel = dx_dphi_mma_kernel<N, M, decltype(taps)::value, Cfg>;
        constexpr int bytes = Layout<N, M, Cfg>::kBytes;
        MHC_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes));
        const dim3 grid(static_cast<unsigned>(a.d.K() / Cfg::kCols), static_cast<unsigned>(a.plan.splits_t));
        launch_after(kernel, grid, dim3(Cfg::kThreads), bytes, stream, a);
      };
      if (a.part_dx_apply) {
        run(std::true_type{}, Tapped{});
      } else if constexpr (M > kNarrowMaxM) {
        run(std::false_type{}, Big{});
      } else if (wide(a.d)) {
        run(std::false_type{}, Wide{});
      } else {
        run(std::false_type{}, Narrow{});
      }
    }
  });
  check_launch("dx_dphi_mma_kernel");
}

}  // namespace mhc::cuda
