// "f32": mHC written the way PyTorch eager runs it in f32: every intermediate a full f32 tensor,
// long reductions (over K, C and T) summed pairwise as torch's f32 sum and a BLAS GEMM do, short
// ones (over n streams, over the M mix rows) left to right, no GPU rounding points. Outputs are
// rounded to the interface dtypes. It is a correct implementation that is not the baseline, so
// the self-test uses it to prove the tolerance model raises no false failures. It shares input
// validation and the residual maps (resmap.hpp) with the emulated backend; everything else is
// written independently.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/emulated/emulated.hpp"
#include "kernels/emulated/problem.hpp"
#include "kernels/emulated/resmap.hpp"

namespace mhc {
namespace {

using emulated::Problem;

std::vector<float> widened(const Tensor& t) {
  std::vector<float> v(static_cast<std::size_t>(t.numel()));
  emulated::widen_row(t, 0, t.numel(), v.data());
  return v;
}

float sigmoid(float z) { return 1.0f / (1.0f + std::exp(-z)); }

// Tokens (and the rows of the sums over tokens) are independent, so threads never change a bit;
// below 2^18 multiply-adds a parallel region costs more than it saves (as in the golden).
bool worth_parallel(std::int64_t work) { return work >= (std::int64_t{1} << 18); }

// sum_{i in [lo, hi)} term(i), pairwise: runs of 8 left to right, then halves added.
template <class Term>
float pairwise(std::int64_t lo, std::int64_t hi, const Term& term) {
  if (hi - lo <= 8) {
    float acc = 0.0f;
    for (std::int64_t i = lo; i < hi; ++i) acc += term(i);
    return acc;
  }
  const std::int64_t mid = lo + (hi - lo) / 2;
  return pairwise(lo, mid, term) + pairwise(mid, hi, term);
}

// dst[0:K] = sum_{t in [lo, hi)} row_t, the same pairwise tree for every column; add_row(t, dst)
// adds row t into dst.
template <class AddRow>
void pairwise_rows(std::int64_t lo, std::int64_t hi, std::int64_t K, const AddRow& add_row, float* dst) {
  if (hi - lo <= 8) {
    std::fill(dst, dst + K, 0.0f);
    for (std::int64_t t = lo; t < hi; ++t) add_row(t, dst);
    return;
  }
  const std::int64_t mid = lo + (hi - lo) / 2;
  std::vector<float> right(K);
  pairwise_rows(lo, mid, K, add_row, dst);
  pairwise_rows(mid, hi, K, add_row, right.data());
  for (std::int64_t k = 0; k < K; ++k) dst[k] += right[k];
}

// out[0:M] = for every column j, the sum over k in [lo, hi) of x[k] phi_t[k M + j] with pairwise()'s
// tree (the same runs and halves, so the same bits as M separate pairwise() calls), all columns
// at once so that the inner loops run over j. scratch holds M floats per level of the tree.
void pairwise_columns(const float* x, const float* phi_t, std::int64_t lo, std::int64_t hi, std::int64_t M, float* out,
                      float* scratch) {
  if (hi - lo <= 8) {
    std::fill(out, out + M, 0.0f);
    for (std::int64_t k = lo; k < hi; ++k) {
      const float xk = x[k];
      const float* row = phi_t + k * M;
      for (std::int64_t j = 0; j < M; ++j) out[j] += xk * row[j];
    }
    return;
  }
  const std::int64_t mid = lo + (hi - lo) / 2;
  pairwise_columns(x, phi_t, lo, mid, M, out, scratch + M);
  pairwise_columns(x, phi_t, mid, hi, M, scratch, scratch + M);
  for (std::int64_t j = 0; j < M; ++j) out[j] += scratch[j];
}

// Levels of pairwise()'s tree over n terms (runs of 8, then halves).
int pairwise_levels(std::int64_t n) {
  int levels = 1;
  while (n > 8) n -= n / 2, ++levels;
  return levels;
}

// Everything the pre forward computes, kept for the backward.
struct PreState {
  std::vector<float> x, m, r, m_hat, z, h_pre, h_post, iterates;  // [T, ...]
};

class PlainF32Backend : public Backend {
 public:
  std::string name() const override { return "f32"; }

  PreOutputs pre_forward(const Semantics& s, const PreInputs& in, TensorMap*) override {
    const Problem p = emulated::make_pre_problem(s, {}, in.x, in.phi, in.gamma, in.alpha, in.bias);
    const PreState st = forward(p, in.x);
    const std::int64_t T = p.T, n = p.n, C = p.C, nn = n * n, its = p.iterate_count() * nn;
    PreOutputs out{Tensor(DType::bf16, {T, C}), Tensor(DType::f32, {T, n}), Tensor(DType::f32, {T, n, n})};
    std::vector<float> y(T * C, 0.0f);
    for (std::int64_t t = 0; t < T; ++t) {
      for (std::int64_t i = 0; i < n; ++i) {
        for (std::int64_t c = 0; c < C; ++c) y[t * C + c] += st.h_pre[t * n + i] * st.x[(t * n + i) * C + c];
      }
      for (std::int64_t i = 0; i < n; ++i) {
        out.h_post.data<float>()[t * n + i] = st.h_post[t * n + i];
        for (std::int64_t j = 0; j < n; ++j) {
          float h = st.iterates[t * its + its - nn + i * n + j];
          if (s.merged_residual) h -= st.h_post[t * n + i] * st.h_pre[t * n + j];
          out.h_res.data<float>()[t * nn + i * n + j] = h;
        }
      }
    }
    emulated::store_row(out.y, 0, T * C, y.data());
    return out;
  }

  PreGrads pre_backward(const Semantics& s, const PreInputs& in, const PreUpstream& up, TensorMap*) override {
    const Problem p = emulated::make_pre_problem(s, {}, in.x, in.phi, in.gamma, in.alpha, in.bias);
    const std::int64_t T = p.T, n = p.n, C = p.C, K = p.K, M = p.M, nn = n * n, its = p.iterate_count() * nn;
    emulated::expect_tensor(up.dy, "dy", {T, C});
    emulated::expect_tensor(up.dh_post, "dh_post", {T, n});
    emulated::expect_tensor(up.dh_res, "dh_res", {T, n, n});
    const PreState st = forward(p, in.x);
    const std::vector<float> dy = widened(up.dy), dh_post_up = widened(up.dh_post), dH = widened(up.dh_res);
    const bool with_gamma = !p.gamma.empty();

    std::vector<float> dx(T * K, 0.0f), dphi_folded(M * K, 0.0f), dgamma(K, 0.0f), dbias(M, 0.0f), dalpha(3, 0.0f);
    std::vector<float> dz_all(T * M), dm_all(T * M), u_all(T * K, 0.0f);  // per token, for the sums over T
#pragma omp parallel if (worth_parallel(T * K * M))
    {
      std::vector<float> dh_pre(n), dh_post(n), dz(M);  // per thread
#pragma omp for schedule(static)
      for (std::int64_t t = 0; t < T; ++t) {
        const float* x = st.x.data() + t * K;
        for (std::int64_t i = 0; i < n; ++i) {
          dh_pre[i] = pairwise(0, C, [&](std::int64_t c) { return x[i * C + c] * dy[t * C + c]; });
          dh_post[i] = dh_post_up[t * n + i];
        }
        if (s.merged_residual) {
          for (std::int64_t i = 0; i < n; ++i) {
            for (std::int64_t j = 0; j < n; ++j) {
              dh_post[i] -= dH[t * nn + i * n + j] * st.h_pre[t * n + j];
              dh_pre[j] -= dH[t * nn + i * n + j] * st.h_post[t * n + i];
            }
          }
        }
        emulated::resmap_backward(p, st.z.data() + t * M + 2 * n, s.repeats, st.iterates.data() + t * its,
                                  dH.data() + t * nn, dz.data() + 2 * n);
        for (std::int64_t i = 0; i < n; ++i) {
          const float sp = sigmoid(st.z[t * M + i]), so = sigmoid(st.z[t * M + n + i]);
          dz[i] = dh_pre[i] * sp * (1.0f - sp);
          dz[n + i] = dh_post[i] * static_cast<float>(s.post_mult) * so * (1.0f - so);
        }
        const float r = st.r[t];
        float dr = 0.0f;
        float* dm = dm_all.data() + t * M;
        for (std::int64_t j = 0; j < M; ++j) {
          const float dm_hat = dz[j] * p.alpha_e[j];
          dm[j] = r * dm_hat;
          dr += dm_hat * st.m[t * M + j];
        }
        std::copy(dz.begin(), dz.end(), dz_all.begin() + t * M);
        float* u = u_all.data() + t * K;
        for (std::int64_t j = 0; j < M; ++j) {
          for (std::int64_t k = 0; k < K; ++k) u[k] += dm[j] * p.phi[j * K + k];
        }
        for (std::int64_t k = 0; k < K; ++k) {
          const float dx_mm = with_gamma ? u[k] * p.gamma[k] : u[k];
          const float dx_apply = st.h_pre[t * n + k / C] * dy[t * C + k % C];
          const float dx_norm = -dr * r * r * r / static_cast<float>(K) * x[k];
          dx[t * K + k] = dx_apply + dx_mm + dx_norm;
        }
      }
    }
    // Sums over tokens, pairwise (torch's sum and a BLAS dm^T x).
#pragma omp parallel for schedule(dynamic) if (worth_parallel(T * K * M))
    for (std::int64_t j = 0; j < M; ++j) {
      dbias[j] = pairwise(0, T, [&](std::int64_t t) { return dz_all[t * M + j]; });
      const auto add_dm_x = [&](std::int64_t t, float* dst) {
        for (std::int64_t k = 0; k < K; ++k) dst[k] += dm_all[t * M + j] * st.x[t * K + k];
      };
      pairwise_rows(0, T, K, add_dm_x, dphi_folded.data() + j * K);
    }
    for (int b = 0; b < 3; ++b) {
      dalpha[b] = pairwise(0, T, [&](std::int64_t t) {
        float acc = 0.0f;
        for (std::int64_t j = p.block_begin(b); j < p.block_end(b); ++j) acc += dz_all[t * M + j] * st.m_hat[t * M + j];
        return acc;
      });
    }
    if (with_gamma) {
      const auto add_x_u = [&](std::int64_t t, float* dst) {
        for (std::int64_t k = 0; k < K; ++k) dst[k] += st.x[t * K + k] * u_all[t * K + k];
      };
      pairwise_rows(0, T, K, add_x_u, dgamma.data());
    }
    PreGrads g{Tensor(DType::bf16, {T, n, C}), Tensor(DType::f32, {M, K}), Tensor(DType::f32, {3}),
               Tensor(DType::f32, {M}), with_gamma ? Tensor(DType::f32, {K}) : Tensor()};
    emulated::store_row(g.dx, 0, T * K, dx.data());
    for (std::int64_t idx = 0; idx < M * K; ++idx) {
      g.dphi.data<float>()[idx] = with_gamma ? dphi_folded[idx] * p.gamma[idx % K] : dphi_folded[idx];
    }
    emulated::store_row(g.dalpha, 0, 3, dalpha.data());
    emulated::store_row(g.dbias, 0, M, dbias.data());
    if (with_gamma) emulated::store_row(g.dgamma, 0, K, dgamma.data());
    return g;
  }

  PostOutputs post_forward(const Semantics& s, const PostInputs& in, TensorMap*) override {
    const Problem p = emulated::make_post_problem(s, {}, in.x, in.f, in.h_post, in.h_res);
    const std::int64_t T = p.T, n = p.n, C = p.C, K = p.K, nn = n * n;
    const std::vector<float> x = widened(in.x), f = widened(in.f), hp = widened(in.h_post), H = widened(in.h_res);
    std::vector<float> out(T * K);
#pragma omp parallel for schedule(static) if (worth_parallel(T * K * n))
    for (std::int64_t t = 0; t < T; ++t) {
      for (std::int64_t a = 0; a < n; ++a) {
        for (std::int64_t c = 0; c < C; ++c) {
          float acc = hp[t * n + a] * f[t * C + c];
          for (std::int64_t b = 0; b < n; ++b) acc += mixing(s, H.data() + t * nn, n, a, b) * x[(t * n + b) * C + c];
          out[(t * n + a) * C + c] = acc;
        }
      }
    }
    PostOutputs o{Tensor(DType::bf16, {T, n, C})};
    emulated::store_row(o.out, 0, T * K, out.data());
    return o;
  }

  PostGrads post_backward(const Semantics& s, const PostInputs& in, const PostUpstream& up, TensorMap*) override {
    const Problem p = emulated::make_post_problem(s, {}, in.x, in.f, in.h_post, in.h_res);
    const std::int64_t T = p.T, n = p.n, C = p.C, K = p.K, nn = n * n;
    emulated::expect_tensor(up.dout, "dout", {T, n, C});
    const std::vector<float> x = widened(in.x), f = widened(in.f), hp = widened(in.h_post), H = widened(in.h_res),
                             dout = widened(up.dout);
    std::vector<float> dx(T * K, 0.0f), df(T * C, 0.0f), dh_post(T * n), dh_res(T * nn);
#pragma omp parallel for schedule(static) if (worth_parallel(T * K * n))
    for (std::int64_t t = 0; t < T; ++t) {
      const float* g = dout.data() + t * K;
      for (std::int64_t a = 0; a < n; ++a) {
        dh_post[t * n + a] = pairwise(0, C, [&](std::int64_t c) { return f[t * C + c] * g[a * C + c]; });
        for (std::int64_t b = 0; b < n; ++b) {
          const float dA = pairwise(0, C, [&](std::int64_t c) { return g[a * C + c] * x[(t * n + b) * C + c]; });
          dh_res[t * nn + (s.orientation == Orientation::transposed ? b * n + a : a * n + b)] = dA;
        }
        for (std::int64_t c = 0; c < C; ++c) {
          df[t * C + c] += hp[t * n + a] * g[a * C + c];
          for (std::int64_t b = 0; b < n; ++b) dx[(t * n + b) * C + c] += mixing(s, H.data() + t * nn, n, a, b) * g[a * C + c];
        }
      }
    }
    PostGrads gr{Tensor(DType::bf16, {T, n, C}), Tensor(DType::bf16, {T, C}), Tensor(DType::f32, {T, n}),
                 Tensor(DType::f32, {T, n, n})};
    emulated::store_row(gr.dx, 0, T * K, dx.data());
    emulated::store_row(gr.df, 0, T * C, df.data());
    emulated::store_row(gr.dh_post, 0, T * n, dh_post.data());
    emulated::store_row(gr.dh_res, 0, T * nn, dh_res.data());
    return gr;
  }

 private:
  // out[a] = h_post[a] f + sum_b A[a, b] x[b] with A = H^T (transposed) or H (plain).
  static float mixing(const Semantics& s, const float* H, std::int64_t n, std::int64_t a, std::int64_t b) {
    return s.orientation == Orientation::transposed ? H[b * n + a] : H[a * n + b];
  }

  static PreState forward(const Problem& p, const Tensor& x_in) {
    const std::int64_t T = p.T, n = p.n, K = p.K, M = p.M, its = p.iterate_count() * n * n;
    PreState st{widened(x_in), std::vector<float>(T * M), std::vector<float>(T), std::vector<float>(T * M),
                std::vector<float>(T * M), std::vector<float>(T * n), std::vector<float>(T * n),
                std::vector<float>(T * its)};
    std::vector<float> phi_t(K * M);  // [K, M]: the columns of one k side by side
    for (std::int64_t j = 0; j < M; ++j) {
      for (std::int64_t k = 0; k < K; ++k) phi_t[k * M + j] = p.phi_gemm[j * K + k];
    }
    // Each thread keeps its own tree scratch.
#pragma omp parallel if (worth_parallel(T * K * M))
    {
      std::vector<float> scratch(static_cast<std::size_t>(pairwise_levels(K)) * M);
#pragma omp for schedule(static)
      for (std::int64_t t = 0; t < T; ++t) {
        const float* x = st.x.data() + t * K;
        const float sum_sq = pairwise(0, K, [&](std::int64_t k) { return x[k] * x[k]; });
        st.r[t] = 1.0f / std::sqrt(sum_sq / static_cast<float>(K) + static_cast<float>(p.s.eps_rms));
        pairwise_columns(x, phi_t.data(), 0, K, M, st.m.data() + t * M, scratch.data());
        for (std::int64_t j = 0; j < M; ++j) {
          st.m_hat[t * M + j] = st.r[t] * st.m[t * M + j];
          st.z[t * M + j] = p.alpha_e[j] * st.m_hat[t * M + j] + p.bias[j];
        }
        for (std::int64_t i = 0; i < n; ++i) {
          st.h_pre[t * n + i] = sigmoid(st.z[t * M + i]) + static_cast<float>(p.s.eps_pre);
          st.h_post[t * n + i] = static_cast<float>(p.s.post_mult) * sigmoid(st.z[t * M + n + i]);
        }
        emulated::resmap_forward(p, st.z.data() + t * M + 2 * n, p.s.repeats, st.iterates.data() + t * its);
      }
    }
    return st;
  }
};

}  // namespace

std::unique_ptr<Backend> make_plain_f32_backend() { return std::make_unique<PlainF32Backend>(); }

}  // namespace mhc
