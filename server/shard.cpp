#include "server/shard.hpp"

#include <charconv>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace mhc::server {

namespace {

std::optional<int> env_int(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  int v = 0;
  const std::string_view s(value);
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v < 0)
    invalid_input(std::string(name) + "=" + value + " is not a non-negative integer");
  return v;
}

std::optional<std::pair<int, int>> pair_of(const char* index_name, const char* count_name, int offset = 0) {
  const auto index = env_int(index_name);
  const auto count = env_int(count_name);
  if (!index && !count) return std::nullopt;
  if (!index || !count)
    invalid_input(std::string(index ? count_name : index_name) + " is not set but " + (index ? index_name : count_name) +
                  " is; set both to shard a sweep");
  const int i = *index - offset;
  if (*count < 1 || i < 0 || i >= *count)
    invalid_input(std::string(index_name) + "=" + std::to_string(*index) + " is outside 0.." +
                  std::to_string(*count - 1) + " (" + count_name + "=" + std::to_string(*count) + ")");
  return std::pair{i, *count};
}

}  // namespace

std::optional<std::pair<int, int>> shard_from_environment() {
  if (auto s = pair_of("GTEST_SHARD_INDEX", "GTEST_TOTAL_SHARDS")) return s;
  if (auto s = pair_of("JOB_COMPLETION_INDEX", "MHC_TOTAL_SHARDS")) return s;
  return pair_of("SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT", env_int("SLURM_ARRAY_TASK_MIN").value_or(0));
}

}  // namespace mhc::server
