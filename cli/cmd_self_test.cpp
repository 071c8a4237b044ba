// `mhc-verify self-test`: the harness proves it catches the public bug classes.
#include <iostream>

#include <fmt/format.h>

#include "cli/common.hpp"
#include "verify/report_format.hpp"
#include "verify/selftest.hpp"

namespace mhc::cli {

CLI::App* add_self_test(CLI::App& app, int& exit) {
  auto* sub = app.add_subcommand("self-test", "run every mutant and correct backend; exit 1 if a mutant survives, "
                                              "is mislocalised, or a correct backend fails");
  struct Args {
    verify::SelfTestOptions options;
  };
  auto args = std::make_shared<Args>();
  sub->add_option("--random", args->options.random_cases, "random cases per correct backend (false-failure check)")
      ->check(CLI::Range(0, 10000000));
  sub->add_option("--jobs,-j", args->options.jobs, "cases in parallel")->check(CLI::Range(1, 256));
  sub->add_option("--only", args->options.only, "run only these mutants");
  sub->callback([args, &exit] {
    const bool tty = stderr_is_terminal();
    auto progress = [tty](const std::string& line) {
      if (tty) std::cerr << "  " << line << "\n";
    };
    const verify::SelfTestResult r = verify::run_self_test(args->options, progress);
    std::cout << fmt::format("{:<30} {:<8} {:<9} {:<24} {:<24} {:<14} {}\n", "mutant", "caught", "right dx",
                             "diagnosis", "expected", "tensor", "case / problem");
    int caught = 0, localised = 0;
    for (const auto& m : r.mutants) {
      caught += m.caught;
      localised += m.localised;
      std::cout << fmt::format("{:<30} {:<8} {:<9} {:<24} {:<24} {:<14} {}\n", m.info.name,
                               m.caught ? (m.localised ? "yes" : "MISLOC") : "NO",
                               fmt::format("{}/{}", m.localised_cases, m.failing_cases), m.diagnosis.tag, m.info.diagnosis,
                               m.diagnosis.tensor, m.problem.empty() ? m.case_line : m.problem);
      if (m.caught) std::cout << fmt::format("{:<30} {}\n", "", m.diagnosis.sentence);
    }
    std::cout << fmt::format("\nmutants: {}/{} caught, {}/{} localised\n", caught, r.mutants.size(), localised,
                             r.mutants.size());
    std::cout << fmt::format("correct backends: {} random cases, {} false failures\n", r.correct_cases,
                             r.false_failures.size());
    for (const auto& f : r.false_failures) {
      std::cout << fmt::format("  FALSE FAILURE on {}: {} -- {}\n", f.backend, f.report.spec.to_string(),
                               verify::outcome_message(f.report));
    }
    const int passed = localised + (r.correct_cases - static_cast<int>(r.false_failures.size()));
    const int failed = static_cast<int>(r.mutants.size()) - localised + static_cast<int>(r.false_failures.size());
    std::cout << fmt::format("self-test: {} passed, {} failed\n", passed, failed);
    exit = r.ok() ? ok : check_failed;
  });
  return sub;
}

}  // namespace mhc::cli
