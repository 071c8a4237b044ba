// Run-time choices as template parameters (FlashAttention's static_switch.h idea): the stream
// count n (1..8) and the residual map kind, so every per-token array has a compile-time size and
// lives in registers. n = 4 is one of these instantiations: the specialised fast path.
#pragma once

#include <string>

#include "core/error.hpp"
#include "kernels/cuda/params.hpp"

namespace mhc::cuda {

constexpr int factorial(int n) { return n <= 1 ? 1 : n * factorial(n - 1); }

template <int N, int KIND>
struct MixShape {
  static constexpr int kRes = KIND == kPermutations ? factorial(N) : N * N;
  static constexpr int kM = 2 * N + kRes;
};

template <int N>
struct IntConst {
  static constexpr int value = N;
};

// Calls f(IntConst<N>{}) for n in 1..8.
template <class F>
void n_switch(int n, F&& f) {
  switch (n) {
    case 1: f(IntConst<1>{}); break;
    case 2: f(IntConst<2>{}); break;
    case 3: f(IntConst<3>{}); break;
    case 4: f(IntConst<4>{}); break;
    case 5: f(IntConst<5>{}); break;
    case 6: f(IntConst<6>{}); break;
    case 7: f(IntConst<7>{}); break;
    case 8: f(IntConst<8>{}); break;
    default: fail(ErrorKind::unsupported, "cuda backend: n = " + std::to_string(n) + " streams (supported: 1..8)");
  }
}

// Calls f(IntConst<N>{}, IntConst<KIND>{}); permutations only for n <= 5 (n! logits).
template <class F>
void n_kind_switch(int n, int kind, F&& f) {
  n_switch(n, [&](auto nc) {
    constexpr int N = decltype(nc)::value;
    switch (kind) {
      case kSinkhorn: f(nc, IntConst<kSinkhorn>{}); break;
      case kSinkhornExp: f(nc, IntConst<kSinkhornExp>{}); break;
      case kIdentity: f(nc, IntConst<kIdentity>{}); break;
      case kPermutations:
        if constexpr (N <= 5) {
          f(nc, IntConst<kPermutations>{});
        } else {
          fail(ErrorKind::unsupported, "cuda backend: the permutation map needs n <= 5");
        }
        break;
      default: fail(ErrorKind::internal, "cuda backend: unknown residual map kind");
    }
  });
}

}  // namespace mhc::cuda
