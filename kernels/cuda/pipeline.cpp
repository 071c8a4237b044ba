// The operators as chains of the stage kernels (ops.hpp). Intermediates live in the caller's
// Workspace, keyed by name, so repeated calls on one shape allocate nothing.
#include <cstdint>

#include "core/error.hpp"
#include "kernels/cuda/cuda_check.hpp"
#include "kernels/cuda/ops.hpp"

namespace mhc::cuda {

MixSemantics mix_semantics(const Semantics& s) {
  if (s.sinkhorn_grad != SinkhornGrad::exact) {
    fail(ErrorKind::unsupported, "cuda backend: only the exact Sinkhorn gradient is implemented (sinkhorn_grad=exact)");
  }
  MixSemantics m;
  m.resmap = static_cast<int>(s.resmap);
  m.repeats = s.repeats;
  m.eps_rms = static_cast<float>(s.eps_rms);
  m.eps_pre = static_cast<float>(s.eps_pre);
  m.eps_sk = static_cast<float>(s.eps_sk);
  m.post_mult = static_cast<float>(s.post_mult);
  m.transposed = s.orientation == Orientation::transposed;
  m.merged = s.merged_residual;
  return m;
}

void pre_forward(const PreForwardArgs& a, Workspace& ws, cudaStream_t stream) {
  const PreDims& d = a.d;
  if (d.T == 0) return;
  const PhiPlan plan = plan_projection(d);
  const PhiPrepared phi = prepare_phi(d, plan, a.phi, a.gamma, ws, stream);

  float* m_part = ws.get<float>("m_part", static_cast<std::size_t>(plan.splits_k) * d.T * d.M);
  float* s_part = ws.get<float>("s_part", static_cast<std::size_t>(plan.splits_k) * d.T);
  if (plan.cluster > 0) {
    FusedProjArgs f;
    f.d = d;
    f.s = a.s;
    f.x = a.x;
    f.phi_folded = phi.folded;
    f.alpha = a.alpha;
    f.bias = a.bias;
    f.m_part = m_part;
    f.sumsq_part = s_part;
    f.y = a.y;
    launch_pre_fused(f, plan, stream);
  } else {
    launch_norm_proj(d, plan, a.x, phi, m_part, s_part, stream);
  }

  MixKernelArgs mix;
  mix.d = d;
  mix.s = a.s;
  mix.splits_k = plan.splits_k;
  mix.m_part = m_part;
  mix.s_part = s_part;
  mix.alpha = a.alpha;
  mix.bias = a.bias;
  mix.m = a.tap_m;
  mix.r = a.tap_inv_rms;
  mix.m_hat = a.tap_m_hat;
  mix.z = a.tap_z;
  mix.h_pre = a.tap_h_pre ? a.tap_h_pre : ws.get<float>("h_pre", static_cast<std::size_t>(d.T) * d.n);
  mix.h_post = a.h_post;
  mix.h_res = a.h_res;
  mix.h_res_raw = a.tap_h_res;
  mix.iterates = a.tap_sinkhorn;
  launch_mix(mix, stream);

  // The cluster kernel has written y already (with the h_pre that mix recomputed bitwise).
  if (plan.cluster == 0) launch_apply(d, a.x, mix.h_pre, a.y, stream);
}

void pre_backward(const PreBackwardArgs& a, Workspace& ws, cudaStream_t stream) {
  const PreDims& d = a.d;
  const std::size_t T = static_cast<std::size_t>(d.T), M = d.M, K = static_cast<std::size_t>(d.K());
  const PhiPlan plan = plan_projection(d);
  PhiPrepared phi;
  const bool saved = a.saved_m != nullptr && a.saved_inv_rms != nullptr;
  const float* m_part = a.saved_m;
  const float* s_part = nullptr;
  if (!saved) {
    phi = prepare_phi(d, plan, a.phi, a.gamma, ws, stream);
    float* m_parts = ws.get<float>("m_part", plan.splits_k * T * M);
    float* s_parts = ws.get<float>("s_part", plan.splits_k * T);
    launch_norm_proj(d, plan, a.x, phi, m_parts, s_parts, stream);
    m_part = m_parts;
    s_part = s_parts;
  }

  float* dh_pre = a.part_dh_pre ? a.part_dh_pre : ws.get<float>("dh_pre", T * d.n);
  CoeffBackwardArgs cb;
  cb.d = d;
  cb.s = a.s;
  cb.splits_k = saved ? 1 : plan.splits_k;
  cb.m_part = m_part;
  cb.s_part = s_part;
  cb.r_in = saved ? a.saved_inv_rms : nullptr;
  cb.alpha = a.alpha;
  cb.bias = a.bias;
  cb.dh_pre = dh_pre;
  cb.dh_post = a.dh_post;
  cb.dh_res = a.dh_res;
  cb.dz_all = a.part_dz ? a.part_dz : ws.get<float>("dz", T * M);
  cb.dm = ws.get<float>("dm", T * M);
  cb.cn = ws.get<float>("cn", T);
  cb.h_pre = ws.get<float>("h_pre", T * d.n);
  const std::size_t blocks = (T + kCoeffTokens - 1) / kCoeffTokens;
  cb.sums = ws.get<float>("sums", blocks * (M + 3));
  if (a.s.resmap == kSinkhorn || a.s.resmap == kSinkhornExp) {
    // Saved iterates turn the O(R^2) recomputation into one pass; beyond 1 GiB, recompute.
    const std::size_t bytes = sizeof(float) * (a.s.repeats + 1) * static_cast<std::size_t>(d.n) * d.n * T;
    if (bytes <= (std::size_t{1} << 30)) cb.sinkhorn_scratch = ws.get<float>("sinkhorn_scratch", bytes / sizeof(float));
  }
  cb.dinv_rms = a.part_dinv_rms;
  // The post/res coefficient gradients (the Sinkhorn backward: per-token latency, few warps) do
  // not need dh_pre: they run on the side stream while dh_pre streams x and dy. With m and r
  // given, so does phi' (first read by dx_dphi, after the join).
  const Workspace::Side& side = ws.side();
  MHC_CUDA_CHECK(cudaEventRecord(side.fork, stream));
  MHC_CUDA_CHECK(cudaStreamWaitEvent(side.stream, side.fork, 0));
  if (saved) phi = prepare_phi(d, plan, a.phi, a.gamma, ws, side.stream, /*projection=*/false);
  launch_coeff_post_res(cb, side.stream);
  MHC_CUDA_CHECK(cudaEventRecord(side.join, side.stream));
  launch_dh_pre(d, a.x, a.dy, dh_pre, stream);
  MHC_CUDA_CHECK(cudaStreamWaitEvent(stream, side.join, 0));
  launch_coeff_pre(cb, stream);
  launch_reduce_sums(d, cb.sums, a.dbias, a.dalpha, stream);

  DxDphiArgs dd;
  dd.d = d;
  dd.resmap = a.s.resmap;
  dd.plan = plan_dx_dphi(d);
  dd.x = a.x;
  dd.dy = a.dy;
  dd.phi_folded = phi.folded;
  dd.dm = cb.dm;
  dd.cn = cb.cn;
  dd.h_pre = cb.h_pre;
  dd.dx = a.dx;
  dd.dphi_part = ws.get<float>("dphi_part", static_cast<std::size_t>(dd.plan.splits_t) * M * K);
  dd.part_dx_apply = a.part_dx_apply;
  dd.part_dx_mm = a.part_dx_mm;
  for (int b = 0; b < 3; ++b) dd.part_dx_mm_block[b] = a.part_dx_mm_block[b];
  dd.part_dx_norm = a.part_dx_norm;
  launch_dx_dphi(dd, stream);
  float* dphi_folded = a.gamma ? ws.get<float>("dphi_folded", M * K) : nullptr;
  launch_reduce_dphi(d, dd.plan.splits_t, dd.dphi_part, a.phi, a.gamma, a.dphi, a.dgamma, a.part_dgamma_block,
                     dphi_folded, stream);
}

}  // namespace mhc::cuda
