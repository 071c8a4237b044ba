// Device buffers (and a side stream) cached across calls: a backend keeps one Workspace per device, so repeated calls
// on the same shape allocate nothing (allocation would dominate small cases and the benchmark).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <map>
#include <string>

namespace mhc::cuda {

class Workspace {
 public:
  Workspace() = default;
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  ~Workspace();

  // A device buffer of at least `bytes` under `name`; grows (contents lost) when too small.
  // Throws Error(environment) when the device is out of memory.
  void* get(const std::string& name, std::size_t bytes);
  template <class T> T* get(const std::string& name, std::size_t count) {
    return static_cast<T*>(get(name, count * sizeof(T)));
  }
  void release();

  // A second stream, of the highest priority, and two events, for kernels that run beside the
  // caller's stream (created on first use, on the current device).
  struct Side {
    cudaStream_t stream = nullptr;
    cudaEvent_t fork = nullptr, join = nullptr;
  };
  const Side& side();

 private:
  Side side_;
  struct Buffer {
    void* ptr = nullptr;
    std::size_t bytes = 0;
  };
  std::map<std::string, Buffer> buffers_;
};

}  // namespace mhc::cuda
