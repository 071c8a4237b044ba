// Internal: the base of every mutant and the per-file lists the catalog joins.
//
// A mutant is the emulated backend (default options) with exactly one step overridden, so
// everything except its bug has the emulated arithmetic and the verifier's localisation is
// meaningful. Its baseline stays "emulated+reorder", the baseline of the kernel it imitates.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "kernels/emulated/emulated_backend.hpp"
#include "kernels/mutants/mutants.hpp"

namespace mhc::mutants {

class Mutant : public emulated::EmulatedBackend {
 public:
  explicit Mutant(std::string name) : EmulatedBackend(EmulatedOptions{}), name_(std::move(name)) {}
  std::string name() const override { return "mutant:" + name_; }

 private:
  std::string name_;
};

struct MutantEntry {
  MutantInfo info;
  std::function<std::unique_ptr<Backend>()> make;
};

template <class M>
MutantEntry entry(MutantInfo info) {
  const std::string name = info.name;
  return {std::move(info), [name] { return std::make_unique<M>(name); }};
}

// One list per file, by where the bug lives.
std::vector<MutantEntry> forward_mutants();   // projection, norm, apply, Sinkhorn forward
std::vector<MutantEntry> backward_mutants();  // pre backward steps and sums over tokens
std::vector<MutantEntry> post_mutants();      // the post op's use of H
std::vector<MutantEntry> store_mutants();     // launch grids, output/input buffers, crashes

}  // namespace mhc::mutants
