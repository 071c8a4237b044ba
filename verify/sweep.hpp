// Sweep files: YAML that names the cases to run (schema and examples in docs/sweeps.md).
//
//   name: quick
//   axes:                        # cartesian product; the first axis listed varies slowest
//     op: [pre, post]
//     preset: [deepseek, lite]
//     T: [1, 13, 137]
//     n: [1, 4]
//     C: [7, 128]
//     distribution: [normal, zero_rows]
//   semantics: {repeats: 10, post_mult: 1.0}   # overrides for every axis case
//   skip:
//     - when: {preset: lite, n: [6, 8]}        # all given fields match (a list: any of them)
//       reason: "mHC-lite needs n! logits"
//   tolerance: {profile: baseline, overrides: {dphi: {atol: 1e-2, rtol: 1e-2}}}
//   cases: ["pre T=5 n=3 C=9 preset=paper seed=1"]  # explicit case lines, taken verbatim
//
// Every error is an Error(invalid_input) that starts with "FILE:LINE:COLUMN:" and names the key.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "verify/case.hpp"
#include "verify/tolerance.hpp"

namespace mhc::verify {

// The tolerance section as written: a profile name (tolerance_profile_names()) and fixed
// atol/rtol per result tensor. verify/tolerance.hpp decides what they mean.
struct SweepTolerance {
  std::string profile = "baseline";
  std::map<std::string, FixedTolerance> overrides;
  bool operator==(const SweepTolerance&) const = default;
};

struct SweepCase {
  CaseSpec spec;
  std::string skip_reason;  // non-empty: the case is listed but not run
  bool skipped() const { return !skip_reason.empty(); }
};

struct Sweep {
  std::string name;
  std::string description;
  SweepTolerance tolerance;
  std::vector<SweepCase> cases;  // axis cases in product order, then the explicit ones; no duplicates
};

// A sweep may expand to at most this many cases (a guard against a typo'd axis, not a quota). Its
// report holds ~10 KB per case in memory and ~7 KB in JSON (the CLI audit: 20,000 cases took
// 0.9 GB with all four report files): 10^6 cases would exhaust a host at the very end of the run.
// The same as serve's default --max-sweep-cases.
inline constexpr std::size_t kMaxSweepCases = 100'000;

// `source` names the text in error messages (a path, or "<string>").
Sweep parse_sweep(std::string_view yaml, std::string_view source = "<string>");
Sweep load_sweep(const std::filesystem::path& path);

// The profile with the overrides applied. Error(invalid_input) for an unknown profile or tensor, or
// a negative or non-finite atol/rtol.
Tolerance to_tolerance(const SweepTolerance& t);

// Cases index, index + count, index + 2 count, ... of the list: the shards of one sweep
// partition it exactly, deterministically, and each gets a similar mix of shapes. Throws
// Error(invalid_input) unless count >= 1 and index < count.
std::vector<SweepCase> select_shard(const std::vector<SweepCase>& cases, std::size_t index, std::size_t count);

}  // namespace mhc::verify
