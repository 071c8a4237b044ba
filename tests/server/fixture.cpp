#include "fixture.hpp"

#include <dirent.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "kernels/backend.hpp"
#include "verify/casegen.hpp"
#include "verify/op_runner.hpp"
#include "verify/safetensors.hpp"
#include "verify/tolerance.hpp"
#include "verify/verifier.hpp"

namespace mhc::server::testing {

ServeOptions test_options(int workers) {
  ServeOptions o;
  o.listen = "127.0.0.1:0";
  o.name = "test";
  o.workers = workers;
  o.backend = "emulated";
  o.worker_command = {MHC_SERVER_TESTBIN, "worker"};
  o.drain_seconds = 10;
  o.cancel_grace_seconds = 1;
  return o;
}

TestServer::TestServer(const ServeOptions& options)
    : server(RunningServer::start(options)), target("127.0.0.1:" + std::to_string(server->port())) {}

std::unique_ptr<pb::Verifier::Stub> make_stub(const std::string& target,
                                              std::shared_ptr<grpc::ChannelCredentials> credentials) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetMaxSendMessageSize(16 << 20);  // lets the oversize test send what the server refuses
  return pb::Verifier::NewStub(
      grpc::CreateCustomChannel(target, credentials ? credentials : grpc::InsecureChannelCredentials(), args));
}

std::unique_ptr<grpc::ClientContext> make_context(double seconds, const std::string& token) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(static_cast<long>(seconds * 1000)));
  if (!token.empty()) context->AddMetadata("authorization", "Bearer " + token);
  return context;
}

verify::CaseReport in_process(const std::string& line, const std::string& backend) {
  const auto spec = verify::CaseSpec::parse(line);
  verify::VerifyOptions o;
  o.backend = backend;
  o.tolerance = verify::tolerance_profile(spec.tolerance);
  return verify::Verifier(o).run(spec);
}

std::string case_payload(const std::string& line, const std::string& backend_name) {
  const auto spec = verify::CaseSpec::parse(line);
  verify::SafetensorsFile file;
  file.tensors = verify::case_tensors(spec);
  auto backend = make_backend(backend_name);
  auto run = verify::run_op(*backend, spec.op, spec.semantics, file.tensors, false);
  file.tensors.merge(run.results);
  file.metadata = verify::case_metadata(spec);
  const auto bytes = verify::serialize_safetensors(file);
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

nlohmann::json comparable(const verify::CaseReport& report) {
  auto j = verify::to_json(report);
  j.erase("seconds");
  j.erase("backend_seconds");
  j.erase("device");
  return j;
}

nlohmann::json comparable(const std::string& report_json) {
  return comparable(verify::case_report_from_json(nlohmann::json::parse(report_json)));
}

std::vector<pid_t> worker_pids() {
  std::vector<pid_t> pids;
  const pid_t self = ::getpid();
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    // pid (comm) state ppid ...: comm may hold spaces, so parse after the last ')'.
    std::istringstream rest(line.substr(line.rfind(')') + 2));
    char state;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid != self || state == 'Z') continue;
    std::ifstream cmdline(entry.path() / "cmdline");
    std::string args((std::istreambuf_iterator<char>(cmdline)), {});
    if (args.find(std::string("worker") + '\0') != std::string::npos) pids.push_back(std::stoi(name));
  }
  return pids;
}

namespace {

// One root per test process, removed when the process exits: the tokens and TLS keys that the
// security tests write must not pile up in the temporary directory.
struct TempRoot {
  std::filesystem::path path;
  ~TempRoot() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

const std::filesystem::path& temp_root() {
  const char* base = std::getenv("TMPDIR");
  static const TempRoot root{std::filesystem::path(base ? base : "/tmp") /
                             ("mhc_server_test_" + std::to_string(::getpid()))};
  return root.path;
}

}  // namespace

std::string temp_dir(const std::string& name) {
  const auto dir = temp_root() / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace mhc::server::testing
