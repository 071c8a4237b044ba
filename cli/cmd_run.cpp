// `mhc-verify [run] --shapes sweep.yaml`: the main job.
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <optional>
#include <set>

#include <fmt/format.h>
#include <rapidcheck.h>

#include "cli/common.hpp"
#include "cli/shard.hpp"
#include "core/error.hpp"
#include "server/auth.hpp"
#include "server/client.hpp"
#include "verify/exec_backend.hpp"
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
  ProgramOptions program;
  std::string shard;
  std::vector<std::string> cases;  // --case: run only these lines of the sweep
  int jobs = 1;
  bool jobs_given = false;  // --jobs on the command line (remote default: 8 calls in flight)
  bool list = false;
  int random = 0;
  bool only_failures = false;
  std::vector<std::string> servers;
  std::string token_file, tls_ca, tls_cert, tls_key;
  ReportFiles files;
};

// The backend a report names for "auto": what the servers resolve it to (GetInfo
// default_backend), so a remote report equals a local one. The first target that answers says.
std::string resolved_backend(server::Client& client, const RunArgs& args) {
  if (args.backend != "auto") return args.backend;
  for (std::size_t t = 0;; ++t) {
    try {
      return client.info(t).default_backend();
    } catch (const Error&) {
      if (t + 1 == args.servers.size()) throw;
    }
  }
}

// Remote mode: the cases run on gRPC servers (round_robin over every address a target names; a
// server that dies has its cases retried on the others). Skipped cases never leave this process.
// The sweep's tolerance (or --tolerance) travels with each case, so the servers judge as a local
// run would. When a case cannot be run anywhere, the cases already finished are kept, the rest
// are reported as errors, and `stopped` says why (run_sweep writes the report, then fails).
verify::SweepReport run_remote(const RunArgs& args, const verify::Sweep& plan, verify::SweepPosition position,
                               const verify::ProgressFn& progress, std::stop_token interrupt,
                               std::optional<Error>& stopped) {
  server::ClientOptions co;
  co.targets = args.servers;
  co.tls_ca = args.tls_ca;
  co.tls_cert = args.tls_cert;
  co.tls_key = args.tls_key;
  if (args.jobs_given) co.in_flight = args.jobs;
  if (!args.token_file.empty()) co.token = server::read_token_file(args.token_file);
  server::Client client(co);
  const std::string backend = resolved_backend(client, args);
  std::vector<verify::CaseSpec> specs;
  std::vector<std::size_t> where;
  verify::SweepReport report;
  report.name = plan.name;
  report.backend = backend;
  report.cases.resize(plan.cases.size());
  for (std::size_t i = 0; i < plan.cases.size(); ++i) {
    verify::CaseReport& r = report.cases[i];
    r.index = position.first_index + static_cast<std::int64_t>(i) * position.index_stride;
    if (plan.cases[i].skipped()) {
      r.spec = plan.cases[i].spec;
      r.backend = backend;
      r.verdict = verify::Verdict::skip;
      r.error = plan.cases[i].skip_reason;
      continue;
    }
    specs.push_back(plan.cases[i].spec);
    where.push_back(i);
  }
  server::RunCaseOptions ro;
  ro.backend = args.backend == "auto" ? "" : args.backend;
  ro.tolerance = args.tolerance.empty() ? plan.tolerance : verify::SweepTolerance{args.tolerance, {}};
  std::size_t done = 0;
  const auto t0 = std::chrono::steady_clock::now();
  auto results = client.run_cases(
      specs, ro, [&](std::size_t, const verify::CaseReport& r) { if (progress) progress(++done, specs.size(), r); },
      interrupt);
  for (std::size_t k = 0; k < results.reports.size(); ++k) {
    const auto index = report.cases[where[k]].index;
    report.cases[where[k]] = std::move(results.reports[k]);
    report.cases[where[k]].index = index;
    if (report.cases[where[k]].backend.empty()) report.cases[where[k]].backend = backend;  // not run
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  stopped = std::move(results.error);
  return report;
}

// Property-based mode: RapidCheck generates cases and shrinks a failure to the smallest one.
int run_random(const RunArgs& args) {
  if (!std::getenv("RC_PARAMS")) {
    setenv("RC_PARAMS", fmt::format("max_success={} verbose_progress=0", args.random).c_str(), 1);
  }
  refuse_local_crash_backend(args.backend);
  verify::VerifyOptions options;
  options.backend = args.backend;
  options.allow_exec = true;
  check_program_options(args.backend, args.program);
  options.precision = args.program.precision;
  options.call_timeout = std::chrono::milliseconds(static_cast<long long>(args.program.call_timeout * 1000));
  if (!args.tolerance.empty()) options.tolerance = verify::tolerance_profile(args.tolerance);
  verify::Verifier verifier(options);
  verify::SweepReport sweep;
  sweep.name = "random";
  sweep.backend = verifier.backend_name();
  // Every case RapidCheck ran (RC_PARAMS may ask for fewer or more than --random), until the first
  // failure; after it, the shrinking steps keep only the smallest failing case.
  std::vector<verify::CaseReport> passed_cases;
  std::optional<verify::CaseReport> smallest_failure;
  const auto t0 = std::chrono::steady_clock::now();
  const bool passed = rc::check("backend " + verifier.backend_name() + " matches the golden", [&](verify::CaseSpec spec) {
    if (!args.tolerance.empty()) spec.tolerance = args.tolerance;
    verify::CaseReport r = verifier.run(spec);
    if (r.verdict != verify::Verdict::pass) {
      smallest_failure = r;
      RC_FAIL(spec.to_string() + ": " + verify::outcome_message(r));
    }
    if (!smallest_failure) passed_cases.push_back(std::move(r));
  });
  sweep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  sweep.cases = std::move(passed_cases);
  if (!passed) {
    // RapidCheck reports false for a failure it could not keep (e.g. a generation error) too.
    if (!smallest_failure) fail(ErrorKind::internal, "RapidCheck failed without a failing case (see its output above)");
    sweep.cases.push_back(*smallest_failure);
    std::cout << "smallest failing case after shrinking:\n";
  }
  print_report(sweep, args.files, /*only_failures=*/true);
  return args.files.write(sweep, exit_code(sweep));
}

// The cases of the sweep that `lines` name (compared as canonical case lines), in sweep order. A
// line the sweep does not hold is an error, so a stale reproduce line says so instead of running
// nothing.
std::vector<verify::SweepCase> select_cases(const std::vector<verify::SweepCase>& cases,
                                            const std::vector<std::string>& lines, const std::string& source) {
  std::set<std::string> wanted;
  for (const auto& line : lines) wanted.insert(verify::CaseSpec::parse(line).to_string());
  std::vector<verify::SweepCase> out;
  for (const auto& c : cases) {
    if (wanted.erase(c.spec.to_string())) out.push_back(c);
  }
  if (!wanted.empty()) invalid_input(fmt::format("--case '{}': no such case in {} (see --list)", *wanted.begin(), source));
  return out;
}

int run_sweep(const RunArgs& args) {
  verify::Sweep plan = verify::load_sweep(args.shapes);
  if (!args.cases.empty()) plan.cases = select_cases(plan.cases, args.cases, args.shapes);
  // --tolerance replaces the sweep's profile, which is every case line's tol= (docs/sweeps.md).
  if (!args.tolerance.empty()) {
    for (auto& c : plan.cases) c.spec.tolerance = args.tolerance;
  }
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
  options.allow_exec = true;
  check_program_options(args.backend, args.program);
  options.precision = args.program.precision;
  options.call_timeout = std::chrono::milliseconds(static_cast<long long>(args.program.call_timeout * 1000));
  options.tolerance =
      args.tolerance.empty() ? verify::to_tolerance(plan.tolerance) : verify::tolerance_profile(args.tolerance);
  if (args.servers.empty()) refuse_local_crash_backend(args.backend);
  if (!args.servers.empty() && verify::is_program_backend(args.backend)) {
    invalid_input("--backend " + args.backend.substr(0, 5) +
                  "... runs a program on this machine and cannot be sent to a server: drop --server");
  }
  const bool tty = stderr_is_terminal();
  const bool color = args.files.color_stderr();
  std::cerr << fmt::format("mhc-verify: {} cases from {}{} on backend {}\n", plan.cases.size(), args.shapes,
                           shard ? fmt::format(" (shard {}/{})", shard->index, shard->count) : "", args.backend);
  // Before the client's threads start, so that they inherit the blocked signals.
  const InterruptGuard interrupt;
  std::mutex progress_mutex;  // remote results arrive on the client's threads
  auto last_line = std::chrono::steady_clock::now();
  auto progress = [&](std::size_t done, std::size_t total, const verify::CaseReport& r) {
    const std::lock_guard lock(progress_mutex);
    // After an interrupt the cases that never started all end at once; the summary counts them.
    if (interrupt.signal() && r.verdict == verify::Verdict::error && r.error == "cancelled") return;
    // Interactive: a live progress line. Otherwise one line per non-passing case, so a CI log shows
    // problems as they happen without drowning in passes, and a pass at least every
    // kHeartbeat, so that a slow sweep does not look like a hung one.
    constexpr auto kHeartbeat = std::chrono::seconds(10);
    const auto now = std::chrono::steady_clock::now();
    const bool problem = r.verdict != verify::Verdict::pass && r.verdict != verify::Verdict::skip;
    if (tty) {
      std::cerr << "\r\033[K" << verify::progress_line(done, total, r, color) << (done == total ? "\n" : "");
    } else if (problem || now - last_line >= kHeartbeat || done == total) {
      std::cerr << verify::progress_line(done, total, r, false) << "\n";
      last_line = now;
    }
  };
  const verify::SweepPosition position =
      shard ? verify::SweepPosition{shard->index, shard->count} : verify::SweepPosition{};
  std::optional<Error> remote_stopped;
  verify::SweepReport report =
      args.servers.empty()
          ? verify::run_planned(plan.name, plan.cases, options, args.jobs, progress, interrupt.token(), position)
          : run_remote(args, plan, position, progress, interrupt.token(), remote_stopped);
  // Per-tensor overrides live only in the sweep file; a decompose line would judge without them.
  if (!options.tolerance.overrides.empty()) {
    for (auto& c : report.cases) {
      if (c.reproduce.empty()) continue;
      c.reproduce = fmt::format("mhc-verify run --shapes {} --case {} --backend {}{}",
                                verify::shell_quote(std::filesystem::absolute(args.shapes).string()),
                                verify::shell_quote(c.spec.to_string()), verify::shell_word(c.backend),
                                args.program.precision.empty() ? "" : " --precision " + args.program.precision);
    }
  }
  const int signal = interrupt.signal();
  const int verdict = signal ? interrupted(report, signal) : exit_code(report);
  print_report(report, args.files, args.only_failures);
  const int code = args.files.write(report, verdict);
  if (remote_stopped) throw *remote_stopped;  // after the partial report is written: exit 3 (or 2)
  return code;
}

}  // namespace

CLI::App* add_run(CLI::App& app, int& exit) {
  auto* sub = app.add_subcommand("run", "verify a backend over a YAML sweep (the default command)");
  auto args = std::make_shared<RunArgs>();
  auto* shapes = sub->add_option("--shapes,-s", args->shapes, "sweep file (see examples/ and docs/sweeps.md)")
      ->check(CLI::ExistingFile);
  sub->add_option("--backend,-b", args->backend,
                  "auto (cuda when a GPU is present, else emulated), cuda, emulated, golden, f32, mutant:NAME, or "
                  "pipe:COMMAND / exec:COMMAND (your implementation as a program: docs/check.md)");
  sub->add_option("--tolerance", args->tolerance, "override the sweep's tolerance profile");
  add_program_options(*sub, args->program);
  auto* jobs = sub->add_option("--jobs,-j", args->jobs, "cases in parallel (with --server: calls in flight, default 8)")
                   ->check(CLI::Range(1, 256))
                   ->each([args](const std::string&) { args->jobs_given = true; });
  auto* shard = sub->add_option("--shard", args->shard, "run shard I of N (I/N); default: GTEST_*, JOB_COMPLETION_INDEX, SLURM_*");
  auto* cases = sub->add_option("--case", args->cases, "run only this case line of the sweep (repeatable; as --list prints it)")
                    ->needs(shapes);
  auto* list = sub->add_flag("--list", args->list, "print the expanded case lines and exit");
  auto* random = sub->add_option("--random", args->random, "property-based mode: N random cases with shrinking (RapidCheck)")
      ->check(CLI::Range(1, 10000000));
  sub->add_option("--server", args->servers,
                  "run on gRPC servers (repeatable): HOST:PORT, ipv4:h1:p,h2:p or dns:///name:port (round_robin)");
  sub->add_option("--token-file", args->token_file, "bearer token for --server")->check(CLI::ExistingFile);
  auto* tls_ca = sub->add_option("--tls-ca", args->tls_ca, "PEM CA bundle: talk TLS to --server")->check(CLI::ExistingFile);
  // For servers started with --tls-client-ca, which refuse a client without a certificate.
  auto* tls_cert = sub->add_option("--tls-cert", args->tls_cert, "PEM client certificate chain for --server")
                       ->check(CLI::ExistingFile)
                       ->needs(tls_ca);
  auto* tls_key = sub->add_option("--tls-key", args->tls_key, "PEM private key of --tls-cert")->check(CLI::ExistingFile);
  tls_cert->needs(tls_key);
  tls_key->needs(tls_cert);
  sub->add_flag("--only-failures", args->only_failures, "print only failing cases in the table");
  // Property-based mode generates its own cases and runs them one at a time, here: a sweep, a
  // selection of it, parallelism or servers would be silently ignored.
  for (auto* ignored : {shapes, jobs, shard, cases, list, sub->get_option("--server")}) random->excludes(ignored);
  args->files.add_options(*sub);
  sub->callback([args, &exit] {
    args->files.preflight();
    if (args->random > 0) exit = run_random(*args);
    else if (!args->shapes.empty()) exit = run_sweep(*args);
    else invalid_input("nothing to run: give --shapes FILE (try examples/quick.yaml) or --random N");
  });
  return sub;
}

}  // namespace mhc::cli
