// A case: one op on one shape with one semantics, seed and input distribution. A case is a line
// of text ("pre T=137 n=4 C=1280 preset=deepseek seed=3 dist=normal repeats=10"): it travels in
// reports, reproduce commands and RPCs, and regenerates the same tensors on any machine.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/semantics.hpp"
#include "core/tensor.hpp"

namespace mhc::verify {

enum class Op { pre, post };
std::string_view to_string(Op op);
Op op_from_string(std::string_view s);  // throws Error(invalid_input)

// The semantics fields a case line overrides, in the canonical line's order: core/semantics.hpp's
// to_fields names, with use_gamma spelled "gamma". known_semantic_keys: the same, space-separated,
// for "unknown key" messages.
const std::vector<std::string>& semantic_keys();
std::string known_semantic_keys();

struct CaseSpec {
  Op op = Op::pre;
  Shape shape;
  std::string preset = "deepseek";
  Semantics semantics = mhc::preset("deepseek");  // the preset with any overrides applied
  std::uint64_t seed = 0;
  std::string distribution = "normal";  // input profile, see verify/casegen.hpp
  DType dtype = DType::bf16;            // dtype of the activations x, f, dy, dout (bf16 or f32)
  std::string tolerance = "baseline";   // tolerance profile, see verify/tolerance.hpp

  // Canonical one-line form; semantics fields appear only where they differ from the preset.
  std::string to_string() const;
  // Inverse of to_string. Accepts key=value tokens in any order after the op; throws
  // Error(invalid_input) naming the offending token.
  static CaseSpec parse(std::string_view line);

  bool operator==(const CaseSpec&) const = default;
};

}  // namespace mhc::verify
