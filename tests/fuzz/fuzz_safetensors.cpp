// libFuzzer target: verify/safetensors.hpp parse_safetensors on arbitrary bytes. A malformed file
// must be an Error(invalid_input); an accepted one must survive serialize -> parse unchanged
// (names, shapes, metadata, values; F16 comes back as its exact F32 widening).
// parse_safetensors_in_place (tensors borrowing the bytes) must accept and reject exactly the same
// inputs and give the same tensors.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <vector>

#include "core/error.hpp"
#include "verify/safetensors.hpp"

namespace {

using namespace mhc;

void expect_same(const verify::SafetensorsFile& a, const verify::SafetensorsFile& b) {
  if (b.metadata != a.metadata || b.tensors.size() != a.tensors.size()) std::abort();
  for (const auto& [name, tensor] : a.tensors) {
    const auto it = b.tensors.find(name);
    if (it == b.tensors.end() || it->second.shape() != tensor.shape() || it->second.dtype() != tensor.dtype() ||
        it->second.nbytes() != tensor.nbytes() ||
        (tensor.nbytes() != 0 && std::memcmp(it->second.bytes(), tensor.bytes(), tensor.nbytes()) != 0))
      std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> input(reinterpret_cast<const std::byte*>(data), size);
  auto buffer = std::make_shared<std::vector<std::byte>>(input.begin(), input.end());
  verify::SafetensorsFile file, in_place;
  bool copied_ok = false;
  try {
    file = verify::parse_safetensors(input);
    copied_ok = true;
    in_place = verify::parse_safetensors_in_place(*buffer, buffer);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::invalid_input) std::abort();  // bad bytes are the user's input
    if (copied_ok) std::abort();                             // rejected only in place
    try {
      verify::parse_safetensors_in_place(*buffer, buffer);
    } catch (const Error& again) {
      if (again.kind() != ErrorKind::invalid_input) std::abort();
      return 0;
    }
    std::abort();  // accepted only in place
  }
  buffer.reset();  // the borrowing tensors keep their bytes alive
  expect_same(file, in_place);
  const auto bytes = verify::serialize_safetensors(file);
  expect_same(file, verify::parse_safetensors(bytes));
  return 0;
}
