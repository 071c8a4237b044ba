// libFuzzer target: server/upload.hpp ChunkAssembler, driven by a stream of CheckTensors messages
// decoded from the bytes (header or not, offset right or wrong, chunk sizes, a trailer digest
// right or wrong), then the end of the stream. Every stream must end in a payload or an
// Error(invalid_input) / UploadTooLarge; an accepted payload must be exactly the bytes sent.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include <fuzzer/FuzzedDataProvider.h>

#include "core/error.hpp"
#include "server/sha256.hpp"
#include "server/upload.hpp"

namespace {

// Small enough that the fuzzer reaches the limits; the real ones are 1 MiB chunks, GiBs per upload.
constexpr std::uint64_t kFuzzMaxTotal = 1 << 16;

std::string hex_digest_of(const std::string& bytes) { return mhc::server::sha256_hex(bytes); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace mhc;
  FuzzedDataProvider in(data, size);
  server::ChunkAssembler assembler(kFuzzMaxTotal);
  std::string sent;  // every byte the assembler accepted, in order
  try {
    while (in.remaining_bytes() > 0) {
      const auto flags = in.ConsumeIntegral<std::uint8_t>();
      server::UploadHeader header;
      const bool with_header = flags & 1;
      if (with_header) {
        header.op = in.ConsumeBool() ? "pre" : "post";
        header.total_bytes = in.ConsumeIntegralInRange<std::uint64_t>(0, 2 * kFuzzMaxTotal);
        if (flags & 2) header.sha256 = in.ConsumeBytesAsString(64);
      }
      const std::uint64_t offset =
          (flags & 4) ? in.ConsumeIntegral<std::uint64_t>() : assembler.received();
      const std::string chunk = in.ConsumeBytesAsString(in.ConsumeIntegralInRange<std::size_t>(0, 4096));
      std::string trailer;
      if (flags & 8) trailer = hex_digest_of(sent + chunk);  // the right digest if this is the last chunk
      else if (flags & 16) trailer = in.ConsumeBytesAsString(64);
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
