// verify/safetensors: round trips, byte-level compatibility with the reference format, and a
// clear Error(invalid_input) for every kind of corrupt file.
#include "verify/safetensors.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/rng.hpp"

namespace mhc::verify {
namespace {

std::vector<std::byte> to_bytes(std::string_view s) {
  std::vector<std::byte> out(s.size());
  if (!s.empty()) std::memcpy(out.data(), s.data(), s.size());  // null data() with size 0 is UB for memcpy
  return out;
}

// A file as the spec lays it out: u64 LE header length, header text, data section.
std::vector<std::byte> file_bytes(std::string header, const std::vector<std::byte>& data = {},
                                  std::optional<std::uint64_t> claimed_len = std::nullopt) {
  std::vector<std::byte> out(8);
  const std::uint64_t len = claimed_len.value_or(header.size());
  std::memcpy(out.data(), &len, 8);
  const auto h = to_bytes(header);
  out.insert(out.end(), h.begin(), h.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

std::vector<std::byte> zeros(std::size_t n) { return std::vector<std::byte>(n); }

// The bytes in a buffer of their own, for parse_safetensors_in_place.
std::shared_ptr<std::vector<std::byte>> owned(const std::vector<std::byte>& bytes) {
  return std::make_shared<std::vector<std::byte>>(bytes);
}

SafetensorsFile parse_in_place(const std::shared_ptr<std::vector<std::byte>>& buffer) {
  return parse_safetensors_in_place(*buffer, buffer);
}

// Parses (copying and in place) and expects Error(invalid_input) whose message contains every one
// of `needles`.
void expect_rejected(const std::vector<std::byte>& bytes, std::initializer_list<std::string_view> needles) {
  for (const bool in_place : {false, true}) {
    try {
      if (in_place) parse_in_place(owned(bytes));
      else parse_safetensors(bytes);
      ADD_FAILURE() << "accepted a corrupt file" << (in_place ? " (in place)" : "");
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::invalid_input);
      for (std::string_view n : needles) EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what() << " lacks " << n;
    }
  }
}

bool points_into(const Tensor& t, const std::vector<std::byte>& buffer) {
  return t.bytes() >= buffer.data() && t.bytes() + t.nbytes() <= buffer.data() + buffer.size();
}

Tensor filled(DType dtype, std::vector<std::int64_t> shape, std::uint64_t seed) {
  Tensor t(dtype, std::move(shape));
  const rng::TensorRng r = rng::tensor_rng(seed, "fill");
  for (std::int64_t i = 0; i < t.numel(); ++i) t.set(i, r.normal_icdf(static_cast<std::uint64_t>(i)));
  return t;
}

SafetensorsFile sample_file() {
  SafetensorsFile f;
  f.tensors["x"] = filled(DType::bf16, {3, 2, 5}, 1);
  f.tensors["phi"] = filled(DType::f32, {8, 10}, 2);
  f.tensors["golden"] = filled(DType::f64, {2, 3}, 3);
  f.tensors["odd"] = filled(DType::bf16, {1}, 4);  // 2 bytes: puts the next tensor off 4-alignment
  f.tensors["empty"] = Tensor(DType::f32, {0, 7});
  f.tensors["scalar"] = filled(DType::f64, {}, 5);
  f.metadata = {{"op", "pre"}, {"preset", "deepseek"}, {"case", "pre T=3 n=2 C=5 preset=deepseek seed=0 dist=normal"}};
  return f;
}

void expect_same(const SafetensorsFile& a, const SafetensorsFile& b) {
  EXPECT_EQ(a.metadata, b.metadata);
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (const auto& [name, t] : a.tensors) {
    ASSERT_TRUE(b.tensors.contains(name)) << name;
    EXPECT_TRUE(bitwise_equal(t, b.tensors.at(name))) << name;
  }
}

TEST(Safetensors, RoundTripAllDtypesEmptyAndScalar) {
  const SafetensorsFile f = sample_file();
  const std::vector<std::byte> bytes = serialize_safetensors(f);
  expect_same(f, parse_safetensors(bytes));
  EXPECT_EQ(serialize_safetensors(parse_safetensors(bytes)), bytes);  // deterministic bytes
}

TEST(Safetensors, HeaderPaddedAndTensorsAligned) {
  const std::vector<std::byte> bytes = serialize_safetensors(sample_file());
  std::uint64_t n;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ((8 + n) % 8, 0u);
  const auto header = nlohmann::json::parse(std::string(reinterpret_cast<const char*>(bytes.data() + 8), n));
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") continue;
    const std::uint64_t begin = entry["data_offsets"][0];
    const std::size_t elem = dtype_size(dtype_from_name(entry["dtype"].get<std::string>()));
    EXPECT_EQ(begin % elem, 0u) << name;
  }
}

TEST(Safetensors, NoMetadataWritesNoMetadataKey) {
  SafetensorsFile f;
  f.tensors["a"] = filled(DType::f32, {2}, 9);
  const auto bytes = serialize_safetensors(f);
  const std::string text(reinterpret_cast<const char*>(bytes.data() + 8), bytes.size() - 8);
  EXPECT_EQ(text.find("__metadata__"), std::string::npos);
  expect_same(f, parse_safetensors(bytes));
}

TEST(Safetensors, EmptyFile) {
  const auto bytes = serialize_safetensors({});
  EXPECT_TRUE(parse_safetensors(bytes).tensors.empty());
  EXPECT_TRUE(parse_safetensors(file_bytes("{}")).tensors.empty());
}

TEST(Safetensors, FileRoundTrip) {
  const auto dir = std::filesystem::path(::testing::TempDir()) / "mhc_io_safetensors";
  std::filesystem::create_directories(dir);
  const auto path = dir / "case.safetensors";
  const SafetensorsFile f = sample_file();
  write_safetensors(path, f);
  expect_same(f, read_safetensors(path));
  EXPECT_FALSE(std::filesystem::exists(dir / "case.safetensors.tmp"));
  std::filesystem::remove_all(dir);
}

TEST(Safetensors, ReadsWhatThePythonLibraryWrites) {
  // safetensors.torch.save_file({"w": torch.tensor([[1., -2.], [0.5, 3.]]),
  //                              "b": torch.tensor([1., 2., -0.25], dtype=torch.bfloat16)},
  //                             "f.safetensors", metadata={"format": "pt"})
  // writes compact JSON with __metadata__ first, tensors by descending alignment then name, and
  // pads the header with spaces to a multiple of 8.
  std::string header =
      R"({"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
      R"("b":{"dtype":"BF16","shape":[3],"data_offsets":[16,22]}})";
  header.append((8 - header.size() % 8) % 8, ' ');
  const unsigned char data[] = {0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0,   // 1, -2
                                0x00, 0x00, 0x00, 0x3f, 0x00, 0x00, 0x40, 0x40,   // 0.5, 3
                                0x80, 0x3f, 0x00, 0x40, 0x80, 0xbe};              // bf16 1, 2, -0.25
  std::vector<std::byte> d(sizeof data);
  std::memcpy(d.data(), data, sizeof data);
  const SafetensorsFile f = parse_safetensors(file_bytes(header, d));
  EXPECT_EQ(f.metadata, (std::map<std::string, std::string>{{"format", "pt"}}));
  const Tensor& w = f.tensors.at("w");
  EXPECT_EQ(w.describe(), "f32[2,2]");
  EXPECT_EQ(w.to_f64_vector(), (std::vector<double>{1, -2, 0.5, 3}));
  const Tensor& b = f.tensors.at("b");
  EXPECT_EQ(b.describe(), "bf16[3]");
  EXPECT_EQ(b.to_f64_vector(), (std::vector<double>{1, 2, -0.25}));
}

TEST(Safetensors, ReadsF16WidenedExactly) {
  const std::uint16_t halves[] = {0x3C00, 0xC000, 0x7BFF, 0x0001, 0x03FF, 0x8000, 0x7C00, 0xFC00, 0x7E00, 0x3555};
  std::vector<std::byte> d(sizeof halves);
  std::memcpy(d.data(), halves, sizeof halves);
  const auto f = parse_safetensors(file_bytes(R"({"h":{"dtype":"F16","shape":[10],"data_offsets":[0,20]}})", d));
  const Tensor& h = f.tensors.at("h");
  ASSERT_EQ(h.dtype(), DType::f32);
  const float* v = h.data<float>();
  EXPECT_EQ(v[0], 1.0f);
  EXPECT_EQ(v[1], -2.0f);
  EXPECT_EQ(v[2], 65504.0f);
  EXPECT_EQ(v[3], 0x1p-24f);                  // smallest subnormal
  EXPECT_EQ(v[4], 1023 * 0x1p-24f);           // largest subnormal
  EXPECT_TRUE(std::signbit(v[5]) && v[5] == 0.0f);
  EXPECT_EQ(v[6], INFINITY);
  EXPECT_EQ(v[7], -INFINITY);
  EXPECT_TRUE(std::isnan(v[8]));
  EXPECT_EQ(static_cast<double>(v[9]), 0.333251953125);  // 0x3555: 1365 / 4096
  // Every finite f16 widens to the value its fields describe.
  for (std::uint32_t bits = 0; bits < 0x7C00; ++bits) {
    const std::uint32_t e = bits >> 10, m = bits & 0x3FF;
    const double expected = e == 0 ? std::ldexp(m, -24) : std::ldexp(1024 + m, static_cast<int>(e) - 25);
    ASSERT_EQ(static_cast<double>(f32_from_f16_bits(static_cast<std::uint16_t>(bits))), expected) << bits;
  }
}

TEST(SafetensorsInPlace, BorrowsAlignedTensorsAndKeepsTheirBytesAlive) {
  const std::vector<std::byte> bytes = serialize_safetensors(sample_file());
  auto buffer = owned(bytes);
  const SafetensorsFile f = parse_in_place(buffer);
  expect_same(f, parse_safetensors(bytes));
  for (const auto& [name, t] : f.tensors) {
    EXPECT_TRUE(t.nbytes() == 0 || points_into(t, *buffer)) << name << " was copied";
  }
  // The tensors hold the buffer: dropping the caller's reference must not free their bytes.
  const std::byte* x_at = f.tensors.at("x").bytes();
  buffer.reset();
  EXPECT_EQ(f.tensors.at("x").bytes(), x_at);
  expect_same(f, parse_safetensors(bytes));
}

TEST(SafetensorsInPlace, CopiesOfABorrowedTensorOwnTheirBytes) {
  auto buffer = owned(serialize_safetensors(sample_file()));
  SafetensorsFile f = parse_in_place(buffer);
  Tensor& phi = f.tensors.at("phi");
  const double before = phi.get(0);
  ASSERT_NE(before, 3.0);
  Tensor copy = phi;
  EXPECT_FALSE(points_into(copy, *buffer));
  EXPECT_TRUE(bitwise_equal(copy, phi));
  copy.set(0, 3.0);  // the copy is independent of the borrowed bytes...
  EXPECT_EQ(phi.get(0), before);
  phi.set(0, -5.0);  // ...and a write to the borrowing tensor lands in them
  EXPECT_EQ(copy.get(0), 3.0);
  EXPECT_EQ(parse_safetensors(*buffer).tensors.at("phi").get(0), -5.0);
  Tensor assigned;
  assigned = phi;
  EXPECT_FALSE(points_into(assigned, *buffer));
  EXPECT_TRUE(bitwise_equal(assigned, phi));
  const Tensor moved = std::move(phi);  // a move keeps borrowing
  EXPECT_TRUE(points_into(moved, *buffer));
}

TEST(SafetensorsInPlace, CopiesF16AndMisalignedTensors) {
  // A header of 109 bytes (one trailing space) puts the data section at byte 117 of the buffer,
  // so "f" (F32) is misaligned; "h" is F16, which is widened to F32 and cannot be borrowed.
  std::vector<std::byte> d(8 + 4);
  const float fv[] = {1.5f, -2.25f};
  const std::uint16_t hv[] = {0x3C00, 0xC000};
  std::memcpy(d.data(), fv, 8);
  std::memcpy(d.data() + 8, hv, 4);
  const std::string header = R"({"f":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"h":{"dtype":"F16","shape":[2],"data_offsets":[8,12]}} )";
  ASSERT_EQ((8 + header.size()) % 4, 1u);
  const auto bytes = file_bytes(header, d);
  auto buffer = owned(bytes);
  const SafetensorsFile f = parse_in_place(buffer);
  expect_same(f, parse_safetensors(bytes));
  EXPECT_FALSE(points_into(f.tensors.at("f"), *buffer));
  EXPECT_FALSE(points_into(f.tensors.at("h"), *buffer));
  EXPECT_EQ(f.tensors.at("f").get(1), -2.25);
  EXPECT_EQ(f.tensors.at("h").get(1), -2.0);
}

TEST(SafetensorsCorrupt, TooShortForTheLength) {
  expect_rejected(zeros(0), {"shorter than the 8-byte"});
  expect_rejected(zeros(7), {"shorter than the 8-byte"});
}

TEST(SafetensorsCorrupt, HeaderLengthPastTheEnd) {
  expect_rejected(file_bytes("{}", {}, 3), {"past the end"});
  expect_rejected(file_bytes("{}", {}, 99'999'999), {"past the end"});
}

TEST(SafetensorsCorrupt, HeaderOverTheLimit) {
  expect_rejected(file_bytes("{}", {}, kMaxSafetensorsHeader + 1), {"exceeds"});
  expect_rejected(file_bytes("{}", {}, ~std::uint64_t{0}), {"exceeds"});
}

TEST(SafetensorsCorrupt, MalformedOrNonUtf8Json) {
  expect_rejected(file_bytes(R"({"a":{"dtype":"F32",)"), {"JSON"});
  expect_rejected(file_bytes("{\"a\xff\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}"), {"UTF-8"});
  expect_rejected(file_bytes("[1, 2]"), {"starting with '{'"});
  expect_rejected(file_bytes(""), {"starting with '{'"});
  expect_rejected(file_bytes("{} x"), {"JSON"});
}

TEST(SafetensorsCorrupt, BadEntries) {
  expect_rejected(file_bytes(R"({"t":{"shape":[1],"data_offsets":[0,4]}})", zeros(4)), {"\"t\"", "missing \"dtype\""});
  expect_rejected(file_bytes(R"({"t":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", zeros(4)), {"\"t\"", "non-negative"});
  expect_rejected(file_bytes(R"({"t":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", zeros(4)), {"\"t\"", "shape"});
  expect_rejected(file_bytes(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", zeros(4)), {"\"t\"", "[begin, end]"});
  expect_rejected(file_bytes(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})", zeros(4)), {"\"t\"", "< begin"});
  expect_rejected(file_bytes(R"({"t":[1,2]})"), {"\"t\"", "object"});
  expect_rejected(file_bytes(R"({"__metadata__":{"format":1}})"), {"__metadata__", "format"});
  expect_rejected(file_bytes(R"({"__metadata__":["pt"]})"), {"__metadata__"});
}

TEST(SafetensorsCorrupt, UnknownAndUnsupportedDtypes) {
  expect_rejected(file_bytes(R"({"t":{"dtype":"F17","shape":[1],"data_offsets":[0,4]}})", zeros(4)), {"\"t\"", "unknown dtype \"F17\""});
  expect_rejected(file_bytes(R"({"t":{"dtype":"I32","shape":[1],"data_offsets":[0,4]}})", zeros(4)), {"\"t\"", "I32 is not supported"});
  expect_rejected(file_bytes(R"({"t":{"dtype":7,"shape":[1],"data_offsets":[0,4]}})", zeros(4)), {"\"t\"", "dtype"});
}

TEST(SafetensorsCorrupt, ShapeAndOffsetsDisagree) {
  expect_rejected(file_bytes(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", zeros(4)), {"\"t\"", "need 8 bytes", "span 4"});
  // A shape whose byte size overflows must not turn into a small number (or an allocation).
  expect_rejected(file_bytes(R"({"t":{"dtype":"F64","shape":[4611686018427387904,4],"data_offsets":[0,0]}})"), {"\"t\"", "overflows"});
  expect_rejected(file_bytes(R"({"t":{"dtype":"F64","shape":[576460752303423488],"data_offsets":[0,0]}})"), {"\"t\"", "need"});
}

TEST(SafetensorsCorrupt, OffsetsOutOfRangeOverlappingOrWithGaps) {
  expect_rejected(file_bytes(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", zeros(4)), {"\"t\"", "past the 4-byte data section"});
  expect_rejected(file_bytes(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[18446744073709551611,18446744073709551615]}})", zeros(4)),
                  {"\"t\"", "past"});
  expect_rejected(file_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", zeros(8)),
                  {"\"b\"", "overlap"});
  expect_rejected(file_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})", zeros(12)),
                  {"\"b\"", "gap", "[4, 8)"});
  expect_rejected(file_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", zeros(8)), {"\"a\"", "gap"});
  expect_rejected(file_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", zeros(6)), {"6 bytes", "cover 4"});
}

TEST(SafetensorsCorrupt, DuplicateNames) {
  expect_rejected(file_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", zeros(8)),
                  {"\"a\" twice"});
  expect_rejected(file_bytes(R"({"__metadata__":{"k":"1","k":"2"}})"), {"\"k\" twice"});
}

// {"z0":{...},"z1":{...},...} with zero-byte tensors: a valid file of `count` entries.
std::string zero_byte_entries(std::uint64_t count) {
  std::string header = "{";
  for (std::uint64_t i = 0; i < count; ++i) {
    header += (i ? ",\"z" : "\"z") + std::to_string(i) + R"(":{"dtype":"F32","shape":[0],"data_offsets":[0,0]})";
  }
  return header + "}";
}

TEST(SafetensorsCorrupt, EntriesUpToTheLimitParseAndOneMoreIsRefused) {
  // The duplicate-key check once made parsing quadratic in the entries (20000 zero-byte tensors
  // took 6 s; it is one pass now, b0fcc64), and a header of a million within the 100 MB limit
  // would have taken hours: the entry limit bounds the work whatever the parser does.
  const SafetensorsFile f = parse_safetensors(file_bytes(zero_byte_entries(kMaxSafetensorsEntries)));
  EXPECT_EQ(f.tensors.size(), kMaxSafetensorsEntries);
  expect_rejected(file_bytes(zero_byte_entries(kMaxSafetensorsEntries + 1)), {"more than 65536 tensors"});
}

TEST(SafetensorsCorrupt, EveryTruncationAndByteFlipIsAnErrorOrAFile) {
  // Whatever the damage, the reader either returns or throws mhc::Error; nothing else escapes.
  const std::vector<std::byte> good = serialize_safetensors(sample_file());
  for (std::size_t len = 0; len < good.size(); ++len) {
    const std::vector<std::byte> cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(len));
    EXPECT_THROW(parse_safetensors(cut), Error) << "truncated to " << len;
    EXPECT_THROW(parse_in_place(owned(cut)), Error) << "truncated to " << len;
  }
  const rng::TensorRng r = rng::tensor_rng(0, "flip");
  for (std::uint64_t i = 0; i < 2000; ++i) {
    std::vector<std::byte> bad = good;
    const rng::Block b = r.block(i);
    bad[b.v[0] % bad.size()] ^= static_cast<std::byte>(1u << (b.v[1] % 8));
    try {
      parse_safetensors(bad);
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::invalid_input);
    }
  }
}

// Bytes this process has read through read(2) and its kin so far (Linux: rchar of /proc/self/io),
// or nullopt where the kernel does not say.
std::optional<std::uint64_t> bytes_read_so_far() {
  std::ifstream io("/proc/self/io");
  std::string key;
  std::uint64_t value = 0;
  while (io >> key >> value) {
    if (key == "rchar:") return value;
  }
  return std::nullopt;
}

TEST(SafetensorsFiles, ACorruptHeaderIsRefusedBeforeTheDataIsRead) {
  // 9 bytes of broken header at the start of a 2 GiB sparse file: once refused only after the
  // whole file had been read into memory (2 GiB of RSS, seconds).
  const auto dir = std::filesystem::path(::testing::TempDir()) / "mhc_io_sparse";
  std::filesystem::create_directories(dir);
  const auto path = dir / "broken.safetensors";
  {
    std::ofstream out(path, std::ios::binary);
    const auto bytes = file_bytes("{not json");
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  }
  std::filesystem::resize_file(path, std::uint64_t{2} << 30);
  const std::optional<std::uint64_t> read_before = bytes_read_so_far();
  try {
    read_safetensors(path);
    ADD_FAILURE() << "accepted a corrupt header";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid_input);
    EXPECT_NE(std::string(e.what()).find("JSON"), std::string::npos) << e.what();
  }
  const std::optional<std::uint64_t> read_after = bytes_read_so_far();
  std::filesystem::remove_all(dir);
  if (!read_before || !read_after) GTEST_SKIP() << "/proc/self/io does not count this process's reads";
  EXPECT_LT(*read_after - *read_before, std::uint64_t{1} << 20) << "bytes read";
}

TEST(SafetensorsFiles, ReadBorrowsAlignedTensorsFromOneCopyOfTheData) {
  const auto dir = std::filesystem::path(::testing::TempDir()) / "mhc_io_borrow";
  std::filesystem::create_directories(dir);
  const auto path = dir / "case.safetensors";
  const SafetensorsFile f = sample_file();
  write_safetensors(path, f);
  const SafetensorsFile read = read_safetensors(path);
  expect_same(f, read);
  // Every tensor lies in one buffer, in the order serialize_safetensors wrote them.
  const std::byte* previous_end = read.tensors.at("golden").bytes();  // F64 first
  for (const char* name : {"golden", "scalar", "phi", "odd", "x"}) {
    const Tensor& t = read.tensors.at(name);
    EXPECT_EQ(t.bytes(), previous_end) << name;
    previous_end = t.bytes() + t.nbytes();
  }
  std::filesystem::remove_all(dir);
}

TEST(SafetensorsWrite, RejectsWhatCannotBeWritten) {
  SafetensorsFile f;
  f.tensors["gamma"] = Tensor();
  EXPECT_THROW(serialize_safetensors(f), Error);
  f.tensors.clear();
  f.tensors["__metadata__"] = Tensor(DType::f32, {1});
  EXPECT_THROW(serialize_safetensors(f), Error);
  f.tensors.clear();
  f.tensors["bad\xff"] = Tensor(DType::f32, {1});
  EXPECT_THROW(serialize_safetensors(f), Error);
}

TEST(SafetensorsFiles, MissingAndUnwritablePaths) {
  try {
    read_safetensors("/nonexistent/dir/x.safetensors");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid_input);
    EXPECT_NE(std::string(e.what()).find("/nonexistent/dir/x.safetensors"), std::string::npos);
  }
  try {
    write_safetensors("/nonexistent/dir/x.safetensors", sample_file());
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::environment);
  }
}

}  // namespace
}  // namespace mhc::verify
