// Stages mix and resmap (and the finish of norm_proj): m = sum of the KS projection partials, r,
// m_hat, z, h_pre, h_post and H per token (MATH.md steps 2-6). The fused forward runs this once
// with everything on; the stage entry points run the same code with parts switched off, so fused
// and chained results are bitwise equal.
//
// A token is worked on by a group of L lanes (N rounded up to a power of two), lane i owning row
// i of H and the columns that feed it: pre i, post i and res row i (every res logit for the
// permutation map, whose softmax runs over all of them). One thread per token left the Sinkhorn
// iterations (R rounds of 2 n^2 divisions in one dependent chain) on too few warps to hide their
// latency (0.054 ms at 65536 x 4 on the H100). Every value is computed with the operations of
// coeffs.cuh's one-thread forms, in the same order, so the bits are those of the backward's
// recomputation: a column sum adds the rows in row order after the lanes have exchanged them.
#include <cuda_runtime.h>

#include "kernels/cuda/coeffs.cuh"
#include "kernels/cuda/cuda_check.hpp"
#include "kernels/cuda/ops.hpp"
#include "kernels/cuda/pdl.cuh"

namespace mhc::cuda {
namespace {

constexpr int kThreads = 128;

// Element col of row `row`, from the lane owning that row in this token's group.
template <int L>
__device__ __forceinline__ float from_row(float v, int row) {
  return __shfl_sync(0xFFFFFFFFu, v, row, L);
}

// Iterate k of Sinkhorn on row i (coeffs.cuh sinkhorn_step): the row step is the row's own; the
// column step needs every row's value of each column, exchanged in the group and summed in row
// order.
template <int N, int L, int KIND>
__device__ __forceinline__ void sinkhorn_step_row(float (&P)[N], int i, int k, float eps) {
  if (has_row_step<KIND>(k)) {
    float sum = 0.0f;
#pragma unroll
    for (int j = 0; j < N; ++j) sum += P[j];
    const float inv = 1.0f / (sum + eps);
#pragma unroll
    for (int j = 0; j < N; ++j) P[j] = P[j] * inv;
  }
  float col[N];
#pragma unroll
  for (int j = 0; j < N; ++j) col[j] = 0.0f;
#pragma unroll
  for (int r = 0; r < N; ++r) {
#pragma unroll
    for (int j = 0; j < N; ++j) col[j] += from_row<L>(P[j], r);
  }
  // Lane i takes the reciprocal of column i's denominator; every row multiplies by lane j's.
  float own = col[0];
#pragma unroll
  for (int j = 1; j < N; ++j) own = i == j ? col[j] : own;
  const float inv = 1.0f / (own + eps);
#pragma unroll
  for (int j = 0; j < N; ++j) P[j] = P[j] * from_row<L>(inv, j);
}

// Row i of the residual map from the res logits: the expressions of coeffs.cuh's one-thread
// forms (sinkhorn_start, sinkhorn_step) for that row. zr: the row's N logits, or all n! for the
// permutation map.
template <int N, int L, int KIND>
__device__ __forceinline__ void resmap_row(const float* zr, int i, const MixSemantics& s, float (&H)[N],
                                           float* iterates, std::int64_t t, std::int64_t T, bool write) {
  if constexpr (KIND == kIdentity) {
#pragma unroll
    for (int j = 0; j < N; ++j) H[j] = zr[j];
  } else if constexpr (KIND == kPermutations) {
    constexpr int P = factorial(N);
    float mx, sum;
    softmax_terms<P>(zr, mx, sum);
#pragma unroll
    for (int j = 0; j < N; ++j) H[j] = 0.0f;
    for (int k = 0; k < P; ++k) {
      const float a = expf(zr[k] - mx) / sum;
      int perm[N];
      permutation<N>(k, perm);
#pragma unroll
      for (int j = 0; j < N; ++j) {
        if (perm[i] == j) H[j] += a;
      }
    }
  } else {
    const float eps = sinkhorn_eps<N, KIND>(s);
    // sinkhorn_start, row i.
    if constexpr (KIND == kSinkhornExp) {
#pragma unroll
      for (int j = 0; j < N; ++j) H[j] = expf(zr[j]);
    } else {
      float mx = zr[0];
#pragma unroll
      for (int j = 1; j < N; ++j) mx = fmaxf(mx, zr[j]);
      float sum = 0.0f;
#pragma unroll
      for (int j = 0; j < N; ++j) {
        H[j] = expf(zr[j] - mx);
        sum += H[j];
      }
#pragma unroll
      for (int j = 0; j < N; ++j) H[j] = H[j] / sum + eps;
    }
    const std::int64_t nn = N * N;
    for (int k = 0; k <= s.repeats; ++k) {
      if (k > 0) sinkhorn_step_row<N, L, KIND>(H, i, k, eps);
      if (iterates && write) {
        for (int j = 0; j < N; ++j) iterates[(k * T + t) * nn + i * N + j] = H[j];
      }
    }
  }
}

template <int N, int KIND>
__global__ void __launch_bounds__(kThreads) mix_kernel(const MixKernelArgs a) {
  wait_for_prior_kernel();
  constexpr int L = token_lanes<N>();
  constexpr int M = MixShape<N, KIND>::kM;
  constexpr bool kAllRes = KIND == kPermutations;
  constexpr int kResLane = kAllRes ? M - 2 * N : N;  // res columns lane i works with
  const std::int64_t T = a.d.T;
  const std::int64_t gid = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
  // Whole groups past T and lanes past N still run (the shuffles need every lane) on valid
  // data, and write nothing.
  const std::int64_t t_raw = gid / L;
  const std::int64_t t = t_raw < T ? t_raw : T - 1;
  const int lane_row = static_cast<int>(gid % L);
  const int i = lane_row < N ? lane_row : N - 1;
  const bool write = t_raw < T && lane_row < N;
  // Column j of this lane: 0 pre, 1 post, 2 + e res element e.
  const auto column = [&](int c) { return c == 0 ? i : (c == 1 ? N + i : 2 * N + (kAllRes ? 0 : i * N) + c - 2); };
  // Lane i writes its own columns; the permutation logits are written by lane 0.
  const auto owns = [&](int c) { return write && (c < 2 || !kAllRes || i == 0); };
  constexpr int kCols = 2 + kResLane;

  float z[kCols];
  float h_pre = 0.0f, h_post = 0.0f;
  if (a.z_in == nullptr) {
    float m[kCols];
    float r;
#pragma unroll
    for (int c = 0; c < kCols; ++c) m[c] = a.m_part[t * M + column(c)];
    if (a.r_in != nullptr) {
      r = a.r_in[t];
    } else {
      float sumsq = a.s_part[t];
      // Four splits' partials are loaded before any is added (the same sums in the same order):
      // a chain of one dependent L2 round trip per split was most of this kernel at C = 7168
      // (28 splits: 0.038 -> 0.033 ms; eight per batch: 0.033, but 0.037 against 0.034 at 4 splits).
      // One at a time where a lane holds every permutation logit (n! of them): batches of those
      // would take 127 registers at n = 4 instead of 56, and spill at n = 5.
      constexpr int kBatch = kAllRes ? 1 : 4;
      for (int k0 = 1; k0 < a.splits_k; k0 += kBatch) {
        float mv[kBatch][kCols], sv[kBatch];
#pragma unroll
        for (int u = 0; u < kBatch; ++u) {
          const int ks = k0 + u < a.splits_k ? k0 + u : k0;  // past the last split: loaded, not added
#pragma unroll
          for (int c = 0; c < kCols; ++c) mv[u][c] = a.m_part[(ks * T + t) * M + column(c)];
          sv[u] = a.s_part[ks * T + t];
        }
#pragma unroll
        for (int u = 0; u < kBatch; ++u) {
          if (k0 + u < a.splits_k) {
#pragma unroll
            for (int c = 0; c < kCols; ++c) m[c] += mv[u][c];
            sumsq += sv[u];
          }
        }
      }
      r = inv_rms(sumsq, static_cast<float>(a.d.K()), a.s.eps_rms);
    }
    if (a.m) {
#pragma unroll
      for (int c = 0; c < kCols; ++c) {
        if (owns(c)) a.m[t * M + column(c)] = m[c];
      }
    }
    if (a.r && write && i == 0) a.r[t] = r;
    if (a.finish_only) return;

    // mix_forward's expressions for this lane's columns.
#pragma unroll
    for (int c = 0; c < kCols; ++c) {
      const int j = column(c);
      const float alpha = a.alpha[c == 0 ? 0 : (c == 1 ? 1 : 2)];
      z[c] = mix_logit(m[c], r, alpha, a.bias[j]);
      if (owns(c)) {
        if (a.m_hat) a.m_hat[t * M + j] = r * m[c];
        if (a.z) a.z[t * M + j] = z[c];
      }
    }
    h_pre = pre_gate(z[0], a.s);
    h_post = a.s.post_mult * sigmoid(z[1]);
    if (write) {
      if (a.h_pre) a.h_pre[t * N + i] = h_pre;
      if (a.h_post) a.h_post[t * N + i] = h_post;
    }
  } else {
#pragma unroll
    for (int c = 0; c < kCols; ++c) z[c] = a.z_in[t * M + column(c)];
  }
  if (!a.resmap) return;

  float H[N];
  resmap_row<N, L, KIND>(z + 2, i, a.s, H, a.iterates, t, T, write);
  // lite's merge: H - h_post (x) h_pre, output stream index first (every lane takes part in the
  // exchange of h_pre).
  float h_pre_row[N];
#pragma unroll
  for (int j = 0; j < N; ++j) h_pre_row[j] = from_row<L>(h_pre, j);
  if (!write) return;
#pragma unroll
  for (int j = 0; j < N; ++j) {
    const std::int64_t e = t * N * N + i * N + j;
    if (a.h_res_raw) a.h_res_raw[e] = H[j];
    if (a.h_res) a.h_res[e] = a.s.merged ? H[j] - h_post * h_pre_row[j] : H[j];
  }
}

}  // namespace

void launch_mix(const MixKernelArgs& a, cudaStream_t stream) {
  if (a.d.T == 0) return;
  n_kind_switch(a.d.n, a.s.resmap, [&](auto nc, auto kc) {
    constexpr int N = decltype(nc)::value;
    constexpr int KIND = decltype(kc)::value;
    if (MixShape<N, KIND>::kM != a.d.M) fail(ErrorKind::internal, "mix: M does not match n and the map");
    const std::int64_t threads = a.d.T * token_lanes<N>();
    const unsigned blocks = static_cast<unsigned>((threads + kThreads - 1) / kThreads);
    launch_after(mix_kernel<N, KIND>, dim3(blocks), dim3(kThreads), 0, stream, a);
  });
  check_launch("mix_kernel");
}

}  // namespace mhc::cuda
