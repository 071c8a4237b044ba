// One call's dimensions and widened parameters, shared by every stage of the emulated backend.
//
// Parameters (phi, gamma, alpha, bias) are small and widened to f32 once per call; activations
// (x, f, dy, dout) are widened one token row at a time (widen_row) so memory stays O(T*n*C) in
// the caller's dtype only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/semantics.hpp"
#include "core/tensor.hpp"
#include "kernels/emulated/emulated.hpp"

namespace mhc::emulated {

struct Problem {
  Semantics s;
  EmulatedOptions opt;
  std::int64_t T = 0, n = 0, C = 0, K = 0, M = 0;
  std::vector<float> phi;       // [M, K] unfolded phi (used by the backward projection)
  std::vector<float> phi_gemm;  // [M, K] phi' = phi * gamma as the forward GEMM sees it (TF32 or f32)
  std::vector<float> gamma;     // [K], empty without gamma
  std::vector<float> alpha_e;   // [M] alpha expanded over [pre | post | res]
  std::vector<float> bias;      // [M]
  std::vector<std::int32_t> perms;  // [n!, n] permutations in itertools order (permutation map only)

  std::int64_t res_size() const { return M - 2 * n; }
  // Mix block of row j: 0 pre, 1 post, 2 res.
  int block_of(std::int64_t j) const { return j < n ? 0 : (j < 2 * n ? 1 : 2); }
  std::int64_t block_begin(int b) const { return b == 0 ? 0 : (b == 1 ? n : 2 * n); }
  std::int64_t block_end(int b) const { return b == 0 ? n : (b == 1 ? 2 * n : M); }
  // Number of stored Sinkhorn iterates (R + 1), or 1 (H only) for the other maps.
  int iterate_count() const;
};

// Reads T, n, C from x [T, n, C] and checks the semantics against them (Error(invalid_input)).
Problem dimensions_from_x(const Semantics& s, const EmulatedOptions& opt, const Tensor& x);
// Validates the pre inputs (shapes, dtypes, gamma present iff use_gamma) with Error(invalid_input)
// naming the tensor, and widens the parameters.
Problem make_pre_problem(const Semantics& s, const EmulatedOptions& opt, const Tensor& x, const Tensor& phi,
                         const Tensor& gamma, const Tensor& alpha, const Tensor& bias);
// Post needs only the dimensions (from x) and checks f, h_post, h_res against them.
Problem make_post_problem(const Semantics& s, const EmulatedOptions& opt, const Tensor& x, const Tensor& f,
                          const Tensor& h_post, const Tensor& h_res);

// Throws Error(invalid_input) unless t is defined, has the expected shape and a float dtype.
void expect_tensor(const Tensor& t, const std::string& name, const std::vector<std::int64_t>& shape);

// dst[0:count] = float(t[offset : offset+count]) for a bf16, f32 or f64 tensor.
void widen_row(const Tensor& t, std::int64_t offset, std::int64_t count, float* dst);
// Stores src into a bf16 or f32 tensor (bf16: round to nearest even once).
void store_row(Tensor& t, std::int64_t offset, std::int64_t count, const float* src);

// Permutations of 0..n-1 in lexicographic (itertools.permutations) order, flattened [n!, n].
std::vector<std::int32_t> permutations_of(std::int64_t n);

}  // namespace mhc::emulated
