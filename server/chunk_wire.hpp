// CheckTensors messages (mhcverify.v1.CheckChunk) built and read without copying the chunk data
// through a protobuf message (issue 5: 512 MiB at >= 500 MB/s on a 2-core host).
// * Client: the small fields are serialised by protobuf, the `data` field's bytes are a slice
//   pointing into the caller's payload. The generated stub would copy every byte twice.
// * Server: CheckTensors is a raw method. The generated parser would copy each chunk's data into a
//   std::string and the server would copy it again into the upload's memory file; here the data
//   is only located in the message, and after the ChunkAssembler's checks it is copied once, from
//   gRPC's slices to its place in the payload. Accepted exactly as the generated parser accepts a
//   CheckChunk: fields in any order, a repeated scalar or bytes field counts last, a repeated
//   header merges, unknown fields are skipped.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <google/protobuf/io/zero_copy_stream.h>
#include <grpcpp/support/byte_buffer.h>

#include "mhc_verify.pb.h"

namespace mhc::server {

// `fields` (header, offset, sha256; its `data` is ignored) followed by `data`, which is not
// copied: it must stay alive and unchanged until the call that sends the message has finished.
grpc::ByteBuffer encode_chunk(const ::mhcverify::v1::CheckChunk& fields, std::string_view data);

struct WireChunk {
  std::optional<::mhcverify::v1::CheckHeader> header;
  std::uint64_t offset = 0;
  std::string sha256;
  std::uint64_t data_size = 0;
  std::uint64_t data_at = 0;  // byte position of `data` in the message
};

// Throws Error(invalid_input) naming `where` (e.g. "chunk[3]") when the bytes are not a CheckChunk.
WireChunk decode_chunk(google::protobuf::io::ZeroCopyInputStream& message, const std::string& where);
// Copies the chunk's data (data_size bytes at data_at) from the same message to `to`.
void copy_chunk_data(google::protobuf::io::ZeroCopyInputStream& message, const WireChunk& chunk, char* to);

// The same over a received gRPC message and over contiguous bytes (tests, the fuzz target).
WireChunk decode_chunk(grpc::ByteBuffer& message, const std::string& where);
void copy_chunk_data(grpc::ByteBuffer& message, const WireChunk& chunk, char* to);
WireChunk decode_chunk(std::string_view message, const std::string& where);
void copy_chunk_data(std::string_view message, const WireChunk& chunk, char* to);

}  // namespace mhc::server
