// MHC_VERIFY_CLONES: compile a hot loop of the verifier (case generation, error statistics) for
// AVX2 and for baseline x86-64, picked at load time (GCC/clang target_clones). Both clones give
// the same bits: the loops hold independent per-element work or integer/max reductions, and the
// build is ISO C++ (-ffp-contract=off in GCC; AVX2 alone enables no FMA in either compiler).
// TSan builds get the baseline only: the ifunc resolver runs before the TSan runtime is up (the
// same reason as MHC_REF_CLONES in reference/gemm.hpp).
#pragma once

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MHC_VERIFY_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__) || defined(MHC_VERIFY_TSAN) || !defined(__x86_64__)
#define MHC_VERIFY_CLONES
#else
#define MHC_VERIFY_CLONES __attribute__((target_clones("avx2", "default")))
#endif
