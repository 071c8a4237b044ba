// `mhc-verify info`: what this build can do on this machine.
#include <iostream>

#include <fmt/format.h>
#include <omp.h>

#include "cli/common.hpp"
#include "core/semantics.hpp"
#include "kernels/backend.hpp"
#include "kernels/cuda/cuda_backend.hpp"
#include "verify/tolerance.hpp"

namespace mhc::cli {

CLI::App* add_info(CLI::App& app, int& exit) {
  auto* sub = app.add_subcommand("info", "devices, backends, presets, tolerance profiles, versions");
  sub->callback([&exit] {
    std::cout << fmt::format("mhc-verify {}\n", MHC_VERSION);
    std::cout << fmt::format("OpenMP threads: {}\n", omp_get_max_threads());
    const auto devices = cuda_device_descriptions();
    std::cout << "CUDA devices: " << (devices.empty() ? "none (the default backend is emulated)" : "") << "\n";
    for (const auto& d : devices) std::cout << "  " << d << "\n";
    std::cout << "backends:\n";
    for (const auto& b : backend_names()) std::cout << "  " << b << "\n";
    std::cout << "presets:\n";
    for (const auto& p : preset_names()) {
      const auto fields = to_fields(preset(p));
      std::cout << fmt::format("  {:<9} resmap={} R={} orientation={} gamma={} eps_rms={} p={}\n", p,
                               fields.at("resmap"), fields.at("repeats"), fields.at("orientation"), fields.at("use_gamma"),
                               fields.at("eps_rms"), fields.at("post_mult"));
    }
    std::cout << "tolerance profiles:";
    for (const auto& t : verify::tolerance_profile_names()) std::cout << " " << t;
    std::cout << "\n";
    exit = ok;
  });
  return sub;
}

}  // namespace mhc::cli
