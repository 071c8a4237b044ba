// The shard a batch scheduler assigned to this process, from its environment variables:
//   GTEST_SHARD_INDEX / GTEST_TOTAL_SHARDS          (ctest, Bazel, many CI runners)
//   JOB_COMPLETION_INDEX / MHC_TOTAL_SHARDS         (Kubernetes Indexed Job; the Job's
//                                                    `completions` is not in the pod's environment,
//                                                    so the manifest sets MHC_TOTAL_SHARDS)
//   SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT    (Slurm job arrays; ids counted from
//                                                    SLURM_ARRAY_TASK_MIN)
// The first complete pair wins. The CLI applies `--shard I/N` in preference to these.
#pragma once

#include <optional>
#include <utility>

namespace mhc::server {

// {index, count} with 0 <= index < count, or nullopt when no scheduler variables are set.
// Throws Error(invalid_input) naming the variable when one is malformed or half a pair is set.
std::optional<std::pair<int, int>> shard_from_environment();

}  // namespace mhc::server
