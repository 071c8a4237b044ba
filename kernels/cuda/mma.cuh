// Tensor-core helpers (sm_80+ mma.sync; runs on sm_90).
#pragma once

#include <cstdint>

namespace mhc::cuda {

// D += A B for one m16n8k16 tile: bf16 operands, f32 accumulation. Fragment layouts follow the
// PTX ISA ("Matrix fragments for mma.m16n8k16"): a thread with lane = 4 g + q holds
// A (row g and g+8; k 2q..2q+1 and 2q+8..2q+9), B (k 2q..2q+1 and 2q+8..2q+9; column g) and
// D (rows g, g+8; columns 2q, 2q+1).
__device__ __forceinline__ void mma_bf16_16816(float (&d)[4], std::uint32_t a0, std::uint32_t a1, std::uint32_t a2,
                                               std::uint32_t a3, std::uint32_t b0, std::uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

__device__ __forceinline__ float bf16_lo(std::uint32_t w) { return __uint_as_float(w << 16); }
__device__ __forceinline__ float bf16_hi(std::uint32_t w) { return __uint_as_float(w & 0xFFFF0000u); }

}  // namespace mhc::cuda
