// run_self_test refuses selections that would test nothing, before running any case.
#include <gtest/gtest.h>

#include "core/error.hpp"
#include "verify/selftest.hpp"

namespace mhc::verify {
namespace {

ErrorKind kind_of(const SelfTestOptions& options) {
  try {
    run_self_test(options);
  } catch (const Error& e) {
    return e.kind();
  }
  ADD_FAILURE() << "run_self_test accepted the options";
  return ErrorKind::internal;
}

TEST(SelfTestOptions, UnknownOnlyNameIsInvalidInput) {
  SelfTestOptions o;
  o.only = {"nope"};
  EXPECT_EQ(kind_of(o), ErrorKind::invalid_input);
}

TEST(SelfTestOptions, CrashMutantIsNotASelection) {
  SelfTestOptions o;
  o.only = {"crash_out_of_bounds"};
  EXPECT_EQ(kind_of(o), ErrorKind::invalid_input);
}

TEST(SelfTestOptions, NegativeCountsAreInvalidInput) {
  SelfTestOptions negative_random;
  negative_random.random_cases = -5;
  EXPECT_EQ(kind_of(negative_random), ErrorKind::invalid_input);
  SelfTestOptions no_jobs;
  no_jobs.jobs = 0;
  EXPECT_EQ(kind_of(no_jobs), ErrorKind::invalid_input);
}

}  // namespace
}  // namespace mhc::verify
