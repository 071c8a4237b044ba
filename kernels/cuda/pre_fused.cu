// Pre forward with one read of x (MATH.md steps 1-3 and 7): sums of squares, the projection
// m = v . phi'^T, h_pre, and y = sum_i h_pre[i] x[i], on clusters of S thread blocks.
//
// y needs h_pre, h_pre needs the whole K reduction of m, and a token row (n C bf16) is too long
// to keep on one SM at the sizes that matter. So the K reduction is split over the S CTAs of a
// cluster by channel slice: CTA j owns channels [j C/S, (j+1) C/S) of every stream (its "row" of
// Kc = n C/S values per token). Each of its W warps owns 16 KW16 consecutive k of that row and
// holds the matching phi' columns in registers for the whole persistent kernel, already split
// into their exact hi + mid + lo bf16 parts (mma.cuh split2). Per 16-token tile j:
//   * the tile's slice (16 tokens x n streams x C/S channels, 32 KB at the benchmark shape)
//     arrives in a ring of shared-memory stages by one TMA tensor copy, issued stages - 3
//     tiles ahead, so HBM never waits for compute;
//   * each warp runs its k range through the tensor cores (ldmatrix of x, the three phi' parts,
//     IEEE f32 sums per 32-k chunk) and Σv², and leaves its partials in shared memory; the CTA
//     sums them in warp order and writes them as split `rank` of m and Σv² (the mix kernel adds
//     the S splits in rank order); the pre-block ones (n values and Σv² per token) also go to
//     every CTA of the cluster by asynchronous stores into its shared memory (st.async, counted
//     by the receiver's barrier: no fence, no cluster barrier);
//   * two tiles later (so the other CTAs' sums have had a whole tile's work to arrive) the CTA
//     adds the S sums in rank order, computes h_pre with the mix kernel's own functions
//     (coeffs.cuh) and y from the stage, which is then refilled. x is read from memory once.
//
// The projection alone (the norm_proj stage and the backward's recompute of the shapes the
// cluster kernel runs; longer rows go to proj_tiles.cu) runs the same per-tile code without
// clusters: the (slice, tile) units, slice-major, are shared evenly among one CTA per SM
// (stream-K), a CTA reloading its phi' registers where its share crosses into the next slice;
// its copies are issued stages - 2 tiles ahead (the refill in the kernel's loop says why).
//
// Bits: every sum has an order fixed by the shape (chunks of 32 k in IEEE f32, warps and ranks in
// order), so results repeat bitwise and do not depend on the SM count. The norm_proj stage and the
// backward's recompute run this kernel without the apply, on the same slices, and the mix kernel
// recomputes h_pre from the written splits with the same sums and functions (this file is
// compiled with -fmad=false like mix.cu): fused == chain of stages, bitwise. Products that must
// fuse use fmaf explicitly.
#include <cooperative_groups.h>
#include <cuda.h>
#include <cuda_runtime.h>

#include <map>
#include <mutex>
#include <tuple>

#include "kernels/cuda/bulk.cuh"
#include "kernels/cuda/coeffs.cuh"
#include "kernels/cuda/cuda_check.hpp"
#include "kernels/cuda/mma.cuh"
#include "kernels/cuda/ops.hpp"
#include "kernels/cuda/pdl.cuh"
#include "kernels/cuda/x_map.hpp"

namespace mhc::cuda {
namespace {

namespace cg = cooperative_groups;

constexpr int kTile = 16;        // tokens per tile: one mma row tile
// Up to 16 warps (128 registers each) where a warp's phi' parts take at most 72 registers, else
// 8: more warps hide more of the MMA and shared-memory latency.
constexpr int max_warps(int KW16, int NT) { return KW16 * NT <= 12 ? 16 : 8; }
constexpr int kMaxCluster = 8;   // portable cluster sizes
constexpr int kMaxTiles = 4;     // n-tiles of 8 mix outputs (M <= 32: n <= 4)
// phi' parts held per thread: KW16 NT 6 registers; 144 (KW16 = 8, NT = 3) leaves room for the
// rest of the kernel at 255 registers per thread (8 warps; one CTA per SM in any case).
constexpr int kMaxPhiSteps = 24;  // KW16 NT
// A stage holds the tile as [channel block of 64][stream][token][64 channels], each 128-byte
// line of 64 channels stored with the TMA's 128-byte swizzle (16-byte unit u of token t's line
// at u ^ (t % 8)), so the 8 token rows an ldmatrix reads lie in different banks.
constexpr int kBlock = kXBlock;
constexpr int kSwizzleAlign = 1024;
// After projecting tile j a CTA computes h_pre of tile j - 1 (the other CTAs' sums have had a
// tile's work to arrive) and applies tile j - 2 with the h_pre of the previous iteration, so the
// apply needs no barrier of its own and overlaps the summing and sending of tile j. (Measured at
// 65536 x 4 x 1024 on the H100, h_pre and the apply of one tile together, a lag of 0, 1, 2 or 3
// tiles: 0.403, 0.398, 0.396, 0.387 ms; 3 would leave too few stages loading ahead elsewhere.)
constexpr int kLag = 2;
// Pre-block sums of tile j go to slot buffer j % 8. A CTA pushes tile j after it has read every
// CTA's sums of tile j - 2, which each CTA sent after it had read its buffer of tile j - 4, so
// the other CTAs may still read only the buffers of tiles j - 3 .. j - 1: with four or more
// buffers no other handshake is needed.
constexpr int kSlotBuffers = 8;
constexpr int kMinStages = kLag + 2, kMaxStages = 8;
constexpr std::size_t kSmemLimit = 227 * 1024;

// Where everything sits in the dynamic shared memory (bytes from a 1024-byte aligned base), for
// one shape. Partial sums are rows of cols = 8 NT + 4 floats (m columns, Σv² at 8 NT, zeros) so
// they move as float4. The projection alone needs neither the slot buffers nor h_pre, and keeps
// two sets of partials (tile j's are summed while the warps project tile j + 1: no second
// barrier per tile); the fused kernel's second barrier orders its h_pre and apply anyway.
struct Config {
  int S = 0;  // channel slices of a token row (the K splits); the cluster size when fused
  bool fused = false;
  int W = 0, KW16 = 0, NT = 0, stages = 0, stage_bytes = 0;
  int red = 0, pre_slots = 0, h_pre = 0, bars = 0, bytes = 0;
};

Config config_for(const PreDims& d, int S, int KW16, bool fused) {
  Config c;
  c.S = S;
  c.fused = fused;
  c.KW16 = KW16;
  c.NT = (d.M + 7) / 8;
  const std::int64_t Kc = d.n * (d.C / S);
  c.W = static_cast<int>(Kc / (16 * KW16));
  c.stage_bytes = static_cast<int>(kTile * 2 * Kc);
  const int red = (fused ? 1 : 2) * 4 * c.W * kTile * (8 * c.NT + 4);  // [set][W][tile][cols]
  const int pre = fused ? 4 * kSlotBuffers * S * kTile * 8 : 0;       // [buffer][sender][tile][8]: pre m, Σv²
  const int h_pre = fused ? 2 * 4 * kTile * d.n : 0;                  // [tile & 1][tile][n]
  const int bars = 8 * (kMaxStages + kSlotBuffers);
  const int room = static_cast<int>(kSmemLimit) - kSwizzleAlign - red - pre - h_pre - bars;
  c.stages = std::min(kMaxStages, room / c.stage_bytes);
  c.red = c.stages * c.stage_bytes;
  c.pre_slots = c.red + red;
  c.h_pre = c.pre_slots + pre;
  c.bars = (c.h_pre + h_pre + 7) / 8 * 8;
  c.bytes = c.bars + 8 * (c.stages + kSlotBuffers) + kSwizzleAlign;  // with the alignment slack
  return c;
}

// Fused (projection, h_pre and y): the smallest cluster S whose slices fit: the slice's k split
// over 2 to 16 warps (the last two compute h_pre) in ranges of 32, 64 or 128 k whose phi' parts
// fit the registers (the shortest range that does: the most warps), and kLag + 2 stages or more.
// A token row needs n C / S <= 1024 (C <= 2048 at n = 4).
Config fused_plan(const PreDims& d) {
  if (d.n > 4 || d.M > 8 * kMaxTiles || d.C % kBlock != 0) return {};
  const int NT = (d.M + 7) / 8;
  for (int S = 1; S <= kMaxCluster && kTile % S == 0; S *= 2) {
    if (d.C % (S * kBlock) != 0) continue;
    const std::int64_t k16 = d.n * (d.C / S) / 16;
    for (int KW16 : {2, 4, 8}) {
      if (KW16 * NT > kMaxPhiSteps || k16 % KW16 != 0) continue;
      if (k16 / KW16 < 2 || k16 / KW16 > max_warps(KW16, NT)) continue;
      const Config c = config_for(d, S, KW16, true);
      if (c.stages >= kMinStages) return c;
    }
  }
  return {};
}

// Projection alone (the norm_proj stage, the backward's recompute): the fused plan's slices, so
// both give the same bits.
Config projection_plan(const PreDims& d) {
  const Config f = fused_plan(d);
  return f.S > 0 ? config_for(d, f.S, f.KW16, false) : Config{};
}

struct KernelArgs {
  CUtensorMap x_map;  // x as [C / 64][n][T][64] (dims innermost first), boxes of one tile's slice
  const float* phi_folded;
  const float* alpha;
  const float* bias;
  MixSemantics s;
  std::int64_t T, C;
  int M;
  Config c;
  float* m_part;      // [S, T, M]: the CTAs' partial m, summed in rank order by the mix kernel
  float* sumsq_part;  // [S, T]
  std::uint16_t* y;   // nullptr: projection only (the norm_proj stage)
};

// Byte offset in a stage of channels 8 u .. 8 u + 7 (u within a 64-channel block) of block line
// `line` = (block n + stream) 16 + token.
__device__ __forceinline__ int swizzled(int line, int u) { return line * 128 + ((u ^ (line & 7)) << 4); }

template <int N, int NT, int KW16, bool kFused>
__global__ void __launch_bounds__(max_warps(KW16, NT) * 32, 1) pre_fused_kernel(const __grid_constant__ KernelArgs a) {
  constexpr int kCols = 8 * NT + 4;  // m columns (padded), Σv² at 8 NT, zeros
  constexpr int kGroups = kCols / 4;
  extern __shared__ unsigned char smem_raw[];
  // The TMA's 128-byte swizzle repeats every 1024 bytes and needs stages aligned to it.
  unsigned char* smem = smem_raw + ((kSwizzleAlign - shared_address(smem_raw) % kSwizzleAlign) % kSwizzleAlign);
  const Config& c = a.c;
  const int S = c.S;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, q = lane & 3;
  const int threads = static_cast<int>(blockDim.x);
  const std::int64_t T = a.T, C = a.C, K = N * C, Cs = C / S;
  const int M = a.M;
  float* red = reinterpret_cast<float*>(smem + c.red);
  float* pre_slots = reinterpret_cast<float*>(smem + c.pre_slots);
  float* h_pre = reinterpret_cast<float*>(smem + c.h_pre);
  auto* full = reinterpret_cast<std::uint64_t*>(smem + c.bars);  // [stages]: the tile landed
  std::uint64_t* recv = full + c.stages;                         // [8]: the other CTAs' sums landed
  // Bytes a slot buffer receives per tile: the pre-block m and Σv² of 16 tokens from each other CTA.
  const unsigned recv_bytes = (S - 1) * 16u * 2 * kTile;

  if (tid == 0) {
    for (int s = 0; s < c.stages; ++s) mbarrier_init(&full[s], 1);
    for (int b = 0; b < kSlotBuffers; ++b) mbarrier_init(&recv[b], 1);
    mbarrier_init_fence();
    tensormap_prefetch(&a.x_map);
  }
  wait_for_prior_kernel();  // everything below reads or writes global memory

  // Work: (slice, tile) units. Fused, the CTA of rank r in cluster cid takes slice r of tiles
  // cid, cid + clusters, ...; projection alone, each CTA takes an even share of the slice-major
  // list of units (a slice change in the middle of a share reloads phi'), so every SM has work
  // whatever the number of slices. Cursors advance by counting, not dividing.
  // (Tile indices fit an int: the TMA takes token coordinates as int.)
  const int tiles = static_cast<int>((T + kTile - 1) / kTile);
  int rank = 0, J = 0, step = 1;
  std::int64_t u_first = 0;
  if constexpr (kFused) {
    rank = static_cast<int>(cg::this_cluster().block_rank());
    const int cid = static_cast<int>(blockIdx.x) / S, clusters = static_cast<int>(gridDim.x) / S;
    u_first = static_cast<std::int64_t>(rank) * tiles + cid;
    J = (tiles - cid + clusters - 1) / clusters;
    step = clusters;
  } else {
    const std::int64_t units = static_cast<std::int64_t>(S) * tiles;
    u_first = units * blockIdx.x / gridDim.x;
    J = static_cast<int>(units * (blockIdx.x + 1) / gridDim.x - u_first);
  }
  struct Cursor {
    int slice, tile;
  };
  const auto advance = [&](Cursor& u) {
    u.tile += step;
    if constexpr (!kFused) {
      if (u.tile >= tiles) u.tile -= tiles, ++u.slice;
    }
  };
  const Cursor first{static_cast<int>(u_first / tiles), static_cast<int>(u_first % tiles)};

  // This warp's k range of the slice row (stream-major: k = i C/S + channel), and its phi'
  // columns as B fragments: word h of (step ks, n-tile nt, part sp) holds k 16 ks + 2q + 8h and
  // the next, column 8 nt + g.
  const int k_first = warp * 16 * KW16;
  std::uint32_t phi[KW16][NT][3][2];
  int phi_slice = -1;
  const auto load_phi = [&](int slice) {
    phi_slice = slice;
#pragma unroll
    for (int ks = 0; ks < KW16; ++ks) {
#pragma unroll
      for (int nt = 0; nt < NT; ++nt) {
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const int col = nt * 8 + g;
          const std::int64_t kl = k_first + 16 * ks + 2 * q + 8 * h;
          const std::int64_t k = (kl / Cs) * C + slice * Cs + kl % Cs;  // kl and kl + 1 share a stream
          float f0 = 0.0f, f1 = 0.0f;
          if (col < M) {
            f0 = a.phi_folded[col * K + k];
            f1 = a.phi_folded[col * K + k + 1];
          }
          std::uint32_t parts[3];
          split2(f0, f1, parts);
#pragma unroll
          for (int sp = 0; sp < 3; ++sp) phi[ks][nt][sp][h] = parts[sp];
        }
      }
    }
  };
  if (J > 0) load_phi(first.slice);
  const std::int64_t c0 = rank * Cs;  // the fused CTA's channels (the apply)
  // h_pre of a tile is 16 n values: the last two warps (the first ones send the sums) compute
  // one each.
  const int hp_pair = (c.W - 1 - warp) * 32 + lane, hp_tok = hp_pair / N, hp_i = hp_pair % N;
  const bool hp_mine = kFused && hp_pair < kTile * N;
  const float hp_alpha = hp_mine ? a.alpha[0] : 0.0f, hp_bias = hp_mine ? a.bias[hp_i] : 0.0f;
  // The apply: Cs / 8 channel groups per row divide the CTA's threads (threads = 16 N / KW16
  // groups); every thread keeps its group and takes rows ap_tok, ap_tok + ap_step, ...
  const int groups = static_cast<int>(Cs / 8), ap_group = tid % groups, ap_tok = tid / groups;
  const int ap_step = threads / groups, ap_line = (ap_group / 8) * N * kTile, ap_unit = ap_group % 8;
  // Every CTA's barriers are initialised before any copy or push reaches them.
  if constexpr (kFused) {
    cg::this_cluster().sync();
  } else {
    __syncthreads();
  }

  // Thread 0 loads the slice of the unit at cursor `load` into the next stage: one tensor copy
  // (rows past T arrive as zeros and still count their bytes). Called in unit order.
  Cursor load = first;
  int loaded = 0;
  const int slice_blocks = static_cast<int>(Cs / kBlock);
  const auto issue = [&](int s) {
    if (tid != 0 || loaded >= J) return;
    mbarrier_arrive_expect_tx(&full[s], c.stage_bytes);
    tensor_load_4d(smem + s * c.stage_bytes, &a.x_map, 0, load.tile * kTile, 0,
                   load.slice * slice_blocks, &full[s]);
    advance(load);
    ++loaded;
  };
  for (int s = 0; s < c.stages; ++s) issue(s);
  const int lag = kFused ? kLag : 0;
  // Stages go round in tile order: the projected tile's stage and barrier parity, and the
  // applied tile's stage (kLag behind; projecting alone, the next stage to refill), advanced by
  // counting instead of dividing.
  int s_proj = 0, parity = 0, s_apply = 0;
  const auto next = [&](int s) { return s + 1 == c.stages ? 0 : s + 1; };

  // ldmatrix: lane l addresses token (l & 7) + 8 ((l >> 3) & 1), channels 8 (l >> 4).. of a
  // 16 x 16 A tile, so the four matrices come back as the mma's a0..a3. The warp's 16 KW16 k
  // lie in one 64-channel block (KW16 <= 4) or in two (KW16 = 8, starting on a block).
  const int a_tok = (lane & 7) + 8 * ((lane >> 3) & 1), a_half = lane >> 4;
  const auto block_line = [&](int k) {  // first line of the 64-channel block holding slice k
    const int i = static_cast<int>(k / Cs), ch = static_cast<int>(k % Cs);
    return ((ch / kBlock) * N + i) * kTile;
  };
  const int a_line0 = block_line(k_first) + a_tok;
  const int a_line1 = KW16 == 8 ? block_line(k_first + kBlock) + a_tok : a_line0;
  const int a_unit0 = (k_first % kBlock) / 8;

  Cursor proj = first, apply = first;  // the units being projected and applied
  for (int j = 0; j < J + lag; ++j) {
    // Tile j - 1's slot buffer is free since tile j - 9 was read: announce its bytes
    // now, so the wait below depends on the other CTAs alone. (Announced just before the wait,
    // after thread 0's share of sending the sums, it cost 0.05 ms at 65536 x 4 x 1024: the
    // other warps waited for warp 0.)
    if (tid == 0 && kFused && j >= 1 && j <= J) mbarrier_arrive_expect_tx(&recv[(j - 1) % kSlotBuffers], recv_bytes);
    // ---- projection of tile j: this warp's partial m and Σv² of the 16 tokens.
    if (j < J) {
      if constexpr (!kFused) {
        if (proj.slice != phi_slice) load_phi(proj.slice);
      }
      mbarrier_wait(&full[s_proj], parity);
      const unsigned char* stage = smem + s_proj * c.stage_bytes;
      s_proj = next(s_proj);
      parity ^= s_proj == 0;
      float acc[NT][4] = {};
      float ss[4] = {};  // Σv² of row g (registers a0, a2) and g + 8 (a1, a3), two chains each
#pragma unroll
      for (int ks0 = 0; ks0 < KW16; ks0 += 2) {
        std::uint32_t x16[2][4];
#pragma unroll
        for (int st = 0; st < 2; ++st) {
          const int ks = ks0 + st;
          ldmatrix_x4(x16[st], stage + swizzled(ks < 4 ? a_line0 : a_line1, a_unit0 + 2 * (ks % 4) + a_half));
#pragma unroll
          for (int r = 0; r < 4; ++r) {
            const float v0 = bf16_lo(x16[st][r]), v1 = bf16_hi(x16[st][r]);
            ss[r] = fmaf(v0, v0, ss[r]);
            ss[r] = fmaf(v1, v1, ss[r]);
          }
        }
        // One 32-k chunk: the tensor cores' f32 accumulation is not round-to-nearest, so it is
        // kept to the chunk's 6 products per n-tile (small parts first) and added in IEEE f32.
        float chunk[NT][4];
#pragma unroll
        for (int sp = 2; sp >= 0; --sp) {
#pragma unroll
          for (int st = 0; st < 2; ++st) {
#pragma unroll
            for (int nt = 0; nt < NT; ++nt) {
              const std::uint32_t b0 = phi[ks0 + st][nt][sp][0], b1 = phi[ks0 + st][nt][sp][1];
              if (sp == 2 && st == 0) {
                mma_bf16_16816_zero(chunk[nt], x16[st][0], x16[st][1], x16[st][2], x16[st][3], b0, b1);
              } else {
                mma_bf16_16816(chunk[nt], x16[st][0], x16[st][1], x16[st][2], x16[st][3], b0, b1);
              }
            }
          }
        }
#pragma unroll
        for (int nt = 0; nt < NT; ++nt) {
#pragma unroll
          for (int e = 0; e < 4; ++e) acc[nt][e] += chunk[nt][e];
        }
      }
      float* mine = red + ((kFused ? 0 : j & 1) * c.W + warp) * kTile * kCols;
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const float v = quad_sum(ss[h] + ss[h + 2]);
        mine[(g + 8 * h) * kCols + 8 * NT + q] = q == 0 ? v : 0.0f;  // Σv², then the padding
      }
#pragma unroll
      for (int nt = 0; nt < NT; ++nt) {
#pragma unroll
        for (int e = 0; e < 4; ++e) mine[(g + 8 * (e >> 1)) * kCols + nt * 8 + 2 * q + (e & 1)] = acc[nt][e];
      }
    }
    __syncthreads();
    // Refill a free stage: fused, tile j - 1 - lag's (applied in the previous iteration);
    // projecting alone, tile j - 2's, though tile j's is free already: fewer tensor copies in
    // flight moved x faster (H100, norm_proj at 16384,4,7168, refilling the stage of tile j,
    // j - 1, j - 2, j - 3: 0.399-0.400, 0.392, 0.384, 0.387 ms).
    if (j >= (kFused ? lag + 1 : 2)) {
      issue(s_apply);
      s_apply = next(s_apply);
    }

    // ---- tile j: the CTA's sums (warps in order) are its partial m and Σv² for the mix kernel;
    // the pre-block ones also go to slot buffer j % 8 of every CTA of the cluster (for h_pre).
    if (j < J) {
      const int b = j % kSlotBuffers;
      const std::int64_t t0 = static_cast<std::int64_t>(proj.tile) * kTile;
      const int split = proj.slice;
      advance(proj);
      const float4* red4 = reinterpret_cast<const float4*>(red + (kFused ? 0 : j & 1) * c.W * kTile * kCols);
      for (int e = tid; e < kTile * kGroups; e += threads) {
        const int tok = e / kGroups, grp = e % kGroups;
        const bool ss_grp = grp == kGroups - 1;
        if (4 * grp >= M && !ss_grp) continue;
        float4 v = red4[e];
        // Unrolled so the loads of several warps' partials are in flight together.
#pragma unroll 4
        for (int w = 1; w < c.W; ++w) {
          const float4 p = red4[w * kTile * kGroups + e];
          v.x += p.x, v.y += p.y, v.z += p.z, v.w += p.w;
        }
        if (kFused && (grp == 0 || ss_grp)) {
          const float* slot = pre_slots + ((b * S + rank) * kTile + tok) * 8 + (ss_grp ? 4 : 0);
          for (int r = 0; r < S; ++r) {
            if (r == rank) {  // st.async needs another CTA; the block barrier orders this one
              *reinterpret_cast<float4*>(const_cast<float*>(slot)) = v;
            } else {
              store_async(cluster_address(slot, r), v, cluster_address(&recv[b], r));
            }
          }
        }
        const std::int64_t row = t0 + tok;
        if (row >= T) continue;
        if (ss_grp) {
          a.sumsq_part[split * T + row] = v.x;
        } else {
          float* out = a.m_part + (split * T + row) * M + 4 * grp;
          const float vs[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
          for (int u = 0; u < 4; ++u) {
            if (4 * grp + u < M) out[u] = vs[u];
          }
        }
      }
    }
    if constexpr (!kFused) continue;

    // ---- tile j - 1: h_pre from the whole-K sums in rank order (the last two warps).
    const int jh = j - 1;
    if (jh >= 0 && jh < J && warp >= c.W - 2) {
      const int b = jh % kSlotBuffers;
      mbarrier_wait(&recv[b], (jh / kSlotBuffers) & 1);
      if (hp_mine) {
        const float* slot = pre_slots + (b * S * kTile + hp_tok) * 8;
        float m = slot[hp_i], ss = slot[4];
        for (int r = 1; r < S; ++r) {
          m += slot[r * kTile * 8 + hp_i];
          ss += slot[r * kTile * 8 + 4];
        }
        const float r = inv_rms(ss, static_cast<float>(K), a.s.eps_rms);
        h_pre[(jh & 1) * kTile * N + hp_pair] = pre_gate(mix_logit(m, r, hp_alpha, hp_bias), a.s);
      }
    }

    // ---- tile j - 2: y = sum_i h_pre[i] x[i] from the stage, with the h_pre computed in the
    // previous iteration (f32 FMA in stream order, one rounding); 8 channels per step, 16-byte
    // shared reads and global stores.
    const int ja = j - kLag;
    if (ja >= 0) {
      const std::int64_t t0 = static_cast<std::int64_t>(apply.tile) * kTile;
      advance(apply);
      const unsigned char* stage = smem + s_apply * c.stage_bytes;
      const float* hp_tile = h_pre + (ja & 1) * kTile * N;
      for (int tok = ap_tok; tok < kTile; tok += ap_step) {
        const std::int64_t row = t0 + tok;
        if (row >= T) break;
        // Stream i's line is 16 i lines further: same swizzle, 2048 bytes on.
        const unsigned char* px = stage + swizzled(ap_line + tok, ap_unit);
        float y8[8] = {};
#pragma unroll
        for (int i = 0; i < N; ++i) {
          const float hp = hp_tile[tok * N + i];
          const uint4 v = *reinterpret_cast<const uint4*>(px + i * kTile * 128);
#pragma unroll
          for (int p = 0; p < 4; ++p) {
            y8[2 * p] = fmaf(hp, bf16_lo(word(v, p)), y8[2 * p]);
            y8[2 * p + 1] = fmaf(hp, bf16_hi(word(v, p)), y8[2 * p + 1]);
          }
        }
        std::uint32_t o[4];
#pragma unroll
        for (int p = 0; p < 4; ++p) o[p] = bf16x2(y8[2 * p], y8[2 * p + 1]);
        *reinterpret_cast<uint4*>(a.y + row * C + c0 + 8 * ap_group) = make_uint4(o[0], o[1], o[2], o[3]);
      }
    }
    // Orders this tile's partials before the next projection overwrites them, the h_pre of
    // tile j - 1 before its apply, and the apply before the stage is refilled.
    __syncthreads();
  }
  // No final barrier: a CTA exits only after it has received every push addressed to it, and
  // nothing else reaches another CTA's shared memory.
}

// How many CTAs of this configuration fit on the device at once (clusters of S when fused),
// cached per device and configuration: the persistent grid.
template <int N, int NT, int KW16, bool kFused>
int resident(const Config& c, cudaLaunchConfig_t config) {
  auto* kernel = pre_fused_kernel<N, NT, KW16, kFused>;
  int device = 0;
  MHC_CUDA_CHECK(cudaGetDevice(&device));
  static std::mutex mutex;
  static std::map<std::tuple<int, int, bool, int>, int> fitting;
  const std::lock_guard lock(mutex);
  const auto key = std::make_tuple(device, c.S, kFused, c.bytes);
  if (const auto it = fitting.find(key); it != fitting.end()) return it->second;
  int ctas = 0;
  if (kFused) {
    cudaLaunchAttribute cluster{};
    cluster.id = cudaLaunchAttributeClusterDimension;
    cluster.val.clusterDim.x = static_cast<unsigned>(c.S);
    cluster.val.clusterDim.y = cluster.val.clusterDim.z = 1;
    config.gridDim = dim3(static_cast<unsigned>(c.S));
    config.attrs = &cluster;
    config.numAttrs = 1;  // the occupancy query takes the cluster shape alone
    int clusters = 0;
    MHC_CUDA_CHECK(cudaOccupancyMaxActiveClusters(&clusters, kernel, &config));
    ctas = clusters * c.S;
  } else {
    int per_sm = 0, sms = 0;
    MHC_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, static_cast<int>(config.blockDim.x),
                                                                 config.dynamicSmemBytes));
    MHC_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
    ctas = per_sm * sms;
  }
  fitting.emplace(key, ctas);
  return ctas;
}

template <int N, int NT, int KW16, bool kFused>
void launch_kernel(const FusedProjArgs& f, const Config& c, cudaStream_t stream) {
  auto* kernel = pre_fused_kernel<N, NT, KW16, kFused>;
  MHC_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, c.bytes));

  cudaLaunchConfig_t config{};
  config.blockDim = dim3(static_cast<unsigned>(32 * c.W));
  config.dynamicSmemBytes = static_cast<std::size_t>(c.bytes);
  config.stream = stream;
  const int ctas = resident<N, NT, KW16, kFused>(c, config);
  if (ctas < (kFused ? c.S : 1)) {
    const std::string what = kFused ? "clusters of " + std::to_string(c.S) + " blocks" : "a block";
    fail(ErrorKind::environment, "cuda backend: this device cannot run " + what + " with " + std::to_string(c.bytes) +
                                     " bytes of shared memory each (the pre projection needs them)");
  }
  const std::int64_t tiles = (f.d.T + kTile - 1) / kTile;
  // Fused: whole clusters, at most one per tile. Alone: at most one CTA per unit.
  const std::int64_t grid = kFused ? std::min<std::int64_t>(tiles, ctas / c.S) * c.S
                                    : std::min<std::int64_t>(tiles * c.S, ctas);
  config.gridDim = dim3(static_cast<unsigned>(grid));
  // Clusters of S when fused; may start while prepare_phi finishes (pdl.cuh: it waits before
  // reading phi').
  cudaLaunchAttribute attr[2]{};
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  attr[1].id = cudaLaunchAttributeClusterDimension;
  attr[1].val.clusterDim.x = static_cast<unsigned>(c.S);
  attr[1].val.clusterDim.y = attr[1].val.clusterDim.z = 1;
  config.attrs = attr;
  config.numAttrs = kFused ? 2 : 1;

  KernelArgs k{make_x_map(f.x, f.d, kTile, f.d.n, static_cast<int>(f.d.C / c.S / kBlock)), f.phi_folded, f.alpha, f.bias, f.s, f.d.T, f.d.C, f.d.M, c, f.m_part,
               f.sumsq_part, f.y};
  MHC_CUDA_CHECK(cudaLaunchKernelEx(&config, kernel, k));
}

template <int N, int NT, int KW16>
void launch_mode(const FusedProjArgs& f, const Config& c, cudaStream_t stream) {
  if (c.fused) {
    launch_kernel<N, NT, KW16, true>(f, c, stream);
  } else {
    launch_kernel<N, NT, KW16, false>(f, c, stream);
  }
}

template <int N, int NT>
void launch_steps(const FusedProjArgs& f, const Config& c, cudaStream_t stream) {
  switch (c.KW16) {
    case 2: launch_mode<N, NT, 2>(f, c, stream); break;
    case 4: launch_mode<N, NT, 4>(f, c, stream); break;
    case 8:
      if constexpr (8 * NT <= kMaxPhiSteps) {
        launch_mode<N, NT, 8>(f, c, stream);
        break;
      }
      [[fallthrough]];
    default: fail(ErrorKind::internal, "launch_pre_fused: no instantiation for this k range");
  }
}

}  // namespace

int fused_cluster_size(const PreDims& d) { return fused_plan(d).S; }

void launch_pre_fused(const FusedProjArgs& f, const PhiPlan& plan, cudaStream_t stream) {
  if (f.d.T == 0) return;
  const Config c = f.y ? fused_plan(f.d) : projection_plan(f.d);
  if (c.S < 1 || c.S != plan.cluster || c.S != plan.splits_k) {
    fail(ErrorKind::internal, "launch_pre_fused: the plan does not match the kernel's");
  }
  if (reinterpret_cast<std::uintptr_t>(f.x) % 16 != 0) {
    fail(ErrorKind::internal, "launch_pre_fused: x is not 16-byte aligned");
  }
  switch (f.d.n * 8 + c.NT) {
    case 1 * 8 + 1: launch_steps<1, 1>(f, c, stream); break;
    case 2 * 8 + 1: launch_steps<2, 1>(f, c, stream); break;
    case 3 * 8 + 2: launch_steps<3, 2>(f, c, stream); break;
    case 4 * 8 + 3: launch_steps<4, 3>(f, c, stream); break;
    case 4 * 8 + 4: launch_steps<4, 4>(f, c, stream); break;
    default: fail(ErrorKind::internal, "launch_pre_fused: no instantiation for this n and M");
  }
  check_launch("pre_fused_kernel");
}

}  // namespace mhc::cuda
