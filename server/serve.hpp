// `mhc-verify serve`: the gRPC server with its health and reflection services, its worker pool,
// and graceful shutdown (health NOT_SERVING, drain with a deadline, workers ended).
#pragma once

#include <memory>
#include <vector>

#include "server/options.hpp"

namespace mhc::server {

// A started server. Tests use it directly; serve_main wraps it with signal handling.
class RunningServer {
 public:
  // Validates the options (exposure rule, TLS files, token file), starts the workers and listens.
  // Throws Error(invalid_input) for bad options, Error(environment) when it cannot listen or
  // start a worker.
  static std::unique_ptr<RunningServer> start(const ServeOptions& options);
  ~RunningServer();  // shutdown(0) if not done

  int port() const;
  // Health NOT_SERVING, new requests UNAVAILABLE, running ones get `drain_seconds` to finish
  // before they are cancelled; then the workers are ended. Idempotent.
  void shutdown(double drain_seconds);
  // Blocks until shutdown() has completed.
  void wait();

  struct Impl;

 private:
  explicit RunningServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Runs until SIGTERM or SIGINT, then shuts down gracefully (ServeOptions::drain_seconds).
// Returns the CLI exit code: 0 after a clean shutdown, 2 for bad options, 3 when the server
// cannot start. Must be called before the process starts other threads (it blocks the signals
// for every thread it creates).
int serve_main(const ServeOptions& options);

// The GPUs the server runs workers on: options.devices checked against the host's
// `device_count` GPUs (an unknown or repeated index is an Error(invalid_input) naming it), or
// every GPU when options.devices is empty.
std::vector<int> served_gpus(const ServeOptions& options, int device_count);

}  // namespace mhc::server
