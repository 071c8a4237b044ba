// How the golden splits work over OpenMP threads (internal to reference/). Results never depend
// on the thread count: every per-token result is computed by one thread, and reductions over
// tokens run over fixed blocks in a fixed order.
#pragma once

#include <cstdint>

namespace mhc::ref {

// Tokens are processed in blocks of this many, whatever the thread count (32 rows of K = 4096
// doubles stay in L2 beside phi). Blocks are handed out dynamically, so a thread descheduled on
// a shared machine does not hold the others up; which thread computes a block never changes
// its bits.
inline constexpr std::int64_t kTokenBlock = 32;

// Below this many multiply-adds a parallel region costs more than it saves (and on a loaded
// machine a spinning team makes tiny calls, like the finite-difference tests', much slower).
inline bool worth_parallel(std::int64_t work) { return work >= (std::int64_t{1} << 18); }

}  // namespace mhc::ref
