// The `cuda` backend: validates host tensors, copies them to cached device buffers, runs the
// kernels (ops.hpp) on the backend's stream and copies the results back. Outputs follow the
// GPU-precision convention of kernels/backend.hpp: bf16 y, out, dx, df; f32 for the rest;
// taps and components are f32 (y stays bf16).
#include "kernels/cuda/cuda_backend.hpp"

#include <cuda_runtime_api.h>

#include <cstring>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "kernels/cuda/cuda_check.hpp"
#include "kernels/cuda/ops.hpp"
#include "kernels/taps.hpp"

namespace mhc {
namespace cuda {

namespace {

std::string shape_string(const std::vector<std::int64_t>& shape) {
  std::string out = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) out += (i ? "," : "") + std::to_string(shape[i]);
  return out + "]";
}

void require_shape(const Tensor& t, const char* name, const std::vector<std::int64_t>& shape) {
  if (!t.defined()) invalid_input(std::string("cuda backend: tensor ") + name + " is missing");
  if (t.shape() != shape) {
    invalid_input(std::string("cuda backend: tensor ") + name + " has shape " + shape_string(t.shape()) +
                  ", expected " + shape_string(shape));
  }
}

// Activations stay bf16 on the device: an f32 activation would be rounded, changing the case.
void require_bf16(const Tensor& t, const char* name, const std::vector<std::int64_t>& shape) {
  require_shape(t, name, shape);
  if (t.dtype() != DType::bf16) {
    fail(ErrorKind::unsupported, std::string("cuda backend: ") + name + " must be bf16 (got " +
                                     std::string(dtype_name(t.dtype())) + "); the kernels stream bf16 activations");
  }
}

Tensor as_f32(const Tensor& t) { return t.dtype() == DType::f32 ? t : t.to(DType::f32); }

PreDims pre_dims(const Semantics& s, const Tensor& x) {
  if (!x.defined() || x.rank() != 3) invalid_input("cuda backend: x must be a [T, n, C] tensor");
  PreDims d;
  d.T = x.dim(0);
  d.n = static_cast<int>(x.dim(1));
  d.C = x.dim(2);
  validate(Shape{d.T, d.n, d.C}, s);
  d.M = static_cast<int>(mix_count(s.resmap, d.n));
  return d;
}

}  // namespace

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int device) : device_(device) {
    const int count = cuda_device_count();
    if (count == 0) {
      fail(ErrorKind::environment, "cuda backend: no CUDA device found (no GPU or no driver); use --backend emulated");
    }
    if (device < 0 || device >= count) {
      invalid_input("cuda backend: device " + std::to_string(device) + " does not exist (" + std::to_string(count) +
                    " device(s))");
    }
    MHC_CUDA_CHECK(cudaSetDevice(device_));
    MHC_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  }
  ~CudaBackend() override {
    cudaSetDevice(device_);
    ws_.release();
    if (stream_) cudaStreamDestroy(stream_);
  }

  std::string name() const override { return device_ == 0 ? "cuda" : "cuda:" + std::to_string(device_); }

  PreOutputs pre_forward(const Semantics& s, const PreInputs& in, TensorMap* taps) override {
    MHC_CUDA_CHECK(cudaSetDevice(device_));
    const PreDims d = pre_dims(s, in.x);
    PreForwardArgs a;
    a.d = d;
    a.s = mix_semantics(s);
    upload_pre_inputs(s, d, in, a.x, a.phi, a.gamma, a.alpha, a.bias);
    PreOutputs out;
    out.y = Tensor(DType::bf16, {d.T, d.C});
    out.h_post = Tensor(DType::f32, {d.T, d.n});
    out.h_res = Tensor(DType::f32, {d.T, d.n, d.n});
    a.y = device_for<std::uint16_t>("out.y", out.y);
    a.h_post = device_for<float>("out.h_post", out.h_post);
    a.h_res = device_for<float>("out.h_res", out.h_res);
    TensorMap tap_tensors;
    std::vector<std::pair<Tensor*, void*>> tap_copies;
    if (taps) {
      auto tap = [&](std::string_view key, std::vector<std::int64_t> shape) {
        Tensor& t = tap_tensors[std::string(key)] = Tensor(DType::f32, std::move(shape));
        float* p = device_for<float>("tap." + std::string(key), t);
        tap_copies.emplace_back(&t, p);
        return p;
      };
      a.tap_m = tap(taps::m, {d.T, d.M});
      a.tap_inv_rms = tap(taps::inv_rms, {d.T});
      a.tap_m_hat = tap(taps::m_hat, {d.T, d.M});
      a.tap_z = tap(taps::z, {d.T, d.M});
      a.tap_h_pre = tap(taps::h_pre, {d.T, d.n});
      a.tap_h_res = tap(taps::h_res, {d.T, d.n, d.n});
      if (s.resmap == ResMap::sinkhorn || s.resmap == ResMap::sinkhorn_exp) {
        a.tap_sinkhorn = ws_.get<float>("tap.sinkhorn", static_cast<std::size_t>(s.repeats + 1) * d.T * d.n * d.n);
      }
    }
    cuda::pre_forward(a, ws_, stream_);
    download(out.y, a.y);
    download(out.h_post, a.h_post);
    download(out.h_res, a.h_res);
    for (auto& [t, p] : tap_copies) download(*t, p);
    if (taps) {
      if (a.tap_sinkhorn) {
        const std::size_t per = static_cast<std::size_t>(d.T) * d.n * d.n;
        for (int k = 0; k <= s.repeats; ++k) {
          Tensor t(DType::f32, {d.T, d.n, d.n});
          download(t, a.tap_sinkhorn + k * per);
          tap_tensors[taps::sinkhorn(k)] = std::move(t);
        }
      }
      tap_tensors[std::string(taps::h_post)] = out.h_post;
      tap_tensors[std::string(taps::y)] = out.y;
    }
    synchronize("pre forward");
    for (auto& [key, t] : tap_tensors) (*taps)[key] = std::move(t);
    return out;
  }

  PreGrads pre_backward(const Semantics& s, const PreInputs& in, const PreUpstream& up, TensorMap* parts) override {
    MHC_CUDA_CHECK(cudaSetDevice(device_));
    const PreDims d = pre_dims(s, in.x);
    PreBackwardArgs a;
    a.d = d;
    a.s = mix_semantics(s);
    upload_pre_inputs(s, d, in, a.x, a.phi, a.gamma, a.alpha, a.bias);
    require_bf16(up.dy, "dy", {d.T, d.C});
    require_shape(up.dh_post, "dh_post", {d.T, d.n});
    require_shape(up.dh_res, "dh_res", {d.T, d.n, d.n});
    a.dy = upload<std::uint16_t>("in.dy", up.dy);
    a.dh_post = upload<float>("in.dh_post", as_f32(up.dh_post));
    a.dh_res = upload<float>("in.dh_res", as_f32(up.dh_res));

    PreGrads g;
    const std::int64_t K = d.K();
    g.dx = Tensor(DType::bf16, {d.T, d.n, d.C});
    g.dphi = Tensor(DType::f32, {d.M, K});
    g.dalpha = Tensor(DType::f32, {3});
    g.dbias = Tensor(DType::f32, {d.M});
    a.dx = device_for<std::uint16_t>("out.dx", g.dx);
    a.dphi = device_for<float>("out.dphi", g.dphi);
    a.dalpha = device_for<float>("out.dalpha", g.dalpha);
    a.dbias = device_for<float>("out.dbias", g.dbias);
    if (s.use_gamma) {
      g.dgamma = Tensor(DType::f32, {K});
      a.dgamma = device_for<float>("out.dgamma", g.dgamma);
    }
    TensorMap part_tensors;
    std::vector<std::pair<Tensor*, void*>> part_copies;
    if (parts) {
      auto part = [&](const std::string& key, std::vector<std::int64_t> shape) {
        Tensor& t = part_tensors[key] = Tensor(DType::f32, std::move(shape));
        float* p = device_for<float>(key, t);
        part_copies.emplace_back(&t, p);
        return p;
      };
      a.part_dh_pre = part(std::string(taps::dh_pre), {d.T, d.n});
      a.part_dz = part(std::string(taps::dz), {d.T, d.M});
      a.part_dinv_rms = part(std::string(taps::dinv_rms), {d.T});
      a.part_dx_apply = part(std::string(taps::dx_apply), {d.T, d.n, d.C});
      a.part_dx_mm = part(std::string(taps::dx_mm), {d.T, d.n, d.C});
      a.part_dx_norm = part(std::string(taps::dx_norm), {d.T, d.n, d.C});
      for (int b = 0; b < 3; ++b) {
        a.part_dx_mm_block[b] = part(taps::dx_mm_block(taps::blocks[b]), {d.T, d.n, d.C});
        if (s.use_gamma) a.part_dgamma_block[b] = part(taps::dgamma_block(taps::blocks[b]), {K});
      }
    }
    cuda::pre_backward(a, ws_, stream_);
    download(g.dx, a.dx);
    download(g.dphi, a.dphi);
    download(g.dalpha, a.dalpha);
    download(g.dbias, a.dbias);
    if (s.use_gamma) download(g.dgamma, a.dgamma);
    for (auto& [t, p] : part_copies) download(*t, p);
    synchronize("pre backward");
    if (parts) {
      // Row blocks of dphi and dbias: [pre (n) | post (n) | res (M - 2n)].
      const std::int64_t rows[4] = {0, d.n, 2 * d.n, d.M};
      for (int b = 0; b < 3; ++b) {
        const std::int64_t r0 = rows[b], r1 = rows[b + 1];
        Tensor dphi_b(DType::f32, {r1 - r0, K});
        std::memcpy(dphi_b.bytes(), g.dphi.data<float>() + r0 * K, sizeof(float) * (r1 - r0) * K);
        Tensor dbias_b(DType::f32, {r1 - r0});
        std::memcpy(dbias_b.bytes(), g.dbias.data<float>() + r0, sizeof(float) * (r1 - r0));
        part_tensors[taps::dphi_block(taps::blocks[b])] = std::move(dphi_b);
        part_tensors[taps::dbias_block(taps::blocks[b])] = std::move(dbias_b);
      }
      for (auto& [key, t] : part_tensors) (*parts)[key] = std::move(t);
    }
    return g;
  }

  PostOutputs post_forward(const Semantics& s, const PostInputs& in, TensorMap*) override {
    MHC_CUDA_CHECK(cudaSetDevice(device_));
    PostArgs p = upload_post(s, in);
    PostOutputs out;
    out.out = Tensor(DType::bf16, {p.T, p.n, p.C});
    p.out = device_for<std::uint16_t>("out.out", out.out);
    cuda::post_forward(p, stream_);
    download(out.out, p.out);
    synchronize("post forward");
    return out;
  }

  PostGrads post_backward(const Semantics& s, const PostInputs& in, const PostUpstream& up, TensorMap*) override {
    MHC_CUDA_CHECK(cudaSetDevice(device_));
    PostArgs p = upload_post(s, in);
    require_bf16(up.dout, "dout", {p.T, p.n, p.C});
    p.dout = upload<std::uint16_t>("in.dout", up.dout);
    PostGrads g;
    g.dx = Tensor(DType::bf16, {p.T, p.n, p.C});
    g.df = Tensor(DType::bf16, {p.T, p.C});
    g.dh_post = Tensor(DType::f32, {p.T, p.n});
    g.dh_res = Tensor(DType::f32, {p.T, p.n, p.n});
    p.dx = device_for<std::uint16_t>("out.dx", g.dx);
    p.df = device_for<std::uint16_t>("out.df", g.df);
    p.dh_post = device_for<float>("out.dh_post", g.dh_post);
    p.dh_res = device_for<float>("out.dh_res", g.dh_res);
    cuda::post_backward(p, stream_);
    download(g.dx, p.dx);
    download(g.df, p.df);
    download(g.dh_post, p.dh_post);
    download(g.dh_res, p.dh_res);
    synchronize("post backward");
    return g;
  }

  bool has_stages() const override { return true; }
  TensorMap run_stage(const Semantics& s, std::string_view stage, const TensorMap& in) override;

 private:
  template <class T>
  T* device_for(const std::string& key, const Tensor& t) {
    return static_cast<T*>(ws_.get(key, t.nbytes()));
  }

  template <class T>
  const T* upload(const std::string& key, const Tensor& t) {
    void* p = ws_.get(key, t.nbytes());
    if (t.nbytes()) MHC_CUDA_CHECK(cudaMemcpyAsync(p, t.bytes(), t.nbytes(), cudaMemcpyHostToDevice, stream_));
    // The host tensor may be temporary (as_f32): finish the copy before it goes away.
    synchronize("upload of " + key);
    return static_cast<const T*>(p);
  }

  void download(Tensor& t, const void* p) {
    if (t.nbytes()) MHC_CUDA_CHECK(cudaMemcpyAsync(t.bytes(), p, t.nbytes(), cudaMemcpyDeviceToHost, stream_));
  }

  void synchronize(const std::string& what) {
    const cudaError_t status = cudaStreamSynchronize(stream_);
    if (status != cudaSuccess) throw_cuda_error(status, what.c_str());
  }

  void upload_pre_inputs(const Semantics& s, const PreDims& d, const PreInputs& in, const std::uint16_t*& x,
                         const float*& phi, const float*& gamma, const float*& alpha, const float*& bias) {
    const std::int64_t K = d.K();
    require_bf16(in.x, "x", {d.T, d.n, d.C});
    require_shape(in.phi, "phi", {d.M, K});
    require_shape(in.alpha, "alpha", {3});
    require_shape(in.bias, "bias", {d.M});
    x = upload<std::uint16_t>("in.x", in.x);
    phi = upload<float>("in.phi", as_f32(in.phi));
    alpha = upload<float>("in.alpha", as_f32(in.alpha));
    bias = upload<float>("in.bias", as_f32(in.bias));
    gamma = nullptr;
    if (s.use_gamma) {
      require_shape(in.gamma, "gamma", {K});
      gamma = upload<float>("in.gamma", as_f32(in.gamma));
    }
  }

  PostArgs upload_post(const Semantics& s, const PostInputs& in) {
    if (!in.x.defined() || in.x.rank() != 3) invalid_input("cuda backend: x must be a [T, n, C] tensor");
    PostArgs p;
    p.T = in.x.dim(0);
    p.n = static_cast<int>(in.x.dim(1));
    p.C = in.x.dim(2);
    validate(Shape{p.T, p.n, p.C}, s);
    if (p.n > 8) fail(ErrorKind::unsupported, "cuda backend: n = " + std::to_string(p.n) + " (supported: 1..8)");
    p.transposed = s.orientation == Orientation::transposed;
    require_bf16(in.x, "x", {p.T, p.n, p.C});
    require_bf16(in.f, "f", {p.T, p.C});
    require_shape(in.h_post, "h_post", {p.T, p.n});
    require_shape(in.h_res, "h_res", {p.T, p.n, p.n});
    p.x = upload<std::uint16_t>("in.x", in.x);
    p.f = upload<std::uint16_t>("in.f", in.f);
    p.h_post = upload<float>("in.h_post", as_f32(in.h_post));
    p.h_res = upload<float>("in.h_res", as_f32(in.h_res));
    return p;
  }

  const Tensor& stage_input(const TensorMap& in, std::string_view key, std::string_view stage) {
    auto it = in.find(std::string(key));
    if (it == in.end()) {
      invalid_input("cuda backend: stage " + std::string(stage) + " needs tensor " + std::string(key));
    }
    return it->second;
  }

  int device_ = 0;
  cudaStream_t stream_ = nullptr;
  Workspace ws_;
};

TensorMap CudaBackend::run_stage(const Semantics& s, std::string_view stage, const TensorMap& in) {
  MHC_CUDA_CHECK(cudaSetDevice(device_));
  const MixSemantics ms = mix_semantics(s);
  TensorMap out;
  if (stage == "norm_proj" || stage == "apply") {
    const Tensor& x = stage_input(in, "x", stage);
    const PreDims d = pre_dims(s, x);
    require_bf16(x, "x", {d.T, d.n, d.C});
    const auto* xd = upload<std::uint16_t>("in.x", x);
    if (stage == "apply") {
      const Tensor& h_pre = stage_input(in, taps::h_pre, stage);
      require_shape(h_pre, "tap.h_pre", {d.T, d.n});
      const float* hd = upload<float>("in.h_pre", as_f32(h_pre));
      Tensor y(DType::bf16, {d.T, d.C});
      auto* yd = device_for<std::uint16_t>("out.y", y);
      launch_apply(d, xd, hd, yd, stream_);
      download(y, yd);
      synchronize("stage apply");
      out[std::string(taps::y)] = std::move(y);
      return out;
    }
    const Tensor& phi = stage_input(in, "phi", stage);
    require_shape(phi, "phi", {d.M, d.K()});
    const float* phid = upload<float>("in.phi", as_f32(phi));
    const float* gammad = nullptr;
    if (s.use_gamma) {
      const Tensor& gamma = stage_input(in, "gamma", stage);
      require_shape(gamma, "gamma", {d.K()});
      gammad = upload<float>("in.gamma", as_f32(gamma));
    }
    Tensor m(DType::f32, {d.T, d.M}), r(DType::f32, {d.T});
    float* md = device_for<float>("tap.m", m);
    float* rd = device_for<float>("tap.inv_rms", r);
    if (d.T > 0) {
      const PhiPlan plan = plan_projection(d);
      const PhiPrepared phi_prepared = prepare_phi(d, plan, phid, gammad, ws_, stream_);
      float* m_part = ws_.get<float>("m_part", static_cast<std::size_t>(plan.splits_k) * d.T * d.M);
      float* s_part = ws_.get<float>("s_part", static_cast<std::size_t>(plan.splits_k) * d.T);
      launch_norm_proj(d, plan, xd, phi_prepared, m_part, s_part, stream_);
      MixKernelArgs a;
      a.d = d;
      a.s = ms;
      a.splits_k = plan.splits_k;
      a.m_part = m_part;
      a.s_part = s_part;
      a.finish_only = true;
      a.m = md;
      a.r = rd;
      launch_mix(a, stream_);
    }
    download(m, md);
    download(r, rd);
    synchronize("stage norm_proj");
    out[std::string(taps::m)] = std::move(m);
    out[std::string(taps::inv_rms)] = std::move(r);
    return out;
  }
  if (stage == "mix" || stage == "resmap") {
    const bool mix = stage == "mix";
    const Tensor& first = stage_input(in, mix ? taps::m : taps::z, stage);
    if (first.rank() != 2) invalid_input("cuda backend: stage " + std::string(stage) + " needs a [T, M] tensor");
    // n from M: the smallest n whose mix count is M.
    PreDims d;
    d.T = first.dim(0);
    d.M = static_cast<int>(first.dim(1));
    for (int n = 1; n <= 8 && d.n == 0; ++n) {
      if (s.resmap == ResMap::permutations && n > 5) break;
      if (mix_count(s.resmap, n) == d.M) d.n = n;
    }
    if (d.n == 0) invalid_input("cuda backend: " + std::to_string(d.M) + " mix outputs match no n for this map");
    d.C = 1;  // only K = n C enters r, which the mix stage receives directly
    MixKernelArgs a;
    a.d = d;
    a.s = ms;
    std::vector<std::pair<Tensor, float*>> outs;
    auto output = [&](std::string_view key, std::vector<std::int64_t> shape) {
      Tensor t(DType::f32, std::move(shape));
      float* p = device_for<float>("stage." + std::string(key), t);
      outs.emplace_back(std::move(t), p);
      return p;
    };
    if (mix) {
      const Tensor& r = stage_input(in, taps::inv_rms, stage);
      require_shape(r, "tap.inv_rms", {d.T});
      a.m_part = upload<float>("in.m", as_f32(first));
      a.r_in = upload<float>("in.inv_rms", as_f32(r));
      require_shape(stage_input(in, "alpha", stage), "alpha", {3});
      require_shape(stage_input(in, "bias", stage), "bias", {d.M});
      a.alpha = upload<float>("in.alpha", as_f32(in.at("alpha")));
      a.bias = upload<float>("in.bias", as_f32(in.at("bias")));
      a.resmap = false;
      a.m_hat = output(taps::m_hat, {d.T, d.M});
      a.z = output(taps::z, {d.T, d.M});
      a.h_pre = output(taps::h_pre, {d.T, d.n});
      a.h_post = output(taps::h_post, {d.T, d.n});
    } else {
      a.z_in = upload<float>("in.z", as_f32(first));
      a.h_res_raw = output(taps::h_res, {d.T, d.n, d.n});
    }
    launch_mix(a, stream_);
    const std::vector<std::string_view> keys =
        mix ? std::vector<std::string_view>{taps::m_hat, taps::z, taps::h_pre, taps::h_post}
            : std::vector<std::string_view>{taps::h_res};
    for (std::size_t i = 0; i < outs.size(); ++i) download(outs[i].first, outs[i].second);
    synchronize("stage " + std::string(stage));
    for (std::size_t i = 0; i < outs.size(); ++i) out[std::string(keys[i])] = std::move(outs[i].first);
    return out;
  }
  if (stage == "post") {
    PostInputs pin{stage_input(in, "x", stage), stage_input(in, "f", stage), stage_input(in, "h_post", stage),
                   stage_input(in, "h_res", stage)};
    out["out"] = post_forward(s, pin, nullptr).out;
    return out;
  }
  fail(ErrorKind::unsupported, "cuda backend: unknown stage \"" + std::string(stage) +
                                   "\" (norm_proj, mix, resmap, apply, post)");
}

}  // namespace cuda

std::unique_ptr<Backend> make_cuda_backend(int device) { return std::make_unique<cuda::CudaBackend>(device); }

}  // namespace mhc
