// Shared helpers of the numerical robustness tests (issue 6 item 3): cases built from a case line
// and then pushed to an extreme by hand, results of one backend, and a finiteness check that
// names the first offending element.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "kernels/backend.hpp"
#include "verify/case.hpp"

namespace mhc::robustness {

struct Case {
  verify::CaseSpec spec;
  TensorMap tensors;  // inputs and upstream gradients under the interchange names
};

Case make_case(std::string_view line);

// Outputs and gradients of `backend` ("golden", "emulated", ...) on the case's tensors.
TensorMap results_of(std::string_view backend, const Case& c);

// "h_res[17] = nan" for the first non-finite element of any tensor, nullopt when all are finite.
std::optional<std::string> first_nonfinite(const TensorMap& results);

// Flat row-major index of a multi-index.
std::int64_t flat_index(const Tensor& t, std::initializer_list<std::int64_t> index);

void fill(Tensor& t, double value);

// Row offsets of the pre, post and res blocks in phi [M, K] and bias [M] (rows [pre | post | res]).
inline std::int64_t pre_row(std::int64_t i) { return i; }
inline std::int64_t post_row(std::int64_t n, std::int64_t i) { return n + i; }
inline std::int64_t res_row(std::int64_t n, std::int64_t i, std::int64_t j) { return 2 * n + i * n + j; }

}  // namespace mhc::robustness
