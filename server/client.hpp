// The client side of the service, used by the CLI for `--server TARGET` (repeatable).
//
// Spreading work over hosts is gRPC's job, not ours: each target is one channel with the
// `round_robin` policy, so "ipv4:10.0.0.1:50051,10.0.0.2:50051" or "dns:///verifier.ns.svc" (a
// Kubernetes headless Service) balances calls over every address. A sweep is sent as one RunCase
// per case (a RunSweep stream would pin the whole sweep to one host), several in flight, cases
// dealt over the targets in turn. A call that fails with UNAVAILABLE (a server that died or is
// draining) is retried by gRPC's retry policy and then re-issued on the next target, so a sweep
// survives losing a server; reports come back in case order, as in-process.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "mhc_verify.grpc.pb.h"
#include "verify/report.hpp"
#include "verify/sweep.hpp"

namespace mhc::server {

struct ClientOptions {
  std::vector<std::string> targets;  // "127.0.0.1:50051", "ipv4:h1:p,h2:p", "dns:///name:50051"
  std::string token;                 // bearer token; empty: none
  // TLS: set tls_ca (PEM roots) to use TLS; add tls_cert/tls_key for a client certificate.
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;
  double case_deadline_seconds = 3600;  // per RunCase call
  int max_attempts = 3;                 // per case on UNAVAILABLE, each on the next target
  // A busy server (RESOURCE_EXHAUSTED: its work queue is full) is retried on the next target with
  // exponential backoff (0.1 s doubling to 5 s, jittered) until a case has waited this long.
  double busy_retry_seconds = 300;
  int in_flight = 8;                    // concurrent RunCase calls of a sweep
};

// The outcome of a sweep sent case by case. A case that fails for good (what run_case would
// throw) stops the sweep: no further case is sent, the calls in flight finish, and every case
// without a report gets one with Verdict::error saying it was not run, so finished results are
// never lost (`run --server` writes them before exiting 3).
struct SweepResults {
  std::vector<verify::CaseReport> reports;  // in the order of the specs
  std::optional<Error> error;               // the first case that failed for good
};

struct RunCaseOptions {
  std::string backend;  // empty: the server's default
  bool diagnose = true;
  bool check_determinism = true;
  // Judge with this instead of each case's `tol=` profile (RunOptions.tolerance): what a local
  // run's VerifyOptions.tolerance comes from.
  std::optional<verify::SweepTolerance> tolerance;
};

struct CheckTensorsOptions {
  std::string op = "pre";
  std::string preset = "deepseek";
  std::map<std::string, std::string> semantics;  // overrides of the preset
  std::string label;
  std::string tolerance = "baseline";
  std::string precision;  // f32 | tf32 | bf16gemm | bf16dx; empty: the payload's metadata, else f32
  std::string phi_layout;     // MK | KM; empty: MK
  std::string stream_layout;  // TNC | TCN; empty: TNC
};

class Client {
 public:
  // Throws Error(invalid_input) for no targets or unreadable TLS files.
  explicit Client(ClientOptions options);
  ~Client();

  // Errors follow the CLI exit codes: Error(invalid_input) when the server rejected the
  // request (INVALID_ARGUMENT, FAILED_PRECONDITION), Error(environment) when no server could
  // answer (UNAVAILABLE after retries, DEADLINE_EXCEEDED, UNAUTHENTICATED, RESOURCE_EXHAUSTED).
  ::mhcverify::v1::ServerInfo info(std::size_t target = 0);
  verify::CaseReport run_case(const verify::CaseSpec& spec, const RunCaseOptions& options = {});
  // `progress` is called (serialised) as each case completes. After `stop` is requested no
  // further case is sent, the calls in flight finish, and the cases not sent are reported as
  // errors "cancelled" (SweepResults::error stays empty: nothing failed).
  SweepResults run_cases(
      const std::vector<verify::CaseSpec>& specs, const RunCaseOptions& options = {},
      const std::function<void(std::size_t index, const verify::CaseReport&)>& progress = {},
      std::stop_token stop = {});
  // Streams a safetensors payload in 1 MiB chunks with its SHA-256 and returns the verdict.
  verify::CaseReport check_tensors(const std::string& payload, const CheckTensorsOptions& options);
  // The same, returning the server's CaseResult as sent (with upload_bytes and upload_seconds).
  ::mhcverify::v1::CaseResult upload(const std::string& payload, const CheckTensorsOptions& options);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The channel arguments every mhc-verify client uses: round_robin over all resolved addresses,
// gRPC retries of UNAVAILABLE, report-sized receive limit. Exposed for tests and benchmarks.
std::string client_service_config_json();

}  // namespace mhc::server
