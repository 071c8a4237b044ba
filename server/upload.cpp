#include "server/upload.hpp"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "server/status.hpp"

namespace mhc::server {

namespace {

bool is_lower_hex_sha256(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

}  // namespace

void ChunkAssembler::add(const UploadHeader* header, std::uint64_t offset, std::string_view data,
                         std::string_view sha256) {
  add(header, offset, data.size(), [data](char* to) { std::memcpy(to, data.data(), data.size()); }, sha256);
}

void ChunkAssembler::add(const UploadHeader* header, std::uint64_t offset, std::uint64_t data_size,
                         const std::function<void(char*)>& write_data, std::string_view sha256) {
  const std::string where = fmt::format("chunk[{}]", chunks_);
  if (header != nullptr) {
    if (header_) invalid_field(where + ".header", "repeated; only the first message carries the header");
    if (!header->sha256.empty() && !is_lower_hex_sha256(header->sha256))
      invalid_field("header.sha256", "expected 64 lowercase hex digits of the payload's SHA-256");
    if (header->total_bytes == 0) invalid_field("header.total_bytes", "must be > 0");
    if (header->total_bytes > max_total_bytes_)
      throw UploadTooLarge(fmt::format("header.total_bytes: {} bytes exceeds this server's limit of {} bytes",
                                       header->total_bytes, max_total_bytes_));
    header_ = *header;
    expected_sha256_ = header->sha256;
    payload_ = allocate_ ? allocate_(header->total_bytes) : std::make_unique<SharedBuffer>(header->total_bytes);
    hasher_ = std::thread([this, base = payload_->data()] { hash_loop(base); });
    if (payload_->resident_bytes() < payload_->size())
      prefaulter_ = std::thread([this, &buffer = *payload_] { prefault_loop(buffer); });
  } else if (!header_) {
    invalid_field(where + ".header", "missing; the first message must carry the header");
  }
  if (trailer_seen_) invalid_field(where, "more data after the message that carried the payload's SHA-256");
  if (!sha256.empty()) {
    if (!expected_sha256_.empty()) invalid_field(where + ".sha256", "the header already carries the digest");
    if (!is_lower_hex_sha256(sha256))
      invalid_field(where + ".sha256", "expected 64 lowercase hex digits of the payload's SHA-256");
  }
  if (data_size > kMaxChunkBytes)
    invalid_field(where + ".data", fmt::format("{} bytes exceeds the chunk limit of {} bytes", data_size, kMaxChunkBytes));
  if (offset != received_)
    invalid_field(where + ".offset",
                  fmt::format("{} but {} bytes were received so far (chunks must arrive in order)", offset, received_));
  if (data_size > header_->total_bytes - received_)
    invalid_field(where + ".data", fmt::format("payload longer than header.total_bytes = {}", header_->total_bytes));
  if (data_size > 0) write_data(payload_->data() + received_);  // an empty chunk's data() may be null
  received_ += data_size;
  written_.store(received_, std::memory_order_relaxed);
  ++chunks_;
  if (!sha256.empty()) {
    expected_sha256_ = sha256;
    trailer_seen_ = true;
  }
  {
    std::lock_guard lock(mutex_);
    published_ = received_;
  }
  published_cv_.notify_all();  // the hasher and the prefaulter
}

ChunkAssembler::~ChunkAssembler() {
  stop_prefaulter();
  stop_hasher(false);
}

// Populates the file in steps from where its resident pages end, skipping to the writer when it
// has overtaken (then the writer faults its pages in itself, as without this thread). It runs at
// most kPrefaultLead ahead of the data received, so a client that announces a large payload and
// stalls commits no more memory than it has sent plus the lead.
void ChunkAssembler::prefault_loop(SharedBuffer& buffer) {
  constexpr std::size_t kStep = std::size_t{4} << 20;
  for (std::size_t at = buffer.resident_bytes(); at < buffer.size(); at += kStep) {
    {
      std::unique_lock lock(mutex_);
      published_cv_.wait(lock, [&] { return prefault_stop_.load() || published_ + kPrefaultLead > at; });
    }
    if (prefault_stop_.load(std::memory_order_relaxed)) return;
    at = std::max(at, written_.load(std::memory_order_relaxed));
    if (!buffer.prefault(at, kStep)) return;
  }
}

void ChunkAssembler::stop_prefaulter() {
  if (!prefaulter_.joinable()) return;
  {
    std::lock_guard lock(mutex_);  // so the prefaulter cannot miss the wake-up
    prefault_stop_ = true;
  }
  published_cv_.notify_all();
  prefaulter_.join();
}

void ChunkAssembler::stop_hasher(bool drain) {
  if (!hasher_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    closing_ = true;
    abandoned_ = !drain;
  }
  published_cv_.notify_all();
  hasher_.join();
}

// Reads only bytes below `published_`; the mutex orders their writes before the reads.
void ChunkAssembler::hash_loop(const char* base) {
  std::size_t hashed = 0;
  for (;;) {
    std::size_t upto;
    {
      std::unique_lock lock(mutex_);
      published_cv_.wait(lock, [&] { return published_ > hashed || closing_; });
      if (abandoned_ || (closing_ && published_ == hashed)) return;
      upto = published_;
    }
    digest_.update(base + hashed, upto - hashed);
    hashed = upto;
  }
}

std::unique_ptr<SharedBuffer> ChunkAssembler::finish() {
  if (!header_) invalid_field("chunk[0].header", "missing; the stream carried no messages");
  if (received_ != header_->total_bytes)
    invalid_field("header.total_bytes", fmt::format("announced {} bytes but the stream ended after {} (truncated upload)",
                                                    header_->total_bytes, received_));
  if (expected_sha256_.empty())
    invalid_field("header.sha256", "missing: give the payload's SHA-256 in the header or in the last message");
  stop_prefaulter();  // before the file changes hands (it may be resized for the next upload)
  stop_hasher(true);
  const std::string actual = digest_.hex_digest();
  if (actual != expected_sha256_)
    invalid_field("header.sha256", fmt::format("payload digest is {} but the client sent {} (corrupted upload)", actual,
                                               expected_sha256_));
  payload_->mark_resident();  // every byte was written: a reuse of this file starts warm
  return std::move(payload_);  // (the hasher has been joined: nobody else reads it)
}

}  // namespace mhc::server
