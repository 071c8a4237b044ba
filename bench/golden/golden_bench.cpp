// Times the golden's pre forward + backward (all five gradients, gamma on) and reports peak RSS
// against the size of the call's inputs and outputs counted as f64.
//
//   OMP_NUM_THREADS=2 mhc_bench_golden --tokens 4096 --streams 4 --hidden 1024 --repeats 20
//
// Prints one aligned line per measurement, then a JSON line (prefix "json: ") that
// golden_vs_torch.py reads. Inputs are bf16 activations and f32 parameters, as a GPU kernel sees.
#include <sys/resource.h>
#include <omp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <random>
#include <stdexcept>
#include <utility>
#include <vector>

#include "reference/golden.hpp"

namespace {

mhc::Tensor normal(mhc::DType dtype, std::vector<std::int64_t> shape, double stddev, std::mt19937_64& rng) {
  mhc::Tensor t(mhc::DType::f32, std::move(shape));
  std::normal_distribution<float> dist(0.0f, static_cast<float>(stddev));
  for (std::int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(rng);
  return t.to(dtype);
}

// Peak resident set of this process image. VmHWM, not getrusage's ru_maxrss: the latter
// survives exec, so a bench started from a large parent (python with torch loaded) would report
// the parent's peak.
double peak_rss_bytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) * 1024.0;
  }
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) * 1024.0;
}

void write_f64(const std::string& dir, const std::string& name, const mhc::Tensor& t) {
  const std::vector<double> v = t.to_f64_vector();
  std::ofstream f(dir + "/" + name + ".f64", std::ios::binary);
  f.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(double)));
  if (!f) throw std::runtime_error("cannot write " + dir + "/" + name + ".f64");
}

double f64_bytes(std::initializer_list<const mhc::Tensor*> tensors) {
  double n = 0;
  for (const mhc::Tensor* t : tensors) n += t->defined() ? static_cast<double>(t->numel()) * 8.0 : 0.0;
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Golden pre forward + backward timing"};
  std::int64_t T = 4096, n = 4, C = 1024;
  int repeats = 20, reps = 5;
  std::string preset_name = "deepseek";
  app.add_option("--tokens", T, "T");
  app.add_option("--streams", n, "n");
  app.add_option("--hidden", C, "C");
  app.add_option("--preset", preset_name, "semantics preset");
  app.add_option("--repeats", repeats, "Sinkhorn iterations R");
  std::string dump_dir;
  app.add_option("--dump", dump_dir, "also write inputs, outputs and gradients as raw little-endian f64 files "
                                     "<name>.f64 into this existing directory (golden_vs_torch.py --check reads them)");
  app.add_option("--reps", reps, "timed repetitions (the minimum is reported)")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);

  mhc::Semantics s = mhc::preset(preset_name);
  s.repeats = repeats;
  s.use_gamma = true;
  const std::int64_t K = n * C, M = mhc::mix_count(s.resmap, n);
  std::mt19937_64 rng(1);
  const mhc::Tensor x = normal(mhc::DType::bf16, {T, n, C}, 1.0, rng);
  const mhc::Tensor phi = normal(mhc::DType::f32, {M, K}, 1.0 / std::sqrt(static_cast<double>(K)), rng);
  const mhc::Tensor gamma = normal(mhc::DType::f32, {K}, 0.1, rng);
  const mhc::Tensor alpha = normal(mhc::DType::f32, {3}, 1.0, rng);
  const mhc::Tensor bias = normal(mhc::DType::f32, {M}, 0.5, rng);
  const mhc::Tensor dy = normal(mhc::DType::bf16, {T, C}, 1.0, rng);
  const mhc::Tensor dh_post = normal(mhc::DType::f32, {T, n}, 1.0, rng);
  const mhc::Tensor dh_res = normal(mhc::DType::f32, {T, n, n}, 1.0, rng);
  const mhc::ref::PreArgs in{x, phi, gamma, alpha, bias};
  const mhc::ref::PreUpstreamArgs up{dy, dh_post, dh_res};

  std::vector<double> seconds, forward_seconds;
  double io_bytes = 0;
  for (int rep = 0; rep <= reps; ++rep) {  // rep 0 warms up
    const auto t0 = std::chrono::steady_clock::now();
    const mhc::ref::PreForward out = mhc::ref::pre_forward(s, in, nullptr);
    const auto t1 = std::chrono::steady_clock::now();
    const mhc::ref::PreGradients g = mhc::ref::pre_backward(s, in, up, nullptr);
    const auto t2 = std::chrono::steady_clock::now();
    if (rep > 0) {
      seconds.push_back(std::chrono::duration<double>(t2 - t0).count());
      forward_seconds.push_back(std::chrono::duration<double>(t1 - t0).count());
    }
    io_bytes = f64_bytes({&x, &phi, &gamma, &alpha, &bias, &dy, &dh_post, &dh_res, &out.y, &out.h_post, &out.h_res,
                          &g.dx, &g.dphi, &g.dalpha, &g.dbias, &g.dgamma});
  }
  if (!dump_dir.empty()) {
    const mhc::ref::PreForward out = mhc::ref::pre_forward(s, in, nullptr);
    const mhc::ref::PreGradients g = mhc::ref::pre_backward(s, in, up, nullptr);
    const std::pair<const char*, const mhc::Tensor*> named[] = {
        {"x", &x},         {"phi", &phi},         {"gamma", &gamma},   {"alpha", &alpha},   {"bias", &bias},
        {"dy", &dy},       {"dh_post", &dh_post}, {"dh_res", &dh_res}, {"y", &out.y},       {"h_post", &out.h_post},
        {"h_res", &out.h_res}, {"dx", &g.dx},     {"dphi", &g.dphi},   {"dalpha", &g.dalpha}, {"dbias", &g.dbias},
        {"dgamma", &g.dgamma}};
    for (const auto& [name, tensor] : named) write_f64(dump_dir, name, *tensor);
  }
  std::sort(seconds.begin(), seconds.end());
  std::sort(forward_seconds.begin(), forward_seconds.end());
  const double rss = peak_rss_bytes();
  const double best = seconds.front(), median = seconds[seconds.size() / 2];
  // GEMM work: forward m, and in the backward the recomputed m, dx_mm and dphi (2 M K flops each).
  const double gflop = 4.0 * 2.0 * static_cast<double>(T) * static_cast<double>(M) * static_cast<double>(K) / 1e9;
  std::printf("golden pre fwd+bwd  T=%lld n=%lld C=%lld %s R=%d gamma  threads=%d  best %.3f s  median %.3f s  "
              "(%.1f GFLOP/s in the 4 GEMMs)\n",
              static_cast<long long>(T), static_cast<long long>(n), static_cast<long long>(C), preset_name.c_str(),
              repeats, omp_get_max_threads(), best, median, gflop / best);
  std::printf("  of which forward best %.3f s\n", forward_seconds.front());
  std::printf("peak RSS %.0f MiB = %.2f x the f64 size of inputs + outputs (%.0f MiB)\n", rss / 1048576.0,
              rss / io_bytes, io_bytes / 1048576.0);
  std::printf("json: {\"best_s\": %.6f, \"median_s\": %.6f, \"threads\": %d, \"peak_rss_bytes\": %.0f, "
              "\"f64_io_bytes\": %.0f}\n",
              best, median, omp_get_max_threads(), rss, io_bytes);
  return 0;
}
