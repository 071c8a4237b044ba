// libFuzzer target: verify/safetensors.hpp parse_safetensors on arbitrary bytes. A malformed file
// must be an Error(invalid_input); an accepted one must survive serialize -> parse unchanged
// (names, shapes, metadata, values; F16 comes back as its exact F32 widening).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>

#include "core/error.hpp"
#include "verify/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace mhc;
  verify::SafetensorsFile file;
  try {
    file = verify::parse_safetensors({reinterpret_cast<const std::byte*>(data), size});
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::invalid_input) std::abort();  // bad bytes are the user's input
    return 0;
  }
  const auto bytes = verify::serialize_safetensors(file);
  const auto again = verify::parse_safetensors(bytes);
  if (again.metadata != file.metadata || again.tensors.size() != file.tensors.size()) std::abort();
  for (const auto& [name, tensor] : file.tensors) {
    const auto it = again.tensors.find(name);
    if (it == again.tensors.end() || it->second.shape() != tensor.shape() || it->second.dtype() != tensor.dtype() ||
        it->second.nbytes() != tensor.nbytes() ||
        (tensor.nbytes() != 0 && std::memcmp(it->second.bytes(), tensor.bytes(), tensor.nbytes()) != 0))
      std::abort();
  }
  return 0;
}
