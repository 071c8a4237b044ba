// The f64 golden: mHC pre/post forward and backward exactly as ../shared/design/MATH.md states
// them, for every Semantics variant (residual maps, orientation, gamma, epsilons, p, R, lite's
// merged residual, exact or implicit Sinkhorn backward).
//
// Inputs may be bf16, f32 or f64 tensors and are widened exactly; every output is an f64 tensor
// with the shapes of kernels/backend.hpp. Taps and gradient components use the names of
// kernels/taps.hpp and are filled only when the map pointer is non-null. Results are
// bit-identical for any OpenMP thread count (fixed token blocks, fixed reduction order).
// Bad shapes or dtypes throw mhc::Error(invalid_input) naming the tensor and the expected shape.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "core/semantics.hpp"
#include "core/tensor.hpp"

namespace mhc::ref {

using Named = std::map<std::string, Tensor>;

// Views of the caller's tensors; never copied, never modified.
struct PreArgs {
  const Tensor& x;      // [T, n, C]
  const Tensor& phi;    // [M, K]
  const Tensor& gamma;  // [K], or undefined when !use_gamma
  const Tensor& alpha;  // [3]
  const Tensor& bias;   // [M]
};

struct PreUpstreamArgs {
  const Tensor& dy;       // [T, C]
  const Tensor& dh_post;  // [T, n]
  const Tensor& dh_res;   // [T, n, n]
};

struct PreForward {
  Tensor y;       // [T, C]
  Tensor h_post;  // [T, n]
  Tensor h_res;   // [T, n, n] (H, or H - h_post (x) h_pre with merged_residual)
};

struct PreGradients {
  Tensor dx;      // [T, n, C]
  Tensor dphi;    // [M, K]
  Tensor dalpha;  // [3]
  Tensor dbias;   // [M]
  Tensor dgamma;  // [K], undefined without gamma
};

struct PostArgs {
  const Tensor& x;       // [T, n, C]
  const Tensor& f;       // [T, C]
  const Tensor& h_post;  // [T, n]
  const Tensor& h_res;   // [T, n, n]
};

struct PostGradients {
  Tensor dx;       // [T, n, C]
  Tensor df;       // [T, C]
  Tensor dh_post;  // [T, n]
  Tensor dh_res;   // [T, n, n]
};

PreForward pre_forward(const Semantics& s, const PreArgs& in, Named* taps);
PreGradients pre_backward(const Semantics& s, const PreArgs& in, const PreUpstreamArgs& up, Named* parts);
Tensor post_forward(const Semantics& s, const PostArgs& in);
PostGradients post_backward(const Semantics& s, const PostArgs& in, const Tensor& dout);

// One stage of kernels/taps.hpp ("norm_proj", "mix", "resmap", "apply", "post") on the named
// tensors; throws Error(invalid_input) for an unknown stage or a missing/misshapen tensor.
Named run_stage(const Semantics& s, std::string_view stage, const Named& in);

}  // namespace mhc::ref
