// core/rng.hpp on the GPU: the same Philox known answers, and the same draws as the host, so a
// CUDA kernel can generate a case's tensors itself. Skips without a device.
#include <gtest/gtest.h>

#include "tests/core/rng_device.hpp"

namespace mhc::rng::test {
namespace {

TEST(RngDevice, MatchesHost) {
  const TensorRng r = tensor_rng(12345, "x");
  constexpr std::size_t kCount = 1 << 20;
  DeviceDraws d;
  if (!draw_on_device(r, kCount, d)) GTEST_SKIP() << "no CUDA device";

  const Block expected_kat[] = {{{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
                                {{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
                                {{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}}};
  for (int k = 0; k < 3; ++k) {
    for (int w = 0; w < 4; ++w) EXPECT_EQ(d.kat[k].v[w], expected_kat[k].v[w]) << "kat " << k << " word " << w;
  }
  for (std::size_t i = 0; i < kCount; ++i) {
    const Block h = r.block(i);
    for (int w = 0; w < 4; ++w) ASSERT_EQ(d.blocks[i].v[w], h.v[w]) << i;
    ASSERT_EQ(d.uniform[i], r.uniform(i)) << i;
    ASSERT_EQ(d.small_int[i], r.small_int(i, -3, 3)) << i;
    // The case generator's normals: IEEE arithmetic only, so the device draws the same f64 bits.
    ASSERT_EQ(d.normal[i], r.normal_icdf(i)) << i;
  }
}

}  // namespace
}  // namespace mhc::rng::test
