// Per-token coefficient math of pre (MATH.md "Forward pre" steps 3-6 and "Backward pre" steps
// 2-6), one thread per token, f32 throughout. Shared by the mix, fused projection and backward
// kernels so the fused path and the stage chain execute the same instructions (mix.cu spreads a
// token's rows over lanes with these operations in the same order). This file is compiled with
// -fmad=false (see CMakeLists.txt) so that products and sums round separately, as in the
// emulated backend.
#pragma once

#include <cuda_runtime.h>

#include "kernels/cuda/params.hpp"
#include "kernels/cuda/switch.hpp"

namespace mhc::cuda {

__device__ __forceinline__ float sigmoid(float z) { return 1.0f / (1.0f + expf(-z)); }

// Lanes per token where a kernel spreads a token over a group of lanes (mix, coeff_pre): N
// rounded up to a power of two, so a group never straddles a shuffle segment.
template <int N>
constexpr int token_lanes() {
  return N <= 1 ? 1 : (N <= 2 ? 2 : (N <= 4 ? 4 : 8));
}

// alpha_e: alpha0 for the pre block, alpha1 for post, alpha2 for res.
template <int N>
__device__ __forceinline__ int block_of(int j) {
  return j < N ? 0 : (j < 2 * N ? 1 : 2);
}

// k-th permutation of 0..N-1 in itertools.permutations order (lexicographic): the Lehmer code.
template <int N>
__device__ __forceinline__ void permutation(int k, int (&perm)[N]) {
  int avail[N];
#pragma unroll
  for (int i = 0; i < N; ++i) avail[i] = i;
  int left = N;
#pragma unroll
  for (int pos = 0; pos < N; ++pos) {
    int f = 1;
    for (int i = 2; i < N - pos; ++i) f *= i;
    const int idx = k / f;
    k -= idx * f;
    perm[pos] = avail[idx];
    for (int i = idx; i + 1 < left; ++i) avail[i] = avail[i + 1];
    --left;
  }
}

// The permutation map's softmax over its P logits: the largest and the sum of exp(z - largest).
template <int P>
__device__ __forceinline__ void softmax_terms(const float* zr, float& mx, float& sum) {
  mx = zr[0];
  for (int k = 1; k < P; ++k) mx = fmaxf(mx, zr[k]);
  sum = 0.0f;
  for (int k = 0; k < P; ++k) sum += expf(zr[k] - mx);
}

// ---------------------------------------------------------------------------------------------
// Sinkhorn iterates. Iterate 0 is the start matrix (softmax + eps, or exp); iterate k >= 1 is the
// matrix after the k-th column normalisation. DeepSeek's variant skips the row step of k = 1.

template <int N, int KIND>
__device__ __forceinline__ float sinkhorn_eps(const MixSemantics& s) {
  return KIND == kSinkhornExp ? 0.0f : s.eps_sk;
}

template <int N, int KIND>
__device__ __forceinline__ void sinkhorn_start(const float (&Z)[N * N], float (&P)[N * N], float eps) {
#pragma unroll
  for (int i = 0; i < N; ++i) {
    if constexpr (KIND == kSinkhornExp) {
#pragma unroll
      for (int j = 0; j < N; ++j) P[i * N + j] = expf(Z[i * N + j]);
    } else {
      float mx = Z[i * N];
#pragma unroll
      for (int j = 1; j < N; ++j) mx = fmaxf(mx, Z[i * N + j]);
      float sum = 0.0f;
#pragma unroll
      for (int j = 0; j < N; ++j) {
        P[i * N + j] = expf(Z[i * N + j] - mx);
        sum += P[i * N + j];
      }
#pragma unroll
      for (int j = 0; j < N; ++j) P[i * N + j] = P[i * N + j] / sum + eps;
    }
  }
}

template <int N>
__device__ __forceinline__ void row_normalise(float (&P)[N * N], float eps) {
#pragma unroll
  for (int i = 0; i < N; ++i) {
    float sum = 0.0f;
#pragma unroll
    for (int j = 0; j < N; ++j) sum += P[i * N + j];
    const float inv = 1.0f / (sum + eps);
#pragma unroll
    for (int j = 0; j < N; ++j) P[i * N + j] = P[i * N + j] * inv;
  }
}

template <int N>
__device__ __forceinline__ void col_normalise(float (&P)[N * N], float eps) {
#pragma unroll
  for (int j = 0; j < N; ++j) {
    float sum = 0.0f;
#pragma unroll
    for (int i = 0; i < N; ++i) sum += P[i * N + j];
    const float inv = 1.0f / (sum + eps);
#pragma unroll
    for (int i = 0; i < N; ++i) P[i * N + j] = P[i * N + j] * inv;
  }
}

template <int KIND>
__device__ __forceinline__ bool has_row_step(int k) {
  return KIND == kSinkhornExp || k > 1;
}

// Advances iterate k-1 to iterate k.
template <int N, int KIND>
__device__ __forceinline__ void sinkhorn_step(float (&P)[N * N], int k, float eps) {
  if (has_row_step<KIND>(k)) row_normalise<N>(P, eps);
  col_normalise<N>(P, eps);
}

// Backward of the residual map: dZ (length kRes) from dH, by the exact unrolled gradient.
// Sinkhorn iterates: with `scratch` ([R+1, n*n, T], coalesced across tokens) the forward pass
// saves every iterate and the backward reads them; without it (huge R * T) each iterate is
// recomputed from Z (O(R^2) steps). Both give the same bits: the same steps on the same values.
template <int N, int KIND>
__device__ __forceinline__ void resmap_backward(const float* zr, const MixSemantics& s, const float (&dH)[N * N],
                                                float* dzr, float* scratch, std::int64_t t, std::int64_t T) {
  if constexpr (KIND == kIdentity) {
#pragma unroll
    for (int e = 0; e < N * N; ++e) dzr[e] = dH[e];
  } else if constexpr (KIND == kPermutations) {
    constexpr int P = factorial(N);
    float mx, sum;
    softmax_terms<P>(zr, mx, sum);
    // g_a[k] = sum_row dH[row, perm_k(row)]; softmax backward: dz = (g_a - sum g_a a) a.
    float dot = 0.0f;
    for (int k = 0; k < P; ++k) {
      int perm[N];
      permutation<N>(k, perm);
      float ga = 0.0f;
#pragma unroll
      for (int row = 0; row < N; ++row) ga += dH[row * N + perm[row]];
      dzr[k] = ga;
      dot += ga * (expf(zr[k] - mx) / sum);
    }
    for (int k = 0; k < P; ++k) dzr[k] = (dzr[k] - dot) * (expf(zr[k] - mx) / sum);
  } else {
    const float eps = sinkhorn_eps<N, KIND>(s);
    float Z[N * N], g[N * N];
#pragma unroll
    for (int e = 0; e < N * N; ++e) {
      Z[e] = zr[e];
      g[e] = dH[e];
    }
    constexpr int NN = N * N;
    if (scratch) {
      float P[NN];
      sinkhorn_start<N, KIND>(Z, P, eps);
      for (int k = 0; k <= s.repeats; ++k) {
        if (k > 0) sinkhorn_step<N, KIND>(P, k, eps);
#pragma unroll
        for (int e = 0; e < NN; ++e) scratch[(static_cast<std::int64_t>(k) * NN + e) * T + t] = P[e];
      }
    }
    for (int k = s.repeats; k >= 1; --k) {
      float P[NN];  // iterate k-1
      if (scratch) {
#pragma unroll
        for (int e = 0; e < NN; ++e) P[e] = scratch[(static_cast<std::int64_t>(k - 1) * NN + e) * T + t];
      } else {
        sinkhorn_start<N, KIND>(Z, P, eps);
        for (int kk = 1; kk < k; ++kk) sinkhorn_step<N, KIND>(P, kk, eps);
      }
      float Q[N * N];  // input of the column step
#pragma unroll
      for (int e = 0; e < N * N; ++e) Q[e] = P[e];
      const bool row_step = has_row_step<KIND>(k);
      if (row_step) row_normalise<N>(Q, eps);
      // Column step Y = Q inv, inv = 1 / (c + eps): g <- (g - sum_rows(g Q) inv) inv.
#pragma unroll
      for (int j = 0; j < N; ++j) {
        float c = 0.0f, gq = 0.0f;
#pragma unroll
        for (int i = 0; i < N; ++i) {
          c += Q[i * N + j];
          gq += g[i * N + j] * Q[i * N + j];
        }
        const float inv = 1.0f / (c + eps);
        const float proj = gq * inv;
#pragma unroll
        for (int i = 0; i < N; ++i) g[i * N + j] = (g[i * N + j] - proj) * inv;
      }
      if (row_step) {
#pragma unroll
        for (int i = 0; i < N; ++i) {
          float r = 0.0f, gp = 0.0f;
#pragma unroll
          for (int j = 0; j < N; ++j) {
            r += P[i * N + j];
            gp += g[i * N + j] * P[i * N + j];
          }
          const float inv = 1.0f / (r + eps);
          const float proj = gp * inv;
#pragma unroll
          for (int j = 0; j < N; ++j) g[i * N + j] = (g[i * N + j] - proj) * inv;
        }
      }
    }
    // Start: exp (dZ = g exp Z) or softmax + eps (dZ = (g - sum_k g S) S per row).
#pragma unroll
    for (int i = 0; i < N; ++i) {
      if constexpr (KIND == kSinkhornExp) {
#pragma unroll
        for (int j = 0; j < N; ++j) dzr[i * N + j] = g[i * N + j] * expf(Z[i * N + j]);
      } else {
        float mx = Z[i * N];
#pragma unroll
        for (int j = 1; j < N; ++j) mx = fmaxf(mx, Z[i * N + j]);
        float S[N];
        float sum = 0.0f;
#pragma unroll
        for (int j = 0; j < N; ++j) {
          S[j] = expf(Z[i * N + j] - mx);
          sum += S[j];
        }
        float dot = 0.0f;
#pragma unroll
        for (int j = 0; j < N; ++j) {
          S[j] = S[j] / sum;
          dot += g[i * N + j] * S[j];
        }
#pragma unroll
        for (int j = 0; j < N; ++j) dzr[i * N + j] = (g[i * N + j] - dot) * S[j];
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Step 3-5 of the forward: m_hat = r m, z = alpha_e m_hat + b, h_pre, h_post.

// z_j = alpha_e (r m_j) + b_j: one definition for the mix kernel and the fused projection, which
// computes h_pre itself and must get the mix kernel's bits.
__device__ __forceinline__ float mix_logit(float m, float r, float alpha, float bias) { return alpha * (r * m) + bias; }
__device__ __forceinline__ float pre_gate(float z, const MixSemantics& s) { return sigmoid(z) + s.eps_pre; }

template <int N, int M>
__device__ __forceinline__ void mix_forward(const float (&m)[M], float r, const float* alpha, const float* bias,
                                            const MixSemantics& s, float (&m_hat)[M], float (&z)[M],
                                            float (&h_pre)[N], float (&h_post)[N]) {
  const float a0 = alpha[0], a1 = alpha[1], a2 = alpha[2];
#pragma unroll
  for (int j = 0; j < M; ++j) {
    const float a = j < N ? a0 : (j < 2 * N ? a1 : a2);
    m_hat[j] = r * m[j];
    z[j] = mix_logit(m[j], r, a, bias[j]);
  }
#pragma unroll
  for (int i = 0; i < N; ++i) {
    h_pre[i] = pre_gate(z[i], s);
    h_post[i] = s.post_mult * sigmoid(z[N + i]);
  }
}

// r = 1/sqrt(s/K + eps_rms), the inverse RMS.
__device__ __forceinline__ float inv_rms(float sumsq, float K, float eps_rms) {
  return 1.0f / sqrtf(sumsq / K + eps_rms);
}

}  // namespace mhc::cuda
