#include "cli/common.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <tuple>
#include <utility>
#include <unistd.h>

#include <fmt/format.h>

#include "core/error.hpp"
#include "kernels/mutants/mutants.hpp"
#include "verify/exec_backend.hpp"
#include "verify/report_html.hpp"
#include "verify/report_junit.hpp"
#include "verify/report_markdown.hpp"
#include "verify/report_text.hpp"

namespace mhc::cli {
namespace {

bool color_for(const std::string& mode, int fd) {
  if (mode == "always") return true;
  if (mode == "never") return false;
  const char* no_color = std::getenv("NO_COLOR");
  return isatty(fd) && !(no_color && *no_color);
}

// Why `path` cannot be written as a report file, or "" when it can: it is a writable file, or
// it does not exist in a writable directory. Opens and creates nothing.
std::string unwritable_reason(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return std::strerror(EISDIR);
    return access(path.c_str(), W_OK) == 0 ? "" : std::strerror(errno);
  }
  if (errno != ENOENT) return std::strerror(errno);
  std::string parent = std::filesystem::path(path).parent_path().string();
  if (parent.empty()) parent = ".";
  if (stat(parent.c_str(), &st) != 0) return fmt::format("directory {}: {}", parent, std::strerror(errno));
  if (!S_ISDIR(st.st_mode)) return fmt::format("{}: {}", parent, std::strerror(ENOTDIR));
  if (access(parent.c_str(), W_OK | X_OK) != 0) return fmt::format("directory {}: {}", parent, std::strerror(errno));
  return "";
}

// The OS's reason when writing fails ("No space left on device"), "" on success. stdio rather
// than ofstream because only it keeps errno.
std::string write_file(const std::string& path, const std::string& content) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return std::strerror(errno);
  const bool written = std::fwrite(content.data(), 1, content.size(), f) == content.size() && std::fflush(f) == 0;
  const int write_errno = errno;
  const bool closed = std::fclose(f) == 0;
  if (!written) return std::strerror(write_errno);
  return closed ? "" : std::strerror(errno);
}

}  // namespace

void ReportFiles::add_options(CLI::App& app) {
  app.add_option("--json", json, "write the JSON report (schema_version 1) to this file");
  app.add_option("--junit", junit, "write a JUnit XML report to this file");
  app.add_option("--md", md, "write a Markdown summary to this file");
  app.add_option("--html", html, "write a self-contained HTML report to this file");
  app.add_option("--color", color, "colour on stdout/stderr: auto (TTY and no NO_COLOR), always, never")
      ->check(CLI::IsMember({"auto", "always", "never"}));
}

bool ReportFiles::color_stdout() const { return color_for(color, STDOUT_FILENO); }
bool ReportFiles::color_stderr() const { return color_for(color, STDERR_FILENO); }
bool stderr_is_terminal() { return isatty(STDERR_FILENO); }

InterruptGuard::InterruptGuard() {
  sigset_t stops;
  sigemptyset(&stops);
  sigaddset(&stops, SIGINT);
  sigaddset(&stops, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stops, &old_mask_);
  waiter_ = std::thread([this, stops] {
    int sig = 0;
    while (sigwait(&stops, &sig) == 0 && !finished_) {
      // Programs under test run in groups of their own (verify/exec_backend.hpp): pass it on.
      verify::signal_programs(sig);
      if (signal_.exchange(sig) != 0) std::_Exit(128 + sig);  // asked twice: stop now
      std::cerr << fmt::format("\nmhc-verify: {}: finishing the running cases and writing the reports "
                               "(again to stop at once)\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
      stop_.request_stop();
    }
  });
}

InterruptGuard::~InterruptGuard() {
  finished_ = true;
  pthread_kill(waiter_.native_handle(), SIGTERM);  // wakes sigwait; finished_ makes it no stop
  waiter_.join();
  pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
}

int interrupted(verify::SweepReport& report, int signal) {
  int finished = 0;
  for (auto& c : report.cases) {
    if (c.verdict == verify::Verdict::error && c.error == "cancelled") {
      c.error = fmt::format("not finished: the run was interrupted ({})", signal == SIGINT ? "SIGINT" : "SIGTERM");
      c.error_kind = ErrorKind::environment;
    } else {
      ++finished;
    }
  }
  std::cerr << fmt::format("mhc-verify: interrupted: {} of {} cases finished\n", finished, report.cases.size());
  return 128 + signal;
}

void refuse_local_crash_backend(const std::string& backend) {
  for (const auto& m : mutant_catalog()) {
    if (m.diagnosis == "crash" && backend == "mutant:" + m.name) {
      fail(ErrorKind::unsupported,
           fmt::format("{} crashes the process that runs it, which would lose every result here; run it where "
                       "worker processes contain crashes: `mhc-verify serve` and `run --server HOST:PORT`",
                       backend));
    }
  }
}

void add_program_options(CLI::App& sub, ProgramOptions& options) {
  sub.add_option("--precision", options.precision,
                 "with --backend pipe:/exec:, the arithmetic the program was written for, which sets the baseline "
                 "judging it: f32 (default), tf32, bf16gemm, bf16dx (docs/tolerances.md)")
      ->check(CLI::IsMember({"f32", "tf32", "bf16gemm", "bf16dx"}));
  sub.add_option("--call-timeout", options.call_timeout,
                 "with --backend pipe:/exec:, kill a call of the program that takes longer than this many seconds "
                 "(the case is an error); default: no limit")
      ->check(CLI::Range(0.0, 1e6));
}

void check_program_options(const std::string& backend, const ProgramOptions& options) {
  if (verify::is_program_backend(backend)) return;
  if (!options.precision.empty()) {
    invalid_input(fmt::format("--precision declares the arithmetic of a pipe:/exec: backend; {} has its own "
                              "(its baseline is part of the backend)",
                              backend));
  }
  if (options.call_timeout > 0) invalid_input("--call-timeout limits the calls of a pipe:/exec: backend's program");
}

void ReportFiles::preflight() const {
  std::map<std::filesystem::path, std::string> taken;  // one file, one format: the last would win silently
  for (const auto& [flag, path] : {std::pair{"--json", &json}, {"--junit", &junit}, {"--md", &md}, {"--html", &html}}) {
    if (path->empty()) continue;
    const std::string reason = unwritable_reason(*path);
    if (!reason.empty()) invalid_input(fmt::format("{} {}: cannot write the report there: {}", flag, *path, reason));
    const auto [it, fresh] = taken.emplace(std::filesystem::weakly_canonical(*path), flag);
    if (!fresh) invalid_input(fmt::format("{} and {} name the same file {}: give each report its own", it->second, flag, *path));
  }
}

int ReportFiles::write(const verify::SweepReport& report, int verdict) const {
  using Render = std::string (*)(const verify::SweepReport&);
  const Render render_json = [](const verify::SweepReport& r) { return verify::to_json(r).dump(1) + "\n"; };
  int failed = 0;
  for (const auto& [flag, path, render] : {std::tuple{"--json", &json, render_json},
                                          {"--junit", &junit, &verify::render_junit},
                                          {"--md", &md, &verify::render_markdown},
                                          {"--html", &html, &verify::render_html}}) {
    if (path->empty()) continue;
    const std::string reason = write_file(*path, render(report));
    if (reason.empty()) continue;
    std::cerr << fmt::format("mhc-verify: error: {} {}: cannot write the report: {}\n", flag, *path, reason);
    ++failed;
  }
  if (failed == 0) return verdict;
  std::cerr << fmt::format("mhc-verify: exit {} for the unwritten report{}; the run itself exits {} ({})\n",
                           int(infrastructure), failed == 1 ? "" : "s", verdict, report.summary_line());
  return infrastructure;
}

int exit_code(const verify::SweepReport& report) {
  const auto s = report.summary();
  if (s.failed > 0 || s.crashed > 0) return check_failed;
  int code = ok;
  for (const auto& c : report.cases) {
    if (c.verdict != verify::Verdict::error) continue;
    const bool users = c.error_kind == ErrorKind::invalid_input || c.error_kind == ErrorKind::unsupported;
    code = std::max(code, users ? int(bad_input) : int(infrastructure));
  }
  return code;
}

void print_report(const verify::SweepReport& report, const ReportFiles& files, bool only_failures) {
  verify::TextOptions text;
  text.color = files.color_stdout();
  text.only_failures = only_failures;
  std::cout << verify::render_table(report, text) << std::flush;
}

}  // namespace mhc::cli
