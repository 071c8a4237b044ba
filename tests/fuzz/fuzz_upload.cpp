// libFuzzer target: server/upload.hpp ChunkAssembler, driven by a stream of CheckTensors messages
// decoded from the bytes (header or not, offset right or wrong, chunk sizes, a trailer digest
// right or wrong), then the end of the stream. Every stream must end in a payload or an
// Error(invalid_input) / UploadTooLarge; an accepted payload must be exactly the bytes sent.
// Some messages are raw wire bytes taken from the input and read by server/chunk_wire.hpp, as the
// service reads them: whatever protobuf's own parser accepts as a CheckChunk must decode to the
// same fields and data, and anything else must be an Error(invalid_input).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

#include "core/error.hpp"
#include "mhc_verify.pb.h"
#include "server/chunk_wire.hpp"
#include "server/sha256.hpp"
#include "server/upload.hpp"

namespace {

// Small enough that the fuzzer reaches the limits; the real ones are 1 MiB chunks, GiBs per upload.
constexpr std::uint64_t kFuzzMaxTotal = 1 << 16;

std::string hex_digest_of(const std::string& bytes) { return mhc::server::sha256_hex(bytes); }

// Reads the fuzz input front to back; past its end every value is 0 / empty. (Not clang's
// FuzzedDataProvider: the replay build under gcc has no <fuzzer/> headers.)
class Reader {
 public:
  Reader(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  std::size_t remaining() const { return size_ - pos_; }
  std::uint8_t byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  std::uint64_t u64() {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = v << 8 | byte();
    return v;
  }
  // Two bytes, big-endian, reduced into [lo, hi].
  std::uint64_t in_range(std::uint64_t lo, std::uint64_t hi) {
    const std::uint64_t high = byte();
    const std::uint64_t v = high << 8 | byte();
    return lo + v % (hi - lo + 1);
  }
  std::string bytes(std::size_t n) {
    n = std::min(n, remaining());
    std::string s(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return s;
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

// One raw message through the wire decoder, checked against protobuf's parser; adds it to the
// assembler as the service does and returns its data.
std::string add_raw(mhc::server::ChunkAssembler& assembler, const std::string& raw) {
  using namespace mhc::server;
  const WireChunk chunk = decode_chunk(raw, "chunk");
  std::string data(chunk.data_size, '\0');
  copy_chunk_data(raw, chunk, data.data());
  if (::mhcverify::v1::CheckChunk expected; expected.ParseFromString(raw)) {
    if (expected.has_header() != chunk.header.has_value() || expected.offset() != chunk.offset ||
        expected.sha256() != chunk.sha256 || expected.data() != data ||
        (chunk.header && expected.header().SerializeAsString() != chunk.header->SerializeAsString()))
      std::abort();
  }
  std::optional<UploadHeader> header;
  if (chunk.header) header = UploadHeader{chunk.header->op(), "", {}, "", chunk.header->total_bytes(), chunk.header->sha256()};
  assembler.add(header ? &*header : nullptr, chunk.offset, chunk.data_size,
                [&](char* to) { std::memcpy(to, data.data(), data.size()); }, chunk.sha256);
  return data;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace mhc;
  Reader in(data, size);
  server::ChunkAssembler assembler(kFuzzMaxTotal);
  std::string sent;  // every byte the assembler accepted, in order
  try {
    while (in.remaining() > 0) {
      const auto flags = in.byte();
      if (flags & 32) {
        sent += add_raw(assembler, in.bytes(in.in_range(0, 4200)));
        continue;
      }
      server::UploadHeader header;
      const bool with_header = flags & 1;
      if (with_header) {
        header.op = in.byte() & 1 ? "pre" : "post";
        header.total_bytes = in.in_range(0, 2 * kFuzzMaxTotal);
        if (flags & 2) header.sha256 = in.bytes(64);
      }
      const std::uint64_t offset = (flags & 4) ? in.u64() : assembler.received();
      const std::string chunk = in.bytes(in.in_range(0, 4096));
      std::string trailer;
      if (flags & 8) trailer = hex_digest_of(sent + chunk);  // the right digest if this is the last chunk
      else if (flags & 16) trailer = in.bytes(64);
      assembler.add(with_header ? &header : nullptr, offset, chunk, trailer);
      sent += chunk;
    }
    const auto payload = assembler.finish();
    if (payload->size() != sent.size() || std::memcmp(payload->data(), sent.data(), sent.size()) != 0) std::abort();
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::invalid_input) std::abort();
  } catch (const server::UploadTooLarge&) {
  }
  return 0;
}
