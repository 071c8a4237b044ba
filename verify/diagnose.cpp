// The diagnosis: name the bug class of BUGS.md from the error's shape and from probes.
// Detectors run from the most specific evidence to the most generic; the first that matches wins.
#include <algorithm>
#include <cmath>
#include <limits>
#include <functional>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "core/error.hpp"
#include "kernels/taps.hpp"
#include "verify/casegen.hpp"
#include "verify/compare.hpp"
#include "verify/diagnose_detail.hpp"
#include "verify/op_runner.hpp"

namespace mhc::verify {
namespace {

using Detector = std::function<std::optional<Diagnosis>()>;

Diagnosis make(std::string tag, std::string tensor, std::string component, std::string sentence) {
  Diagnosis g;
  g.tag = std::move(tag);
  g.tensor = std::move(tensor);
  g.component = std::move(component);
  g.sentence = std::move(sentence);
  return g;
}

std::string ranges(const std::vector<std::int64_t>& v) {
  std::string s;
  for (std::size_t i = 0; i < v.size();) {
    std::size_t j = i;
    while (j + 1 < v.size() && v[j + 1] == v[j] + 1) ++j;
    if (!s.empty()) s += ",";
    s += j == i ? std::to_string(v[i]) : fmt::format("{}..{}", v[i], v[j]);
    i = j + 1;
  }
  return s;
}

class Diagnoser {
 public:
  Diagnoser(const DiagnoseInput& d, const std::vector<TensorCheck>& rows, const TapSet& taps)
      : d_(d), rows_(rows), taps_(taps) {
    for (const auto& c : d.checks) {
      if (c.verdict == Verdict::fail) failing_.push_back(&c);
    }
    for (const auto& r : rows) {
      if (r.verdict == Verdict::fail && !r.name.starts_with("stage.")) failing_rows_.push_back(&r);
    }
  }

  Diagnosis run() {
    const std::vector<Detector> detectors = {
        [&] { return inputs_modified(); },  [&] { return nondeterminism(); }, [&] { return nonfinite(); },
        [&] { return block_confined(); },   [&] { return low_norm_rows(); },  [&] { return zeroed_streams(); },
        [&] { return untouched_tail(); },   [&] { return missing_dx_term(); },
        [&] { return sinkhorn_start_shift(); }, [&] { return alternative_semantics(); },
        [&] { return transposed_h(); },
        [&] { return ignored_h(); },        [&] { return batch_dropped(); },     [&] { return precision_mode(); },
        [&] { return n_specific(); },       [&] { return channel_cutoff(); }, [&] { return block_rows(); },
        [&] { return precision(); },
    };
    for (const auto& detect : detectors) {
      if (auto g = detect()) return finish(std::move(*g));
    }
    const std::string t = failing_.empty() ? "" : failing_[0]->name;
    if (auto g = constant_factor()) return finish(std::move(*g));
    return finish(make("unknown", t, finest_component(),
                       failing_.empty() ? "the case failed without a failing tensor"
                                        : fmt::format("{} exceeds its tolerance ({}); no known bug signature matched",
                                                      t, failing_[0]->reason)));
  }

 private:
  const DiagnoseInput& d_;
  const std::vector<TensorCheck>& rows_;
  const TapSet& taps_;
  std::vector<const TensorCheck*> failing_;
  std::vector<const TensorCheck*> failing_rows_;

  // ---- helpers -------------------------------------------------------------------------------

  Diagnosis finish(Diagnosis g) {
    if (g.component.empty()) g.component = finest_component();
    for (const auto* r : failing_rows_) {
      if (r->name.starts_with("tap.")) {
        g.first_stage = r->name;
        break;
      }
    }
    for (const auto& r : rows_) {
      if (r.verdict == Verdict::fail && r.name.starts_with("stage.")) {
        g.fields["first_bad_stage_in_isolation"] = r.name.substr(6, r.name.find(':') - 6);
        break;
      }
    }
    std::string names;
    for (const auto* c : failing_) names += (names.empty() ? "" : ",") + c->name;
    g.fields["failing_tensors"] = names;
    return g;
  }

  bool fails(const std::string& name) const {
    return std::any_of(failing_.begin(), failing_.end(), [&](auto* c) { return c->name == name; });
  }
  bool row_fails(const std::string& name) const {
    return std::any_of(failing_rows_.begin(), failing_rows_.end(), [&](auto* c) { return c->name == name; });
  }

  // The finest failing component: the first forward tap that diverges when the forward is wrong,
  // else the gradient part, a single failing mix block beating a whole part.
  std::string finest_component() const {
    for (const auto* r : failing_rows_) {
      if (r->name.starts_with("tap.")) return r->name;
    }
    return finest_part();
  }

  std::string finest_part() const {
    for (const char* family : {"part.dbias_", "part.dx_mm_", "part.dphi_", "part.dgamma_"}) {
      std::vector<std::string> bad;
      for (auto b : taps::blocks) {
        const std::string name = family + std::string(b);
        if (row_fails(name)) bad.push_back(name);
      }
      if (bad.size() == 1) return bad[0];
    }
    for (const auto* r : failing_rows_) {
      if (r->name.starts_with("part.")) return r->name;
    }
    return {};
  }

  const Tensor& cand(const std::string& n) const { return d_.candidate.at(n); }
  const Tensor& gold(const std::string& n) const { return d_.golden.at(n); }
  const TensorCheck* check(const std::string& n) const {
    for (const auto& c : d_.checks) {
      if (c.name == n) return &c;
    }
    return nullptr;
  }

  // Elements of a failing tensor above its element tolerance.
  std::vector<std::int64_t> bad_elements(const TensorCheck& c) const {
    std::vector<std::int64_t> out;
    const Tensor& a = cand(c.name);
    const Tensor& b = gold(c.name);
    for (std::int64_t i = 0; i < b.numel(); ++i) {
      const double x = a.get(i), y = b.get(i);
      if (std::isfinite(x) != std::isfinite(y) || std::fabs(x - y) > c.elem_tolerance) out.push_back(i);
    }
    return out;
  }

  // Do the candidate's failing tensors match `alt` (golden results under another hypothesis) within
  // the tolerances the baseline justified?
  // A hypothesis explains a tensor only if the candidate is within tolerance of it and much closer
  // to it than to the golden (so tiny errors are not "explained" by every small perturbation).
  // With `spread` (the hypothesis computed in another operation order), a tensor may also differ
  // from `alt` by twice the spread's largest difference: rounding variation of the hypothesis itself.
  bool explained_by(const TensorMap& alt, const std::set<std::string>& except = {},
                    const TensorMap* spread = nullptr) const {
    int explained = 0;
    for (const auto* c : failing_) {
      if (except.count(c->name)) continue;
      const auto it = alt.find(c->name);
      if (it == alt.end()) return false;
      const ErrorStats s = error_stats(cand(c->name), it->second, cand(c->name).dtype());
      const double slack = spread ? 2 * error_stats(spread->at(c->name), it->second, cand(c->name).dtype()).max_abs : 0;
      // A tensor that failed only the per-row rule (small values on a few rows, e.g. near-zero
      // token rows) is judged by its rows: its largest element error may be rounding elsewhere.
      const bool row_failure = c->candidate.max_abs <= c->elem_tolerance && c->row_tolerance > 0;
      const bool closer = row_failure ? s.worst_row_rel_l2 <= std::min(c->row_tolerance, 0.5 * c->candidate.worst_row_rel_l2)
                                      : s.max_abs <= 0.5 * c->candidate.max_abs;
      if (s.nonfinite_mismatches > 0 || s.max_abs > c->elem_tolerance + slack || !closer) return false;
      ++explained;
    }
    return explained > 0;
  }

  TensorMap golden_under(const Semantics& s, const TensorMap& inputs) const {
    return run_op(d_.golden_backend, d_.op, s, inputs, false).results;
  }

  std::vector<double> token_mean_square() const {
    const Tensor& x = d_.inputs.at("x");
    const std::int64_t T = d_.shape.T, K = d_.shape.K();
    std::vector<double> ms(static_cast<std::size_t>(T), 0.0);
    for (std::int64_t t = 0; t < T; ++t) {
      double s = 0;
      for (std::int64_t k = 0; k < K; ++k) s += x.get(t * K + k) * x.get(t * K + k);
      ms[static_cast<std::size_t>(t)] = s / static_cast<double>(K);
    }
    return ms;
  }

  // Least-squares scale of candidate against golden over flat elements [begin, end); nullopt when
  // the golden is zero there.
  static std::optional<double> scale(const Tensor& c, const Tensor& g, std::int64_t begin, std::int64_t end) {
    double cg = 0, gg = 0;
    for (std::int64_t i = begin; i < end; ++i) {
      cg += c.get(i) * g.get(i);
      gg += g.get(i) * g.get(i);
    }
    if (gg == 0) return std::nullopt;
    return cg / gg;
  }

  // Relative L2 error over flat elements [begin, end) (infinite where the golden is zero there).
  static double rel_error(const Tensor& c, const Tensor& g, std::int64_t begin, std::int64_t end) {
    double ee = 0, gg = 0;
    for (std::int64_t i = begin; i < end; ++i) {
      const double e = c.get(i) - g.get(i);
      ee += e * e;
      gg += g.get(i) * g.get(i);
    }
    return gg > 0 ? std::sqrt(ee / gg) : (ee > 0 ? HUGE_VAL : 0.0);
  }

  // The candidate is n or n^2 times the golden over [begin, end): an accumulation repeated in a
  // nested loop over streams.
  std::optional<Diagnosis> duplicated(const Tensor& c, const Tensor& g, std::int64_t begin, std::int64_t end,
                                      const std::string& tensor, const std::string& component) const {
    const std::optional<double> ratio = scale(c, g, begin, end);
    const double n = static_cast<double>(d_.shape.n);
    if (!ratio || n < 2) return std::nullopt;
    for (double k : {n * n, n}) {
      if (std::fabs(*ratio - k) < 0.02 * k) {
        Diagnosis r = make("duplicate_accumulation", tensor, component,
                           fmt::format("{} is {:.3g} x the golden ({} = {:g}): accumulated {:g} times in a nested loop",
                                       component.empty() ? tensor : component, *ratio, k == n * n ? "n^2" : "n", k, k));
        r.fields["ratio"] = fmt::format("{:.4g}", *ratio);
        return r;
      }
    }
    return std::nullopt;
  }

  // Rows [M, ...] of a mix-block gradient (dbias, dphi) whose error sits in some blocks only, the
  // others matching the golden to rounding: the bug is in those blocks' path. Errors spread over
  // every block (low-precision accumulation, for one) are left to precision().
  std::optional<Diagnosis> rows_confined(const std::string& name) const {
    const Tensor& c = cand(name);
    const Tensor& g = gold(name);
    const std::int64_t n = d_.shape.n, M = mix_count(d_.semantics.resmap, n), row = g.numel() / std::max<std::int64_t>(M, 1);
    const std::int64_t bounds[] = {0, n, 2 * n, M};
    double err[3], worst = 0;
    for (int b = 0; b < 3; ++b) worst = std::max(worst, err[b] = rel_error(c, g, bounds[b] * row, bounds[b + 1] * row));
    std::vector<int> bad;
    for (int b = 0; b < 3; ++b) {
      if (err[b] > 0.01 * worst) bad.push_back(b);
    }
    if (worst == 0 || bad.size() == 3) return std::nullopt;
    if (bad.size() == 1) {
      const int b = bad[0];
      const std::string component = "part." + name + "_" + std::string(taps::blocks[static_cast<std::size_t>(b)]);
      if (auto r = duplicated(c, g, bounds[b] * row, bounds[b + 1] * row, name, component)) return r;
    }
    std::string blocks, rows;
    for (const int b : bad) {
      blocks += (blocks.empty() ? "" : ", ") + std::string(taps::blocks[static_cast<std::size_t>(b)]);
      rows += fmt::format("{}{}..{}", rows.empty() ? "" : ", ", bounds[b], bounds[b + 1] - 1);
    }
    Diagnosis r = make("unknown", name, bad.size() == 1 ? "part." + name + "_" + blocks : "",
                       fmt::format("the error of {} is confined to the {} block{} (rows {}); the other rows match the "
                                   "golden: look for a factor or an index that only that path has (inv_rms, alpha, "
                                   "the Sinkhorn backward)",
                                   name, blocks, bad.size() > 1 ? "s" : "", rows));
    r.fields["block"] = blocks;
    return r;
  }

  // ---- detectors ---------------------------------------------------------------------------

  std::optional<Diagnosis> inputs_modified() const {
    const auto& name = d_.findings.modified_input;
    if (name.empty()) return std::nullopt;
    return make("inputs_modified", name, "",
                fmt::format("the kernel wrote into its input \"{}\" (a result stored through an input pointer?)", name));
  }

  std::optional<Diagnosis> nondeterminism() const {
    const auto& name = d_.findings.nondeterministic;
    if (name.empty()) return std::nullopt;
    return make("nondeterminism", name, "",
                fmt::format("two runs on identical inputs gave bitwise different {}: an order-dependent or racy "
                            "reduction (float atomics, unsynchronised accumulation)",
                            name));
  }

  std::optional<Diagnosis> nonfinite() const {
    for (const auto* c : failing_) {
      if (c->candidate.nonfinite_mismatches == 0) continue;
      const std::int64_t t = c->candidate.first_nonfinite_at.empty() ? -1 : c->candidate.first_nonfinite_at[0];
      const auto ms = token_mean_square();
      Diagnosis g = make("unknown", c->name, "", c->reason);
      if (t >= 0 && t < static_cast<std::int64_t>(ms.size()) && ms[static_cast<std::size_t>(t)] == 0.0) {
        g.tag = "eps_placement";
        g.sentence = c->reason + ", on an all-zero token row: eps_rms is not inside the rsqrt";
      }
      g.fields["token"] = std::to_string(t);
      return g;
    }
    return std::nullopt;
  }

  std::optional<Diagnosis> low_norm_rows() const {
    if (d_.shape.T < 2) return std::nullopt;
    const auto ms = token_mean_square();
    const double low = std::max(1e3 * d_.semantics.eps_rms, 1e-6);
    std::set<std::int64_t> bad_tokens;
    const TensorCheck* first = nullptr;
    for (const auto* c : failing_) {
      if (c->shape.size() < 2 || c->shape[0] != d_.shape.T) return std::nullopt;  // parameter grads: no token axis
      const std::int64_t row = c->shape.empty() ? 1 : gold(c->name).numel() / std::max<std::int64_t>(c->shape[0], 1);
      for (std::int64_t i : bad_elements(*c)) bad_tokens.insert(i / std::max<std::int64_t>(row, 1));
      if (!first) first = c;
    }
    if (bad_tokens.empty() || bad_tokens.size() == static_cast<std::size_t>(d_.shape.T)) return std::nullopt;
    for (std::int64_t t : bad_tokens) {
      if (ms[static_cast<std::size_t>(t)] > low) return std::nullopt;
    }
    Diagnosis g = make("eps_placement", first->name, "",
                       fmt::format("{} is wrong only on the {} zero or low-norm token rows (|x|^2/K <= {:.0e}): "
                                   "eps_rms differs between forward and backward or sits outside the rsqrt",
                                   first->name, bad_tokens.size(), low));
    g.fields["tokens"] = ranges({bad_tokens.begin(), bad_tokens.end()});
    return g;
  }

  std::optional<Diagnosis> zeroed_streams() const {
    for (const auto* c : failing_) {
      if (c->shape.size() != 3 || c->shape[1] != d_.shape.n || c->shape[2] != d_.shape.C || d_.shape.n < 2) continue;
      const std::int64_t T = c->shape[0], n = c->shape[1], C = c->shape[2];
      std::vector<std::int64_t> zero;
      for (std::int64_t i = 0; i < n; ++i) {
        bool cand_zero = true, gold_zero = true;
        for (std::int64_t t = 0; t < T && cand_zero; ++t) {
          for (std::int64_t ch = 0; ch < C; ++ch) {
            const std::int64_t k = (t * n + i) * C + ch;
            cand_zero &= cand(c->name).get(k) == 0.0;
            gold_zero &= gold(c->name).get(k) == 0.0;
          }
        }
        if (cand_zero && !gold_zero) zero.push_back(i);
      }
      if (zero.empty()) continue;
      Diagnosis g = make("bounds_streams", c->name, "",
                         fmt::format("streams {} of {} are exactly zero: the launch grid covers only part of the n = {} "
                                     "streams",
                                     ranges(zero), c->name, n));
      g.fields["streams"] = ranges(zero);
      return g;
    }
    return std::nullopt;
  }

  std::optional<Diagnosis> untouched_tail() const {
    for (const auto* c : failing_) {
      const auto bad = bad_elements(*c);
      if (bad.empty() || bad.front() == 0) continue;
      const std::int64_t from = bad.front(), n = gold(c->name).numel();
      bool tail_zero = true;
      for (std::int64_t i = from; i < n && tail_zero; ++i) tail_zero = cand(c->name).get(i) == 0.0;
      if (!tail_zero) continue;
      Diagnosis g = make("bounds_tail", c->name, "",
                         fmt::format("{} is correct up to flat element {} and zero from there on: the launch covers "
                                     "only the first {} elements",
                                     c->name, from, from));
      g.fields["first_untouched"] = std::to_string(from);
      return g;
    }
    return std::nullopt;
  }

  // Every entry of the Sinkhorn start (softmax(Z) + eps_sk) off by the same amount, beyond rounding:
  // eps_sk left out of the start (kept only in the divisions, sglang #36817) or added twice. The
  // start itself may pass (a shift of eps_sk = 1e-6 is within its tolerance) while the iterates
  // after it fail. Needs the taps.
  std::optional<Diagnosis> sinkhorn_start_shift() const {
    const std::string start = taps::sinkhorn(0);
    if (d_.op != Op::pre || d_.semantics.resmap != ResMap::sinkhorn || !taps_.candidate.count(start) ||
        !taps_.golden.count(start)) {
      return std::nullopt;
    }
    const bool h_fails = fails("h_res") || std::any_of(failing_rows_.begin(), failing_rows_.end(), [](auto* r) {
                           return r->name.starts_with("tap.sinkhorn.");
                         });
    if (!h_fails) return std::nullopt;
    const Tensor& c = taps_.candidate.at(start);
    const Tensor& g = taps_.golden.at(start);
    double lo = std::numeric_limits<double>::infinity(), hi = -lo, largest = 0.0, sum = 0.0;
    for (std::int64_t i = 0; i < g.numel(); ++i) {
      const double diff = c.get(i) - g.get(i);
      lo = std::min(lo, diff);
      hi = std::max(hi, diff);
      sum += diff;
      largest = std::max(largest, std::fabs(g.get(i)));
    }
    // Uniform: the entries' differences vary by less than 5% of the shift plus f32 rounding, and the
    // shift is more than twice that variation (a correct start differs by rounding alone).
    const double shift = sum / static_cast<double>(std::max<std::int64_t>(g.numel(), 1)), spread = hi - lo;
    const double ulp = largest * std::ldexp(1.0, -23);
    if (!std::isfinite(shift) || std::fabs(shift) <= 2 * spread || spread > 0.05 * std::fabs(shift) + 4 * ulp) {
      return std::nullopt;
    }
    const double eps = d_.semantics.eps_sk;
    Diagnosis found = make(
        "eps_placement", failing_.empty() ? "h_res" : failing_[0]->name, start,
        fmt::format("every entry of the Sinkhorn start softmax(Z) + eps_sk is off by {:.3g}{}: eps_sk is {} the start "
                    "(it belongs there and in every division)",
                    shift, eps > 0 ? fmt::format(" ({:.3g} eps_sk)", shift / eps) : "",
                    shift < 0 ? "missing from" : "added again to"));
    found.fields["shift"] = fmt::format("{:.3g}", shift);
    if (eps > 0) found.fields["shift_in_eps_sk"] = fmt::format("{:.2g}", shift / eps);
    return found;
  }

  std::optional<Diagnosis> alternative_semantics() const {
    struct Hypothesis {
      const char* tag;
      std::string sentence;
      Semantics s;
    };
    std::vector<Hypothesis> hs;
    const Semantics& s = d_.semantics;
    Semantics flipped = s;
    flipped.orientation = s.orientation == Orientation::plain ? Orientation::transposed : Orientation::plain;
    if (d_.op == Op::post || s.merged_residual) {
      const bool uses_transpose = flipped.orientation == Orientation::transposed;
      hs.push_back({"orientation",
                    fmt::format("the kernel uses the {} orientation ({} where the convention needs {}): the error "
                                "vanishes for symmetric H",
                                to_string(flipped.orientation), uses_transpose ? "H^T" : "H", uses_transpose ? "H" : "H^T"),
                    flipped});
    }
    const bool sinkhorn = s.resmap == ResMap::sinkhorn || s.resmap == ResMap::sinkhorn_exp;
    if (d_.op == Op::pre && sinkhorn) {
      for (int delta : {-1, +1}) {
        Semantics r = s;
        r.repeats = s.repeats + delta;
        if (r.repeats < 1) continue;
        hs.push_back({"sinkhorn_forward",
                      fmt::format("H matches {} Sinkhorn iterations, not R = {}: an iteration is {}", r.repeats, s.repeats,
                                  delta < 0 ? "dropped" : "added"),
                      r});
      }
      Semantics implicit = s;
      implicit.sinkhorn_grad = s.sinkhorn_grad == SinkhornGrad::exact ? SinkhornGrad::implicit : SinkhornGrad::exact;
      hs.push_back({"sinkhorn_backward",
                    fmt::format("the gradient through Sinkhorn matches the {} backward, not the {} gradient of the "
                                "finite-iteration forward",
                                to_string(implicit.sinkhorn_grad), to_string(s.sinkhorn_grad)),
                    implicit});
    }
    if (d_.op == Op::pre) {
      for (double eps : {0.0, 1e-8, 1e-5, 1e-4}) {
        if (eps == s.eps_rms) continue;
        Semantics e = s;
        e.eps_rms = eps;
        hs.push_back({"eps_placement", fmt::format("the results match eps_rms = {:g}, not {:g}", eps, s.eps_rms), e});
      }
    }
    for (const auto& h : hs) {
      if (explained_by(golden_under(h.s, d_.inputs))) {
        // A Sinkhorn iteration count is a property of H itself, whichever iterate shows it first.
        return make(h.tag, failing_[0]->name, h.tag == std::string("sinkhorn_forward") ? "tap.h_res" : "", h.sentence);
      }
    }
    return std::nullopt;
  }

  // The kernel computes H and then ignores it: its results match the golden with H = identity.
  std::optional<Diagnosis> ignored_h() const {
    if (d_.op != Op::post) {
      if (!fails("h_res") || d_.shape.n < 2) return std::nullopt;
      const Tensor& h = cand("h_res");
      const std::int64_t n = d_.shape.n;
      for (std::int64_t i = 0; i < h.numel(); ++i) {
        const std::int64_t a = (i / n) % n, b = i % n;
        if (h.get(i) != (a == b ? 1.0 : 0.0)) return std::nullopt;
      }
      return make("ignored_input", "h_res", "", "h_res is exactly the identity: H was computed and then discarded");
    }
    TensorMap identity = d_.inputs;
    Tensor& h = identity.at("h_res");
    const std::int64_t n = d_.shape.n;
    for (std::int64_t i = 0; i < h.numel(); ++i) h.set(i, ((i / n) % n) == (i % n) ? 1.0 : 0.0);
    // A kernel that never reads H also never writes its gradient: dh_res is zero, not the golden's.
    const Tensor& dh = cand("dh_res");
    bool dh_zero = true;
    for (std::int64_t i = 0; i < dh.numel() && dh_zero; ++i) dh_zero = dh.get(i) == 0.0;
    if (!explained_by(golden_under(d_.semantics, identity), dh_zero ? std::set<std::string>{"dh_res"}
                                                                    : std::set<std::string>{})) {
      return std::nullopt;
    }
    return make("ignored_input", failing_[0]->name, "",
                "the results equal those with H = identity: H was computed and then discarded");
  }

  // The kernel reads a coefficient without its token (batch) dimension: its results match the
  // golden with token 0's H, h_post or both in every token. Only inputs whose tokens differ show it.
  std::optional<Diagnosis> batch_dropped() const {
    if (d_.op != Op::post || d_.shape.T < 2) return std::nullopt;
    const std::vector<std::vector<std::string>> hypotheses = {{"h_res"}, {"h_post"}, {"h_res", "h_post"}};
    for (const auto& names : hypotheses) {
      TensorMap shared = d_.inputs;
      bool distinct = false;
      for (const auto& name : names) {
        Tensor& h = shared.at(name);
        const std::int64_t per_token = h.numel() / d_.shape.T;
        for (std::int64_t i = per_token; i < h.numel(); ++i) {
          distinct = distinct || h.get(i) != h.get(i % per_token);
          h.set(i, h.get(i % per_token));
        }
      }
      if (!distinct || !explained_by(golden_under(d_.semantics, shared))) continue;
      const std::string what = names.size() == 2 ? "H and h_post" : names[0] == "h_res" ? "H" : "h_post";
      Diagnosis g = make("batch_dropped", failing_[0]->name, "",
                         fmt::format("the results match token 0's {0} used for every token: the kernel reads {0} "
                                     "without its token (batch) dimension; a test whose tokens share one {0} cannot "
                                     "see it",
                                     what));
      g.fields["coefficients"] = names.size() == 2 ? "h_res,h_post" : names[0];
      return g;
    }
    return std::nullopt;
  }

  // A term of dx is missing: dx matches the golden without one of its components (MATH.md step 9;
  // the inverse-RMS term underflows when r^3 is formed first for rows near the top of the bf16 range).
  std::optional<Diagnosis> missing_dx_term() const {
    if (d_.op != Op::pre || !fails("dx")) return std::nullopt;
    // The decomposition already ran the golden with its parts when there was a backend to rerun.
    TensorMap computed;
    const TensorMap* golden_parts = &taps_.golden;
    if (!golden_parts->count(std::string(taps::dx_norm))) {
      computed = run_op(d_.golden_backend, d_.op, d_.semantics, d_.inputs, true).taps;
      golden_parts = &computed;
    }
    const TensorMap& parts = *golden_parts;
    struct Term {
      std::string_view part;
      const char* what;
      const char* why;
    };
    const Term terms[] = {
        {taps::dx_norm, "the inverse-RMS term -(dr r^3 / K) v",
         "never added, or lost to underflow (r^3 formed before the product with dr underflows for rows near the "
         "top of the bf16 range)"},
        {taps::dx_apply, "the apply term h_pre dy", "never added"},
        {taps::dx_mm, "the projection term dm . phi'", "never added"},
    };
    for (const auto& [part, what, why] : terms) {
      const auto it = parts.find(std::string(part));
      if (it == parts.end()) continue;
      TensorMap alt = d_.golden;
      Tensor& dx = alt.at("dx");
      for (std::int64_t i = 0; i < dx.numel(); ++i) dx.set(i, dx.get(i) - it->second.get(i));
      if (!explained_by(alt)) continue;
      return make("missing_factor", "dx", std::string(part),
                  fmt::format("dx matches the golden without {} ({}): that term is {}", what, part, why));
    }
    return std::nullopt;
  }

  // H or its gradient stored with row and column swapped: the candidate is the golden's transpose
  // in every token. (A post kernel that reads H in the other orientation is alternative_semantics.)
  std::optional<Diagnosis> transposed_h() const {
    const std::int64_t n = d_.shape.n, nn = n * n;
    for (const char* name : {"h_res", "dh_res"}) {
      if (n < 2 || !fails(name)) continue;
      const Tensor& c = cand(name);
      const Tensor& g = gold(name);
      double off = 0, off_t = 0;
      for (std::int64_t i = 0; i < g.numel(); ++i) {
        const std::int64_t t = i / nn, row = i % nn / n, col = i % n;
        off += std::pow(c.get(i) - g.get(i), 2);
        off_t += std::pow(c.get(i) - g.get(t * nn + col * n + row), 2);
      }
      if (off_t <= 1e-4 * off) {
        return make("orientation", name, "",
                    fmt::format("{} is the golden's transpose in every token: H is stored with its row and column "
                                "indices swapped",
                                name));
      }
    }
    return std::nullopt;
  }

  // No signature matched, but the first failing tensor is a constant multiple of the golden: say
  // so, it narrows the search to a scale (p, alpha, 1/n, a sum taken twice).
  std::optional<Diagnosis> constant_factor() const {
    if (failing_.empty()) return std::nullopt;
    const std::string& t = failing_[0]->name;
    const Tensor& c = cand(t);
    const Tensor& g = gold(t);
    const std::optional<double> k = scale(c, g, 0, g.numel());
    if (!k || std::fabs(*k - 1) < 0.05) return std::nullopt;
    double rest = 0, cc = 0;
    for (std::int64_t i = 0; i < g.numel(); ++i) {
      rest += std::pow(c.get(i) - *k * g.get(i), 2);
      cc += c.get(i) * c.get(i);
    }
    if (!(rest <= 1e-4 * cc)) return std::nullopt;  // beyond bf16 rounding of a scaled golden
    Diagnosis r = make("unknown", t, finest_component(),
                       fmt::format("{} is {:.4g} x the golden everywhere: a constant factor (p, alpha, 1/n, or a sum "
                                   "taken twice) is applied where it should not be, or missed; no known bug signature "
                                   "matched",
                                   t, *k));
    r.fields["ratio"] = fmt::format("{:.4g}", *k);
    return r;
  }

  // Error confined to one mix block of a gradient; the ratio candidate/golden names the bug.
  std::optional<Diagnosis> block_confined() const {
    if (d_.op != Op::pre) return std::nullopt;
    const std::string part = finest_part();
    const bool block_part = part.ends_with("_res") || part.ends_with("_pre") || part.ends_with("_post");
    std::string tensor, component = part;
    const Tensor *c = nullptr, *g = nullptr;
    if (block_part && taps_.candidate.count(part)) {
      c = &taps_.candidate.at(part);
      g = &taps_.golden.at(part);
      tensor = part.starts_with("part.dx_mm") ? "dx" : part.substr(5, part.rfind('_') - 5);
    } else {
      if (!fails("dbias") || fails("dphi")) return std::nullopt;
      tensor = "dbias";
      c = &cand("dbias");
      g = &gold("dbias");
    }
    if (auto r = duplicated(*c, *g, 0, g->numel(), tensor, component)) return r;
    // Per-token ratio against inv_rms: a missing (or extra) r factor on this block.
    if (c->rank() >= 2 && taps_.golden.count(std::string(taps::inv_rms))) {
      const Tensor& r = taps_.golden.at(std::string(taps::inv_rms));
      const std::int64_t T = d_.shape.T, row = g->numel() / std::max<std::int64_t>(T, 1);
      int missing = 0, extra = 0, tokens = 0;
      for (std::int64_t t = 0; t < T; ++t) {
        double a = 0, b = 0;
        for (std::int64_t i = t * row; i < (t + 1) * row; ++i) {
          a += c->get(i) * g->get(i);
          b += g->get(i) * g->get(i);
        }
        if (b == 0) continue;
        ++tokens;
        const double rho = a / b, rt = r.get(t);
        missing += std::fabs(rho * rt - 1) < 0.02;
        extra += std::fabs(rho / rt - 1) < 0.02;
      }
      if (tokens > 0 && (missing == tokens || extra == tokens)) {
        Diagnosis dg = make("missing_factor", tensor, component,
                            fmt::format("{} is off by exactly the per-token inv_rms factor ({} r): the block is "
                                        "computed {} the 1/rms scaling",
                                        component, missing == tokens ? "missing" : "an extra",
                                        missing == tokens ? "without" : "twice with"));
        return dg;
      }
    }
    return std::nullopt;
  }

  bool case_passes(const CaseSpec& spec) const {
    const TensorMap inputs = case_tensors(spec);
    const TensorMap c = run_op(*d_.candidate_backend, spec.op, spec.semantics, inputs, false).results;
    const TensorMap g = run_op(d_.golden_backend, spec.op, spec.semantics, inputs, false).results;
    const TensorMap b = run_op(d_.baseline_backend, spec.op, spec.semantics, inputs, false).results;
    for (const auto& name : result_names(spec.op, spec.semantics)) {
      JudgeInput in{name, role_of(name), &c.at(name), &g.at(name), &b.at(name),
                    reduction_length(spec.op, name, spec.shape, spec.semantics), is_per_token(name),
                    spec.shape.T};
      if (judge(in, Tolerance{}).verdict != Verdict::pass) return false;
    }
    return true;
  }

  // The candidate rounds where a known lower-precision kernel rounds: its failing tensors match the
  // emulated backend in that mode, not the golden. With a backend to rerun, halving C tells whether
  // the precision changes with K (a kernel that switches GEMMs at a size threshold).
  std::optional<Diagnosis> precision_mode() const {
    struct Mode {
      const char* backend;
      const char* flag;
      const char* what;
    };
    static const Mode modes[] = {
        {"emulated:tf32", "tf32", "phi' rounded to TF32 for the projection, as DeepSeek's TileKernels does"},
        {"emulated:bf16gemm", "bf16gemm", "a bf16 GEMM for the projection that rounds m to bf16, as FlagGems' mhc_pre does"},
        {"emulated:bf16dx", "bf16dx", "dx kept in bf16 between the stages that add to it"},
    };
    if (d_.op != Op::pre) return std::nullopt;  // every mode rounds inside pre only
    auto results = [&](const std::string& backend) {
      return run_op(*make_backend(backend), d_.op, d_.semantics, d_.inputs, false).results;
    };
    for (const Mode& mode : modes) {
      const std::string name = mode.backend;
      if (d_.baseline_backend.name() == name + "+reorder") continue;  // already the candidate's precision
      const TensorMap alt = results(name);
      if (!explained_by(alt)) {
        const TensorMap spread = results(name + "+reorder");
        if (!explained_by(alt, {}, &spread)) continue;
      }
      std::string sentence = fmt::format("the results match {} ({}), not the arithmetic of the baseline {}", name,
                                         mode.what, d_.baseline_backend.name());
      Diagnosis g = make("precision", failing_[0]->name, "", "");
      g.fields["precision"] = mode.flag;
      if (const auto c = passing_channels()) {
        sentence += fmt::format("; the same kernel passes at C = {} (K = {}): its precision changes with K, between "
                                "K = {} and K = {}",
                                *c, *c * d_.shape.n, *c * d_.shape.n, d_.shape.K());
        g.fields["passes_at_k"] = std::to_string(*c * d_.shape.n);
      } else if (!d_.candidate_backend) {
        sentence += fmt::format("; if the kernel computes so by design, declare it: --precision {} (metadata "
                                "\"precision\")",
                                mode.flag);
      }
      g.sentence = sentence;
      return g;
    }
    return std::nullopt;
  }

  // The largest C below the case's, by halving (three at most), at which the candidate passes.
  std::optional<std::int64_t> passing_channels() const {
    if (!d_.spec || !d_.candidate_backend) return std::nullopt;
    CaseSpec smaller = *d_.spec;
    for (int halvings = 0; halvings < 3 && smaller.shape.C > 1; ++halvings) {
      smaller.shape.C /= 2;
      if (case_passes(smaller)) return smaller.shape.C;
    }
    return std::nullopt;
  }

  std::optional<Diagnosis> n_specific() const {
    if (!d_.spec || !d_.candidate_backend || d_.shape.n == 4) return std::nullopt;
    if (d_.spec->semantics.resmap == ResMap::permutations && d_.shape.n > 5) return std::nullopt;
    CaseSpec four = *d_.spec;
    four.shape.n = 4;
    if (!case_passes(four)) return std::nullopt;
    Diagnosis g = make("n_specific", failing_[0]->name, "",
                       fmt::format("correct at n = 4 but wrong at n = {}: a path specialised for n = 4 runs for "
                                   "other n",
                                   d_.shape.n));
    g.fields["n"] = std::to_string(d_.shape.n);
    return g;
  }

  // Probe: perturb x over a channel range of every stream (or one stream) and see whether the
  // candidate's coefficients move while the golden's do.
  std::optional<Diagnosis> channel_cutoff() const {
    if (d_.op != Op::pre || !d_.candidate_backend) return std::nullopt;
    if (!fails("h_post") && !fails("h_res") && !row_fails("tap.m")) return std::nullopt;
    const std::int64_t T = d_.shape.T, n = d_.shape.n, C = d_.shape.C;
    // The probe watches the projection output m when the candidate exposes it (the norm may read
    // the whole row even when the projection does not), else the coefficients.
    const bool has_m = taps_.candidate.count(std::string(taps::m)) > 0;
    auto signal = [&](const TensorMap& in) {
      const OpRun r = run_op(*d_.candidate_backend, d_.op, d_.semantics, in, has_m);
      return has_m ? TensorMap{{"m", r.taps.at(std::string(taps::m))}}
                   : TensorMap{{"h_post", r.results.at("h_post")}, {"h_res", r.results.at("h_res")}};
    };
    const TensorMap base = signal(d_.inputs);
    auto ignores = [&](auto&& in_range) {
      TensorMap probe = d_.inputs;
      Tensor& x = probe.at("x");
      for (std::int64_t t = 0; t < T; ++t)
        for (std::int64_t i = 0; i < n; ++i)
          for (std::int64_t c = 0; c < C; ++c) {
            const std::int64_t k = (t * n + i) * C + c;
            if (in_range(i, c)) x.set(k, x.get(k) * -2.0 + 0.5);
          }
      const TensorMap moved = signal(probe);
      for (const auto& [name, t] : base) {
        if (!bitwise_equal(moved.at(name), t)) return false;
      }
      return true;
    };
    for (std::int64_t c0 = 8; c0 < C; c0 *= 2) {
      if (ignores([&](std::int64_t, std::int64_t c) { return c >= c0; })) {
        Diagnosis g = make("bounds_channels", "h_post", "",
                           fmt::format("the projection ignores channels {}..{} of every stream: a tile of {} channels "
                                       "narrower than the row (C = {})",
                                       c0, C - 1, c0, C));
        g.fields["channels"] = fmt::format("{}..{}", c0, C - 1);
        return g;
      }
    }
    std::vector<std::int64_t> ignored;
    for (std::int64_t i = 0; i < n; ++i) {
      if (ignores([&](std::int64_t s, std::int64_t) { return s == i; })) ignored.push_back(i);
    }
    if (!ignored.empty()) {
      Diagnosis g = make("bounds_channels", "h_post", "",
                         fmt::format("the projection ignores streams {} of x (K = {}): its K loop keeps only the last "
                                     "block",
                                     ranges(ignored), n * C));
      g.fields["streams_ignored"] = ranges(ignored);
      return g;
    }
    return std::nullopt;
  }

  // A check file has no parts, but the rows of dbias and dphi are the mix blocks themselves. After
  // the semantic hypotheses: another eps or R also leaves some blocks nearly untouched.
  std::optional<Diagnosis> block_rows() const {
    if (d_.op != Op::pre || !taps_.candidate.empty()) return std::nullopt;
    for (const char* name : {"dbias", "dphi"}) {
      if (!fails(name)) continue;
      if (auto r = rows_confined(name)) return r;
    }
    return std::nullopt;
  }

  std::optional<Diagnosis> precision() const {
    static const std::set<std::string> token_reductions = {"dphi", "dalpha", "dbias", "dgamma"};
    for (const auto* c : failing_) {
      if (!token_reductions.count(c->name)) return std::nullopt;
      if (c->candidate.rel_l2 > 0.05) return std::nullopt;
    }
    const auto* c = failing_.front();
    Diagnosis g = make("precision", c->name, "",
                       fmt::format("only reductions over tokens fail, with a small relative error ({:.2e} in {}) "
                                   "above the f32 baseline: accumulation over T in low precision (bf16?)",
                                   c->candidate.rel_l2, c->name));
    return g;
  }
};

}  // namespace

Diagnosis diagnose(const DiagnoseInput& d, const std::vector<TensorCheck>& rows, const TapSet& taps) {
  return Diagnoser(d, rows, taps).run();
}

}  // namespace mhc::verify
