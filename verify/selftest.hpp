// `mhc-verify self-test`: proves the harness catches the bugs of BUGS.md. Every mutant must fail
// and be localised (tensor, component, diagnosis tag) on the self-test sweep; correct
// implementations that are not the baseline (each emulated precision mode, the plain f32 backend)
// must produce zero false failures on random cases.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "kernels/mutants/mutants.hpp"
#include "verify/report.hpp"

namespace mhc::verify {

struct MutantOutcome {
  MutantInfo info;
  bool caught = false;
  bool localised = false;
  int failing_cases = 0;    // self-test cases on which it failed
  int localised_cases = 0;  // of which the diagnosis was right
  std::string case_line;    // the first case localised correctly (else the first that caught it)
  Diagnosis diagnosis;    // the verifier's diagnosis on that case
  std::string failing_tensors;
  std::string problem;    // why the localisation is wrong, empty when right
};

struct FalseFailure {
  std::string backend;
  CaseReport report;
};

struct SelfTestResult {
  std::vector<MutantOutcome> mutants;
  int correct_cases = 0;  // random cases run on correct backends
  std::vector<FalseFailure> false_failures;
  bool ok() const;
};

struct SelfTestOptions {
  int random_cases = 300;  // per correct backend
  int jobs = 1;
  std::vector<std::string> only;  // mutant names to run (all when empty)
};

// The fixed sweep the mutants run on (both ops; shapes, n and distributions that expose them).
std::vector<CaseSpec> self_test_cases();
// Correct backends checked for false failures.
std::vector<std::string> correct_backends();

// Throws Error(invalid_input) for an --only name that is not a runnable mutant, random_cases < 0
// or jobs < 1, before running anything.
SelfTestResult run_self_test(const SelfTestOptions& options,
                             const std::function<void(const std::string& line)>& progress = {});

}  // namespace mhc::verify
