// mhc_bench_cuda: the CUDA kernel benchmark (bench/cuda/cuda_bench.hpp). Example:
//   mhc_bench_cuda --torch torch.json --json bench.json
//   mhc_bench_cuda --shape 65536,4,1024 --shape 16384,4,7168 --runs 50
#include <CLI/CLI.hpp>

#include <iostream>
#include <string>
#include <vector>

#include "bench/cuda/cuda_bench.hpp"
#include "core/error.hpp"

int main(int argc, char** argv) {
  mhc::CudaBenchOptions options;
  std::vector<std::string> shapes;
  CLI::App app{"Benchmark of the mhc-verify CUDA kernels against the copy roofline and PyTorch eager"};
  app.add_option("--shape", shapes, "T,n,C (repeatable; default 65536,4,1024 and 16384,4,7168)");
  app.add_option("--preset", options.preset, "semantics preset")->capture_default_str();
  app.add_option("--repeats", options.repeats, "Sinkhorn repeats R")->capture_default_str();
  app.add_option("--runs", options.runs, "timed runs (median)")->capture_default_str();
  app.add_option("--warmup", options.warmup, "untimed warm-up runs")->capture_default_str();
  app.add_option("--device", options.device, "CUDA device index")->capture_default_str();
  app.add_option("--torch", options.torch_json, "timings from bench/cuda/torch_mhc.py (JSON)");
  app.add_option("--json", options.json_out, "write the results as JSON");
  CLI11_PARSE(app, argc, argv);
  try {
    if (!shapes.empty()) {
      options.shapes.clear();
      for (const auto& s : shapes) options.shapes.push_back(mhc::parse_bench_shape(s));
    }
    return mhc::run_cuda_bench(options, std::cout);
  } catch (const mhc::Error& e) {
    std::cerr << "mhc_bench_cuda: " << e.what() << "\n";
    return e.kind() == mhc::ErrorKind::invalid_input ? 2 : 3;
  }
}
