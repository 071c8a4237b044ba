#include "kernels/cuda/x_map.hpp"

#include <cudaTypedefs.h>
#include <cuda_runtime_api.h>

#include <string>

#include "kernels/cuda/cuda_check.hpp"

namespace mhc::cuda {

CUtensorMap make_x_map(const std::uint16_t* x, const PreDims& d, int box_tokens, int box_streams, int box_blocks) {
  // The driver entry point, found through the runtime so that nothing links libcuda.
  static const PFN_cuTensorMapEncodeTiled_v12000 encode = [] {
    void* fn = nullptr;
    cudaDriverEntryPointQueryResult found{};
    MHC_CUDA_CHECK(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault, &found));
    if (found != cudaDriverEntryPointSuccess || fn == nullptr) {
      fail(ErrorKind::environment,
           "cuda backend: the driver has no cuTensorMapEncodeTiled (CUDA 12 driver or newer needed)");
    }
    return reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(fn);
  }();
  const auto n = static_cast<cuuint64_t>(d.n), C = static_cast<cuuint64_t>(d.C);
  const cuuint64_t dims[4] = {kXBlock, static_cast<cuuint64_t>(d.T), n, C / kXBlock};
  const cuuint64_t strides[3] = {2 * n * C, 2 * C, 2 * kXBlock};  // bytes, dims 1..3
  const cuuint32_t box[4] = {kXBlock, static_cast<cuuint32_t>(box_tokens), static_cast<cuuint32_t>(box_streams),
                             static_cast<cuuint32_t>(box_blocks)};
  const cuuint32_t unit[4] = {1, 1, 1, 1};
  CUtensorMap map;
  const CUresult r = encode(&map, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 4, const_cast<std::uint16_t*>(x), dims, strides,
                            box, unit, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                            CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS) {
    fail(ErrorKind::environment,
         "cuda backend: cuTensorMapEncodeTiled failed for x (CUresult " + std::to_string(r) + ")");
  }
  return map;
}

}  // namespace mhc::cuda
