// Built instead of the CUDA backend when nvcc is not available.
#include "core/error.hpp"
#include "kernels/cuda/cuda_backend.hpp"

namespace mhc {

int cuda_device_count() { return 0; }
std::vector<std::string> cuda_device_descriptions() { return {}; }
std::unique_ptr<Backend> make_cuda_backend(int) {
  fail(ErrorKind::environment, "this mhc-verify was built without CUDA (nvcc not found at configure time); "
                               "use --backend emulated, or rebuild on a machine with the CUDA toolkit");
}

}  // namespace mhc
