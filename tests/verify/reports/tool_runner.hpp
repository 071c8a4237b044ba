// Running an external tool (python3, chromium) from a test: find it on PATH, run a shell command,
// capture its output. Tests that need a missing tool skip rather than fail.
#pragma once

#include <filesystem>
#include <string>

namespace mhc::verify::testing {

// Full path of `program` on PATH, or "" when absent.
std::string find_on_path(const std::string& program);

struct Run {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};
// Runs `command` through /bin/sh with stderr merged into stdout.
Run run_command(const std::string& command);

// A fresh directory under the system temp dir, removed with the object.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

void write_file(const std::filesystem::path& path, const std::string& text);
std::string read_file(const std::filesystem::path& path);

// Single-quoted for /bin/sh.
std::string shell_quote(const std::string& s);

}  // namespace mhc::verify::testing
