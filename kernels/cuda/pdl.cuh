// Programmatic dependent launch (sm_90): a kernel launched by launch_after() may be scheduled
// while the kernel before it on the stream runs its last blocks, so its launch and block set-up
// overlap that tail instead of following it. Such a kernel calls wait_for_prior_kernel() before
// it touches global memory: the wait returns when the earlier kernel has completed and its
// writes are visible (and at once when the launch was an ordinary one).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <utility>

#include "kernels/cuda/cuda_check.hpp"

namespace mhc::cuda {

__device__ __forceinline__ void wait_for_prior_kernel() { asm volatile("griddepcontrol.wait;\n" ::: "memory"); }

template <class... Params, class... Args>
void launch_after(void (*kernel)(Params...), dim3 grid, dim3 block, std::size_t smem, cudaStream_t stream,
                  Args&&... args) {
  cudaLaunchAttribute attr{};
  attr.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr.val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t config{};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = smem;
  config.stream = stream;
  config.attrs = &attr;
  config.numAttrs = 1;
  MHC_CUDA_CHECK(cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...));
}

}  // namespace mhc::cuda
