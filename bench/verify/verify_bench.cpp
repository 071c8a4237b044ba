// Splits a verified case's wall time into backend time (the forward and backward calls of the
// candidate, its determinism rerun, the golden and both baselines, timed around the calls alone:
// CaseReport::backend_seconds) and verification overhead (everything else: case generation, the
// copy of the inputs and the inputs-unchanged comparisons, choosing the baseline, the determinism
// comparison, error statistics and judging, releasing the tensors). Issue 3 asks for overhead
// <= 10% at T = 4096, n = 4, C = 1024. Case generation (the inputs any test of the kernel needs)
// is timed alone as well, so the rest of the overhead can be read without it.
//
//   mhc_bench_verify --case "pre T=4096 n=4 C=1024 preset=deepseek seed=1" --repeats 3
//
// One aligned line per repeat, then the median; exit 1 if a case does not pass (a benchmark of
// a failing case would time the diagnosis instead).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <string>
#include <chrono>
#include <vector>

#include <fmt/format.h>

#include "verify/casegen.hpp"
#include "verify/op_runner.hpp"
#include "verify/verifier.hpp"

int main(int argc, char** argv) {
  CLI::App app{"time the verifier's overhead on one case"};
  std::string line = "pre T=4096 n=4 C=1024 preset=deepseek seed=1 dist=normal";
  std::string backend = "emulated";
  int repeats = 3;
  app.add_option("--case", line, "the case line");
  app.add_option("--backend", backend, "candidate backend");
  app.add_option("--repeats", repeats, "timed runs (after one warm-up)")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);

  try {
    const mhc::verify::CaseSpec spec = mhc::verify::CaseSpec::parse(line);
    mhc::verify::VerifyOptions options;
    options.backend = backend;
    mhc::verify::Verifier verifier(options);
    std::printf("case: %s, backend %s\n", spec.to_string().c_str(), verifier.backend_name().c_str());
    std::printf("%-8s %10s %12s %12s %9s %12s %14s\n", "run", "case s", "backends s", "overhead s", "overhead",
                "inputs s", "w/o inputs");
    std::vector<double> fractions, judging_fractions;
    for (int r = -1; r < repeats; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      const mhc::TensorMap inputs = mhc::verify::case_tensors(spec);
      const double generation = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const mhc::verify::CaseReport report = verifier.run(spec);
      if (report.verdict != mhc::verify::Verdict::pass) {
        std::fprintf(stderr, "the case did not pass (%s): benchmark a passing case\n",
                     std::string(mhc::verify::to_string(report.verdict)).c_str());
        return 1;
      }
      const double overhead = report.seconds - report.backend_seconds;
      const double fraction = overhead / report.seconds;
      const double judging = std::max(overhead - generation, 0.0) / report.seconds;
      std::printf("%-8s %10.3f %12.3f %12.3f %8.1f%% %12.3f %13.1f%%\n",
                  r < 0 ? "warm-up" : fmt::format("{}", r + 1).c_str(), report.seconds, report.backend_seconds,
                  overhead, 100 * fraction, generation, 100 * judging);
      if (r >= 0) {
        fractions.push_back(fraction);
        judging_fractions.push_back(judging);
      }
    }
    // Judging alone: the tolerance model over every result tensor, on results computed once.
    const mhc::TensorMap inputs = mhc::verify::case_tensors(spec);
    const auto golden = mhc::make_backend("golden");
    const auto candidate = mhc::make_backend(backend);
    const auto baseline = mhc::make_backend(candidate->baseline_name());
    const auto gold = mhc::verify::run_op(*golden, spec.op, spec.semantics, inputs, false).results;
    const auto cand = mhc::verify::run_op(*candidate, spec.op, spec.semantics, inputs, false).results;
    const auto base = mhc::verify::run_op(*baseline, spec.op, spec.semantics, inputs, false).results;
    const auto t0 = std::chrono::steady_clock::now();
    for (const auto& name : mhc::verify::result_names(spec.op, spec.semantics)) {
      const mhc::verify::JudgeInput in{name, mhc::verify::role_of(name), &cand.at(name), &gold.at(name), &base.at(name),
                                       mhc::verify::reduction_length(spec.op, name, spec.shape, spec.semantics),
                                       mhc::verify::is_per_token(name)};
      mhc::verify::judge(in, options.tolerance);
    }
    std::printf("judge over all result tensors: %.3f s\n",
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    std::sort(fractions.begin(), fractions.end());
    std::sort(judging_fractions.begin(), judging_fractions.end());
    std::printf("median overhead: %.1f%% of the case, %.1f%% without input generation (target <= 10%%)\n",
                100 * fractions[fractions.size() / 2], 100 * judging_fractions[judging_fractions.size() / 2]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
  return 0;
}
