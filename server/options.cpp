#include "server/options.hpp"

#include <CLI/CLI.hpp>

namespace mhc::server {

void add_serve_options(CLI::App& app, ServeOptions& o) {
  app.add_option("--listen", o.listen, "host:port to listen on (port 0: any free port)")->capture_default_str();
  app.add_option("--name", o.name, "server name in GetInfo and report devices (default: host name)");
  app.add_flag("--insecure", o.insecure, "allow a non-loopback address without TLS or token");
  app.add_option("--token-file", o.token_file, "file holding the bearer token clients must send")
      ->check(CLI::ExistingFile);
  app.add_option("--tls-cert", o.tls_cert, "PEM server certificate chain")->check(CLI::ExistingFile);
  app.add_option("--tls-key", o.tls_key, "PEM server private key")->check(CLI::ExistingFile);
  app.add_option("--tls-client-ca", o.tls_client_ca, "PEM CA: require and verify client certificates")
      ->check(CLI::ExistingFile);
  app.add_option("--workers", o.workers, "worker processes on a CPU host (0: min(2, cores))")
      ->check(CLI::Range(0, 256));
  app.add_option("--devices", o.devices, "GPUs to serve, one worker each (e.g. 0,1; default: every GPU)")
      ->delimiter(',')
      ->check(CLI::NonNegativeNumber);
  app.add_option("--backend", o.backend, "default candidate backend")->capture_default_str();
  app.add_option("--max-case-elements", o.max_case_elements, "largest T*n*C of one case")
      ->capture_default_str();
  app.add_option("--max-upload-bytes", o.max_upload_bytes, "largest CheckTensors payload")
      ->capture_default_str();
  app.add_option("--max-upload-inflight-bytes", o.max_upload_inflight_bytes,
                 "all CheckTensors payloads in flight together")
      ->capture_default_str();
  app.add_option("--upload-reserve-bytes", o.upload_reserve_bytes,
                 "memory file kept ready for uploads from start (costs this much RSS; at most --max-upload-bytes)")
      ->capture_default_str();
  app.add_option("--upload-idle-seconds", o.upload_idle_seconds,
                 "cancel a CheckTensors stream that sends nothing for this long (0: never)")
      ->capture_default_str();
  app.add_option("--memory-budget-bytes", o.memory_budget_bytes,
                 "estimated peak memory of the cases running at once (0: 3/4 of physical memory)")
      ->capture_default_str();
  app.add_option("--max-case-seconds", o.max_case_seconds, "stop a case running longer (verdict error; 0: no limit)")
      ->capture_default_str();
  app.add_option("--max-sweep-cases", o.max_sweep_cases, "most cases in one RunSweep")->capture_default_str();
  app.add_option("--max-pending", o.max_pending_requests, "admitted requests before RESOURCE_EXHAUSTED")
      ->capture_default_str()
      ->check(CLI::Range(1u, 1u << 20));
  app.add_option("--drain-seconds", o.drain_seconds, "on SIGTERM, time running requests get to finish")
      ->capture_default_str();
}

}  // namespace mhc::server
