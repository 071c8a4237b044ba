#include "verify/sweep.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <limits>
#include <optional>
#include <set>
#include <sstream>
#include <vector>

#include <fmt/format.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include "core/error.hpp"
#include "verify/casegen.hpp"
#include "verify/op_runner.hpp"

namespace mhc::verify {
namespace {

using YAML::Node;

// One settable field of a case: its YAML name, its spelling in the case line, and how a value
// is checked and written canonically (so "1e-2" and "0.01" are the same axis value).
enum class Kind { op, choice, count, u64, real_nonneg, real_pos, boolean };

struct Field {
  const char* name;
  const char* line_key;
  Kind kind;
  std::int64_t min = 0, max = 0;  // Kind::count bounds
  bool semantic = false;
};

// Sizes beyond these are typos, not cases (the memory check would refuse them anyway).
constexpr std::int64_t kMaxExtent = std::int64_t{1} << 40;

const std::vector<Field>& fields() {
  static const std::vector<Field> f = {
      {"op", "", Kind::op},
      {"preset", "preset", Kind::choice},
      {"distribution", "dist", Kind::choice},
      {"dtype", "dtype", Kind::choice},
      {"T", "T", Kind::count, 0, kMaxExtent},
      {"n", "n", Kind::count, 1, 64},
      {"C", "C", Kind::count, 1, kMaxExtent},
      {"seed", "seed", Kind::u64},
      {"resmap", "resmap", Kind::choice, 0, 0, true},
      {"repeats", "repeats", Kind::count, 0, kMaxRepeats, true},
      {"eps_rms", "eps_rms", Kind::real_nonneg, 0, 0, true},
      {"eps_pre", "eps_pre", Kind::real_nonneg, 0, 0, true},
      {"eps_sk", "eps_sk", Kind::real_nonneg, 0, 0, true},
      {"post_mult", "post_mult", Kind::real_pos, 0, 0, true},
      {"orientation", "orientation", Kind::choice, 0, 0, true},
      {"gamma", "gamma", Kind::boolean, 0, 0, true},
      {"merged_residual", "merged_residual", Kind::boolean, 0, 0, true},
      {"sinkhorn_grad", "sinkhorn_grad", Kind::choice, 0, 0, true},
  };
  return f;
}

const Field* find_field(std::string_view name) {
  for (const Field& f : fields()) {
    if (name == f.name) return &f;
  }
  return nullptr;
}

std::vector<std::string> choices(std::string_view field) {
  if (field == "op") return {"pre", "post"};
  if (field == "preset") return preset_names();
  if (field == "distribution") return distribution_names();
  if (field == "dtype") return {"bf16", "f32"};
  if (field == "resmap") return {"sinkhorn", "sinkhorn-exp", "identity", "permutations"};
  if (field == "orientation") return {"transposed", "plain"};
  return {"exact", "implicit"};  // sinkhorn_grad
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

std::string shortest(double v) {
  char buf[32];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, end);
}

const char* node_type(const Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: return "a map";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Null: return "nothing";
    default: return "a scalar";
  }
}

struct Entry {
  std::string key;
  Node value;
  YAML::Mark key_mark;
};

class Reader {
 public:
  explicit Reader(std::string_view source) : source_(source) {}

  [[noreturn]] void fail_at(const YAML::Mark& m, const std::string& what) const {
    if (m.is_null()) invalid_input(source_ + ": " + what);
    invalid_input(source_ + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1) + ": " + what);
  }

  std::string location(const YAML::Mark& m) const {
    return source_ + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
  }

  // Map entries in file order; rejects a repeated key and any key outside `known`. "use_gamma" (the
  // metadata's spelling, as `golden --dump` writes it) is read as "gamma" where that is known.
  std::vector<Entry> entries(const Node& map, const std::string& what, const std::vector<std::string>& known) const {
    if (!map.IsMap()) fail_at(map.Mark(), what + " must be a map, got " + node_type(map));
    std::vector<Entry> out;
    std::set<std::string> seen;
    const bool gamma_known = std::find(known.begin(), known.end(), "gamma") != known.end();
    for (auto it = map.begin(); it != map.end(); ++it) {
      if (!it->first.IsScalar()) fail_at(it->first.Mark(), what + ": keys must be plain names");
      const std::string key = it->first.Scalar() == "use_gamma" && gamma_known ? "gamma" : it->first.Scalar();
      if (!known.empty() && std::find(known.begin(), known.end(), key) == known.end()) {
        fail_at(it->first.Mark(), "unknown key \"" + key + "\" in " + what + " (known: " + join(known) + ")");
      }
      if (!seen.insert(key).second) {
        const std::string raw = it->first.Scalar();
        fail_at(it->first.Mark(), what + ": key \"" + raw + "\" given twice" + (raw != key ? " (as \"" + key + "\")" : ""));
      }
      out.push_back({key, it->second, it->first.Mark()});
    }
    return out;
  }

  std::string string_value(const Node& n, const std::string& what) const {
    if (!n.IsScalar()) fail_at(n.Mark(), what + " must be a string, got " + node_type(n));
    return n.Scalar();
  }

  double number(const Node& n, const std::string& what) const {
    if (!n.IsScalar()) fail_at(n.Mark(), what + " must be a number, got " + node_type(n));
    const std::string& s = n.Scalar();
    double v = 0;
    const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || ptr != s.data() + s.size() || !std::isfinite(v)) {
      fail_at(n.Mark(), what + " must be a finite number, got \"" + s + "\"");
    }
    return v;
  }

  // The canonical text of one value of `field` (as it appears in a case line).
  std::string field_value(const Field& f, const Node& n) const {
    const std::string what = std::string(f.name);
    if (!n.IsScalar()) fail_at(n.Mark(), what + ": expected a single value, got " + node_type(n));
    const std::string& s = n.Scalar();
    switch (f.kind) {
      case Kind::op:
      case Kind::choice: {
        const auto names = choices(f.name);
        if (std::find(names.begin(), names.end(), s) == names.end()) {
          fail_at(n.Mark(), "unknown " + what + " \"" + s + "\" (choose " + join(names) + ")");
        }
        return s;
      }
      case Kind::count: {
        std::int64_t v = 0;
        const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (s.empty() || ec != std::errc() || ptr != s.data() + s.size()) {
          fail_at(n.Mark(), what + " must be an integer, got \"" + s + "\"");
        }
        if (v < f.min || v > f.max) {
          fail_at(n.Mark(), what + " = " + s + " is out of range [" + std::to_string(f.min) + ", " + std::to_string(f.max) + "]");
        }
        return std::to_string(v);
      }
      case Kind::u64: {
        std::uint64_t v = 0;
        const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (s.empty() || ec != std::errc() || ptr != s.data() + s.size()) {
          fail_at(n.Mark(), what + " must be an integer in [0, 2^64), got \"" + s + "\"");
        }
        return std::to_string(v);
      }
      case Kind::real_nonneg:
      case Kind::real_pos: {
        const double v = number(n, what);
        if (v < 0 || (f.kind == Kind::real_pos && v == 0)) {
          fail_at(n.Mark(), what + " must be " + (f.kind == Kind::real_pos ? "> 0" : ">= 0") + ", got " + s);
        }
        return shortest(v);
      }
      case Kind::boolean:
        if (s == "true" || s == "false") return s;
        fail_at(n.Mark(), what + " must be true or false, got \"" + s + "\"");
    }
    fail(ErrorKind::internal, "sweep: corrupt field kind");
  }

  // A scalar or a non-empty list of scalars: the values of an axis or of a skip condition.
  std::vector<std::string> field_values(const Field& f, const Node& n) const {
    if (n.IsScalar()) return {field_value(f, n)};
    if (!n.IsSequence()) fail_at(n.Mark(), std::string(f.name) + ": expected a value or a list of values, got " + node_type(n));
    if (n.size() == 0) fail_at(n.Mark(), std::string(f.name) + ": empty list (an axis needs at least one value)");
    std::vector<std::string> out;
    for (const Node& v : n) {
      std::string value = field_value(f, v);
      if (std::find(out.begin(), out.end(), value) != out.end()) {
        fail_at(v.Mark(), std::string(f.name) + ": value " + value + " listed twice");
      }
      out.push_back(std::move(value));
    }
    return out;
  }

 private:
  std::string source_;
};

std::vector<std::string> field_names(bool semantic_only) {
  std::vector<std::string> out;
  for (const Field& f : fields()) {
    if (!semantic_only || f.semantic) out.emplace_back(f.name);
  }
  return out;
}

// The value a case has for `field`, written as field_value writes it.
std::string value_of(const CaseSpec& spec, const Field& f) {
  const std::string_view name = f.name;
  const Semantics& s = spec.semantics;
  if (name == "op") return std::string(to_string(spec.op));
  if (name == "preset") return spec.preset;
  if (name == "distribution") return spec.distribution;
  if (name == "dtype") return spec.dtype == DType::f32 ? "f32" : "bf16";
  if (name == "T") return std::to_string(spec.shape.T);
  if (name == "n") return std::to_string(spec.shape.n);
  if (name == "C") return std::to_string(spec.shape.C);
  if (name == "seed") return std::to_string(spec.seed);
  if (name == "resmap") return std::string(to_string(s.resmap));
  if (name == "repeats") return std::to_string(s.repeats);
  if (name == "eps_rms") return shortest(s.eps_rms);
  if (name == "eps_pre") return shortest(s.eps_pre);
  if (name == "eps_sk") return shortest(s.eps_sk);
  if (name == "post_mult") return shortest(s.post_mult);
  if (name == "orientation") return std::string(to_string(s.orientation));
  if (name == "gamma") return s.use_gamma ? "true" : "false";
  if (name == "merged_residual") return s.merged_residual ? "true" : "false";
  return std::string(to_string(s.sinkhorn_grad));
}

struct Axis {
  const Field* field;
  std::vector<std::string> values;
};

struct SkipRule {
  std::vector<std::pair<const Field*, std::vector<std::string>>> when;
  std::string reason;

  bool matches(const CaseSpec& spec) const {
    return std::all_of(when.begin(), when.end(), [&](const auto& cond) {
      const std::string v = value_of(spec, *cond.first);
      return std::find(cond.second.begin(), cond.second.end(), v) != cond.second.end();
    });
  }
};

// Axes in file order, with the defaults for op, preset, distribution, dtype and seed placed
// first (outermost) when the file leaves them out.
std::vector<Axis> parse_axes(const Reader& r, const Node& node, const std::map<std::string, std::string>& semantics) {
  std::vector<Axis> axes;
  for (const auto& [key, value, key_mark] : r.entries(node, "axes", field_names(false))) {
    const Field* f = find_field(key);
    if (semantics.contains(key)) {
      r.fail_at(key_mark, "\"" + key + "\" is both an axis and a semantics override; keep one");
    }
    axes.push_back({f, r.field_values(*f, value)});
  }
  for (const char* required : {"T", "n", "C"}) {
    const bool present = std::any_of(axes.begin(), axes.end(), [&](const Axis& a) { return std::string_view(a.field->name) == required; });
    if (!present) r.fail_at(node.Mark(), std::string("axes: missing \"") + required + "\" (T, n and C have no default)");
  }
  const std::pair<const char*, const char*> defaults[] = {
      {"op", nullptr}, {"preset", "deepseek"}, {"distribution", "normal"}, {"dtype", "bf16"}, {"seed", "0"}};
  std::vector<Axis> defaulted;
  for (const auto& entry : defaults) {
    // Not a structured binding: clang before 16 cannot capture one in the lambda below.
    const char* name = entry.first;
    const char* value = entry.second;
    const bool present = std::any_of(axes.begin(), axes.end(), [&](const Axis& a) { return std::string_view(a.field->name) == name; });
    if (present) continue;
    if (value) defaulted.push_back({find_field(name), {value}});
    else defaulted.push_back({find_field(name), {"pre", "post"}});
  }
  axes.insert(axes.begin(), defaulted.begin(), defaulted.end());
  return axes;
}

std::vector<SkipRule> parse_skip(const Reader& r, const Node& node) {
  if (!node.IsSequence()) r.fail_at(node.Mark(), "skip must be a list of {when: {...}, reason: \"...\"}, got " + std::string(node_type(node)));
  std::vector<SkipRule> rules;
  for (const Node& item : node) {
    SkipRule rule;
    bool has_when = false;
    for (const auto& [key, value, key_mark] : r.entries(item, "skip rule", {"when", "reason"})) {
      if (key == "reason") {
        rule.reason = r.string_value(value, "skip reason");
        continue;
      }
      has_when = true;
      const auto conditions = r.entries(value, "skip when", field_names(false));
      if (conditions.empty()) r.fail_at(value.Mark(), "skip when: needs at least one field (it would skip every case)");
      for (const auto& [field, values, field_mark] : conditions) {
        const Field* f = find_field(field);
        rule.when.emplace_back(f, r.field_values(*f, values));
      }
    }
    if (!has_when) r.fail_at(item.Mark(), "skip rule: missing \"when\"");
    if (rule.reason.empty()) rule.reason = "skip rule at " + r.location(item.Mark());
    rules.push_back(std::move(rule));
  }
  return rules;
}

std::set<std::string> result_tensor_names() {
  Semantics with_gamma;
  with_gamma.use_gamma = true;
  std::set<std::string> names;
  for (Op op : {Op::pre, Op::post}) {
    for (const std::string& n : result_names(op, with_gamma)) names.insert(n);
  }
  return names;
}

SweepTolerance parse_tolerance(const Reader& r, const Node& node) {
  SweepTolerance t;
  for (const auto& [key, value, key_mark] : r.entries(node, "tolerance", {"profile", "overrides"})) {
    if (key == "profile") {
      t.profile = r.string_value(value, "tolerance profile");
      const auto names = tolerance_profile_names();
      if (std::find(names.begin(), names.end(), t.profile) == names.end()) {
        r.fail_at(value.Mark(), "unknown tolerance profile \"" + t.profile + "\" (choose " + join(names) + ")");
      }
      continue;
    }
    const std::set<std::string> tensors = result_tensor_names();
    for (const auto& [tensor, limits, tensor_mark] : r.entries(value, "tolerance overrides", {})) {
      if (!tensors.contains(tensor) && !tensor.starts_with("tap.") && !tensor.starts_with("part.")) {
        r.fail_at(tensor_mark, "tolerance overrides: unknown tensor \"" + tensor + "\" (choose " +
                                    join(std::vector<std::string>(tensors.begin(), tensors.end())) +
                                    ", or a tap./part. component)");
      }
      FixedTolerance fixed;
      bool has_atol = false, has_rtol = false;
      for (const auto& [field, v, field_mark] : r.entries(limits, "tolerance override of " + tensor, {"atol", "rtol"})) {
        const double x = r.number(v, tensor + "." + field);
        if (x < 0) r.fail_at(v.Mark(), tensor + "." + field + " must be >= 0, got " + v.Scalar());
        (field == "atol" ? fixed.atol : fixed.rtol) = x;
        (field == "atol" ? has_atol : has_rtol) = true;
      }
      if (!has_atol || !has_rtol) r.fail_at(limits.Mark(), "tolerance override of " + tensor + ": give both atol and rtol");
      t.overrides[tensor] = fixed;
    }
  }
  return t;
}

// The number of axis cases, refusing a product past kMaxSweepCases before expanding it.
std::size_t product_size(const Reader& r, const Node& axes_node, const std::vector<Axis>& axes) {
  std::size_t count = 1;
  for (const Axis& a : axes) {
    if (count > kMaxSweepCases / a.values.size()) {
      r.fail_at(axes_node.Mark(), "axes expand to more than " + std::to_string(kMaxSweepCases) + " cases; split the sweep");
    }
    count *= a.values.size();
  }
  return count;
}

void append_token(std::string& line, std::string_view key, const std::string& value) {
  line.append(" ").append(key).append("=").append(value);
}

bool names_tolerance(std::string_view line) {
  std::istringstream tokens{std::string(line)};
  std::string tok;
  while (tokens >> tok) {
    if (tok.starts_with("tol=")) return true;
  }
  return false;
}

// Checks that a case can be generated at all (shape, semantics, 64-bit sizes, and a machine-
// independent 1 TiB cap on the host memory verifying it takes); the run itself applies this
// machine's memory limit.
void check_case(const Reader& r, const YAML::Mark& where, const CaseSpec& spec, bool from_axes) {
  CaseLimits absurd;
  absurd.max_bytes = std::uint64_t{1} << 40;
  try {
    validate_case(spec, absurd);
  } catch (const Error& e) {
    r.fail_at(where, "case \"" + spec.to_string() + "\": " + e.what() +
                         (from_axes ? " (add a skip rule for this combination)" : ""));
  }
}

// Where a second YAML document starts, if there is one. Events are only counted: yaml-cpp's
// LoadAll never returns on some malformed inputs (fuzz_sweep found one: it builds nodes until
// memory runs out), and the question is only whether a second document exists.
std::optional<YAML::Mark> second_document(const std::string& yaml) {
  struct Counter : YAML::EventHandler {
    int documents = 0;
    YAML::Mark second;
    void OnDocumentStart(const YAML::Mark& mark) override {
      if (++documents == 2) second = mark;
    }
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
    void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
    void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
    void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
    void OnSequenceEnd() override {}
    void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
    void OnMapEnd() override {}
  } counter;
  std::istringstream in(yaml);
  YAML::Parser parser(in);
  while (counter.documents < 2 && parser.HandleNextDocument(counter)) {
  }
  if (counter.documents < 2) return std::nullopt;
  return counter.second;
}

}  // namespace

Sweep parse_sweep(std::string_view yaml, std::string_view source) {
  const Reader r(source);
  Node root;
  try {
    const std::string text(yaml);
    root = YAML::Load(text);
    // A second document (after `---`) would otherwise be dropped without a word.
    if (const auto second = second_document(text)) {
      r.fail_at(*second, "the file holds more than one YAML document (separated by ---); a sweep is one document: "
                         "merge them or use one file per sweep");
    }
  } catch (const YAML::Exception& e) {
    r.fail_at(e.mark, "malformed YAML: " + e.msg);
  }
  if (root.IsNull()) r.fail_at(YAML::Mark::null_mark(), "empty sweep file");

  Sweep sweep;
  std::map<std::string, std::string> semantics;
  // Optional sections (a default Node is a defined null, and assigning to one writes through it).
  std::optional<Node> axes_node, skip_node, cases_node;
  const auto top = r.entries(root, "the sweep file", {"name", "description", "axes", "semantics", "skip", "tolerance", "cases"});
  for (const auto& [key, value, key_mark] : top) {
    if (key == "name") sweep.name = r.string_value(value, "name");
    else if (key == "description") sweep.description = r.string_value(value, "description");
    else if (key == "semantics") {
      for (const auto& [field, v, field_mark] : r.entries(value, "semantics", field_names(true))) {
        semantics[field] = r.field_value(*find_field(field), v);
      }
    } else if (key == "tolerance") sweep.tolerance = parse_tolerance(r, value);
    else if (key == "axes") axes_node.emplace(value);
    else if (key == "skip") skip_node.emplace(value);
    else cases_node.emplace(value);
  }
  if (sweep.name.empty()) sweep.name = std::filesystem::path(std::string(source)).stem().string();
  if (!axes_node && !cases_node) r.fail_at(root.Mark(), "a sweep needs \"axes\", \"cases\" or both");
  const std::vector<SkipRule> rules = skip_node ? parse_skip(r, *skip_node) : std::vector<SkipRule>{};

  std::set<std::string> seen;  // canonical lines: a case listed twice runs once
  auto add = [&](CaseSpec spec, const YAML::Mark& where, bool from_axes) {
    const std::string line = spec.to_string();
    if (!seen.insert(line).second) return;
    SweepCase c{std::move(spec), {}};
    for (const SkipRule& rule : rules) {
      if (rule.matches(c.spec)) {
        c.skip_reason = rule.reason;
        break;
      }
    }
    if (!c.skipped()) check_case(r, where, c.spec, from_axes);
    sweep.cases.push_back(std::move(c));
  };

  if (axes_node) {
    const std::vector<Axis> axes = parse_axes(r, *axes_node, semantics);
    const std::size_t count = product_size(r, *axes_node, axes);
    std::vector<std::size_t> at(axes.size(), 0);  // odometer: the last axis turns fastest
    for (std::size_t k = 0; k < count; ++k) {
      std::string line;
      std::string rest;
      for (std::size_t a = 0; a < axes.size(); ++a) {
        const Field& f = *axes[a].field;
        const std::string& v = axes[a].values[at[a]];
        if (f.kind == Kind::op) line = v;
        else append_token(rest, f.line_key, v);
      }
      for (const auto& [field, v] : semantics) append_token(rest, find_field(field)->line_key, v);
      CaseSpec spec = CaseSpec::parse(line + rest);
      spec.tolerance = sweep.tolerance.profile;
      add(std::move(spec), axes_node->Mark(), true);
      for (std::size_t a = axes.size(); a-- > 0;) {
        if (++at[a] < axes[a].values.size()) break;
        at[a] = 0;
      }
    }
  }

  if (cases_node) {
    if (!cases_node->IsSequence()) r.fail_at(cases_node->Mark(), "cases must be a list of case lines, got " + std::string(node_type(*cases_node)));
    for (const Node& item : *cases_node) {
      const std::string line = r.string_value(item, "a case");
      CaseSpec spec;
      try {
        spec = CaseSpec::parse(line);
      } catch (const Error& e) {
        r.fail_at(item.Mark(), e.what());
      }
      if (!names_tolerance(line)) spec.tolerance = sweep.tolerance.profile;
      add(std::move(spec), item.Mark(), false);
    }
  }
  if (sweep.cases.empty()) r.fail_at(root.Mark(), "the sweep has no cases");
  return sweep;
}

Sweep load_sweep(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) invalid_input(path.string() + ": cannot open the sweep file");
  std::ostringstream text;
  text << in.rdbuf();
  return parse_sweep(text.str(), path.string());
}

Tolerance to_tolerance(const SweepTolerance& t) {
  Tolerance out = tolerance_profile(t.profile);
  // parse_tolerance checks a sweep file's overrides with line numbers; these checks are for
  // overrides from elsewhere (a gRPC request's options.tolerance).
  const std::set<std::string> tensors = result_tensor_names();
  for (const auto& [name, fixed] : t.overrides) {
    if (!tensors.contains(name) && !name.starts_with("tap.") && !name.starts_with("part.")) {
      invalid_input("tolerance overrides: unknown tensor \"" + name + "\" (choose " +
                    join(std::vector<std::string>(tensors.begin(), tensors.end())) + ", or a tap./part. component)");
    }
    if (!std::isfinite(fixed.atol) || !std::isfinite(fixed.rtol) || fixed.atol < 0 || fixed.rtol < 0) {
      invalid_input(fmt::format("tolerance override of {}: atol and rtol must be finite and >= 0, got atol={} rtol={}",
                                name, fixed.atol, fixed.rtol));
    }
    out.overrides[name] = fixed;
  }
  return out;
}

std::vector<SweepCase> select_shard(const std::vector<SweepCase>& cases, std::size_t index, std::size_t count) {
  if (count == 0 || index >= count) {
    invalid_input("shard " + std::to_string(index) + "/" + std::to_string(count) + ": need 0 <= index < count");
  }
  std::vector<SweepCase> out;
  for (std::size_t i = index; i < cases.size(); i += count) out.push_back(cases[i]);
  return out;
}

}  // namespace mhc::verify
