#include "server/serve.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include "core/error.hpp"
#include "core/semantics.hpp"
#include "kernels/backend.hpp"
#include "kernels/cuda/cuda_backend.hpp"
#include "server/auth.hpp"
#include "server/service.hpp"
#include "server/upload.hpp"
#include "server/worker_pool.hpp"
#include "verify/tolerance.hpp"

#ifndef MHC_VERSION
#define MHC_VERSION "unknown"
#endif

namespace mhc::server {

namespace {

std::string host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "localhost";
  return name;
}

WorkerPoolOptions pool_options(const ServeOptions& o, const std::string& name) {
  WorkerPoolOptions p;
  p.command = o.worker_command.empty() ? std::vector<std::string>{"/proc/self/exe", "worker"} : o.worker_command;
  p.cancel_grace_seconds = o.cancel_grace_seconds;
  p.heap_reserve_bytes = std::min(o.upload_reserve_bytes, o.max_upload_bytes);
  p.memory_budget_bytes = o.memory_budget_bytes;
  p.max_case_seconds = o.max_case_seconds;
  // One worker per GPU: a faulting kernel loses only its own device's context. Without a GPU, a
  // small pool of CPU workers (each runs OpenMP across the cores).
  const int host_gpus = cuda_device_count();
  const std::vector<int> gpus = served_gpus(o, host_gpus);
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  if (!gpus.empty()) {
    for (int d : gpus) p.slots.push_back({fmt::format("{}/cuda:{}", name, d), d});
    // The golden and the baselines of a case run on the CPU. Each GPU's worker gets the host's
    // cores divided by the host's GPUs, whether one server serves them all or one server runs
    // per GPU (--devices i): a GPU comes with the same CPU share either way, and OpenMP teams of
    // several workers on every core would thrash.
    p.omp_threads = std::max(1, cores / host_gpus);
  } else {
    const int n = o.workers > 0 ? o.workers : std::clamp<int>(cores, 1, 2);
    for (int i = 0; i < n; ++i) p.slots.push_back({fmt::format("{}/cpu/worker-{}", name, i), -1});
    p.omp_threads = std::max(1, cores / n);
  }
  return p;
}

pb::ServerInfo server_info(const ServeOptions& o, const std::string& name, std::size_t workers) {
  pb::ServerInfo info;
  info.set_tool_version(MHC_VERSION);
  info.set_grpc_version(grpc::Version());
  info.set_hostname(name);
  const std::vector<int> served = served_gpus(o, cuda_device_count());
  if (served.empty()) info.add_devices("cpu");
  for (const auto& line : cuda_device_descriptions()) {  // "<index>: <name>, ..."
    if (std::find(served.begin(), served.end(), std::atoi(line.c_str())) != served.end()) info.add_devices(line);
  }
  for (const auto& b : backend_names()) info.add_backends(b);
  for (const auto& p : preset_names()) info.add_presets(p);
  for (const auto& t : verify::tolerance_profile_names()) info.add_tolerance_profiles(t);
  info.set_default_backend(o.backend);
  info.set_workers(static_cast<std::uint32_t>(workers));
  auto* l = info.mutable_limits();
  l->set_max_case_elements(o.max_case_elements);
  l->set_max_upload_bytes(o.max_upload_bytes);
  l->set_max_chunk_bytes(kMaxChunkBytes);
  l->set_max_sweep_cases(o.max_sweep_cases);
  l->set_max_pending_requests(o.max_pending_requests);
  l->set_max_receive_message_bytes(o.max_receive_message_bytes);
  l->set_memory_budget_bytes(o.memory_budget_bytes);
  l->set_max_case_seconds(o.max_case_seconds);
  return info;
}

constexpr const char* kServiceName = "mhcverify.v1.Verifier";

// Refuses at start what would otherwise start and fail later (every request naming no backend
// failing on a field the client never set) or be silently changed (a port taken modulo 65536, a
// reserve clamped to the upload limit).
void check_serve_options(const ServeOptions& o) {
  check_backend_name(o.backend, "--backend");
  if (const auto colon = o.listen.rfind(':'); colon != std::string::npos && !o.listen.starts_with("unix")) {
    const std::string port = o.listen.substr(colon + 1);
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(port) > 65535)
      invalid_input("--listen " + o.listen + ": the port must be a number from 0 to 65535");
  }
  if (o.max_case_elements == 0) invalid_input("--max-case-elements must be at least 1");
  if (o.max_sweep_cases == 0) invalid_input("--max-sweep-cases must be at least 1");
  if (o.max_upload_bytes == 0) invalid_input("--max-upload-bytes must be at least 1");
  if (o.upload_reserve_bytes > o.max_upload_bytes)
    invalid_input(fmt::format("--upload-reserve-bytes {} is over --max-upload-bytes {}", o.upload_reserve_bytes,
                              o.max_upload_bytes));
  if (!std::isfinite(o.drain_seconds) || o.drain_seconds < 0)
    invalid_input(fmt::format("--drain-seconds must be a finite number >= 0, got {}", o.drain_seconds));
  if (!std::isfinite(o.upload_idle_seconds) || o.upload_idle_seconds < 0)
    invalid_input(fmt::format("--upload-idle-seconds must be a finite number >= 0, got {}", o.upload_idle_seconds));
  if (!std::isfinite(o.max_case_seconds) || o.max_case_seconds < 0)
    invalid_input(fmt::format("--max-case-seconds must be a finite number >= 0, got {}", o.max_case_seconds));
  if (!std::isfinite(o.cancel_grace_seconds) || o.cancel_grace_seconds < 0)
    invalid_input(fmt::format("cancel grace must be a finite number >= 0, got {}", o.cancel_grace_seconds));
}

}  // namespace

std::vector<int> served_gpus(const ServeOptions& o, int device_count) {
  std::vector<int> gpus;
  if (o.devices.empty()) {
    for (int d = 0; d < device_count; ++d) gpus.push_back(d);
    return gpus;
  }
  if (device_count == 0) {
    invalid_input(fmt::format("--devices {}: this host has no CUDA device (leave --devices out to serve with CPU workers)",
                              o.devices.front()));
  }
  for (int d : o.devices) {
    if (d < 0 || d >= device_count) {
      invalid_input(fmt::format("--devices: GPU {} does not exist (this host has {}: 0..{})", d, device_count,
                                device_count - 1));
    }
    if (std::find(gpus.begin(), gpus.end(), d) != gpus.end()) invalid_input(fmt::format("--devices: GPU {} listed twice", d));
    gpus.push_back(d);
  }
  return gpus;
}

struct RunningServer::Impl {
  ServeOptions options;
  std::unique_ptr<WorkerPool> pool;
  std::unique_ptr<VerifierService> service;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
  std::once_flag shutdown_once;
  std::mutex done_mutex;
  std::condition_variable done_cv;
  bool done = false;
};

RunningServer::RunningServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

RunningServer::~RunningServer() { shutdown(0); }

std::unique_ptr<RunningServer> RunningServer::start(const ServeOptions& requested) {
  check_exposure(requested);
  check_serve_options(requested);
  ServeOptions options = requested;
  // "auto" resolved once, as a worker would resolve it, so GetInfo's default_backend names the
  // backend the reports will show (`run --server` labels its report with it).
  if (options.backend == "auto") options.backend = served_gpus(options, cuda_device_count()).empty() ? "emulated" : "cuda";
  // Three quarters of the host: the rest is for the server itself, uploads and the system.
  if (options.memory_budget_bytes == 0) {
    const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
    options.memory_budget_bytes = static_cast<std::uint64_t>(std::max(1L, pages)) * static_cast<std::uint64_t>(std::max(1L, page)) / 4 * 3;
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  const std::string name = options.name.empty() ? host_name() : options.name;
  TokenCheck token(options.token_file.empty() ? std::string() : read_token_file(options.token_file));
  auto credentials = make_server_credentials(options);

  impl->pool = std::make_unique<WorkerPool>(pool_options(options, name));
  impl->service = std::make_unique<VerifierService>(options, *impl->pool, std::move(token),
                                                    server_info(options, name, impl->pool->size()));

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen, credentials, &impl->port);
  // gRPC sets SO_REUSEPORT by default: a second server on a port in use would start and take part
  // of the traffic (a stale server with other flags answering some requests). Fail instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.RegisterService(impl->service.get());
  builder.SetMaxReceiveMessageSize(static_cast<int>(options.max_receive_message_bytes));
  builder.SetMaxSendMessageSize(static_cast<int>(options.max_send_message_bytes));
  impl->server = builder.BuildAndStart();
  if (!impl->server || impl->port == 0) {
    impl->pool->stop();
    fail(ErrorKind::environment, "cannot listen on " + options.listen + " (address in use or not local?)");
  }
  auto* health = impl->server->GetHealthCheckService();
  health->SetServingStatus(true);
  health->SetServingStatus(kServiceName, true);
  return std::unique_ptr<RunningServer>(new RunningServer(std::move(impl)));
}

int RunningServer::port() const { return impl_->port; }

void RunningServer::shutdown(double drain_seconds) {
  std::call_once(impl_->shutdown_once, [&] {
    // Load balancers and probes see NOT_SERVING first; the service answers new requests
    // UNAVAILABLE (clients retry elsewhere); running requests drain until the deadline, after
    // which gRPC cancels them and the pool stops their cases.
    auto* health = impl_->server->GetHealthCheckService();
    health->SetServingStatus(kServiceName, false);
    health->SetServingStatus(false);
    impl_->service->begin_shutdown();
    const auto deadline = std::chrono::system_clock::now() +
                          std::chrono::milliseconds(static_cast<long>(std::max(0.0, drain_seconds) * 1000));
    // The port stays open while the admitted requests drain, so probes and load balancers see
    // NOT_SERVING and new calls get UNAVAILABLE "shutting down" (clients retry elsewhere) rather
    // than a refused connection; Shutdown closes the listener.
    while (impl_->service->pending() > 0 && std::chrono::system_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    impl_->server->Shutdown(deadline);
    impl_->pool->stop();
    impl_->server->Wait();
    std::lock_guard lock(impl_->done_mutex);
    impl_->done = true;
    impl_->done_cv.notify_all();
  });
}

void RunningServer::wait() {
  std::unique_lock lock(impl_->done_mutex);
  impl_->done_cv.wait(lock, [&] { return impl_->done; });
}

int serve_main(const ServeOptions& options) {
  // Every thread gRPC and the pool create inherits this mask, so SIGTERM/SIGINT reach only the
  // sigwait below.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  std::unique_ptr<RunningServer> server;
  try {
    server = RunningServer::start(options);
  } catch (const Error& e) {
    std::fprintf(stderr, "mhc-verify serve: %s\n", e.what());
    return e.kind() == ErrorKind::invalid_input || e.kind() == ErrorKind::unsupported ? 2 : 3;
  }
  std::fprintf(stderr, "mhc-verify serve: listening on port %d (%s)\n", server->port(), options.listen.c_str());
  std::fflush(stderr);
  int sig = 0;
  while (sigwait(&signals, &sig) != 0) {
  }
  std::fprintf(stderr, "mhc-verify serve: %s received, draining for up to %.0f s\n", sig == SIGTERM ? "SIGTERM" : "SIGINT",
               options.drain_seconds);
  server->shutdown(options.drain_seconds);
  std::fprintf(stderr, "mhc-verify serve: stopped\n");
  return 0;
}

}  // namespace mhc::server
