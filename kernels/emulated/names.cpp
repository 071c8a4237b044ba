#include <string>

#include "core/error.hpp"
#include "kernels/emulated/emulated.hpp"
#include "kernels/emulated/emulated_backend.hpp"

namespace mhc {
namespace {

constexpr std::string_view kReorder = "+reorder";

struct GemmName {
  std::string_view suffix;  // after "emulated"
  EmulatedOptions options;
};

// The precision modes; "+reorder" may follow each.
std::vector<GemmName> modes() {
  EmulatedOptions tf32, bf16gemm, bf16dx;
  tf32.gemm = EmulatedOptions::Gemm::tf32_phi;
  bf16gemm.gemm = EmulatedOptions::Gemm::bf16_out;
  bf16dx.bf16_dx_stages = true;
  return {{"", {}}, {":tf32", tf32}, {":bf16gemm", bf16gemm}, {":bf16dx", bf16dx}};
}

}  // namespace

std::vector<std::string> emulated_names() {
  std::vector<std::string> names;
  for (const auto& m : modes()) {
    names.push_back("emulated" + std::string(m.suffix));
    names.push_back("emulated" + std::string(m.suffix) + std::string(kReorder));
  }
  return names;
}

bool is_emulated_name(std::string_view name) {
  for (const auto& n : emulated_names()) {
    if (n == name) return true;
  }
  return false;
}

EmulatedOptions parse_emulated_name(std::string_view name) {
  std::string_view base = name;
  const bool reorder = base.ends_with(kReorder);
  if (reorder) base.remove_suffix(kReorder.size());
  for (const auto& m : modes()) {
    if (base == "emulated" + std::string(m.suffix)) {
      EmulatedOptions o = m.options;
      o.reorder = reorder;
      return o;
    }
  }
  invalid_input("unknown emulated backend \"" + std::string(name) +
                "\" (choose emulated[:tf32|:bf16gemm|:bf16dx][+reorder])");
}

std::string emulated_name(const EmulatedOptions& options) {
  std::string name = "emulated";
  if (options.gemm == EmulatedOptions::Gemm::tf32_phi) name += ":tf32";
  if (options.gemm == EmulatedOptions::Gemm::bf16_out) name += ":bf16gemm";
  if (options.bf16_dx_stages) name += ":bf16dx";
  if (options.reorder) name += std::string(kReorder);
  return name;
}

std::unique_ptr<Backend> make_emulated_backend(const EmulatedOptions& options) {
  return std::make_unique<emulated::EmulatedBackend>(options);
}

namespace emulated {

std::string EmulatedBackend::baseline_name() const {
  EmulatedOptions baseline = options_;
  baseline.reorder = !baseline.reorder;
  return emulated_name(baseline);
}

}  // namespace emulated
}  // namespace mhc
