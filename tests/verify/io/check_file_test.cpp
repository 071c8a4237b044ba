// verify/check_file: how a file's metadata and the caller's options become a CheckRequest, and
// the clear errors for files the check would otherwise misread (typos in overrides, gamma the
// semantics ignores, tensors in the other layout).
#include "verify/check_file.hpp"

#include <gtest/gtest.h>

#include "core/error.hpp"
#include "verify/casegen.hpp"

namespace mhc::verify {
namespace {

// The inputs of a generated case with its metadata, as `golden --dump` writes them (no results:
// check_request does not run anything).
SafetensorsFile case_file(const std::string& line) {
  const CaseSpec spec = CaseSpec::parse(line);
  return SafetensorsFile{case_tensors(spec), case_metadata(spec)};
}

std::string rejection(SafetensorsFile file, const CheckOptions& options) {
  try {
    check_request(std::move(file), options, "f.safetensors");
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid_input);
    return e.what();
  }
  ADD_FAILURE() << "accepted";
  return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// [.., a, b] -> [.., b, a], as another implementation's layout would store it.
Tensor swapped(const Tensor& t) {
  std::vector<std::int64_t> shape = t.shape();
  std::swap(shape[shape.size() - 1], shape[shape.size() - 2]);
  return Tensor(t.dtype(), shape);
}

TEST(CheckRequest, OverridesApplyOnTopOfTheMetadata) {
  CheckOptions options;
  options.overrides = {"repeats=5", "gamma=true", "eps_rms=1e-5"};
  SafetensorsFile file = case_file("pre T=2 n=4 C=8 preset=deepseek seed=1 gamma=true");
  file.metadata["framework"] = "ours";  // foreign metadata is not an override: ignored
  const CheckRequest r = check_request(std::move(file), options, "f");
  EXPECT_EQ(r.semantics.repeats, 5);
  EXPECT_EQ(r.semantics.eps_rms, 1e-5);
  EXPECT_TRUE(r.semantics.use_gamma);
}

TEST(CheckRequest, AnUnknownOverrideKeyIsRefused) {
  // It used to be dropped without a word, so `--set repeat=5` checked with repeats = 20.
  CheckOptions options;
  options.overrides = {"repeat=5"};
  const std::string e = rejection(case_file("pre T=2 n=4 C=8 preset=deepseek seed=1"), options);
  EXPECT_TRUE(contains(e, "unknown key \"repeat\"")) << e;
  EXPECT_TRUE(contains(e, "repeats")) << e;  // the known keys are listed
}

TEST(CheckRequest, PrecisionFromTheOptionThenTheMetadataThenF32) {
  const std::string line = "pre T=2 n=4 C=8 preset=deepseek seed=1";
  EXPECT_EQ(check_request(case_file(line), {}, "f").precision, "f32");
  SafetensorsFile file = case_file(line);
  file.metadata["precision"] = "tf32";
  EXPECT_EQ(check_request(file, {}, "f").precision, "tf32");
  CheckOptions options;
  options.precision = "bf16gemm";
  EXPECT_EQ(check_request(file, options, "f").precision, "bf16gemm");
  file.metadata["precision"] = "fp8";
  const std::string e = rejection(file, {});
  EXPECT_TRUE(contains(e, "precision \"fp8\"")) << e;
  EXPECT_TRUE(contains(e, "metadata")) << e;
}

// A layer's pre and post in one file, every name prefixed by its op.
SafetensorsFile both_ops() {
  SafetensorsFile file{{}, case_file("pre T=2 n=4 C=8 preset=deepseek seed=1").metadata};
  file.metadata.erase("op");
  for (const char* op : {"pre", "post"}) {
    for (auto& [name, t] : case_file(std::string(op) + " T=3 n=4 C=8 preset=deepseek seed=1").tensors) {
      file.tensors.emplace(std::string(op) + "." + name, std::move(t));
    }
  }
  return file;
}

TEST(CheckRequest, AFileOfBothOpsGivesOneRequestPerOp) {
  const auto both = check_requests(both_ops(), {}, "f");
  ASSERT_EQ(both.size(), 2u);
  EXPECT_EQ(both[0].op, Op::pre);
  EXPECT_EQ(both[0].label, "f:pre");
  EXPECT_TRUE(both[0].tensors.count("phi") && !both[0].tensors.count("pre.phi"));
  EXPECT_EQ(both[1].op, Op::post);
  EXPECT_TRUE(both[1].tensors.count("f"));
  CheckOptions post;
  post.op = "post";
  const auto one = check_requests(both_ops(), post, "f");
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].op, Op::post);
  EXPECT_EQ(check_request(both_ops(), post, "f").op, Op::post);
  EXPECT_TRUE(contains(rejection(both_ops(), {}), "holds both ops"));
  post.op = "sideways";
  EXPECT_TRUE(contains(rejection(both_ops(), post), "pre and post")) << rejection(both_ops(), post);
  SafetensorsFile mixed = both_ops();
  mixed.tensors.emplace("x", Tensor(DType::f32, {1}));
  EXPECT_TRUE(contains(rejection(std::move(mixed), {}), "\"x\" do not")) << "unprefixed names are named";
}

TEST(CheckRequest, AGivenPresetReplacesTheMetadataSemantics) {
  // The file's fields were written for its own preset (deepseek: sinkhorn, R = 20); keeping them
  // under another preset's name would check deepseek semantics labelled lite.
  CheckOptions options;
  options.preset = "lite";
  options.overrides = {"post_mult=1.5"};
  const CheckRequest r = check_request(case_file("pre T=2 n=4 C=8 preset=deepseek seed=1"), options, "f");
  Semantics expected = preset("lite");
  expected.post_mult = 1.5;
  EXPECT_EQ(r.preset, "lite");
  EXPECT_EQ(r.semantics, expected);
}

TEST(CheckRequest, GammaWithUseGammaFalseIsRefused) {
  // It was ignored, and every result then failed with an "unknown" diagnosis.
  SafetensorsFile file = case_file("pre T=2 n=4 C=8 preset=deepseek seed=1 gamma=true");
  file.metadata["use_gamma"] = "false";
  const std::string e = rejection(file, {});
  EXPECT_TRUE(contains(e, "gamma is given but use_gamma = false")) << e;
  EXPECT_TRUE(contains(e, "--set use_gamma=true")) << e;
  // Without use_gamma in the metadata, gamma's presence decides.
  file.metadata.erase("use_gamma");
  EXPECT_TRUE(check_request(file, {}, "f").semantics.use_gamma);
}

TEST(CheckRequest, TensorsInTheOtherLayoutNameTheFlag) {
  SafetensorsFile km = case_file("pre T=2 n=4 C=8 preset=deepseek seed=1");
  km.tensors["phi"] = swapped(km.tensors.at("phi"));
  std::string e = rejection(km, {});
  EXPECT_TRUE(contains(e, "phi: expected shape [M, K] = [24,32], got f32[32,24]")) << e;
  EXPECT_TRUE(contains(e, "--phi-layout KM")) << e;
  CheckOptions km_flag;
  km_flag.phi_layout = "KM";
  EXPECT_EQ(check_request(km, km_flag, "f").tensors.at("phi").shape(), (std::vector<std::int64_t>{24, 32}));
  // The flag on a file that does not need it: the hint names the default.
  e = rejection(case_file("pre T=2 n=4 C=8 preset=deepseek seed=1"), km_flag);
  EXPECT_TRUE(contains(e, "--phi-layout MK")) << e;

  for (const char* op : {"pre", "post"}) {
    SafetensorsFile tcn = case_file(std::string(op) + " T=2 n=4 C=8 preset=deepseek seed=1");
    tcn.tensors["x"] = swapped(tcn.tensors.at("x"));
    e = rejection(tcn, {});
    EXPECT_TRUE(contains(e, "x: read as [T, n, C] = bf16[2,8,4]")) << e;
    EXPECT_TRUE(contains(e, "--stream-layout TCN")) << e;
    CheckOptions tcn_flag;
    tcn_flag.stream_layout = "TCN";
    EXPECT_EQ(check_request(tcn, tcn_flag, "f").tensors.at("x").shape(), (std::vector<std::int64_t>{2, 4, 8}));
  }
}

}  // namespace
}  // namespace mhc::verify
