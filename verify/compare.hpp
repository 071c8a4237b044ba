// Element-wise comparison of a tensor against the golden, and the verdict of the tolerance model.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor.hpp"
#include "verify/report.hpp"
#include "verify/tolerance.hpp"

namespace mhc::verify {

enum class TensorRole { output, gradient };

// Error statistics of `candidate` against `golden` (same shape; any dtypes). Ulps are counted in
// `ulp_dtype` (the dtype the candidate stores the tensor in).
ErrorStats error_stats(const Tensor& candidate, const Tensor& golden, DType ulp_dtype);

// ErrorStats::max_abs (max |c - g| over finite pairs) of a and of b against the same golden, and
// max |golden| over its finite elements (judge's ref_max_abs), in one cheap pass: the verifier
// picks the larger of two baselines' errors with it.
struct BaselineMaxima {
  double a = 0, b = 0, golden = 0;
};
BaselineMaxima max_abs_errors(const Tensor& a, const Tensor& b, const Tensor& golden);

// bitwise_equal (core/tensor.hpp) with the bytes compared by all threads: the inputs-unchanged
// and determinism checks compare ~10^8 bytes per case at DeepSeek sizes.
bool same_bytes(const Tensor& a, const Tensor& b);

// One ulp of `dtype` at magnitude |x| (bf16: 8 significant bits, f32: 24).
double ulp(DType dtype, double x);

struct JudgeInput {
  std::string name;
  TensorRole role = TensorRole::output;
  const Tensor* candidate = nullptr;
  const Tensor* golden = nullptr;
  const Tensor* baseline = nullptr;   // required by the baseline rule
  std::int64_t reduction_length = 1;  // L of the f32 floor and of the fixed rule's sqrt(L / 1024) scaling
  bool per_token = true;              // the first axis is the token: the per-row rule applies
  std::int64_t tokens = 0;            // T of the case: bounds the error samples of a token-reduced gradient
};

// golden_max: max |golden| over its finite elements when the caller has it
// (BaselineMaxima::golden), which spares judge a pass over the golden; computed when absent.
TensorCheck judge(const JudgeInput& in, const Tolerance& tolerance, std::optional<double> golden_max = {});

// "[t=3, i=1, c=17]" with axis letters chosen from the tensor's name and rank.
std::string format_index(const std::string& name, const std::vector<std::int64_t>& index);

// Flat index -> multi-index for a row-major shape.
std::vector<std::int64_t> unravel(std::int64_t flat, const std::vector<std::int64_t>& shape);

}  // namespace mhc::verify
