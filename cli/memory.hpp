// How the mhc-verify process uses memory (memory.cpp).
#pragma once

namespace mhc::cli {

// For batch commands (run, check, decompose, ...): memory that cases free stays in the process
// for the next case instead of going back to the kernel, which would hand it out again as
// fresh pages to be faulted in and zeroed. Not for `serve`: a long-lived worker would keep its
// largest case's memory.
void keep_freed_memory();

}  // namespace mhc::cli
