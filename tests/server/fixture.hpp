// Helpers of the service tests: a real server on 127.0.0.1 with an ephemeral port, stubs, the
// in-process reference for a case, and report comparison without the fields that legitimately
// differ (timings, the device label).
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>

#include "mhc_verify.grpc.pb.h"
#include "server/options.hpp"
#include "server/serve.hpp"
#include "verify/report.hpp"

namespace mhc::server::testing {

namespace pb = ::mhcverify::v1;

// Workers run mhc_server_testbin's `worker` subcommand; default backend emulated.
ServeOptions test_options(int workers = 2);

struct TestServer {
  explicit TestServer(const ServeOptions& options = test_options());
  std::unique_ptr<RunningServer> server;
  std::string target;  // "127.0.0.1:PORT"
};

std::unique_ptr<pb::Verifier::Stub> make_stub(const std::string& target,
                                              std::shared_ptr<grpc::ChannelCredentials> credentials = {});

// A fresh context with a deadline (seconds) and, when given, the bearer token.
std::unique_ptr<grpc::ClientContext> make_context(double seconds = 60, const std::string& token = {});

// The in-process report of a case (same backend and options as the server's defaults).
verify::CaseReport in_process(const std::string& line, const std::string& backend = "emulated");

// A safetensors payload of a case: its inputs plus `backend`'s results (the emulated backend's
// are judged right), with the case metadata.
std::string case_payload(const std::string& line, const std::string& backend = "emulated");

// JSON of a report without seconds, backend_seconds and device.
nlohmann::json comparable(const verify::CaseReport& report);
nlohmann::json comparable(const std::string& report_json);

// Worker processes of this test process (children whose command line contains "worker").
std::vector<pid_t> worker_pids();

// A directory under the test process's temporary root (removed at exit), created fresh.
std::string temp_dir(const std::string& name);

}  // namespace mhc::server::testing
