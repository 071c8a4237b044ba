// The golden's matrix products and dot products (internal to reference/), written so that each output
// element is computed by one fixed sequence of f64 operations, whatever the CPU: the kernels are
// compiled for AVX2 and for baseline x86-64 (GCC target_clones, picked at load time) and give
// bit-identical results on both, because vector lanes only ever hold independent sums and no
// multiply-add is fused. Row-major operands; ld* are row strides in elements.
#pragma once

#include <cstdint>

// The clones are chosen by an ifunc resolver during relocation, before any sanitizer runtime is
// up; ThreadSanitizer instruments the resolver and the process dies at load (SIGSEGV, gcc and
// clang alike). TSan builds get the baseline code only, which gives the same bits.
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MHC_REF_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__) || defined(MHC_REF_TSAN)
#define MHC_REF_CLONES
#else
#define MHC_REF_CLONES __attribute__((target_clones("avx2", "default")))
#endif

namespace mhc::ref {

// sum_k a[k] b[k] in the reduction order of gemm_abt below.
double dot(const double* a, const double* b, std::int64_t K);

// out[t, j] = sum_k a[t, k] b[j, k]   (a [rows, K], b [M, K], out [rows, M] contiguous)
// The sum over k runs in 4 interleaved partial sums (k mod 4), combined as (s0 + s1) + (s2 + s3),
// then the K mod 4 tail in order.
void gemm_abt(const double* a, std::int64_t rows, const double* b, std::int64_t M, std::int64_t K, double* out);

// out[t, k] = sum_j a[t, j] b[j, k]   (a [rows, M] stride lda, b [M, K] stride ldb, out [rows, K]
// stride ldo), j in order.
void gemm_ab(const double* a, std::int64_t lda, std::int64_t rows, std::int64_t M, const double* b, std::int64_t ldb,
             std::int64_t K, double* out, std::int64_t ldo);

// out[j, k] += sum_t a[t, j] b[t, k]  (a [rows, M] contiguous, b [rows, w] contiguous, out [M, w]
// stride ldo), t in order.
void gemm_atb_acc(const double* a, std::int64_t rows, std::int64_t M, const double* b, std::int64_t w, double* out,
                  std::int64_t ldo);

}  // namespace mhc::ref
