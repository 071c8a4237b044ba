// RapidCheck properties over random shapes, seeds and presets for the golden's invariants. The
// generators choose shapes and seeds only (n through an index into a list, never gen::element);
// tensors come from the seed.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <numeric>

#include "invariants.hpp"

namespace mhc::test {
namespace {

const std::vector<std::string> kPresets = {"deepseek", "mhc_ops", "lite", "paper"};
const std::vector<std::int64_t> kStreams = {1, 2, 3, 4, 5, 8};

struct Drawn {
  Semantics s;
  std::int64_t T, n, C;
  std::uint64_t seed;
};

Drawn draw() {
  Drawn d;
  const auto preset_index = *rc::gen::inRange<std::size_t>(0, kPresets.size());
  d.s = preset(kPresets[preset_index]);
  d.s.use_gamma = *rc::gen::arbitrary<bool>();
  d.s.merged_residual = *rc::gen::arbitrary<bool>();
  const std::size_t max_n = d.s.resmap == ResMap::permutations ? 5 : kStreams.size();
  d.n = kStreams[*rc::gen::inRange<std::size_t>(0, max_n)];
  d.T = *rc::gen::inRange<std::int64_t>(0, 9);
  d.C = *rc::gen::inRange<std::int64_t>(1, 12);
  d.seed = *rc::gen::arbitrary<std::uint64_t>();
  RC_TAG(kPresets[preset_index]);
  return d;
}

RC_GTEST_PROP(GoldenProperties, HPostInRangeAndSinkhornColumnsSumToOne, ()) {
  const Drawn d = draw();
  const PreCase c = make_pre_case(d.s, d.T, d.n, d.C, d.seed, 2.0);
  Semantics plain = d.s;
  plain.merged_residual = false;  // the marginals are those of H itself
  const ref::PreForward out = ref::pre_forward(plain, c.args(), nullptr);
  for (double h : values(out.h_post)) RC_ASSERT(h > 0.0 && h < d.s.post_mult);
  if (d.T > 0 && (d.s.resmap == ResMap::sinkhorn || d.s.resmap == ResMap::sinkhorn_exp)) {
    RC_ASSERT(marginals(out.h_res).col <= static_cast<double>(d.n) * d.s.eps_sk + 1e-12);
  }
  if (d.T > 0 && d.s.resmap == ResMap::permutations) {  // a convex combination of permutations
    const Marginals m = marginals(out.h_res);
    RC_ASSERT(m.row <= 1e-12 && m.col <= 1e-12);
  }
}

RC_GTEST_PROP(GoldenProperties, BackwardLinearInUpstream, ()) {
  const Drawn d = draw();
  const PreCase c1 = make_pre_case(d.s, d.T, d.n, d.C, d.seed);
  const PreCase c2 = make_pre_case(d.s, d.T, d.n, d.C, d.seed + 1);
  RC_ASSERT(linearity_error(c1, c2, 1.5, -0.25) <= 1e-11);
}

RC_GTEST_PROP(GoldenProperties, ComponentsSumToTotals, ()) {
  const Drawn d = draw();
  RC_ASSERT(components_error(make_pre_case(d.s, d.T, d.n, d.C, d.seed)) <= 1e-12);
}

RC_GTEST_PROP(GoldenProperties, StreamPermutationEquivariance, ()) {
  const Drawn d = draw();
  std::vector<int> pi(static_cast<std::size_t>(d.n));
  std::iota(pi.begin(), pi.end(), 0);
  // A random permutation drawn as a sequence of swap indices (shrinks towards the identity).
  for (std::size_t i = pi.size(); i > 1; --i) std::swap(pi[i - 1], pi[*rc::gen::inRange<std::size_t>(0, i)]);
  RC_ASSERT(equivariance_error(make_pre_case(d.s, d.T, d.n, d.C, d.seed, 2.0), pi) <= 1e-11);
}

}  // namespace
}  // namespace mhc::test
