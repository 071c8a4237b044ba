#include "server/serve.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
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
  return info;
}

constexpr const char* kServiceName = "mhcverify.v1.Verifier";

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

std::unique_ptr<RunningServer> RunningServer::start(const ServeOptions& options) {
  check_exposure(options);
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
