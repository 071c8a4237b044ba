// Post forward and backward (MATH.md "Forward post", "Backward post").
//
// The weight from input stream b to output stream a is w(a, b) = H[b, a] in the transposed
// (DeepSeek) orientation and H[a, b] in the plain one:
//   out[a, c] = h_post[a] f[c] + sum_b w(a, b) x[b, c]
//   df[c] = sum_a h_post[a] dout[a, c];   dx[b, c] = sum_a w(a, b) dout[a, c]
//   dh_post[a] = sum_c f[c] dout[a, c];   dw(a, b) = sum_c x[b, c] dout[a, c]
// Forward: one thread per 8 channels (16-byte loads when C % 8 == 0). Backward: one warp per
// token; the per-token sums over c are reduced by a fixed-order warp butterfly (deterministic).
#include <cuda_runtime.h>

#include <algorithm>

#include "core/bf16.hpp"
#include "kernels/cuda/cuda_check.hpp"
#include "kernels/cuda/mma.cuh"
#include "kernels/cuda/ops.hpp"
#include "kernels/cuda/switch.hpp"

namespace mhc::cuda {
namespace {

// V consecutive bf16 widened to f32 (V = 8: one 16-byte load).
template <int V>
__device__ __forceinline__ void load_row(const std::uint16_t* __restrict__ p, float (&v)[V]) {
  if constexpr (V == 8) {
    const uint4 w = __ldg(reinterpret_cast<const uint4*>(p));
    const std::uint32_t ws[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      v[2 * e] = bf16_lo(ws[e]);
      v[2 * e + 1] = bf16_hi(ws[e]);
    }
  } else {
#pragma unroll
    for (int e = 0; e < V; ++e) v[e] = f32_from_bf16_bits(p[e]);
  }
}

template <int V>
__device__ __forceinline__ void store_row(std::uint16_t* __restrict__ p, const float (&v)[V]) {
  if constexpr (V == 8) {
    std::uint32_t w[4];
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      w[e] = bf16_bits_from_f32(v[2 * e]) | (static_cast<std::uint32_t>(bf16_bits_from_f32(v[2 * e + 1])) << 16);
    }
    *reinterpret_cast<uint4*>(p) = make_uint4(w[0], w[1], w[2], w[3]);
  } else {
#pragma unroll
    for (int e = 0; e < V; ++e) p[e] = bf16_bits_from_f32(v[e]);
  }
}

template <int N, bool kTransposed, class H_>
__device__ __forceinline__ float weight(const H_& H, int a, int b) {
  return kTransposed ? H[b * N + a] : H[a * N + b];
}

template <int N, int V, bool kTransposed>
__global__ void __launch_bounds__(256) post_forward_kernel(const PostArgs p) {
  const std::int64_t C = p.C;
  const std::int64_t vecs = C / V;
  const std::int64_t total = p.T * vecs;
  for (std::int64_t e = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t t = e / vecs;
    const std::int64_t c = (e - t * vecs) * V;
    const float* H = p.h_res + t * N * N;
    float f[V];
    load_row<V>(p.f + t * C + c, f);
    float xv[N][V];
#pragma unroll
    for (int b = 0; b < N; ++b) load_row<V>(p.x + (t * N + b) * C + c, xv[b]);
#pragma unroll
    for (int a = 0; a < N; ++a) {
      const float hp = p.h_post[t * N + a];
      float out[V];
#pragma unroll
      for (int v = 0; v < V; ++v) out[v] = hp * f[v];
#pragma unroll
      for (int b = 0; b < N; ++b) {
        const float w = weight<N, kTransposed>(H, a, b);
#pragma unroll
        for (int v = 0; v < V; ++v) out[v] = fmaf(w, xv[b][v], out[v]);
      }
      store_row<V>(p.out + (t * N + a) * C + c, out);
    }
  }
}

// One warp per token: the per-token sums over c end in a fixed-order butterfly inside the warp,
// with no shared memory or block barrier (those dominated when a CTA handled one token).
constexpr int kPostBwdWarps = 8;

template <int N, int V, bool kTransposed>
__global__ void __launch_bounds__(kPostBwdWarps * 32) post_backward_kernel(const PostArgs p) {
  constexpr int R = N + N * N;  // per-token reductions: dh_post[a], dw(a, b)
  const std::int64_t C = p.C;
  const int lane = threadIdx.x & 31;
  const std::int64_t t = blockIdx.x * static_cast<std::int64_t>(kPostBwdWarps) + (threadIdx.x >> 5);
  if (t >= p.T) return;
  // H in registers: read from memory inside the loop it would wait behind the stores.
  float H[N * N];
#pragma unroll
  for (int e = 0; e < N * N; ++e) H[e] = p.h_res[t * N * N + e];
  float hp[N];
#pragma unroll
  for (int a = 0; a < N; ++a) hp[a] = p.h_post[t * N + a];
  float acc[R];
#pragma unroll
  for (int r = 0; r < R; ++r) acc[r] = 0.0f;

  for (std::int64_t c = static_cast<std::int64_t>(lane) * V; c < C; c += 32 * V) {
    // Every load of the step before the first store: the stores may alias the inputs as far as
    // the compiler knows, so a load after a store would wait for it (five round trips a step).
    float f[V], dout[N][V], xs[N][V];
    load_row<V>(p.f + t * C + c, f);
#pragma unroll
    for (int a = 0; a < N; ++a) load_row<V>(p.dout + (t * N + a) * C + c, dout[a]);
#pragma unroll
    for (int b = 0; b < N; ++b) load_row<V>(p.x + (t * N + b) * C + c, xs[b]);
    float df[V];
#pragma unroll
    for (int v = 0; v < V; ++v) df[v] = 0.0f;
#pragma unroll
    for (int a = 0; a < N; ++a) {
#pragma unroll
      for (int v = 0; v < V; ++v) {
        df[v] = fmaf(hp[a], dout[a][v], df[v]);
        acc[a] = fmaf(f[v], dout[a][v], acc[a]);
      }
    }
    store_row<V>(p.df + t * C + c, df);
#pragma unroll
    for (int b = 0; b < N; ++b) {
      const float(&xb)[V] = xs[b];
      float dx[V];
#pragma unroll
      for (int v = 0; v < V; ++v) dx[v] = 0.0f;
#pragma unroll
      for (int a = 0; a < N; ++a) {
        const float w = weight<N, kTransposed>(H, a, b);
#pragma unroll
        for (int v = 0; v < V; ++v) {
          dx[v] = fmaf(w, dout[a][v], dx[v]);
          acc[N + a * N + b] = fmaf(xb[v], dout[a][v], acc[N + a * N + b]);
        }
      }
      store_row<V>(p.dx + (t * N + b) * C + c, dx);
    }
  }

#pragma unroll
  for (int r = 0; r < R; ++r) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) acc[r] += __shfl_xor_sync(0xFFFFFFFFu, acc[r], o);
  }
  // Every lane holds the totals; lane r writes reduction r (and r + 32, ...).
#pragma unroll
  for (int r = 0; r < R; ++r) {
    if (r % 32 != lane) continue;
    if (r < N) {
      p.dh_post[t * N + r] = acc[r];
    } else {
      const int a = (r - N) / N, b = (r - N) % N;
      // dw(a, b) is dH[b, a] (transposed) or dH[a, b] (plain).
      p.dh_res[t * N * N + (kTransposed ? b * N + a : a * N + b)] = acc[r];
    }
  }
}

template <class F>
void post_dispatch(const PostArgs& p, F&& f) {
  const bool vec = p.C % 8 == 0;
  n_switch(p.n, [&](auto nc) {
    constexpr int N = decltype(nc)::value;
    if (vec && p.transposed) f(nc, IntConst<8>{}, IntConst<1>{});
    else if (vec) f(nc, IntConst<8>{}, IntConst<0>{});
    else if (p.transposed) f(nc, IntConst<1>{}, IntConst<1>{});
    else f(nc, IntConst<1>{}, IntConst<0>{});
    (void)N;
  });
}

}  // namespace

void post_forward(const PostArgs& p, cudaStream_t stream) {
  if (p.T == 0) return;
  post_dispatch(p, [&](auto nc, auto vc, auto tc) {
    constexpr int N = decltype(nc)::value, V = decltype(vc)::value;
    constexpr bool kT = decltype(tc)::value == 1;
    const std::int64_t work = p.T * (p.C / V);
    const unsigned blocks = static_cast<unsigned>(std::min<std::int64_t>((work + 255) / 256, 132 * 16));
    post_forward_kernel<N, V, kT><<<blocks, 256, 0, stream>>>(p);
  });
  check_launch("post_forward_kernel");
}

void post_backward(const PostArgs& p, cudaStream_t stream) {
  if (p.T == 0) return;
  post_dispatch(p, [&](auto nc, auto vc, auto tc) {
    constexpr int N = decltype(nc)::value, V = decltype(vc)::value;
    constexpr bool kT = decltype(tc)::value == 1;
    const unsigned blocks = static_cast<unsigned>((p.T + kPostBwdWarps - 1) / kPostBwdWarps);
    post_backward_kernel<N, V, kT><<<blocks, kPostBwdWarps * 32, 0, stream>>>(p);
  });
  check_launch("post_backward_kernel");
}

}  // namespace mhc::cuda
