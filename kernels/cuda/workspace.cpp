#include "kernels/cuda/workspace.hpp"

#include <cuda_runtime_api.h>

#include "kernels/cuda/cuda_check.hpp"

namespace mhc::cuda {

Workspace::~Workspace() {
  release();
  // Errors here have nowhere to go.
  if (side_.stream) cudaStreamDestroy(side_.stream);
  if (side_.fork) cudaEventDestroy(side_.fork);
  if (side_.join) cudaEventDestroy(side_.join);
}

const Workspace::Side& Workspace::side() {
  if (side_.stream == nullptr) {
    int least = 0, greatest = 0;
    MHC_CUDA_CHECK(cudaDeviceGetStreamPriorityRange(&least, &greatest));
    MHC_CUDA_CHECK(cudaStreamCreateWithPriority(&side_.stream, cudaStreamNonBlocking, greatest));
    MHC_CUDA_CHECK(cudaEventCreateWithFlags(&side_.fork, cudaEventDisableTiming));
    MHC_CUDA_CHECK(cudaEventCreateWithFlags(&side_.join, cudaEventDisableTiming));
  }
  return side_;
}

void Workspace::release() {
  for (auto& [name, buffer] : buffers_) cudaFree(buffer.ptr);  // errors here have nowhere to go
  buffers_.clear();
}

void* Workspace::get(const std::string& name, std::size_t bytes) {
  Buffer& buffer = buffers_[name];
  if (buffer.bytes >= bytes && buffer.ptr != nullptr) return buffer.ptr;
  if (buffer.ptr != nullptr) {
    MHC_CUDA_CHECK(cudaFree(buffer.ptr));
    buffer = {};
  }
  // 256-byte minimum keeps zero-sized tensors valid pointers and every buffer 16-byte aligned.
  const std::size_t size = bytes < 256 ? 256 : bytes;
  const cudaError_t status = cudaMalloc(&buffer.ptr, size);
  if (status != cudaSuccess) {
    cudaGetLastError();
    buffer = {};
    throw_cuda_error(status, ("cudaMalloc of " + std::to_string(size) + " bytes for " + name).c_str());
  }
  buffer.bytes = size;
  return buffer.ptr;
}

}  // namespace mhc::cuda
