#include "kernels/emulated/resmap.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace mhc::emulated {
namespace {

// Sums of the rows (or columns) of an [n, n] matrix, in the stream order (reversed on reorder).
void row_sums(const float* P, std::int64_t n, bool reorder, float* out) {
  for (std::int64_t i = 0; i < n; ++i) {
    float acc = 0.0f;
    for (std::int64_t jj = 0; jj < n; ++jj) acc += P[i * n + (reorder ? n - 1 - jj : jj)];
    out[i] = acc;
  }
}

void col_sums(const float* P, std::int64_t n, bool reorder, float* out) {
  for (std::int64_t j = 0; j < n; ++j) {
    float acc = 0.0f;
    for (std::int64_t ii = 0; ii < n; ++ii) acc += P[(reorder ? n - 1 - ii : ii) * n + j];
    out[j] = acc;
  }
}

void row_normalise(const float* P, std::int64_t n, float eps, bool reorder, float* Q) {
  std::vector<float> r(n);
  row_sums(P, n, reorder, r.data());
  for (std::int64_t i = 0; i < n; ++i) {
    const float inv = 1.0f / (r[i] + eps);
    for (std::int64_t j = 0; j < n; ++j) Q[i * n + j] = P[i * n + j] * inv;
  }
}

void col_normalise(const float* P, std::int64_t n, float eps, bool reorder, float* Q) {
  std::vector<float> c(n);
  col_sums(P, n, reorder, c.data());
  for (std::int64_t j = 0; j < n; ++j) c[j] = 1.0f / (c[j] + eps);
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t j = 0; j < n; ++j) Q[i * n + j] = P[i * n + j] * c[j];
  }
}

// Row softmax of Z (max-subtracted, as every kernel computes it).
void softmax_rows(const float* Z, std::int64_t rows, std::int64_t cols, bool reorder, float* S) {
  for (std::int64_t i = 0; i < rows; ++i) {
    const float* z = Z + i * cols;
    float* s = S + i * cols;
    const float mx = *std::max_element(z, z + cols);
    for (std::int64_t j = 0; j < cols; ++j) s[j] = std::exp(z[j] - mx);
    float sum = 0.0f;
    for (std::int64_t jj = 0; jj < cols; ++jj) sum += s[reorder ? cols - 1 - jj : jj];
    for (std::int64_t j = 0; j < cols; ++j) s[j] /= sum;
  }
}

// Backward of Y = normalise(X) along rows (by_rows) or columns, with eps in the denominator:
// g <- (g - sum(g * Y)) inv, inv = 1 / (sum(X) + eps), the sums taken along the normalised
// direction. As in the forward steps and the kernels, each row or column takes one division
// (the reciprocal) and products by it.
void normalise_backward(const float* X, const float* Y, std::int64_t n, float eps, bool by_rows, bool reorder,
                        float* g) {
  std::vector<float> sums(n);
  if (by_rows) {
    row_sums(X, n, reorder, sums.data());
  } else {
    col_sums(X, n, reorder, sums.data());
  }
  for (std::int64_t a = 0; a < n; ++a) {
    float gy = 0.0f;
    for (std::int64_t bb = 0; bb < n; ++bb) {
      const std::int64_t b = reorder ? n - 1 - bb : bb;
      const std::int64_t idx = by_rows ? a * n + b : b * n + a;
      gy += g[idx] * Y[idx];
    }
    const float inv = 1.0f / (sums[a] + eps);
    for (std::int64_t b = 0; b < n; ++b) {
      const std::int64_t idx = by_rows ? a * n + b : b * n + a;
      g[idx] = (g[idx] - gy) * inv;
    }
  }
}

void sinkhorn_forward(const Problem& p, const float* Z, int repeats, float* it) {
  const std::int64_t nn = p.n * p.n;
  if (p.s.resmap == ResMap::sinkhorn) {
    softmax_rows(Z, p.n, p.n, p.opt.reorder, it);
    for (std::int64_t i = 0; i < nn; ++i) it[i] += static_cast<float>(p.s.eps_sk);
  } else {  // sinkhorn_exp: the paper's exp start
    for (std::int64_t i = 0; i < nn; ++i) it[i] = std::exp(Z[i]);
  }
  sinkhorn_iterations(p, repeats, it);
}

void sinkhorn_backward_exact(const Problem& p, const float* Z, int repeats, const float* it, const float* dH,
                             float* dZ) {
  const std::int64_t n = p.n, nn = n * n;
  const bool reorder = p.opt.reorder;
  const bool softmax_start = p.s.resmap == ResMap::sinkhorn;
  const float eps = softmax_start ? static_cast<float>(p.s.eps_sk) : 0.0f;
  std::vector<float> g(dH, dH + nn), q(nn);
  for (int k = repeats; k >= 1; --k) {
    const float* prev = it + (k - 1) * nn;
    const bool has_row_step = !(softmax_start && k == 1);
    // Recompute the column step's input exactly as the forward did.
    if (has_row_step) row_normalise(prev, n, eps, reorder, q.data());
    const float* col_in = has_row_step ? q.data() : prev;
    normalise_backward(col_in, it + k * nn, n, eps, /*by_rows=*/false, reorder, g.data());
    if (has_row_step) normalise_backward(prev, q.data(), n, eps, /*by_rows=*/true, reorder, g.data());
  }
  if (softmax_start) {
    std::vector<float> S(nn);
    softmax_rows(Z, n, n, reorder, S.data());
    for (std::int64_t i = 0; i < n; ++i) {
      float gs = 0.0f;
      for (std::int64_t jj = 0; jj < n; ++jj) {
        const std::int64_t j = reorder ? n - 1 - jj : jj;
        gs += g[i * n + j] * S[i * n + j];
      }
      for (std::int64_t j = 0; j < n; ++j) dZ[i * n + j] = (g[i * n + j] - gs) * S[i * n + j];
    }
  } else {
    for (std::int64_t i = 0; i < nn; ++i) dZ[i] = g[i] * it[i];
  }
}

// H = sum_k a_k P_k, a = softmax(z_res) over the n! permutations.
void permutations_forward(const Problem& p, const float* z_res, float* H) {
  const std::int64_t n = p.n, count = p.res_size();
  std::vector<float> a(count);
  softmax_rows(z_res, 1, count, p.opt.reorder, a.data());
  std::fill(H, H + n * n, 0.0f);
  for (std::int64_t kk = 0; kk < count; ++kk) {
    const std::int64_t k = p.opt.reorder ? count - 1 - kk : kk;
    for (std::int64_t row = 0; row < n; ++row) H[row * n + p.perms[k * n + row]] += a[k];
  }
}

void permutations_backward(const Problem& p, const float* z_res, const float* dH, float* dz) {
  const std::int64_t n = p.n, count = p.res_size();
  std::vector<float> a(count), da(count);
  softmax_rows(z_res, 1, count, p.opt.reorder, a.data());
  float dot = 0.0f;
  for (std::int64_t k = 0; k < count; ++k) {
    float acc = 0.0f;
    for (std::int64_t row = 0; row < n; ++row) acc += dH[row * n + p.perms[k * n + row]];
    da[k] = acc;
  }
  for (std::int64_t kk = 0; kk < count; ++kk) {
    const std::int64_t k = p.opt.reorder ? count - 1 - kk : kk;
    dot += da[k] * a[k];
  }
  for (std::int64_t k = 0; k < count; ++k) dz[k] = (da[k] - dot) * a[k];
}

// Solves A x = b (size m, row-major A) by Gaussian elimination with partial pivoting, in f32.
void solve_dense(std::vector<float>& A, std::vector<float>& b, std::int64_t m) {
  for (std::int64_t col = 0; col < m; ++col) {
    std::int64_t piv = col;
    for (std::int64_t r = col + 1; r < m; ++r) {
      if (std::fabs(A[r * m + col]) > std::fabs(A[piv * m + col])) piv = r;
    }
    if (piv != col) {
      for (std::int64_t c = 0; c < m; ++c) std::swap(A[col * m + c], A[piv * m + c]);
      std::swap(b[col], b[piv]);
    }
    const float d = A[col * m + col];
    if (d == 0.0f) continue;  // singular direction (a zero row of P): its unknown stays 0
    for (std::int64_t r = col + 1; r < m; ++r) {
      const float f = A[r * m + col] / d;
      if (f == 0.0f) continue;
      for (std::int64_t c = col; c < m; ++c) A[r * m + c] -= f * A[col * m + c];
      b[r] -= f * b[col];
    }
  }
  for (std::int64_t r = m - 1; r >= 0; --r) {
    float acc = b[r];
    for (std::int64_t c = r + 1; c < m; ++c) acc -= A[r * m + c] * b[c];
    b[r] = A[r * m + r] == 0.0f ? 0.0f : acc / A[r * m + r];
  }
}

}  // namespace

// sinkhorn: a column step, then R - 1 x (row, column), eps_sk in every division; sinkhorn_exp:
// R x (row, column), no eps.
void sinkhorn_iterations(const Problem& p, int repeats, float* it) {
  const std::int64_t n = p.n, nn = n * n;
  const bool reorder = p.opt.reorder;
  std::vector<float> q(nn);
  if (p.s.resmap == ResMap::sinkhorn) {
    const float eps = static_cast<float>(p.s.eps_sk);
    if (repeats < 1) return;
    col_normalise(it, n, eps, reorder, it + nn);
    for (int k = 2; k <= repeats; ++k) {
      row_normalise(it + (k - 1) * nn, n, eps, reorder, q.data());
      col_normalise(q.data(), n, eps, reorder, it + k * nn);
    }
  } else {
    for (int k = 1; k <= repeats; ++k) {
      row_normalise(it + (k - 1) * nn, n, 0.0f, reorder, q.data());
      col_normalise(q.data(), n, 0.0f, reorder, it + k * nn);
    }
  }
}

void sinkhorn_backward_implicit(const Problem& p, const float* z_res, int repeats, const float* iterates,
                                const float* dH, float* dz) {
  const std::int64_t n = p.n, nn = n * n;
  const float* H = iterates + repeats * nn;
  // Unknowns a[0..n), b[0..n-1): b[n-1] = 0 removes the null direction (a + d, b - d).
  // Rows 0..n-1: sum_j P_ij (G_ij - a_i - b_j) = 0; columns 0..n-2: sum_i P_ij (G_ij - a_i - b_j) = 0
  // (the last column equation is implied by the others).
  const std::int64_t m = 2 * n - 1;
  std::vector<float> A(m * m, 0.0f), rhs(m, 0.0f);
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t j = 0; j < n; ++j) {
      const float P = H[i * n + j], PG = P * dH[i * n + j];
      rhs[i] += PG;
      A[i * m + i] += P;
      if (j < n - 1) {
        A[i * m + n + j] += P;
        rhs[n + j] += PG;
        A[(n + j) * m + i] += P;
        A[(n + j) * m + n + j] += P;
      }
    }
  }
  solve_dense(A, rhs, m);
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t j = 0; j < n; ++j) {
      const float b = j < n - 1 ? rhs[n + j] : 0.0f;
      dz[i * n + j] = H[i * n + j] * (dH[i * n + j] - rhs[i] - b);
    }
  }
  // That is the gradient at theta = log P0. The exp start has P0 = exp(Z); the softmax + eps
  // start needs dP0 = dtheta / P0 and the softmax backward.
  if (p.s.resmap == ResMap::sinkhorn) {
    std::vector<float> S(nn);
    softmax_rows(z_res, n, n, p.opt.reorder, S.data());
    for (std::int64_t i = 0; i < n; ++i) {
      float gs = 0.0f;
      for (std::int64_t j = 0; j < n; ++j) {
        dz[i * n + j] /= iterates[i * n + j];
        gs += dz[i * n + j] * S[i * n + j];
      }
      for (std::int64_t j = 0; j < n; ++j) dz[i * n + j] = (dz[i * n + j] - gs) * S[i * n + j];
    }
  }
}

void resmap_forward(const Problem& p, const float* z_res, int repeats, float* iterates) {
  switch (p.s.resmap) {
    case ResMap::sinkhorn:
    case ResMap::sinkhorn_exp:
      sinkhorn_forward(p, z_res, repeats, iterates);
      return;
    case ResMap::identity:
      std::memcpy(iterates, z_res, sizeof(float) * p.n * p.n);
      return;
    case ResMap::permutations:
      permutations_forward(p, z_res, iterates);
      return;
  }
}

void resmap_backward(const Problem& p, const float* z_res, int repeats, const float* iterates, const float* dH,
                     float* dz_res) {
  switch (p.s.resmap) {
    case ResMap::sinkhorn:
    case ResMap::sinkhorn_exp:
      if (p.s.sinkhorn_grad == SinkhornGrad::implicit) {
        sinkhorn_backward_implicit(p, z_res, repeats, iterates, dH, dz_res);
      } else {
        sinkhorn_backward_exact(p, z_res, repeats, iterates, dH, dz_res);
      }
      return;
    case ResMap::identity:
      std::memcpy(dz_res, dH, sizeof(float) * p.n * p.n);
      return;
    case ResMap::permutations:
      permutations_backward(p, z_res, dH, dz_res);
      return;
  }
}

}  // namespace mhc::emulated
