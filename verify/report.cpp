// Report basics and the JSON form (schema_version 1; field list in docs/reports.md).
//
// JSON has no NaN or Inf, yet errors can be infinite (a NaN where the golden is finite), so
// non-finite doubles travel as the strings "nan", "inf" and "-inf". Readers ignore unknown fields,
// default the optional ones, and reject a present field of the wrong type with an Error naming its
// path ("cases[3].tensors[1].candidate.max_abs"), because a CI job that merges or re-renders
// shard reports must fail loudly on a truncated or hand-edited file rather than report zeros.
#include "verify/report.hpp"

#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "core/error.hpp"

namespace mhc::verify {

using nlohmann::json;

std::string_view to_string(Verdict v) {
  switch (v) {
    case Verdict::pass: return "pass";
    case Verdict::fail: return "fail";
    case Verdict::skip: return "skip";
    case Verdict::error: return "error";
    case Verdict::crash: return "crash";
  }
  return "error";
}

Verdict verdict_from_string(std::string_view s) {
  for (Verdict v : {Verdict::pass, Verdict::fail, Verdict::skip, Verdict::error, Verdict::crash}) {
    if (s == to_string(v)) return v;
  }
  invalid_input("unknown verdict \"" + std::string(s) + "\" (expected pass, fail, skip, error or crash)");
}

std::string_view to_string(ErrorKind k) {
  switch (k) {
    case ErrorKind::invalid_input: return "invalid_input";
    case ErrorKind::environment: return "environment";
    case ErrorKind::unsupported: return "unsupported";
    case ErrorKind::internal: return "internal";
  }
  return "internal";
}

ErrorKind error_kind_from_string(std::string_view s) {
  for (ErrorKind k : {ErrorKind::invalid_input, ErrorKind::environment, ErrorKind::unsupported, ErrorKind::internal}) {
    if (s == to_string(k)) return k;
  }
  invalid_input("unknown error kind \"" + std::string(s) +
                "\" (expected invalid_input, unsupported, environment or internal)");
}

std::string_view this_tool_version() { return MHC_VERSION; }

std::string display_name(const CaseReport& c) { return c.spec.shape.n == 0 ? c.backend : c.spec.to_string(); }

std::string shell_quote(std::string_view s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string shell_word(std::string_view s) {
  const bool plain = !s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                       "0123456789_+-.:/=,@%") == std::string_view::npos;
  return plain ? std::string(s) : shell_quote(s);
}

SweepSummary SweepReport::summary() const {
  SweepSummary s;
  for (const CaseReport& c : cases) {
    switch (c.verdict) {
      case Verdict::pass: ++s.passed; break;
      case Verdict::fail: ++s.failed; break;
      case Verdict::skip: ++s.skipped; break;
      case Verdict::error: ++s.errors; break;
      case Verdict::crash: ++s.crashed; break;
    }
  }
  return s;
}

std::string SweepReport::summary_line() const {
  const SweepSummary s = summary();
  std::string line = fmt::format("{} passed, {} failed, {} skipped", s.passed, s.failed, s.skipped);
  if (s.errors > 0) line += fmt::format(", {} {}", s.errors, s.errors == 1 ? "error" : "errors");
  if (s.crashed > 0) line += fmt::format(", {} crashed", s.crashed);
  // pytest's precision: enough digits for a quick sweep, no false precision for a long one.
  line += seconds < 10 ? fmt::format(" in {:.2f}s", seconds) : fmt::format(" in {:.1f}s", seconds);
  return line;
}

// ---------------------------------------------------------------------------------------------
// Writing

namespace {

json number(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return v;
}

json to_json(const ErrorStats& e) {
  return json{{"max_abs", number(e.max_abs)},
              {"max_at", e.max_at},
              {"max_rel", number(e.max_rel)},
              {"rel_l2", number(e.rel_l2)},
              {"worst_row_rel_l2", number(e.worst_row_rel_l2)},
              {"worst_row", e.worst_row},
              {"max_ulps", number(e.max_ulps)},
              {"nonfinite_mismatches", e.nonfinite_mismatches},
              {"first_nonfinite_at", e.first_nonfinite_at}};
}

json to_json(const TensorCheck& t) {
  json j{{"name", t.name},
         {"shape", t.shape},
         {"ref_max_abs", number(t.ref_max_abs)},
         {"candidate", to_json(t.candidate)},
         {"rule", t.rule},
         {"elem_tolerance", number(t.elem_tolerance)},
         {"row_tolerance", number(t.row_tolerance)},
         {"mismatches", t.mismatches},
         {"mismatch_fraction", number(t.mismatch_fraction)},
         {"verdict", to_string(t.verdict)},
         {"reason", t.reason}};
  if (t.baseline) j["baseline"] = to_json(*t.baseline);
  return j;
}

json to_json(const Diagnosis& d) {
  return json{{"tag", d.tag},           {"sentence", d.sentence},       {"tensor", d.tensor},
              {"component", d.component}, {"first_stage", d.first_stage}, {"fields", d.fields}};
}

json checks_to_json(const std::vector<TensorCheck>& checks) {
  json a = json::array();
  for (const TensorCheck& t : checks) a.push_back(to_json(t));
  return a;
}

}  // namespace

json to_json(const CaseReport& r) {
  json j;
  if (r.index) j["index"] = *r.index;
  j["case"] = r.spec.to_string();
  // Derived from "case" for jq/pandas users; readers take the case line as the truth.
  j["op"] = to_string(r.spec.op);
  j["shape"] = {{"T", r.spec.shape.T}, {"n", r.spec.shape.n}, {"C", r.spec.shape.C}};
  j["preset"] = r.spec.preset;
  j["backend"] = r.backend;
  j["baseline"] = r.baseline;
  j["device"] = r.device;
  j["verdict"] = to_string(r.verdict);
  j["tensors"] = checks_to_json(r.tensors);
  j["decomposition"] = checks_to_json(r.decomposition);
  if (r.diagnosis) j["diagnosis"] = to_json(*r.diagnosis);
  j["error"] = r.error;
  if (r.verdict == Verdict::error) j["error_kind"] = to_string(r.error_kind);
  j["reproduce"] = r.reproduce;
  j["seconds"] = number(r.seconds);
  j["backend_seconds"] = number(r.backend_seconds);
  return j;
}

json to_json(const SweepReport& r) {
  const SweepSummary s = r.summary();
  json cases = json::array();
  for (const CaseReport& c : r.cases) cases.push_back(to_json(c));
  return json{{"schema_version", SweepReport::schema_version},
              {"name", r.name},
              {"tool_version", r.tool_version},
              {"backend", r.backend},
              {"seconds", number(r.seconds)},
              // Derived from the cases; readers recount.
              {"summary",
               {{"passed", s.passed},
                {"failed", s.failed},
                {"skipped", s.skipped},
                {"errors", s.errors},
                {"crashed", s.crashed},
                {"total", s.total()}}},
              {"cases", std::move(cases)}};
}

// ---------------------------------------------------------------------------------------------
// Reading

namespace {

// A JSON object being read, with its path for error messages.
class Object {
 public:
  Object(const json& j, std::string path) : j_(j), path_(std::move(path)) {
    if (!j_.is_object()) bad(path_, "expected an object, got " + std::string(j_.type_name()));
  }

  [[noreturn]] static void bad(const std::string& path, const std::string& what) {
    invalid_input("report JSON: " + (path.empty() ? std::string("top level") : path) + ": " + what);
  }

  std::string field(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  }
  const json* find(std::string_view key) const {
    const auto it = j_.find(key);
    return it == j_.end() || it->is_null() ? nullptr : &*it;
  }
  const json& require(std::string_view key) const {
    const json* v = find(key);
    if (!v) bad(field(key), "required field is missing");
    return *v;
  }

  std::string string(std::string_view key, std::string fallback = {}) const {
    const json* v = find(key);
    if (!v) return fallback;
    if (!v->is_string()) bad(field(key), "expected a string, got " + std::string(v->type_name()));
    return v->get<std::string>();
  }
  std::string required_string(std::string_view key) const {
    require(key);
    return string(key);
  }

  double real(std::string_view key, double fallback = 0) const {
    const json* v = find(key);
    if (!v) return fallback;
    if (v->is_number()) return v->get<double>();
    if (v->is_string()) {
      const std::string s = v->get<std::string>();
      if (s == "nan") return std::numeric_limits<double>::quiet_NaN();
      if (s == "inf") return std::numeric_limits<double>::infinity();
      if (s == "-inf") return -std::numeric_limits<double>::infinity();
    }
    bad(field(key), "expected a number (or \"nan\", \"inf\", \"-inf\"), got " + v->dump());
  }

  std::int64_t integer(std::string_view key, std::int64_t fallback = 0) const {
    const json* v = find(key);
    if (!v) return fallback;
    if (v->is_number_unsigned() && v->get<std::uint64_t>() > std::uint64_t(std::numeric_limits<std::int64_t>::max())) {
      bad(field(key), "integer out of range");
    }
    if (!v->is_number_integer()) bad(field(key), "expected an integer, got " + v->dump());
    return v->get<std::int64_t>();
  }

  std::vector<std::int64_t> integers(std::string_view key) const {
    const json* v = find(key);
    if (!v) return {};
    if (!v->is_array()) bad(field(key), "expected an array of integers, got " + std::string(v->type_name()));
    std::vector<std::int64_t> out;
    for (std::size_t i = 0; i < v->size(); ++i) {
      const json& e = (*v)[i];
      if (!e.is_number_integer()) bad(field(key) + "[" + std::to_string(i) + "]", "expected an integer, got " + e.dump());
      out.push_back(e.get<std::int64_t>());
    }
    return out;
  }

  Verdict verdict(std::string_view key) const {
    const std::string s = required_string(key);
    try {
      return verdict_from_string(s);
    } catch (const Error& e) {
      bad(field(key), e.what());
    }
  }

  // The elements of an array field (absent = empty), each with its path.
  template <class F>
  void each(std::string_view key, F&& f) const {
    const json* v = find(key);
    if (!v) return;
    if (!v->is_array()) bad(field(key), "expected an array, got " + std::string(v->type_name()));
    for (std::size_t i = 0; i < v->size(); ++i) f((*v)[i], field(key) + "[" + std::to_string(i) + "]");
  }

 private:
  const json& j_;
  std::string path_;
};

ErrorStats error_stats_from_json(const json& j, const std::string& path) {
  const Object o(j, path);
  ErrorStats e;
  e.max_abs = o.real("max_abs");
  e.max_at = o.integers("max_at");
  e.max_rel = o.real("max_rel");
  e.rel_l2 = o.real("rel_l2");
  e.worst_row_rel_l2 = o.real("worst_row_rel_l2");
  e.worst_row = o.integer("worst_row", -1);
  e.max_ulps = o.real("max_ulps");
  e.nonfinite_mismatches = o.integer("nonfinite_mismatches");
  e.first_nonfinite_at = o.integers("first_nonfinite_at");
  return e;
}

TensorCheck tensor_check_from_json(const json& j, const std::string& path) {
  const Object o(j, path);
  TensorCheck t;
  t.name = o.required_string("name");
  t.shape = o.integers("shape");
  t.ref_max_abs = o.real("ref_max_abs");
  if (const json* c = o.find("candidate")) t.candidate = error_stats_from_json(*c, o.field("candidate"));
  if (const json* b = o.find("baseline")) t.baseline = error_stats_from_json(*b, o.field("baseline"));
  t.rule = o.string("rule");
  t.elem_tolerance = o.real("elem_tolerance");
  t.row_tolerance = o.real("row_tolerance");
  t.mismatches = o.integer("mismatches");
  t.mismatch_fraction = o.real("mismatch_fraction");
  t.verdict = o.verdict("verdict");
  t.reason = o.string("reason");
  return t;
}

Diagnosis diagnosis_from_json(const json& j, const std::string& path) {
  const Object o(j, path);
  Diagnosis d;
  d.tag = o.required_string("tag");
  d.sentence = o.string("sentence");
  d.tensor = o.string("tensor");
  d.component = o.string("component");
  d.first_stage = o.string("first_stage");
  if (const json* f = o.find("fields")) {
    const Object fields(*f, o.field("fields"));
    for (const auto& [key, value] : f->items()) d.fields[key] = fields.string(key);
  }
  return d;
}

CaseReport case_report_at(const json& j, const std::string& path) {
  const Object o(j, path);
  CaseReport r;
  if (o.find("index")) {
    r.index = o.integer("index");
    if (*r.index < 0) Object::bad(o.field("index"), "must be >= 0, got " + std::to_string(*r.index));
  }
  try {
    r.spec = CaseSpec::parse(o.required_string("case"));
  } catch (const Error& e) {
    Object::bad(o.field("case"), e.what());
  }
  r.backend = o.string("backend");
  r.baseline = o.string("baseline");
  r.device = o.string("device", r.device);
  r.verdict = o.verdict("verdict");
  o.each("tensors", [&](const json& t, const std::string& p) { r.tensors.push_back(tensor_check_from_json(t, p)); });
  o.each("decomposition",
         [&](const json& t, const std::string& p) { r.decomposition.push_back(tensor_check_from_json(t, p)); });
  if (const json* d = o.find("diagnosis")) r.diagnosis = diagnosis_from_json(*d, o.field("diagnosis"));
  r.error = o.string("error");
  // Reports written before error_kind existed keep their old meaning (exit 3).
  if (o.find("error_kind")) {
    try {
      r.error_kind = error_kind_from_string(o.string("error_kind"));
    } catch (const Error& e) {
      Object::bad(o.field("error_kind"), e.what());
    }
  }
  r.reproduce = o.string("reproduce");
  r.seconds = o.real("seconds");
  r.backend_seconds = o.real("backend_seconds");
  return r;
}

}  // namespace

CaseReport case_report_from_json(const json& j) { return case_report_at(j, ""); }

SweepReport sweep_report_from_json(const json& j) {
  const Object o(j, "");
  if (!o.find("schema_version")) Object::bad("schema_version", "required field is missing (is this an mhc-verify report?)");
  const std::int64_t version = o.integer("schema_version");
  if (version != SweepReport::schema_version) {
    Object::bad("schema_version", fmt::format("version {} is not supported (this mhc-verify reads version {})", version,
                                              SweepReport::schema_version));
  }
  SweepReport r;
  r.name = o.string("name");
  r.tool_version = o.string("tool_version");  // "" when absent, not ours: merge compares them
  r.backend = o.string("backend");
  r.seconds = o.real("seconds");
  o.require("cases");
  o.each("cases", [&](const json& c, const std::string& p) { r.cases.push_back(case_report_at(c, p)); });
  return r;
}

}  // namespace mhc::verify
