// verify/memory_budget.hpp: concurrent cases share the host memory budget; a case that does not
// fit waits for the others, one larger than the budget runs alone, a stop request ends a wait.
#include "verify/memory_budget.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace mhc::verify {
namespace {

TEST(MemoryBudget, CasesThatFitTogetherRunTogether) {
  MemoryBudget budget(100);
  const MemoryBudget::Lease a = budget.take(60);
  const MemoryBudget::Lease b = budget.take(40);  // would block forever if it did not fit
  EXPECT_EQ(budget.taken(), 100u);
}

TEST(MemoryBudget, ACaseThatDoesNotFitWaitsForTheOthers) {
  MemoryBudget budget(100);
  std::atomic<bool> second_running{false};
  std::thread second;
  {
    const MemoryBudget::Lease first = budget.take(70);
    second = std::thread([&] {
      const MemoryBudget::Lease lease = budget.take(70);
      second_running = true;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // give it the chance to run wrongly
    EXPECT_FALSE(second_running);
  }
  second.join();
  EXPECT_TRUE(second_running);
  EXPECT_EQ(budget.taken(), 0u);
}

TEST(MemoryBudget, ALargerThanBudgetCaseRunsAloneAndStopEndsAWait) {
  MemoryBudget budget(100);
  {
    const MemoryBudget::Lease huge = budget.take(1000);  // nothing else runs: it may
    EXPECT_EQ(budget.taken(), 1000u);
    std::stop_source stop;
    std::atomic<std::uint64_t> taken_by_waiter{1};
    std::thread waiter([&] {
      const MemoryBudget::Lease lease = budget.take(1, stop.get_token());
      taken_by_waiter = budget.taken();
    });
    stop.request_stop();
    waiter.join();
    EXPECT_EQ(taken_by_waiter, 1000u);  // the stopped wait took nothing
  }
  EXPECT_EQ(budget.taken(), 0u);
}

}  // namespace
}  // namespace mhc::verify
