// Merging shard reports: order restored from the sweep index, runs and duplicates refused.
#include <gtest/gtest.h>

#include "core/error.hpp"
#include "sample_reports.hpp"
#include "tool_runner.hpp"
#include "verify/merge.hpp"

namespace mhc::verify {
namespace {

// Shard I of N takes the cases whose index is I mod N (the order --shard uses).
std::vector<NamedReport> shard(const SweepReport& r, int count) {
  std::vector<NamedReport> shards;
  for (int i = 0; i < count; ++i) {
    NamedReport s{"shard-" + std::to_string(i) + ".json", r};
    s.report.cases.clear();
    s.report.seconds = 1.0 + i;
    for (const CaseReport& c : r.cases) {
      if (*c.index % count == i) s.report.cases.push_back(c);
    }
    shards.push_back(std::move(s));
  }
  return shards;
}

std::string merge_error(const std::vector<NamedReport>& shards) {
  try {
    merge_reports(shards);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid_input);
    return e.what();
  }
  return "";
}

TEST(Merge, RestoresSweepOrderWhateverTheShardOrder) {
  const SweepReport full = testing::sample_sweep();
  std::vector<NamedReport> shards = shard(full, 3);
  std::swap(shards[0], shards[2]);
  const SweepReport merged = merge_reports(shards);
  EXPECT_EQ(merged.name, full.name);
  EXPECT_EQ(merged.backend, full.backend);
  EXPECT_EQ(merged.tool_version, full.tool_version);
  EXPECT_DOUBLE_EQ(merged.seconds, 1.0 + 2.0 + 3.0);
  ASSERT_EQ(merged.cases.size(), full.cases.size());
  for (std::size_t i = 0; i < full.cases.size(); ++i) {
    EXPECT_EQ(merged.cases[i].index, full.cases[i].index);
    EXPECT_EQ(merged.cases[i].spec, full.cases[i].spec);
    EXPECT_EQ(merged.cases[i].verdict, full.cases[i].verdict);
  }
  EXPECT_EQ(merged.summary_line(), "6 passed, 2 failed, 1 skipped, 1 error, 1 crashed in 6.00s");
}

TEST(Merge, EmptyShardsAreFine) {
  const SweepReport full = testing::sample_sweep();
  std::vector<NamedReport> shards = shard(full, 20);  // shards 11..19 hold no case
  EXPECT_EQ(merge_reports(shards).cases.size(), full.cases.size());
}

TEST(Merge, RefusesDifferentRuns) {
  std::vector<NamedReport> shards = shard(testing::sample_sweep(), 2);
  shards[1].report.name = "realistic";
  std::string message = merge_error(shards);
  EXPECT_NE(message.find("shard-1.json has sweep name \"realistic\" but shard-0.json has \"quick\""), std::string::npos)
      << message;

  shards = shard(testing::sample_sweep(), 2);
  shards[1].report.backend = "cuda";
  EXPECT_NE(merge_error(shards).find("backend"), std::string::npos);

  shards = shard(testing::sample_sweep(), 2);
  shards[0].report.tool_version = "0.2.0";
  EXPECT_NE(merge_error(shards).find("tool version"), std::string::npos);

  EXPECT_NE(merge_error({}).find("no reports"), std::string::npos);
}

TEST(Merge, RefusesDuplicatedCases) {
  std::vector<NamedReport> shards = shard(testing::sample_sweep(), 2);
  shards.push_back(shards[0]);
  shards.back().label = "copy.json";
  const std::string message = merge_error(shards);
  EXPECT_NE(message.find("appears in both shard-0.json and copy.json"), std::string::npos) << message;
}

TEST(Merge, RefusesOneIndexForTwoCases) {
  std::vector<NamedReport> shards = shard(testing::sample_sweep(), 2);
  shards[1].report.cases[0].index = 0;  // index 0 is already shard 0's first case
  const std::string message = merge_error(shards);
  EXPECT_NE(message.find("sweep index 0"), std::string::npos) << message;
  EXPECT_NE(message.find("different sweeps"), std::string::npos) << message;
}

TEST(Merge, WithoutIndicesKeepsShardOrderAndRefusesRepeatedCaseLines) {
  std::vector<NamedReport> shards = shard(testing::sample_sweep(), 2);
  for (NamedReport& s : shards) {
    for (CaseReport& c : s.report.cases) c.index.reset();
  }
  const SweepReport merged = merge_reports(shards);
  ASSERT_EQ(merged.cases.size(), 11u);
  EXPECT_EQ(merged.cases[0].spec, shards[0].report.cases[0].spec);
  EXPECT_EQ(merged.cases.back().spec, shards[1].report.cases.back().spec);

  shards[1].report.cases.push_back(shards[0].report.cases[2]);
  EXPECT_NE(merge_error(shards).find("appears in both"), std::string::npos);
}

TEST(Merge, RefusesMixedIndexedAndUnindexedCases) {
  std::vector<NamedReport> shards = shard(testing::sample_sweep(), 2);
  shards[1].report.cases[0].index.reset();
  EXPECT_NE(merge_error(shards).find("carry a sweep index and the others do not"), std::string::npos);
}

TEST(Merge, FilesRoundTripAndBadFilesAreNamed) {
  testing::TempDir dir;
  std::vector<std::filesystem::path> paths;
  for (const NamedReport& s : shard(testing::sample_sweep(), 3)) {
    paths.push_back(dir.path() / s.label);
    testing::write_file(paths.back(), to_json(s.report).dump(2));
  }
  EXPECT_EQ(merge_report_files(paths).cases.size(), 11u);

  const auto broken = dir.path() / "broken.json";
  testing::write_file(broken, "{\"schema_version\": 1, \"cases\": [");
  paths.push_back(broken);
  try {
    merge_report_files(paths);
    ADD_FAILURE() << "a truncated file was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("broken.json: not valid JSON"), std::string::npos) << e.what();
  }
  EXPECT_THROW(read_report_file(dir.path() / "missing.json"), Error);
}

}  // namespace
}  // namespace mhc::verify
