// Pre forward with one read of x (MATH.md steps 1-3 and 7): sums of squares, the projection
// m = v . phi'^T, h_pre, and y = sum_i h_pre[i] x[i], on clusters of S thread blocks.
//
// y needs h_pre, h_pre needs the whole K reduction of m, and a token row (n C bf16) is too long
// to keep on one SM at the sizes that matter. So the K reduction is split over the S CTAs of a
// cluster by channel slice: CTA j owns channels [j C/S, (j+1) C/S) of every stream and keeps its
// slice of phi' (f32) in shared memory for the whole (persistent) kernel. Per token tile:
//   1. every thread loads its part of the tile's x slice into registers at once (16-byte loads,
//      all in flight together) and feeds the tensor cores (exact three-way bf16 split of phi'
//      done on the fly, as norm_proj.cu does it beforehand) and Σv²; warp (wc, wt) takes
//      32-channel chunk wc of the slice, of all n streams, for the tile's token half wt;
//   2. the CTA pushes its partial sums into the other CTAs' shared memory (distributed shared
//      memory: stores, no remote round trips); after one cluster barrier every CTA sums the S
//      partials in rank order, computes h_pre with the mix kernel's formula, and CTA j writes
//      m and Σv² of tokens j, j+S, ... for the mix kernel;
//   3. each thread applies h_pre to the x it still holds (all n streams of its channels) and
//      writes y: x is read from memory once.
//
// Bits: every sum has an order fixed by the shape (chunks of 32 k in IEEE f32, streams, warps
// and ranks in order), so results repeat bitwise and do not depend on the SM count.
// The norm_proj stage and the backward's recompute run this same kernel without step 3, and the
// mix kernel recomputes h_pre from the written m and Σv² with the same functions (coeffs.cuh;
// this file is compiled with -fmad=false like mix.cu): fused == chain of stages, bitwise.
// Products and accumulations that must fuse use fmaf explicitly.
#include <cooperative_groups.h>
#include <cuda_runtime.h>

#include <map>
#include <mutex>
#include <tuple>

#include "core/bf16.hpp"
#include "kernels/cuda/coeffs.cuh"
#include "kernels/cuda/cuda_check.hpp"
#include "kernels/cuda/mma.cuh"
#include "kernels/cuda/ops.hpp"

namespace mhc::cuda {
namespace {

namespace cg = cooperative_groups;

constexpr int kChunk = 32;        // k per 16-byte load of a thread quad
constexpr int kChunkWarps = 8;    // WC: warps splitting a slice's chunks
constexpr int kTokenWarps = 2;    // WT: warps splitting a tile's tokens
constexpr int kWarps = kChunkWarps * kTokenWarps;
// Portable cluster sizes only: at 65536 x 4 x 1024 a cluster of 16 took 3x the time of one of 4
// (H100; the per-tile exchange and barrier grow with S while the work per CTA shrinks).
constexpr int kMaxCluster = 8;
constexpr int kMaxTiles = 4;      // n-tiles of 8 mix outputs (M <= 32: n <= 4)
// One CTA of 16 warps per SM. Measured at 65536 x 4 x 1024 (H100): 0.48-0.52 ms with S = 4,
// against 0.66 ms for two CTAs of 8 warps per SM (S = 8, half the shared memory each); other
// variants tried are in docs/cuda.md.
constexpr std::size_t kSmemLimit = 227 * 1024;

constexpr int kRowTiles = 2;      // MT: 16-token mma row tiles per warp
constexpr int kTileTokens = kTokenWarps * 16 * kRowTiles;
// A warp holds one chunk of every stream: n x MT x 2 16-byte words of x per thread (64
// registers at n = 4), so a CTA's slice is at most 8 chunks (C / S <= 256).
constexpr int kMaxSliceChunks = kChunkWarps;

struct Layout {
  int local_chunks;  // 32-k chunks of one CTA's slice: n (C/S)/32
  int cols;          // 8 NT + 1: m columns and Σv²
  std::size_t phi, red, pre_slots, own_slots, h_pre, bytes;  // offsets in words, total in bytes
};

__host__ __device__ inline Layout layout_for(int n, std::int64_t C, int S, int ntiles) {
  Layout l{};
  l.local_chunks = static_cast<int>(n * (C / S) / kChunk);
  l.cols = 8 * ntiles + 1;
  l.phi = 0;
  l.red = l.phi + static_cast<std::size_t>(l.local_chunks) * ntiles * 256;  // 8 f32 per lane
  l.pre_slots = l.red + static_cast<std::size_t>(kChunkWarps) * kTileTokens * l.cols;
  l.own_slots = l.pre_slots + 2 * static_cast<std::size_t>(S) * kTileTokens * (n + 1);
  l.h_pre = l.own_slots + 2 * static_cast<std::size_t>(kTileTokens) * l.cols;
  l.bytes = sizeof(float) * (l.h_pre + static_cast<std::size_t>(kTileTokens) * n);
  return l;
}

// The exact split f = hi + mid + lo of norm_proj.cu's prepare_phi (mma.cuh split2), for 8
// consecutive values: b[part] holds the part of each, two per 32-bit word.
__device__ __forceinline__ void split8(const float4& p0, const float4& p1, uint4 (&b)[3]) {
  const float f[8] = {p0.x, p0.y, p0.z, p0.w, p1.x, p1.y, p1.z, p1.w};
  std::uint32_t part[4][3];
#pragma unroll
  for (int w = 0; w < 4; ++w) split2(f[2 * w], f[2 * w + 1], part[w]);
#pragma unroll
  for (int sp = 0; sp < 3; ++sp) b[sp] = make_uint4(part[0][sp], part[1][sp], part[2][sp], part[3][sp]);
}

struct KernelArgs {
  const std::uint16_t* x;
  const float* phi_folded;
  const float* alpha;
  const float* bias;
  MixSemantics s;
  std::int64_t T, C;
  int M;
  float* m;
  float* sumsq;
  std::uint16_t* y;  // nullptr: projection only (the norm_proj stage)
};

template <int N, int NT>
__global__ void __launch_bounds__(kWarps * 32, 1) pre_fused_kernel(const KernelArgs a) {
  constexpr int MT = kRowTiles;
  constexpr int kCols = 8 * NT + 1;  // m columns (padded) and Σv²
  extern __shared__ uint4 smem_u4[];
  float* smem = reinterpret_cast<float*>(smem_u4);
  const cg::cluster_group cluster = cg::this_cluster();
  const int S = static_cast<int>(cluster.num_blocks());
  const int rank = static_cast<int>(cluster.block_rank());
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, q = lane & 3;
  const int wc = warp % kChunkWarps, wt = warp / kChunkWarps;
  const std::int64_t T = a.T, C = a.C, K = N * C;
  const std::int64_t Cs = C / S, c0 = rank * Cs;
  const int slice_chunks = static_cast<int>(Cs / kChunk);
  const Layout L = layout_for(N, C, S, NT);
  float* red = smem + L.red;
  float* h_pre = smem + L.h_pre;

  // phi' slice in fragment order, [stream chunk][n-tile][lane] with the lane's 8 values (two
  // 16-byte words), so every 16-byte shared load of a warp reads 512 contiguous bytes (no bank
  // conflicts). Split into bf16 parts at every use: the parts would need 1.5x the space.
  for (int e = threadIdx.x; e < L.local_chunks * NT * 32; e += blockDim.x) {
    const int ln = e & 31, nt = (e >> 5) % NT, cl = (e >> 5) / NT;
    const int col = nt * 8 + (ln >> 2);
    const std::int64_t k = (cl / slice_chunks) * C + c0 + (cl % slice_chunks) * kChunk + 8 * (ln & 3);
    uint4 lo = make_uint4(0, 0, 0, 0), hi = lo;
    if (col < a.M) {
      lo = *reinterpret_cast<const uint4*>(a.phi_folded + col * K + k);
      hi = *reinterpret_cast<const uint4*>(a.phi_folded + col * K + k + 4);
    }
    uint4* slot = smem_u4 + static_cast<std::size_t>(cl * NT + nt) * 64 + ln;
    slot[0] = lo;
    slot[32] = hi;
  }
  // A cluster barrier, not just the block's: no CTA may write into another's shared memory
  // before that CTA has started (compute-sanitizer racecheck caught the first pushes of the
  // n = 1 kernel, whose short phi' fill let it reach the exchange first).
  cluster.sync();

  const std::int64_t tiles = (T + kTileTokens - 1) / kTileTokens;
  const std::int64_t clusters = gridDim.x / S;
  int parity = 0;
  for (std::int64_t tile = blockIdx.x / S; tile < tiles; tile += clusters, parity ^= 1) {
    const std::int64_t t0 = tile * kTileTokens;
    const int tok0 = wt * MT * 16;  // this warp's first token in the tile
    // ---- 1. x of this warp's chunk of every stream, all loads in flight together.
    const int cc = wc;  // the warp's chunk of the slice
    const bool active = cc < slice_chunks;
    uint4 xs[N][MT][2];
#pragma unroll
    for (int i = 0; i < N; ++i) {
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const std::int64_t row = t0 + tok0 + mt * 16 + g + 8 * h;
          xs[i][mt][h] = active && row < T
                             ? __ldg(reinterpret_cast<const uint4*>(a.x + row * K + i * C + c0 + cc * kChunk + 8 * q))
                             : make_uint4(0, 0, 0, 0);
        }
      }
    }

    float acc[NT][MT][4] = {};
    float ss[MT][2] = {};
#pragma unroll
    for (int i = 0; i < N && active; ++i) {
      const int cl = i * slice_chunks + cc;
      add_squares(xs[i], ss);
#pragma unroll
      for (int nt = 0; nt < NT; ++nt) {
        const uint4* slot = smem_u4 + static_cast<std::size_t>(cl * NT + nt) * 64 + lane;
        uint4 b[3];
        split8(*reinterpret_cast<const float4*>(slot), *reinterpret_cast<const float4*>(slot + 32), b);
        add_chunk(xs[i], [&](int sp) { return b[sp]; }, acc[nt]);
      }
    }
    float* mine = red + static_cast<std::size_t>(wc) * kTileTokens * kCols;
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const float v = quad_sum(ss[mt][h]);
        if (q == 0) mine[(tok0 + mt * 16 + g + 8 * h) * kCols + 8 * NT] = v;
      }
#pragma unroll
      for (int nt = 0; nt < NT; ++nt) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          mine[(tok0 + mt * 16 + g + 8 * (e >> 1)) * kCols + nt * 8 + 2 * q + (e & 1)] = acc[nt][mt][e];
        }
      }
    }
    __syncthreads();

    // ---- 2. the CTA's partial sums (chunk warps in order) are pushed into the cluster's shared
    // memory: pre-block m and Σv² of every token to every CTA (for h_pre), all M + 1 sums of
    // token tok to CTA tok % S (for m). Slots are double-buffered by tile parity: a CTA reads
    // tile k's slots before it arrives at tile k+1's barrier, the earliest point at which others
    // can write tile k+2's.
    float* pre_slots = smem + L.pre_slots + static_cast<std::size_t>(parity) * S * kTileTokens * (N + 1);
    float* own_slots = smem + L.own_slots + static_cast<std::size_t>(parity) * kTileTokens * kCols;
    for (int e = threadIdx.x; e < kTileTokens * kCols; e += blockDim.x) {
      const int tok = e / kCols, j = e % kCols;
      const bool ss_col = j == 8 * NT;
      if (j >= a.M && !ss_col) continue;
      float v = red[e];
      for (int w = 1; w < kChunkWarps; ++w) v += red[static_cast<std::size_t>(w) * kTileTokens * kCols + e];
      if (a.y && (j < N || ss_col)) {
        const int slot = (rank * kTileTokens + tok) * (N + 1) + (ss_col ? N : j);
        for (int r = 0; r < S; ++r) cluster.map_shared_rank(pre_slots, r)[slot] = v;
      }
      const int owner_slot = (rank * (kTileTokens / S) + tok / S) * kCols + (ss_col ? a.M : j);
      cluster.map_shared_rank(own_slots, tok % S)[owner_slot] = v;
    }
    cluster.sync();

    // Whole-K sums in rank order. m and Σv² of this CTA's tokens rank, rank + S, ...
    for (int e = threadIdx.x; e < (kTileTokens / S) * kCols; e += blockDim.x) {
      const int u = e / kCols, j = e % kCols;
      const std::int64_t row = t0 + rank + S * u;
      if (row >= T || j > a.M) continue;
      float v = own_slots[u * kCols + j];
      for (int r = 1; r < S; ++r) v += own_slots[(r * (kTileTokens / S) + u) * kCols + j];
      if (j < a.M) {
        a.m[row * a.M + j] = v;
      } else {
        a.sumsq[row] = v;
      }
    }
    if (!a.y) continue;
    if (threadIdx.x < kTileTokens) {
      const int tok = threadIdx.x;
      float ps[N + 1];
#pragma unroll
      for (int j = 0; j <= N; ++j) {
        ps[j] = pre_slots[tok * (N + 1) + j];
        for (int r = 1; r < S; ++r) ps[j] += pre_slots[(r * kTileTokens + tok) * (N + 1) + j];
      }
      const float r = inv_rms(ps[N], static_cast<float>(K), a.s.eps_rms);
#pragma unroll
      for (int i = 0; i < N; ++i) h_pre[tok * N + i] = pre_gate(mix_logit(ps[i], r, a.alpha[0], a.bias[i]), a.s);
    }
    __syncthreads();

    // ---- 3. y = sum_i h_pre[i] x[i] from the registers (f32 FMA in stream order, one rounding).
    if (!active) continue;
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int tok = tok0 + mt * 16 + g + 8 * h;
        const std::int64_t row = t0 + tok;
        if (row >= T) continue;
        float y8[8];
#pragma unroll
        for (int v = 0; v < 8; ++v) y8[v] = 0.0f;
#pragma unroll
        for (int i = 0; i < N; ++i) {
          const float hp = h_pre[tok * N + i];
#pragma unroll
          for (int p = 0; p < 4; ++p) {
            y8[2 * p] = fmaf(hp, bf16_lo(word(xs[i][mt][h], p)), y8[2 * p]);
            y8[2 * p + 1] = fmaf(hp, bf16_hi(word(xs[i][mt][h], p)), y8[2 * p + 1]);
          }
        }
        std::uint32_t o[4];
#pragma unroll
        for (int p = 0; p < 4; ++p) o[p] = bf16x2(y8[2 * p], y8[2 * p + 1]);
        *reinterpret_cast<uint4*>(a.y + row * C + c0 + cc * kChunk + 8 * q) = make_uint4(o[0], o[1], o[2], o[3]);
      }
    }
  }
  // No final barrier: every push into another CTA's shared memory precedes a barrier that the
  // receiver passes before it can exit.
}

template <int N, int NT>
void launch_kernel(const FusedProjArgs& f, const PhiPlan& plan, cudaStream_t stream) {
  const Layout L = layout_for(N, f.d.C, plan.cluster, NT);
  auto* kernel = pre_fused_kernel<N, NT>;
  MHC_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(L.bytes)));

  cudaLaunchConfig_t config{};
  cudaLaunchAttribute attr{};
  attr.id = cudaLaunchAttributeClusterDimension;
  attr.val.clusterDim.x = static_cast<unsigned>(plan.cluster);
  attr.val.clusterDim.y = attr.val.clusterDim.z = 1;
  config.blockDim = dim3(kWarps * 32);
  config.dynamicSmemBytes = L.bytes;
  config.stream = stream;
  config.attrs = &attr;
  config.numAttrs = 1;

  // Persistent grid: as many clusters as fit at once (cached per device and configuration).
  int device = 0;
  MHC_CUDA_CHECK(cudaGetDevice(&device));
  static std::mutex mutex;
  static std::map<std::tuple<int, int, int, int, std::size_t>, int> fitting;
  int clusters = 0;
  {
    const std::lock_guard lock(mutex);
    const auto key = std::make_tuple(device, N, NT, plan.cluster, L.bytes);
    if (const auto it = fitting.find(key); it != fitting.end()) {
      clusters = it->second;
    } else {
      config.gridDim = dim3(static_cast<unsigned>(plan.cluster));
      MHC_CUDA_CHECK(cudaOccupancyMaxActiveClusters(&clusters, kernel, &config));
      fitting.emplace(key, clusters);
    }
  }
  if (clusters < 1) {
    fail(ErrorKind::environment, "cuda backend: this device cannot run clusters of " + std::to_string(plan.cluster) +
                                     " blocks with " + std::to_string(L.bytes) +
                                     " bytes of shared memory each (the fused pre projection needs them)");
  }
  const std::int64_t tiles = (f.d.T + kTileTokens - 1) / kTileTokens;
  config.gridDim = dim3(static_cast<unsigned>(std::min<std::int64_t>(tiles, clusters) * plan.cluster));

  KernelArgs k{f.x,  f.phi_folded, f.alpha, f.bias, f.s, f.d.T, f.d.C, f.d.M,
               f.m, f.sumsq,      f.y};
  MHC_CUDA_CHECK(cudaLaunchKernelEx(&config, kernel, k));
}

}  // namespace

bool fits(const PreDims& d, int S) {
  return (d.C / kChunk) % S == 0 && d.C / S / kChunk <= kMaxSliceChunks &&
         layout_for(d.n, d.C, S, (d.M + 7) / 8).bytes <= kSmemLimit;
}

int fused_cluster_size(const PreDims& d) {
  if (d.n > 4 || d.M > 8 * kMaxTiles || d.C % kChunk != 0) return 0;
  // The smallest cluster whose slices fit the registers and whose phi' slices fit in shared
  // memory next to the exchange buffers.
  for (int S = 1; S <= kMaxCluster; S *= 2) {
    if (fits(d, S)) return S;
  }
  return 0;
}

void launch_pre_fused(const FusedProjArgs& f, const PhiPlan& plan, cudaStream_t stream) {
  if (f.d.T == 0) return;
  if (plan.cluster < 1 || !fits(f.d, plan.cluster)) fail(ErrorKind::internal, "launch_pre_fused: no cluster plan");
  switch (f.d.n * 8 + (f.d.M + 7) / 8) {
    case 1 * 8 + 1: launch_kernel<1, 1>(f, plan, stream); break;
    case 2 * 8 + 1: launch_kernel<2, 1>(f, plan, stream); break;
    case 3 * 8 + 2: launch_kernel<3, 2>(f, plan, stream); break;
    case 4 * 8 + 3: launch_kernel<4, 3>(f, plan, stream); break;
    case 4 * 8 + 4: launch_kernel<4, 4>(f, plan, stream); break;
    default: fail(ErrorKind::internal, "launch_pre_fused: no instantiation for this n and M");
  }
  check_launch("pre_fused_kernel");
}

}  // namespace mhc::cuda
