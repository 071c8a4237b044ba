// `mhc-verify [run] --shapes sweep.yaml`: the main job.
#include <csignal>
#include <cstdlib>
#include <iostream>

#include <fmt/format.h>
#include <rapidcheck.h>

#include "cli/common.hpp"
#include "cli/shard.hpp"
#include "core/error.hpp"
#include "verify/random_cases.hpp"
#include "verify/report_format.hpp"
#include "verify/report_text.hpp"
#include "verify/sweep.hpp"
#include "verify/sweep_runner.hpp"

namespace mhc::cli {
namespace {

struct RunArgs {
  std::string shapes;
  std::string backend = "auto";
  std::string tolerance;
  std::string shard;
  int jobs = 1;
  bool list = false;
  int random = 0;
  bool only_failures = false;
  ReportFiles files;
};

// Property-based mode: RapidCheck generates cases and shrinks a failure to the smallest one.
int run_random(const RunArgs& args) {
  if (!std::getenv("RC_PARAMS")) {
    setenv("RC_PARAMS", fmt::format("max_success={} verbose_progress=0", args.random).c_str(), 1);
  }
  verify::VerifyOptions options;
  options.backend = args.backend;
  if (!args.tolerance.empty()) options.tolerance = verify::tolerance_profile(args.tolerance);
  verify::Verifier verifier(options);
  verify::CaseReport last_failure;
  const bool passed = rc::check("backend " + verifier.backend_name() + " matches the golden", [&](const verify::CaseSpec& spec) {
    verify::CaseReport r = verifier.run(spec);
    if (r.verdict != verify::Verdict::pass) {
      last_failure = r;
      RC_FAIL(spec.to_string() + ": " + verify::outcome_message(r));
    }
  });
  if (passed) {
    std::cout << fmt::format("{} passed, 0 failed\n", args.random);
    return ok;
  }
  verify::SweepReport sweep;
  sweep.name = "random";
  sweep.backend = verifier.backend_name();
  sweep.cases.push_back(last_failure);
  std::cout << "smallest failing case after shrinking:\n";
  print_report(sweep, args.files);
  args.files.write(sweep);
  return check_failed;
}

int run_sweep(const RunArgs& args) {
  verify::Sweep plan = verify::load_sweep(args.shapes);
  std::optional<Shard> shard = args.shard.empty() ? shard_from_environment() : std::optional(parse_shard(args.shard));
  if (shard) plan.cases = verify::select_shard(plan.cases, static_cast<std::size_t>(shard->index),
                                               static_cast<std::size_t>(shard->count));
  if (args.list) {
    for (const auto& c : plan.cases) {
      std::cout << c.spec.to_string() << (c.skip_reason.empty() ? "" : "    # skip: " + c.skip_reason) << "\n";
    }
    std::cout << fmt::format("{} cases\n", plan.cases.size());
    return ok;
  }
  verify::VerifyOptions options;
  options.backend = args.backend;
  options.tolerance =
      args.tolerance.empty() ? verify::to_tolerance(plan.tolerance) : verify::tolerance_profile(args.tolerance);
  const bool tty = stderr_is_terminal();
  const bool color = args.files.color_stderr();
  std::cerr << fmt::format("mhc-verify: {} cases from {}{} on backend {}\n", plan.cases.size(), args.shapes,
                           shard ? fmt::format(" (shard {}/{})", shard->index, shard->count) : "", args.backend);
  auto progress = [&](std::size_t done, std::size_t total, const verify::CaseReport& r) {
    // Interactive: a live progress line; otherwise one line per non-passing case, so a CI log shows
    // problems as they happen without drowning in passes.
    if (tty) std::cerr << "\r\033[K" << verify::progress_line(done, total, r, color) << (done == total ? "\n" : "");
    else if (r.verdict != verify::Verdict::pass) std::cerr << verify::progress_line(done, total, r, false) << "\n";
  };
  const verify::SweepReport report = verify::run_planned(plan.name, plan.cases, options, args.jobs, progress);
  print_report(report, args.files, args.only_failures);
  args.files.write(report);
  return exit_code(report);
}

}  // namespace

CLI::App* add_run(CLI::App& app, int& exit) {
  auto* sub = app.add_subcommand("run", "verify a backend over a YAML sweep (the default command)");
  auto args = std::make_shared<RunArgs>();
  sub->add_option("--shapes,-s", args->shapes, "sweep file (see examples/ and docs/sweeps.md)")
      ->check(CLI::ExistingFile);
  sub->add_option("--backend,-b", args->backend,
                  "auto (cuda when a GPU is present, else emulated), cuda, emulated, golden, f32, mutant:NAME");
  sub->add_option("--tolerance", args->tolerance, "override the sweep's tolerance profile");
  sub->add_option("--jobs,-j", args->jobs, "cases in parallel")->check(CLI::Range(1, 256));
  sub->add_option("--shard", args->shard, "run shard I of N (I/N); default: GTEST_*, JOB_COMPLETION_INDEX, SLURM_*");
  sub->add_flag("--list", args->list, "print the expanded case lines and exit");
  sub->add_option("--random", args->random, "property-based mode: N random cases with shrinking (RapidCheck)")
      ->check(CLI::Range(1, 10000000));
  sub->add_flag("--only-failures", args->only_failures, "print only failing cases in the table");
  args->files.add_options(*sub);
  sub->callback([args, &exit] {
    if (args->random > 0) exit = run_random(*args);
    else if (!args->shapes.empty()) exit = run_sweep(*args);
    else invalid_input("nothing to run: give --shapes FILE (try examples/quick.yaml) or --random N");
  });
  return sub;
}

}  // namespace mhc::cli
