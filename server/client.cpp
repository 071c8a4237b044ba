#include "server/client.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <numeric>
#include <random>
#include <thread>

#include <fmt/format.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include "core/error.hpp"
#include "server/auth.hpp"
#include "server/chunk_wire.hpp"
#include "server/sha256.hpp"
#include "server/upload.hpp"

namespace mhc::server {

namespace pb = ::mhcverify::v1;

namespace {

[[noreturn]] void throw_status(const grpc::Status& s, const std::string& target) {
  // gRPC's callback API answers a request it cannot decode with UNIMPLEMENTED and no message.
  const std::string what =
      !s.error_message().empty() ? s.error_message()
      : s.error_code() == grpc::StatusCode::UNIMPLEMENTED
          ? "UNIMPLEMENTED with no message: the server could not decode the request or lacks the method "
            "(a server built from another mhc_verify.proto?)"
          : "the call failed with no message";
  const std::string message = fmt::format("server {}: {} ({})", target, what, static_cast<int>(s.error_code()));
  switch (s.error_code()) {
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::OUT_OF_RANGE: invalid_input(message);
    default: fail(ErrorKind::environment, message);
  }
}

verify::CaseReport report_of(const pb::CaseResult& result) {
  auto json = nlohmann::json::parse(result.report_json(), nullptr, false);
  if (json.is_discarded()) fail(ErrorKind::environment, "server sent a report that is not JSON");
  return verify::case_report_from_json(json);
}

void fill_case(pb::RunCaseRequest& request, const verify::CaseSpec& spec, const RunCaseOptions& o) {
  request.mutable_case_ref()->set_line(spec.to_string());
  auto* opts = request.mutable_options();
  opts->set_backend(o.backend);
  opts->set_diagnose(o.diagnose);
  opts->set_check_determinism(o.check_determinism);
  if (o.tolerance) {
    auto* rule = opts->mutable_tolerance();
    rule->set_profile(o.tolerance->profile);
    for (const auto& [tensor, fixed] : o.tolerance->overrides) {
      auto& f = (*rule->mutable_overrides())[tensor];
      f.set_atol(fixed.atol);
      f.set_rtol(fixed.rtol);
    }
  }
}

// The order a sweep's cases go out in: a fixed pseudo-random permutation. round_robin gives the
// k-th call to address k mod S, so cases sent in sweep order would reach each server by residue
// class, and a sweep's list (a product of axes) is periodic: with two servers and the op as the
// innermost axis, every `pre` case went to one server and every `post` case to the other, and the
// sweep took as long as the costlier half (docs/service.md, "two servers vs one"). Shuffled, each
// server gets a fair sample of the cases whatever the sweep's structure. Reports still come back
// in case order.
std::vector<std::size_t> issue_order(std::size_t cases) {
  std::vector<std::size_t> order(cases);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::shuffle(order.begin(), order.end(), std::mt19937_64(0x6d68632d766572ULL));  // any fixed seed
  return order;
}

// The exception being handled as an Error (anything else is a bug here: internal).
Error current_error() {
  try {
    throw;
  } catch (const Error& e) {
    return e;
  } catch (const std::exception& e) {
    return Error(ErrorKind::internal, e.what());
  } catch (...) {
    return Error(ErrorKind::internal, "an unknown exception");
  }
}

}  // namespace

std::string client_service_config_json() {
  return R"({
  "loadBalancingConfig": [{"round_robin": {}}],
  "methodConfig": [{
    "name": [{"service": "mhcverify.v1.Verifier"}],
    "retryPolicy": {
      "maxAttempts": 4,
      "initialBackoff": "0.1s",
      "maxBackoff": "1s",
      "backoffMultiplier": 2,
      "retryableStatusCodes": ["UNAVAILABLE"]
    }
  }]
})";
}

struct Client::Impl {
  ClientOptions options;
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<pb::Verifier::Stub>> stubs;

  void prepare(grpc::ClientContext& context, double deadline_seconds) const {
    if (!options.token.empty()) context.AddMetadata("authorization", "Bearer " + options.token);
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::milliseconds(static_cast<long long>(deadline_seconds * 1000)));
  }

  // One case with retries, each on the next target: UNAVAILABLE (a server down or draining) up to
  // max_attempts times; RESOURCE_EXHAUSTED (a full work queue, which drains as other clients'
  // cases finish) with backoff until busy_retry_seconds have passed.
  verify::CaseReport run_one(const verify::CaseSpec& spec, const RunCaseOptions& o, std::size_t first) const {
    pb::RunCaseRequest request;
    fill_case(request, spec, o);
    const auto busy_deadline = std::chrono::steady_clock::now() +
                               std::chrono::milliseconds(static_cast<long long>(options.busy_retry_seconds * 1000));
    thread_local std::minstd_rand jitter(std::random_device{}());
    grpc::Status last;
    std::size_t target = first;
    int unavailable = 0;
    auto busy_backoff = std::chrono::milliseconds(100);
    for (std::size_t attempt = 0;; ++attempt) {
      target = (first + attempt) % stubs.size();
      grpc::ClientContext context;
      prepare(context, options.case_deadline_seconds);
      pb::CaseResult result;
      last = stubs[target]->RunCase(&context, request, &result);
      if (last.ok()) return report_of(result);
      std::chrono::milliseconds pause;
      if (last.error_code() == grpc::StatusCode::UNAVAILABLE && ++unavailable < options.max_attempts) {
        pause = std::chrono::milliseconds(50 << unavailable);
      } else if (last.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
        // Jittered, so the clients of a full server do not all come back at the same moment.
        pause = busy_backoff / 2 + std::chrono::milliseconds(jitter() % (busy_backoff.count() / 2 + 1));
        busy_backoff = std::min<std::chrono::milliseconds>(busy_backoff * 2, std::chrono::seconds(5));
        if (std::chrono::steady_clock::now() + pause > busy_deadline) break;
      } else {
        break;
      }
      std::this_thread::sleep_for(pause);
    }
    throw_status(last, options.targets[target]);
  }
};

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>()) {
  if (options.targets.empty()) invalid_input("--server: no target given");
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (!options.tls_ca.empty()) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = read_file(options.tls_ca, "--tls-ca");
    if (!options.tls_cert.empty()) {
      ssl.pem_cert_chain = read_file(options.tls_cert, "--tls-cert");
      ssl.pem_private_key = read_file(options.tls_key, "--tls-key");
      check_key_pair(ssl.pem_cert_chain, ssl.pem_private_key, options.tls_cert, options.tls_key);
    }
    credentials = grpc::SslCredentials(ssl);
  }
  grpc::ChannelArguments args;
  args.SetServiceConfigJSON(client_service_config_json());
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetMaxSendMessageSize(4 << 20);
  for (const auto& target : options.targets) {
    impl_->channels.push_back(grpc::CreateCustomChannel(target, credentials, args));
    impl_->stubs.push_back(pb::Verifier::NewStub(impl_->channels.back()));
  }
  impl_->options = std::move(options);
}

Client::~Client() = default;

pb::ServerInfo Client::info(std::size_t target) {
  grpc::ClientContext context;
  impl_->prepare(context, 30);
  pb::ServerInfo info;
  const auto status = impl_->stubs.at(target)->GetInfo(&context, {}, &info);
  if (!status.ok()) throw_status(status, impl_->options.targets.at(target));
  return info;
}

verify::CaseReport Client::run_case(const verify::CaseSpec& spec, const RunCaseOptions& options) {
  return impl_->run_one(spec, options, 0);
}

SweepResults Client::run_cases(const std::vector<verify::CaseSpec>& specs, const RunCaseOptions& options,
                               const std::function<void(std::size_t, const verify::CaseReport&)>& progress,
                               std::stop_token stop) {
  SweepResults out;
  out.reports.resize(specs.size());
  std::vector<bool> finished(specs.size(), false);
  const std::vector<std::size_t> order = issue_order(specs.size());
  std::atomic<std::size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mutex;
  auto work = [&] {
    for (;;) {
      const std::size_t k = next.fetch_add(1);
      if (k >= specs.size() || failed || stop.stop_requested()) return;
      const std::size_t i = order[k];
      try {
        auto report = impl_->run_one(specs[i], options, k % impl_->stubs.size());
        std::lock_guard lock(mutex);
        out.reports[i] = std::move(report);
        finished[i] = true;
        if (progress) progress(i, out.reports[i]);
      } catch (...) {
        std::lock_guard lock(mutex);
        if (!out.error) out.error = current_error();
        failed = true;
      }
    }
  };
  const int threads = static_cast<int>(std::min<std::size_t>(std::max(1, impl_->options.in_flight), specs.size()));
  std::vector<std::jthread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(work);
  pool.clear();  // joins
  for (std::size_t i = 0; i < specs.size(); ++i) {
    if (finished[i]) continue;
    verify::CaseReport& r = out.reports[i];
    r.spec = specs[i];
    r.backend = options.backend;
    r.verdict = verify::Verdict::error;
    if (out.error) {
      r.error = "not run: the sweep stopped: " + std::string(out.error->what());
    } else {
      r.error = "cancelled";  // stopped by the caller: as a local run reports a case it never started
      r.error_kind = ErrorKind::environment;
    }
  }
  return out;
}

verify::CaseReport Client::check_tensors(const std::string& payload, const CheckTensorsOptions& o) {
  return report_of(upload(payload, o));
}

// CheckTensors as a generic (raw) call, so each message's data is a slice of `payload`, not a
// copy (server/chunk_wire.hpp); `payload` outlives the call.
pb::CaseResult Client::upload(const std::string& payload, const CheckTensorsOptions& o) {
  grpc::ClientContext context;
  impl_->prepare(context, impl_->options.case_deadline_seconds);
  grpc::CompletionQueue queue;
  // One operation at a time: start it, then wait for it here.
  const auto wait = [&queue] {
    void* tag = nullptr;
    bool ok = false;
    if (!queue.Next(&tag, &ok)) fail(ErrorKind::internal, "CheckTensors: completion queue shut down");
    return ok;
  };
  grpc::GenericStub stub(impl_->channels.front());
  const auto call = stub.PrepareCall(&context, "/mhcverify.v1.Verifier/CheckTensors", &queue);
  call->StartCall(nullptr);
  bool open = wait();

  pb::CheckChunk chunk;
  auto* header = chunk.mutable_header();
  header->set_op(o.op);
  header->set_preset(o.preset);
  for (const auto& [k, v] : o.semantics) (*header->mutable_semantics())[k] = v;
  header->set_label(o.label);
  header->set_tolerance(o.tolerance);
  header->set_precision(o.precision);
  header->set_phi_layout(o.phi_layout);
  header->set_stream_layout(o.stream_layout);
  header->set_total_bytes(payload.size());
  // The digest goes in the last message; it is computed on another thread while the chunks go
  // out, so hashing does not add to the upload time.
  auto digest = std::async(std::launch::async, [&payload] { return sha256_hex(payload); });
  std::size_t offset = 0;
  bool sent_all = false;
  while (open && !sent_all) {  // at least one message: the server names what is wrong with an empty payload
    const std::size_t size = std::min<std::size_t>(kMaxChunkBytes, payload.size() - offset);
    chunk.set_offset(offset);
    sent_all = offset + size == payload.size();
    if (sent_all) chunk.set_sha256(digest.get());
    const grpc::ByteBuffer message = encode_chunk(chunk, std::string_view(payload).substr(offset, size));
    call->Write(message, nullptr);
    open = wait();  // false: the server answered early; Finish has the status
    chunk.Clear();
    offset += size;
  }
  if (open) {
    call->WritesDone(nullptr);
    wait();
  }
  grpc::ByteBuffer response;
  call->Read(&response, nullptr);
  const bool answered = wait();
  grpc::Status status;
  call->Finish(&status, nullptr);
  wait();
  if (!status.ok()) throw_status(status, impl_->options.targets.front());
  pb::CaseResult result;
  if (!answered || !grpc::SerializationTraits<pb::CaseResult>::Deserialize(&response, &result).ok())
    fail(ErrorKind::environment, fmt::format("server {}: CheckTensors answered OK without a CaseResult",
                                             impl_->options.targets.front()));
  return result;
}

}  // namespace mhc::server
