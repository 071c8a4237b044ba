// Shape/dtype validation and exact widening of the golden's inputs (internal to reference/).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "core/semantics.hpp"
#include "core/tensor.hpp"

namespace mhc::ref {

// The sizes of one call: T tokens, n streams, C channels, K = n C, M mix logits.
struct Dims {
  std::int64_t T = 0, n = 0, C = 0, K = 0, M = 0;
};

// Reads T, n, C from x ([T, n, C]) and checks them with the semantics (mhc::validate).
Dims dims_from_x(const Semantics& s, const Tensor& x, std::string_view x_name = "x");

// Throws Error(invalid_input) unless `t` is defined with exactly `shape`:
// "phi: expected shape [24,4096], got f32[24,4095]".
void expect_shape(const Tensor& t, std::string_view name, const std::vector<std::int64_t>& shape);

// Checks phi [M,K], gamma [K] (present iff use_gamma), alpha [3], bias [M].
void expect_pre_params(const Semantics& s, const Dims& d, const Tensor& phi, const Tensor& gamma,
                       const Tensor& alpha, const Tensor& bias);

// Copies `count` elements starting at flat index `offset`, widened exactly to f64.
void widen(const Tensor& t, std::int64_t offset, std::int64_t count, double* dst);
std::vector<double> widen_all(const Tensor& t);

// A zero f64 tensor.
Tensor zeros(std::vector<std::int64_t> shape);

}  // namespace mhc::ref

namespace mhc::ref {

// An f64 tensor holding a copy of `values` (values.size() must equal the shape's element count).
Tensor to_tensor(const std::vector<double>& values, std::vector<std::int64_t> shape);

}  // namespace mhc::ref
