// The transport pieces on their own: digest, chunk reassembly, upload buffer reuse, CheckChunk wire
// encoding, framing, auth, exposure rule, status mapping.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <gtest/gtest.h>

#include "core/error.hpp"
#include "server/auth.hpp"
#include "server/chunk_wire.hpp"
#include "server/serve.hpp"
#include "server/frame.hpp"
#include "server/sha256.hpp"
#include "server/status.hpp"
#include "server/upload.hpp"
#include "server/upload_buffers.hpp"

namespace mhc::server {
namespace {

TEST(Sha256, KnownVectors) {
  // FIPS 180-2 examples.
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  Sha256 incremental;
  incremental.update("a");
  incremental.update("bc");
  EXPECT_EQ(incremental.hex_digest(), sha256_hex("abc"));
}

UploadHeader header_for(const std::string& payload) {
  UploadHeader h;
  h.op = "pre";
  h.total_bytes = payload.size();
  h.sha256 = sha256_hex(payload);
  return h;
}

// The message of the invalid_input error `body` throws (empty when it does not throw one).
template <class Body>
std::string invalid_message(Body&& body) {
  try {
    body();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid_input);
    return e.what();
  }
  return {};
}

TEST(ChunkAssembler, ReassemblesInOrderAndChecksTheDigest) {
  const std::string payload(3 * kMaxChunkBytes + 17, 'x');
  const auto h = header_for(payload);
  ChunkAssembler a(1u << 30);
  for (std::size_t off = 0; off < payload.size(); off += kMaxChunkBytes)
    a.add(off == 0 ? &h : nullptr, off, std::string_view(payload).substr(off, kMaxChunkBytes));
  EXPECT_EQ(a.chunks(), 4u);
  const auto buffer = a.finish();
  EXPECT_EQ(std::string_view(buffer->data(), buffer->size()), payload);
}

TEST(ChunkAssembler, RejectsMalformedStreamsNamingTheField) {
  const std::string payload = "0123456789";
  const auto h = header_for(payload);
  {
    ChunkAssembler a(1024);
    EXPECT_NE(invalid_message([&] { a.add(nullptr, 0, payload); }).find("chunk[0].header"), std::string::npos);
  }
  {
    ChunkAssembler a(1024);
    a.add(&h, 0, "01234");
    EXPECT_NE(invalid_message([&] { a.add(nullptr, 7, "789"); }).find("chunk[1].offset"), std::string::npos);
    EXPECT_NE(invalid_message([&] { a.add(&h, 5, "56789"); }).find("repeated"), std::string::npos);
    EXPECT_NE(invalid_message([&] { a.finish(); }).find("truncated"), std::string::npos);
  }
  {
    ChunkAssembler a(1024);
    a.add(&h, 0, "0123456789");
    EXPECT_NE(invalid_message([&] { a.add(nullptr, 10, "x"); }).find("longer than header.total_bytes"),
              std::string::npos);
  }
  {
    ChunkAssembler a(1024);
    a.add(&h, 0, "0123456780");  // one byte corrupted
    EXPECT_NE(invalid_message([&] { a.finish(); }).find("header.sha256"), std::string::npos);
  }
  {
    ChunkAssembler a(1u << 30);
    UploadHeader big = h;
    big.total_bytes = 4 * kMaxChunkBytes;
    a.add(&big, 0, {});
    const std::string oversize(kMaxChunkBytes + 1, 'y');
    EXPECT_NE(invalid_message([&] { a.add(nullptr, 0, oversize); }).find("chunk limit"), std::string::npos);
  }
  {
    ChunkAssembler a(1024);
    UploadHeader bad = h;
    bad.sha256 = "ABC";
    EXPECT_NE(invalid_message([&] { a.add(&bad, 0, payload); }).find("header.sha256"), std::string::npos);
  }
  {
    ChunkAssembler a(4);
    EXPECT_THROW(a.add(&h, 0, payload), UploadTooLarge);
  }
  {
    ChunkAssembler a(1024);
    EXPECT_NE(invalid_message([&] { a.finish(); }).find("no messages"), std::string::npos);
  }
}

TEST(UploadBuffers, AFinishedUploadsFileIsReusedThenGivenBackWhenIdle) {
  auto buffers = UploadBuffers::create(std::chrono::milliseconds(200));
  auto first = buffers->take(1 << 20);
  std::memset(first->data(), 'a', first->size());
  const int fd = first->fd();
  {
    auto held = buffers->share(std::move(first));  // a job holding it
    EXPECT_EQ(buffers->idle_bytes(), 0u);
  }
  EXPECT_EQ(buffers->idle_bytes(), 1u << 20);
  // A size within a factor of 2 reuses the file, resized: the old pages keep their bytes (the next
  // upload overwrites them before any worker reads them), the new ones are zero.
  auto second = buffers->take(3 << 19);
  EXPECT_EQ(second->fd(), fd);
  EXPECT_EQ(second->size(), 3u << 19);
  EXPECT_EQ(second->data()[(1 << 20) - 1], 'a');
  EXPECT_EQ(second->data()[(3 << 19) - 1], '\0');
  EXPECT_EQ(buffers->idle_bytes(), 0u);
  buffers->share(std::move(second)).reset();
  // Too different a size: a new file; the idle one stays for a better match.
  auto small = buffers->take(4096);
  EXPECT_NE(small->fd(), fd);
  EXPECT_EQ(buffers->idle_bytes(), 3u << 19);
  // Unused for the idle time: given back to the system.
  for (int i = 0; i < 100 && buffers->idle_bytes() != 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(buffers->idle_bytes(), 0u);
}

TEST(SharedBuffer, PrefaultKeepsTheBytesAndResidencyFollowsResizes) {
  SharedBuffer buffer(3 << 20);
  EXPECT_EQ(buffer.resident_bytes(), 0u);  // a new file: nothing in memory yet
  std::memset(buffer.data(), 'a', 1 << 20);
  // From an unaligned offset to past the end: clamped, and written bytes stay as they are.
  EXPECT_TRUE(buffer.prefault(100, 8 << 20));
  EXPECT_TRUE(buffer.prefault(buffer.size(), 4096));  // nothing to do
  EXPECT_EQ(buffer.resident_bytes(), 3u << 20);
  EXPECT_EQ(std::count(buffer.data(), buffer.data() + (1 << 20), 'a'), 1 << 20);
  EXPECT_EQ(std::count(buffer.data() + (1 << 20), buffer.data() + buffer.size(), '\0'), 2 << 20);
  buffer.resize(4 << 20);
  EXPECT_EQ(buffer.resident_bytes(), 3u << 20);  // the kept part
  buffer.resize(2 << 20);
  EXPECT_EQ(buffer.resident_bytes(), 2u << 20);
  buffer.resize(3 << 20);  // grown: the new tail is fresh
  EXPECT_EQ(buffer.resident_bytes(), 2u << 20);
  buffer.mark_resident();  // as a finished upload does
  EXPECT_EQ(buffer.resident_bytes(), 3u << 20);
}

// Several MiB in chunks, with the prefaulter running ahead of (or behind) the appends: the
// payload is exactly what was sent, into a new file and into the reused one.
TEST(ChunkAssembler, ReassemblesBesideThePrefaulter) {
  std::string payload(9 << 20, '\0');
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i * 131 % 251);
  auto buffers = UploadBuffers::create(std::chrono::seconds(5));
  for (int round = 0; round < 2; ++round) {
    ChunkAssembler a(payload.size(), [&](std::size_t size) { return buffers->take(size); });
    UploadHeader h;
    h.total_bytes = payload.size();
    h.sha256 = sha256_hex(payload);
    for (std::size_t at = 0; at < payload.size(); at += kMaxChunkBytes)
      a.add(at == 0 ? &h : nullptr, at, std::string_view(payload).substr(at, kMaxChunkBytes));
    auto out = a.finish();
    ASSERT_EQ(out->size(), payload.size());
    EXPECT_EQ(std::memcmp(out->data(), payload.data(), payload.size()), 0);
    EXPECT_EQ(out->resident_bytes(), payload.size());  // so its reuse needs no prefaulter
    buffers->share(std::move(out)).reset();  // round 1 reuses this file
  }
}

TEST(UploadBuffers, TheReserveIsPrefaultedReusedAndNeverExpires) {
  auto buffers = UploadBuffers::create(std::chrono::milliseconds(50), 1 << 20);
  EXPECT_EQ(buffers->reserve_bytes(), 1u << 20);
  auto upload = buffers->take(3 << 19);  // within a factor of 2: the reserve, resized
  EXPECT_EQ(buffers->reserve_bytes(), 0u);
  EXPECT_EQ(upload->size(), 3u << 19);
  EXPECT_EQ(upload->resident_bytes(), 1u << 20);  // its pages were faulted in at start
  const int fd = upload->fd();
  auto other = buffers->take(1 << 20);  // the reserve is in use: a new file
  EXPECT_NE(other->fd(), fd);
  buffers->share(std::move(upload)).reset();  // back as the reserve, at its size
  EXPECT_EQ(buffers->reserve_bytes(), 1u << 20);
  buffers->share(std::move(other)).reset();  // the reserve is home: an ordinary idle file
  EXPECT_EQ(buffers->idle_bytes(), 1u << 20);
  for (int i = 0; i < 100 && buffers->idle_bytes() != 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(buffers->idle_bytes(), 0u);  // the idle file expired, the reserve did not
  EXPECT_EQ(buffers->reserve_bytes(), 1u << 20);
  EXPECT_EQ(buffers->take(1 << 20)->fd(), fd);
}

TEST(UploadBuffers, ABufferOutlivingItsCacheIsSimplyFreed) {
  auto buffers = UploadBuffers::create(std::chrono::seconds(5));
  auto held = buffers->share(buffers->take(4096));
  const int fd = held->fd();
  buffers.reset();
  held.reset();  // no cache to return to: the file is closed
  EXPECT_EQ(::fcntl(fd, F_GETFD), -1);
}

// The bytes of a ByteBuffer, joined.
std::string bytes_of(grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  EXPECT_TRUE(buffer.Dump(&slices).ok());
  std::string out;
  for (const auto& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out;
}

// `bytes` as a ByteBuffer of several slices cut at odd places, as gRPC hands over a message.
grpc::ByteBuffer sliced(const std::string& bytes) {
  std::vector<grpc::Slice> slices;
  for (std::size_t at = 0, step = 1; at < bytes.size(); at += step, step = step * 3 + 1)
    slices.emplace_back(bytes.data() + at, std::min(step, bytes.size() - at));
  return grpc::ByteBuffer(slices.data(), slices.size());
}

// What the data of a decoded chunk is.
std::string data_of(grpc::ByteBuffer& message, const WireChunk& chunk) {
  std::string data(chunk.data_size, '\0');
  copy_chunk_data(message, chunk, data.data());
  return data;
}

::mhcverify::v1::CheckChunk example_chunk() {
  ::mhcverify::v1::CheckChunk c;
  c.mutable_header()->set_op("post");
  c.mutable_header()->set_total_bytes(1 << 20);
  (*c.mutable_header()->mutable_semantics())["eps_rms"] = "1e-6";
  c.set_offset(4096);
  c.set_sha256(std::string(64, 'a'));
  return c;
}

TEST(ChunkWire, EncodedChunkIsTheProtobufMessageAndDecodesToItsFields) {
  std::string data(70000, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 131 % 251);
  const auto fields = example_chunk();
  auto message = encode_chunk(fields, data);
  const std::string bytes = bytes_of(message);
  ::mhcverify::v1::CheckChunk parsed;  // what the generated parser (and the Python client's server) sees
  ASSERT_TRUE(parsed.ParseFromString(bytes));
  EXPECT_EQ(parsed.data(), data);
  EXPECT_EQ(parsed.offset(), 4096u);
  EXPECT_EQ(parsed.header().semantics().at("eps_rms"), "1e-6");

  auto received = sliced(bytes);
  const auto chunk = decode_chunk(received, "chunk[0]");
  ASSERT_TRUE(chunk.header.has_value());
  EXPECT_EQ(chunk.header->SerializeAsString(), fields.header().SerializeAsString());
  EXPECT_EQ(chunk.offset, 4096u);
  EXPECT_EQ(chunk.sha256, fields.sha256());
  EXPECT_EQ(chunk.data_size, data.size());
  EXPECT_EQ(data_of(received, chunk), data);
}

TEST(ChunkWire, DecodesAnyFieldOrderRepeatsAndUnknownFieldsAsProtobufDoes) {
  // data first, an unknown field 9, data and offset repeated (the last counts), the header split
  // in two (merged), then the digest.
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream out(&stream);
    out.WriteTag((3 << 3) | 2);
    out.WriteVarint32(3);
    out.WriteRaw("old", 3);
    out.WriteTag((9 << 3) | 0);
    out.WriteVarint64(77);
    out.WriteTag((2 << 3) | 0);
    out.WriteVarint64(1);
    ::mhcverify::v1::CheckHeader first, second;
    first.set_op("pre");
    second.set_total_bytes(99);
    for (const auto* h : {&first, &second}) {
      out.WriteTag((1 << 3) | 2);
      out.WriteVarint32(static_cast<std::uint32_t>(h->ByteSizeLong()));
      h->SerializeToCodedStream(&out);
    }
    out.WriteTag((3 << 3) | 2);
    out.WriteVarint32(5);
    out.WriteRaw("hello", 5);
    out.WriteTag((2 << 3) | 0);
    out.WriteVarint64(42);
    out.WriteTag((4 << 3) | 2);
    out.WriteVarint32(3);
    out.WriteRaw("abc", 3);
  }
  ::mhcverify::v1::CheckChunk expected;
  ASSERT_TRUE(expected.ParseFromString(bytes));
  auto received = sliced(bytes);
  const auto chunk = decode_chunk(received, "chunk[0]");
  ASSERT_TRUE(chunk.header.has_value());
  EXPECT_EQ(chunk.header->op(), expected.header().op());
  EXPECT_EQ(chunk.header->total_bytes(), expected.header().total_bytes());
  EXPECT_EQ(chunk.offset, expected.offset());
  EXPECT_EQ(chunk.sha256, expected.sha256());
  EXPECT_EQ(data_of(received, chunk), expected.data());
  EXPECT_EQ(expected.data(), "hello");
}

TEST(ChunkWire, BytesThatAreNotACheckChunkAreRefusedNamingTheChunk) {
  auto message = encode_chunk(example_chunk(), "0123456789");
  const std::string valid = bytes_of(message);
  for (const std::string& bad : {valid.substr(0, valid.size() - 4),       // data cut short
                                 std::string("\x1a\xff\xff\xff\xff\x0f", 6),  // data length past the end
                                 std::string("\x0a\x03\x08", 3),            // header cut short
                                 std::string("\x00\x01", 2),                // field number 0
                                 std::string("\x0a\x02\xff\xff", 4)}) {   // header bytes not a CheckHeader
    SCOPED_TRACE(testing::PrintToString(bad));
    EXPECT_NE(invalid_message([&] { decode_chunk(bad, "chunk[7]"); }).find("chunk[7]"), std::string::npos);
  }
  EXPECT_EQ(decode_chunk(std::string_view(), "chunk[0]").data_size, 0u);  // an empty message is a valid empty chunk
}

TEST(ChunkAssembler, DigestMayComeInTheLastMessage) {
  const std::string payload = "0123456789";
  UploadHeader h = header_for(payload);
  const std::string digest = h.sha256;
  h.sha256.clear();
  {
    ChunkAssembler a(1024);
    a.add(&h, 0, "01234");
    a.add(nullptr, 5, "56789", digest);
    const auto buffer = a.finish();
    EXPECT_EQ(std::string_view(buffer->data(), buffer->size()), payload);
  }
  {
    ChunkAssembler a(1024);
    a.add(&h, 0, "01234");
    a.add(nullptr, 5, "56789");
    EXPECT_NE(invalid_message([&] { a.finish(); }).find("missing"), std::string::npos);
  }
  {
    ChunkAssembler a(1024);
    a.add(&h, 0, "01234", digest);
    EXPECT_NE(invalid_message([&] { a.add(nullptr, 5, "56789"); }).find("after the message that carried"),
              std::string::npos);
  }
  {
    ChunkAssembler a(1024);
    const auto with_digest = header_for(payload);
    a.add(&with_digest, 0, "01234");
    EXPECT_NE(invalid_message([&] { a.add(nullptr, 5, "56789", digest); }).find("already"), std::string::npos);
  }
  {
    ChunkAssembler a(1024);
    a.add(&h, 0, "01234");
    a.add(nullptr, 5, "56789", sha256_hex("something else"));
    EXPECT_NE(invalid_message([&] { a.finish(); }).find("corrupted"), std::string::npos);
  }
}

TEST(Frame, RoundTripsHeaderAndPayloadAndReportsEof) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  const std::string payload(5 << 20, '\x7f');  // larger than the socket buffer: needs a reader
  std::thread writer([&] {
    write_frame(fds[0], {{"id", 7}, {"kind", "check"}}, payload);
    write_frame(fds[0], {{"id", 8}});
    ::close(fds[0]);
  });
  auto first = read_frame(fds[1]);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->header.at("id"), 7);
  EXPECT_EQ(first->payload, payload);
  auto second = read_frame(fds[1]);
  ASSERT_TRUE(second);
  EXPECT_TRUE(second->payload.empty());
  writer.join();
  EXPECT_FALSE(read_frame(fds[1]));  // clean end of stream
  ::close(fds[1]);
}

TEST(Frame, WriteToAClosedPeerIsAnErrorNotSigpipe) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  ::close(fds[1]);
  EXPECT_THROW(write_frame(fds[0], {{"id", 1}}, std::string(1 << 20, 'z')), Error);
  ::close(fds[0]);
}

TEST(TokenCheck, AcceptsOnlyTheExactBearerToken) {
  TokenCheck check("s3cret");
  EXPECT_TRUE(check.enabled());
  EXPECT_TRUE(check.matches("Bearer s3cret"));
  EXPECT_FALSE(check.matches("Bearer s3cre"));
  EXPECT_FALSE(check.matches("Bearer s3cret "));
  EXPECT_FALSE(check.matches("s3cret"));
  EXPECT_FALSE(check.matches(""));
  EXPECT_FALSE(TokenCheck().enabled());
}

TEST(Exposure, NonLoopbackNeedsTlsOrTokenOrInsecure) {
  EXPECT_TRUE(is_loopback_listen_address("127.0.0.1:50051"));
  EXPECT_TRUE(is_loopback_listen_address("localhost:0"));
  EXPECT_TRUE(is_loopback_listen_address("[::1]:50051"));
  EXPECT_TRUE(is_loopback_listen_address("unix:/tmp/mhc.sock"));
  EXPECT_FALSE(is_loopback_listen_address("0.0.0.0:50051"));
  EXPECT_FALSE(is_loopback_listen_address("[::]:50051"));
  EXPECT_FALSE(is_loopback_listen_address("10.1.2.3:50051"));

  ServeOptions o;
  o.listen = "0.0.0.0:50051";
  EXPECT_NE(invalid_message([&] { check_exposure(o); }).find("--insecure"), std::string::npos);
  o.insecure = true;
  EXPECT_NO_THROW(check_exposure(o));
  o.insecure = false;
  o.token_file = "/some/token";
  EXPECT_NO_THROW(check_exposure(o));
  o.tls_cert = "cert.pem";  // without a key
  EXPECT_NE(invalid_message([&] { check_exposure(o); }).find("--tls-key"), std::string::npos);
}

TEST(Devices, ServedGpusAreTheHostsOrTheCheckedSelection) {
  ServeOptions o;
  EXPECT_EQ(served_gpus(o, 0), std::vector<int>{});
  EXPECT_EQ(served_gpus(o, 2), (std::vector<int>{0, 1}));
  o.devices = {1};
  EXPECT_EQ(served_gpus(o, 2), std::vector<int>{1});
  o.devices = {1, 0};
  EXPECT_EQ(served_gpus(o, 8), (std::vector<int>{1, 0}));
  o.devices = {1};
  EXPECT_NE(invalid_message([&] { served_gpus(o, 1); }).find("GPU 1 does not exist (this host has 1: 0..0)"),
            std::string::npos);
  EXPECT_NE(invalid_message([&] { served_gpus(o, 0); }).find("no CUDA device"), std::string::npos);
  o.devices = {0, 0};
  EXPECT_NE(invalid_message([&] { served_gpus(o, 2); }).find("GPU 0 listed twice"), std::string::npos);
}

TEST(Status, OneMappingFromErrorKinds) {
  EXPECT_EQ(to_status(Error(ErrorKind::invalid_input, "cases[2]: bad")).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(to_status(Error(ErrorKind::invalid_input, "cases[2]: bad")).error_message(), "cases[2]: bad");
  EXPECT_EQ(to_status(Error(ErrorKind::unsupported, "x")).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(to_status(Error(ErrorKind::environment, "x")).error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(to_status(Error(ErrorKind::internal, "x")).error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(to_status(std::runtime_error("x")).error_code(), grpc::StatusCode::INTERNAL);
}

}  // namespace
}  // namespace mhc::server
