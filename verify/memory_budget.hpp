// Host memory shared by the cases a sweep runs at once. A case takes its estimated peak
// (case_peak_bytes) before it starts and gives it back when it ends; a case that does not fit
// beside the running ones waits for them, so --jobs never multiplies the largest case's memory.
// A request larger than the whole budget waits until nothing else runs and then runs alone.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <stop_token>

namespace mhc::verify {

class MemoryBudget {
 public:
  explicit MemoryBudget(std::uint64_t bytes) : total_(bytes) {}

  // Gives its bytes back when destroyed. Holds nothing when the wait was stopped.
  class Lease {
   public:
    Lease(MemoryBudget* budget, std::uint64_t bytes) : budget_(budget), bytes_(bytes) {}
    Lease(Lease&& other) noexcept : budget_(other.budget_), bytes_(other.bytes_) { other.budget_ = nullptr; }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (budget_) budget_->give_back(bytes_);
    }

   private:
    MemoryBudget* budget_;
    std::uint64_t bytes_;
  };

  // Blocks until `bytes` fit beside what is taken (or nothing is taken), or `stop` is requested.
  Lease take(std::uint64_t bytes, std::stop_token stop = {}) {
    std::unique_lock lock(mu_);
    const bool ok = freed_.wait(lock, stop, [&] { return taken_ == 0 || bytes <= total_ - std::min(taken_, total_); });
    if (!ok) return Lease(nullptr, 0);
    taken_ += bytes;
    return Lease(this, bytes);
  }

  std::uint64_t taken() const {
    const std::lock_guard lock(mu_);
    return taken_;
  }

 private:
  void give_back(std::uint64_t bytes) {
    {
      const std::lock_guard lock(mu_);
      taken_ -= bytes;
    }
    freed_.notify_all();
  }

  const std::uint64_t total_;
  mutable std::mutex mu_;
  std::condition_variable_any freed_;
  std::uint64_t taken_ = 0;
};

}  // namespace mhc::verify
