#include "cli/shard.hpp"

#include <charconv>
#include <cstdlib>

#include "core/error.hpp"

namespace mhc::cli {
namespace {

int parse_int(const std::string& what, const std::string& s) {
  int v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) invalid_input(what + ": \"" + s + "\" is not an integer");
  return v;
}

Shard checked(const std::string& what, int index, int count) {
  if (count < 1 || index < 0 || index >= count) {
    invalid_input(what + ": shard " + std::to_string(index) + " of " + std::to_string(count) +
                  " (need 0 <= index < count)");
  }
  return {index, count};
}

std::optional<Shard> pair(const char* index_var, const char* count_var, int index_base) {
  const char* i = std::getenv(index_var);
  const char* n = std::getenv(count_var);
  if (!i || !n) return std::nullopt;
  const std::string what = std::string(index_var) + "/" + count_var;
  return checked(what, parse_int(index_var, i) - index_base, parse_int(count_var, n));
}

// A Slurm array --array=MIN-MAX:STEP numbers its tasks MIN, MIN + STEP, ...; the shard is the
// task's position in that list. A list of arbitrary IDs (--array=1,5,6) has no step to undo.
std::optional<Shard> slurm_array() {
  const char* id = std::getenv("SLURM_ARRAY_TASK_ID");
  const char* count = std::getenv("SLURM_ARRAY_TASK_COUNT");
  if (!id || !count) return std::nullopt;
  const char* min = std::getenv("SLURM_ARRAY_TASK_MIN");
  const char* step = std::getenv("SLURM_ARRAY_TASK_STEP");
  const int offset = parse_int("SLURM_ARRAY_TASK_ID", id) - (min ? parse_int("SLURM_ARRAY_TASK_MIN", min) : 0);
  const int stride = step ? parse_int("SLURM_ARRAY_TASK_STEP", step) : 1;
  if (stride < 1 || offset % stride != 0) {
    invalid_input("SLURM_ARRAY_TASK_ID " + std::string(id) + " is not MIN + k * STEP of its array; use --array=MIN-MAX[:STEP] or --shard I/N");
  }
  return checked("SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT", offset / stride, parse_int("SLURM_ARRAY_TASK_COUNT", count));
}

}  // namespace

Shard parse_shard(const std::string& text) {
  const auto slash = text.find('/');
  if (slash == std::string::npos) invalid_input("--shard \"" + text + "\": expected I/N, e.g. 0/4");
  return checked("--shard", parse_int("--shard", text.substr(0, slash)), parse_int("--shard", text.substr(slash + 1)));
}

std::optional<Shard> shard_from_environment() {
  if (auto s = pair("GTEST_SHARD_INDEX", "GTEST_TOTAL_SHARDS", 0)) return s;
  if (auto s = pair("JOB_COMPLETION_INDEX", "MHC_SHARD_COUNT", 0)) return s;
  return slurm_array();
}

}  // namespace mhc::cli
