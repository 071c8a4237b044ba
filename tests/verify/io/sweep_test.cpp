// verify/sweep: expansion order and counts, skip rules, overrides, explicit lines, sharding, and
// an error with FILE:LINE:COLUMN for every kind of bad sweep file.
#include "verify/sweep.hpp"

#include <gtest/gtest.h>

#include <set>

#include "core/error.hpp"

namespace mhc::verify {
namespace {

std::vector<std::string> lines(const Sweep& s) {
  std::vector<std::string> out;
  for (const SweepCase& c : s.cases) out.push_back(c.spec.to_string());
  return out;
}

// Parses and expects Error(invalid_input) whose message starts with "<string>:LINE:COL:" and
// contains `needle`.
void expect_error(const std::string& yaml, int line, int column, const std::string& needle) {
  try {
    parse_sweep(yaml);
    ADD_FAILURE() << "accepted:\n" << yaml;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid_input);
    const std::string msg = e.what();
    const std::string where = "<string>:" + std::to_string(line) + ":" + std::to_string(column) + ":";
    EXPECT_EQ(msg.rfind(where, 0), 0u) << msg << "\n  expected to start with " << where;
    EXPECT_NE(msg.find(needle), std::string::npos) << msg << "\n  lacks " << needle;
  }
}

TEST(Sweep, CartesianProductInFileOrder) {
  const Sweep s = parse_sweep(R"(
name: tiny
axes:
  op: [pre, post]
  T: [1, 13]
  n: [1, 4]
  C: 7
)");
  EXPECT_EQ(s.name, "tiny");
  ASSERT_EQ(s.cases.size(), 8u);
  const std::vector<std::string> expected = {
      "pre T=1 n=1 C=7 preset=deepseek seed=0 dist=normal",   "pre T=1 n=4 C=7 preset=deepseek seed=0 dist=normal",
      "pre T=13 n=1 C=7 preset=deepseek seed=0 dist=normal",  "pre T=13 n=4 C=7 preset=deepseek seed=0 dist=normal",
      "post T=1 n=1 C=7 preset=deepseek seed=0 dist=normal",  "post T=1 n=4 C=7 preset=deepseek seed=0 dist=normal",
      "post T=13 n=1 C=7 preset=deepseek seed=0 dist=normal", "post T=13 n=4 C=7 preset=deepseek seed=0 dist=normal"};
  EXPECT_EQ(lines(s), expected);
  for (const SweepCase& c : s.cases) EXPECT_FALSE(c.skipped());
}

// yaml-cpp's Load keeps the first document only: a second one must not vanish silently.
TEST(Sweep, SecondYamlDocumentIsRefused) {
  expect_error("axes: {T: [1], n: [4], C: [8]}\n---\naxes: {T: [2], n: [4], C: [8]}\n", 2, 1, "more than one YAML document");
}

TEST(Sweep, DefaultsAndCounts) {
  // op defaults to both; every listed axis multiplies.
  const Sweep s = parse_sweep(R"(
axes:
  preset: [deepseek, mhc_ops, paper]
  T: [0, 1, 137]
  n: [1, 2, 4, 8]
  C: [1, 33]
  distribution: [normal, zero_rows]
  dtype: [bf16, f32]
  seed: [0, 1]
)", "sweeps/quick.yaml");
  EXPECT_EQ(s.name, "quick");  // from the file name when the file has none
  EXPECT_EQ(s.cases.size(), 2u * 3 * 3 * 4 * 2 * 2 * 2 * 2);
  const std::vector<std::string> all = lines(s);
  const std::set<std::string> unique(all.begin(), all.end());
  EXPECT_EQ(unique.size(), s.cases.size());
}

TEST(Sweep, SemanticsOverridesAndSemanticAxes) {
  const Sweep s = parse_sweep(R"(
axes:
  op: pre
  T: 5
  n: 4
  C: 8
  repeats: [1, 3]
  eps_rms: [1e-6, 0.01]
semantics: {post_mult: 1.0, gamma: true}
)");
  ASSERT_EQ(s.cases.size(), 4u);
  EXPECT_EQ(s.cases[0].spec.semantics.repeats, 1);
  EXPECT_EQ(s.cases[1].spec.semantics.eps_rms, 0.01);
  EXPECT_EQ(s.cases[3].spec.semantics.repeats, 3);
  for (const SweepCase& c : s.cases) {
    EXPECT_EQ(c.spec.semantics.post_mult, 1.0);
    EXPECT_TRUE(c.spec.semantics.use_gamma);
  }
  EXPECT_EQ(s.cases[3].spec.to_string(),
            "pre T=5 n=4 C=8 preset=deepseek seed=0 dist=normal repeats=3 eps_rms=0.01 post_mult=1 gamma=true");
}

TEST(Sweep, UseGammaIsAnotherSpellingOfGamma) {
  const Sweep s = parse_sweep(R"(
axes: {op: pre, T: 5, n: 4, C: 8, use_gamma: [false, true]}
skip: [{when: {use_gamma: false, T: 5}, reason: "only with gamma"}]
)");
  ASSERT_EQ(s.cases.size(), 2u);
  EXPECT_EQ(s.cases[0].skip_reason, "only with gamma");
  EXPECT_TRUE(s.cases[1].spec.semantics.use_gamma);
  EXPECT_TRUE(parse_sweep("axes: {op: pre, T: 5, n: 4, C: 8}\nsemantics: {use_gamma: true}\n")
                  .cases[0]
                  .spec.semantics.use_gamma);
  expect_error("axes: {op: pre, T: 5, n: 4, C: 8, gamma: true, use_gamma: false}\n", 1, 48,
               "key \"use_gamma\" given twice (as \"gamma\")");
}

TEST(Sweep, SkipRules) {
  const Sweep s = parse_sweep(R"(
axes:
  op: pre
  preset: [deepseek, lite]
  T: 3
  n: [1, 4, 6, 8]
  C: 16
skip:
  - when: {preset: lite, n: [6, 8]}
    reason: "mHC-lite: n! logits"
  - when: {n: 1, repeats: 20}
)");
  ASSERT_EQ(s.cases.size(), 8u);
  std::map<std::string, std::string> reasons;
  for (const SweepCase& c : s.cases) reasons[c.spec.to_string()] = c.skip_reason;
  EXPECT_EQ(reasons.at("pre T=3 n=6 C=16 preset=lite seed=0 dist=normal"), "mHC-lite: n! logits");
  EXPECT_EQ(reasons.at("pre T=3 n=8 C=16 preset=lite seed=0 dist=normal"), "mHC-lite: n! logits");
  // repeats = 20 comes from the deepseek preset: rules see effective values. A rule without a
  // reason names its own location.
  EXPECT_EQ(reasons.at("pre T=3 n=1 C=16 preset=deepseek seed=0 dist=normal"), "skip rule at <string>:11:5");
  EXPECT_EQ(reasons.at("pre T=3 n=1 C=16 preset=lite seed=0 dist=normal"), "");
  EXPECT_EQ(reasons.at("pre T=3 n=8 C=16 preset=deepseek seed=0 dist=normal"), "");
  EXPECT_EQ(std::count_if(s.cases.begin(), s.cases.end(), [](const SweepCase& c) { return c.skipped(); }), 3);
}

TEST(Sweep, ExplicitCasesToleranceAndDuplicates) {
  const Sweep s = parse_sweep(R"(
axes: {op: [pre], T: [5], n: [3], C: [9], preset: [paper], seed: [1]}
tolerance:
  profile: mhc_public_5e-2
  overrides: {dphi: {atol: 1e-2, rtol: 1e-2}, part.dx_mm: {atol: 0, rtol: 0.5}}
cases:
  - "pre T=5 n=3 C=9 preset=paper seed=1"
  - pre T=7 n=2 C=3 preset=lite seed=2 tol=baseline
  - post T=1 n=1 C=1 repeats=2
)");
  EXPECT_EQ(s.tolerance.profile, "mhc_public_5e-2");
  EXPECT_EQ(s.tolerance.overrides.at("dphi"), (FixedTolerance{1e-2, 1e-2}));
  EXPECT_EQ(s.tolerance.overrides.at("part.dx_mm"), (FixedTolerance{0, 0.5}));
  ASSERT_EQ(s.cases.size(), 3u);  // the first explicit line repeats the axis case
  EXPECT_EQ(s.cases[0].spec.tolerance, "mhc_public_5e-2");
  EXPECT_EQ(s.cases[1].spec.tolerance, "baseline");  // the line names its own
  EXPECT_EQ(s.cases[2].spec.tolerance, "mhc_public_5e-2");
  EXPECT_EQ(s.cases[2].spec.semantics.repeats, 2);
  const Tolerance t = to_tolerance(s.tolerance);
  EXPECT_TRUE(t.fixed.has_value());
  EXPECT_EQ(t.overrides.at("dphi"), (FixedTolerance{1e-2, 1e-2}));
}

TEST(Sweep, CasesOnly) {
  const Sweep s = parse_sweep("cases: [\"post T=2 n=3 C=4\"]\n");
  ASSERT_EQ(s.cases.size(), 1u);
  EXPECT_EQ(s.cases[0].spec.op, Op::post);
}

TEST(SweepErrors, MalformedYaml) {
  expect_error("axes:\n  T: [1, 2\n  n: [1]\n", 3, 4, "malformed YAML");
  expect_error("axes: {T: [1]\n", 2, 1, "malformed YAML");
}

TEST(SweepErrors, UnknownKeys) {
  expect_error("name: x\naxis:\n  T: [1]\n", 2, 1, "unknown key \"axis\"");
  expect_error("axes:\n  T: [1]\n  N: [4]\n", 3, 3, "unknown key \"N\" in axes");
  expect_error("axes: {T: 1, n: 1, C: 1}\nsemantics: {repeat: 3}\n", 2, 13, "unknown key \"repeat\"");
  expect_error("axes: {T: 1, n: 1, C: 1}\nsemantics: {preset: lite}\n", 2, 13, "unknown key \"preset\"");
  expect_error("axes: {T: 1, n: 1, C: 1}\nskip:\n  - when: {n: 1}\n    why: x\n", 4, 5, "unknown key \"why\"");
  expect_error("axes: {T: 1, n: 1, C: 1}\ntolerance: {profile: baseline, atol: 1}\n", 2, 32, "unknown key \"atol\"");
  expect_error("axes: {T: 1, n: 1, C: 1, T: 2}\n", 1, 26, "key \"T\" given twice");
}

TEST(SweepErrors, UnknownValues) {
  expect_error("axes:\n  T: 1\n  n: 1\n  C: 1\n  preset: [deepseek, deepsek]\n", 5, 22, "unknown preset \"deepsek\"");
  expect_error("axes: {T: 1, n: 1, C: 1, distribution: gauss}\n", 1, 40, "unknown distribution \"gauss\"");
  expect_error("axes: {T: 1, n: 1, C: 1, op: [pre, mid]}\n", 1, 36, "unknown op \"mid\"");
  expect_error("axes: {T: 1, n: 1, C: 1}\ntolerance: {profile: strict}\n", 2, 22, "unknown tolerance profile \"strict\"");
  expect_error("axes: {T: 1, n: 1, C: 1}\ntolerance: {overrides: {dfoo: {atol: 1, rtol: 1}}}\n", 2, 25, "unknown tensor \"dfoo\"");
}

TEST(SweepErrors, WrongTypes) {
  expect_error("axes:\n  T: [1, a]\n", 2, 10, "T must be an integer, got \"a\"");
  expect_error("axes:\n  T: [1.5]\n", 2, 7, "T must be an integer");
  expect_error("axes:\n  T: {a: 1}\n", 2, 6, "expected a value or a list");
  expect_error("axes:\n  T: [[1]]\n", 2, 7, "expected a single value");
  expect_error("axes: [T, n]\n", 1, 7, "axes must be a map");
  expect_error("axes: {T: 1, n: 1, C: 1}\nsemantics: {gamma: yes}\n", 2, 20, "gamma must be true or false");
  expect_error("axes: {T: 1, n: 1, C: 1}\nsemantics: {eps_rms: small}\n", 2, 22, "eps_rms must be a finite number");
  expect_error("axes: {T: 1, n: 1, C: 1}\ncases: pre T=1 n=1 C=1\n", 2, 8, "cases must be a list");
  expect_error("axes: {T: 1, n: 1, C: 1}\nskip: {when: {n: 1}}\n", 2, 7, "skip must be a list");
  expect_error("axes: {T: 1, n: 1, C: 1}\ntolerance: {overrides: {dx: {atol: 1}}}\n", 2, 29, "give both atol and rtol");
  expect_error("axes: {T: 1, n: 1, C: 1}\ntolerance: {overrides: {dx: {atol: -1, rtol: 0}}}\n", 2, 36, "dx.atol must be >= 0");
  expect_error("name: [a]\ncases: [\"pre T=1 n=1 C=1\"]\n", 1, 7, "name must be a string");
}

TEST(SweepErrors, BadSizes) {
  expect_error("axes:\n  T: [-1]\n  n: 1\n  C: 1\n", 2, 7, "T = -1 is out of range");
  expect_error("axes:\n  T: 1\n  n: [0, 4]\n  C: 1\n", 3, 7, "n = 0 is out of range [1, 64]");
  expect_error("axes:\n  T: 1\n  n: 1\n  C: [2000000000000000]\n", 4, 7, "C = 2000000000000000 is out of range");
  expect_error("axes:\n  T: 1\n  n: 1\n  C: [1]\nsemantics: {post_mult: 0}\n", 5, 24, "post_mult must be > 0");
  // Sizes that are each fine but together need absurd memory: the case and the fix are named.
  expect_error("axes:\n  T: 1000000000\n  n: 64\n  C: 1000000\n", 2, 3, "over the limit of 1048576 MiB");
  // A combination the math refuses.
  expect_error("axes:\n  T: 1\n  n: [4, 8]\n  C: 1\n  preset: lite\n", 2, 3, "add a skip rule");
}

TEST(SweepErrors, EmptyOrMissingParts) {
  expect_error("axes:\n  T: []\n  n: 1\n  C: 1\n", 2, 6, "empty list");
  expect_error("axes:\n  n: 1\n  C: 1\n", 2, 3, "missing \"T\"");
  expect_error("name: nothing\n", 1, 1, "needs \"axes\", \"cases\" or both");
  expect_error("axes: {T: 1, n: 1, C: 1}\nskip:\n  - reason: x\n", 3, 5, "missing \"when\"");
  expect_error("axes: {T: 1, n: 1, C: 1}\nskip:\n  - when: {}\n", 3, 11, "needs at least one field");
  expect_error("axes: {T: [1, 1], n: 1, C: 1}\n", 1, 15, "listed twice");
  expect_error("axes: {T: 1, n: 1, C: 1, repeats: [2]}\nsemantics: {repeats: 3}\n", 1, 26, "both an axis and a semantics override");
  try {
    parse_sweep("");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("empty sweep file"), std::string::npos);
  }
}

TEST(SweepErrors, ExplicitCaseLines) {
  expect_error("cases:\n  - pre T=1 n=1 C=1\n  - pre T=1 n=1 C=1 colour=red\n", 3, 5, "unknown key \"colour\"");
  expect_error("cases:\n  - pre T=1 n=6 C=1 preset=lite\n", 2, 5, "permutation");
}

TEST(SweepErrors, ProductTooLarge) {
  std::string values = "[";
  for (int i = 1; i <= 200; ++i) values += std::to_string(i) + (i < 200 ? "," : "]");
  expect_error("axes:\n  T: " + values + "\n  C: " + values.substr(0, values.size() - 1) + ",1000]\n  seed: " + values +
                   "\n  n: 1\n",
               2, 3, "more than 100000 cases");
}

TEST(Shard, PartitionsExactlyAndDeterministically) {
  const Sweep s = parse_sweep("axes: {T: [1, 2, 3, 5, 8, 13, 21], n: [1, 2, 3], C: 4}\n");
  ASSERT_EQ(s.cases.size(), 42u);
  for (std::size_t count : {1u, 2u, 5u, 42u, 50u}) {
    std::multiset<std::string> seen;
    for (std::size_t index = 0; index < count; ++index) {
      const auto shard = select_shard(s.cases, index, count);
      EXPECT_LE(shard.size(), (s.cases.size() + count - 1) / count);
      EXPECT_GE(shard.size(), s.cases.size() / count);
      for (std::size_t k = 0; k < shard.size(); ++k) {
        EXPECT_EQ(shard[k].spec, s.cases[index + k * count].spec);  // round-robin by case index
        seen.insert(shard[k].spec.to_string());
      }
    }
    EXPECT_EQ(seen.size(), s.cases.size());
    EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), s.cases.size());  // no case twice
  }
  EXPECT_THROW(select_shard(s.cases, 0, 0), Error);
  EXPECT_THROW(select_shard(s.cases, 3, 3), Error);
}

TEST(Examples, ParseAndStayCheap) {
  for (const char* name : {"quick", "deepseek", "edge"}) {
    const Sweep s = load_sweep(std::string(MHC_SOURCE_DIR) + "/examples/" + name + ".yaml");
    EXPECT_EQ(s.name, name);
    EXPECT_GT(s.cases.size(), 10u) << name;
    bool has_pre = false, has_post = false, n_not_4 = false;
    for (const SweepCase& c : s.cases) {
      has_pre |= c.spec.op == Op::pre;
      has_post |= c.spec.op == Op::post;
      n_not_4 |= c.spec.shape.n != 4;
    }
    EXPECT_TRUE(has_pre && has_post) << name;
    if (std::string_view(name) != "deepseek") {
      EXPECT_TRUE(n_not_4) << name;
    }
  }
  EXPECT_THROW(load_sweep("/nonexistent.yaml"), Error);
}

}  // namespace
}  // namespace mhc::verify
