// Device-side input generation for the benchmark: deterministic hash-based values, so the
// benchmark needs no host copies of gigabyte tensors. Never zeros (METHOD.md: zeros can run
// faster than real data and hide unwritten outputs).
#include <cuda_runtime.h>

#include <cstdint>

#include "core/bf16.hpp"
#include "kernels/cuda/cuda_check.hpp"

namespace mhc::bench {
namespace {

__device__ __forceinline__ float hash_uniform(std::uint64_t i, std::uint32_t salt) {
  std::uint64_t h = i * 0x9E3779B97F4A7C15ull + salt * 0xBF58476D1CE4E5B9ull;
  h ^= h >> 31;
  h *= 0x94D049BB133111EBull;
  h ^= h >> 29;
  return static_cast<float>(h >> 40) * (1.0f / 16777216.0f) * 2.0f - 1.0f;  // U(-1, 1)
}

__global__ void fill_bf16_kernel(std::uint16_t* p, std::int64_t count, std::uint32_t salt, float scale) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    p[i] = bf16_bits_from_f32(scale * hash_uniform(i, salt));
  }
}

__global__ void fill_f32_kernel(float* p, std::int64_t count, std::uint32_t salt, float scale, float offset) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    p[i] = offset + scale * hash_uniform(i, salt);
  }
}

}  // namespace

void fill_bf16(std::uint16_t* p, std::int64_t count, std::uint32_t salt, float scale) {
  fill_bf16_kernel<<<1024, 256>>>(p, count, salt, scale);
  cuda::check_launch("fill_bf16_kernel");
}

void fill_f32(float* p, std::int64_t count, std::uint32_t salt, float scale, float offset) {
  fill_f32_kernel<<<1024, 256>>>(p, count, salt, scale, offset);
  cuda::check_launch("fill_f32_kernel");
}

}  // namespace mhc::bench
