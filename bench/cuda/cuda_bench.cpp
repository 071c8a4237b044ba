#include "bench/cuda/cuda_bench.hpp"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <utility>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/semantics.hpp"
#include "kernels/cuda/cuda_backend.hpp"
#include "kernels/cuda/cuda_check.hpp"
#include "kernels/cuda/ops.hpp"

namespace mhc {
namespace bench {
void fill_bf16(std::uint16_t* p, std::int64_t count, std::uint32_t salt, float scale);
void fill_f32(float* p, std::int64_t count, std::uint32_t salt, float scale, float offset);
}  // namespace bench

namespace {

// Device allocations of one benchmark shape, freed together.
class Arena {
 public:
  ~Arena() {
    for (void* p : ptrs_) cudaFree(p);
  }
  template <class T>
  T* alloc(std::int64_t count) {
    void* p = nullptr;
    MHC_CUDA_CHECK(cudaMalloc(&p, std::max<std::size_t>(256, sizeof(T) * static_cast<std::size_t>(count))));
    ptrs_.push_back(p);
    return static_cast<T*>(p);
  }

 private:
  std::vector<void*> ptrs_;
};

struct Timing {
  double median_ms = 0;
};

// Median over `runs` timed launches after `warmup`, each preceded by an L2 flush (a memset of a
// buffer twice the L2 size) outside the timed region.
Timing time_op(const std::function<void()>& op, int warmup, int runs, void* flush, std::size_t flush_bytes,
               cudaStream_t stream) {
  cudaEvent_t start, stop;
  MHC_CUDA_CHECK(cudaEventCreate(&start));
  MHC_CUDA_CHECK(cudaEventCreate(&stop));
  std::vector<float> ms;
  for (int r = 0; r < warmup + runs; ++r) {
    MHC_CUDA_CHECK(cudaMemsetAsync(flush, r & 0xFF, flush_bytes, stream));
    MHC_CUDA_CHECK(cudaEventRecord(start, stream));
    op();
    MHC_CUDA_CHECK(cudaEventRecord(stop, stream));
    MHC_CUDA_CHECK(cudaEventSynchronize(stop));
    float t = 0;
    MHC_CUDA_CHECK(cudaEventElapsedTime(&t, start, stop));
    if (r >= warmup) ms.push_back(t);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2]};
}

// Per-kernel times of the pre pipeline (the chain in kernels/cuda/pipeline.cpp, one kernel at a
// time, each after an L2 flush): where the time of pre_fwd and pre_bwd goes.
void print_pre_breakdown(const cuda::PreForwardArgs& f, const cuda::PreBackwardArgs& b, cuda::Workspace& ws,
                         const CudaBenchOptions& o, void* flush, std::size_t flush_bytes, cudaStream_t stream,
                         std::ostream& out) {
  const cuda::PreDims& d = f.d;
  const std::size_t T = static_cast<std::size_t>(d.T), M = d.M, K = static_cast<std::size_t>(d.K());
  // Run the whole chain once so every workspace buffer exists and holds real values.
  cuda::pre_forward(f, ws, stream);
  cuda::pre_backward(b, ws, stream);
  MHC_CUDA_CHECK(cudaStreamSynchronize(stream));
  const cuda::PhiPlan plan = cuda::plan_projection(d);
  const cuda::PhiPrepared phi = cuda::prepare_phi(d, plan, f.phi, f.gamma, ws, stream);
  float* m_part = ws.get<float>("m_part", plan.splits_k * T * M);
  float* s_part = ws.get<float>("s_part", plan.splits_k * T);
  float* h_pre = ws.get<float>("h_pre", T * d.n);
  cuda::MixKernelArgs mix;
  mix.d = d, mix.s = f.s, mix.splits_k = plan.splits_k, mix.m_part = m_part, mix.s_part = s_part;
  mix.alpha = f.alpha, mix.bias = f.bias, mix.h_pre = h_pre, mix.h_post = f.h_post, mix.h_res = f.h_res;
  cuda::CoeffBackwardArgs cb;
  cb.d = d, cb.s = b.s, cb.splits_k = plan.splits_k, cb.m_part = m_part, cb.s_part = s_part;
  cb.alpha = b.alpha, cb.bias = b.bias, cb.dh_pre = ws.get<float>("dh_pre", T * d.n), cb.dh_post = b.dh_post;
  cb.dh_res = b.dh_res, cb.dm = ws.get<float>("dm", T * M), cb.cn = ws.get<float>("cn", T), cb.h_pre = h_pre;
  cb.dz_all = ws.get<float>("dz", T * M);
  cb.sums = ws.get<float>("sums", (T + cuda::kCoeffTokens - 1) / cuda::kCoeffTokens * (M + 3));
  if (b.s.resmap == cuda::kSinkhorn || b.s.resmap == cuda::kSinkhornExp) {
    cb.sinkhorn_scratch = ws.get<float>("sinkhorn_scratch", (b.s.repeats + 1) * static_cast<std::size_t>(d.n) * d.n * T);
  }
  cuda::DxDphiArgs dd;
  dd.d = d, dd.resmap = b.s.resmap, dd.plan = cuda::plan_dx_dphi(d), dd.x = b.x, dd.dy = b.dy;
  dd.phi_folded = phi.folded, dd.dm = cb.dm, dd.cn = cb.cn, dd.h_pre = h_pre, dd.dx = b.dx;
  dd.dphi_part = ws.get<float>("dphi_part", static_cast<std::size_t>(dd.plan.splits_t) * M * K);
  float* const no_blocks[3] = {nullptr, nullptr, nullptr};
  const std::vector<std::pair<const char*, std::function<void()>>> stages = {
      {"prepare_phi", [&] { cuda::prepare_phi(d, plan, f.phi, f.gamma, ws, stream); }},
      {"norm_proj", [&] { cuda::launch_norm_proj(d, plan, f.x, phi, m_part, s_part, stream); }},
      {"mix+resmap", [&] { cuda::launch_mix(mix, stream); }},
      {"apply", [&] { cuda::launch_apply(d, f.x, h_pre, f.y, stream); }},
      {"dh_pre", [&] { cuda::launch_dh_pre(d, b.x, b.dy, const_cast<float*>(cb.dh_pre), stream); }},
      {"coeff_post_res (beside dh_pre)", [&] { cuda::launch_coeff_post_res(cb, stream); }},
      {"coeff_pre", [&] { cuda::launch_coeff_pre(cb, stream); }},
      {"reduce_sums", [&] { cuda::launch_reduce_sums(d, cb.sums, b.dbias, b.dalpha, stream); }},
      {"dx_dphi", [&] { cuda::launch_dx_dphi(dd, stream); }},
      {"reduce_dphi",
       [&] {
         cuda::launch_reduce_dphi(d, dd.plan.splits_t, dd.dphi_part, b.phi, b.gamma, b.dphi, b.dgamma, no_blocks,
                                  b.gamma ? ws.get<float>("dphi_folded", M * K) : nullptr, stream);
       }},
  };
  out << "#   pre stages at " << d.T << "," << d.n << "," << d.C << " (KS = " << plan.splits_k << ", cluster = "
      << plan.cluster << ", token splits = " << dd.plan.splits_t << "):";
  for (const auto& [name, op] : stages) {
    char buf[64];
    std::snprintf(buf, sizeof buf, " %s %.4f", name, time_op(op, o.warmup, o.runs, flush, flush_bytes, stream).median_ms);
    out << buf;
  }
  out << " ms\n";
  if (plan.cluster == 0) return;
  // The cluster kernel with the apply (the fused forward's projection pass).
  cuda::FusedProjArgs fa;
  fa.d = d, fa.s = f.s, fa.x = f.x, fa.phi_folded = phi.folded, fa.alpha = f.alpha, fa.bias = f.bias;
  fa.m_part = m_part, fa.sumsq_part = s_part, fa.y = f.y;
  char buf[96];
  std::snprintf(buf, sizeof buf, "#   pre_fused (norm_proj + h_pre + apply), cluster of %d: %.4f ms", plan.cluster,
                time_op([&] { cuda::launch_pre_fused(fa, plan, stream); }, o.warmup, o.runs, flush, flush_bytes, stream)
                    .median_ms);
  out << buf;
  out << "\n";
}

}  // namespace

CudaBenchShape parse_bench_shape(const std::string& text) {
  CudaBenchShape sh;
  char tail = 0;
  if (std::sscanf(text.c_str(), "%ld,%ld,%ld%c", &sh.T, &sh.n, &sh.C, &tail) != 3) {
    invalid_input("--shape \"" + text + "\": expected T,n,C (e.g. 65536,4,1024)");
  }
  return sh;
}

int run_cuda_bench(const CudaBenchOptions& o, std::ostream& out) {
  if (o.runs < 1 || o.warmup < 0) invalid_input("bench: runs must be >= 1 and warmup >= 0");
  const int devices = cuda_device_count();
  if (devices == 0) {
    fail(ErrorKind::environment, "bench: no CUDA device here; the benchmark times the CUDA kernels, run it on a GPU host "
                                 "(docs/cuda.md: scripts/bundle.sh carries the binaries there)");
  }
  if (o.device < 0 || o.device >= devices) {
    invalid_input("bench: --device " + std::to_string(o.device) + " does not exist (this host has " +
                  std::to_string(devices) + ")");
  }
  MHC_CUDA_CHECK(cudaSetDevice(o.device));
  cudaDeviceProp prop{};
  MHC_CUDA_CHECK(cudaGetDeviceProperties(&prop, o.device));
  cudaStream_t stream;
  MHC_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));

  nlohmann::json torch = nlohmann::json::object();
  if (!o.torch_json.empty()) {
    std::ifstream f(o.torch_json);
    if (!f) invalid_input("bench: cannot read " + o.torch_json);
    torch = nlohmann::json::parse(f, nullptr, false);
    if (torch.is_discarded()) invalid_input("bench: " + o.torch_json + " is not JSON");
  }

  Arena global;
  const std::size_t flush_bytes = std::max<std::size_t>(2 * static_cast<std::size_t>(prop.l2CacheSize), 256u << 20);
  void* flush = global.alloc<std::byte>(static_cast<std::int64_t>(flush_bytes));

  // The roofline: a device-to-device copy of 1 GiB, counting bytes read and written.
  const std::int64_t copy_bytes = std::int64_t{1} << 30;
  auto* src = global.alloc<std::byte>(copy_bytes);
  auto* dst = global.alloc<std::byte>(copy_bytes);
  MHC_CUDA_CHECK(cudaMemsetAsync(src, 1, copy_bytes, stream));
  const Timing copy = time_op([&] { MHC_CUDA_CHECK(cudaMemcpyAsync(dst, src, copy_bytes, cudaMemcpyDeviceToDevice, stream)); },
                              o.warmup, o.runs, flush, flush_bytes, stream);
  const double copy_gbs = 2.0 * copy_bytes / (copy.median_ms * 1e6);
  char line[512];
  std::snprintf(line, sizeof line, "# device %s (%d SMs, L2 %d MiB); preset %s, R = %d; median of %d runs after %d warm-up, L2 flushed\n",
                prop.name, prop.multiProcessorCount, prop.l2CacheSize >> 20, o.preset.c_str(), o.repeats, o.runs, o.warmup);
  out << line;
  std::snprintf(line, sizeof line, "# device-to-device copy: 1 GiB in %.3f ms = %.0f GB/s (read + write)\n", copy.median_ms, copy_gbs);
  out << line;
  std::snprintf(line, sizeof line, "%-12s %-18s %10s %12s %9s %8s %11s %9s\n", "kernel", "shape T,n,C", "time ms",
                "bytes", "GB/s", "% copy", "torch ms", "speedup");
  out << line;

  nlohmann::json results = {{"device", prop.name}, {"copy_gbs", copy_gbs}, {"preset", o.preset},
                            {"repeats", o.repeats}, {"runs", o.runs}, {"rows", nlohmann::json::array()}};

  Semantics sem = preset(o.preset);
  if (sem.resmap == ResMap::sinkhorn || sem.resmap == ResMap::sinkhorn_exp) sem.repeats = o.repeats;
  const cuda::MixSemantics ms = cuda::mix_semantics(sem);

  for (const auto& sh : o.shapes) {
    validate(Shape{sh.T, sh.n, sh.C}, sem);
    cuda::PreDims d;
    d.T = sh.T;
    d.n = static_cast<int>(sh.n);
    d.C = sh.C;
    d.M = static_cast<int>(mix_count(sem.resmap, sh.n));
    const std::int64_t T = d.T, n = d.n, C = d.C, K = d.K(), M = d.M;
    Arena a;
    cuda::Workspace ws;
    cuda::PreForwardArgs f;
    f.d = d;
    f.s = ms;
    auto* x = a.alloc<std::uint16_t>(T * K);
    auto* phi = a.alloc<float>(M * K);
    float* gamma = sem.use_gamma ? a.alloc<float>(K) : nullptr;
    auto* alpha = a.alloc<float>(3);
    auto* bias = a.alloc<float>(M);
    bench::fill_bf16(x, T * K, 1, 1.7f);
    bench::fill_f32(phi, M * K, 2, 1.7f / std::sqrt(static_cast<float>(K)), 0.0f);
    if (gamma) bench::fill_f32(gamma, K, 3, 0.1f, 1.0f);
    bench::fill_f32(alpha, 3, 4, 0.5f, 1.0f);
    bench::fill_f32(bias, M, 5, 0.1f, 0.0f);
    f.x = x, f.phi = phi, f.gamma = gamma, f.alpha = alpha, f.bias = bias;
    f.y = a.alloc<std::uint16_t>(T * C);
    f.h_post = a.alloc<float>(T * n);
    f.h_res = a.alloc<float>(T * n * n);

    cuda::PreBackwardArgs b;
    b.d = d;
    b.s = ms;
    b.x = x, b.phi = phi, b.gamma = gamma, b.alpha = alpha, b.bias = bias;
    auto* dy = a.alloc<std::uint16_t>(T * C);
    auto* dh_post = a.alloc<float>(T * n);
    auto* dh_res = a.alloc<float>(T * n * n);
    bench::fill_bf16(dy, T * C, 6, 1.0f);
    bench::fill_f32(dh_post, T * n, 7, 1.0f, 0.0f);
    bench::fill_f32(dh_res, T * n * n, 8, 1.0f, 0.0f);
    b.dy = dy, b.dh_post = dh_post, b.dh_res = dh_res;
    b.dx = a.alloc<std::uint16_t>(T * K);
    b.dphi = a.alloc<float>(M * K);
    b.dalpha = a.alloc<float>(3);
    b.dbias = a.alloc<float>(M);
    b.dgamma = gamma ? a.alloc<float>(K) : nullptr;

    cuda::PostArgs p;
    p.T = T, p.n = d.n, p.C = C, p.transposed = ms.transposed;
    p.x = x;
    auto* fo = a.alloc<std::uint16_t>(T * C);
    auto* h_post = a.alloc<float>(T * n);
    auto* h_res = a.alloc<float>(T * n * n);
    auto* dout = a.alloc<std::uint16_t>(T * K);
    bench::fill_bf16(fo, T * C, 9, 1.7f);
    bench::fill_f32(h_post, T * n, 10, 0.9f, 1.0f);
    bench::fill_f32(h_res, T * n * n, 11, 0.2f, 0.25f);
    bench::fill_bf16(dout, T * K, 12, 1.7f);
    p.f = fo, p.h_post = h_post, p.h_res = h_res, p.dout = dout;
    p.out = a.alloc<std::uint16_t>(T * K);
    p.dx = a.alloc<std::uint16_t>(T * K);
    p.df = a.alloc<std::uint16_t>(T * C);
    p.dh_post = a.alloc<float>(T * n);
    p.dh_res = a.alloc<float>(T * n * n);
    MHC_CUDA_CHECK(cudaDeviceSynchronize());

    // Bytes that must move: every input read once, every output written once.
    const double params = 4.0 * (M * K + (gamma ? K : 0) + 3 + M);
    const double pre_fwd_bytes = params + 2.0 * T * K + 2.0 * T * C + 4.0 * (T * n + T * n * n);
    const double pre_bwd_bytes = params + 2.0 * T * K + 2.0 * T * C + 4.0 * (T * n + T * n * n) /* upstream */ +
                                 2.0 * T * K + 4.0 * (M * K + 3 + M + (gamma ? K : 0)) /* grads */;
    const double post_fwd_bytes = 2.0 * T * K + 2.0 * T * C + 4.0 * (T * n + T * n * n) + 2.0 * T * K;
    const double post_bwd_bytes = 2.0 * T * K + 2.0 * T * C + 4.0 * (T * n + T * n * n) + 2.0 * T * K /* dout */ +
                                  2.0 * T * K + 2.0 * T * C + 4.0 * (T * n + T * n * n);
    cuda::PreForwardArgs f_saving = f;
    f_saving.tap_m = a.alloc<float>(T * M);
    f_saving.tap_inv_rms = a.alloc<float>(T);
    cuda::PreBackwardArgs b_saved = b;
    b_saved.saved_m = f_saving.tap_m;
    b_saved.saved_inv_rms = f_saving.tap_inv_rms;
    struct Row {
      const char* name;
      double bytes;
      std::function<void()> op;
    };
    const std::vector<Row> rows = {
        {"pre_fwd", pre_fwd_bytes, [&] { cuda::pre_forward(f, ws, stream); }},
        {"pre_bwd", pre_bwd_bytes, [&] { cuda::pre_backward(b, ws, stream); }},
        // Forward and backward of a training step: the backward takes m and r saved by the
        // forward (as an autograd function would) instead of recomputing the projection.
        {"pre_fwd_bwd", pre_fwd_bytes + pre_bwd_bytes,
         [&] {
           cuda::pre_forward(f_saving, ws, stream);
           cuda::pre_backward(b_saved, ws, stream);
         }},
        {"post_fwd", post_fwd_bytes, [&] { cuda::post_forward(p, stream); }},
        {"post_bwd", post_bwd_bytes, [&] { cuda::post_backward(p, stream); }},
        {"post_fwd_bwd", post_fwd_bytes + post_bwd_bytes,
         [&] {
           cuda::post_forward(p, stream);
           cuda::post_backward(p, stream);
         }},
    };
    const std::string key = std::to_string(T) + "," + std::to_string(n) + "," + std::to_string(C);
    for (const auto& row : rows) {
      const Timing t = time_op(row.op, o.warmup, o.runs, flush, flush_bytes, stream);
      const double gbs = row.bytes / (t.median_ms * 1e6);
      double torch_ms = 0;
      if (torch.contains(key) && torch[key].contains(row.name)) torch_ms = torch[key][row.name].get<double>();
      char torch_col[32] = "-", speed_col[32] = "-";
      if (torch_ms > 0) {
        std::snprintf(torch_col, sizeof torch_col, "%.3f", torch_ms);
        std::snprintf(speed_col, sizeof speed_col, "%.1fx", torch_ms / t.median_ms);
      }
      std::snprintf(line, sizeof line, "%-12s %-18s %10.4f %12.0f %9.0f %7.1f%% %11s %9s\n", row.name, key.c_str(),
                    t.median_ms, row.bytes, gbs, 100.0 * gbs / copy_gbs, torch_col, speed_col);
      out << line << std::flush;
      results["rows"].push_back({{"kernel", row.name}, {"shape", key}, {"ms", t.median_ms}, {"bytes", row.bytes},
                                 {"gbs", gbs}, {"pct_copy", 100.0 * gbs / copy_gbs}, {"torch_ms", torch_ms}});
    }
    print_pre_breakdown(f, b, ws, o, flush, flush_bytes, stream, out);
    {
      // The saved-m/r backward must give the bits of the recomputing one.
      auto grads = [&](const cuda::PreBackwardArgs& args) {
        std::vector<std::uint16_t> dx(static_cast<std::size_t>(T * K));
        std::vector<float> rest(static_cast<std::size_t>(M * K + M + 3));
        cuda::pre_backward(args, ws, stream);
        MHC_CUDA_CHECK(cudaMemcpyAsync(dx.data(), args.dx, dx.size() * 2, cudaMemcpyDeviceToHost, stream));
        MHC_CUDA_CHECK(cudaMemcpyAsync(rest.data(), args.dphi, M * K * 4, cudaMemcpyDeviceToHost, stream));
        MHC_CUDA_CHECK(cudaMemcpyAsync(rest.data() + M * K, args.dbias, M * 4, cudaMemcpyDeviceToHost, stream));
        MHC_CUDA_CHECK(cudaMemcpyAsync(rest.data() + M * K + M, args.dalpha, 12, cudaMemcpyDeviceToHost, stream));
        MHC_CUDA_CHECK(cudaStreamSynchronize(stream));
        return std::make_pair(dx, rest);
      };
      const auto recomputed = grads(b);
      cuda::pre_forward(f_saving, ws, stream);
      const auto from_saved = grads(b_saved);
      out << "#   backward with saved m, r bitwise equal to the recomputing one: "
          << (recomputed == from_saved ? "yes" : "NO") << "\n";
    }
    if (torch.contains(key) && torch[key].contains("pre_fwd_bwd_f32")) {
      std::snprintf(line, sizeof line, "# %s: PyTorch autograd in f32 pre fwd+bwd %.3f ms\n", key.c_str(),
                    torch[key]["pre_fwd_bwd_f32"].get<double>());
      out << line;
    }
  }
  MHC_CUDA_CHECK(cudaStreamDestroy(stream));
  if (!o.json_out.empty()) {
    std::ofstream f(o.json_out);
    f << results.dump(2) << "\n";
  }
  return 0;
}

}  // namespace mhc
