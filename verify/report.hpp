// What a verification produces: per tensor metrics and verdicts, the diagnosis of a failure, and
// the case/sweep reports that every output format (terminal, JSON, JUnit, Markdown, HTML) and the
// gRPC service render from.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "verify/case.hpp"

namespace mhc::verify {

enum class Verdict {
  pass,
  fail,   // a numerical check failed: a verdict, not an error
  skip,   // skipped by a sweep rule (reason in CaseReport::error)
  error,  // the case could not be run (bad input, unsupported, device error)
  crash,  // the kernel under test crashed its worker process
};
std::string_view to_string(Verdict v);
Verdict verdict_from_string(std::string_view s);
// "invalid_input", "unsupported", "environment", "internal"
std::string_view to_string(ErrorKind k);
ErrorKind error_kind_from_string(std::string_view s);  // throws Error(invalid_input)

// Candidate-vs-golden (or baseline-vs-golden) error statistics of one tensor.
struct ErrorStats {
  double max_abs = 0;                 // max |c - g| over finite pairs
  std::vector<std::int64_t> max_at;   // multi-index of max_abs (empty when numel = 0)
  double max_rel = 0;                 // max |c - g| / |g| over |g| > tiny
  double rel_l2 = 0;                  // ||c - g|| / ||g||  (calc_diff-style, scale free)
  double worst_row_rel_l2 = 0;        // max over token rows of the row's relative L2
  std::int64_t worst_row = -1;        // that row (token index), -1 when no rows
  double max_ulps = 0;                // max |c - g| in bf16 ulps of |g| (f32 ulps for f32 tensors)
  std::int64_t nonfinite_mismatches = 0;  // positions whose NaN/Inf state differs from the golden
  std::vector<std::int64_t> first_nonfinite_at;  // first such position
};

struct TensorCheck {
  std::string name;             // "dx", "out", "tap.z", "part.dx_mm_res"
  std::vector<std::int64_t> shape;
  double ref_max_abs = 0;       // max |golden|: guards against trivial passes on all-zero tensors
  ErrorStats candidate;         // candidate vs golden
  std::optional<ErrorStats> baseline;  // baseline vs golden (baseline rule only)
  std::string rule;             // "baseline k=3, floor 4 ulp" or "atol=1e-2 rtol=1e-2 x1.4 (L=2048)"
  double elem_tolerance = 0;    // the max-abs threshold that was applied
  double row_tolerance = 0;     // the per-row relative L2 threshold that was applied
  std::int64_t mismatches = 0;  // elements above elem_tolerance (or nonfinite mismatches)
  double mismatch_fraction = 0;
  Verdict verdict = Verdict::pass;  // pass or fail
  std::string reason;           // the numbers that decided it, one line
};

// Why a case failed, in the vocabulary of BUGS.md (tags listed in kernels/mutants/mutants.hpp).
struct Diagnosis {
  std::string tag;          // "orientation", "bounds_streams", ...; "unknown" when nothing matched
  std::string sentence;     // one human sentence
  std::string tensor;       // the tensor it blames ("dx")
  std::string component;    // the finest failing component ("part.dx_mm_res"), may be empty
  std::string first_stage;  // first diverging forward stage or tap, may be empty
  std::map<std::string, std::string> fields;  // streams, channels, tokens, block, ratio, ...
};

struct CaseReport {
  CaseSpec spec;
  std::optional<std::int64_t> index;  // position in the expanded sweep; lets `merge` restore shard order
  std::string backend;           // candidate backend name
  std::string baseline;          // baseline backend name ("" for fixed tolerances / check files)
  std::string device = "cpu";    // where the candidate ran ("cpu", "cuda:0", "host:port/cuda:1")
  Verdict verdict = Verdict::pass;
  std::vector<TensorCheck> tensors;        // outputs and gradients
  std::vector<TensorCheck> decomposition;  // taps and parts (on failure or when asked)
  std::optional<Diagnosis> diagnosis;      // on failure
  std::string error;             // message for error/crash/skip
  // For Verdict::error, whose fault it is: invalid_input and unsupported are the user's (exit 2),
  // environment and internal are the infrastructure's (exit 3).
  ErrorKind error_kind = ErrorKind::environment;
  std::string reproduce;         // a command line that reruns exactly this case
  double seconds = 0;            // wall time of the whole case
  double backend_seconds = 0;    // of which candidate + golden + baseline computations
};

struct SweepSummary {
  int passed = 0, failed = 0, skipped = 0, errors = 0, crashed = 0;
  int total() const { return passed + failed + skipped + errors + crashed; }
};

// The version of this mhc-verify (the CMake project version).
std::string_view this_tool_version();

// How the human-facing reports name a case: its case line, or the file of a check refused before
// its tensors were read (no shape to show). JSON keeps the case line, which `merge` parses.
std::string display_name(const CaseReport& c);

// `s` as one word for a POSIX shell (single quotes, embedded ones escaped): for reproduce lines.
std::string shell_quote(std::string_view s);
// `s` unchanged when it is one plain shell word (letters, digits, and _+-.:/=,@%), else shell_quote(s).
std::string shell_word(std::string_view s);

struct SweepReport {
  static constexpr int schema_version = 1;
  std::string name;             // sweep name
  std::string tool_version{this_tool_version()};  // of the tool that ran it; as read for a read report
  std::string backend;
  std::vector<CaseReport> cases;
  double seconds = 0;
  SweepSummary summary() const;
  // "12 passed, 1 failed, 2 skipped in 3.4s"
  std::string summary_line() const;
};

// JSON form (schema_version 1). Readers ignore unknown fields.
nlohmann::json to_json(const CaseReport& r);
nlohmann::json to_json(const SweepReport& r);
CaseReport case_report_from_json(const nlohmann::json& j);    // throws Error(invalid_input)
SweepReport sweep_report_from_json(const nlohmann::json& j);  // throws Error(invalid_input)

}  // namespace mhc::verify
