// Stage apply: y[t, c] = sum_i h_pre[t, i] x[t, i, c], accumulated in f32 in stream order and
// rounded to bf16 once (MATH.md step 7). Eight channels per thread with 16-byte loads when
// C % 8 == 0 (rows then start 16-byte aligned), one channel per thread otherwise.
#include <cuda_runtime.h>

#include <algorithm>

#include "core/bf16.hpp"
#include "kernels/cuda/cuda_check.hpp"
#include "kernels/cuda/mma.cuh"
#include "kernels/cuda/ops.hpp"
#include "kernels/cuda/pdl.cuh"
#include "kernels/cuda/switch.hpp"

namespace mhc::cuda {
namespace {

template <int N, int V>
__global__ void __launch_bounds__(256) apply_kernel(const std::uint16_t* __restrict__ x,
                                                    const float* __restrict__ h_pre, std::uint16_t* __restrict__ y,
                                                    std::int64_t T, std::int64_t C) {
  wait_for_prior_kernel();
  const std::int64_t vecs = C / V;
  const std::int64_t total = T * vecs;
  for (std::int64_t e = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t t = e / vecs;
    const std::int64_t c = (e - t * vecs) * V;
    float acc[V];
#pragma unroll
    for (int v = 0; v < V; ++v) acc[v] = 0.0f;
    const std::uint16_t* xt = x + t * N * C + c;
#pragma unroll
    for (int i = 0; i < N; ++i) {
      const float h = h_pre[t * N + i];
      if constexpr (V == 8) {
        const uint4 w = __ldg(reinterpret_cast<const uint4*>(xt + i * C));
        const std::uint32_t ws[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
        for (int p = 0; p < 4; ++p) {
          acc[2 * p] = fmaf(h, bf16_lo(ws[p]), acc[2 * p]);
          acc[2 * p + 1] = fmaf(h, bf16_hi(ws[p]), acc[2 * p + 1]);
        }
      } else {
        acc[0] = fmaf(h, f32_from_bf16_bits(xt[i * C]), acc[0]);
      }
    }
    if constexpr (V == 8) {
      std::uint32_t out[4];
#pragma unroll
      for (int p = 0; p < 4; ++p) {
        out[p] = bf16_bits_from_f32(acc[2 * p]) | (static_cast<std::uint32_t>(bf16_bits_from_f32(acc[2 * p + 1])) << 16);
      }
      *reinterpret_cast<uint4*>(y + t * C + c) = make_uint4(out[0], out[1], out[2], out[3]);
    } else {
      y[t * C + c] = bf16_bits_from_f32(acc[0]);
    }
  }
}

}  // namespace

void launch_apply(const PreDims& d, const std::uint16_t* x, const float* h_pre, std::uint16_t* y,
                  cudaStream_t stream) {
  if (d.T == 0) return;
  const bool vec = d.C % 8 == 0;
  const std::int64_t work = d.T * (vec ? d.C / 8 : d.C);
  const unsigned blocks = static_cast<unsigned>(std::min<std::int64_t>((work + 255) / 256, 132 * 16));
  n_switch(d.n, [&](auto nc) {
    constexpr int N = decltype(nc)::value;
    if (vec) {
      launch_after(apply_kernel<N, 8>, dim3(blocks), dim3(256), 0, stream, x, h_pre, y, d.T, d.C);
    } else {
      launch_after(apply_kernel<N, 1>, dim3(blocks), dim3(256), 0, stream, x, h_pre, y, d.T, d.C);
    }
  });
  check_launch("apply_kernel");
}

}  // namespace mhc::cuda
