// Post forward and backward drivers: independent tokens, no sums over tokens.
#include <vector>

#include "kernels/emulated/emulated_backend.hpp"

namespace mhc::emulated {

PostOutputs EmulatedBackend::post_forward(const Semantics& s, const PostInputs& in, TensorMap*) {
  const Problem p = make_post_problem(s, options_, in.x, in.f, in.h_post, in.h_res);
  const std::int64_t T = p.T, n = p.n, C = p.C, K = p.K, nn = n * n;
  PostOutputs out{Tensor(DType::bf16, {T, n, C})};
#pragma omp parallel
  {
    std::vector<float> x(K), f(C), h_post(n), H(nn), o(K);
#pragma omp for schedule(static)
    for (std::int64_t t = 0; t < T; ++t) {
      widen_row(in.x, t * K, K, x.data());
      widen_row(in.f, t * C, C, f.data());
      widen_row(in.h_post, t * n, n, h_post.data());
      widen_row(in.h_res, t * nn, nn, H.data());
      post_fwd(p, x.data(), f.data(), h_post.data(), H.data(), o.data());
      store_row(out.out, t * K, K, o.data());
    }
  }
  return out;
}

PostGrads EmulatedBackend::post_backward(const Semantics& s, const PostInputs& in, const PostUpstream& up,
                                         TensorMap*) {
  const Problem p = make_post_problem(s, options_, in.x, in.f, in.h_post, in.h_res);
  const std::int64_t T = p.T, n = p.n, C = p.C, K = p.K, nn = n * n;
  expect_tensor(up.dout, "dout", {T, n, C});
  PostGrads g{Tensor(DType::bf16, {T, n, C}), Tensor(DType::bf16, {T, C}), Tensor(DType::f32, {T, n}),
              Tensor(DType::f32, {T, n, n})};
#pragma omp parallel
  {
    std::vector<float> x(K), f(C), h_post(n), H(nn), dout(K), dx(K), df(C);
#pragma omp for schedule(static)
    for (std::int64_t t = 0; t < T; ++t) {
      widen_row(in.x, t * K, K, x.data());
      widen_row(in.f, t * C, C, f.data());
      widen_row(in.h_post, t * n, n, h_post.data());
      widen_row(in.h_res, t * nn, nn, H.data());
      widen_row(up.dout, t * K, K, dout.data());
      post_bwd(p, x.data(), f.data(), h_post.data(), H.data(), dout.data(), dx.data(), df.data(),
               g.dh_post.data<float>() + t * n, g.dh_res.data<float>() + t * nn);
      store_row(g.dx, t * K, K, dx.data());
      store_row(g.df, t * C, C, df.data());
    }
  }
  return g;
}

}  // namespace mhc::emulated
