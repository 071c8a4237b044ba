// mhcverify.v1.Verifier on gRPC's callback API. Handlers never block a gRPC thread: they
// validate the request, admit it against the work-queue bound and hand jobs to the WorkerPool;
// results come back on pool threads and finish the RPC from there.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <thread>
#include <string>
#include <vector>

#include "mhc_verify.grpc.pb.h"
#include "server/auth.hpp"
#include "server/options.hpp"
#include "server/upload_buffers.hpp"
#include "server/worker_pool.hpp"
#include "verify/case.hpp"
#include "verify/sweep.hpp"

namespace mhc::server {

namespace pb = ::mhcverify::v1;

// Request validation shared by RunCase and RunSweep (and the fuzz target of issue 6). Throws
// Error(invalid_input) naming `field`: an unparsable case, an unknown preset/profile/backend,
// a shape outside the math (core/semantics validate) or over max_case_elements.
verify::CaseSpec case_from_proto(const pb::CaseRef& ref, const std::string& field, std::uint64_t max_case_elements);
void check_backend_name(const std::string& backend, const std::string& field);
// RunOptions.tolerance, checked: Error(invalid_input) naming `field`.
verify::SweepTolerance tolerance_from_proto(const pb::ToleranceRule& rule, const std::string& field);

// CheckTensors is a raw method (ByteBuffer in and out): its chunks are decoded by
// server/chunk_wire.hpp so their data is copied once, straight into the upload.
using VerifierServiceBase = pb::Verifier::WithCallbackMethod_GetInfo<pb::Verifier::WithCallbackMethod_RunCase<
    pb::Verifier::WithCallbackMethod_RunSweep<pb::Verifier::WithRawCallbackMethod_CheckTensors<pb::Verifier::Service>>>>;

class VerifierService final : public VerifierServiceBase {
 public:
  VerifierService(const ServeOptions& options, WorkerPool& pool, TokenCheck token, pb::ServerInfo info);

  // From now on new requests get UNAVAILABLE; running ones continue (the drain).
  void begin_shutdown() { shutting_down_ = true; }
  bool shutting_down() const { return shutting_down_; }
  std::uint32_t pending() const { return pending_.load(); }

  grpc::ServerUnaryReactor* GetInfo(grpc::CallbackServerContext* context, const pb::GetInfoRequest* request,
                                    pb::ServerInfo* response) override;
  grpc::ServerUnaryReactor* RunCase(grpc::CallbackServerContext* context, const pb::RunCaseRequest* request,
                                    pb::CaseResult* response) override;
  grpc::ServerWriteReactor<pb::CaseResult>* RunSweep(grpc::CallbackServerContext* context,
                                                     const pb::RunSweepRequest* request) override;
  grpc::ServerReadReactor<grpc::ByteBuffer>* CheckTensors(grpc::CallbackServerContext* context,
                                                          grpc::ByteBuffer* response) override;

  // Admission of one request against the work-queue bound; released on destruction.
  class Ticket {
   public:
    Ticket(VerifierService* service, bool upload) : service_(service), upload_(upload) {}
    Ticket(Ticket&& other) noexcept
        : service_(std::exchange(other.service_, nullptr)), upload_(other.upload_) {}
    Ticket& operator=(Ticket&&) = delete;
    ~Ticket() {
      if (!service_) return;
      service_->pending_.fetch_sub(1);
      if (upload_) service_->pending_uploads_.fetch_sub(1);
    }

   private:
    VerifierService* service_;
    bool upload_;
  };

  // OK with a ticket, or the status to answer with (UNAUTHENTICATED, UNAVAILABLE,
  // RESOURCE_EXHAUSTED) and no work done. Uploads (CheckTensors) may take at most half of the
  // pending slots: a client's upload stream is open for as long as the client takes to send it,
  // so slow or stalled uploads must not lock RunCase and RunSweep out.
  grpc::Status admit(const grpc::CallbackServerContext& context, std::optional<Ticket>& ticket, bool upload = false);

  // The reading phase of an upload, for the idle watchdog: an upload whose stream has been quiet
  // for upload_idle_seconds is cancelled, so a stalled client cannot hold a pending slot, a
  // hasher thread and a memory file for long.
  struct UploadActivity {
    std::mutex mutex;
    grpc::CallbackServerContext* context = nullptr;  // null once the stream has been read
    std::chrono::steady_clock::time_point last;      // the last message
  };
  void watch_upload(const std::shared_ptr<UploadActivity>& activity);

  const ServeOptions& options() const { return options_; }
  WorkerPool& pool() { return pool_; }
  std::atomic<std::uint64_t>& upload_bytes_in_flight() { return upload_bytes_in_flight_; }
  UploadBuffers& upload_buffers() { return *upload_buffers_; }

 private:
  ServeOptions options_;
  WorkerPool& pool_;
  TokenCheck token_;
  pb::ServerInfo info_;
  std::atomic<bool> shutting_down_{false};
  std::atomic<std::uint32_t> pending_{0};
  std::atomic<std::uint32_t> pending_uploads_{0};
  std::atomic<std::uint64_t> upload_bytes_in_flight_{0};
  std::shared_ptr<UploadBuffers> upload_buffers_ =
      UploadBuffers::create(std::chrono::seconds(5), std::min(options_.upload_reserve_bytes, options_.max_upload_bytes));
  void watch_uploads(std::stop_token stop);
  std::mutex uploads_mutex_;
  std::condition_variable_any watchdog_sleep_;
  std::vector<std::weak_ptr<UploadActivity>> uploads_;
  std::jthread upload_watchdog_;  // declared last: stopped and joined before the members it uses go
};

// The CaseResult of a job's result (its strings are moved out).
void fill_result(JobResult& job, std::uint32_t index, pb::CaseResult& result);

}  // namespace mhc::server
