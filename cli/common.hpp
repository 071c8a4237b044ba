// Shared plumbing of the subcommands: exit codes, colour policy, report files.
#pragma once

#include <atomic>
#include <csignal>
#include <stop_token>
#include <string>
#include <thread>

#include <CLI/CLI.hpp>

#include "verify/report.hpp"

namespace mhc::cli {

// DESIGN.md "CLI": 0 all passed, 1 a check failed, 2 bad usage or input, 3 infrastructure.
enum Exit : int { ok = 0, check_failed = 1, bad_input = 2, infrastructure = 3 };

struct ReportFiles {
  std::string json, junit, md, html;
  std::string color = "auto";  // auto | always | never
  void add_options(CLI::App& app);
  bool color_stdout() const;
  bool color_stderr() const;
  // Throws Error(invalid_input) naming the flag and the OS reason when a requested file cannot be
  // written (missing directory, a directory, no permission), so that a typo costs no sweep. Creates
  // and truncates nothing. Call before running anything.
  void preflight() const;
  // Writes every requested file, carrying on past one that fails. Returns `verdict` when all were
  // written; otherwise says on stderr which file failed, why, and which verdict the exit code
  // `infrastructure` replaces, and returns that.
  int write(const verify::SweepReport& report, int verdict) const;
};

// Exit code of a finished sweep: failures and crashes are check failures; otherwise an error of
// the infrastructure (environment, internal) gives 3, else one of bad input (invalid_input,
// unsupported) gives 2.
int exit_code(const verify::SweepReport& report);

// Prints the table and the summary line to stdout.
void print_report(const verify::SweepReport& report, const ReportFiles& files, bool only_failures = false);

bool stderr_is_terminal();

// While alive, SIGINT and SIGTERM request a stop instead of killing the process, so that a run
// can report what finished; a second signal ends the process at once. The signals are blocked in
// this thread and in every thread started meanwhile, and taken by a thread of its own (sigwait):
// a stop_source is not async-signal-safe.
class InterruptGuard {
 public:
  InterruptGuard();
  ~InterruptGuard();
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;
  std::stop_token token() const { return stop_.get_token(); }
  int signal() const { return signal_; }  // the signal that stopped the run, 0 if none

 private:
  sigset_t old_mask_;
  std::stop_source stop_;
  std::atomic<int> signal_{0};
  std::atomic<bool> finished_{false};
  std::thread waiter_;
};

// Exit code of a run stopped by `signal` (the shell's convention, 128 + signal number), after
// marking the cases it did not finish as interrupted.
int interrupted(verify::SweepReport& report, int signal);

// Crash mutants kill the process that runs them; only `serve`'s worker processes contain that.
// Throws Error(unsupported) for one, pointing at --server.
void refuse_local_crash_backend(const std::string& backend);

// The flags of run and decompose for program backends (pipe:/exec:): `--precision`, the arithmetic
// the program was written for, which picks its baseline (built-in backends declare their own), and
// `--call-timeout`. check_program_options throws Error(invalid_input) when either is given for
// another backend.
struct ProgramOptions {
  std::string precision;
  double call_timeout = 0;  // seconds; 0: no limit
};
void add_program_options(CLI::App& sub, ProgramOptions& options);
void check_program_options(const std::string& backend, const ProgramOptions& options);

// Subcommand registration. Each returns the subcommand; its callback stores the exit code.
CLI::App* add_run(CLI::App& app, int& exit);
CLI::App* add_check(CLI::App& app, int& exit);
CLI::App* add_decompose(CLI::App& app, int& exit);
CLI::App* add_self_test(CLI::App& app, int& exit);
CLI::App* add_golden(CLI::App& app, int& exit);
CLI::App* add_info(CLI::App& app, int& exit);
CLI::App* add_merge(CLI::App& app, int& exit);
CLI::App* add_serve(CLI::App& app, int& exit);
CLI::App* add_bench(CLI::App& app, int& exit);

}  // namespace mhc::cli
