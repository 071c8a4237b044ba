// Shared helpers of the GPU tests: device detection (skip without one) and case construction.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "verify/case.hpp"

namespace mhc::test {

bool have_gpu();

#define MHC_REQUIRE_GPU()                                          \
  do {                                                             \
    if (!::mhc::test::have_gpu()) GTEST_SKIP() << "no CUDA device"; \
  } while (0)

// A case line for `preset` with the shape (and optional semantics overrides in `extra`, in the
// case-line syntax: "repeats=3 use_gamma=1").
verify::CaseSpec case_spec(verify::Op op, const std::string& preset, std::int64_t T, std::int64_t n, std::int64_t C,
                           const std::string& extra = "", const std::string& dist = "normal", std::uint64_t seed = 1);

}  // namespace mhc::test
