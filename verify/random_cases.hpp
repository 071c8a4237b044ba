// Random cases for the property-based tester and the self-test's false-failure check. Cases, not
// tensors, are random (tensors come from the case's seed). The distribution leans on what BUGS.md
// says exposes real bugs: n != 4, sizes just past powers of two and tile edges, zero and near-zero
// rows, wide logits with few Sinkhorn iterations, amplified eps, per-token distinct H.
#pragma once

#include <cstdint>
#include <ostream>

#include <rapidcheck.h>

#include "verify/case.hpp"

namespace mhc::verify {

// Deterministic: the same index gives the same case on every machine.
CaseSpec random_case(std::uint64_t index, std::int64_t max_elements = 1 << 15);

// How RapidCheck prints a case (found by argument-dependent lookup): its case line, which
// reproduces it, instead of a placeholder.
void showValue(const CaseSpec& spec, std::ostream& os);

}  // namespace mhc::verify

namespace rc {

// RapidCheck generator: shrinks towards small T, n, C (n through an index into a list of stream
// counts, never gen::element, so shrinking walks down the list).
template <>
struct Arbitrary<mhc::verify::CaseSpec> {
  static Gen<mhc::verify::CaseSpec> arbitrary();
};

}  // namespace rc
