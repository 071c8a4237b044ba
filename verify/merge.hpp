// `mhc-verify merge a.json b.json ... -o all.json`: join the reports of a sweep run in shards
// (--shard I/N, GTEST_SHARD_INDEX, JOB_COMPLETION_INDEX, SLURM_ARRAY_TASK_ID) into one report.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "verify/report.hpp"

namespace mhc::verify {

struct NamedReport {
  std::string label;  // where it came from, for error messages ("shard-3.json")
  SweepReport report;
};

// One report with every case of every shard, ordered by the cases' sweep index. The shards must
// come from one run: same sweep name, backend and tool version. When every case carries an index,
// cases are sorted by it and an index seen twice is a duplicated case; when none does, the shards'
// order is kept and a case line seen twice is a duplicated case; a mixture is refused. The merged
// time is the sum of the shards' times (machine time, not the wall time of parallel shards).
// Throws Error(invalid_input) naming the shards and the case at fault.
SweepReport merge_reports(const std::vector<NamedReport>& shards);

// Reads a JSON sweep report; errors name the file.
SweepReport read_report_file(const std::filesystem::path& path);
// merge_reports over files.
SweepReport merge_report_files(const std::vector<std::filesystem::path>& paths);

}  // namespace mhc::verify
