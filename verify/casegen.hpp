// Case generation: the tensors of a case from its CaseSpec alone. Element i (flat, row-major) of
// tensor NAME is a pure function of (spec.seed, NAME, i) through core/rng.hpp, so the same line
// gives bit-identical tensors on every machine and with any thread count.
//
// Dtypes: the activations x, f, dy, dout in spec.dtype (bf16 by default: drawn in f64, rounded to
// f32, then to bf16, so a bf16 case is exactly the bf16 rounding of the f32 case); phi, gamma,
// alpha, bias, h_post, h_res, dh_post, dh_res in f32.
//
// Generator version (kCaseGenVersion, recorded as "casegen" in safetensors metadata): 2 draws N by
// inverse CDF from 32 bits (rng::TensorRng::normal_icdf: element i is word i % 4 of Philox block
// i / 4). Version 1 (before 2026-11-24) drew N by Box-Muller from a whole block per element
// (TensorRng::normal); its case lines regenerate different tensors under version 2.
//
// Distributions (spec.distribution). N is a standard normal draw, U(a,b) a uniform one, K = n*C,
// p = post_mult. "Default" is what `normal` draws; the others change only what they name.
//
//   normal          x, f, dy, dout, dh_post, dh_res ~ N; phi ~ N/sqrt(K) (so m_hat ~ N(0,1) and the
//                   sigmoids are not saturated); gamma ~ 1 + 0.1 N; alpha_k ~ U(0.5, 1.5);
//                   bias ~ 0.1 N; h_post = p * sigmoid(N), in (0, p) and distinct per token;
//                   h_res[t,i,:] = exp(N) normalised to a row sum drawn from U(0.9, 1.1): asymmetric,
//                   non-identity, distinct per token, rows not summing to 1 (BUGS.md, orientation).
//   uniform         every N above replaced by U(-sqrt 3, sqrt 3) (same variance).
//   ones            x, f, dy, dout, dh_post, dh_res, gamma, alpha = 1; phi = 1/K; bias = 0;
//                   h_post = p/2; h_res = 1/n. A smoke test: symmetric H hides orientation bugs.
//   arange          x, f, dy, dout, dh_post, dh_res = ((i mod 256) - 128) / 128 (exact in bf16),
//                   phi the same times sqrt(3/K): a misplaced element shows up as a wrong
//                   offset. Parameters and h_post/h_res as normal.
//   small_int       x, f, dy, dout, dh_post, dh_res integers in [-3, 3]; phi integers in [-2, 2]
//                   times a power of two near 1/sqrt(K); gamma in {0.5, ..., 1.5} step 0.25; alpha
//                   in {0.5, ..., 1.5} step 0.25; bias in {-0.25, ..., 0.25} step 0.125;
//                   h_post = p * {1..7}/8; h_res in {1..4}/8. Sums of products are exact in f32.
//   zero_rows       as normal, but every token t with t % 3 == 0 has x[t] exactly zero (the
//                   eps_rms path: r = 1/sqrt(eps_rms); NaN when eps_rms = 0).
//   near_zero_rows  as normal, but x[t] for t % 3 == 0 is scaled by sqrt(max(eps_rms, 1e-6)), so
//                   |x[t]|^2 / K ~ eps_rms: the rows where eps placement matters.
//   wide_logits     as normal, but alpha_res ~ U(6, 10) and bias_res ~ 2 N, so the res logits are
//                   wide: softmax near one-hot, Sinkhorn far from converged at small R, H asymmetric
//                   with row sums away from 1. Post: h_res rows exp(3 N), h_post = p sigmoid(4 N).
//   large           as normal, with the activations scaled by the largest power of two at which no
//                   f32 intermediate can overflow: pre x * 2^(58 - ceil(ceil(log2 K) / 2)) (the
//                   sum of squares stays below 2^127), post x and f * 2^(118 - ceil(log2 C))
//                   (out, dh_post and dh_res stay below 2^127). dy and dout stay N.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "kernels/backend.hpp"
#include "verify/case.hpp"

namespace mhc::verify {

struct PreCase {
  PreInputs in;
  PreUpstream up;
};

struct PostCase {
  PostInputs in;
  PostUpstream up;
};

// Generation refuses cases whose inputs would need more host memory than max_bytes.
struct CaseLimits {
  std::uint64_t max_bytes;
  CaseLimits();  // min(16 GiB, half of physical memory)
};

inline constexpr int kCaseGenVersion = 2;

std::vector<std::string> distribution_names();

// Bytes of the case's inputs and upstream gradients, computed without overflow: Error(invalid_input)
// naming T, n, C when the sizes overflow 64 bits.
std::uint64_t case_input_bytes(const CaseSpec& spec);

// STAND-IN (fix-srv): the estimated peak working set, in bytes, of running and judging the case
// (candidate, baselines, f64 golden, comparison). The lead is adding the real estimate with this
// signature on his branch; on merge his definition replaces this one. This one is 12 times
// the input bytes: the ratio measured for post T=65536 n=4 C=1024 bf16 on the emulated backend
// (VmHWM 14.35 GB for 1.2 GB of inputs).
std::uint64_t case_peak_bytes(const CaseSpec& spec);

// Everything make_*_case checks before allocating: op/distribution/dtype/preset names, shape and
// semantics (mhc::validate), 64-bit overflow and the memory limit. Error(invalid_input) naming the
// field.
void validate_case(const CaseSpec& spec, const CaseLimits& limits = {});

PreCase make_pre_case(const CaseSpec& spec, const CaseLimits& limits = {});
PostCase make_post_case(const CaseSpec& spec, const CaseLimits& limits = {});

// Inputs and upstream gradients under the interchange names of DESIGN.md
// (pre: x, phi, [gamma], alpha, bias, dy, dh_post, dh_res; post: x, f, h_post, h_res, dout).
TensorMap case_tensors(const CaseSpec& spec, const CaseLimits& limits = {});

TensorMap to_tensor_map(const PreCase& c);
TensorMap to_tensor_map(const PostCase& c);
// Inverse of to_tensor_map; gamma is optional, every other tensor is required (Error(invalid_input)
// naming the missing one). Extra entries are ignored.
PreCase pre_case_from_map(const TensorMap& m);
PostCase post_case_from_map(const TensorMap& m);

// safetensors __metadata__ for a case: "case" (the one-line form, enough to regenerate it with
// generator "casegen" = kCaseGenVersion), "op", "preset" and the semantics fields of
// core/semantics.hpp's to_fields.
std::map<std::string, std::string> case_metadata(const CaseSpec& spec);

}  // namespace mhc::verify
