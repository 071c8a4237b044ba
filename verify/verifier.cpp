#include "verify/verifier.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <new>

#include <fmt/format.h>

#include "core/error.hpp"
#include "verify/casegen.hpp"
#include "verify/compare.hpp"
#include "verify/diagnose.hpp"
#include "verify/exec_backend.hpp"
#include "verify/op_runner.hpp"

namespace mhc::verify {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

struct Cancelled {};

void check_stop(const std::stop_token& stop) {
  if (stop.stop_requested()) throw Cancelled{};
}

// First result tensor whose bytes differ between two runs of the same backend on the same input.
std::string first_difference(const TensorMap& a, const TensorMap& b) {
  for (const auto& [name, t] : a) {
    const auto it = b.find(name);
    if (it == b.end() || !same_bytes(t, it->second)) return name;
  }
  return {};
}

// The baseline rule estimates legitimate rounding variation from a sample; one sample of a
// maximum is noisy when few independent errors feed a tensor (T = 1, a dozen mix logits), so the
// verifier draws two (the emulated backend in the candidate's precision with reordered
// operations, and the plain f32 implementation) and keeps, per tensor, the larger error. The same
// pass gives max |golden| of each tensor (golden_max), which judge needs too.
TensorMap larger_error(const TensorMap& golden, TensorMap a, const TensorMap& b, std::map<std::string, double>& golden_max) {
  for (auto& [name, t] : a) {
    const auto other = b.find(name);
    const auto g = golden.find(name);
    if (other == b.end() || g == golden.end()) continue;
    const BaselineMaxima m = max_abs_errors(t, other->second, g->second);
    if (m.b > m.a) t = other->second;
    golden_max[name] = m.golden;
  }
  return a;
}

// Decomposition holds every tap and component of every backend: several times what verifying
// takes. Why `spec` cannot be decomposed on this machine, or "".
std::string too_large_to_decompose(const CaseSpec& spec) {
  const std::uint64_t need = case_peak_bytes(spec, CaseWork::decompose), limit = CaseLimits{}.max_bytes;
  if (need <= limit) return {};
  return fmt::format("decomposing this case needs about {} MiB of host memory, over this machine's limit of {} MiB "
                     "(three quarters of its memory)",
                     need >> 20, limit >> 20);
}

}  // namespace

struct Verifier::Impl {
  VerifyOptions options;
  std::unique_ptr<Backend> candidate;
  std::string candidate_name = candidate->name();
  std::unique_ptr<Backend> golden = make_backend("golden");
  std::unique_ptr<Backend> baseline;         // in the candidate's precision, reordered
  std::unique_ptr<Backend> second_baseline;  // the plain f32 implementation, unless it is the candidate

  explicit Impl(VerifyOptions o)
      : options(std::move(o)),
        candidate(options.allow_exec ? make_candidate_backend(options.backend, options.call_timeout)
                                     : make_backend(options.backend)) {
    baseline = make_backend(options.precision.empty() ? candidate->baseline_name() : precision_baseline(options.precision));
    if (candidate->name() != "f32" && baseline->name() != "f32") second_baseline = make_backend("f32");
  }

  // A case line's tol= is the truth for its profile (so a reproduce line judges like the sweep
  // did); the options' per-tensor overrides apply to every profile.
  Tolerance tolerance_for(const CaseSpec& spec) const {
    if (spec.tolerance == options.tolerance.profile) return options.tolerance;
    Tolerance t = tolerance_profile(spec.tolerance);
    t.overrides = options.tolerance.overrides;
    return t;
  }

  std::string baseline_names(const Tolerance& tolerance, const Backend& base) const {
    if (tolerance.fixed) return "";
    return second_baseline ? base.name() + ", " + second_baseline->name() : base.name();
  }

  // Judges `candidate` results (from a backend run or a file) and fills the report. With `working`
  // (a copy of `inputs`), the backends run on it without copies of their own (run_op_in_place).
  void evaluate(CaseReport& report, const CaseSpec* spec, Op op, const Semantics& s, const Tolerance& tolerance,
                Backend& baseline_backend, const TensorMap& inputs, TensorMap* working, const OpRun* candidate_run,
                const TensorMap& candidate_results, const std::stop_token& stop) {
    // Every missing result at once, before the golden and the baselines run for nothing.
    std::string missing;
    for (const auto& name : result_names(op, s)) {
      if (!candidate_results.count(name)) missing += (missing.empty() ? "\"" : ", \"") + name + "\"";
    }
    if (!missing.empty()) invalid_input("the candidate provides no " + missing);
    const Shape shape = shape_of(inputs);
    auto run = [&](Backend& backend) {
      return working ? run_op_in_place(backend, op, s, *working, inputs) : run_op(backend, op, s, inputs, false);
    };
    const OpRun gold = run(*golden);
    report.backend_seconds += gold.backend_seconds;
    check_stop(stop);
    OpRun base, second;
    const bool use_baseline = !tolerance.fixed;  // per-tensor overrides are fixed rules
    if (use_baseline) {
      base = run(baseline_backend);
      report.backend_seconds += base.backend_seconds;
      if (second_baseline) {
        second = run(*second_baseline);
        report.backend_seconds += second.backend_seconds;
      }
    }
    // Choosing between the baselines is verification work.
    std::map<std::string, double> golden_max;
    if (second_baseline && use_baseline) {
      base.results = larger_error(gold.results, std::move(base.results), second.results, golden_max);
    }
    check_stop(stop);

    Findings findings;
    if (candidate_run) findings.modified_input = candidate_run->modified_input;
    if (candidate_run && options.check_determinism) {
      const OpRun again = run(*candidate);
      report.backend_seconds += again.backend_seconds;
      findings.nondeterministic = first_difference(candidate_results, again.results);
      check_stop(stop);
    }

    for (const auto& name : result_names(op, s)) {
      const auto c = candidate_results.find(name);
      JudgeInput in{name, role_of(name), &c->second, &gold.results.at(name),
                    use_baseline ? &base.results.at(name) : nullptr, reduction_length(op, name, shape, s),
                    is_per_token(name), shape.T};
      const auto m = golden_max.find(name);
      report.tensors.push_back(
          judge(in, tolerance, m != golden_max.end() ? std::optional(m->second) : std::nullopt));
    }

    bool failed = !findings.modified_input.empty() || !findings.nondeterministic.empty();
    for (const auto& t : report.tensors) failed |= t.verdict == Verdict::fail;
    report.verdict = failed ? Verdict::fail : Verdict::pass;

    if ((failed && options.diagnose) || options.always_decompose) {
      check_stop(stop);
      // A failing case too large to decompose keeps its verdict without a diagnosis.
      if (const std::string why = too_large_to_decompose(report.spec); !why.empty()) {
        report.diagnosis = Diagnosis{"unknown", "not diagnosed: " + why, "", "", "", {}};
        return;
      }
      DiagnoseInput d{op, s, shape, inputs, gold.results, candidate_results, base.results, report.tensors,
                      findings, candidate_run ? candidate.get() : nullptr, *golden, baseline_backend, tolerance, spec};
      // Diagnosis (failing cases only, or `decompose`) reruns backends under other hypotheses:
      // counted as backend time as a whole.
      const auto t0 = Clock::now();
      Decomposition dec = decompose_and_diagnose(d, failed);
      report.backend_seconds += seconds_since(t0);
      report.decomposition = std::move(dec.rows);
      if (failed) report.diagnosis = std::move(dec.diagnosis);
    }
  }

  template <class Body>
  void guarded(CaseReport& report, Body&& body) {
    const auto t0 = Clock::now();
    try {
      body();
    } catch (const Cancelled&) {
      report.verdict = Verdict::error;
      report.error = "cancelled";
    } catch (const Error& e) {
      report.verdict = Verdict::error;
      report.error = e.what();
      report.error_kind = e.kind();
    } catch (const std::bad_alloc&) {
      report.verdict = Verdict::error;
      report.error = "out of host memory running this case; use a smaller shape";
    } catch (const std::exception& e) {
      report.verdict = Verdict::error;
      report.error = std::string("internal error: ") + e.what();
      report.error_kind = ErrorKind::internal;
    }
    report.seconds = seconds_since(t0);
  }
};

namespace {

// Every absent input at once, and the likely cause when the tensors are the other op's (a post file
// checked as pre reported only the missing results before).
void require_inputs(const CheckRequest& request) {
  const auto& t = request.tensors;
  std::string missing;
  for (const auto& name : input_names(request.op, request.semantics)) {
    if (!t.count(name)) missing += (missing.empty() ? "\"" : ", \"") + name + "\"";
  }
  if (missing.empty()) return;
  const Op other = request.op == Op::pre ? Op::post : Op::pre;
  std::vector<std::string> own = input_names(request.op, request.semantics), theirs;
  const std::vector<std::string> own_results = result_names(request.op, request.semantics);
  own.insert(own.end(), own_results.begin(), own_results.end());
  std::vector<std::string> candidates = input_names(other, request.semantics);
  const std::vector<std::string> other_results = result_names(other, request.semantics);
  candidates.insert(candidates.end(), other_results.begin(), other_results.end());
  std::string foreign;
  for (const auto& name : candidates) {
    if (t.count(name) && std::find(own.begin(), own.end(), name) == own.end()) foreign += (foreign.empty() ? "" : ", ") + name;
  }
  invalid_input(fmt::format("no input {} for {}{}", missing, to_string(request.op),
                            foreign.empty() ? ""
                                            : fmt::format(": the tensors {} are {}'s; is the op right (--op, metadata "
                                                          "\"op\")?",
                                                          foreign, to_string(other))));
}

}  // namespace

std::string precision_baseline(const std::string& precision) {
  if (precision == "f32") return "emulated+reorder";
  if (precision == "tf32" || precision == "bf16gemm" || precision == "bf16dx") return "emulated:" + precision + "+reorder";
  invalid_input(fmt::format("precision \"{}\": choose f32, tf32 (phi' rounded to TF32 for the projection), bf16gemm "
                            "(the projection's output m rounded to bf16) or bf16dx (dx kept in bf16 between the "
                            "stages that add to it)",
                            precision));
}

Verifier::Verifier(VerifyOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Verifier::~Verifier() = default;

const std::string& Verifier::backend_name() const { return impl_->candidate_name; }

CaseReport Verifier::run(const CaseSpec& spec, std::stop_token stop) {
  CaseReport report;
  report.spec = spec;
  report.backend = impl_->candidate_name;
  // A GPU backend's name says which device ran it ("cuda", "cuda:1"); everything else runs here.
  report.device = report.backend.starts_with("cuda") ? report.backend : "cpu";
  report.reproduce =
      fmt::format("mhc-verify decompose {} --backend {}", shell_quote(spec.to_string()), shell_word(report.backend));
  if (!impl_->options.precision.empty()) report.reproduce += " --precision " + impl_->options.precision;
  impl_->guarded(report, [&] {
    const Tolerance tolerance = impl_->tolerance_for(spec);
    report.baseline = impl_->baseline_names(tolerance, *impl_->baseline);
    validate(spec.shape, spec.semantics);
    // `decompose` would find out only after verifying the case, which alone may take minutes.
    if (const std::string why = impl_->options.always_decompose ? too_large_to_decompose(spec) : "";
        !why.empty()) {
      fail(ErrorKind::environment, why + ": decompose a smaller shape (`run` can still verify this one)");
    }
    const TensorMap inputs = case_tensors(spec);
    TensorMap working = inputs;  // one copy per case, which every backend call runs on
    check_stop(stop);
    const OpRun cand = run_op_in_place(*impl_->candidate, spec.op, spec.semantics, working, inputs);
    report.backend_seconds += cand.backend_seconds;
    check_stop(stop);
    impl_->evaluate(report, &spec, spec.op, spec.semantics, tolerance, *impl_->baseline, inputs, &working, &cand,
                    cand.results, stop);
  });
  return report;
}

CaseReport Verifier::check(const CheckRequest& request, std::stop_token stop) {
  CaseReport report;
  report.spec.op = request.op;
  report.spec.preset = request.preset;
  report.spec.semantics = request.semantics;
  report.backend = request.label.empty() ? "tensors" : request.label;
  impl_->guarded(report, [&] {
    // The implementation's declared precision picks the baseline (a TF32 kernel is judged against
    // the TF32 emulation); without one, the verifier's own.
    const std::unique_ptr<Backend> declared =
        request.precision.empty() ? nullptr : make_backend(precision_baseline(request.precision));
    Backend& baseline = declared ? *declared : *impl_->baseline;
    report.baseline = impl_->baseline_names(impl_->options.tolerance, baseline);
    require_inputs(request);
    report.spec.shape = shape_of(request.tensors);
    validate(report.spec.shape, request.semantics);
    report.reproduce = "mhc-verify check " + shell_quote(request.label);
    require_finite_inputs(request.op, request.semantics, request.tensors);
    impl_->evaluate(report, nullptr, request.op, request.semantics, impl_->options.tolerance, baseline,
                    request.tensors, nullptr, nullptr, request.tensors, stop);
  });
  return report;
}

}  // namespace mhc::verify
