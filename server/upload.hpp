// Reassembly of a CheckTensors upload: a header, then chunks of at most 1 MiB in offset order,
// then the end of the stream. Every malformed stream is an Error(invalid_input) naming the chunk
// and the field; a payload over the limit is reported separately so the service can answer
// RESOURCE_EXHAUSTED. No gRPC types here, so the fuzz target (issue 6) can drive it directly.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

#include "server/sha256.hpp"
#include "server/shared_buffer.hpp"

namespace mhc::server {

constexpr std::uint32_t kMaxChunkBytes = 1u << 20;

struct UploadHeader {
  std::string op;
  std::string preset;
  std::map<std::string, std::string> semantics;
  std::string label;
  std::uint64_t total_bytes = 0;
  std::string sha256;  // lowercase hex; empty when the last message carries it
};

class UploadTooLarge : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The SHA-256 runs on a thread of its own, behind the appends, so hashing a large upload overlaps
// receiving it instead of adding to it (issue 5: 512 MiB at >= 500 MB/s). Another thread runs
// ahead of the appends and pre-faults the pages of a fresh memory file in batches (a page fault
// per 4 KiB on the receiving thread cost ~0.3-0.8 s per 512 MiB on the 2-core dev VM).
class ChunkAssembler {
 public:
  // `allocate` makes the payload's buffer once the header gives its size (server/upload_buffers.hpp
  // reuses one); by default a new memory file.
  using Allocate = std::function<std::unique_ptr<SharedBuffer>(std::size_t)>;
  explicit ChunkAssembler(std::uint64_t max_total_bytes, Allocate allocate = {})
      : max_total_bytes_(max_total_bytes), allocate_(std::move(allocate)) {}
  ~ChunkAssembler();
  ChunkAssembler(const ChunkAssembler&) = delete;
  ChunkAssembler& operator=(const ChunkAssembler&) = delete;

  // One message of the stream. `header` is present in the first message only; `sha256` (the
  // trailer digest) in the last one at most, when the header has none. Throws
  // Error(invalid_input) for a missing/repeated header, a bad, missing or repeated digest, data
  // after the trailer digest, an oversize or out-of-order chunk, or more data than announced;
  // UploadTooLarge when total_bytes is over the limit.
  void add(const UploadHeader* header, std::uint64_t offset, std::string_view data, std::string_view sha256 = {});
  // The same for data that is not contiguous in memory (a received gRPC message's slices):
  // after the checks, `write_data` copies the chunk's `data_size` bytes to the address it is given,
  // their place in the payload, so each byte is copied once on its way in.
  void add(const UploadHeader* header, std::uint64_t offset, std::uint64_t data_size,
           const std::function<void(char*)>& write_data, std::string_view sha256 = {});

  // How far the prefaulter may run ahead of the bytes received.
  static constexpr std::size_t kPrefaultLead = std::size_t{64} << 20;

  // The stream ended: checks the length and the SHA-256 and hands over the payload.
  std::unique_ptr<SharedBuffer> finish();

  bool has_header() const { return header_.has_value(); }
  const UploadHeader& header() const { return *header_; }
  std::uint64_t received() const { return received_; }
  std::uint64_t chunks() const { return chunks_; }

 private:
  void hash_loop(const char* base);
  void prefault_loop(SharedBuffer& buffer);
  void stop_prefaulter();
  // Stops the hasher; with `drain`, after it has hashed everything published.
  void stop_hasher(bool drain);

  std::uint64_t max_total_bytes_;
  Allocate allocate_;
  std::optional<UploadHeader> header_;
  std::unique_ptr<SharedBuffer> payload_;  // total_bytes, allocated with the header
  std::uint64_t received_ = 0;
  std::uint64_t chunks_ = 0;
  std::string expected_sha256_;  // from the header or the trailer
  bool trailer_seen_ = false;     // the digest came in a data message: it must be the last

  Sha256 digest_;  // owned by the hasher thread until it is joined
  std::mutex mutex_;
  std::condition_variable published_cv_;
  std::size_t published_ = 0;  // bytes of payload_ the hasher may read
  bool closing_ = false;       // no more bytes will come
  bool abandoned_ = false;     // the upload failed: stop without hashing the rest
  std::thread hasher_;

  std::atomic<std::size_t> written_{0};  // received_, for the prefaulter
  std::atomic<bool> prefault_stop_{false};
  std::thread prefaulter_;
};

}  // namespace mhc::server
