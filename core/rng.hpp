// Counter-based random numbers: element i of tensor NAME in case SEED is a pure function of
// (seed, fnv1a64(NAME), i). No state, no order: the host, a CUDA kernel or another machine
// regenerates any element on its own, so a case travels as a line of text, never as tensors.
//
// Generator: Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11),
// the standard multipliers and Weyl key increments; checked against Random123's known answers
// in tests/core/rng_test.cpp.
//   counter = {i_lo, i_hi, name_hash_lo, name_hash_hi}, key = {seed_lo, seed_hi}
// One block (4 x 32 bits) per element; every draw below consumes exactly that block.
//
// Host/device: everything is MHC_HD and uses only integer arithmetic plus ::sqrt/::log/::cos,
// which CUDA provides in device code. Uniform and integer draws are bit-identical on host and
// device. normal() goes through libm (glibc) or CUDA's log/cos, which may differ by 1 ulp in
// f64; once rounded to f32/bf16 the values almost always agree, but callers that need bitwise
// host/device equality of normals must generate them on one side.
#pragma once

#include <math.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/bf16.hpp"  // MHC_HD

namespace mhc::rng {

struct Block {
  std::uint32_t v[4];
};

namespace detail {

MHC_HD inline void mulhilo32(std::uint32_t a, std::uint32_t b, std::uint32_t& hi, std::uint32_t& lo) {
  const std::uint64_t p = static_cast<std::uint64_t>(a) * b;
  hi = static_cast<std::uint32_t>(p >> 32);
  lo = static_cast<std::uint32_t>(p);
}

}  // namespace detail

// Philox4x32 with 10 rounds: ctr is the 128-bit counter, key the 64-bit key.
MHC_HD inline Block philox4x32_10(Block ctr, std::uint32_t key0, std::uint32_t key1) {
  constexpr std::uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  constexpr std::uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      key0 += kWeyl0;
      key1 += kWeyl1;
    }
    std::uint32_t hi0, lo0, hi1, lo1;
    detail::mulhilo32(kMul0, ctr.v[0], hi0, lo0);
    detail::mulhilo32(kMul1, ctr.v[2], hi1, lo1);
    ctr = Block{{hi1 ^ ctr.v[1] ^ key0, lo1, hi0 ^ ctr.v[3] ^ key1, lo0}};
  }
  return ctr;
}

// FNV-1a, 64-bit: a stable hash of a tensor name (independent of compiler and platform,
// unlike std::hash).
MHC_HD inline std::uint64_t fnv1a64(const char* s, std::size_t len) {
  std::uint64_t h = 0xCBF29CE484222325ull;
  for (std::size_t i = 0; i < len; ++i) {
    h ^= static_cast<unsigned char>(s[i]);
    h *= 0x100000001B3ull;
  }
  return h;
}

inline std::uint64_t name_hash(std::string_view name) { return fnv1a64(name.data(), name.size()); }

// The random values of one tensor in one case. Element-wise draws; each call is independent.
struct TensorRng {
  std::uint64_t seed = 0;
  std::uint64_t name = 0;  // name_hash(tensor name)

  MHC_HD Block block(std::uint64_t i) const {
    const Block ctr{{static_cast<std::uint32_t>(i), static_cast<std::uint32_t>(i >> 32),
                     static_cast<std::uint32_t>(name), static_cast<std::uint32_t>(name >> 32)}};
    return philox4x32_10(ctr, static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32));
  }

  // 53 random bits from two words, as an integer in [0, 2^53).
  MHC_HD static std::uint64_t bits53(std::uint32_t hi, std::uint32_t lo) {
    return ((static_cast<std::uint64_t>(hi) << 32) | lo) >> 11;
  }

  // Uniform in [0, 1), multiples of 2^-53.
  MHC_HD double uniform(std::uint64_t i) const {
    const Block b = block(i);
    return static_cast<double>(bits53(b.v[0], b.v[1])) * 0x1p-53;
  }

  // Uniform in (0, 1]: safe under log().
  MHC_HD double uniform_pos(std::uint64_t i) const {
    const Block b = block(i);
    return static_cast<double>(bits53(b.v[0], b.v[1]) + 1) * 0x1p-53;
  }

  // Standard normal by Box-Muller from one block: u1 in (0,1] from words 0-1, u2 in [0,1)
  // from words 2-3; the cosine branch only, so element i needs no neighbour.
  MHC_HD double normal(std::uint64_t i) const {
    const Block b = block(i);
    const double u1 = static_cast<double>(bits53(b.v[0], b.v[1]) + 1) * 0x1p-53;
    const double u2 = static_cast<double>(bits53(b.v[2], b.v[3])) * 0x1p-53;
    constexpr double kTwoPi = 6.283185307179586476925286766559;
    return ::sqrt(-2.0 * ::log(u1)) * ::cos(kTwoPi * u2);
  }

  // Integer in [lo, hi] (hi >= lo, hi - lo < 2^32) by a 64-bit multiply-shift of one word; the
  // bias is below (hi - lo + 1) / 2^32, irrelevant for the small ranges the cases use.
  MHC_HD std::int64_t small_int(std::uint64_t i, std::int64_t lo, std::int64_t hi) const {
    const Block b = block(i);
    const std::uint64_t range = static_cast<std::uint64_t>(hi - lo) + 1;
    return lo + static_cast<std::int64_t>((static_cast<std::uint64_t>(b.v[0]) * range) >> 32);
  }
};

inline TensorRng tensor_rng(std::uint64_t seed, std::string_view name) { return {seed, name_hash(name)}; }

}  // namespace mhc::rng
