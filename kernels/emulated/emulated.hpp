// The emulated backend: mHC on the CPU with the precision of a real GPU kernel (bf16 inputs and
// outputs, f32 accumulation, f32 parameters) and selectable rounding points. It is the
// same-precision baseline of the tolerance model and the default backend without a GPU.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/backend.hpp"

namespace mhc {

struct EmulatedOptions {
  enum class Gemm {
    f32,       // f32 products and sums (the plain CUDA-core kernel)
    tf32_phi,  // phi' rounded to TF32 before the projection, as DeepSeek's TileKernels
    bf16_out,  // projection output m rounded to bf16, as FlagGems' bf16 GEMM
  };
  Gemm gemm = Gemm::f32;
  // dx rounded to bf16 after each stage it is accumulated in (apply, mm, norm [, post]), as
  // kernels that keep dx in a bf16 buffer between stages.
  bool bf16_dx_stages = false;
  // FlashAttention's reorder_ops: same precision and rounding points, a deliberately different
  // order of operations (reversed reduction orders, sums split differently). The tolerance
  // baseline uses it so its error measures legitimate rounding variation.
  bool reorder = false;
};

// Names: "emulated", "emulated:tf32", "emulated:bf16gemm", "emulated:bf16dx", each optionally
// followed by "+reorder" (e.g. "emulated:tf32+reorder").
std::vector<std::string> emulated_names();
bool is_emulated_name(std::string_view name);
EmulatedOptions parse_emulated_name(std::string_view name);  // throws Error(invalid_input)
std::string emulated_name(const EmulatedOptions& options);
std::unique_ptr<Backend> make_emulated_backend(const EmulatedOptions& options);

// "f32": a straightforward f32 implementation (loops as PyTorch eager would run them in f32,
// outputs rounded to the interface dtypes). A correct implementation that is not the baseline:
// the self-test requires zero false failures for it.
std::unique_ptr<Backend> make_plain_f32_backend();

}  // namespace mhc
