#include "verify/selftest.hpp"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "core/error.hpp"
#include "verify/random_cases.hpp"
#include "verify/verifier.hpp"

namespace mhc::verify {
namespace {

CaseSpec line(const std::string& s) { return CaseSpec::parse(s); }

std::string failing_names(const CaseReport& r) {
  std::string s;
  for (const auto& t : r.tensors) {
    if (t.verdict == Verdict::fail) s += (s.empty() ? "" : ",") + t.name;
  }
  return s;
}

bool contains_name(const std::string& list, const std::string& name) {
  return ("," + list + ",").find("," + name + ",") != std::string::npos;
}

// Is the diagnosis the one BUGS.md predicts for this mutant?
std::string localisation_problem(const MutantInfo& m, const CaseReport& r) {
  if (!r.diagnosis) return "no diagnosis";
  const Diagnosis& d = *r.diagnosis;
  if (d.tag != m.diagnosis) return fmt::format("diagnosis \"{}\", expected \"{}\"", d.tag, m.diagnosis);
  const std::string failing = failing_names(r);
  if (d.tensor != m.tensor && !contains_name(failing, m.tensor)) {
    return fmt::format("blamed tensor \"{}\" (failing: {}), expected \"{}\"", d.tensor, failing, m.tensor);
  }
  if (!m.component.empty() && d.component != m.component) {
    return fmt::format("component \"{}\", expected \"{}\"", d.component, m.component);
  }
  return {};
}

// Runs `count` indices over `jobs` threads, each with its own state from `make_state`.
template <class State, class MakeState, class Body>
void parallel_for(int count, int jobs, MakeState make_state, Body body) {
  std::atomic<int> next{0};
  std::vector<std::thread> threads;
  for (int j = 0; j < std::max(jobs, 1); ++j) {
    threads.emplace_back([&] {
      State state = make_state();
      for (int i = next++; i < count; i = next++) body(state, i);
    });
  }
  for (auto& t : threads) t.join();
}

}  // namespace

bool SelfTestResult::ok() const {
  for (const auto& m : mutants) {
    if (!m.caught || !m.localised) return false;
  }
  return false_failures.empty();
}

std::vector<CaseSpec> self_test_cases() {
  // Ordered from the plainest case to the most specific; each line exists because some bug class
  // of BUGS.md hides from the ones before it.
  return {
      line("pre T=8 n=4 C=48 preset=deepseek seed=1 dist=normal"),
      line("pre T=6 n=3 C=80 preset=deepseek seed=2 dist=normal"),
      line("pre T=8 n=4 C=40 preset=deepseek seed=3 dist=wide_logits repeats=3"),
      line("pre T=8 n=4 C=40 preset=deepseek seed=4 dist=near_zero_rows"),
      line("pre T=8 n=4 C=40 preset=deepseek seed=5 dist=zero_rows"),
      line("pre T=64 n=4 C=80 preset=deepseek seed=6 dist=normal"),
      line("pre T=7 n=2 C=33 preset=mhc_ops seed=7 dist=normal"),
      line("pre T=256 n=4 C=16 preset=deepseek seed=8 dist=normal"),
      line("pre T=8 n=4 C=40 preset=deepseek seed=9 dist=large"),
      line("post T=8 n=4 C=48 preset=deepseek seed=1 dist=normal"),
      line("post T=6 n=3 C=80 preset=deepseek seed=2 dist=normal"),
      line("post T=64 n=4 C=80 preset=deepseek seed=6 dist=normal"),
  };
}

std::vector<std::string> correct_backends() {
  return {"emulated", "emulated:tf32", "emulated:bf16gemm", "emulated:bf16dx", "f32"};
}

SelfTestResult run_self_test(const SelfTestOptions& options, const std::function<void(const std::string&)>& progress) {
  SelfTestResult result;
  std::vector<MutantInfo> mutants;
  std::string runnable;  // for the error message
  for (const auto& m : mutant_catalog()) {
    if (m.diagnosis == "crash") continue;  // kills its process: exercised by the service's isolation tests
    runnable += (runnable.empty() ? "" : ", ") + m.name;
    if (options.only.empty() || std::find(options.only.begin(), options.only.end(), m.name) != options.only.end()) {
      mutants.push_back(m);
    }
  }
  // A typo in a CI gate's --only would otherwise select nothing and pass.
  for (const auto& name : options.only) {
    if (std::none_of(mutants.begin(), mutants.end(), [&](const MutantInfo& m) { return m.name == name; })) {
      invalid_input(fmt::format("self-test --only {}: not a mutant the self-test runs (crash mutants kill their "
                                "process and are tested by the service); choose from {}",
                                name, runnable));
    }
  }
  if (options.random_cases < 0 || options.jobs < 1) {
    invalid_input(fmt::format("self-test: need random_cases >= 0 and jobs >= 1, got {} and {}", options.random_cases,
                              options.jobs));
  }
  result.mutants.resize(mutants.size());
  const auto cases = self_test_cases();
  std::mutex mu;

  parallel_for<int>(static_cast<int>(mutants.size()), options.jobs, [] { return 0; }, [&](int&, int i) {
    MutantOutcome out;
    out.info = mutants[static_cast<std::size_t>(i)];
    VerifyOptions vo;
    vo.backend = "mutant:" + out.info.name;
    Verifier verifier(vo);
    // Localised when the diagnosis is right on at least one case that exposes the bug (a bug that
    // barely shows on one input may be ambiguous there); the count of right diagnoses is reported.
    for (const auto& spec : cases) {
      if (to_string(spec.op) != out.info.op) continue;
      const CaseReport r = verifier.run(spec);
      if (r.verdict != Verdict::fail) continue;
      ++out.failing_cases;
      const std::string problem = localisation_problem(out.info, r);
      out.localised_cases += problem.empty();
      if (!out.caught || (!out.localised && problem.empty())) {
        out.caught = true;
        out.case_line = spec.to_string();
        out.failing_tensors = failing_names(r);
        if (r.diagnosis) out.diagnosis = *r.diagnosis;
        out.problem = problem;
        out.localised = problem.empty();
      }
    }
    if (!out.caught) out.problem = "survived every self-test case";
    const std::lock_guard lock(mu);
    if (progress) progress(fmt::format("mutant {:<32} {}", out.info.name, out.caught ? (out.localised ? "caught" : "caught, mislocalised") : "SURVIVED"));
    result.mutants[static_cast<std::size_t>(i)] = std::move(out);
  });

  const auto backends = correct_backends();
  const int total = options.random_cases * static_cast<int>(backends.size());
  parallel_for<std::map<std::string, std::unique_ptr<Verifier>>>(
      total, options.jobs, [] { return std::map<std::string, std::unique_ptr<Verifier>>{}; },
      [&](auto& verifiers, int i) {
        const std::string& backend = backends[static_cast<std::size_t>(i) % backends.size()];
        auto& v = verifiers[backend];
        if (!v) {
          VerifyOptions vo;
          vo.backend = backend;
          vo.diagnose = true;
          v = std::make_unique<Verifier>(vo);
        }
        const CaseReport r = v->run(random_case(static_cast<std::uint64_t>(i) / backends.size()));
        const std::lock_guard lock(mu);
        ++result.correct_cases;
        if (r.verdict != Verdict::pass) result.false_failures.push_back({backend, r});
        if (progress && result.correct_cases % 100 == 0) {
          progress(fmt::format("correct backends: {}/{} random cases, {} false failures", result.correct_cases, total,
                               result.false_failures.size()));
        }
      });
  return result;
}

}  // namespace mhc::verify
