// The TMA's view of x [T, n, C] (bf16): the 4-d tensor [C / 64][n][T][64] (innermost first), so a
// box of {64, tokens, streams, blocks} at (0, t0, i0, b0) is `tokens` token rows of `blocks`
// 64-channel blocks of `streams` streams, landing in shared memory as 128-byte lines
// [block][stream][token][64 channels] with the 128-byte swizzle (16-byte unit u of line l at
// u ^ (l % 8)). Rows past T arrive as zeros and still count their bytes.
#pragma once

#include <cuda.h>

#include <cstdint>

#include "kernels/cuda/params.hpp"

namespace mhc::cuda {

inline constexpr int kXBlock = 64;  // channels per 128-byte line

CUtensorMap make_x_map(const std::uint16_t* x, const PreDims& d, int box_tokens, int box_streams, int box_blocks);

}  // namespace mhc::cuda
