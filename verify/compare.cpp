#include "verify/compare.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string_view>
#include <utility>
#include <fmt/format.h>

#include "core/bf16.hpp"
#include "core/error.hpp"
#include "verify/compare_rows.hpp"

namespace mhc::verify {
namespace {

// Calls f with an element reader of t's own dtype: the loops below run once per element of
// tensors of up to 10^8 elements, so no per-element dtype switch (Tensor::get) and no widened copy.
template <class F>
decltype(auto) with_reader(const Tensor& t, F&& f) {
  switch (t.dtype()) {
    case DType::bf16: {
      const bf16* p = t.data<bf16>();
      return f([p](std::int64_t i) { return static_cast<double>(f32_from_bf16_bits(p[i].bits)); });
    }
    case DType::f32: {
      const float* p = t.data<float>();
      return f([p](std::int64_t i) { return static_cast<double>(p[i]); });
    }
    case DType::f64:
      break;
  }
  const double* p = t.data<double>();
  return f([p](std::int64_t i) { return p[i]; });
}

bool is_row_major_token_tensor(const std::vector<std::int64_t>& shape) { return shape.size() >= 2; }

// Relative L2 of one row with a denominator that stays meaningful for all-zero golden rows.
double row_relative(double err2, double ref2, double row_floor) {
  return std::sqrt(err2) / (std::sqrt(ref2) + row_floor);
}

// ulp() from the exponent bits (no ilogb/ldexp: it runs once per compared element).
// Subnormal and zero x clamp to the dtype's smallest normal exponent, as ulp() documents.
struct UlpOf {
  int mantissa_bits, min_exp;
  explicit UlpOf(DType dtype)
      : mantissa_bits(dtype == DType::bf16 ? 8 : dtype == DType::f32 ? 24 : 53),
        min_exp(dtype == DType::f64 ? -1022 : -126) {}
  double operator()(double x) const {
    std::uint64_t bits;
    std::memcpy(&bits, &x, sizeof bits);
    const int e = std::max(static_cast<int>((bits >> 52) & 0x7ff) - 1023, min_exp) - mantissa_bits + 1;
    if (e < -1022) return std::ldexp(1.0, e);  // a subnormal double (f64 ulps near zero)
    return power_of_two(e);
  }
  // x / ulp(x) as an exact multiplication (ulps are powers of two): no division per element.
  double in_ulps(double d, double x) const {
    std::uint64_t bits;
    std::memcpy(&bits, &x, sizeof bits);
    const int e = std::max(static_cast<int>((bits >> 52) & 0x7ff) - 1023, min_exp) - mantissa_bits + 1;
    if (e < -1022 || e > 1023) return d / (*this)(x);  // 1/ulp would not be a normal double
    return d * power_of_two(-e);
  }
  static double power_of_two(int e) {
    const std::uint64_t b = static_cast<std::uint64_t>(e + 1023) << 52;
    double u;
    std::memcpy(&u, &b, sizeof u);
    return u;
  }
};

// Statistics of one token row; rows are computed in parallel and combined in row order, so the
// result is bit-identical for any thread count.
struct RowStats {
  double err2 = 0, ref2 = 0, max_abs = 0, max_rel = 0, max_ulps = 0;
  std::int64_t argmax = -1, nonfinite = 0, first_nonfinite = -1, over = 0;
};

}  // namespace

bool same_bytes(const Tensor& a, const Tensor& b) {
  constexpr std::int64_t kChunk = std::int64_t{1} << 20;
  const std::int64_t n = static_cast<std::int64_t>(a.nbytes());
  if (n <= kChunk || !a.defined() || !b.defined() || a.dtype() != b.dtype() || a.shape() != b.shape()) {
    return bitwise_equal(a, b);
  }
  bool same = true;  // an AND is order-free: the result does not depend on the split
#pragma omp parallel for reduction(&& : same) schedule(dynamic)
  for (std::int64_t first = 0; first < n; first += kChunk) {
    same = same && std::memcmp(a.bytes() + first, b.bytes() + first, static_cast<std::size_t>(std::min(kChunk, n - first))) == 0;
  }
  return same;
}

double ulp(DType dtype, double x) {
  const double ax = std::fabs(x);
  if (!std::isfinite(ax)) return UlpOf(dtype)(0.0);
  return UlpOf(dtype)(ax);
}

std::vector<std::int64_t> unravel(std::int64_t flat, const std::vector<std::int64_t>& shape) {
  std::vector<std::int64_t> idx(shape.size());
  for (std::size_t d = shape.size(); d-- > 0;) {
    const std::int64_t extent = std::max<std::int64_t>(shape[d], 1);
    idx[d] = flat % extent;
    flat /= extent;
  }
  return idx;
}

std::string format_index(const std::string& name, const std::vector<std::int64_t>& index) {
  // Axis letters from MATH.md's notation; parameter tensors have no token axis.
  std::string base = name.substr(name.find('.') + 1);
  std::vector<const char*> axes;
  const std::size_t r = index.size();
  if (base.starts_with("dphi") || base == "phi" || base.starts_with("dphi_")) axes = {"m", "k"};
  else if (base.starts_with("dbias") || base == "bias") axes = {"m"};
  else if (base.starts_with("dgamma") || base == "gamma") axes = {"k"};
  else if (base == "dalpha" || base == "alpha") axes = {"block"};
  else if (base == "h_res" || base == "dh_res" || base.starts_with("sinkhorn")) axes = {"t", "i", "j"};
  else if (r == 3) axes = {"t", "i", "c"};
  else if (base == "y" || base == "f" || base == "df" || base == "dy") axes = {"t", "c"};
  else if (r == 2 && (base == "m" || base == "m_hat" || base == "z" || base == "dz")) axes = {"t", "m"};
  else if (r == 2) axes = {"t", "i"};
  else if (r == 1) axes = {"t"};
  std::string s = "[";
  for (std::size_t d = 0; d < r; ++d) {
    if (d) s += ", ";
    if (d < axes.size()) s += fmt::format("{}={}", axes[d], index[d]);
    else s += std::to_string(index[d]);
  }
  return s + "]";
}

namespace {

// Elements per task of the parallel max passes (a max is exact and order-free, so any split gives
// the same result). The passes of this file hand out their tasks dynamically: on a shared machine
// a preempted thread would otherwise hold up the whole pass.
constexpr std::int64_t kMaxChunk = 1 << 16;

double max_abs_finite(const Tensor& t) {
  if (t.dtype() == DType::f64) {  // the golden: the vector path
    const double* g = t.data<double>();
    const std::int64_t n = t.numel();
    double m = 0;
#pragma omp parallel for reduction(max : m) schedule(dynamic) if (n > kMaxChunk)
    for (std::int64_t first = 0; first < n; first += kMaxChunk) {
      m = std::max(m, rows::max_abs_finite(g + first, std::min(kMaxChunk, n - first)));
    }
    return m;
  }
  return with_reader(t, [&](auto v) {
    double m = 0;  // a max is exact and order-free: the parallel reduction is deterministic
#pragma omp parallel for reduction(max : m) schedule(static) if (t.numel() > (1 << 16))
    for (std::int64_t i = 0; i < t.numel(); ++i) {
      if (std::isfinite(v(i))) m = std::max(m, std::fabs(v(i)));
    }
    return m;
  });
}

// `name`, where known, leads the message: the error is the case's, and the report's tensor
// column cannot say which tensor it was.
void require_same_shape(const Tensor& candidate, const Tensor& golden, std::string_view name = {}) {
  if (candidate.shape() == golden.shape()) return;
  // A tensor stored in another layout (phi as [K, M], x as [T, C, n]) has the golden's shape with
  // its last two axes swapped.
  std::vector<std::int64_t> swapped = candidate.shape();
  if (swapped.size() >= 2) std::swap(swapped[swapped.size() - 1], swapped[swapped.size() - 2]);
  const bool transposed = swapped == golden.shape();
  invalid_input(fmt::format("{}{}shape mismatch: candidate {} vs golden {}{}", name, name.empty() ? "" : ": ",
                            candidate.describe(), golden.describe(),
                            transposed ? " (the last two axes swapped: stored in another layout?)" : ""));
}

// The mismatch count judge folds into a statistics pass: finite pairs with
// |c - g| > atol + rtol |g| (the baseline rule: atol = k * baseline max + floor, rtol = 0).
struct Threshold {
  bool counts = false;
  double atol = 0, rtol = 0;
};

// The vector path of one row (verify/compare_rows.hpp) when it applies: an f64 golden, a bf16 or
// f32 candidate and ulps of bf16 or f32. false: run the scalar loop (some element is not finite).
bool finite_row(const Tensor& candidate, const Tensor& golden, std::int64_t begin, std::int64_t len,
                const rows::FiniteRowArgs& args, RowStats& row) {
  rows::FiniteRowStats f;
  const double* g = golden.data<double>() + begin;
  const bool ok = candidate.dtype() == DType::bf16 ? rows::finite_row(candidate.data<bf16>() + begin, g, len, args, f)
                                                   : rows::finite_row(candidate.data<float>() + begin, g, len, args, f);
  if (!ok) return false;
  row.err2 = f.err2;
  row.ref2 = f.ref2;
  row.max_abs = f.max_abs;
  row.max_rel = f.max_rel;
  row.max_ulps = f.max_ulps;
  row.over = f.over;
  return true;
}

// What one statistics pass computes for one candidate: its ulps dtype and mismatch threshold.
struct StatsJob {
  const Tensor* candidate;
  DType ulp_dtype;
  Threshold threshold;
  ErrorStats stats;             // out
  std::int64_t mismatches = 0;  // out, when threshold.counts
};

// Per-job constants of a pass.
struct RowContext {
  UlpOf ulp_of;
  double tiny;
  bool vector_path;
  rows::FiniteRowArgs args;
  Threshold threshold;
};

// Statistics of elements [begin, end) (one token row) of `candidate` against `golden`.
void row_stats(const Tensor& candidate, const Tensor& golden, std::int64_t begin, std::int64_t end,
               const RowContext& ctx, RowStats& row) {
  with_reader(candidate, [&](auto c) {
    with_reader(golden, [&](auto g) {
      if (ctx.vector_path && finite_row(candidate, golden, begin, end - begin, ctx.args, row)) {
        // The first element at the row's maximum, as the scalar loop below keeps it.
        for (std::int64_t i = begin; i < end; ++i) {
          if (std::fabs(c(i) - g(i)) == row.max_abs) {
            row.argmax = i;
            break;
          }
        }
        return;
      }
      for (std::int64_t i = begin; i < end; ++i) {
        const double gi = g(i), ci = c(i);
        if (!std::isfinite(gi) || !std::isfinite(ci)) {
          // Same non-finite class (NaN vs NaN, +inf vs +inf) is a match.
          const bool same = (std::isnan(gi) && std::isnan(ci)) || (!std::isnan(gi) && !std::isnan(ci) && gi == ci);
          if (!same) {
            ++row.nonfinite;
            if (row.first_nonfinite < 0) row.first_nonfinite = i;
          }
          continue;
        }
        const double d = std::fabs(ci - gi);
        if (row.argmax < 0 || d > row.max_abs) {
          row.argmax = i;
          row.max_abs = d;
        }
        if (std::fabs(gi) > ctx.tiny) row.max_rel = std::max(row.max_rel, d / std::fabs(gi));
        row.max_ulps = std::max(row.max_ulps, ctx.ulp_of.in_ulps(d, gi));
        row.err2 += d * d;
        row.ref2 += gi * gi;
        if (ctx.threshold.counts) row.over += d > ctx.threshold.atol + ctx.threshold.rtol * std::fabs(gi);
      }
    });
  });
}

// error_stats of every job against the same golden in one parallel pass over token rows, a row of
// every job in turn (the golden row is then read from cache for all but the first), with
// ref_max = max |golden| given (judge computes it once) and, when a job's threshold.counts, its
// number of finite pairs with |c - g| > atol + rtol |g| (judge's mismatch count).
void stats_pass(std::initializer_list<StatsJob*> jobs, const Tensor& golden, double ref_max) {
  for (StatsJob* job : jobs) {
    require_same_shape(*job->candidate, golden);
    job->stats = ErrorStats{};
    job->mismatches = 0;
  }
  const std::int64_t n = golden.numel();
  if (n == 0) return;
  const auto& shape = golden.shape();
  const std::int64_t rows = is_row_major_token_tensor(shape) ? shape[0] : 1;
  const std::int64_t row_len = n / std::max<std::int64_t>(rows, 1);
  std::vector<RowContext> ctx;
  std::vector<std::vector<RowStats>> per_row;
  for (const StatsJob* job : jobs) {
    const UlpOf ulp_of(job->ulp_dtype);
    const double tiny = ulp_of(ref_max);
    const bool vector_path =
        golden.dtype() == DType::f64 && job->candidate->dtype() != DType::f64 && job->ulp_dtype != DType::f64;
    ctx.push_back({ulp_of, tiny, vector_path,
                   rows::FiniteRowArgs{tiny, std::ldexp(1.0, ulp_of.min_exp), std::ldexp(1.0, 1 - ulp_of.mantissa_bits),
                                       job->threshold.counts, job->threshold.atol, job->threshold.rtol},
                   job->threshold});
    per_row.emplace_back(static_cast<std::size_t>(rows));
  }
  const std::size_t job_count = jobs.size();
  const StatsJob* const* job_at = jobs.begin();
#pragma omp parallel for schedule(dynamic, 8) if (n > (1 << 16))
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::size_t j = 0; j < job_count; ++j) {
      row_stats(*job_at[j]->candidate, golden, r * row_len, (r + 1) * row_len, ctx[j], per_row[j][static_cast<std::size_t>(r)]);
    }
  }
  for (std::size_t j = 0; j < job_count; ++j) {
    ErrorStats& s = jobs.begin()[j]->stats;
    const double tiny = ctx[j].tiny;
    const double row_floor = std::sqrt(static_cast<double>(row_len)) * tiny;
    double err2_all = 0, ref2_all = 0;
    std::int64_t argmax = -1, first_nonfinite = -1, over = 0;
    for (std::int64_t r = 0; r < rows; ++r) {
      const RowStats& row = per_row[j][static_cast<std::size_t>(r)];
      if (row.argmax >= 0 && (argmax < 0 || row.max_abs > s.max_abs)) {
        argmax = row.argmax;
        s.max_abs = row.max_abs;
      }
      s.max_rel = std::max(s.max_rel, row.max_rel);
      s.max_ulps = std::max(s.max_ulps, row.max_ulps);
      s.nonfinite_mismatches += row.nonfinite;
      if (first_nonfinite < 0) first_nonfinite = row.first_nonfinite;
      const double row_rel = row_relative(row.err2, row.ref2, row_floor);
      if (s.worst_row < 0 || row_rel > s.worst_row_rel_l2) {
        s.worst_row = r;
        s.worst_row_rel_l2 = row_rel;
      }
      err2_all += row.err2;
      ref2_all += row.ref2;
      over += row.over;
    }
    s.rel_l2 = row_relative(err2_all, ref2_all, std::sqrt(static_cast<double>(n)) * tiny);
    if (argmax >= 0) s.max_at = unravel(argmax, shape);
    if (first_nonfinite >= 0) s.first_nonfinite_at = unravel(first_nonfinite, shape);
    if (rows == 1 && !is_row_major_token_tensor(shape)) s.worst_row = -1;
    jobs.begin()[j]->mismatches = over;
  }
}

}  // namespace

ErrorStats error_stats(const Tensor& candidate, const Tensor& golden, DType ulp_dtype) {
  require_same_shape(candidate, golden);
  StatsJob job{&candidate, ulp_dtype, Threshold{}, {}, 0};
  stats_pass({&job}, golden, max_abs_finite(golden));
  return job.stats;
}

namespace {

// max_abs_errors on the vector path, for an f64 golden and bf16/f32 baselines.
template <class A, class B>
BaselineMaxima max_abs_errors_vector(const A* a, const B* b, const double* g, std::int64_t n) {
  double ma = 0, mb = 0, mg = 0;
#pragma omp parallel for reduction(max : ma, mb, mg) schedule(dynamic) if (n > kMaxChunk)
  for (std::int64_t first = 0; first < n; first += kMaxChunk) {
    const rows::Maxima m = rows::max_abs_errors(a + first, b + first, g + first, std::min(kMaxChunk, n - first));
    ma = std::max(ma, m.a);
    mb = std::max(mb, m.b);
    mg = std::max(mg, m.golden);
  }
  return {ma, mb, mg};
}

}  // namespace

BaselineMaxima max_abs_errors(const Tensor& a, const Tensor& b, const Tensor& golden) {
  require_same_shape(a, golden);
  require_same_shape(b, golden);
  if (golden.dtype() == DType::f64 && a.dtype() != DType::f64 && b.dtype() != DType::f64) {
    const double* g = golden.data<double>();
    const std::int64_t n = golden.numel();
    if (a.dtype() == DType::bf16) {
      return b.dtype() == DType::bf16 ? max_abs_errors_vector(a.data<bf16>(), b.data<bf16>(), g, n)
                                      : max_abs_errors_vector(a.data<bf16>(), b.data<float>(), g, n);
    }
    return b.dtype() == DType::bf16 ? max_abs_errors_vector(a.data<float>(), b.data<bf16>(), g, n)
                                    : max_abs_errors_vector(a.data<float>(), b.data<float>(), g, n);
  }
  const double golden_max = max_abs_finite(golden);
  return with_reader(a, [&](auto va) {
    return with_reader(b, [&](auto vb) {
      return with_reader(golden, [&](auto g) {
        double ma = 0, mb = 0;  // maxima are exact and order-free: the parallel reduction is deterministic
#pragma omp parallel for reduction(max : ma, mb) schedule(static) if (golden.numel() > (1 << 16))
        for (std::int64_t i = 0; i < golden.numel(); ++i) {
          const double gi = g(i), ai = va(i), bi = vb(i);
          if (!std::isfinite(gi)) continue;
          if (std::isfinite(ai)) ma = std::max(ma, std::fabs(ai - gi));
          if (std::isfinite(bi)) mb = std::max(mb, std::fabs(bi - gi));
        }
        return BaselineMaxima{ma, mb, golden_max};
      });
    });
  });
}

namespace {

std::string describe_nonfinite(const std::string& name, const Tensor& cand, const Tensor& gold,
                               const ErrorStats& s) {
  std::int64_t flat = 0;
  for (std::size_t d = 0; d < s.first_nonfinite_at.size(); ++d) flat = flat * gold.shape()[d] + s.first_nonfinite_at[d];
  const double c = cand.get(flat), g = gold.get(flat);
  auto kind = [](double v) { return std::isnan(v) ? std::string("NaN") : std::isinf(v) ? fmt::format("{}inf", v > 0 ? "+" : "-") : fmt::format("{:.4g}", v); };
  return fmt::format("candidate produced {} at {} where the golden is {} ({} non-finite mismatches)", kind(c),
                     format_index(name, s.first_nonfinite_at), std::isfinite(g) ? "finite (" + kind(g) + ")" : kind(g),
                     s.nonfinite_mismatches);
}

}  // namespace

TensorCheck judge(const JudgeInput& in, const Tolerance& tol, std::optional<double> golden_max) {
  if (!in.candidate || !in.golden) fail(ErrorKind::internal, "judge: missing tensor " + in.name);
  TensorCheck check;
  check.name = in.name;
  check.shape = in.golden->shape();
  require_same_shape(*in.candidate, *in.golden, in.name);
  check.ref_max_abs = golden_max ? *golden_max : max_abs_finite(*in.golden);
  const DType dtype = in.candidate->dtype();
  ErrorStats& c = check.candidate;
  const std::int64_t n = std::max<std::int64_t>(in.golden->numel(), 1);

  const auto override_it = tol.overrides.find(in.name);
  const std::optional<FixedTolerance> fixed =
      override_it != tol.overrides.end() ? std::optional(override_it->second) : tol.fixed;

  bool ok = true;
  std::string reason;
  if (fixed) {
    const double L = static_cast<double>(std::max<std::int64_t>(in.reduction_length, 1));
    const double scale = L > 1024 ? std::sqrt(L / 1024.0) : 1.0;
    const double atol = fixed->atol * scale;
    check.rule = fmt::format("fixed atol={:g} rtol={:g}{}", fixed->atol, fixed->rtol,
                             scale > 1 ? fmt::format(" x{:.2f} (L={})", scale, in.reduction_length) : "");
    check.elem_tolerance = atol + fixed->rtol * check.ref_max_abs;
    check.row_tolerance = 0;
    StatsJob cand{in.candidate, dtype, Threshold{true, atol, fixed->rtol}, {}, 0};
    stats_pass({&cand}, *in.golden, check.ref_max_abs);
    c = std::move(cand.stats);
    check.mismatches = cand.mismatches;
    ok = check.mismatches == 0;
    reason = fmt::format("{} of {} elements exceed atol+rtol*|golden|; max |err| {:.3e} at {}", check.mismatches, n,
                         c.max_abs, format_index(in.name, c.max_at));
  } else {
    if (!in.baseline) fail(ErrorKind::internal, "judge: the baseline rule needs a baseline for " + in.name);
    // Candidate and baseline in one pass. The mismatch count needs the baseline's maximum first; it
    // is 0 whenever the candidate's maximum is within the tolerance, and counted in a pass of its
    // own otherwise (failing tensors only).
    StatsJob cand{in.candidate, dtype, Threshold{}, {}, 0};
    StatsJob base{in.baseline, in.baseline->dtype(), Threshold{}, {}, 0};
    stats_pass({&cand, &base}, *in.golden, check.ref_max_abs);
    c = std::move(cand.stats);
    check.baseline = std::move(base.stats);
    const ErrorStats& b = *check.baseline;
    // The baseline's maximum is a sample of 2N element errors (two baselines); for a tensor of a
    // handful of elements (dalpha has 3) that maximum is often far below the spread of legitimate
    // error, so k grows like sqrt(32 / N) below 32 elements (docs/tolerances.md). A gradient summed
    // over tokens (dphi, dgamma, dbias, dalpha) adds per-token terms that each end one token's
    // coefficient backward: with T tokens its element errors are at most T independent draws.
    std::int64_t draws = std::max<std::int64_t>(in.golden->numel(), 1);
    if (!in.per_token && in.tokens > 0) draws = std::min(draws, in.tokens);
    const double samples = static_cast<double>(draws);
    const double small_sample = samples < 32 ? std::sqrt(32.0 / samples) : 1.0;
    const double k = (in.role == TensorRole::output ? tol.k_output : tol.k_gradient) * small_sample;
    // The floor covers a baseline that happens to be exact: one rounding of the output (bf16), or
    // the sqrt(L) ulps a length-L f32 reduction may legitimately differ by.
    const double L = static_cast<double>(std::max<std::int64_t>(in.reduction_length, 1));
    // f32 results of long reductions also inherit cancellation (a sum much smaller than its terms),
    // which the magnitude of the result does not show: they get twice the ulps.
    const double floor = dtype == DType::bf16 ? tol.floor_ulps * ulp(dtype, check.ref_max_abs)
                                              : 2 * tol.floor_ulps * ulp(dtype, check.ref_max_abs) * std::sqrt(L);
    // Per-row floor in relative terms: a few bf16 unit roundoffs, far below the relative error of 1
    // a zeroed or skipped row shows.
    const double row_floor = tol.floor_ulps * ulp(DType::bf16, 1.0) / 2;
    check.rule = fmt::format("baseline k={:.3g}, floor {:g} ulp", k, tol.floor_ulps);
    check.elem_tolerance = k * b.max_abs + floor;
    check.row_tolerance = in.per_token ? k * b.worst_row_rel_l2 + row_floor : 0;
    if (c.max_abs > check.elem_tolerance) {
      StatsJob count{in.candidate, dtype, Threshold{true, check.elem_tolerance, 0}, {}, 0};
      stats_pass({&count}, *in.golden, check.ref_max_abs);
      check.mismatches = count.mismatches;
    }
    const bool elem_ok = c.max_abs <= check.elem_tolerance;
    const bool row_ok = !in.per_token || c.worst_row_rel_l2 <= check.row_tolerance;
    ok = elem_ok && row_ok;
    if (!elem_ok) {
      reason = fmt::format("max |err| {:.3e} at {} > {:g} x baseline {:.3e} + floor {:.3e}", c.max_abs,
                           format_index(in.name, c.max_at), k, b.max_abs, floor);
    } else if (!row_ok) {
      reason = fmt::format("row {} relative L2 {:.3e} > {:g} x baseline worst row {:.3e} + {:.3e}", c.worst_row,
                           c.worst_row_rel_l2, k, b.worst_row_rel_l2, row_floor);
    } else {
      reason = fmt::format("max |err| {:.3e} <= {:.3e}; worst row rel L2 {:.3e} <= {:.3e}", c.max_abs,
                           check.elem_tolerance, c.worst_row_rel_l2, check.row_tolerance);
    }
  }
  if (c.nonfinite_mismatches > 0) {
    ok = false;
    reason = describe_nonfinite(in.name, *in.candidate, *in.golden, c);
    check.mismatches += c.nonfinite_mismatches;
  }
  check.mismatch_fraction = static_cast<double>(check.mismatches) / static_cast<double>(n);
  check.verdict = ok ? Verdict::pass : Verdict::fail;
  check.reason = std::move(reason);
  return check;
}

}  // namespace mhc::verify
