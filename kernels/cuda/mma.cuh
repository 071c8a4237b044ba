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

// D = A B for one m16n8k16 tile (a zero accumulator without zeroing registers first).
__device__ __forceinline__ void mma_bf16_16816_zero(float (&d)[4], std::uint32_t a0, std::uint32_t a1, std::uint32_t a2,
                                                    std::uint32_t a3, std::uint32_t b0, std::uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%10,%10,%10,%10};\n"
      : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1), "f"(0.0f));
}

// D += A B for one m16n8k8 tile (A: rows g, g+8, k 2q..2q+1; B: k 2q..2q+1, column g).
__device__ __forceinline__ void mma_bf16_1688(float (&d)[4], std::uint32_t a0, std::uint32_t a1, std::uint32_t b0) {
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5}, {%6}, {%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a0), "r"(a1), "r"(b0));
}

// Four 8x8 b16 matrices from shared memory: lanes 8i..8i+7 give the row addresses of matrix i,
// and r[i] receives matrix i in the mma fragment layout (lane 4g + q: row g, elements 2q, 2q+1).
__device__ __forceinline__ void ldmatrix_x4(std::uint32_t (&r)[4], const void* shared) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(shared));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(s));
}

__device__ __forceinline__ float bf16_lo(std::uint32_t w) { return __uint_as_float(w << 16); }
__device__ __forceinline__ float bf16_hi(std::uint32_t w) { return __uint_as_float(w & 0xFFFF0000u); }

__device__ __forceinline__ std::uint32_t word(const uint4& v, int i) {
  return i == 0 ? v.x : (i == 1 ? v.y : (i == 2 ? v.z : v.w));
}

// Two floats rounded to nearest even bf16 by one instruction, f0 in the low half.
__device__ __forceinline__ std::uint32_t bf16x2(float f0, float f1) {
  std::uint32_t d;
  asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(d) : "f"(f1), "f"(f0));
  return d;
}

// The exact split f = hi + mid + lo of norm_proj.cu's prepare_phi (each difference is exact) of
// two floats: parts[0] = hi, [1] = mid, [2] = lo, f0's part in the low half of each word.
__device__ __forceinline__ void split2(float f0, float f1, std::uint32_t (&parts)[3]) {
  parts[0] = bf16x2(f0, f1);
  const float r0 = __fsub_rn(f0, bf16_lo(parts[0])), r1 = __fsub_rn(f1, bf16_hi(parts[0]));
  parts[1] = bf16x2(r0, r1);
  parts[2] = bf16x2(__fsub_rn(r0, bf16_lo(parts[1])), __fsub_rn(r1, bf16_hi(parts[1])));
}

// The exact projection's building blocks (norm_proj.cu, pre_fused.cu). A thread holds, per
// 16-token row tile, 8 consecutive bf16 of rows g and g+8 (a[mt][0], a[mt][1]) and assigns them to
// the fragments of two k16 steps; b holds the hi, mid and lo bf16 parts of phi' column g at the
// same 8 k, so A and B stay paired (a dot product does not care about the order of k).

// Σv² of the 8 values of each row, added to ss in element order.
template <int MT>
__device__ __forceinline__ void add_squares(const uint4 (&a)[MT][2], float (&ss)[MT][2]) {
#pragma unroll
  for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
#pragma unroll
      for (int w = 0; w < 4; ++w) {
        const float v0 = bf16_lo(word(a[mt][h], w)), v1 = bf16_hi(word(a[mt][h], w));
        ss[mt][h] = fmaf(v0, v0, ss[mt][h]);
        ss[mt][h] = fmaf(v1, v1, ss[mt][h]);
      }
    }
  }
}

// A row's Σv² is spread over the 4 lanes of its quad: their sum, in a fixed butterfly order.
__device__ __forceinline__ float quad_sum(float v) {
  v += __shfl_xor_sync(0xFFFFFFFFu, v, 1);
  return v + __shfl_xor_sync(0xFFFFFFFFu, v, 2);
}

// One 32-k chunk against one n-tile: the tensor cores' f32 accumulation is not round-to-nearest,
// so it is kept to the 6 products of the chunk (small parts first) and the chunk sum is added to
// acc in IEEE f32. part(sp) gives the 16-byte word of phi' part sp (0 hi, 1 mid, 2 lo); it is
// asked for each part just before its products, so a load there overlaps the previous part's.
template <int MT, class Part>
__device__ __forceinline__ void add_chunk(const uint4 (&a)[MT][2], const Part& part, float (&acc)[MT][4]) {
  float chunk[MT][4];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt) chunk[mt][0] = chunk[mt][1] = chunk[mt][2] = chunk[mt][3] = 0.0f;
#pragma unroll
  for (int sp = 2; sp >= 0; --sp) {
    const uint4 b = part(sp);
#pragma unroll
    for (int step = 0; step < 2; ++step) {
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
        mma_bf16_16816(chunk[mt], word(a[mt][0], 2 * step), word(a[mt][1], 2 * step), word(a[mt][0], 2 * step + 1),
                       word(a[mt][1], 2 * step + 1), word(b, 2 * step), word(b, 2 * step + 1));
      }
    }
  }
#pragma unroll
  for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
    for (int e = 0; e < 4; ++e) acc[mt][e] += chunk[mt][e];
  }
}

}  // namespace mhc::cuda
