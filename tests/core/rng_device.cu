#include "tests/core/rng_device.hpp"

#include <cuda_runtime.h>

namespace mhc::rng::test {
namespace {

struct Kat {
  Block ctr;
  std::uint32_t key0, key1;
};

__global__ void draw(TensorRng r, std::size_t count, Block* blocks, double* uniform, double* normal,
                     std::int64_t* small_int, const Kat* kats, Block* kat_out, int kat_count) {
  const std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x;
  if (i < count) {
    blocks[i] = r.block(i);
    uniform[i] = r.uniform(i);
    normal[i] = r.normal_icdf(i);
    small_int[i] = r.small_int(i, -3, 3);
  }
  if (i < static_cast<std::size_t>(kat_count)) kat_out[i] = philox4x32_10(kats[i].ctr, kats[i].key0, kats[i].key1);
}

template <class T>
T* device_alloc(std::size_t n) {
  void* p = nullptr;
  return cudaMalloc(&p, n * sizeof(T)) == cudaSuccess ? static_cast<T*>(p) : nullptr;
}

}  // namespace

bool draw_on_device(const TensorRng& r, std::size_t count, DeviceDraws& out) {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) return false;
  const Kat kats[] = {{{{0, 0, 0, 0}}, 0, 0},
                      {{{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}}, 0xffffffffu, 0xffffffffu},
                      {{{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}}, 0xa4093822u, 0x299f31d0u}};
  constexpr int kKats = 3;
  Block* blocks = device_alloc<Block>(count);
  double* uniform = device_alloc<double>(count);
  double* normal = device_alloc<double>(count);
  std::int64_t* ints = device_alloc<std::int64_t>(count);
  Kat* kat_in = device_alloc<Kat>(kKats);
  Block* kat_out = device_alloc<Block>(kKats);
  bool ok = blocks && uniform && normal && ints && kat_in && kat_out &&
            cudaMemcpy(kat_in, kats, sizeof kats, cudaMemcpyHostToDevice) == cudaSuccess;
  if (ok) {
    const unsigned threads = 256;
    const unsigned grid = static_cast<unsigned>((count + threads - 1) / threads);
    draw<<<grid, threads>>>(r, count, blocks, uniform, normal, ints, kat_in, kat_out, kKats);
    ok = cudaGetLastError() == cudaSuccess && cudaDeviceSynchronize() == cudaSuccess;
  }
  if (ok) {
    out.blocks.resize(count);
    out.uniform.resize(count);
    out.normal.resize(count);
    out.small_int.resize(count);
    out.kat.resize(kKats);
    ok = cudaMemcpy(out.blocks.data(), blocks, count * sizeof(Block), cudaMemcpyDeviceToHost) == cudaSuccess &&
         cudaMemcpy(out.uniform.data(), uniform, count * sizeof(double), cudaMemcpyDeviceToHost) == cudaSuccess &&
         cudaMemcpy(out.normal.data(), normal, count * sizeof(double), cudaMemcpyDeviceToHost) == cudaSuccess &&
         cudaMemcpy(out.small_int.data(), ints, count * sizeof(std::int64_t), cudaMemcpyDeviceToHost) == cudaSuccess &&
         cudaMemcpy(out.kat.data(), kat_out, kKats * sizeof(Block), cudaMemcpyDeviceToHost) == cudaSuccess;
  }
  for (void* p : {static_cast<void*>(blocks), static_cast<void*>(uniform), static_cast<void*>(normal),
                  static_cast<void*>(ints), static_cast<void*>(kat_in), static_cast<void*>(kat_out)}) {
    if (p) cudaFree(p);
  }
  return ok;
}

}  // namespace mhc::rng::test
