#include "server/chunk_wire.hpp"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/wire_format_lite.h>
#include <grpcpp/support/proto_buffer_reader.h>

#include "core/error.hpp"
#include "server/status.hpp"

namespace mhc::server {

namespace {

using google::protobuf::io::ArrayInputStream;
using google::protobuf::io::CodedInputStream;
using google::protobuf::internal::WireFormatLite;
using Chunk = ::mhcverify::v1::CheckChunk;

bool is(std::uint32_t tag, int field, WireFormatLite::WireType type) {
  return WireFormatLite::GetTagFieldNumber(tag) == field && WireFormatLite::GetTagWireType(tag) == type;
}

// A length-delimited field's bytes as a string (the header and the digest are small).
bool read_string(CodedInputStream& in, std::string& out) {
  std::uint32_t length = 0;
  return in.ReadVarint32(&length) && in.ReadString(&out, static_cast<int>(length));
}

ArrayInputStream array_stream(std::string_view message) {
  return ArrayInputStream(message.data(), static_cast<int>(message.size()));
}

}  // namespace

grpc::ByteBuffer encode_chunk(const ::mhcverify::v1::CheckChunk& fields, std::string_view data) {
  std::string head;
  {
    Chunk without_data = fields;
    without_data.clear_data();
    google::protobuf::io::StringOutputStream stream(&head);
    google::protobuf::io::CodedOutputStream out(&stream);
    without_data.SerializeToCodedStream(&out);
    out.WriteTag(WireFormatLite::MakeTag(Chunk::kDataFieldNumber, WireFormatLite::WIRETYPE_LENGTH_DELIMITED));
    out.WriteVarint32(static_cast<std::uint32_t>(data.size()));
  }
  grpc::Slice slices[] = {grpc::Slice(head), grpc::Slice(data.data(), data.size(), grpc::Slice::STATIC_SLICE)};
  return grpc::ByteBuffer(slices, data.empty() ? 1 : 2);
}

WireChunk decode_chunk(google::protobuf::io::ZeroCopyInputStream& message, const std::string& where) {
  constexpr auto kBytes = WireFormatLite::WIRETYPE_LENGTH_DELIMITED;
  WireChunk chunk;
  CodedInputStream in(&message);
  auto malformed = [&](const char* what) { invalid_field(where, std::string("not a CheckChunk message: ") + what); };
  while (const std::uint32_t tag = in.ReadTag()) {
    if (is(tag, Chunk::kHeaderFieldNumber, kBytes)) {
      std::string bytes;
      if (!read_string(in, bytes)) malformed("header cut short");
      if (!chunk.header) chunk.header.emplace();
      if (!chunk.header->MergeFromString(bytes)) invalid_field(where + ".header", "not a CheckHeader message");
    } else if (is(tag, Chunk::kOffsetFieldNumber, WireFormatLite::WIRETYPE_VARINT)) {
      if (!in.ReadVarint64(&chunk.offset)) malformed("offset cut short");
    } else if (is(tag, Chunk::kDataFieldNumber, kBytes)) {
      std::uint32_t length = 0;
      if (!in.ReadVarint32(&length)) malformed("data length cut short");
      chunk.data_at = static_cast<std::uint64_t>(in.CurrentPosition());
      chunk.data_size = length;
      if (!in.Skip(static_cast<int>(length))) malformed("data cut short");
    } else if (is(tag, Chunk::kSha256FieldNumber, kBytes)) {
      if (!read_string(in, chunk.sha256)) malformed("sha256 cut short");
    } else if (!WireFormatLite::SkipField(&in, tag)) {
      malformed("an unknown field cut short");
    }
  }
  if (!in.ConsumedEntireMessage()) malformed("a bad field tag");
  return chunk;
}

void copy_chunk_data(google::protobuf::io::ZeroCopyInputStream& message, const WireChunk& chunk, char* to) {
  CodedInputStream in(&message);
  // decode_chunk found these bytes, so only a message changed in between could fail here.
  if (!in.Skip(static_cast<int>(chunk.data_at)) || !in.ReadRaw(to, static_cast<int>(chunk.data_size)))
    fail(ErrorKind::internal, "CheckChunk data moved between decoding and copying");
}

WireChunk decode_chunk(grpc::ByteBuffer& message, const std::string& where) {
  grpc::ProtoBufferReader reader(&message);
  return decode_chunk(reader, where);
}

void copy_chunk_data(grpc::ByteBuffer& message, const WireChunk& chunk, char* to) {
  grpc::ProtoBufferReader reader(&message);
  copy_chunk_data(reader, chunk, to);
}

WireChunk decode_chunk(std::string_view message, const std::string& where) {
  auto stream = array_stream(message);
  return decode_chunk(stream, where);
}

void copy_chunk_data(std::string_view message, const WireChunk& chunk, char* to) {
  auto stream = array_stream(message);
  copy_chunk_data(stream, chunk, to);
}

}  // namespace mhc::server
