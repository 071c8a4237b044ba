// The worker processes and the work queue in front of them (DESIGN.md "Service").
//
// One slot per worker process (one per GPU; a small pool on CPU hosts). Each slot has a thread
// in the server that takes the next job from one FIFO queue, sends it to its process and waits
// for the report, so a job always goes to a worker that is idle: the least-loaded one. A worker
// that dies (a kernel writing out of bounds, SIGKILL, a sticky device error that ends it) is
// reaped, its job is reported as Verdict::crash, and a fresh process is started for the next job;
// one that dies before it acknowledged the job (killed while idle) gets the job resent, once, to
// a fresh process.
// Cancellation reaches the running case through a "cancel" frame (the worker's stop_token); a
// worker that does not stop within the grace period is killed and replaced.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "server/shared_buffer.hpp"
#include "verify/report.hpp"

namespace mhc::server {

struct WorkerPoolOptions {
  std::vector<std::string> command;  // argv prefix of a worker (then --fd/--label/--parent-pid)
  // One entry per worker: the label written into reports ("host/cpu/worker-0", "host/cuda:1")
  // and the CUDA device it owns (-1 on CPU).
  struct Slot {
    std::string label;
    int cuda_device = -1;
  };
  std::vector<Slot> slots;
  double cancel_grace_seconds = 2;
  // OMP_NUM_THREADS for each worker unless the environment sets it: cores / workers on a CPU
  // host, so the workers' OpenMP teams do not oversubscribe the cores (0: leave it alone).
  int omp_threads = 0;
  // Heap each worker pre-faults at start and keeps through its idle trims (serve
  // --upload-reserve-bytes: a check's tensors take about its upload's size), so the first check
  // does not pay a page fault per 4 KiB of fresh memory. Costs this much RSS per worker; 0: none.
  std::uint64_t heap_reserve_bytes = 0;
  // The estimated peak memory of the jobs running at once stays within this (serve
  // --memory-budget-bytes; 0: no budget): the first queued job waits until it fits beside the
  // running ones, and later jobs wait behind it, so a big case is not starved by small ones. A
  // job alone always runs (the service refuses what can never fit).
  std::uint64_t memory_budget_bytes = 0;
  // A job still running after this long is stopped and reported as an error (serve
  // --max-case-seconds; 0: no limit).
  double max_case_seconds = 0;
};

enum class JobOutcome {
  done,       // the worker answered (any verdict, crash excluded)
  crashed,    // the worker process died; the report says Verdict::crash
  cancelled,  // cancelled or the pool stopped before an answer
};

struct JobResult {
  JobOutcome outcome = JobOutcome::done;
  // The worker could not start the request (unknown backend, malformed upload): the RPC fails
  // with to_status(*error) instead of returning a report.
  std::optional<Error> error;
  // The report as CaseReport JSON text (passed through from the worker untouched) and the
  // fields the RPC repeats beside it.
  std::string report_json;
  std::string verdict;
  std::string device;
  std::string case_line;
};

// A result made here rather than by a worker (crash, cancellation).
JobResult result_of(const verify::CaseReport& report, JobOutcome outcome);

struct Job {
  nlohmann::json request;  // worker request header without "id"
  std::shared_ptr<SharedBuffer> payload;  // CheckTensors: the upload, passed to the worker as a memfd
  verify::CaseReport crash_template;  // spec/backend of the case, for a crash or cancel report
  std::uint64_t memory_bytes = 0;  // estimated peak of running it (verify::case_peak_bytes)
  std::shared_ptr<std::atomic<bool>> cancel;  // set by the RPC on cancellation/deadline
  std::function<void(JobResult)> done;        // called exactly once, on a pool thread
};

// Counters since the pool started (GetInfo reports them).
struct WorkerPoolStats {
  std::uint64_t jobs_done = 0;
  std::uint64_t crashes = 0;  // workers that died under a job
  std::uint64_t kills = 0;    // workers killed for ignoring a cancellation
  std::uint64_t spawns = 0;
  std::uint64_t memory_in_use = 0;  // estimated peak bytes of the jobs running now
};

class WorkerPool {
 public:
  explicit WorkerPool(WorkerPoolOptions options);
  ~WorkerPool();  // stop()
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues a job; returns its id. After stop() the job is answered `cancelled` at once.
  std::uint64_t submit(Job job);
  // Removes every queued job whose cancel flag is set and answers it `cancelled` (a started job
  // is stopped through its flag by its slot thread).
  void withdraw_cancelled();
  // Answers queued jobs `cancelled`, stops running ones, ends every worker process, joins.
  void stop();

  std::size_t size() const { return options_.slots.size(); }
  std::size_t queued() const;
  WorkerPoolStats stats() const;

 private:
  struct Queued {
    std::uint64_t id;
    Job job;
  };
  struct Process {
    pid_t pid = 0;
    int fd = -1;         // requests and reports
    int cancel_fd = -1;  // cancellations
  };

  void slot_loop(std::size_t slot);
  // Whether `job` may start now within the memory budget (mutex_ held).
  bool fits(const Job& job) const;
  JobResult run_on_worker(std::size_t slot, std::uint64_t id, Job& job);
  void spawn(std::size_t slot);
  // A fresh worker right after one died, so the pool is back to full size before the crash is
  // reported (unless the pool is stopping).
  void replace(std::size_t slot);
  // Waits for the process (after `signal`, when non-zero) and returns how it ended.
  std::string reap(std::size_t slot, int signal);

  WorkerPoolOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Queued> queue_;
  bool stopping_ = false;
  std::uint64_t next_id_ = 1;
  std::vector<Process> processes_;  // written under mutex_; each entry owned by its slot thread
  WorkerPoolStats stats_;
  std::vector<std::thread> threads_;
};

}  // namespace mhc::server
