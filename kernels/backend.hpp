// The Backend interface: one implementation of mHC pre/post forward and backward.
//
// Implementations: golden (reference/, f64), emulated (CPU, GPU rounding points), mutant:<name>
// (deliberately broken emulated variants for the self-test), cuda (kernels/cuda/).
//
// Conventions (MATH.md, DESIGN.md "Tensor interchange"):
//   inputs are bf16 or f32 host tensors as named below; a backend widens them as it needs.
//   Outputs use the backend's own dtypes: golden f64 everywhere; GPU-precision backends bf16 for
//   y, out, dx, df and f32 for the rest.
//   Taps and gradient components are optional: a backend fills the ones it can when given a
//   non-null map, under the names "tap.<name>" / "part.<name>" listed in kernels/taps.hpp.
// Errors are thrown as mhc::Error (core/error.hpp); a backend never aborts the process on bad
// input and never modifies its inputs.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/semantics.hpp"
#include "core/tensor.hpp"

namespace mhc {

using TensorMap = std::map<std::string, Tensor>;

struct PreInputs {
  Tensor x;      // [T, n, C] residual streams
  Tensor phi;    // [M, K] projection (K = n*C), rows ordered [pre | post | res]
  Tensor gamma;  // [K] RMSNorm weight, or undefined when Semantics::use_gamma is false
  Tensor alpha;  // [3] scales of the pre, post, res blocks
  Tensor bias;   // [M]
};

struct PreOutputs {
  Tensor y;       // [T, C] sublayer input
  Tensor h_post;  // [T, n]
  Tensor h_res;   // [T, n, n] the residual mixing matrix H
};

struct PreUpstream {
  Tensor dy;       // [T, C]
  Tensor dh_post;  // [T, n]
  Tensor dh_res;   // [T, n, n]
};

struct PreGrads {
  Tensor dx;      // [T, n, C]
  Tensor dphi;    // [M, K]
  Tensor dalpha;  // [3]
  Tensor dbias;   // [M]
  Tensor dgamma;  // [K], undefined without gamma
};

struct PostInputs {
  Tensor x;       // [T, n, C] residual streams
  Tensor f;       // [T, C] sublayer output
  Tensor h_post;  // [T, n]
  Tensor h_res;   // [T, n, n]
};

struct PostOutputs {
  Tensor out;  // [T, n, C]
};

struct PostUpstream {
  Tensor dout;  // [T, n, C]
};

struct PostGrads {
  Tensor dx;       // [T, n, C]
  Tensor df;       // [T, C]
  Tensor dh_post;  // [T, n]
  Tensor dh_res;   // [T, n, n]
};

class Backend {
 public:
  virtual ~Backend() = default;

  // "golden", "emulated", "emulated:tf32", "mutant:post_h_not_transposed", "cuda", ...
  virtual std::string name() const = 0;

  // The emulated configuration with this backend's rounding points but a different operation
  // order: the same-precision baseline of the tolerance model (DESIGN.md). GPU-precision backends
  // with f32 GEMMs keep the default; an emulated backend names its own mode (toggling reorder).
  virtual std::string baseline_name() const { return "emulated+reorder"; }

  virtual PreOutputs pre_forward(const Semantics& s, const PreInputs& in, TensorMap* taps) = 0;
  virtual PreGrads pre_backward(const Semantics& s, const PreInputs& in, const PreUpstream& up,
                                TensorMap* parts) = 0;
  virtual PostOutputs post_forward(const Semantics& s, const PostInputs& in, TensorMap* taps) = 0;
  virtual PostGrads post_backward(const Semantics& s, const PostInputs& in, const PostUpstream& up,
                                  TensorMap* parts) = 0;

  // Stage isolation (DESIGN.md "Decomposition"): run one stage on the given tensors and return
  // its outputs, so a stage can be fed golden inputs. Stage names and their tensors are listed in
  // kernels/taps.hpp. The default says the backend has no stage entry points.
  virtual bool has_stages() const { return false; }
  virtual TensorMap run_stage(const Semantics& s, std::string_view stage, const TensorMap& in);
};

// Builds a backend from its name; throws Error(invalid_input) listing the valid names.
// "auto" is the CUDA backend when a device is present, else "emulated".
std::unique_ptr<Backend> make_backend(std::string_view name);
// Every name make_backend accepts on this build (mutants included), for --help and GetInfo.
std::vector<std::string> backend_names();

}  // namespace mhc
