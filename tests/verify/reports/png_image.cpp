#include "png_image.hpp"

#include <zlib.h>

#include <cstdlib>
#include <stdexcept>

namespace mhc::verify::testing {

namespace {

std::uint32_t be32(const std::string& s, std::size_t at) {
  if (at + 4 > s.size()) throw std::runtime_error("png: truncated");
  return (std::uint32_t(std::uint8_t(s[at])) << 24) | (std::uint32_t(std::uint8_t(s[at + 1])) << 16) |
         (std::uint32_t(std::uint8_t(s[at + 2])) << 8) | std::uint32_t(std::uint8_t(s[at + 3]));
}

int paeth(int a, int b, int c) {
  const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

}  // namespace

Image decode_png(const std::string& bytes) {
  if (bytes.size() < 8 || bytes.compare(0, 8, "\x89PNG\r\n\x1a\n") != 0) throw std::runtime_error("png: bad signature");
  Image img;
  int channels = 0;
  std::string idat;
  for (std::size_t at = 8; at + 8 <= bytes.size();) {
    const std::uint32_t len = be32(bytes, at);
    const std::string type = bytes.substr(at + 4, 4);
    if (at + 12 + len > bytes.size()) throw std::runtime_error("png: truncated chunk " + type);
    if (type == "IHDR") {
      img.width = static_cast<int>(be32(bytes, at + 8));
      img.height = static_cast<int>(be32(bytes, at + 12));
      const int depth = std::uint8_t(bytes[at + 16]), color = std::uint8_t(bytes[at + 17]);
      const int interlace = std::uint8_t(bytes[at + 20]);
      if (depth != 8 || interlace != 0 || (color != 2 && color != 6)) throw std::runtime_error("png: unsupported format");
      channels = color == 2 ? 3 : 4;
    } else if (type == "IDAT") {
      idat.append(bytes, at + 8, len);
    } else if (type == "IEND") {
      break;
    }
    at += 12 + len;
  }
  if (channels == 0 || img.width <= 0 || img.height <= 0) throw std::runtime_error("png: no IHDR");

  const std::size_t stride = static_cast<std::size_t>(img.width) * channels;
  std::vector<std::uint8_t> raw((stride + 1) * img.height);
  uLongf raw_len = raw.size();
  if (uncompress(raw.data(), &raw_len, reinterpret_cast<const Bytef*>(idat.data()), idat.size()) != Z_OK ||
      raw_len != raw.size()) {
    throw std::runtime_error("png: bad image data");
  }
  std::vector<std::uint8_t> prev(stride, 0), cur(stride);
  img.pixels.resize(static_cast<std::size_t>(img.width) * img.height);
  for (int y = 0; y < img.height; ++y) {
    const std::uint8_t* line = raw.data() + y * (stride + 1);
    const int filter = line[0];
    for (std::size_t i = 0; i < stride; ++i) {
      const int a = i >= std::size_t(channels) ? cur[i - channels] : 0, b = prev[i],
                c = i >= std::size_t(channels) ? prev[i - channels] : 0;
      const int x = line[1 + i];
      int v = 0;
      switch (filter) {
        case 0: v = x; break;
        case 1: v = x + a; break;
        case 2: v = x + b; break;
        case 3: v = x + (a + b) / 2; break;
        case 4: v = x + paeth(a, b, c); break;
        default: throw std::runtime_error("png: bad filter");
      }
      cur[i] = static_cast<std::uint8_t>(v);
    }
    for (int px = 0; px < img.width; ++px) {
      const std::uint8_t* p = cur.data() + px * channels;
      img.pixels[static_cast<std::size_t>(y) * img.width + px] = (std::uint32_t(p[0]) << 16) | (std::uint32_t(p[1]) << 8) | p[2];
    }
    std::swap(prev, cur);
  }
  return img;
}

}  // namespace mhc::verify::testing
