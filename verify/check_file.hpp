// Tensors produced by another implementation, read from a .safetensors payload and turned into a
// CheckRequest, with adapters for the layouts public implementations use. Shared by
// `mhc-verify check` and the gRPC CheckTensors.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "verify/safetensors.hpp"
#include "verify/verifier.hpp"

namespace mhc::verify {

struct CheckOptions {
  std::string op;                     // "pre" | "post"; empty: metadata "op"
  std::string preset;                 // empty: metadata "preset" and its fields, else deepseek
  std::vector<std::string> overrides; // semantics KEY=VALUE (unknown keys refused), applied last
  std::string phi_layout = "MK";      // "KM": phi and dphi stored [K, M]
  std::string stream_layout = "TNC";  // "TCN": x, dx, dout, out stored [T, C, n]
  std::string precision;              // f32 | tf32 | bf16gemm | bf16dx; empty: metadata "precision", else f32
};

// Error(invalid_input) for an unknown precision or override key, gamma or dgamma with use_gamma = false, and a
// phi or x whose shape is exactly the other layout's (naming the flag that reads it).
// A file holds one op, or both with every tensor name prefixed by its op ("pre.x", "post.out";
// DESIGN.md "Tensor interchange"): one request per op then, pre first, labelled "label:pre" and
// "label:post", or only options.op's.
std::vector<CheckRequest> check_requests(SafetensorsFile file, const CheckOptions& options, const std::string& label);
std::vector<CheckRequest> check_requests_from_file(const std::string& path, const CheckOptions& options);
// Exactly one request: Error(invalid_input) for a file of both ops without options.op.
CheckRequest check_request(SafetensorsFile file, const CheckOptions& options, std::string label);
CheckRequest check_request_from_file(const std::string& path, const CheckOptions& options);

}  // namespace mhc::verify
