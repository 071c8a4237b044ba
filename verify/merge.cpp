#include "verify/merge.hpp"

#include <algorithm>
#include <fstream>
#include <map>

#include <fmt/format.h>

#include "core/error.hpp"

namespace mhc::verify {

namespace {

// The first shard's value of a run-identifying field must match every other shard's.
template <class Get>
void require_same(const std::vector<NamedReport>& shards, std::string_view what, Get get) {
  for (const NamedReport& s : shards) {
    if (get(s.report) != get(shards.front().report)) {
      invalid_input(fmt::format("merge: {} has {} \"{}\" but {} has \"{}\": these reports are not shards of one run",
                                s.label, what, get(s.report), shards.front().label, get(shards.front().report)));
    }
  }
}

}  // namespace

SweepReport merge_reports(const std::vector<NamedReport>& shards) {
  if (shards.empty()) invalid_input("merge: no reports given");
  require_same(shards, "sweep name", [](const SweepReport& r) { return r.name; });
  require_same(shards, "backend", [](const SweepReport& r) { return r.backend; });
  require_same(shards, "tool version", [](const SweepReport& r) { return r.tool_version; });

  struct Source {
    const CaseReport* c;
    const std::string* label;
  };
  std::vector<Source> cases;
  std::size_t indexed = 0;
  for (const NamedReport& s : shards) {
    for (const CaseReport& c : s.report.cases) {
      cases.push_back({&c, &s.label});
      indexed += c.index.has_value();
    }
  }
  if (indexed != 0 && indexed != cases.size()) {
    invalid_input(fmt::format("merge: {} of {} cases carry a sweep index and the others do not; cannot order them "
                              "(were the shards written by different mhc-verify versions?)",
                              indexed, cases.size()));
  }

  if (indexed != 0) {
    std::stable_sort(cases.begin(), cases.end(), [](const Source& a, const Source& b) { return *a.c->index < *b.c->index; });
    for (std::size_t i = 1; i < cases.size(); ++i) {
      const Source& a = cases[i - 1];
      const Source& b = cases[i];
      if (*a.c->index != *b.c->index) continue;
      const std::string la = a.c->spec.to_string(), lb = b.c->spec.to_string();
      if (la == lb) {
        invalid_input(fmt::format("merge: case {} \"{}\" appears in both {} and {} (was a shard given twice?)",
                                  *a.c->index, la, *a.label, *b.label));
      }
      invalid_input(fmt::format("merge: sweep index {} is \"{}\" in {} but \"{}\" in {}: the shards expanded "
                                "different sweeps",
                                *a.c->index, la, *a.label, lb, *b.label));
    }
  } else {
    std::map<std::string, const std::string*> seen;
    for (const Source& s : cases) {
      const std::string line = s.c->spec.to_string();
      const auto [it, fresh] = seen.emplace(line, s.label);
      if (!fresh) invalid_input(fmt::format("merge: case \"{}\" appears in both {} and {}", line, *it->second, *s.label));
    }
  }

  SweepReport merged;
  merged.name = shards.front().report.name;
  merged.backend = shards.front().report.backend;
  merged.tool_version = shards.front().report.tool_version;
  for (const NamedReport& s : shards) merged.seconds += s.report.seconds;
  merged.cases.reserve(cases.size());
  for (const Source& s : cases) merged.cases.push_back(*s.c);
  return merged;
}

SweepReport read_report_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) invalid_input("cannot open report " + path.string());
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    invalid_input(path.string() + ": not valid JSON: " + e.what());
  }
  try {
    return sweep_report_from_json(j);
  } catch (const Error& e) {
    invalid_input(path.string() + ": " + e.what());
  }
}

SweepReport merge_report_files(const std::vector<std::filesystem::path>& paths) {
  std::vector<NamedReport> shards;
  for (const auto& p : paths) shards.push_back({p.string(), read_report_file(p)});
  return merge_reports(shards);
}

}  // namespace mhc::verify
