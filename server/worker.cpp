#include "server/worker.hpp"

#include <malloc.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <stop_token>
#include <thread>
#include <tuple>
#include <utility>

#include <CLI/CLI.hpp>

#include "core/error.hpp"
#include "server/frame.hpp"
#include "server/shared_buffer.hpp"
#include "verify/check_file.hpp"
#include "verify/safetensors.hpp"
#include "verify/verifier.hpp"

namespace mhc::server {

namespace {

using verify::CaseReport;

// Verifiers hold backend instances (device buffers, CUDA contexts): one per configuration, reused
// across requests.
class VerifierCache {
 public:
  verify::Verifier& get(const std::string& backend, const verify::SweepTolerance& tolerance, bool diagnose,
                        bool determinism) {
    auto key = std::make_tuple(backend, tolerance_json(tolerance).dump(), diagnose, determinism);
    auto it = cache_.find(key);
    if (it == cache_.end()) {
      verify::VerifyOptions o;
      o.backend = backend;
      o.tolerance = verify::to_tolerance(tolerance);
      o.diagnose = diagnose;
      o.check_determinism = determinism;
      it = cache_.emplace(key, std::make_unique<verify::Verifier>(o)).first;
    }
    return *it->second;
  }

 private:
  std::map<std::tuple<std::string, std::string, bool, bool>, std::unique_ptr<verify::Verifier>> cache_;
};

// Blocks up to this size come from the heap kept between requests (worker_main); larger ones
// are mapped and unmapped each time.
constexpr std::size_t kHeapBlockMax = std::size_t{1} << 30;

// `--heap-reserve`: pre-faults that much heap (in one system call, not a fault per 4 KiB) and
// frees it into the heap kept between requests, so the first check's tensors find it ready.
void reserve_heap(std::size_t bytes) {
  bytes = std::min(bytes, kHeapBlockMax);
  if (bytes == 0) return;
  void* block = std::malloc(bytes);
  if (block == nullptr) return;
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto at = reinterpret_cast<std::uintptr_t>(block);
  const std::uintptr_t begin = (at + page - 1) / page * page, end = (at + bytes) / page * page;
  // Where the kernel cannot (before Linux 5.14), the first check faults the pages in as before.
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_POPULATE_WRITE);
  std::free(block);
}

// Takes ownership of a descriptor passed with the request.
CaseReport run_request(VerifierCache& cache, Frame& request, std::stop_token stop) {
  const auto& h = request.header;
  const std::string kind = h.at("kind").get<std::string>();
  if (kind == "case") {
    const auto spec = verify::CaseSpec::parse(h.at("spec").get<std::string>());
    const verify::SweepTolerance tolerance =
        h.contains("tolerance") ? tolerance_from_json(h.at("tolerance")) : verify::SweepTolerance{spec.tolerance, {}};
    auto& verifier = cache.get(h.at("backend").get<std::string>(), tolerance, h.value("diagnose", true),
                               h.value("check_determinism", true));
    return verifier.run(spec, stop);
  }
  if (kind == "check") {
    verify::CheckOptions options;
    options.op = h.value("op", std::string());
    options.preset = h.value("preset", std::string());
    options.precision = h.value("precision", std::string());
    options.phi_layout = h.value("phi_layout", std::string("MK"));
    options.stream_layout = h.value("stream_layout", std::string("TNC"));
    for (const auto& [key, value] : h.at("semantics").get<std::map<std::string, std::string>>())
      options.overrides.push_back(key + "=" + value);
    if (request.passed_fd < 0) fail(ErrorKind::internal, "worker: a check request came without its payload");
    auto& verifier = cache.get("emulated", {h.value("tolerance", std::string("baseline")), {}}, true, false);
    // The tensors borrow the mapped upload (no copy of its bytes into fresh heap pages); they all
    // go with `check`, so the file is unmapped before the answer, after which the server may
    // overwrite it for the next upload.
    std::weak_ptr<MappedPayload> mapped;
    CaseReport report;
    {
      const auto payload = std::make_shared<MappedPayload>(std::exchange(request.passed_fd, -1),
                                                           h.at("payload_bytes").get<std::size_t>());
      mapped = payload;
      auto file = verify::parse_safetensors_in_place(
          std::as_writable_bytes(std::span(payload->data(), payload->size())), payload);
      const auto check = verify::check_request(std::move(file), options, h.value("label", std::string("upload")));
      report = verifier.check(check, stop);
    }
    if (!mapped.expired()) fail(ErrorKind::internal, "worker: a tensor outlived its check and still maps the upload");
    return report;
  }
  fail(ErrorKind::internal, "worker: unknown request kind \"" + kind + "\"");
}

// Requests run on the main thread as they are read (no hand-off on the latency path); a second
// thread reads the cancel channel and stops the running request through its stop_token.
class Worker {
 public:
  static constexpr int kIdleTrimMs = 2000;

  Worker(int fd, int cancel_fd, std::string label, std::size_t heap_reserve)
      : fd_(fd), cancel_fd_(cancel_fd), label_(std::move(label)), heap_reserve_(heap_reserve) {}

  int run() {
    std::thread([this] { watch_cancellations(); }).detach();
    VerifierCache cache;
    for (;;) {
      // Idle: give the heap kept for back-to-back requests (worker_main) back to the system, all
      // but the reserve at its top.
      if (!wait_readable(fd_, kIdleTrimMs)) malloc_trim(heap_reserve_);
      std::optional<Frame> request;
      try {
        request = read_frame(fd_);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "mhc-verify worker %s: %s\n", label_.c_str(), e.what());
      }
      if (!request) break;  // the server closed the channel: nobody wants a result any more
      struct CloseUnused {  // a descriptor no request kind claimed
        Frame& f;
        ~CloseUnused() {
          if (f.passed_fd >= 0) ::close(f.passed_fd);
        }
      } close_unused{*request};
      std::stop_token stop;
      const std::uint64_t id = request->header.value("id", std::uint64_t{0});
      {
        std::lock_guard lock(mutex_);
        running_id_ = id;
        stop_ = std::stop_source();
        stop = stop_.get_token();
      }
      // Tell the server the request arrived: a worker that dies before this frame (killed while
      // idle) did not die of this request, and the server gives the request to a fresh worker.
      try {
        write_frame(fd_, {{"id", id}, {"started", true}});
      } catch (const std::exception&) {
        break;  // the server is gone
      }
      // A request the worker cannot even start (unknown backend, malformed upload) is an error
      // for the RPC status; anything the Verifier reports is a verdict. The report travels as
      // JSON text in the payload, passed through to the client untouched.
      nlohmann::json header = {{"id", id}};
      std::string report_json;
      try {
        CaseReport report = run_request(cache, *request, stop);
        report.device = label_;
        header["verdict"] = verify::to_string(report.verdict);
        header["device"] = report.device;
        header["case"] = report.spec.to_string();
        report_json = verify::to_json(report).dump();
      } catch (const Error& e) {
        header["error"] = {{"kind", static_cast<int>(e.kind())}, {"message", e.what()}};
      } catch (const std::exception& e) {
        header["error"] = {{"kind", static_cast<int>(ErrorKind::internal)}, {"message", e.what()}};
      }
      {
        std::lock_guard lock(mutex_);
        running_id_ = 0;
      }
      try {
        write_frame(fd_, header, report_json);
      } catch (const std::exception&) {
        break;  // the server is gone
      }
    }
    std::fflush(stderr);
    std::_Exit(0);  // do not wait for the watcher
  }

 private:
  void watch_cancellations() {
    for (;;) {
      std::optional<Frame> frame;
      try {
        frame = read_frame(cancel_fd_);
      } catch (const std::exception&) {
      }
      if (!frame) return;
      std::lock_guard lock(mutex_);
      if (running_id_ != 0 && running_id_ == frame->header.value("id", std::uint64_t{0})) stop_.request_stop();
    }
  }

  int fd_;
  int cancel_fd_;
  std::string label_;
  std::size_t heap_reserve_;
  std::mutex mutex_;
  std::uint64_t running_id_ = 0;  // 0: idle
  std::stop_source stop_;
};

}  // namespace

nlohmann::json tolerance_json(const verify::SweepTolerance& t) {
  nlohmann::json overrides = nlohmann::json::object();
  for (const auto& [tensor, fixed] : t.overrides) overrides[tensor] = {{"atol", fixed.atol}, {"rtol", fixed.rtol}};
  return {{"profile", t.profile}, {"overrides", overrides}};
}

verify::SweepTolerance tolerance_from_json(const nlohmann::json& j) {
  verify::SweepTolerance t;
  t.profile = j.at("profile").get<std::string>();
  for (const auto& [tensor, fixed] : j.at("overrides").items())
    t.overrides[tensor] = {fixed.at("atol").get<double>(), fixed.at("rtol").get<double>()};
  return t;
}

int worker_main(int argc, char** argv) {
  CLI::App app("mhc-verify worker: runs backend work for `mhc-verify serve` (not for direct use)");
  int fd = -1;
  int cancel_fd = -1;
  std::string label = "cpu";
  long parent_pid = 0;
  app.add_option("--fd", fd, "socketpair end for requests and reports (server/frame.hpp frames)")->required();
  app.add_option("--cancel-fd", cancel_fd, "socketpair end for cancellations")->required();
  app.add_option("--label", label, "device label written into reports");
  app.add_option("--parent-pid", parent_pid, "exit if this process is not our parent");
  std::size_t heap_reserve = 0;
  app.add_option("--heap-reserve", heap_reserve, "bytes of heap to pre-fault at start and keep while idle");
  // argv[1] is the subcommand name "worker".
  const int skip = argc > 1 ? 1 : 0;
  try {
    app.parse(argc - skip, argv + skip);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  // Die with the server, even when it is SIGKILLed; an interrupt from the terminal is the
  // server's to handle (it drains, then closes our channel).
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (parent_pid != 0 && ::getppid() != parent_pid) return 3;
  ::signal(SIGINT, SIG_IGN);
  // A check or case allocates tensors of up to hundreds of MiB. Fresh pages cost a page fault and
  // a kernel clear each (a 512 MiB upload spent ~0.4-1.4 s there on the 2-core dev VM, more than
  // receiving it took), so freed blocks stay in the heap for the next request (no mmap per large
  // block, no trim on free) and go back to the system after kIdleTrimMs without a request.
  mallopt(M_MMAP_THRESHOLD, static_cast<int>(kHeapBlockMax));
  mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max());
  reserve_heap(heap_reserve);
  return Worker(fd, cancel_fd, label, heap_reserve).run();
}

}  // namespace mhc::server
