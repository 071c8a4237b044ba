// The inner loops of error_stats and judge for the common case: a token row whose candidate (bf16 or f32) and
// golden (f64) elements are all finite, four lanes at a time in GCC/clang vector types, compiled
// for AVX2 and baseline x86-64 (MHC_VERIFY_CLONES); internal to verify/compare.cpp.
//
// Same results as the scalar loop of compare.cpp, bit for bit, except the order of the two sums
// (err2, ref2): four partial sums (element i in lane i mod 4) combined as (l0 + l1) + (l2 + l3),
// then the tail in order. Fixed by the data layout, so any thread count and either clone give the
// same bits.
#pragma once

#include <cstdint>

#include "core/tensor.hpp"

namespace mhc::verify::rows {

struct FiniteRowArgs {
  double tiny;        // |g| <= tiny is left out of max_rel
  double min_pow2;    // 2^(smallest normal exponent) of the candidate's dtype: smaller |g| clamp to it
  double ulp_of_one;  // ulp(1) of that dtype (2^-7 bf16, 2^-23 f32): ulp(g) = 2^exponent(g) ulp(1)
  bool counts;              // count the elements with |c - g| > thr_abs + thr_rel * |g|
  double thr_abs, thr_rel;
};

struct FiniteRowStats {
  double err2 = 0, ref2 = 0, max_abs = 0, max_rel = 0, max_ulps = 0;
  std::int64_t over = 0;  // elements with |c - g| > threshold
};

// false when some element of c[0, len) or g[0, len) is NaN or infinite, or a sum of squares
// overflows (the caller then runs the scalar loop, which locates it); otherwise fills `out`.
bool finite_row(const bf16* c, const double* g, std::int64_t len, const FiniteRowArgs& args, FiniteRowStats& out);
bool finite_row(const float* c, const double* g, std::int64_t len, const FiniteRowArgs& args, FiniteRowStats& out);

// max |g[i]| over the finite elements of g[0, n) (0 when none).
double max_abs_finite(const double* g, std::int64_t n);

// max |a[i] - g[i]| over the i where both are finite, the same for b (the two baselines), and
// max |g[i]| over finite g[i].
struct Maxima {
  double a = 0, b = 0, golden = 0;
};
Maxima max_abs_errors(const bf16* a, const bf16* b, const double* g, std::int64_t n);
Maxima max_abs_errors(const bf16* a, const float* b, const double* g, std::int64_t n);
Maxima max_abs_errors(const float* a, const bf16* b, const double* g, std::int64_t n);
Maxima max_abs_errors(const float* a, const float* b, const double* g, std::int64_t n);

}  // namespace mhc::verify::rows
