#include "verify/compare_rows.hpp"

#include <cmath>
#include <cstring>

#include "verify/clones.hpp"

// The helpers below are always inlined, so that each clone compiles them for its own target; they
// take and return 32-byte vectors, and the ABI note GCC gives for that without AVX concerns no call.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace mhc::verify::rows {
namespace {

typedef double V __attribute__((vector_size(32)));
typedef std::int64_t VI __attribute__((vector_size(32)));
typedef std::uint64_t VU __attribute__((vector_size(32)));
typedef float VF __attribute__((vector_size(16)));
typedef std::uint32_t VU32 __attribute__((vector_size(16)));
typedef std::uint16_t VU16 __attribute__((vector_size(8)));

template <class To, class From>
[[gnu::always_inline]] inline To bits_as(const From& v) {
  static_assert(sizeof(To) == sizeof(From));
  To t;
  std::memcpy(&t, &v, sizeof t);
  return t;
}

[[gnu::always_inline]] inline V load(const double* p) { return bits_as<V>(*reinterpret_cast<const double(*)[4]>(p)); }
[[gnu::always_inline]] inline V load(const float* p) { return __builtin_convertvector(bits_as<VF>(*reinterpret_cast<const float(*)[4]>(p)), V); }
[[gnu::always_inline]] inline V load(const bf16* p) {
  VU16 raw;
  std::memcpy(&raw, p, sizeof raw);
  const VU32 f32_bits = __builtin_convertvector(raw, VU32) << 16;  // bf16 is the high half of an f32
  return __builtin_convertvector(bits_as<VF>(f32_bits), V);
}

[[gnu::always_inline]] inline double widen(bf16 x) { return static_cast<double>(f32_from_bf16_bits(x.bits)); }
[[gnu::always_inline]] inline double widen(float x) { return static_cast<double>(x); }

[[gnu::always_inline]] inline V abs_of(const V& x) { return bits_as<V>(bits_as<VU>(x) & 0x7fffffffffffffffull); }

// A non-finite element makes err2 (c) or ref2 (g) NaN or infinite, so one check after the loop
// replaces one per element; so do finite values whose squares overflow, for which the scalar loop
// runs too (it gives the same statistics, only slower).
template <bool kCounts, class T>
[[gnu::always_inline]] inline bool finite_row_impl(const T* c, const double* g, std::int64_t len, const FiniteRowArgs& a,
                                                   FiniteRowStats& out) {
  V err2 = {}, ref2 = {}, max_abs = {}, max_rel = {}, max_ulps = {};
  VI over = {};
  const std::int64_t body = len - len % 4;
  for (std::int64_t i = 0; i < body; i += 4) {
    // The hardware prefetcher of the VMs this was measured on kept this loop at a third of the
    // memory bandwidth (60 ms vs 18 ms for a 16 M element dx): fetch ~2 KB ahead explicitly.
    __builtin_prefetch(g + i + 256);
    __builtin_prefetch(c + i + 512);
    const V gi = load(g + i), ci = load(c + i);
    const V ag = abs_of(gi);
    const V d = abs_of(ci - gi);
    max_abs = d > max_abs ? d : max_abs;
    const V rel = d / (ag > a.tiny ? ag : V{} + __builtin_inf());
    max_rel = rel > max_rel ? rel : max_rel;
    // d / ulp(g) as an exact product: ulp(g) = 2^max(exponent(g), min) ulp(1) is a power of two p,
    // and the bits of 1/p are 2046 << 52 minus those of p.
    const V pow2 = bits_as<V>(bits_as<VU>(gi) & 0x7ff0000000000000ull);
    const V ulp = (pow2 > a.min_pow2 ? pow2 : V{} + a.min_pow2) * a.ulp_of_one;
    const V ulps = d * bits_as<V>((2046ull << 52) - bits_as<VU>(ulp));
    max_ulps = ulps > max_ulps ? ulps : max_ulps;
    err2 += d * d;
    ref2 += gi * gi;
    if constexpr (kCounts) over -= d > a.thr_abs + a.thr_rel * ag;  // a true comparison is -1
  }
  FiniteRowStats s;
  auto max_of = [](const V& v) {
    const double m01 = v[1] > v[0] ? v[1] : v[0], m23 = v[3] > v[2] ? v[3] : v[2];
    return m23 > m01 ? m23 : m01;
  };
  s.max_abs = max_of(max_abs);
  s.max_rel = max_of(max_rel);
  s.max_ulps = max_of(max_ulps);
  s.err2 = (err2[0] + err2[1]) + (err2[2] + err2[3]);
  s.ref2 = (ref2[0] + ref2[1]) + (ref2[2] + ref2[3]);
  s.over = over[0] + over[1] + over[2] + over[3];
  for (std::int64_t i = body; i < len; ++i) {  // the same per element, in order
    const double gi = g[i], ci = widen(c[i]), ag = std::fabs(gi);
    const double d = std::fabs(ci - gi);
    s.max_abs = d > s.max_abs ? d : s.max_abs;
    const double rel = d / (ag > a.tiny ? ag : __builtin_inf());
    s.max_rel = rel > s.max_rel ? rel : s.max_rel;
    const double pow2 = bits_as<double>(bits_as<std::uint64_t>(gi) & 0x7ff0000000000000ull);
    const double ulp = (pow2 > a.min_pow2 ? pow2 : a.min_pow2) * a.ulp_of_one;
    const double ulps = d * bits_as<double>((2046ull << 52) - bits_as<std::uint64_t>(ulp));
    s.max_ulps = ulps > s.max_ulps ? ulps : s.max_ulps;
    s.err2 += d * d;
    s.ref2 += gi * gi;
    if constexpr (kCounts) s.over += d > a.thr_abs + a.thr_rel * ag;
  }
  constexpr double kMaxFinite = 1.7976931348623157e308;
  if (!(s.err2 <= kMaxFinite) || !(s.ref2 <= kMaxFinite)) return false;
  out = s;
  return true;
}

template <class T>
[[gnu::always_inline]] inline bool finite_row_any(const T* c, const double* g, std::int64_t len, const FiniteRowArgs& a,
                                                  FiniteRowStats& out) {
  return a.counts ? finite_row_impl<true>(c, g, len, a, out) : finite_row_impl<false>(c, g, len, a, out);
}

}  // namespace

MHC_VERIFY_CLONES bool finite_row(const bf16* c, const double* g, std::int64_t len, const FiniteRowArgs& args,
                                  FiniteRowStats& out) {
  return finite_row_any(c, g, len, args, out);
}

MHC_VERIFY_CLONES bool finite_row(const float* c, const double* g, std::int64_t len, const FiniteRowArgs& args,
                                  FiniteRowStats& out) {
  return finite_row_any(c, g, len, args, out);
}

namespace {

constexpr double kMaxFinite = 1.7976931348623157e308;

template <class A, class B>
[[gnu::always_inline]] inline Maxima max_abs_errors_impl(const A* a, const B* b, const double* g, std::int64_t n) {
  V ma = {}, mb = {}, mg = {};
  const std::int64_t body = n - n % 4;
  for (std::int64_t i = 0; i < body; i += 4) {
    __builtin_prefetch(g + i + 256);
    __builtin_prefetch(a + i + 256);
    __builtin_prefetch(b + i + 256);
    const V gi = load(g + i), ai = load(a + i), bi = load(b + i);
    const V ag = abs_of(gi);
    const VI g_ok = ag <= kMaxFinite;
    const V da = abs_of(ai - gi), db = abs_of(bi - gi);
    ma = (g_ok & (abs_of(ai) <= kMaxFinite) & (da > ma)) ? da : ma;
    mb = (g_ok & (abs_of(bi) <= kMaxFinite) & (db > mb)) ? db : mb;
    mg = (g_ok & (ag > mg)) ? ag : mg;
  }
  Maxima m;
  for (int l = 0; l < 4; ++l) {
    m.a = ma[l] > m.a ? ma[l] : m.a;
    m.b = mb[l] > m.b ? mb[l] : m.b;
    m.golden = mg[l] > m.golden ? mg[l] : m.golden;
  }
  for (std::int64_t i = body; i < n; ++i) {
    const double gi = g[i], ai = widen(a[i]), bi = widen(b[i]);
    if (!(std::fabs(gi) <= kMaxFinite)) continue;
    m.golden = std::fabs(gi) > m.golden ? std::fabs(gi) : m.golden;
    if (std::fabs(ai) <= kMaxFinite) m.a = std::fabs(ai - gi) > m.a ? std::fabs(ai - gi) : m.a;
    if (std::fabs(bi) <= kMaxFinite) m.b = std::fabs(bi - gi) > m.b ? std::fabs(bi - gi) : m.b;
  }
  return m;
}

// A template like the other loops here: clang rejects a call returning a 32-byte vector in a
// non-AVX clone even when it is always inlined, but does not check calls inside templates.
template <class T>
[[gnu::always_inline]] inline double max_abs_finite_impl(const T* g, std::int64_t n) {
  V m = {};
  const std::int64_t body = n - n % 4;
  for (std::int64_t i = 0; i < body; i += 4) {
    __builtin_prefetch(g + i + 256);
    const V a = abs_of(load(g + i));
    m = ((a <= kMaxFinite) & (a > m)) ? a : m;
  }
  double s = 0;
  for (int l = 0; l < 4; ++l) s = m[l] > s ? m[l] : s;
  for (std::int64_t i = body; i < n; ++i) {
    const double a = std::fabs(g[i]);
    if (a <= kMaxFinite && a > s) s = a;
  }
  return s;
}

}  // namespace

MHC_VERIFY_CLONES double max_abs_finite(const double* g, std::int64_t n) { return max_abs_finite_impl(g, n); }

MHC_VERIFY_CLONES Maxima max_abs_errors(const bf16* a, const bf16* b, const double* g, std::int64_t n) {
  return max_abs_errors_impl(a, b, g, n);
}
MHC_VERIFY_CLONES Maxima max_abs_errors(const bf16* a, const float* b, const double* g, std::int64_t n) {
  return max_abs_errors_impl(a, b, g, n);
}
MHC_VERIFY_CLONES Maxima max_abs_errors(const float* a, const bf16* b, const double* g, std::int64_t n) {
  return max_abs_errors_impl(a, b, g, n);
}
MHC_VERIFY_CLONES Maxima max_abs_errors(const float* a, const float* b, const double* g, std::int64_t n) {
  return max_abs_errors_impl(a, b, g, n);
}

}  // namespace mhc::verify::rows
