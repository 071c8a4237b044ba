// The CUDA backend (kernels/cuda/*.cu). Declared for every build; without nvcc the functions
// report zero devices and refuse to construct.
#pragma once

#include <memory>
#include <string>

#include "kernels/backend.hpp"

namespace mhc {

// Number of usable CUDA devices; 0 when built without CUDA, without a driver or without a GPU.
int cuda_device_count();
// One line per device ("0: NVIDIA H100 80GB HBM3, sm_90, 79.1 GiB"), for `info` and GetInfo.
std::vector<std::string> cuda_device_descriptions();
// Throws Error(environment) when no device is usable.
std::unique_ptr<Backend> make_cuda_backend(int device = 0);

}  // namespace mhc
