#include "verify/sweep_runner.hpp"

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "core/error.hpp"
#include "verify/casegen.hpp"
#include "verify/memory_budget.hpp"

namespace mhc::verify {
namespace {

// What a case may hold at its peak: a failing case is decomposed when diagnosis is on. An invalid
// case takes nothing; the verifier reports why it is invalid.
std::uint64_t peak_bytes(const CaseSpec& spec, const VerifyOptions& options) {
  try {
    return case_peak_bytes(spec, options.diagnose || options.always_decompose ? CaseWork::decompose : CaseWork::run);
  } catch (const Error&) {
    return 0;
  }
}

}  // namespace

SweepReport run_planned(const std::string& sweep_name, const std::vector<SweepCase>& cases,
                        const VerifyOptions& options, int jobs, const ProgressFn& progress, std::stop_token stop,
                        SweepPosition position) {
  const auto t0 = std::chrono::steady_clock::now();
  SweepReport report;
  report.name = sweep_name;
  report.cases.resize(cases.size());
  std::atomic<std::size_t> next{0};
  std::size_t done = 0;
  std::mutex mu;
  MemoryBudget budget(CaseLimits{}.max_bytes);

  auto worker = [&](Verifier& verifier) {
    for (std::size_t i = next++; i < cases.size(); i = next++) {
      CaseReport r;
      if (!cases[i].skip_reason.empty()) {
        r.spec = cases[i].spec;
        r.backend = verifier.backend_name();
        r.verdict = Verdict::skip;
        r.error = cases[i].skip_reason;
      } else if (stop.stop_requested()) {
        r.spec = cases[i].spec;
        r.backend = verifier.backend_name();
        r.verdict = Verdict::error;
        r.error = "cancelled";
      } else {
        const MemoryBudget::Lease lease = budget.take(peak_bytes(cases[i].spec, options), stop);
        r = verifier.run(cases[i].spec, stop);
      }
      r.index = position.first_index + static_cast<std::int64_t>(i) * position.index_stride;
      const std::lock_guard lock(mu);
      report.cases[i] = std::move(r);
      ++done;
      if (progress) progress(done, cases.size(), report.cases[i]);
    }
  };

  // Build every verifier first so a bad backend name fails before any case runs.
  const int threads = std::max(1, std::min<int>(jobs, static_cast<int>(std::max<std::size_t>(cases.size(), 1))));
  std::vector<std::unique_ptr<Verifier>> verifiers;
  for (int j = 0; j < threads; ++j) verifiers.push_back(std::make_unique<Verifier>(options));
  report.backend = verifiers.front()->backend_name();
  std::vector<std::thread> pool;
  for (int j = 1; j < threads; ++j) pool.emplace_back(worker, std::ref(*verifiers[static_cast<std::size_t>(j)]));
  worker(*verifiers.front());
  for (auto& t : pool) t.join();

  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return report;
}

}  // namespace mhc::verify
