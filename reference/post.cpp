// Post forward and backward (MATH.md "Forward post", "Backward post"). Both orientations are
// written once in the plain form out[i] = h_post[i] f + sum_j A[i,j] X[j] with A = H (plain) or
// A = H^T (transposed, DeepSeek); dA maps back to dH by the same transpose.
#include <algorithm>

#include "reference/golden.hpp"
#include "reference/inputs.hpp"
#include "reference/parallel.hpp"

namespace mhc::ref {
namespace {

Dims check_post(const Semantics& s, const PostArgs& in) {
  const Dims d = dims_from_x(s, in.x);
  expect_shape(in.f, "f", {d.T, d.C});
  expect_shape(in.h_post, "h_post", {d.T, d.n});
  expect_shape(in.h_res, "h_res", {d.T, d.n, d.n});
  return d;
}

// A = H or H^T for one token, [n, n].
void mixing_matrix(const Semantics& s, const double* H, double* A, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t j = 0; j < n; ++j) A[i * n + j] = s.orientation == Orientation::plain ? H[i * n + j] : H[j * n + i];
  }
}

}  // namespace

Tensor post_forward(const Semantics& s, const PostArgs& in) {
  const Dims d = check_post(s, in);
  const std::int64_t T = d.T, n = d.n, C = d.C, K = d.K, nn = n * n;
  const std::vector<double> h_post = widen_all(in.h_post), H = widen_all(in.h_res);
  Tensor out = zeros({T, n, C});
  double* o = out.data<double>();
#pragma omp parallel if (worth_parallel(T * n * K))
  {
    std::vector<double> v(K), f(C), A(nn);
#pragma omp for schedule(static)
    for (std::int64_t t = 0; t < T; ++t) {
      widen(in.x, t * K, K, v.data());
      widen(in.f, t * C, C, f.data());
      mixing_matrix(s, H.data() + t * nn, A.data(), n);
      for (std::int64_t i = 0; i < n; ++i) {
        double* oi = o + t * K + i * C;
        for (std::int64_t c = 0; c < C; ++c) oi[c] = h_post[t * n + i] * f[c];
        for (std::int64_t j = 0; j < n; ++j) {
          const double a = A[i * n + j];
          for (std::int64_t c = 0; c < C; ++c) oi[c] += a * v[j * C + c];
        }
      }
    }
  }
  return out;
}

PostGradients post_backward(const Semantics& s, const PostArgs& in, const Tensor& dout) {
  const Dims d = check_post(s, in);
  expect_shape(dout, "dout", {d.T, d.n, d.C});
  const std::int64_t T = d.T, n = d.n, C = d.C, K = d.K, nn = n * n;
  const std::vector<double> h_post = widen_all(in.h_post), H = widen_all(in.h_res);
  PostGradients g{zeros({T, n, C}), zeros({T, C}), zeros({T, n}), zeros({T, n, n})};
  double* dx = g.dx.data<double>();
  double* df = g.df.data<double>();
  double* dh_post = g.dh_post.data<double>();
  double* dh_res = g.dh_res.data<double>();
#pragma omp parallel if (worth_parallel(T * n * K))
  {
    std::vector<double> v(K), f(C), go(K), A(nn);
#pragma omp for schedule(static)
    for (std::int64_t t = 0; t < T; ++t) {
      widen(in.x, t * K, K, v.data());
      widen(in.f, t * C, C, f.data());
      widen(dout, t * K, K, go.data());
      mixing_matrix(s, H.data() + t * nn, A.data(), n);
      for (std::int64_t i = 0; i < n; ++i) {
        const double* gi = go.data() + i * C;
        const double hp = h_post[t * n + i];
        double dhp = 0;
        for (std::int64_t c = 0; c < C; ++c) {
          df[t * C + c] += hp * gi[c];  // df[c] = sum_i h_post[i] dout[i,c]
          dhp += f[c] * gi[c];          // dh_post[i] = sum_c f[c] dout[i,c]
        }
        dh_post[t * n + i] = dhp;
        for (std::int64_t j = 0; j < n; ++j) {
          double dA = 0;  // dA[i,j] = sum_c dout[i,c] X[j,c]
          for (std::int64_t c = 0; c < C; ++c) dA += gi[c] * v[j * C + c];
          const std::int64_t e = s.orientation == Orientation::plain ? i * n + j : j * n + i;
          dh_res[t * nn + e] = dA;
        }
      }
      for (std::int64_t j = 0; j < n; ++j) {  // dX[j,c] = sum_i A[i,j] dout[i,c]
        double* dxj = dx + t * K + j * C;
        for (std::int64_t i = 0; i < n; ++i) {
          const double a = A[i * n + j];
          for (std::int64_t c = 0; c < C; ++c) dxj[c] += a * go[i * C + c];
        }
      }
    }
  }
  return g;
}

}  // namespace mhc::ref
