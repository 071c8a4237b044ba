// Runs a list of cases in-process over a pool of threads (one Verifier each) and assembles the
// sweep report in case order, whatever order they finish in.
#pragma once

#include <functional>
#include <stop_token>
#include <string>
#include <vector>

#include "verify/report.hpp"
#include "verify/sweep.hpp"
#include "verify/verifier.hpp"

namespace mhc::verify {

using ProgressFn = std::function<void(std::size_t done, std::size_t total, const CaseReport& report)>;

// Case i of `cases` is reported with index first_index + i * index_stride: its position in the
// whole sweep when `cases` is a round-robin shard (verify::select_shard), so shard reports merge back
// into sweep order.
struct SweepPosition {
  std::int64_t first_index = 0;
  std::int64_t index_stride = 1;
};

SweepReport run_planned(const std::string& sweep_name, const std::vector<SweepCase>& cases,
                        const VerifyOptions& options, int jobs, const ProgressFn& progress = {},
                        std::stop_token stop = {}, SweepPosition position = {});

}  // namespace mhc::verify
