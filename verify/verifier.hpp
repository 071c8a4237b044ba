// Runs cases: candidate backend vs the f64 golden, judged by the tolerance model, with
// decomposition and diagnosis of failures. One Verifier per thread (it owns backend instances,
// which may hold device buffers).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <stop_token>
#include <string>

#include "kernels/backend.hpp"
#include "verify/report.hpp"
#include "verify/tolerance.hpp"

namespace mhc::verify {

struct VerifyOptions {
  std::string backend = "auto";  // candidate: any name make_backend accepts, or exec:COMMAND (allow_exec)
  // Whether "exec:COMMAND" may run a program (verify/exec_backend.hpp): the CLI's local runs only,
  // never a server's workers.
  bool allow_exec = false;
  // The arithmetic the candidate was written for (f32, tf32, bf16gemm, bf16dx; precision_baseline),
  // which picks its baseline; empty: the backend's own (Backend::baseline_name).
  std::string precision;
  // A program backend's call that takes longer is killed and the case is an error; 0: no limit.
  std::chrono::milliseconds call_timeout{0};
  Tolerance tolerance;           // rule and per-tensor overrides; a case line whose tol= names another
                                 // profile is judged by that profile (with these overrides)
  bool diagnose = true;          // decomposition + diagnosis when a case fails
  bool always_decompose = false; // decomposition table for passing cases too (`decompose`)
  bool check_determinism = true; // run the candidate twice and compare bitwise
};

// Tensors produced elsewhere (`mhc-verify check`, gRPC CheckTensors): the inputs, upstream
// gradients and the implementation's outputs/gradients under the interchange names.
struct CheckRequest {
  Op op = Op::pre;
  Semantics semantics;
  std::string preset = "deepseek";
  TensorMap tensors;
  std::string label;  // shown as the case name ("file.safetensors")
  // The arithmetic the implementation was written to use, which sets the baseline that judges it:
  // "f32", or a lower-precision design of public kernels ("tf32", "bf16gemm", "bf16dx"; see
  // precision_baseline). Empty: the verifier's own baseline (f32 unless its backend says otherwise).
  std::string precision;
};

// The baseline backend for a candidate that computes in `precision` (the emulated backend in that
// mode, reordered); Error(invalid_input) naming the valid precisions and what each means.
std::string precision_baseline(const std::string& precision);

class Verifier {
 public:
  explicit Verifier(VerifyOptions options);
  ~Verifier();

  // Never throws for a bad case: errors become Verdict::error with the message and the ErrorKind
  // (so a caller can tell bad input from a broken device). A stop request
  // is honoured between stages; the report then says "cancelled".
  CaseReport run(const CaseSpec& spec, std::stop_token stop = {});
  CaseReport check(const CheckRequest& request, std::stop_token stop = {});

  const std::string& backend_name() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mhc::verify
