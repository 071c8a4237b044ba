// Stages mix and resmap (and the finish of norm_proj): one thread per token computes
// m = sum of the KS projection partials, r, m_hat, z, h_pre, h_post and H (MATH.md steps 2-6).
// The fused forward runs this once with everything on; the stage entry points run the same code
// with parts switched off, so fused and chained results are bitwise equal.
#include <cuda_runtime.h>

#include "kernels/cuda/coeffs.cuh"
#include "kernels/cuda/cuda_check.hpp"
#include "kernels/cuda/ops.hpp"
#include "kernels/cuda/pdl.cuh"

namespace mhc::cuda {
namespace {

template <int N, int KIND>
__global__ void __launch_bounds__(128) mix_kernel(const MixKernelArgs a) {
  wait_for_prior_kernel();
  constexpr int M = MixShape<N, KIND>::kM;
  const std::int64_t T = a.d.T;
  const std::int64_t t = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
  if (t >= T) return;

  float z[M];
  float h_pre[N], h_post[N];
  if (a.z_in == nullptr) {
    float m[M];
    float r;
#pragma unroll
    for (int j = 0; j < M; ++j) m[j] = a.m_part[t * M + j];
    if (a.r_in != nullptr) {
      r = a.r_in[t];
    } else {
      float sumsq = a.s_part[t];
      for (int ks = 1; ks < a.splits_k; ++ks) {
#pragma unroll
        for (int j = 0; j < M; ++j) m[j] += a.m_part[(ks * T + t) * M + j];
        sumsq += a.s_part[ks * T + t];
      }
      r = inv_rms(sumsq, static_cast<float>(a.d.K()), a.s.eps_rms);
    }
    if (a.m) {
#pragma unroll
      for (int j = 0; j < M; ++j) a.m[t * M + j] = m[j];
    }
    if (a.r) a.r[t] = r;
    if (a.finish_only) return;

    float m_hat[M];
    mix_forward<N, M>(m, r, a.alpha, a.bias, a.s, m_hat, z, h_pre, h_post);
#pragma unroll
    for (int j = 0; j < M; ++j) {
      if (a.m_hat) a.m_hat[t * M + j] = m_hat[j];
      if (a.z) a.z[t * M + j] = z[j];
    }
#pragma unroll
    for (int i = 0; i < N; ++i) {
      if (a.h_pre) a.h_pre[t * N + i] = h_pre[i];
      if (a.h_post) a.h_post[t * N + i] = h_post[i];
    }
  } else {
#pragma unroll
    for (int j = 0; j < M; ++j) z[j] = a.z_in[t * M + j];
  }
  if (!a.resmap) return;

  float H[N * N];
  resmap_forward<N, KIND>(z + 2 * N, a.s, H, a.iterates, t, T);
#pragma unroll
  for (int e = 0; e < N * N; ++e) {
    if (a.h_res_raw) a.h_res_raw[t * N * N + e] = H[e];
    if (a.h_res) {
      // lite's merge: H - h_post (x) h_pre, output stream index first.
      a.h_res[t * N * N + e] = a.s.merged ? H[e] - h_post[e / N] * h_pre[e % N] : H[e];
    }
  }
}

}  // namespace

void launch_mix(const MixKernelArgs& a, cudaStream_t stream) {
  if (a.d.T == 0) return;
  const unsigned blocks = static_cast<unsigned>((a.d.T + 127) / 128);
  n_kind_switch(a.d.n, a.s.resmap, [&](auto nc, auto kc) {
    constexpr int N = decltype(nc)::value;
    constexpr int KIND = decltype(kc)::value;
    if (MixShape<N, KIND>::kM != a.d.M) fail(ErrorKind::internal, "mix: M does not match n and the map");
    launch_after(mix_kernel<N, KIND>, dim3(blocks), dim3(128), 0, stream, a);
  });
  check_launch("mix_kernel");
}

}  // namespace mhc::cuda
