// Mutants whose bug is in where results are stored or in which order they are summed: launch
// grids that miss part of the output, dx written through the input pointer, a racy reduction, and
// a kernel that crashes its process.
#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <numeric>
#include <random>
#include <vector>

#include "kernels/emulated/problem.hpp"
#include "kernels/mutants/mutant.hpp"
#include "kernels/taps.hpp"

namespace mhc::mutants {
namespace {

// mhc_ops: the dx grid (T, cdiv(n, BLOCK_N)) = (T, 1) covers only stream 0; streams 1..n-1 keep
// the zeros of their fresh buffer.
class DxGridStream0 : public Mutant {
 public:
  using Mutant::Mutant;

  PreGrads pre_backward(const Semantics& s, const PreInputs& in, const PreUpstream& up, TensorMap* parts) override {
    PreGrads g = Mutant::pre_backward(s, in, up, parts);
    const std::int64_t T = g.dx.dim(0), n = g.dx.dim(1), C = g.dx.dim(2);
    bf16* dx = g.dx.data<bf16>();
    for (std::int64_t t = 0; t < T; ++t) std::fill(dx + (t * n + 1) * C, dx + (t + 1) * n * C, bf16{});
    return g;
  }
};

// flashinfer #3285: a launch sized for 16384 elements; past that flat index out is never written
// and keeps the zeros of its fresh buffer.
class TailUntouched : public Mutant {
 public:
  using Mutant::Mutant;

  PostOutputs post_forward(const Semantics& s, const PostInputs& in, TensorMap* taps) override {
    constexpr std::int64_t kCovered = 16384;
    PostOutputs o = Mutant::post_forward(s, in, taps);
    bf16* out = o.out.data<bf16>();
    if (o.out.numel() > kCovered) std::fill(out + kCovered, out + o.out.numel(), bf16{});
    return o;
  }
};

// mhc_ops: dx stored through the x pointer. The caller's x is overwritten with dx (the returned
// dx is right, so only an inputs-unchanged check catches it).
class DxIntoInput : public Mutant {
 public:
  using Mutant::Mutant;

  PreGrads pre_backward(const Semantics& s, const PreInputs& in, const PreUpstream& up, TensorMap* parts) override {
    PreGrads g = Mutant::pre_backward(s, in, up, parts);
    Tensor& x = const_cast<Tensor&>(in.x);  // the bug: writing through an input
    std::vector<float> row(static_cast<std::size_t>(g.dx.numel()));
    emulated::widen_row(g.dx, 0, g.dx.numel(), row.data());
    if (x.dtype() == DType::f64) {
      std::copy(row.begin(), row.end(), x.data<double>());
    } else {
      emulated::store_row(x, 0, x.numel(), row.data());
    }
    return g;
  }
};

// TransformerEngine #2790: dbias summed with one atomic add per token, so the order of the f32
// additions (and the rounded result) changes from run to run. The order here is a shuffle seeded
// by a per-process call counter, so two calls differ while each stays reproducible in a debugger.
class NondeterministicReduction : public Mutant {
 public:
  using Mutant::Mutant;

  PreGrads pre_backward(const Semantics& s, const PreInputs& in, const PreUpstream& up, TensorMap* parts) override {
    TensorMap own_parts;
    TensorMap* dz_source = parts ? parts : &own_parts;
    PreGrads g = Mutant::pre_backward(s, in, up, dz_source);
    const Tensor& dz = dz_source->at(std::string(taps::dz));
    const std::int64_t T = dz.dim(0), M = dz.dim(1);
    std::vector<std::int64_t> order(T);
    std::iota(order.begin(), order.end(), 0);
    static std::atomic<std::uint64_t> calls{0};
    std::mt19937_64 rng(0x5eedULL + calls.fetch_add(1));
    std::shuffle(order.begin(), order.end(), rng);
    float* dbias = g.dbias.data<float>();
    std::fill(dbias, dbias + M, 0.0f);
    for (const std::int64_t t : order) {
      for (std::int64_t j = 0; j < M; ++j) dbias[j] += dz.data<float>()[t * M + j];
    }
    if (parts) {
      const std::int64_t n = in.x.dim(1);
      const std::int64_t begin[3] = {0, n, 2 * n}, end[3] = {n, 2 * n, M};
      for (int b = 0; b < 3; ++b) {
        Tensor& part = (*parts)[taps::dbias_block(taps::blocks[b])];
        std::copy(dbias + begin[b], dbias + end[b], part.data<float>());
      }
    }
    return g;
  }
};

// A kernel that faults (an illegal address on a GPU): the process dies with SIGSEGV. The server's
// worker isolation must contain it; the self-test skips it (diagnosis "crash").
class CrashOutOfBounds : public Mutant {
 public:
  using Mutant::Mutant;

  PreOutputs pre_forward(const Semantics&, const PreInputs&, TensorMap*) override { crash(); }
  PreGrads pre_backward(const Semantics&, const PreInputs&, const PreUpstream&, TensorMap*) override { crash(); }
  PostOutputs post_forward(const Semantics&, const PostInputs&, TensorMap*) override { crash(); }
  PostGrads post_backward(const Semantics&, const PostInputs&, const PostUpstream&, TensorMap*) override { crash(); }

 private:
  // raise() rather than a wild write: a real out-of-bounds store is undefined behaviour that an
  // optimiser may remove, and this must die reliably.
  [[noreturn]] static void crash() {
    std::raise(SIGSEGV);
    std::abort();  // only reached when a handler returned
  }
};

}  // namespace

std::vector<MutantEntry> store_mutants() {
  return {
      entry<DxGridStream0>({"dx_grid_stream0", "pre",
                            "the dx launch grid covers only stream 0; streams 1..n-1 of dx stay exactly zero",
                            "mhc_ops grid (T, cdiv(n, BLOCK_N))", "dx", "", "bounds_streams"}),
      entry<TailUntouched>({"tail_untouched", "post",
                            "the post launch covers 16384 elements; out past that flat index is never written",
                            "flashinfer #3285", "out", "", "bounds_tail"}),
      entry<DxIntoInput>({"dx_into_input", "pre", "dx is also stored through the input pointer x",
                          "mhc_ops backward", "x", "", "inputs_modified"}),
      entry<NondeterministicReduction>({"nondeterministic_reduction", "pre",
                                        "dbias is summed over tokens in an order that changes from run to run "
                                        "(atomics)",
                                        "TransformerEngine #2790", "dbias", "", "nondeterminism"}),
      entry<CrashOutOfBounds>({"crash_out_of_bounds", "pre",
                               "the kernel faults (illegal address) and takes its process down with SIGSEGV",
                               "any kernel with an out-of-bounds store", "", "", "crash"}),
  };
}

}  // namespace mhc::mutants
