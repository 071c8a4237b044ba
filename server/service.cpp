#include "server/service.hpp"

#include <algorithm>
#include <chrono>
#include <deque>
#include <mutex>

#include <fmt/format.h>

#include "core/error.hpp"
#include "kernels/backend.hpp"
#include "kernels/cuda/cuda_backend.hpp"
#include "server/chunk_wire.hpp"
#include "server/status.hpp"
#include "server/tsan_handoff.hpp"
#include "server/upload.hpp"
#include "server/worker.hpp"
#include "verify/casegen.hpp"
#include "verify/tolerance.hpp"
#include "verify/verifier.hpp"

namespace mhc::server {

namespace {

using Clock = std::chrono::steady_clock;

grpc::Status shutting_down_status() {
  return {grpc::StatusCode::UNAVAILABLE, "the server is shutting down; retry on another server"};
}

// The status of a request whose work was stopped. During shutdown it is UNAVAILABLE, so clients
// retry elsewhere, even for calls the drain deadline cancelled; otherwise the client cancelled
// (its deadline shows as DEADLINE_EXCEEDED on its side whatever we send).
grpc::Status stopped_status(const VerifierService& service) {
  if (service.shutting_down()) return shutting_down_status();
  return {grpc::StatusCode::CANCELLED, "cancelled; the work was stopped"};
}

// The completion of a single-result RPC (RunCase, CheckTensors): the job's report, or the status
// its cancellation or error maps to.
// `respond` puts the filled CaseResult into the response and finishes the RPC with OK.
template <class Reactor, class Respond>
std::function<void(JobResult)> finish_with_result(Reactor* reactor, const VerifierService& service,
                                                  pb::CaseResult* response, Respond respond) {
  return [reactor, &service, response, respond](JobResult result) {
    if (result.outcome == JobOutcome::cancelled) {
      reactor->finish(stopped_status(service));
      return;
    }
    if (result.error) {
      reactor->finish(to_status(*result.error));
      return;
    }
    fill_result(result, 0, *response);
    respond();
  };
}

// `tolerance`: tolerance_json of the request's options.tolerance, or null to judge with the case's
// `tol=` profile.
nlohmann::json case_request(const verify::CaseSpec& spec, const std::string& backend, const pb::RunOptions& o,
                            const nlohmann::json& tolerance) {
  nlohmann::json request = {{"kind", "case"},
                            {"spec", spec.to_string()},
                            {"backend", backend},
                            {"diagnose", o.has_diagnose() ? o.diagnose() : true},
                            {"check_determinism", o.has_check_determinism() ? o.check_determinism() : true}};
  if (!tolerance.is_null()) request["tolerance"] = tolerance;
  return request;
}

verify::CaseReport case_template(const verify::CaseSpec& spec, const std::string& backend) {
  verify::CaseReport r;
  r.spec = spec;
  r.backend = backend;
  r.reproduce = fmt::format("mhc-verify decompose {} --backend {}", verify::shell_quote(spec.to_string()), backend);
  return r;
}

nlohmann::json resolve_tolerance(const pb::RunOptions& o) {
  if (!o.has_tolerance()) return nullptr;
  return tolerance_json(tolerance_from_proto(o.tolerance(), "options.tolerance"));
}

// The estimated peak memory of a case, refused (INVALID_ARGUMENT, not RESOURCE_EXHAUSTED: waiting
// cannot help) when verifying it exceeds the whole memory budget. With diagnosis on, a failing case
// is decomposed, which takes more: that much is reserved, up to the whole budget (as the local
// sweep runner does; the worker skips a decomposition larger than the machine's limit).
std::uint64_t case_memory(const verify::CaseSpec& spec, const pb::RunOptions& o, const std::string& field,
                          std::uint64_t budget) {
  const std::uint64_t peak = verify::case_peak_bytes(spec);
  if (peak > budget)
    invalid_field(field + ".shape", fmt::format("estimated peak memory {} MiB exceeds this server's memory budget of "
                                                "{} MiB (--memory-budget-bytes): reduce T or C",
                                                peak >> 20, budget >> 20));
  if (o.has_diagnose() && !o.diagnose()) return peak;
  return std::min(verify::case_peak_bytes(spec, verify::CaseWork::decompose), budget);
}

std::string resolve_backend(const VerifierService& service, const pb::RunOptions& o, const std::string& field) {
  std::string backend = o.backend().empty() ? service.options().backend : o.backend();
  check_backend_name(backend, field);
  return backend;
}

// ---------------------------------------------------------------------------------------------
// RunCase

// The end of every reactor here, with the hand-off annotations of server/tsan_handoff.hpp:
// finish() starts the final reaction, OnDone deletes the reactor after every reaction.
template <class Base>
class HandedOffReactor : public Base {
 public:
  void OnDone() override {
    handoff_acquire(this);
    delete this;
  }
  void finish(const grpc::Status& status) {
    handoff_release(this);
    this->Finish(status);
  }
};

class RunCaseReactor final : public HandedOffReactor<grpc::ServerUnaryReactor> {
 public:
  RunCaseReactor(VerifierService& service, grpc::CallbackServerContext* context, const pb::RunCaseRequest* request,
                 pb::CaseResult* response)
      : service_(service), response_(response) {
    if (auto status = service.admit(*context, ticket_); !status.ok()) {
      finish(status);
      return;
    }
    Job job;
    try {
      const auto spec = case_from_proto(request->case_ref(), "case_ref", service.options().max_case_elements);
      const auto backend = resolve_backend(service, request->options(), "options.backend");
      job.request = case_request(spec, backend, request->options(), resolve_tolerance(request->options()));
      job.memory_bytes = case_memory(spec, request->options(), "case_ref", service.options().memory_budget_bytes);
      job.crash_template = case_template(spec, backend);
    } catch (...) {
      finish(current_exception_status());
      return;
    }
    job.cancel = cancel_;
    job.done = finish_with_result(this, service_, response_, [this] { finish(grpc::Status::OK); });
    handoff_release(this);  // the constructor happens before every reaction
    service.pool().submit(std::move(job));
  }

  void OnCancel() override {
    const Reaction reaction(this);
    cancel_->store(true);
    service_.pool().withdraw_cancelled();
  }

 private:
  VerifierService& service_;
  pb::CaseResult* response_;
  std::optional<VerifierService::Ticket> ticket_;
  std::shared_ptr<std::atomic<bool>> cancel_ = std::make_shared<std::atomic<bool>>(false);
};

// ---------------------------------------------------------------------------------------------
// RunSweep: at most `window` cases of one sweep are queued or running at a time, so sweeps
// share the workers fairly and a big sweep does not fill the queue; results stream out in
// completion order, one write outstanding at a time.

class RunSweepReactor final : public HandedOffReactor<grpc::ServerWriteReactor<pb::CaseResult>> {
 public:
  RunSweepReactor(VerifierService& service, grpc::CallbackServerContext* context, const pb::RunSweepRequest* request)
      : service_(service), window_(std::max<std::size_t>(1, service.pool().size())) {
    if (auto status = service.admit(*context, ticket_); !status.ok()) {
      finish(status);
      return;
    }
    try {
      if (request->cases_size() == 0) invalid_field("cases", "the sweep has no cases");
      if (static_cast<std::uint32_t>(request->cases_size()) > service.options().max_sweep_cases)
        invalid_field("cases", fmt::format("{} cases exceed this server's limit of {} per sweep", request->cases_size(),
                                           service.options().max_sweep_cases));
      backend_ = resolve_backend(service, request->options(), "options.backend");
      tolerance_ = resolve_tolerance(request->options());
      specs_.reserve(request->cases_size());
      for (int i = 0; i < request->cases_size(); ++i) {
        const std::string field = fmt::format("cases[{}]", i);
        specs_.push_back(case_from_proto(request->cases(i), field, service.options().max_case_elements));
        memory_.push_back(case_memory(specs_.back(), request->options(), field, service.options().memory_budget_bytes));
      }
    } catch (...) {
      finish(current_exception_status());
      return;
    }
    options_ = request->options();
    handoff_release(this);  // the constructor happens before every reaction
    pump();
  }

  void OnWriteDone(bool ok) override {
    const Reaction reaction(this);
    {
      std::lock_guard lock(mutex_);
      writing_ = false;
      if (!ok) stopped_ = true;  // the client is gone
    }
    if (!ok) {
      cancel_->store(true);
      service_.pool().withdraw_cancelled();
    }
    pump();
  }

  void OnCancel() override {
    const Reaction reaction(this);
    cancel_->store(true);
    {
      std::lock_guard lock(mutex_);
      stopped_ = true;
    }
    service_.pool().withdraw_cancelled();
    pump();
  }


 private:
  void on_result(std::uint32_t index, JobResult result) {
    {
      std::lock_guard lock(mutex_);
      --in_flight_;
      if (result.outcome == JobOutcome::cancelled) {
        stopped_ = true;
      } else if (result.error) {
        // Validated cases do not fail to start; if one does (a backend missing on this host),
        // the sweep ends with that status.
        stopped_ = true;
        if (!error_) error_ = to_status(*result.error);
        cancel_->store(true);
      } else {
        fill_result(result, index, outbox_.emplace_back());
      }
    }
    pump();
  }

  // Decides under the lock what to do next, then does it outside the lock (pool callbacks may run
  // inline, and gRPC calls must not happen under our mutex). `this` is not touched after the
  // decision unless the decision keeps the RPC alive (a job in flight or a write pending).
  void pump() {
    std::vector<std::pair<std::uint32_t, Job>> to_submit;
    bool write = false, end = false;
    grpc::Status final_status;
    {
      std::lock_guard lock(mutex_);
      while (!stopped_ && next_ < specs_.size() && in_flight_ < window_) {
        const auto index = static_cast<std::uint32_t>(next_++);
        Job job;
        job.request = case_request(specs_[index], backend_, options_, tolerance_);
        job.memory_bytes = memory_[index];
        job.crash_template = case_template(specs_[index], backend_);
        job.cancel = cancel_;
        to_submit.emplace_back(index, std::move(job));
        ++in_flight_;
      }
      if (!writing_ && !outbox_.empty() && !stopped_) {
        current_ = std::move(outbox_.front());
        outbox_.pop_front();
        writing_ = write = true;
      } else if (!writing_ && in_flight_ == 0 && to_submit.empty() && (stopped_ || next_ == specs_.size()) &&
                 (outbox_.empty() || stopped_) && !finished_) {
        finished_ = end = true;
        final_status = error_ ? *error_ : stopped_ ? stopped_status(service_) : grpc::Status::OK;
      }
    }
    if (write) {
      handoff_release(this);
      StartWrite(&current_);
    }
    for (auto& [index, job] : to_submit) {
      job.done = [this, i = index](JobResult r) { on_result(i, std::move(r)); };
      service_.pool().submit(std::move(job));
    }
    if (end) finish(final_status);
  }

  VerifierService& service_;
  const std::size_t window_;
  std::optional<VerifierService::Ticket> ticket_;
  std::vector<verify::CaseSpec> specs_;
  std::vector<std::uint64_t> memory_;  // case_memory of each spec
  std::string backend_;
  nlohmann::json tolerance_;
  pb::RunOptions options_;
  std::shared_ptr<std::atomic<bool>> cancel_ = std::make_shared<std::atomic<bool>>(false);

  std::mutex mutex_;
  std::size_t next_ = 0;
  std::size_t in_flight_ = 0;
  std::deque<pb::CaseResult> outbox_;
  pb::CaseResult current_;  // the message being written
  bool writing_ = false;
  bool stopped_ = false;   // cancelled, deadline, client gone, or pool stopped
  bool finished_ = false;
  std::optional<grpc::Status> error_;
};

// ---------------------------------------------------------------------------------------------
// CheckTensors: chunks are decoded from the raw messages (server/chunk_wire.hpp), appended and
// hashed as they arrive; the job starts after the stream ends with the announced length and a
// matching digest.

class CheckTensorsReactor final : public HandedOffReactor<grpc::ServerReadReactor<grpc::ByteBuffer>> {
 public:
  CheckTensorsReactor(VerifierService& service, grpc::CallbackServerContext* context, grpc::ByteBuffer* response)
      : service_(service),
        context_(context),
        response_(response),
        assembler_(service.options().max_upload_bytes,
                   [&buffers = service.upload_buffers()](std::size_t size) { return buffers.take(size); }) {
    if (auto status = service.admit(*context, ticket_, /*upload=*/true); !status.ok()) {
      finish(status);
      return;
    }
    activity_->context = context;
    activity_->last = Clock::now();
    service.watch_upload(activity_);
    start_read();
  }

  ~CheckTensorsReactor() override {
    read_all();  // the context goes with this reactor
    service_.upload_bytes_in_flight().fetch_sub(reserved_bytes_);
  }

  void OnReadDone(bool ok) override {
    const Reaction reaction(this);
    {
      std::lock_guard lock(activity_->mutex);
      activity_->last = Clock::now();
    }
    if (!ok) read_all();
    if (ok) {
      if (chunks_seen_++ == 0) started_ = Clock::now();
      try {
        add_chunk();
      } catch (const UploadTooLarge& e) {
        finish({grpc::StatusCode::RESOURCE_EXHAUSTED, e.what()});
        return;
      } catch (...) {
        finish(current_exception_status());
        return;
      }
      message_.Clear();
      start_read();
      return;
    }
    if (context_->IsCancelled()) {
      finish(stopped_status(service_));
      return;
    }
    Job job;
    try {
      job.payload = service_.upload_buffers().share(assembler_.finish());
    } catch (...) {
      finish(current_exception_status());
      return;
    }
    result_.set_upload_bytes(job.payload->size());
    result_.set_upload_seconds(std::chrono::duration<double>(Clock::now() - started_).count());
    job.request = request_;
    // The payload holds the inputs and the results (4-6 bytes per element of x in bf16), and
    // verifying a case peaks at about 40 bytes per element of x (case_peak_bytes): 10 per byte.
    job.memory_bytes = 10 * job.payload->size();
    job.crash_template = template_;
    job.cancel = cancel_;
    job.done = finish_with_result(this, service_, &result_, [this] {
      bool own_buffer = false;
      const auto status = grpc::SerializationTraits<pb::CaseResult>::Serialize(result_, response_, &own_buffer);
      finish(status);
    });
    service_.pool().submit(std::move(job));
  }

  void OnCancel() override {
    const Reaction reaction(this);
    cancel_->store(true);
    service_.pool().withdraw_cancelled();
  }
  // The stream is read (or the call is ending): the idle watchdog lets go of it.
  void read_all() {
    std::lock_guard lock(activity_->mutex);
    activity_->context = nullptr;
  }
  // Like finish(): the read's reaction runs on another gRPC thread (server/tsan_handoff.hpp).
  void start_read() {
    handoff_release(this);
    StartRead(&message_);
  }

 private:
  void add_chunk() {
    const std::string where = fmt::format("chunk[{}]", assembler_.chunks());
    const WireChunk chunk = decode_chunk(message_, where);
    const auto write_data = [&](char* to) { copy_chunk_data(message_, chunk, to); };
    if (!chunk.header) {
      if (assembler_.has_header()) reserve(chunk.data_size);  // else add() names the missing header
      assembler_.add(nullptr, chunk.offset, chunk.data_size, write_data, chunk.sha256);
      return;
    }
    const auto& h = *chunk.header;
    if (assembler_.has_header()) invalid_field(where + ".header", "repeated; only the first message carries it");
    // op and preset may be left to the payload's __metadata__ (as `mhc-verify check` does).
    UploadHeader header{h.op(), h.preset(), {h.semantics().begin(), h.semantics().end()}, h.label(),
                        h.total_bytes(), h.sha256()};
    const std::string tolerance = h.tolerance().empty() ? "baseline" : h.tolerance();
    // Everything but the tensors is checked before a byte is stored.
    verify::CaseReport t;
    try {
      if (!header.op.empty()) t.spec.op = verify::op_from_string(header.op);
    } catch (const Error& e) {
      invalid_field("header.op", e.what());
    }
    try {
      t.spec.semantics = from_fields(header.semantics, preset(header.preset.empty() ? "deepseek" : header.preset));
    } catch (const Error& e) {
      invalid_field("header.preset/semantics", e.what());
    }
    try {
      verify::tolerance_profile(tolerance);
    } catch (const Error& e) {
      invalid_field("header.tolerance", e.what());
    }
    try {
      if (!h.precision().empty()) verify::precision_baseline(h.precision());
    } catch (const Error& e) {
      invalid_field("header.precision", e.what());
    }
    if (!h.phi_layout().empty() && h.phi_layout() != "MK" && h.phi_layout() != "KM") {
      invalid_field("header.phi_layout", "\"" + h.phi_layout() + "\": choose MK or KM");
    }
    if (!h.stream_layout().empty() && h.stream_layout() != "TNC" && h.stream_layout() != "TCN") {
      invalid_field("header.stream_layout", "\"" + h.stream_layout() + "\": choose TNC or TCN");
    }
    t.spec.preset = header.preset;
    t.spec.tolerance = tolerance;
    t.backend = header.label.empty() ? "upload" : header.label;
    t.reproduce = "mhc-verify check " + t.backend;
    reserve(chunk.data_size);
    assembler_.add(&header, chunk.offset, chunk.data_size, write_data, chunk.sha256);
    template_ = std::move(t);
    request_ = {{"kind", "check"},       {"op", header.op},       {"preset", header.preset},
                {"semantics", header.semantics}, {"label", template_.backend}, {"tolerance", tolerance},
                {"precision", h.precision()}, {"phi_layout", h.phi_layout().empty() ? "MK" : h.phi_layout()},
                {"stream_layout", h.stream_layout().empty() ? "TNC" : h.stream_layout()}};
  }

  // Uploads count against max_upload_inflight_bytes as their data arrives, not as announced, so a
  // client that announces a large payload and stalls holds only what it has sent.
  void reserve(std::uint64_t bytes) {
    const auto limit = service_.options().max_upload_inflight_bytes;
    const auto before = service_.upload_bytes_in_flight().fetch_add(bytes);
    reserved_bytes_ += bytes;
    if (before + bytes > limit)
      throw UploadTooLarge(fmt::format("uploads in flight would hold {} bytes, over this server's limit of {}; "
                                       "retry later",
                                       before + bytes, limit));
  }

  VerifierService& service_;
  grpc::CallbackServerContext* context_;
  grpc::ByteBuffer* response_;
  pb::CaseResult result_;
  std::optional<VerifierService::Ticket> ticket_;
  ChunkAssembler assembler_;
  grpc::ByteBuffer message_;
  std::uint64_t chunks_seen_ = 0;
  Clock::time_point started_;
  std::uint64_t reserved_bytes_ = 0;
  std::shared_ptr<VerifierService::UploadActivity> activity_ = std::make_shared<VerifierService::UploadActivity>();
  verify::CaseReport template_;
  nlohmann::json request_;
  std::shared_ptr<std::atomic<bool>> cancel_ = std::make_shared<std::atomic<bool>>(false);
};

}  // namespace

// -----------------------------------------------------------------------------------------------

verify::CaseSpec case_from_proto(const pb::CaseRef& ref, const std::string& field, std::uint64_t max_case_elements) {
  verify::CaseSpec spec;
  try {
    if (ref.has_fields()) {
      const auto& f = ref.fields();
      std::string line = fmt::format("{} T={} n={} C={}", f.op().empty() ? "pre" : f.op(), f.t(), f.n(), f.c());
      if (!f.preset().empty()) line += " preset=" + f.preset();
      line += fmt::format(" seed={}", f.seed());
      if (!f.dist().empty()) line += " dist=" + f.dist();
      if (!f.dtype().empty()) line += " dtype=" + f.dtype();
      if (!f.tolerance().empty()) line += " tol=" + f.tolerance();
      for (const auto& [key, value] : f.semantics()) line += " " + key + "=" + value;
      spec = verify::CaseSpec::parse(line);
    } else if (ref.spec_case() == pb::CaseRef::kLine) {
      spec = verify::CaseSpec::parse(ref.line());
    } else {
      invalid_input("no case given (set `line` or `fields`)");
    }
    verify::validate_case(spec);  // names, shape, semantics, overflow, host memory
    verify::tolerance_profile(spec.tolerance);
  } catch (const Error& e) {
    // Too large for this host's memory (environment) is as final for this request as a bad field.
    if (e.kind() != ErrorKind::invalid_input && e.kind() != ErrorKind::environment) throw;
    invalid_field(field, e.what());
  }
  const auto elements = checked_numel({spec.shape.T, spec.shape.n, spec.shape.C});
  if (static_cast<std::uint64_t>(elements) > max_case_elements)
    invalid_field(field + ".shape", fmt::format("T*n*C = {} exceeds this server's limit of {} elements per case",
                                                elements, max_case_elements));
  return spec;
}

verify::SweepTolerance tolerance_from_proto(const pb::ToleranceRule& rule, const std::string& field) {
  verify::SweepTolerance t;
  if (!rule.profile().empty()) t.profile = rule.profile();
  for (const auto& [tensor, fixed] : rule.overrides()) t.overrides[tensor] = {fixed.atol(), fixed.rtol()};
  try {
    verify::to_tolerance(t);
  } catch (const Error& e) {
    invalid_field(field, e.what());
  }
  return t;
}

void check_backend_name(const std::string& backend, const std::string& field) {
  const auto names = backend_names();
  if (std::find(names.begin(), names.end(), backend) == names.end()) {
    std::string valid;
    for (const auto& n : names) valid += (valid.empty() ? "" : ", ") + n;
    invalid_field(field, "unknown backend \"" + backend + "\" (this server has: " + valid + ")");
  }
  // A valid request this host cannot serve: FAILED_PRECONDITION, not a worker failure later.
  if (backend.starts_with("cuda") && cuda_device_count() == 0)
    fail(ErrorKind::unsupported, field + ": backend \"" + backend + "\" needs a GPU and this server has none");
}

void fill_result(JobResult& job, std::uint32_t index, pb::CaseResult& result) {
  result.set_index(index);
  result.set_case_line(std::move(job.case_line));
  result.set_verdict(std::move(job.verdict));
  result.set_device(std::move(job.device));
  result.set_report_json(std::move(job.report_json));
}

// gRPC calls a method only after the server holding this service has started, and the service is
// built before that: the construction happens before every call, through gRPC's own (for TSan
// invisible) synchronisation. Stated to TSan like the reactors' hand-offs; a gRPC thread may exist
// before the service does (one process serving twice, as the two-server tests do).
VerifierService::VerifierService(const ServeOptions& options, WorkerPool& pool, TokenCheck token, pb::ServerInfo info)
    : options_(options), pool_(pool), token_(std::move(token)), info_(std::move(info)) {
  if (options_.upload_idle_seconds > 0) upload_watchdog_ = std::jthread([this](std::stop_token stop) { watch_uploads(stop); });
  handoff_release(this);
}

grpc::Status VerifierService::admit(const grpc::CallbackServerContext& context, std::optional<Ticket>& ticket,
                                    bool upload) {
  if (!token_.allows(context))
    return {grpc::StatusCode::UNAUTHENTICATED, "missing or wrong bearer token (metadata `authorization: Bearer ...`)"};
  if (shutting_down_) return shutting_down_status();
  const std::uint32_t max_uploads = std::max<std::uint32_t>(1, options_.max_pending_requests / 2);
  if (upload && pending_uploads_.fetch_add(1) >= max_uploads) {
    pending_uploads_.fetch_sub(1);
    return {grpc::StatusCode::RESOURCE_EXHAUSTED,
            fmt::format("{} uploads are in flight, this server's limit (half of --max-pending); retry later or on "
                        "another server",
                        max_uploads)};
  }
  if (pending_.fetch_add(1) >= options_.max_pending_requests) {
    pending_.fetch_sub(1);
    if (upload) pending_uploads_.fetch_sub(1);
    return {grpc::StatusCode::RESOURCE_EXHAUSTED,
            fmt::format("the work queue is full ({} requests admitted); retry later or on another server",
                        options_.max_pending_requests)};
  }
  ticket.emplace(this, upload);
  return grpc::Status::OK;
}

void VerifierService::watch_upload(const std::shared_ptr<UploadActivity>& activity) {
  std::lock_guard lock(uploads_mutex_);
  uploads_.push_back(activity);
}

void VerifierService::watch_uploads(std::stop_token stop) {
  const auto idle = std::chrono::duration<double>(options_.upload_idle_seconds);
  // Checked a few times per idle period: a stalled upload ends within 1.25 idle periods.
  const auto tick = std::chrono::duration_cast<Clock::duration>(idle / 4);
  std::unique_lock lock(uploads_mutex_);
  for (;;) {
    watchdog_sleep_.wait_for(lock, stop, tick, [] { return false; });
    if (stop.stop_requested()) return;
    const auto now = Clock::now();
    std::erase_if(uploads_, [&](const std::weak_ptr<UploadActivity>& weak) {
      const auto activity = weak.lock();
      if (!activity) return true;
      std::lock_guard a(activity->mutex);
      if (activity->context == nullptr) return true;
      if (now - activity->last < idle) return false;
      activity->context->TryCancel();  // the reactor ends the call (CANCELLED)
      activity->context = nullptr;
      return true;
    });
  }
}

grpc::ServerUnaryReactor* VerifierService::GetInfo(grpc::CallbackServerContext* context, const pb::GetInfoRequest*,
                                                   pb::ServerInfo* response) {
  handoff_acquire(this);
  auto* reactor = context->DefaultReactor();
  if (!token_.allows(*context)) {
    reactor->Finish({grpc::StatusCode::UNAUTHENTICATED, "missing or wrong bearer token"});
    return reactor;
  }
  *response = info_;
  const auto stats = pool_.stats();
  auto* w = response->mutable_worker_stats();
  w->set_jobs_done(stats.jobs_done);
  w->set_crashes(stats.crashes);
  w->set_kills(stats.kills);
  w->set_spawns(stats.spawns);
  w->set_memory_in_use_bytes(stats.memory_in_use);
  response->set_pending_requests(pending_.load());
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* VerifierService::RunCase(grpc::CallbackServerContext* context,
                                                   const pb::RunCaseRequest* request, pb::CaseResult* response) {
  handoff_acquire(this);
  return new RunCaseReactor(*this, context, request, response);
}

grpc::ServerWriteReactor<pb::CaseResult>* VerifierService::RunSweep(grpc::CallbackServerContext* context,
                                                                    const pb::RunSweepRequest* request) {
  handoff_acquire(this);
  return new RunSweepReactor(*this, context, request);
}

grpc::ServerReadReactor<grpc::ByteBuffer>* VerifierService::CheckTensors(grpc::CallbackServerContext* context,
                                                                         grpc::ByteBuffer* response) {
  handoff_acquire(this);
  return new CheckTensorsReactor(*this, context, response);
}

}  // namespace mhc::server
