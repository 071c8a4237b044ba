#include "cli/common.hpp"

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <unistd.h>

#include "core/error.hpp"
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

void write_file(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
  if (!out.good()) fail(ErrorKind::environment, "cannot write report file " + path);
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

void ReportFiles::write(const verify::SweepReport& report) const {
  if (!json.empty()) write_file(json, verify::to_json(report).dump(1) + "\n");
  if (!junit.empty()) write_file(junit, verify::render_junit(report));
  if (!md.empty()) write_file(md, verify::render_markdown(report));
  if (!html.empty()) write_file(html, verify::render_html(report));
}

int exit_code(const verify::SweepReport& report) {
  const auto s = report.summary();
  if (s.failed > 0 || s.crashed > 0) return check_failed;
  if (s.errors > 0) return infrastructure;
  return ok;
}

void print_report(const verify::SweepReport& report, const ReportFiles& files, bool only_failures) {
  verify::TextOptions text;
  text.color = files.color_stdout();
  text.only_failures = only_failures;
  std::cout << verify::render_table(report, text) << std::flush;
}

}  // namespace mhc::cli
