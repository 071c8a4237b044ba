// CUDA error handling: every runtime call and launch becomes an mhc::Error(environment) with the
// call, the CUDA error name and message; nothing aborts (issue 4: "errors become clear error
// values, never an abort").
#pragma once

#include <cuda_runtime_api.h>

#include <string>

#include "core/error.hpp"

namespace mhc::cuda {

[[noreturn]] inline void throw_cuda_error(cudaError_t status, const char* what) {
  std::string message = std::string("CUDA error in ") + what + ": " + cudaGetErrorName(status) + " (" +
                        cudaGetErrorString(status) + ")";
  if (status == cudaErrorMemoryAllocation) message += "; the shape needs more device memory than is free";
  if (status == cudaErrorIllegalAddress || status == cudaErrorLaunchFailure) {
    message += "; the CUDA context is now unusable (sticky error): restart the process";
  }
  fail(ErrorKind::environment, message);
}

inline void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) throw_cuda_error(status, what);
}

// After a launch: configuration errors show at once, faults at the next synchronisation.
inline void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

}  // namespace mhc::cuda

#define MHC_CUDA_CHECK(call) ::mhc::cuda::check((call), #call)
