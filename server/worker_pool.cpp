#include "server/worker_pool.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "core/error.hpp"
#include "server/frame.hpp"

extern char** environ;

namespace mhc::server {

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kWorkerFd = 3;
constexpr int kCancelFd = 4;
constexpr int kPollMs = 20;

std::string describe_exit(int status) {
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* name = sigabbrev_np(sig);
    return fmt::format("killed by signal {} (SIG{})", sig, name ? name : "?");
  }
  if (WIFEXITED(status)) return fmt::format("exited with status {}", WEXITSTATUS(status));
  return "ended";
}

JobResult cancelled_result(const Job& job) {
  verify::CaseReport report = job.crash_template;
  report.verdict = verify::Verdict::error;
  report.error = "cancelled";
  return result_of(report, JobOutcome::cancelled);
}

// A socketpair whose child end sits above kCancelFd, so the dup2s in the child always change the
// descriptor (a dup2 onto itself would keep CLOEXEC). Returns {server end, child end}.
std::pair<int, int> channel() {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
    fail(ErrorKind::environment, std::string("worker pool: socketpair failed: ") + std::strerror(errno));
  const int child_end = ::fcntl(fds[1], F_DUPFD_CLOEXEC, 16);
  ::close(fds[1]);
  return {fds[0], child_end};
}

}  // namespace

JobResult result_of(const verify::CaseReport& report, JobOutcome outcome) {
  JobResult r;
  r.outcome = outcome;
  r.report_json = verify::to_json(report).dump();
  r.verdict = verify::to_string(report.verdict);
  r.device = report.device;
  r.case_line = report.spec.to_string();
  return r;
}

WorkerPool::WorkerPool(WorkerPoolOptions options) : options_(std::move(options)) {
  if (options_.slots.empty()) fail(ErrorKind::invalid_input, "--workers: the pool needs at least one worker");
  if (options_.command.empty()) fail(ErrorKind::internal, "worker pool: empty worker command");
  processes_.resize(options_.slots.size());
  // Start every worker up front so the first request does not pay for process start-up and a
  // broken worker command fails at start, not at the first case.
  for (std::size_t i = 0; i < options_.slots.size(); ++i) spawn(i);
  for (std::size_t i = 0; i < options_.slots.size(); ++i) threads_.emplace_back([this, i] { slot_loop(i); });
}

WorkerPool::~WorkerPool() { stop(); }

std::uint64_t WorkerPool::submit(Job job) {
  std::unique_lock lock(mutex_);
  const std::uint64_t id = next_id_++;
  if (stopping_) {
    lock.unlock();
    job.done(cancelled_result(job));
    return id;
  }
  queue_.push_back({id, std::move(job)});
  wake_.notify_one();
  return id;
}

void WorkerPool::withdraw_cancelled() {
  std::vector<Job> withdrawn;
  {
    std::lock_guard lock(mutex_);
    for (auto it = queue_.begin(); it != queue_.end();) {
      if (it->job.cancel && it->job.cancel->load()) {
        withdrawn.push_back(std::move(it->job));
        it = queue_.erase(it);
      } else {
        ++it;
      }
    }
    if (!withdrawn.empty()) wake_.notify_all();  // the new first job may fit the memory budget
  }
  for (auto& job : withdrawn) job.done(cancelled_result(job));
}

void WorkerPool::stop() {
  std::deque<Queued> orphans;
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
    orphans.swap(queue_);
    wake_.notify_all();
  }
  for (auto& q : orphans) q.job.done(cancelled_result(q.job));
  for (auto& t : threads_) t.join();
  threads_.clear();
  for (std::size_t i = 0; i < processes_.size(); ++i)
    if (processes_[i].pid != 0) reap(i, SIGKILL);
}

std::size_t WorkerPool::queued() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

WorkerPoolStats WorkerPool::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void WorkerPool::spawn(std::size_t slot) {
  const auto [server_end, child_end] = channel();
  const auto [server_cancel, child_cancel] = channel();

  std::vector<std::string> args = options_.command;
  const auto& s = options_.slots[slot];
  args.insert(args.end(), {"--fd", std::to_string(kWorkerFd), "--cancel-fd", std::to_string(kCancelFd), "--label",
                           s.label, "--parent-pid", std::to_string(::getpid())});
  if (options_.heap_reserve_bytes > 0)
    args.insert(args.end(), {"--heap-reserve", std::to_string(options_.heap_reserve_bytes)});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  std::vector<std::string> env_storage;
  for (char** e = environ; *e != nullptr; ++e)
    if (std::strncmp(*e, "CUDA_VISIBLE_DEVICES=", 21) != 0 || s.cuda_device < 0) env_storage.emplace_back(*e);
  if (s.cuda_device >= 0) env_storage.push_back(fmt::format("CUDA_VISIBLE_DEVICES={}", s.cuda_device));
  if (options_.omp_threads > 0 && std::getenv("OMP_NUM_THREADS") == nullptr)
    env_storage.push_back(fmt::format("OMP_NUM_THREADS={}", options_.omp_threads));
  std::vector<char*> envp;
  for (auto& e : env_storage) envp.push_back(e.data());
  envp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, child_end, kWorkerFd);
  posix_spawn_file_actions_adddup2(&actions, child_cancel, kCancelFd);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // The server blocks SIGTERM/SIGINT for its signal thread; the worker starts with a clean mask
  // and default dispositions.
  sigset_t empty, defaults;
  sigemptyset(&empty);
  sigemptyset(&defaults);
  for (int sig : {SIGTERM, SIGINT, SIGPIPE, SIGCHLD}) sigaddset(&defaults, sig);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = 0;
  const int rc = ::posix_spawn(&pid, argv[0], &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(child_end);
  ::close(child_cancel);
  if (rc != 0) {
    ::close(server_end);
    ::close(server_cancel);
    fail(ErrorKind::environment, fmt::format("worker pool: cannot start worker '{}': {}", args[0], std::strerror(rc)));
  }
  std::lock_guard lock(mutex_);
  processes_[slot] = {pid, server_end, server_cancel};
  ++stats_.spawns;
}

std::string WorkerPool::reap(std::size_t slot, int signal) {
  Process p;
  {
    std::lock_guard lock(mutex_);
    p = processes_[slot];
    processes_[slot] = {};
  }
  if (p.fd >= 0) ::close(p.fd);
  if (p.cancel_fd >= 0) ::close(p.cancel_fd);
  if (p.pid == 0) return "not running";
  if (signal != 0) ::kill(p.pid, signal);
  int status = 0;
  while (::waitpid(p.pid, &status, 0) < 0 && errno == EINTR) {
  }
  return describe_exit(status);
}

void WorkerPool::replace(std::size_t slot) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
  }
  try {
    spawn(slot);
  } catch (const Error&) {
    // Left empty; the next job on this slot tries again and reports the failure.
  }
}

bool WorkerPool::fits(const Job& job) const {
  const std::uint64_t budget = options_.memory_budget_bytes;
  return budget == 0 || stats_.memory_in_use == 0 || stats_.memory_in_use + job.memory_bytes <= budget;
}

void WorkerPool::slot_loop(std::size_t slot) {
  for (;;) {
    Queued item;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || (!queue_.empty() && fits(queue_.front().job)); });
      if (stopping_) return;  // stop() answers what is still queued
      item = std::move(queue_.front());
      queue_.pop_front();
      stats_.memory_in_use += item.job.memory_bytes;
    }
    JobResult result = item.job.cancel && item.job.cancel->load() ? cancelled_result(item.job)
                                                                  : run_on_worker(slot, item.id, item.job);
    {
      std::lock_guard lock(mutex_);
      ++stats_.jobs_done;
      stats_.memory_in_use -= item.job.memory_bytes;
      wake_.notify_all();  // a job waiting for memory may fit now
    }
    item.job.done(std::move(result));
  }
}

JobResult WorkerPool::run_on_worker(std::size_t slot, std::uint64_t id, Job& job) {
  const auto& label = options_.slots[slot].label;
  auto crash = [&](const std::string& how) {
    verify::CaseReport report = job.crash_template;
    report.verdict = verify::Verdict::crash;
    report.device = label;
    report.error = fmt::format("the worker process running the kernel under test {} (the case crashed; "
                               "the worker was replaced)", how);
    {
      std::lock_guard lock(mutex_);
      ++stats_.crashes;
    }
    replace(slot);
    return result_of(report, JobOutcome::crashed);
  };
  nlohmann::json request = job.request;
  request["id"] = id;
  if (job.payload) request["payload_bytes"] = job.payload->size();
  // Sends the request to the slot's worker, starting one where there is none. A worker that
  // died while idle (killed from outside) must not have its death blamed on this case: waitpid
  // sees a death already complete, and one still under way shows as a worker that is gone
  // before it acknowledged the request (its "started" frame). The request then goes once more,
  // to a fresh worker. Returns a result when it cannot be sent.
  bool resent = false;
  const auto send = [&]() -> std::optional<JobResult> {
    for (;;) {
      if (const pid_t pid = processes_[slot].pid; pid != 0) {
        int status = 0;
        if (::waitpid(pid, &status, WNOHANG) == pid) {
          std::lock_guard lock(mutex_);
          ::close(processes_[slot].fd);
          ::close(processes_[slot].cancel_fd);
          processes_[slot] = {};
        }
      }
      try {
        if (processes_[slot].pid == 0) spawn(slot);
      } catch (const Error& e) {
        verify::CaseReport report = job.crash_template;
        report.verdict = verify::Verdict::error;
        report.device = label;
        report.error = e.what();
        return result_of(report, JobOutcome::done);
      }
      try {
        write_frame(processes_[slot].fd, request, {}, job.payload ? job.payload->fd() : -1);
        return std::nullopt;
      } catch (const Error&) {
      }
      if (resent) return crash(reap(slot, SIGKILL));
      resent = true;
      reap(slot, SIGKILL);
    }
  };
  if (auto unsent = send()) return std::move(*unsent);
  // job.payload stays held until the worker has answered (it unmaps the file first) or is dead:
  // only then may server/upload_buffers.hpp reuse the file for another upload.

  bool acknowledged = false, cancel_sent = false, timed_out = false;
  // The case's time (--max-case-seconds) counts from the worker's acknowledgment: a fresh
  // worker's start-up is not the case's. Until then it counts from the dispatch, so a worker
  // that never acknowledges is still stopped.
  Clock::time_point started = Clock::now();
  Clock::time_point cancel_at;
  // A case stopped for running over max_case_seconds is an error verdict (the sweep goes on),
  // not a cancelled RPC.
  const auto over_time = [&] {
    verify::CaseReport report = job.crash_template;
    report.verdict = verify::Verdict::error;
    report.device = label;
    report.error = fmt::format("stopped after {:.0f} s: over this server's limit of {} s per case (--max-case-seconds)",
                               std::chrono::duration<double>(Clock::now() - started).count(),
                               options_.max_case_seconds);
    return result_of(report, JobOutcome::done);
  };
  for (;;) {
    const int fd = processes_[slot].fd;
    if (wait_readable(fd, kPollMs)) {
      std::optional<Frame> frame;
      try {
        frame = read_frame(fd);
      } catch (const Error&) {
      }
      if (!frame && !acknowledged && !resent) {
        resent = true;
        reap(slot, SIGKILL);
        if (auto unsent = send()) return std::move(*unsent);
        continue;
      }
      if (!frame) return crash(reap(slot, SIGKILL));
      if (frame->passed_fd >= 0) ::close(frame->passed_fd);  // workers pass none; never leak one
      if (frame->header.contains("started")) {
        acknowledged = true;
        started = Clock::now();
        continue;
      }
      if (timed_out) return over_time();
      JobResult r;
      r.outcome = cancel_sent ? JobOutcome::cancelled : JobOutcome::done;
      const auto& h = frame->header;
      if (const auto e = h.find("error"); e != h.end()) {
        r.error.emplace(static_cast<ErrorKind>(e->at("kind").get<int>()), e->at("message").get<std::string>());
      } else {
        r.report_json = std::move(frame->payload);
        r.verdict = h.value("verdict", std::string());
        r.device = h.value("device", std::string());
        r.case_line = h.value("case", std::string());
      }
      return r;
    }
    bool stopping;
    {
      std::lock_guard lock(mutex_);
      stopping = stopping_;
    }
    if (options_.max_case_seconds > 0 && !cancel_sent &&
        std::chrono::duration<double>(Clock::now() - started).count() > options_.max_case_seconds)
      timed_out = true;
    const bool cancelled = stopping || timed_out || (job.cancel && job.cancel->load());
    if (cancelled && !cancel_sent) {
      cancel_sent = true;
      cancel_at = Clock::now();
      try {
        write_frame(processes_[slot].cancel_fd, {{"id", id}, {"kind", "cancel"}});
      } catch (const Error&) {
      }
    } else if (cancel_sent &&
               std::chrono::duration<double>(Clock::now() - cancel_at).count() > options_.cancel_grace_seconds) {
      reap(slot, SIGKILL);
      {
        std::lock_guard lock(mutex_);
        ++stats_.kills;
      }
      replace(slot);
      return timed_out ? over_time() : cancelled_result(job);
    }
  }
}

}  // namespace mhc::server
