#include <string>

#include "core/error.hpp"
#include "kernels/mutants/mutant.hpp"

namespace mhc {
namespace {

const std::vector<mutants::MutantEntry>& entries() {
  static const std::vector<mutants::MutantEntry> all = [] {
    std::vector<mutants::MutantEntry> v;
    for (auto* list : {&mutants::forward_mutants, &mutants::backward_mutants, &mutants::post_mutants,
                       &mutants::store_mutants}) {
      for (auto& e : (*list)()) v.push_back(std::move(e));
    }
    return v;
  }();
  return all;
}

}  // namespace

const std::vector<MutantInfo>& mutant_catalog() {
  static const std::vector<MutantInfo> infos = [] {
    std::vector<MutantInfo> v;
    for (const auto& e : entries()) v.push_back(e.info);
    return v;
  }();
  return infos;
}

std::unique_ptr<Backend> make_mutant_backend(std::string_view name) {
  std::string valid;
  for (const auto& e : entries()) {
    if (e.info.name == name) return e.make();
    valid += (valid.empty() ? "" : ", ") + e.info.name;
  }
  invalid_input("unknown mutant \"" + std::string(name) + "\" (choose one of: " + valid + ")");
}

}  // namespace mhc
