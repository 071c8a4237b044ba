#include "verify/safetensors.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <fstream>
#include <set>
#include <system_error>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "core/error.hpp"

namespace mhc::verify {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; this reader copies it as-is");

namespace {

using nlohmann::json;

constexpr std::string_view kMetadataKey = "__metadata__";

[[noreturn]] void bad_file(const std::string& what) { invalid_input("safetensors: " + what); }

[[noreturn]] void bad_tensor(const std::string& name, const std::string& what) {
  invalid_input("safetensors: tensor \"" + name + "\": " + what);
}

// The spec's dtypes; the ones this tool cannot represent are rejected by name, which is a
// clearer message than "unknown".
bool is_spec_dtype(const std::string& d) {
  static const std::set<std::string> names = {"BOOL", "U8",  "I8",  "I16", "U16",    "F16",    "BF16",
                                              "I32",  "U32", "F32", "F64", "I64",    "U64",    "F8_E4M3",
                                              "F8_E5M2", "F8_E8M0", "F4", "F6_E2M3", "F6_E3M2", "C64"};
  return names.contains(d);
}

std::uint64_t read_u64_le(const std::byte* p) {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// One SAX pass over the header before it is parsed into a json value: finds the first key an
// object names twice (the spec forbids them; nlohmann keeps the last) and stops at the entry past
// kMaxSafetensorsEntries, before their json values are built (1M zero-byte entries, a 75 MB header,
// took 1 GB). Not a parser callback: nlohmann's callback parser rescans the parent object at the
// end of every object, which made a header of 10^5 entries take minutes.
class HeaderScan : public nlohmann::json_sax<json> {
 public:
  std::string duplicate;
  std::uint64_t entries = 0;  // top-level keys, __metadata__ included

  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override {
    keys_per_object_.emplace_back();
    return true;
  }
  bool key(string_t& key) override {
    if (keys_per_object_.size() == 1 && ++entries > kMaxSafetensorsEntries) return false;
    if (keys_per_object_.back().insert(key).second) return true;
    duplicate = key;
    return false;
  }
  bool end_object() override {
    keys_per_object_.pop_back();
    return true;
  }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t, const std::string&, const json::exception&) override { return false; }

 private:
  std::vector<std::unordered_set<std::string>> keys_per_object_;
};

json parse_header_json(std::string_view text) {
  HeaderScan scan;
  json::sax_parse(text.begin(), text.end(), &scan);  // false on a syntax error: json::parse names it
  if (!scan.duplicate.empty()) bad_file("header names \"" + scan.duplicate + "\" twice");
  if (scan.entries > kMaxSafetensorsEntries) {
    bad_file("header lists more than " + std::to_string(kMaxSafetensorsEntries) +
             " tensors (an mHC check needs about 20; give the op's tensors alone)");
  }
  try {
    return json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    // parse_error, and out_of_range for a number literal beyond f64 ("1e9999"): both bad input.
    bad_file(std::string("header is not valid UTF-8 JSON: ") + e.what());
  }
}

std::uint64_t as_u64(const json& v, const std::string& name, const char* field) {
  if (!v.is_number_unsigned()) {
    // nlohmann stores non-negative literals as unsigned; anything else is negative, fractional or
    // too large for 64 bits.
    bad_tensor(name, std::string(field) + " entries must be non-negative integers below 2^64, got " + v.dump());
  }
  return v.get<std::uint64_t>();
}

struct Entry {
  std::string name;
  bool f16 = false;         // stored F16, widened to f32 on load
  DType dtype = DType::f32;  // as loaded
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0, end = 0;
};

// An entry, with its dtype known and its shape matching its byte span.
Entry parse_entry(const std::string& name, const json& v) {
  if (!v.is_object()) bad_tensor(name, "entry must be an object with dtype, shape and data_offsets");
  for (const char* field : {"dtype", "shape", "data_offsets"}) {
    if (!v.contains(field)) bad_tensor(name, std::string("missing \"") + field + "\"");
  }
  Entry e;
  e.name = name;
  if (!v["dtype"].is_string()) bad_tensor(name, "dtype must be a string");
  const std::string dtype = v["dtype"].get<std::string>();
  if (dtype == "F16") {
    e.f16 = true;
  } else if (dtype == "BF16" || dtype == "F32" || dtype == "F64") {
    e.dtype = dtype_from_name(dtype);
  } else if (is_spec_dtype(dtype)) {
    bad_tensor(name, "dtype " + dtype + " is not supported (mhc-verify reads BF16, F16, F32, F64)");
  } else {
    bad_tensor(name, "unknown dtype \"" + dtype + "\"");
  }
  if (!v["shape"].is_array()) bad_tensor(name, "shape must be an array");
  for (const json& d : v["shape"]) {
    const std::uint64_t extent = as_u64(d, name, "shape");
    if (extent > static_cast<std::uint64_t>(INT64_MAX)) bad_tensor(name, "shape extent too large");
    e.shape.push_back(static_cast<std::int64_t>(extent));
  }
  const json& offsets = v["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2) bad_tensor(name, "data_offsets must be [begin, end]");
  e.begin = as_u64(offsets[0], name, "data_offsets");
  e.end = as_u64(offsets[1], name, "data_offsets");
  if (e.end < e.begin) bad_tensor(name, "data_offsets end " + std::to_string(e.end) + " < begin " + std::to_string(e.begin));
  const std::size_t elem = e.f16 ? 2 : dtype_size(e.dtype);
  std::int64_t numel = 0;
  try {
    numel = checked_numel(e.shape, elem);
  } catch (const Error&) {
    bad_tensor(name, "shape byte size overflows 64 bits");
  }
  const std::uint64_t expected = static_cast<std::uint64_t>(numel) * elem;
  if (expected != e.end - e.begin) {
    bad_tensor(name, "shape and dtype need " + std::to_string(expected) + " bytes but data_offsets [" +
                         std::to_string(e.begin) + ", " + std::to_string(e.end) + "] span " +
                         std::to_string(e.end - e.begin));
  }
  return e;
}

std::map<std::string, std::string> parse_metadata(const json& v) {
  if (!v.is_object()) bad_file("__metadata__ must be an object of strings");
  std::map<std::string, std::string> out;
  for (const auto& [key, value] : v.items()) {
    if (!value.is_string()) bad_file("__metadata__ value of \"" + key + "\" must be a string, got " + value.dump());
    out[key] = value.get<std::string>();
  }
  return out;
}

// The header length from a file's first 8 bytes, checked against the limit and the file's size.
std::uint64_t header_length(const std::byte* first8, std::uint64_t file_size) {
  if (file_size < 8) bad_file("file is " + std::to_string(file_size) + " bytes, shorter than the 8-byte header length");
  const std::uint64_t header_len = read_u64_le(first8);
  if (header_len > kMaxSafetensorsHeader) {
    bad_file("header length " + std::to_string(header_len) + " exceeds the " + std::to_string(kMaxSafetensorsHeader) + "-byte limit");
  }
  if (header_len > file_size - 8) {
    bad_file("header length " + std::to_string(header_len) + " runs past the end of the " +
             std::to_string(file_size) + "-byte file (truncated?)");
  }
  return header_len;
}

struct Header {
  std::map<std::string, std::string> metadata;
  std::vector<Entry> entries;  // in offset order, tiling the data section exactly
};

// Everything the header says, checked against a data section of data_size bytes: what follows
// needs only to copy or borrow the bytes.
Header parse_header(std::string_view text, std::uint64_t data_size) {
  if (text.empty() || text.front() != '{') bad_file("header must be a JSON object starting with '{'");
  const json header = parse_header_json(text);
  if (!header.is_object()) bad_file("header must be a JSON object");
  Header h;
  for (const auto& [name, value] : header.items()) {
    if (name == kMetadataKey) h.metadata = parse_metadata(value);
    else h.entries.push_back(parse_entry(name, value));
  }
  // The tensors must tile the data section exactly, in offset order.
  std::sort(h.entries.begin(), h.entries.end(), [](const Entry& a, const Entry& b) {
    return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
  });
  std::uint64_t covered = 0;
  for (const Entry& e : h.entries) {
    if (e.end > data_size) {
      bad_tensor(e.name, "data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                             "] run past the " + std::to_string(data_size) + "-byte data section (truncated?)");
    }
    if (e.begin < covered) bad_tensor(e.name, "data_offsets overlap the previous tensor (which ends at " + std::to_string(covered) + ")");
    if (e.begin > covered) bad_tensor(e.name, "gap in the data section: bytes [" + std::to_string(covered) + ", " + std::to_string(e.begin) + ") belong to no tensor");
    covered = e.end;
  }
  if (covered != data_size) {
    bad_file("data section is " + std::to_string(data_size) + " bytes but the tensors cover " + std::to_string(covered));
  }
  return h;
}

Tensor widen_f16(const std::vector<std::int64_t>& shape, const std::byte* src) {
  Tensor t(DType::f32, shape);
  float* dst = t.data<float>();
  for (std::int64_t i = 0; i < t.numel(); ++i) {
    std::uint16_t h;
    std::memcpy(&h, src + 2 * i, 2);
    dst[i] = f32_from_f16_bits(h);
  }
  return t;
}

// With an `owner` of the writable bytes at `data`, the tensors borrow theirs where aligned.
SafetensorsFile load(Header header, const std::byte* data, const std::shared_ptr<void>& owner) {
  SafetensorsFile file;
  file.metadata = std::move(header.metadata);
  for (const Entry& e : header.entries) {
    Tensor t;
    std::byte* at = const_cast<std::byte*>(data) + e.begin;  // writable whenever `owner` is set
    if (e.f16) {
      t = widen_f16(e.shape, at);
    } else if (owner != nullptr && reinterpret_cast<std::uintptr_t>(at) % dtype_size(e.dtype) == 0) {
      t = Tensor(e.dtype, e.shape, std::shared_ptr<std::byte>(owner, at));
    } else {
      t = Tensor(e.dtype, e.shape);
      if (t.nbytes() != 0) std::memcpy(t.bytes(), at, t.nbytes());
    }
    file.tensors.emplace(e.name, std::move(t));
  }
  return file;
}

SafetensorsFile parse(std::span<const std::byte> bytes, const std::shared_ptr<void>& owner) {
  const std::uint64_t header_len = header_length(bytes.data(), bytes.size());
  const std::string_view text(reinterpret_cast<const char*>(bytes.data() + 8), header_len);
  const std::uint64_t data_at = 8 + header_len;
  return load(parse_header(text, bytes.size() - data_at), bytes.data() + data_at, owner);
}

void read_exactly(std::ifstream& in, void* into, std::uint64_t size) {
  in.read(static_cast<char*>(into), static_cast<std::streamsize>(size));
  if (static_cast<std::uint64_t>(in.gcount()) != size) invalid_input("short read (did the file change while it was read?)");
}

}  // namespace

float f32_from_f16_bits(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exponent = (h >> 10) & 0x1Fu;
  const std::uint32_t mantissa = h & 0x3FFu;
  if (exponent == 0) {
    // Zero or subnormal: mantissa * 2^-24, exact in f32.
    const float magnitude = static_cast<float>(mantissa) * 0x1p-24f;
    return sign ? -magnitude : magnitude;
  }
  if (exponent == 0x1F) return f32_from_bits(sign | 0x7F800000u | (mantissa << 13));  // inf / NaN
  return f32_from_bits(sign | ((exponent + 112) << 23) | (mantissa << 13));          // rebias 15 -> 127
}

SafetensorsFile parse_safetensors(std::span<const std::byte> bytes) { return parse(bytes, nullptr); }

SafetensorsFile parse_safetensors_in_place(std::span<std::byte> bytes, std::shared_ptr<void> owner) {
  if (owner == nullptr) fail(ErrorKind::internal, "parse_safetensors_in_place without an owner of the bytes");
  return parse(bytes, owner);
}

SafetensorsFile read_safetensors(const std::filesystem::path& path) {
  std::error_code ec;
  const std::uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) invalid_input(path.string() + ": cannot read: " + ec.message());
  std::ifstream in(path, std::ios::binary);
  if (!in) invalid_input(path.string() + ": cannot open for reading");
  try {
    // The header is read and checked before the data section is allocated: a corrupt header on a
    // large (or sparse) file is refused without reading it.
    std::byte first8[8] = {};
    read_exactly(in, first8, std::min<std::uint64_t>(size, 8));
    const std::uint64_t header_len = header_length(first8, size);
    std::string text(header_len, '\0');
    read_exactly(in, text.data(), header_len);
    Header header = parse_header(text, size - 8 - header_len);
    // One read of the data, which the tensors then borrow (no second copy) where aligned.
    const auto data = std::make_shared<std::vector<std::byte>>(size - 8 - header_len);
    read_exactly(in, data->data(), data->size());
    return load(std::move(header), data->data(), data);
  } catch (const Error& e) {
    invalid_input(path.string() + ": " + e.what());
  }
}

std::vector<std::byte> serialize_safetensors(const SafetensorsFile& file) {
  std::vector<std::pair<std::string, const Tensor*>> order;
  for (const auto& [name, t] : file.tensors) {
    if (name == kMetadataKey) invalid_input("safetensors: \"__metadata__\" is reserved and cannot name a tensor");
    if (!t.defined()) bad_tensor(name, "is undefined and cannot be written");
    order.emplace_back(name, &t);
  }
  // Larger elements first keeps every tensor aligned to its element size in the data section.
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return dtype_size(a.second->dtype()) > dtype_size(b.second->dtype());
  });

  json header = json::object();
  if (!file.metadata.empty()) header[std::string(kMetadataKey)] = file.metadata;
  std::uint64_t offset = 0;
  for (const auto& [name, t] : order) {
    header[name] = {{"dtype", std::string(dtype_name(t->dtype()))},
                    {"shape", t->shape()},
                    {"data_offsets", {offset, offset + t->nbytes()}}};
    offset += t->nbytes();
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const json::type_error& e) {
    invalid_input(std::string("safetensors: a tensor name or metadata string is not valid UTF-8: ") + e.what());
  }
  text.append((8 - (8 + text.size()) % 8) % 8, ' ');

  std::vector<std::byte> out(8 + text.size() + offset);
  const std::uint64_t header_len = text.size();
  std::memcpy(out.data(), &header_len, 8);
  std::memcpy(out.data() + 8, text.data(), text.size());
  std::byte* data = out.data() + 8 + text.size();
  for (const auto& [name, t] : order) {
    if (t->nbytes() != 0) std::memcpy(data, t->bytes(), t->nbytes());
    data += t->nbytes();
  }
  return out;
}

void write_safetensors(const std::filesystem::path& path, const SafetensorsFile& file) {
  const std::vector<std::byte> bytes = serialize_safetensors(file);
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) fail(ErrorKind::environment, path.string() + ": cannot open for writing");
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    if (!out.flush()) fail(ErrorKind::environment, path.string() + ": write failed");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    fail(ErrorKind::environment, path.string() + ": cannot move the written file into place");
  }
}

}  // namespace mhc::verify
