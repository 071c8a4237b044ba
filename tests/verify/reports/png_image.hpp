// A minimal PNG reader for checking screenshots: 8-bit RGB/RGBA, non-interlaced (what Chromium
// writes). Enough to say whether a rendered page is blank.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mhc::verify::testing {

struct Image {
  int width = 0, height = 0;
  std::vector<std::uint32_t> pixels;  // 0xRRGGBB, row-major
};

// Throws std::runtime_error on anything it cannot read.
Image decode_png(const std::string& bytes);

}  // namespace mhc::verify::testing
