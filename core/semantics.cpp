#include "core/semantics.hpp"

#include <charconv>
#include <cmath>
#include <utility>

#include "core/error.hpp"

namespace mhc {

std::int64_t mix_count(ResMap resmap, std::int64_t n) {
  if (n < 1) invalid_input("n (streams) must be >= 1, got " + std::to_string(n));
  // Past 2^31 streams, 2n + n^2 overflows 64 bits (a fuzzed case line found it).
  if (n > (std::int64_t{1} << 31)) invalid_input("n (streams) = " + std::to_string(n) + " is too large: n^2 mix logits overflow 64 bits");
  if (resmap != ResMap::permutations) return 2 * n + n * n;
  if (n > 8) invalid_input("the permutation residual map needs n! logits; n = " + std::to_string(n) + " is too large");
  std::int64_t fact = 1;
  for (std::int64_t i = 2; i <= n; ++i) fact *= i;
  return 2 * n + fact;
}

std::vector<std::string> preset_names() { return {"deepseek", "mhc_ops", "lite", "paper"}; }

Semantics preset(std::string_view name) {
  Semantics s;
  if (name == "deepseek") {
    s.resmap = ResMap::sinkhorn;
    s.repeats = 20;
    s.post_mult = 2.0;
    s.orientation = Orientation::transposed;
  } else if (name == "mhc_ops") {
    s.resmap = ResMap::identity;
    s.repeats = 0;
    s.eps_sk = 0.0;
    s.orientation = Orientation::transposed;
    s.use_gamma = true;
  } else if (name == "lite") {
    s.resmap = ResMap::permutations;
    s.repeats = 0;
    s.eps_pre = 0.0;
    s.eps_sk = 0.0;
    s.orientation = Orientation::plain;
  } else if (name == "paper") {
    s.resmap = ResMap::sinkhorn_exp;
    s.repeats = 20;
    s.eps_rms = 0.0;
    s.eps_pre = 0.0;
    s.eps_sk = 0.0;
    s.orientation = Orientation::plain;
  } else {
    invalid_input("unknown preset \"" + std::string(name) + "\" (choose deepseek, mhc_ops, lite or paper)");
  }
  return s;
}

std::string_view to_string(ResMap m) {
  switch (m) {
    case ResMap::sinkhorn: return "sinkhorn";
    case ResMap::sinkhorn_exp: return "sinkhorn-exp";
    case ResMap::identity: return "identity";
    case ResMap::permutations: return "permutations";
  }
  return "?";
}

std::string_view to_string(Orientation o) { return o == Orientation::transposed ? "transposed" : "plain"; }
std::string_view to_string(SinkhornGrad g) { return g == SinkhornGrad::exact ? "exact" : "implicit"; }

ResMap resmap_from_string(std::string_view s) {
  for (ResMap m : {ResMap::sinkhorn, ResMap::sinkhorn_exp, ResMap::identity, ResMap::permutations}) {
    if (s == to_string(m)) return m;
  }
  invalid_input("unknown resmap \"" + std::string(s) + "\" (choose sinkhorn, sinkhorn-exp, identity or permutations)");
}

Orientation orientation_from_string(std::string_view s) {
  if (s == "transposed") return Orientation::transposed;
  if (s == "plain") return Orientation::plain;
  invalid_input("unknown orientation \"" + std::string(s) + "\" (choose transposed or plain)");
}

// Shortest text that reads back to the same double.
static std::string exact(double v) {
  char buf[32];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, ec == std::errc() ? end : buf);
}

std::map<std::string, std::string> to_fields(const Semantics& s) {
  return {
      {"resmap", std::string(to_string(s.resmap))},
      {"repeats", std::to_string(s.repeats)},
      {"eps_rms", exact(s.eps_rms)},
      {"eps_pre", exact(s.eps_pre)},
      {"eps_sk", exact(s.eps_sk)},
      {"post_mult", exact(s.post_mult)},
      {"orientation", std::string(to_string(s.orientation))},
      {"use_gamma", s.use_gamma ? "true" : "false"},
      {"merged_residual", s.merged_residual ? "true" : "false"},
      {"sinkhorn_grad", std::string(to_string(s.sinkhorn_grad))},
  };
}

static double parse_double(const std::string& key, const std::string& v) {
  double d = 0;
  const auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
  if (ec != std::errc() || ptr != v.data() + v.size()) invalid_input(key + ": \"" + v + "\" is not a number");
  return d;
}

static int parse_int(const std::string& key, const std::string& v) {
  int i = 0;
  const auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), i);
  if (ec != std::errc() || ptr != v.data() + v.size()) invalid_input(key + ": \"" + v + "\" is not an integer");
  return i;
}

static bool parse_bool(const std::string& key, const std::string& v) {
  if (v == "true" || v == "1") return true;
  if (v == "false" || v == "0") return false;
  invalid_input(key + ": \"" + v + "\" is not true/false");
}

Semantics from_fields(const std::map<std::string, std::string>& fields, Semantics s) {
  for (const auto& [key, v] : fields) {
    if (key == "resmap") s.resmap = resmap_from_string(v);
    else if (key == "repeats") s.repeats = parse_int(key, v);
    else if (key == "eps_rms") s.eps_rms = parse_double(key, v);
    else if (key == "eps_pre") s.eps_pre = parse_double(key, v);
    else if (key == "eps_sk") s.eps_sk = parse_double(key, v);
    else if (key == "post_mult") s.post_mult = parse_double(key, v);
    else if (key == "orientation") s.orientation = orientation_from_string(v);
    else if (key == "use_gamma") s.use_gamma = parse_bool(key, v);
    else if (key == "merged_residual") s.merged_residual = parse_bool(key, v);
    else if (key == "sinkhorn_grad") {
      if (v == "exact") s.sinkhorn_grad = SinkhornGrad::exact;
      else if (v == "implicit") s.sinkhorn_grad = SinkhornGrad::implicit;
      else invalid_input("sinkhorn_grad: \"" + v + "\" (choose exact or implicit)");
    }
  }
  return s;
}

void validate(const Shape& shape, const Semantics& s) {
  if (shape.T < 0) invalid_input("T (tokens) must be >= 0, got " + std::to_string(shape.T));
  if (shape.n < 1) invalid_input("n (streams) must be >= 1, got " + std::to_string(shape.n));
  if (shape.C < 1) invalid_input("C (hidden) must be >= 1, got " + std::to_string(shape.C));
  if (s.resmap == ResMap::permutations && shape.n > 5) {
    invalid_input("n = " + std::to_string(shape.n) + " with the permutation map needs n! mix logits; at most n = 5 is supported");
  }
  if ((s.resmap == ResMap::sinkhorn || s.resmap == ResMap::sinkhorn_exp) && s.repeats < 1) {
    invalid_input("repeats (Sinkhorn iterations R) must be >= 1, got " + std::to_string(s.repeats));
  }
  if (s.repeats < 0 || s.repeats > kMaxRepeats) {
    invalid_input("repeats (Sinkhorn iterations R) = " + std::to_string(s.repeats) + " is outside [0, " +
                  std::to_string(kMaxRepeats) + "]");
  }
  // NaN and infinity pass a plain comparison: a NaN eps_rms would make every tensor NaN on both
  // sides, and the comparison would then judge nothing.
  const std::pair<const char*, double> eps[] = {{"eps_rms", s.eps_rms}, {"eps_pre", s.eps_pre}, {"eps_sk", s.eps_sk}};
  for (const auto& [name, v] : eps) {
    if (!(std::isfinite(v) && v >= 0)) invalid_input(std::string(name) + " must be finite and >= 0, got " + exact(v));
  }
  if (!(std::isfinite(s.post_mult) && s.post_mult > 0)) {
    invalid_input("post_mult (p) must be finite and > 0, got " + exact(s.post_mult));
  }
  mix_count(s.resmap, shape.n);
}

}  // namespace mhc
