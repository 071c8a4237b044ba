// What an mHC implementation computes (MATH.md): the shape of a case and the semantic choices
// that differ between public implementations, with the named presets found in the wild.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mhc {

// T tokens (batch x sequence flattened), n streams, C channels per stream.
struct Shape {
  std::int64_t T = 0;
  std::int64_t n = 0;
  std::int64_t C = 0;
  std::int64_t K() const { return n * C; }
  bool operator==(const Shape&) const = default;
};

enum class ResMap {
  sinkhorn,      // DeepSeek: softmax + eps, then alternating row/column normalisation with eps
  sinkhorn_exp,  // paper: exp, then R x (row, column) normalisation, no eps
  identity,      // mhc_ops: H = Z
  permutations,  // mHC-lite: H = sum_k softmax(z_res)_k P_k over all n! permutations
};

enum class Orientation {
  transposed,  // out[j] = h_post[j] f + sum_i H[i,j] x[i]  (DeepSeek TileKernels, FlagGems)
  plain,       // out[i] = h_post[i] f + sum_j H[i,j] x[j]  (paper, mHC-lite)
};

// How the Sinkhorn backward is taken. `implicit` is the fixed-point (conjugate-gradient)
// gradient some kernels use; the golden offers it so a report can say how far it is from exact.
enum class SinkhornGrad { exact, implicit };

// Sinkhorn iterations beyond this are typos: every published mHC uses R <= 100, and the golden's
// and the kernels' work (and the CUDA backward's O(R^2) recomputation) grows with R.
inline constexpr int kMaxRepeats = 10'000;

struct Semantics {
  ResMap resmap = ResMap::sinkhorn;
  int repeats = 20;        // R: Sinkhorn iterations
  double eps_rms = 1e-6;   // inside the inverse RMS: 1/sqrt(s/K + eps_rms)
  double eps_pre = 1e-6;   // h_pre = sigmoid(z_pre) + eps_pre
  double eps_sk = 1e-6;    // Sinkhorn: softmax + eps_sk and each division by (sum + eps_sk)
  double post_mult = 2.0;  // p: h_post = p * sigmoid(z_post)
  Orientation orientation = Orientation::transposed;
  bool use_gamma = false;  // RMSNorm weight folded into phi: phi' = phi * gamma
  // mHC-lite's H_merged = H - h_post (x) h_pre (output stream index first), for sublayers that
  // keep their own residual. Applies to the h_res output of pre.
  bool merged_residual = false;
  SinkhornGrad sinkhorn_grad = SinkhornGrad::exact;

  bool operator==(const Semantics&) const = default;
};

// M = 2n + n^2, or 2n + n! for the permutation map. Throws Error(invalid_input) when n! does not
// fit (n > 8) or n < 1.
std::int64_t mix_count(ResMap resmap, std::int64_t n);

std::vector<std::string> preset_names();
// Throws Error(invalid_input) listing the valid names.
Semantics preset(std::string_view name);

std::string_view to_string(ResMap m);
std::string_view to_string(Orientation o);
std::string_view to_string(SinkhornGrad g);
ResMap resmap_from_string(std::string_view s);
Orientation orientation_from_string(std::string_view s);

// Flat string form, used for safetensors __metadata__, reports and reproduce lines:
// {"resmap":"sinkhorn","repeats":"20","eps_rms":"1e-06",...}. Doubles print round-trip exact.
std::map<std::string, std::string> to_fields(const Semantics& s);
// Starts from `base` and overrides every field present; unknown keys are ignored (they may be
// other metadata), malformed values throw Error(invalid_input) naming the key.
Semantics from_fields(const std::map<std::string, std::string>& fields, Semantics base = {});

// Rejects what the math cannot do (n < 1, C < 1, T < 0, permutations with n > 5, R < 1 for the
// Sinkhorn maps or R > kMaxRepeats, negative or non-finite eps, p <= 0 or non-finite) with
// Error(invalid_input) naming the field.
void validate(const Shape& shape, const Semantics& s);

}  // namespace mhc
