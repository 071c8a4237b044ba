// Pre forward (MATH.md "Forward pre") with its taps.
#include "kernels/taps.hpp"
#include "reference/pre_common.hpp"

namespace mhc::ref {

PreForward pre_forward(const Semantics& s, const PreArgs& in, Named* taps) {
  const Dims d = dims_from_x(s, in.x);
  expect_pre_params(s, d, in.phi, in.gamma, in.alpha, in.bias);
  const MixParams p(s, d, in.alpha, in.bias);
  PreForward out;
  out.y = zeros({d.T, d.C});
  const PreState st =
      project_and_mix(p, in.x, folded_phi(s, d, in.phi, in.gamma), taps != nullptr, out.y.data<double>());
  out.h_post = to_tensor(st.h_post, {d.T, d.n});
  out.h_res = to_tensor(h_res_output(s, d, st), {d.T, d.n, d.n});
  if (taps) {
    const std::int64_t nn = d.n * d.n;
    (*taps)[std::string(taps::m)] = to_tensor(st.m, {d.T, d.M});
    (*taps)[std::string(taps::inv_rms)] = to_tensor(st.r, {d.T});
    (*taps)[std::string(taps::m_hat)] = to_tensor(st.m_hat, {d.T, d.M});
    (*taps)[std::string(taps::z)] = to_tensor(st.z, {d.T, d.M});
    (*taps)[std::string(taps::h_pre)] = to_tensor(st.h_pre, {d.T, d.n});
    (*taps)[std::string(taps::h_post)] = out.h_post;
    (*taps)[std::string(taps::h_res)] = to_tensor(st.H, {d.T, d.n, d.n});
    (*taps)[std::string(taps::y)] = out.y;
    const int iters = p.resmap.iterate_count();
    for (int k = 0; k < iters; ++k) {
      Tensor it = zeros({d.T, d.n, d.n});
      double* dst = it.data<double>();
      for (std::int64_t t = 0; t < d.T; ++t) {
        const double* src = st.iterates.data() + (t * iters + k) * nn;
        std::copy(src, src + nn, dst + t * nn);
      }
      (*taps)[taps::sinkhorn(k)] = std::move(it);
    }
  }
  return out;
}

}  // namespace mhc::ref
