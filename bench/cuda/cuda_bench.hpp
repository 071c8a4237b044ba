// Benchmark of the CUDA kernels on device-resident data (issue 4, "Speed"): per operator and
// shape, the median time of `runs` launches after `warmup` launches, each with the L2 cache
// flushed first; the bytes that must move (inputs read once, outputs written once); GB/s; the
// percentage of a device-to-device copy's bandwidth measured in the same run; and the ratio to
// PyTorch eager when its timings are given (bench/cuda/torch_mhc.py writes them).
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace mhc {

struct CudaBenchShape {
  std::int64_t T = 0, n = 4, C = 0;
};

struct CudaBenchOptions {
  std::vector<CudaBenchShape> shapes = {{65536, 4, 1024}, {16384, 4, 7168}};
  std::string preset = "deepseek";
  int repeats = 20;  // Sinkhorn R
  int runs = 50;
  int warmup = 5;
  int device = 0;
  std::string torch_json;  // torch_mhc.py output: {"T,n,C": {"pre_fwd": ms, ...}}; empty: no ratios
  std::string json_out;    // write the results as JSON here too; empty: no file
};

// "T,n,C" -> a shape; anything else is an Error(invalid_input) naming the text.
CudaBenchShape parse_bench_shape(const std::string& text);

// Prints one aligned line per kernel and shape to `out`; returns 0, or throws mhc::Error.
int run_cuda_bench(const CudaBenchOptions& options, std::ostream& out);

}  // namespace mhc
