// Options of `mhc-verify serve` (the gRPC service) and their command-line spelling.
//
// The CLI owns argument parsing; add_serve_options registers these flags on its `serve`
// subcommand so the CLI and the test server binary spell them the same way.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace mhc::server {

struct ServeOptions {
  // Network.
  std::string listen = "127.0.0.1:50051";  // host:port; port 0 picks a free one (tests)
  std::string name;                        // shown in GetInfo and report devices; default hostname
  bool insecure = false;  // allow a non-loopback listen address without TLS or token

  // Security. A token file holds one line, the bearer token (surrounding whitespace ignored).
  std::string token_file;
  std::string tls_cert;       // PEM server certificate chain
  std::string tls_key;        // PEM private key
  std::string tls_client_ca;  // PEM CA bundle: when set, clients must present a certificate

  // Workers: one process per GPU; on CPU hosts `workers` processes (0 = min(2, cores)).
  int workers = 0;
  std::vector<int> devices;  // GPUs to serve (--devices 0,1); empty: every GPU of the host
  std::string backend = "auto";  // default candidate backend when a request names none
  // The worker command: argv prefix re-executed for each worker, followed by the arguments of
  // worker_main. Default: this binary's `worker` subcommand (/proc/self/exe worker).
  std::vector<std::string> worker_command;

  // Limits (per request, and of the work queue).
  std::uint64_t max_case_elements = std::uint64_t{1} << 28;  // T*n*C of one case
  std::uint64_t max_upload_bytes = std::uint64_t{1} << 30;   // one CheckTensors payload
  std::uint64_t max_upload_inflight_bytes = std::uint64_t{2} << 30;  // all uploads together
  // A memory file of this size made and pre-faulted at start and kept for the server's life
  // (server/upload_buffers.hpp), so a first upload of about this size does not pay for fresh
  // pages; costs this much resident shared memory. At most max_upload_bytes; 0: none.
  std::uint64_t upload_reserve_bytes = 0;
  // The estimated peak memory (verify::case_peak_bytes) of the cases running at once, over every
  // worker: a case waits in the queue until it fits, and one that can never fit is refused.
  // 0: three quarters of the host's physical memory.
  std::uint64_t memory_budget_bytes = 0;
  double max_case_seconds = 0;  // a case running longer is stopped, verdict error; 0: no limit
  // A CheckTensors stream with no message for this long is cancelled (0: never).
  double upload_idle_seconds = 30;
  std::uint32_t max_sweep_cases = 100000;
  std::uint32_t max_pending_requests = 256;  // admitted RPCs (running or queued); beyond: RESOURCE_EXHAUSTED
  std::uint32_t max_receive_message_bytes = 4u << 20;  // a 1 MiB chunk plus headers fits
  std::uint32_t max_send_message_bytes = 64u << 20;    // a report with a full decomposition fits

  // Shutdown: on SIGTERM/SIGINT health goes NOT_SERVING, then running requests get this long to
  // finish before they are cancelled.
  double drain_seconds = 30;
  // A cancelled case whose worker does not stop within this grace is killed and replaced.
  double cancel_grace_seconds = 2;
};

// Registers --listen, --name, --insecure, --token-file, --tls-cert, --tls-key, --tls-client-ca,
// --workers, --devices, --backend, --max-case-elements, --max-upload-bytes, --max-upload-inflight-bytes,
// --upload-reserve-bytes, --upload-idle-seconds, --memory-budget-bytes, --max-case-seconds,
// --max-sweep-cases, --max-pending, --drain-seconds on `app`.
void add_serve_options(CLI::App& app, ServeOptions& options);

}  // namespace mhc::server
