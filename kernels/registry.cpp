#include <string>

#include "core/error.hpp"
#include "kernels/backend.hpp"
#include "kernels/cuda/cuda_backend.hpp"
#include "kernels/emulated/emulated.hpp"
#include "kernels/golden_backend.hpp"
#include "kernels/mutants/mutants.hpp"

namespace mhc {

std::vector<std::string> backend_names() {
  std::vector<std::string> names = {"auto", "golden", "f32"};
  for (const auto& e : emulated_names()) names.push_back(e);
  if (cuda_device_count() > 0) names.push_back("cuda");
  for (const auto& m : mutant_catalog()) names.push_back("mutant:" + m.name);
  return names;
}

std::unique_ptr<Backend> make_backend(std::string_view name) {
  if (name == "auto") return cuda_device_count() > 0 ? make_cuda_backend(0) : make_emulated_backend({});
  if (name == "golden") return make_golden_backend();
  if (name == "f32") return make_plain_f32_backend();
  if (name == "cuda") return make_cuda_backend(0);
  if (name.starts_with("cuda:")) {
    const std::string index(name.substr(5));
    if (index.empty() || index.find_first_not_of("0123456789") != std::string::npos) {
      invalid_input("backend \"" + std::string(name) + "\": expected cuda:<device index>");
    }
    return make_cuda_backend(std::stoi(index));
  }
  if (is_emulated_name(name)) return make_emulated_backend(parse_emulated_name(name));
  if (name.starts_with("mutant:")) return make_mutant_backend(name.substr(7));
  invalid_input("unknown backend \"" + std::string(name) +
                "\" (choose auto, golden, f32, cuda, emulated[:tf32|:bf16gemm|:bf16dx][+reorder] or mutant:<name>; "
                "`mhc-verify info` lists them all)");
}

}  // namespace mhc
