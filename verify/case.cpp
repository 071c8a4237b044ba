// The one-line case form (verify/case.hpp):
//   <op> T=<int> n=<int> C=<int> preset=<name> seed=<u64> dist=<name> [dtype=f32] [tol=<profile>]
//        [semantic overrides...]
// Semantic overrides use the field names of core/semantics.hpp's to_fields (use_gamma is spelled
// `gamma`) and appear only where they differ from the preset, so the line stays short and a
// preset change is visible at a glance. Doubles print in the shortest form that round-trips.
// Parsing checks names (op, preset, dist, dtype, tol, enum fields) but not sizes: the shape is
// validated where the case is generated (verify/casegen.hpp).
#include "verify/case.hpp"

#include <algorithm>
#include <charconv>
#include <map>
#include <set>
#include <vector>

#include "core/error.hpp"
#include "verify/casegen.hpp"
#include "verify/tolerance.hpp"

namespace mhc::verify {

namespace {

constexpr std::string_view kGammaKey = "gamma";  // the line's spelling of Semantics::use_gamma

std::string shortest(double v) {
  char buf[32];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, end);
}

// Semantics as key=value strings with shortest-form doubles (to_fields prints %.17g, which is
// exact but turns 1e-2 into 0.01000000000000000021).
std::map<std::string, std::string> line_fields(const Semantics& s) {
  std::map<std::string, std::string> f = to_fields(s);
  f["eps_rms"] = shortest(s.eps_rms);
  f["eps_pre"] = shortest(s.eps_pre);
  f["eps_sk"] = shortest(s.eps_sk);
  f["post_mult"] = shortest(s.post_mult);
  f[std::string(kGammaKey)] = f.at("use_gamma");
  f.erase("use_gamma");
  return f;
}

template <class Int>
Int parse_integer(std::string_view key, std::string_view v) {
  Int out{};
  const auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (v.empty() || ec != std::errc() || ptr != v.data() + v.size()) {
    invalid_input("case line: " + std::string(key) + "=" + std::string(v) + " is not a valid integer");
  }
  return out;
}

DType activation_dtype_from_string(std::string_view v) {
  if (v == "bf16") return DType::bf16;
  if (v == "f32") return DType::f32;
  invalid_input("case line: dtype=" + std::string(v) + " (activations are bf16 or f32)");
}

void require_one_of(std::string_view key, const std::string& value, const std::vector<std::string>& names) {
  if (std::find(names.begin(), names.end(), value) != names.end()) return;
  std::string known;
  for (const std::string& n : names) known += (known.empty() ? "" : ", ") + n;
  invalid_input("case line: " + std::string(key) + "=" + value + " is unknown (choose " + known + ")");
}

std::string_view activation_dtype_name(DType d) { return d == DType::f32 ? "f32" : "bf16"; }

}  // namespace

const std::vector<std::string>& semantic_keys() {
  static const std::vector<std::string> keys = {"resmap",    "repeats",     "eps_rms",        "eps_pre",
                                                "eps_sk",    "post_mult",   "orientation",    "gamma",
                                                "merged_residual", "sinkhorn_grad"};
  return keys;
}

std::string known_semantic_keys() {
  std::string known;
  for (const std::string& key : semantic_keys()) known += (known.empty() ? "" : " ") + key;
  return known;
}

std::string_view to_string(Op op) { return op == Op::pre ? "pre" : "post"; }

Op op_from_string(std::string_view s) {
  if (s == "pre") return Op::pre;
  if (s == "post") return Op::post;
  invalid_input("unknown op \"" + std::string(s) + "\" (choose pre or post)");
}

std::string CaseSpec::to_string() const {
  std::string line = std::string(verify::to_string(op));
  line += " T=" + std::to_string(shape.T) + " n=" + std::to_string(shape.n) + " C=" + std::to_string(shape.C);
  line += " preset=" + preset + " seed=" + std::to_string(seed) + " dist=" + distribution;
  if (dtype != DType::bf16) line += " dtype=" + std::string(activation_dtype_name(dtype));
  if (tolerance != "baseline") line += " tol=" + tolerance;
  const auto base = line_fields(mhc::preset(preset));
  const auto mine = line_fields(semantics);
  for (const std::string& key : semantic_keys()) {
    if (mine.at(key) != base.at(key)) line += " " + key + "=" + mine.at(key);
  }
  return line;
}

CaseSpec CaseSpec::parse(std::string_view line) {
  std::vector<std::string_view> tokens;
  std::size_t pos = 0;
  while (pos < line.size()) {
    const std::size_t start = line.find_first_not_of(" \t", pos);
    if (start == std::string_view::npos) break;
    const std::size_t end = std::min(line.find_first_of(" \t", start), line.size());
    tokens.push_back(line.substr(start, end - start));
    pos = end;
  }
  if (tokens.empty()) invalid_input("case line is empty (expected e.g. \"pre T=13 n=4 C=1280 preset=deepseek seed=0\")");

  CaseSpec spec;
  spec.op = op_from_string(tokens[0]);
  std::map<std::string, std::string> overrides;
  std::set<std::string_view> seen;
  bool has_T = false, has_n = false, has_C = false;
  for (std::size_t i = 1; i < tokens.size(); ++i) {
    const std::string_view tok = tokens[i];
    const std::size_t eq = tok.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      invalid_input("case line: token \"" + std::string(tok) + "\" is not key=value");
    }
    // "use_gamma", the spelling of the metadata `golden --dump` writes, is the line's "gamma".
    const std::string_view key = tok.substr(0, eq) == "use_gamma" ? kGammaKey : tok.substr(0, eq);
    const std::string_view value = tok.substr(eq + 1);
    if (!seen.insert(key).second) invalid_input("case line: key \"" + std::string(key) + "\" given twice");
    if (key == "T") spec.shape.T = parse_integer<std::int64_t>(key, value), has_T = true;
    else if (key == "n") spec.shape.n = parse_integer<std::int64_t>(key, value), has_n = true;
    else if (key == "C") spec.shape.C = parse_integer<std::int64_t>(key, value), has_C = true;
    else if (key == "preset") spec.preset = std::string(value);
    else if (key == "seed") spec.seed = parse_integer<std::uint64_t>(key, value);
    else if (key == "dist") spec.distribution = std::string(value);
    else if (key == "dtype") spec.dtype = activation_dtype_from_string(value);
    else if (key == "tol") spec.tolerance = std::string(value);
    else if (key == kGammaKey) overrides["use_gamma"] = std::string(value);
    else if (std::find(semantic_keys().begin(), semantic_keys().end(), key) != semantic_keys().end()) {
      overrides[std::string(key)] = std::string(value);
    } else {
      invalid_input("case line: unknown key \"" + std::string(key) + "\" (known: T n C preset seed dist dtype tol " +
                    known_semantic_keys() + ")");
    }
  }
  if (!has_T || !has_n || !has_C) invalid_input("case line \"" + std::string(line) + "\" must give T, n and C");
  require_one_of("dist", spec.distribution, distribution_names());
  require_one_of("tol", spec.tolerance, tolerance_profile_names());
  try {
    spec.semantics = from_fields(overrides, mhc::preset(spec.preset));
  } catch (const Error& e) {
    invalid_input("case line: " + std::string(e.what()));
  }
  return spec;
}

}  // namespace mhc::verify
