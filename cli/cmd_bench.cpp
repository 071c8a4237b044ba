// `mhc-verify bench`: the CUDA kernels against the copy roofline (bench/cuda/).
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "cli/common.hpp"
#include "core/error.hpp"
#ifdef MHC_HAVE_CUDA_BENCH
#include "bench/cuda/cuda_bench.hpp"
#endif

namespace mhc::cli {

CLI::App* add_bench(CLI::App& app, int& exit) {
  auto* sub = app.add_subcommand("bench", "time the CUDA kernels against a device-to-device copy (docs/cuda.md)");
#ifdef MHC_HAVE_CUDA_BENCH
  auto options = std::make_shared<CudaBenchOptions>();
  auto shapes = std::make_shared<std::vector<std::string>>();
  sub->add_option("--shape", *shapes, "T,n,C (repeatable; default 65536,4,1024 and 16384,4,7168)");
  sub->add_option("--preset", options->preset, "semantics preset");
  sub->add_option("--repeats", options->repeats, "Sinkhorn iterations R");
  sub->add_option("--runs", options->runs, "timed runs per kernel (median reported)");
  sub->add_option("--warmup", options->warmup, "untimed warm-up runs per kernel");
  sub->add_option("--device", options->device, "CUDA device index");
  sub->add_option("--torch-json", options->torch_json, "bench/cuda/torch_mhc.py output, for the PyTorch ratio");
  sub->add_option("--json", options->json_out, "also write the results as JSON");
  sub->callback([options, shapes, &exit] {
    if (!shapes->empty()) {
      options->shapes.clear();
      for (const auto& s : *shapes) options->shapes.push_back(parse_bench_shape(s));
    }
    exit = run_cuda_bench(*options, std::cout);
  });
#else
  sub->callback([&exit] {
    fail(ErrorKind::environment, "this mhc-verify was built without CUDA: `bench` times the CUDA kernels; "
                                 "the golden's CPU benchmark is bench/golden (docs/golden.md)");
    exit = infrastructure;
  });
#endif
  return sub;
}

}  // namespace mhc::cli
