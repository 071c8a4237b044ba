#include "verify/random_cases.hpp"

#include <array>
#include <random>

namespace mhc::verify {
namespace {

constexpr std::array<std::int64_t, 7> kStreams = {1, 2, 3, 4, 5, 8, 6};
constexpr std::array<const char*, 4> kPresets = {"deepseek", "mhc_ops", "lite", "paper"};
constexpr std::array<const char*, 6> kDistributions = {"normal", "uniform", "zero_rows", "near_zero_rows",
                                                       "wide_logits", "small_int"};
// Sizes at and just past powers of two and common tile widths.
constexpr std::array<std::int64_t, 12> kChannels = {1, 7, 16, 31, 32, 33, 63, 64, 65, 127, 129, 257};
constexpr std::array<std::int64_t, 9> kTokens = {0, 1, 2, 3, 5, 13, 17, 33, 64};

CaseSpec assemble(Op op, std::int64_t T, std::int64_t n, std::int64_t C, std::size_t preset, std::size_t dist,
                  std::uint64_t seed, int repeats, bool amplified_eps) {
  CaseSpec spec;
  spec.op = op;
  spec.preset = kPresets[preset];
  spec.semantics = mhc::preset(spec.preset);
  if (spec.semantics.resmap == ResMap::permutations && n > 5) n = 4;
  spec.shape = Shape{T, n, C};
  spec.seed = seed;
  spec.distribution = kDistributions[dist];
  if (spec.semantics.resmap == ResMap::sinkhorn || spec.semantics.resmap == ResMap::sinkhorn_exp) {
    spec.semantics.repeats = repeats;
  }
  if (amplified_eps && spec.semantics.resmap == ResMap::sinkhorn) {
    spec.semantics.eps_sk = 1e-2;
    spec.semantics.eps_rms = 1e-2;
  }
  return spec;
}

}  // namespace

void showValue(const CaseSpec& spec, std::ostream& os) { os << spec.to_string(); }

CaseSpec random_case(std::uint64_t index, std::int64_t max_elements) {
  std::mt19937_64 rng(0x6d6863ULL ^ (index * 0x9E3779B97F4A7C15ULL));
  auto pick = [&](std::size_t size) { return static_cast<std::size_t>(rng() % size); };
  const Op op = rng() % 2 ? Op::pre : Op::post;
  const std::int64_t n = kStreams[pick(kStreams.size())];
  const std::int64_t C = kChannels[pick(kChannels.size())];
  std::int64_t T = kTokens[pick(kTokens.size())];
  while (T > 1 && T * n * C > max_elements) T /= 2;
  const int repeats = static_cast<int>(1 + rng() % 20);
  return assemble(op, T, n, C, pick(kPresets.size()), pick(kDistributions.size()), rng() % 1000, repeats,
                  rng() % 8 == 0);
}

}  // namespace mhc::verify

namespace rc {

Gen<mhc::verify::CaseSpec> Arbitrary<mhc::verify::CaseSpec>::arbitrary() {
  using namespace mhc::verify;
  return gen::apply(
      [](bool pre, std::size_t n_index, std::int64_t T, std::int64_t C, std::size_t preset, std::size_t dist,
         std::uint64_t seed, int repeats, bool amplified_eps) {
        return assemble(pre ? Op::pre : Op::post, T, kStreams[n_index], C, preset, dist, seed, repeats, amplified_eps);
      },
      gen::arbitrary<bool>(), gen::inRange<std::size_t>(0, kStreams.size()), gen::inRange<std::int64_t>(0, 40),
      gen::inRange<std::int64_t>(1, 160), gen::inRange<std::size_t>(0, kPresets.size()),
      gen::inRange<std::size_t>(0, kDistributions.size()), gen::inRange<std::uint64_t>(0, 1000),
      gen::inRange(1, 21), gen::arbitrary<bool>());
}

}  // namespace rc
