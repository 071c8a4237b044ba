// Regression tests for the fuzzing finds (docs/reliability.md, "Bugs found"): each input is an
// Error(invalid_input) that names the problem, never undefined behaviour or a foreign exception.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/error.hpp"
#include "verify/casegen.hpp"
#include "verify/safetensors.hpp"
#include "verify/sweep.hpp"

namespace mhc::robustness {
namespace {

std::string invalid_input_message(auto&& body) {
  try {
    body();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid_input) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return {};
}

// 2n + n^2 mix logits overflowed int64 (signed overflow, UB) before any size check ran.
TEST(FuzzFinds, StreamCountPast2Pow31IsRefusedByName) {
  for (const char* line : {"pre T=1 n=4294967296 C=1", "pre T=337922233854551614 n=87922233854551614 C=4"}) {
    const std::string what = invalid_input_message([&] { verify::validate_case(verify::CaseSpec::parse(line)); });
    EXPECT_NE(what.find("n (streams)"), std::string::npos) << what;
  }
}

// A number literal beyond f64 in the header threw nlohmann's out_of_range, which no caller expects.
TEST(FuzzFinds, SafetensorsHeaderNumberOverflowIsABadFile) {
  const std::string header = R"({"x": {"dtype": "F32", "shape": [1e9999], "data_offsets": [0, 4]}})";
  std::vector<std::byte> file(8 + header.size() + 4);
  const std::uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) file[i] = static_cast<std::byte>(n >> (8 * i));
  std::memcpy(file.data() + 8, header.data(), header.size());
  const std::string what = invalid_input_message([&] { verify::parse_safetensors(file); });
  EXPECT_NE(what.find("header is not valid UTF-8 JSON"), std::string::npos) << what;
  EXPECT_NE(what.find("number overflow"), std::string::npos) << what;
}

// A NUL byte in a comment: yaml-cpp's LoadAll (once used to find a second document) then builds
// empty documents until memory runs out. The sweep is refused at once instead.
TEST(FuzzFinds, ANulByteInACommentIsRefusedNotLoadedForever) {
  const std::string yaml("# a\0\n, b\nname: x\n", 17);
  const std::string what = invalid_input_message([&] { verify::parse_sweep(yaml, "nul.yaml"); });
  EXPECT_NE(what.find("nul.yaml:2:1"), std::string::npos) << what;
}

}  // namespace
}  // namespace mhc::robustness
