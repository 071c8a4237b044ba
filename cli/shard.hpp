// Deterministic sweep sharding for batch schedulers: --shard I/N, or the scheduler's variables
// (GoogleTest's GTEST_SHARD_INDEX/GTEST_TOTAL_SHARDS, Kubernetes Indexed Jobs'
// JOB_COMPLETION_INDEX with MHC_SHARD_COUNT, Slurm's SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT).
#pragma once

#include <optional>
#include <string>

namespace mhc::cli {

struct Shard {
  int index = 0;
  int count = 1;
};

// "I/N" with 0 <= I < N; throws mhc::Error(invalid_input).
Shard parse_shard(const std::string& text);
// The first scheduler whose variables are set; throws on malformed values.
std::optional<Shard> shard_from_environment();

}  // namespace mhc::cli
