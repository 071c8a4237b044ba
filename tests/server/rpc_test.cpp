// Every RPC against a real server on 127.0.0.1 (ephemeral port, worker processes), the bad
// requests of issue 5 and their statuses, concurrency, crashes, cancellation and shutdown.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <thread>

#include <gtest/gtest.h>

#include <grpcpp/generic/generic_stub.h>

#include "fixture.hpp"
#include "core/error.hpp"
#include "kernels/backend.hpp"
#include "kernels/cuda/cuda_backend.hpp"
#include "server/sha256.hpp"
#include "server/upload.hpp"
#include "verify/casegen.hpp"
#include "verify/op_runner.hpp"
#include "verify/safetensors.hpp"

namespace mhc::server::testing {
namespace {

const std::string kPre = "pre T=13 n=4 C=64 preset=deepseek seed=1";
const std::string kPost = "post T=13 n=4 C=64 preset=deepseek seed=2";

pb::RunCaseRequest case_request(const std::string& line, const std::string& backend = "") {
  pb::RunCaseRequest r;
  r.mutable_case_ref()->set_line(line);
  r.mutable_options()->set_backend(backend);
  return r;
}

pb::RunSweepRequest sweep_request(const std::vector<std::string>& lines) {
  pb::RunSweepRequest r;
  r.set_name("test");
  for (const auto& l : lines) r.add_cases()->set_line(l);
  return r;
}

std::vector<std::string> sweep_lines(int count, int seed0 = 0) {
  std::vector<std::string> lines;
  for (int i = 0; i < count; ++i)
    lines.push_back(std::string(i % 2 ? "post" : "pre") + " T=" + std::to_string(5 + i % 7) +
                    " n=4 C=32 preset=deepseek seed=" + std::to_string(seed0 + i));
  return lines;
}

// Cases of several milliseconds each, so that a sweep of `count` outlives short deadlines.
std::vector<std::string> slow_lines(int count) {
  std::vector<std::string> lines;
  for (int i = 0; i < count; ++i) lines.push_back("pre T=64 n=4 C=512 preset=deepseek seed=" + std::to_string(i));
  return lines;
}

// Reads a whole RunSweep stream: results by index and the final status.
std::pair<std::map<std::uint32_t, pb::CaseResult>, grpc::Status> read_sweep(pb::Verifier::Stub& stub,
                                                                             grpc::ClientContext& context,
                                                                             const pb::RunSweepRequest& request) {
  std::map<std::uint32_t, pb::CaseResult> results;
  auto reader = stub.RunSweep(&context, request);
  pb::CaseResult r;
  while (reader->Read(&r)) EXPECT_TRUE(results.emplace(r.index(), r).second) << "duplicate index " << r.index();
  return {results, reader->Finish()};
}

// A CheckTensors stream: header + chunks as given.
struct Upload {
  pb::CheckHeader header;
  std::string payload;
};

Upload valid_upload(const std::string& line, const std::string& producer = "emulated") {
  const auto spec = verify::CaseSpec::parse(line);
  Upload u;
  u.payload = case_payload(line, producer);
  u.header.set_op(std::string(verify::to_string(spec.op)));
  u.header.set_preset(spec.preset);
  u.header.set_label("emulated.safetensors");
  u.header.set_total_bytes(u.payload.size());
  u.header.set_sha256(sha256_hex(u.payload));
  return u;
}

grpc::Status send_upload(pb::Verifier::Stub& stub, const Upload& u, pb::CaseResult* result,
                         std::size_t chunk_bytes = kMaxChunkBytes, std::size_t stop_after = SIZE_MAX,
                         bool header = true) {
  auto context = make_context();
  auto writer = stub.CheckTensors(context.get(), result);
  const std::size_t end = std::min(stop_after, u.payload.size());
  for (std::size_t off = 0; off < end || off == 0; off += chunk_bytes) {
    pb::CheckChunk chunk;
    if (off == 0 && header) *chunk.mutable_header() = u.header;
    chunk.set_offset(off);
    chunk.set_data(u.payload.substr(off, std::min(chunk_bytes, end - off)));
    if (!writer->Write(chunk)) break;
    if (end == 0) break;
  }
  writer->WritesDone();
  return writer->Finish();
}

class Rpc : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new TestServer(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override { stub_ = make_stub(server_->target); }
  static TestServer* server_;
  std::unique_ptr<pb::Verifier::Stub> stub_;
};
TestServer* Rpc::server_ = nullptr;

TEST_F(Rpc, GetInfoDescribesTheServer) {
  pb::ServerInfo info;
  ASSERT_TRUE(stub_->GetInfo(make_context().get(), {}, &info).ok());
  EXPECT_EQ(info.hostname(), "test");
  EXPECT_EQ(info.workers(), 2u);
  EXPECT_EQ(info.default_backend(), "emulated");
  EXPECT_FALSE(info.tool_version().empty());
  EXPECT_NE(std::find(info.backends().begin(), info.backends().end(), "emulated"), info.backends().end());
  EXPECT_NE(std::find(info.presets().begin(), info.presets().end(), "deepseek"), info.presets().end());
  EXPECT_EQ(info.limits().max_chunk_bytes(), kMaxChunkBytes);
  EXPECT_GT(info.limits().max_case_elements(), 0u);
}

TEST_F(Rpc, HealthReportsServing) {
  auto channel = grpc::CreateChannel(server_->target, grpc::InsecureChannelCredentials());
  // grpc.health.v1.Health/Check with an empty request: status SERVING is field 1 = 1.
  grpc::GenericStub generic(channel);
  grpc::ClientContext context;
  grpc::ByteBuffer request, response;
  grpc::Slice empty;
  request = grpc::ByteBuffer(&empty, 1);
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  grpc::Status status;
  generic.UnaryCall(&context, "/grpc.health.v1.Health/Check", {}, &request, &response, [&](grpc::Status s) {
    std::lock_guard lock(m);
    status = s;
    done = true;
    cv.notify_one();
  });
  std::unique_lock lock(m);
  cv.wait(lock, [&] { return done; });
  ASSERT_TRUE(status.ok()) << status.error_message();
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(response.Dump(&slices).ok());
  std::string bytes;
  for (auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  EXPECT_EQ(bytes, std::string("\x08\x01", 2));  // SERVING
}

TEST_F(Rpc, RunCaseEqualsInProcess) {
  for (const auto& line : {kPre, kPost}) {
    pb::CaseResult result;
    const auto status = stub_->RunCase(make_context().get(), case_request(line), &result);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(result.case_line(), verify::CaseSpec::parse(line).to_string());
    EXPECT_EQ(result.verdict(), "pass");
    EXPECT_NE(result.device().find("test/cpu/worker-"), std::string::npos);
    EXPECT_EQ(comparable(result.report_json()), comparable(in_process(line)));
  }
}

TEST_F(Rpc, StructuredFieldsEqualTheLineForm) {
  pb::RunCaseRequest request;
  auto* f = request.mutable_case_ref()->mutable_fields();
  f->set_op("pre");
  f->set_t(13);
  f->set_n(4);
  f->set_c(64);
  f->set_preset("deepseek");
  f->set_seed(1);
  pb::CaseResult result;
  ASSERT_TRUE(stub_->RunCase(make_context().get(), request, &result).ok());
  EXPECT_EQ(result.case_line(), verify::CaseSpec::parse(kPre).to_string());
}

TEST_F(Rpc, RunSweepStreamsEveryCaseOnceMatchingInProcess) {
  const auto lines = sweep_lines(8);
  auto context = make_context();
  auto [results, status] = read_sweep(*stub_, *context, sweep_request(lines));
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(results.size(), lines.size());
  for (std::size_t i = 0; i < lines.size(); ++i)
    EXPECT_EQ(comparable(results.at(i).report_json()), comparable(in_process(lines[i]))) << lines[i];
}

TEST_F(Rpc, NumericalFailureIsAVerdictInAnOkResponse) {
  pb::CaseResult result;
  const auto status =
      stub_->RunCase(make_context().get(), case_request(kPost, "mutant:post_h_not_transposed"), &result);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(result.verdict(), "fail");
}

TEST_F(Rpc, BadRequestsGetInvalidArgumentNamingTheField) {
  auto expect_invalid = [&](const pb::RunCaseRequest& request, const std::string& field) {
    pb::CaseResult result;
    const auto status = stub_->RunCase(make_context().get(), request, &result);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
    EXPECT_NE(status.error_message().find(field), std::string::npos) << status.error_message();
  };
  expect_invalid(case_request("pre T=13 n=4 C=64 preset=nonsense seed=1"), "case_ref");
  expect_invalid(case_request("pre T=1000000000000 n=4 C=1000000 seed=1"), "case_ref");
  expect_invalid(case_request("pre T=100000 n=4 C=100000 seed=1"), "case_ref");  // over the element limit
  expect_invalid(case_request("pre T=13 n=0 C=64 seed=1"), "case_ref");
  expect_invalid(case_request("sideways T=1 n=1 C=1"), "case_ref");
  expect_invalid(case_request(kPre, "no_such_backend"), "options.backend");
  expect_invalid(case_request(kPre, "exec:touch /tmp/mhc-verify-rpc-exec"), "options.backend");  // runs nothing here
  expect_invalid(case_request(kPre, "pipe:touch /tmp/mhc-verify-rpc-exec"), "options.backend");
  expect_invalid(pb::RunCaseRequest(), "case_ref");

  auto lines = sweep_lines(4);
  lines[2] = "pre T=-1 n=4 C=32";
  auto context = make_context();
  auto [results, status] = read_sweep(*stub_, *context, sweep_request(lines));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("cases[2]"), std::string::npos) << status.error_message();
  EXPECT_TRUE(results.empty());  // validated before anything ran

  auto empty_context = make_context();
  auto [none, empty_status] = read_sweep(*stub_, *empty_context, sweep_request({}));
  EXPECT_EQ(empty_status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(Rpc, GpuBackendWithoutGpuIsFailedPrecondition) {
  const auto names = backend_names();
  if (std::find(names.begin(), names.end(), "cuda") == names.end() || cuda_device_count() > 0)
    GTEST_SKIP() << "needs a CUDA build on a host without GPU (CI)";
  pb::CaseResult result;
  const auto status = stub_->RunCase(make_context().get(), case_request(kPre, "cuda"), &result);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << status.error_message();
}

TEST_F(Rpc, OversizeMessageIsRefused) {
  pb::CaseResult result;
  const auto status = stub_->RunCase(make_context().get(), case_request(kPre + std::string(5 << 20, ' ')), &result);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
}

TEST_F(Rpc, CheckTensorsJudgesAnUpload) {
  const auto upload = valid_upload(kPre);
  pb::CaseResult result;
  const auto status = send_upload(*stub_, upload, &result, 1000);  // many small chunks
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(result.verdict(), "pass") << result.report_json();
  EXPECT_EQ(result.upload_bytes(), upload.payload.size());
}

TEST_F(Rpc, CheckTensorsJudgesAtTheDeclaredPrecision) {
  // A bf16-GEMM implementation fails against the f32 baseline, with the flag that judges it in
  // the diagnosis, and passes when the header declares its precision.
  auto upload = valid_upload("pre T=9 n=4 C=40 preset=deepseek seed=4 dist=normal", "emulated:bf16gemm");
  pb::CaseResult result;
  ASSERT_TRUE(send_upload(*stub_, upload, &result).ok());
  EXPECT_EQ(result.verdict(), "fail");
  EXPECT_NE(result.report_json().find("--precision bf16gemm"), std::string::npos) << result.report_json();
  upload.header.set_precision("bf16gemm");
  ASSERT_TRUE(send_upload(*stub_, upload, &result).ok());
  EXPECT_EQ(result.verdict(), "pass") << result.report_json();
  upload.header.set_precision("fp8");
  const auto status = send_upload(*stub_, upload, &result);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("header.precision"), std::string::npos) << status.error_message();
}

TEST_F(Rpc, CheckTensorsReadsTheStreamLayoutOfTheHeader) {
  // The same post case with x, dout, out and dx stored stream-last [T, C, n].
  const std::string line = "post T=5 n=3 C=8 preset=deepseek seed=4 dist=normal";
  const auto spec = verify::CaseSpec::parse(line);
  verify::SafetensorsFile file{verify::case_tensors(spec), verify::case_metadata(spec)};
  file.tensors.merge(verify::run_op(*make_backend("emulated"), spec.op, spec.semantics, file.tensors, false).results);
  const std::int64_t T = 5, n = 3, C = 8;
  for (const char* name : {"x", "dout", "out", "dx"}) {
    const Tensor& t = file.tensors.at(name);
    Tensor tcn(t.dtype(), {T, C, n});
    for (std::int64_t k = 0; k < t.numel(); ++k) tcn.set((k / (n * C) * C + k % C) * n + k / C % n, t.get(k));
    file.tensors.at(name) = tcn;
  }
  const auto bytes = verify::serialize_safetensors(file);
  Upload upload = valid_upload(line);
  upload.payload.assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  upload.header.set_total_bytes(upload.payload.size());
  upload.header.set_sha256(sha256_hex(upload.payload));
  upload.header.set_stream_layout("TCN");
  pb::CaseResult result;
  ASSERT_TRUE(send_upload(*stub_, upload, &result).ok());
  EXPECT_EQ(result.verdict(), "pass") << result.report_json();
  upload.header.set_stream_layout("NCT");
  const auto status = send_upload(*stub_, upload, &result);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("header.stream_layout"), std::string::npos) << status.error_message();
}

TEST_F(Rpc, MalformedUploadsAreRejected) {
  const auto upload = valid_upload(kPre);
  auto expect = [&](grpc::Status status, grpc::StatusCode code, const std::string& field) {
    EXPECT_EQ(status.error_code(), code) << status.error_message();
    EXPECT_NE(status.error_message().find(field), std::string::npos) << status.error_message();
  };
  pb::CaseResult result;
  auto corrupt = upload;
  corrupt.payload[corrupt.payload.size() / 2] ^= 1;
  expect(send_upload(*stub_, corrupt, &result), grpc::StatusCode::INVALID_ARGUMENT, "header.sha256");
  expect(send_upload(*stub_, upload, &result, 1000, upload.payload.size() / 2), grpc::StatusCode::INVALID_ARGUMENT,
         "truncated");
  expect(send_upload(*stub_, upload, &result, kMaxChunkBytes, SIZE_MAX, false), grpc::StatusCode::INVALID_ARGUMENT,
         "chunk[0].header");
  auto big = upload;
  big.payload = std::string(kMaxChunkBytes + 1, 'x');
  big.header.set_total_bytes(big.payload.size());
  big.header.set_sha256(sha256_hex(big.payload));
  expect(send_upload(*stub_, big, &result, kMaxChunkBytes + 1), grpc::StatusCode::INVALID_ARGUMENT, "chunk limit");
  auto garbage = big;
  garbage.payload = std::string(100, 'g');
  garbage.header.set_total_bytes(garbage.payload.size());
  garbage.header.set_sha256(sha256_hex(garbage.payload));
  expect(send_upload(*stub_, garbage, &result), grpc::StatusCode::INVALID_ARGUMENT, "");
  auto huge = upload;
  huge.header.set_total_bytes(std::uint64_t{1} << 40);
  expect(send_upload(*stub_, huge, &result), grpc::StatusCode::RESOURCE_EXHAUSTED, "header.total_bytes");
  auto bad_op = upload;
  bad_op.header.set_op("sideways");
  expect(send_upload(*stub_, bad_op, &result), grpc::StatusCode::INVALID_ARGUMENT, "header.op");
  // The server is still fine.
  ASSERT_TRUE(send_upload(*stub_, upload, &result).ok());
}

TEST_F(Rpc, ExpiredDeadlineStopsTheWorkAndTheServerCarriesOn) {
  pb::ServerInfo before, after;
  ASSERT_TRUE(stub_->GetInfo(make_context().get(), {}, &before).ok());
  auto context = make_context(0.3);
  auto [results, status] = read_sweep(*stub_, *context, sweep_request(slow_lines(400)));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_LT(results.size(), 400u);
  pb::CaseResult result;
  ASSERT_TRUE(stub_->RunCase(make_context().get(), case_request(kPre), &result).ok());
  // The abandoned sweep did not hold the workers: the next case ran without the rest of the 400
  // before it (the workers answer in order of admission).
  ASSERT_TRUE(stub_->GetInfo(make_context().get(), {}, &after).ok());
  EXPECT_LT(after.worker_stats().jobs_done() - before.worker_stats().jobs_done(), 400u);
}

TEST_F(Rpc, CancellationMidSweepEndsTheStream) {
  auto context = make_context();
  auto reader = stub_->RunSweep(context.get(), sweep_request(slow_lines(400)));
  pb::CaseResult r;
  ASSERT_TRUE(reader->Read(&r));
  ASSERT_TRUE(reader->Read(&r));
  context->TryCancel();
  while (reader->Read(&r)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  pb::CaseResult result;
  EXPECT_TRUE(stub_->RunCase(make_context().get(), case_request(kPre), &result).ok());
}

TEST_F(Rpc, ThirtyTwoConcurrentClientsGetCompleteIdenticalReports) {
  const auto lines = sweep_lines(6, 100);
  std::vector<nlohmann::json> expected;
  for (const auto& l : lines) expected.push_back(comparable(in_process(l)));
  std::atomic<int> complete{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 32; ++c) {
    clients.emplace_back([&] {
      auto stub = make_stub(server_->target);
      auto context = make_context(240);
      auto [results, status] = read_sweep(*stub, *context, sweep_request(lines));
      bool ok = status.ok() && results.size() == lines.size();
      for (std::size_t i = 0; ok && i < lines.size(); ++i) ok = comparable(results.at(i).report_json()) == expected[i];
      if (ok) ++complete;
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(complete.load(), 32);
}

TEST_F(Rpc, CrashingKernelIsAVerdictAndTheServerStaysHealthy) {
  pb::CaseResult result;
  const auto status = stub_->RunCase(make_context().get(), case_request(kPre, "mutant:crash_out_of_bounds"), &result);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(result.verdict(), "crash");
  EXPECT_NE(result.report_json().find("signal"), std::string::npos);
  // The next requests run on a replacement worker.
  for (int i = 0; i < 3; ++i) {
    pb::CaseResult next;
    ASSERT_TRUE(stub_->RunCase(make_context().get(), case_request(kPre), &next).ok());
    EXPECT_EQ(next.verdict(), "pass");
  }
  EXPECT_EQ(worker_pids().size(), 2u);
  pb::ServerInfo info;
  ASSERT_TRUE(stub_->GetInfo(make_context().get(), {}, &info).ok());
  EXPECT_GE(info.worker_stats().crashes(), 1u);
  EXPECT_GE(info.worker_stats().spawns(), 3u);  // two at start, one replacement
}

TEST_F(Rpc, WorkerKilledMidCaseIsACrashAndIsReplaced) {
  // A case long enough to be caught running (the golden in f64 on a few MB).
  const std::string slow = "pre T=2048 n=4 C=1024 preset=deepseek seed=5";
  pb::CaseResult result;
  grpc::Status status;
  std::thread call([&] { status = stub_->RunCase(make_context(120).get(), case_request(slow), &result); });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const auto before = worker_pids();
  ASSERT_EQ(before.size(), 2u);
  for (pid_t pid : before) ::kill(pid, SIGKILL);  // one of them runs the case
  call.join();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(result.verdict(), "crash") << result.report_json();
  EXPECT_NE(result.report_json().find("SIGKILL"), std::string::npos);
  pb::CaseResult next;
  ASSERT_TRUE(stub_->RunCase(make_context().get(), case_request(kPre), &next).ok());
  EXPECT_EQ(next.verdict(), "pass");
}

// Workers killed while idle, the next case sent at once: their deaths are still under way when
// it is dispatched (waitpid does not see them yet), and the case must not be blamed for them.
TEST_F(Rpc, WorkersKilledWhileIdleAreNotBlamedOnTheNextCase) {
  for (int round = 0; round < 5; ++round) {
    const auto pids = worker_pids();
    ASSERT_FALSE(pids.empty());
    for (pid_t pid : pids) ::kill(pid, SIGKILL);
    pb::CaseResult next;
    ASSERT_TRUE(stub_->RunCase(make_context().get(), case_request(kPre), &next).ok());
    EXPECT_EQ(next.verdict(), "pass") << "round " << round << ": " << next.report_json();
  }
}

TEST(RpcQueue, FullQueueIsResourceExhausted) {
  auto options = test_options(1);
  options.max_pending_requests = 1;
  TestServer server(options);
  auto stub = make_stub(server.target);
  auto context = make_context();
  auto reader = stub->RunSweep(context.get(), sweep_request(slow_lines(200)));
  pb::CaseResult r;
  ASSERT_TRUE(reader->Read(&r));  // the sweep is admitted and running
  pb::CaseResult result;
  const auto status = stub->RunCase(make_context().get(), case_request(kPre), &result);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  context->TryCancel();
  while (reader->Read(&r)) {
  }
  reader->Finish();
}

// --upload-reserve-bytes: the reserve file serves the uploads and the workers start with the
// reserved heap (--heap-reserve); the reports are those of a server without it.
TEST(RpcReserve, AServerWithAnUploadReserveJudgesUploadsAsUsual) {
  const auto upload = valid_upload(kPre);
  auto options = test_options(1);
  options.upload_reserve_bytes = upload.payload.size();  // the reserve fits this upload
  TestServer server(options);
  auto stub = make_stub(server.target);
  for (int round = 0; round < 2; ++round) {  // the second reuses what the first gave back
    pb::CaseResult result;
    const auto status = send_upload(*stub, upload, &result);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(result.verdict(), "pass") << result.report_json();
  }
  pb::ServerInfo info;
  ASSERT_TRUE(stub->GetInfo(make_context().get(), {}, &info).ok());
  EXPECT_EQ(info.worker_stats().crashes(), 0u);
  EXPECT_EQ(info.worker_stats().spawns(), 1u);  // the worker took --heap-reserve and stayed up
}

TEST(RpcShutdown, DrainFinishesRunningSweepsAndRefusesNewWork) {
  TestServer server;
  auto stub = make_stub(server.target);
  const auto lines = sweep_lines(12);
  auto context = make_context();
  auto reader = stub->RunSweep(context.get(), sweep_request(lines));
  pb::CaseResult r;
  ASSERT_TRUE(reader->Read(&r));
  std::size_t received = 1;
  std::thread stopper([&] { server.server->shutdown(60); });
  while (reader->Read(&r)) ++received;
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_EQ(received, lines.size());  // no report lost in the drain
  stopper.join();
  pb::CaseResult result;
  const auto status = stub->RunCase(make_context(5).get(), case_request(kPre), &result);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
}

// During the drain the port stays open: new calls get UNAVAILABLE saying the server is shutting
// down (they used to get a refused connection, and NOT_SERVING was never observable).
TEST(RpcShutdown, NewCallsDuringTheDrainAreToldTheServerIsShuttingDown) {
  TestServer server(test_options(1));
  auto stub = make_stub(server.target);
  auto context = make_context();
  auto reader = stub->RunSweep(context.get(), sweep_request(slow_lines(200)));
  pb::CaseResult r;
  ASSERT_TRUE(reader->Read(&r));
  std::jthread stopper([&] { server.server->shutdown(60); });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  pb::CaseResult result;
  const auto status = stub->RunCase(make_context(5).get(), case_request(kPre), &result);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(status.error_message().find("shutting down"), std::string::npos) << status.error_message();
  context->TryCancel();
  while (reader->Read(&r)) {
  }
  reader->Finish();
}

// A case whose estimated peak memory exceeds the whole budget can never run: INVALID_ARGUMENT
// naming the estimate and the budget (not RESOURCE_EXHAUSTED, which clients retry).
TEST(RpcMemory, ACaseOverTheMemoryBudgetIsRefusedNamingTheEstimate) {
  auto options = test_options(1);
  options.memory_budget_bytes = 64 << 20;
  TestServer server(options);
  auto stub = make_stub(server.target);
  pb::CaseResult result;
  const auto status = stub->RunCase(make_context().get(), case_request("post T=8192 n=4 C=1024 seed=1"), &result);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("case_ref.shape: estimated peak memory"), std::string::npos)
      << status.error_message();
  EXPECT_NE(status.error_message().find("memory budget of 64 MiB"), std::string::npos) << status.error_message();
  ASSERT_TRUE(stub->RunCase(make_context().get(), case_request(kPre), &result).ok());  // small ones still run
}

// Two workers, a budget that fits one of these cases: they run one after the other, never side
// by side, and both pass.
TEST(RpcMemory, CasesWaitUntilTheirMemoryFits) {
  const std::string line = "pre T=256 n=4 C=512 preset=deepseek seed=1";
  const auto peak = verify::case_peak_bytes(verify::CaseSpec::parse(line));
  auto options = test_options(2);
  options.memory_budget_bytes = peak * 3 / 2;
  // With diagnosis on (the default) a case reserves what decomposing it would take, up to the budget.
  const auto reserved = std::min<std::uint64_t>(
      verify::case_peak_bytes(verify::CaseSpec::parse(line), verify::CaseWork::decompose), options.memory_budget_bytes);
  TestServer server(options);
  auto stub = make_stub(server.target);
  std::atomic<int> running{2};
  std::vector<grpc::Status> statuses(2);
  std::vector<pb::CaseResult> results(2);
  std::vector<std::jthread> calls;
  for (int i = 0; i < 2; ++i)
    calls.emplace_back([&, i] {
      statuses[i] = stub->RunCase(make_context().get(), case_request(line), &results[i]);
      --running;
    });
  std::uint64_t most = 0;
  while (running > 0) {
    pb::ServerInfo info;
    ASSERT_TRUE(stub->GetInfo(make_context().get(), {}, &info).ok());
    most = std::max(most, info.worker_stats().memory_in_use_bytes());
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  calls.clear();
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(statuses[i].ok()) << statuses[i].error_message();
    EXPECT_EQ(results[i].verdict(), "pass");
  }
  EXPECT_EQ(most, reserved);  // seen running, and never two at once
}

// --max-case-seconds: a case running longer is stopped and reported as an error verdict; the
// worker is then free for the next case.
TEST(RpcLimits, ACaseOverTheTimeLimitIsStoppedAsAnError) {
  auto options = test_options(1);
  // Far below the long case's minutes, and far above what the follow-up case takes even under
  // TSan on a loaded 2-core runner (0.5 s was not: the follow-up came back stopped).
  options.max_case_seconds = 2;
  TestServer server(options);
  auto stub = make_stub(server.target);
  pb::CaseResult result;
  // The case would run for minutes; the verdict says the limit stopped it.
  const auto status =
      stub->RunCase(make_context().get(), case_request("pre T=4096 n=4 C=64 preset=deepseek seed=1 repeats=10000"), &result);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(result.verdict(), "error");
  EXPECT_NE(result.report_json().find("--max-case-seconds"), std::string::npos) << result.report_json();
  ASSERT_TRUE(stub->RunCase(make_context().get(), case_request(kPre), &result).ok());
  EXPECT_EQ(result.verdict(), "pass") << result.report_json();
}

std::uint64_t shmem_kib() {  // the server runs in this process
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.starts_with("RssShmem:")) return std::stoull(line.substr(9));
  return 0;
}

// A client that announces a large upload and stalls: it commits about what it sent (the
// prefaulter used to fill the whole announced size), holds no more than its share of the pending
// slots, and is cancelled when idle, after which its slot is free again.
TEST(RpcUploads, AStalledUploadCostsWhatItSentAndIsCancelledWhenIdle) {
  auto options = test_options(1);
  // The checks below run while the two uploads stall, and must finish before they count as idle
  // (1 s was too short under TSan on a loaded 2-core runner: the third upload got in).
  options.upload_idle_seconds = 3;
  options.max_pending_requests = 4;  // at most 2 uploads
  TestServer server(options);
  auto stub = make_stub(server.target);
  const auto shmem_before = shmem_kib();
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientWriter<pb::CheckChunk>>> writers;
  std::vector<pb::CaseResult> results(2);
  for (int i = 0; i < 2; ++i) {
    contexts.push_back(make_context());
    writers.push_back(stub->CheckTensors(contexts.back().get(), &results[i]));
    pb::CheckChunk chunk;
    chunk.mutable_header()->set_op("pre");
    chunk.mutable_header()->set_total_bytes(std::uint64_t{512} << 20);
    chunk.set_data(std::string(16, 'x'));
    ASSERT_TRUE(writers.back()->Write(chunk));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  pb::ServerInfo info;
  ASSERT_TRUE(stub->GetInfo(make_context().get(), {}, &info).ok());
  EXPECT_EQ(info.pending_requests(), 2u);
  EXPECT_LT(shmem_kib() - shmem_before, 2 * (ChunkAssembler::kPrefaultLead + (8 << 20)) / 1024);
  pb::CaseResult result;
  const auto third = send_upload(*stub, valid_upload(kPre), &result);
  EXPECT_EQ(third.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << third.error_message();
  ASSERT_TRUE(stub->RunCase(make_context().get(), case_request(kPre), &result).ok());  // cases still get in
  for (auto& writer : writers) EXPECT_EQ(writer->Finish().error_code(), grpc::StatusCode::CANCELLED);
  for (int i = 0; i < 100; ++i) {  // the slot is released when the call's reactor is done, just after
    ASSERT_TRUE(stub->GetInfo(make_context().get(), {}, &info).ok());
    if (info.pending_requests() == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(info.pending_requests(), 0u);
  const auto fourth = send_upload(*stub, valid_upload(kPre), &result);
  ASSERT_TRUE(fourth.ok()) << fourth.error_message();
  EXPECT_EQ(result.verdict(), "pass");
}

// Misconfigurations are refused at start, naming the flag, instead of starting and failing later
// or being silently changed.
TEST(RpcStart, BadOptionsAreRefusedNamingTheFlag) {
  const auto refused = [](ServeOptions o, const std::string& flag) {
    try {
      RunningServer::start(o);
      ADD_FAILURE() << flag << ": accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::invalid_input) << e.what();
      EXPECT_NE(std::string(e.what()).find(flag), std::string::npos) << e.what();
    }
  };
  auto o = test_options(1);
  o.backend = "bogus";
  refused(o, "--backend");
  o = test_options(1);
  o.listen = "127.0.0.1:99999";
  refused(o, "--listen");
  o = test_options(1);
  o.upload_reserve_bytes = o.max_upload_bytes + 1;
  refused(o, "--upload-reserve-bytes");
  o = test_options(1);
  o.max_case_elements = 0;
  refused(o, "--max-case-elements");
  o = test_options(1);
  o.max_sweep_cases = 0;
  refused(o, "--max-sweep-cases");
  o = test_options(1);
  o.max_upload_bytes = 0;
  refused(o, "--max-upload-bytes");
  o = test_options(1);
  o.drain_seconds = std::nan("");
  refused(o, "--drain-seconds");
}

// gRPC sets SO_REUSEPORT by default: a second server on a port in use started and took part of
// the traffic. It must fail to start.
TEST(RpcStart, ASecondServerOnAPortInUseDoesNotStart) {
  TestServer first(test_options(1));
  auto o = test_options(1);
  o.listen = first.target;
  EXPECT_THROW(RunningServer::start(o), Error);
}

// GetInfo names the backend "auto" resolves to, as reports do (`run --server` labels with it).
TEST(RpcStart, AutoIsResolvedInGetInfo) {
  auto o = test_options(1);
  o.backend = "auto";
  TestServer server(o);
  pb::ServerInfo info;
  ASSERT_TRUE(make_stub(server.target)->GetInfo(make_context().get(), {}, &info).ok());
  EXPECT_EQ(info.default_backend(), cuda_device_count() > 0 ? "cuda" : "emulated");
}

}  // namespace
}  // namespace mhc::server::testing
