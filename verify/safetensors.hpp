// .safetensors reading and writing (https://github.com/huggingface/safetensors, "Format"):
//
//   [8 bytes]  N, little-endian u64: the header length
//   [N bytes]  UTF-8 JSON object, may be padded at the end with spaces:
//              {"__metadata__": {"k": "v", ...},               optional, string -> string
//               "<name>": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
//   [rest]     the data section; offsets are relative to its start, each tensor is contiguous
//              row-major little-endian, and the tensors tile it exactly (no gaps, no overlap,
//              nothing after the last one).
//
// Reading accepts BF16, F32, F64 and F16 (widened exactly to F32: every f16 is an f32). Writing
// emits BF16/F32/F64, tensors ordered by element size then name so every tensor is aligned to its
// element size, header padded with spaces to a multiple of 8 bytes (as the reference writer does).
//
// A malformed file is an Error(invalid_input) naming the problem and the tensor; the reader never
// allocates more than the input's size, whatever the header claims.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "kernels/backend.hpp"  // TensorMap

namespace mhc::verify {

// The reference implementation's header limit (safetensors MAX_HEADER_SIZE).
inline constexpr std::uint64_t kMaxSafetensorsHeader = 100'000'000;
// Tensors in one file (the reference has no limit): an mHC check reads about 20 and a golden dump
// with every tap about 60, while a header of a million zero-byte entries fits the limit above.
inline constexpr std::uint64_t kMaxSafetensorsEntries = 65'536;

struct SafetensorsFile {
  TensorMap tensors;
  std::map<std::string, std::string> metadata;  // "__metadata__"
};

SafetensorsFile parse_safetensors(std::span<const std::byte> bytes);
// As parse_safetensors, but without copying the data: each BF16/F32/F64 tensor whose bytes are
// aligned to its element size (every tensor of a file from the reference writer or
// serialize_safetensors) borrows them where they lie and holds `owner`, which must keep `bytes`
// valid and unchanged while it lives. Writes to such a tensor change `bytes` (the worker maps an
// upload copy-on-write, so they stay in its process). F16 (widened) and misaligned tensors are
// copied. A 512 MiB upload is then parsed in microseconds instead of a copy into fresh pages.
SafetensorsFile parse_safetensors_in_place(std::span<std::byte> bytes, std::shared_ptr<void> owner);
// As parse_safetensors_in_place over the file's data section, read once after the header has been
// read and checked (a corrupt header on a large file is refused without reading the rest); errors
// are prefixed with the path. A missing or unreadable file is Error(invalid_input) too: the user
// named it.
SafetensorsFile read_safetensors(const std::filesystem::path& path);

// Throws Error(invalid_input) for an undefined tensor or the reserved name "__metadata__".
std::vector<std::byte> serialize_safetensors(const SafetensorsFile& file);
// Writes through a temporary file in the same directory and renames it, so a reader never sees
// half a file. Throws Error(environment) when the file cannot be written.
void write_safetensors(const std::filesystem::path& path, const SafetensorsFile& file);

// f16 bits -> the same value as f32 (exact).
float f32_from_f16_bits(std::uint16_t h);

}  // namespace mhc::verify
