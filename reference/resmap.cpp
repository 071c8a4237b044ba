#include "reference/resmap.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace mhc::ref {
namespace {

// Row softmax of an [n, n] matrix, stabilised by the row maximum (exact in real arithmetic).
void softmax_rows(const double* z, double* S, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) {
    const double* zi = z + i * n;
    double* Si = S + i * n;
    const double mx = *std::max_element(zi, zi + n);
    double sum = 0;
    for (std::int64_t j = 0; j < n; ++j) sum += (Si[j] = std::exp(zi[j] - mx));
    for (std::int64_t j = 0; j < n; ++j) Si[j] /= sum;
  }
}

// Y = P / (line sum + eps), lines are rows or columns of an [n, n] matrix.
void normalise(const double* P, double* Y, std::int64_t n, bool rows, double eps) {
  const std::int64_t line_stride = rows ? n : 1, elem_stride = rows ? 1 : n;
  for (std::int64_t a = 0; a < n; ++a) {
    double sum = 0;
    for (std::int64_t b = 0; b < n; ++b) sum += P[a * line_stride + b * elem_stride];
    const double d = sum + eps;
    for (std::int64_t b = 0; b < n; ++b) Y[a * line_stride + b * elem_stride] = P[a * line_stride + b * elem_stride] / d;
  }
}

// Backward of normalise: gP = (gY - sum_line(gY . Y)) / (line sum of P + eps).
void normalise_backward(const double* P, const double* Y, const double* gY, double* gP, std::int64_t n, bool rows,
                        double eps) {
  const std::int64_t line_stride = rows ? n : 1, elem_stride = rows ? 1 : n;
  for (std::int64_t a = 0; a < n; ++a) {
    double sum = 0, dot = 0;
    for (std::int64_t b = 0; b < n; ++b) {
      const std::int64_t e = a * line_stride + b * elem_stride;
      sum += P[e];
      dot += gY[e] * Y[e];
    }
    const double d = sum + eps;
    for (std::int64_t b = 0; b < n; ++b) {
      const std::int64_t e = a * line_stride + b * elem_stride;
      gP[e] = (gY[e] - dot) / d;
    }
  }
}

std::int64_t factorial(std::int64_t n) {
  std::int64_t f = 1;
  for (std::int64_t i = 2; i <= n; ++i) f *= i;
  return f;
}

}  // namespace

ResMapPlan::ResMapPlan(const Semantics& s, std::int64_t n) : s_(s), n_(n) {
  if (s.resmap == ResMap::permutations) {
    logits_ = factorial(n);
    // std::next_permutation from the sorted sequence walks the lexicographic order, which is
    // the order of itertools.permutations(range(n)).
    std::vector<int> p(static_cast<std::size_t>(n));
    std::iota(p.begin(), p.end(), 0);
    do perms_.push_back(p);
    while (std::next_permutation(p.begin(), p.end()));
  } else {
    logits_ = n * n;
  }
}

bool ResMapPlan::is_sinkhorn() const { return s_.resmap == ResMap::sinkhorn || s_.resmap == ResMap::sinkhorn_exp; }

int ResMapPlan::iterate_count() const { return is_sinkhorn() ? s_.repeats + 1 : 0; }

// sinkhorn: column step, then R-1 x (row, column): 2R-1 steps. sinkhorn-exp: R x (row, column).
int ResMapPlan::sinkhorn_steps() const { return s_.resmap == ResMap::sinkhorn ? 2 * s_.repeats - 1 : 2 * s_.repeats; }

bool ResMapPlan::step_is_row(int step) const {
  return s_.resmap == ResMap::sinkhorn ? (step % 2 == 1) : (step % 2 == 0);
}

void ResMapPlan::sinkhorn_states(const double* z_res, std::vector<double>& states, std::vector<double>& S) const {
  const std::int64_t nn = n_ * n_;
  const int steps = sinkhorn_steps();
  states.resize(static_cast<std::size_t>((steps + 1) * nn));
  double* P0 = states.data();
  if (s_.resmap == ResMap::sinkhorn) {
    S.resize(static_cast<std::size_t>(nn));
    softmax_rows(z_res, S.data(), n_);
    for (std::int64_t e = 0; e < nn; ++e) P0[e] = S[e] + s_.eps_sk;
  } else {
    for (std::int64_t e = 0; e < nn; ++e) P0[e] = std::exp(z_res[e]);
  }
  const double eps = s_.resmap == ResMap::sinkhorn ? s_.eps_sk : 0.0;
  for (int st = 0; st < steps; ++st) {
    normalise(states.data() + st * nn, states.data() + (st + 1) * nn, n_, step_is_row(st), eps);
  }
}

void ResMapPlan::forward(const double* z_res, double* H, double* iterates) const {
  const std::int64_t nn = n_ * n_;
  switch (s_.resmap) {
    case ResMap::identity:
      std::copy(z_res, z_res + nn, H);
      return;
    case ResMap::permutations: {
      std::vector<double> a(static_cast<std::size_t>(logits_));
      // softmax over all n! logits.
      const double mx = *std::max_element(z_res, z_res + logits_);
      double sum = 0;
      for (std::int64_t k = 0; k < logits_; ++k) sum += (a[k] = std::exp(z_res[k] - mx));
      std::fill(H, H + nn, 0.0);
      for (std::int64_t k = 0; k < logits_; ++k) {
        const double ak = a[k] / sum;
        for (std::int64_t row = 0; row < n_; ++row) H[row * n_ + perms_[k][row]] += ak;
      }
      return;
    }
    case ResMap::sinkhorn:
    case ResMap::sinkhorn_exp: {
      std::vector<double> states, S;
      sinkhorn_states(z_res, states, S);
      const int steps = sinkhorn_steps();
      std::copy(states.end() - nn, states.end(), H);
      if (iterates) {
        std::copy(states.begin(), states.begin() + nn, iterates);
        int k = 1;
        for (int st = 0; st < steps; ++st) {
          if (step_is_row(st)) continue;
          std::copy(states.begin() + (st + 1) * nn, states.begin() + (st + 2) * nn, iterates + k * nn);
          ++k;
        }
      }
      return;
    }
  }
}

void ResMapPlan::backward(const double* z_res, const double* dH, double* dz_res) const {
  const std::int64_t nn = n_ * n_;
  switch (s_.resmap) {
    case ResMap::identity:
      std::copy(dH, dH + nn, dz_res);
      return;
    case ResMap::permutations: {
      // H = sum_k a_k P_k: da_k = sum_row dH[row, perm_k[row]]; softmax backward.
      std::vector<double> a(static_cast<std::size_t>(logits_)), da(a.size());
      const double mx = *std::max_element(z_res, z_res + logits_);
      double sum = 0;
      for (std::int64_t k = 0; k < logits_; ++k) sum += (a[k] = std::exp(z_res[k] - mx));
      double dot = 0;
      for (std::int64_t k = 0; k < logits_; ++k) {
        a[k] /= sum;
        double g = 0;
        for (std::int64_t row = 0; row < n_; ++row) g += dH[row * n_ + perms_[k][row]];
        da[k] = g;
        dot += g * a[k];
      }
      for (std::int64_t k = 0; k < logits_; ++k) dz_res[k] = (da[k] - dot) * a[k];
      return;
    }
    case ResMap::sinkhorn:
    case ResMap::sinkhorn_exp:
      if (s_.sinkhorn_grad == SinkhornGrad::implicit) sinkhorn_implicit_backward(z_res, dH, dz_res);
      else sinkhorn_exact_backward(z_res, dH, dz_res);
      return;
  }
}

// Walks the saved states in reverse; then the softmax + eps (or exp) start.
void ResMapPlan::sinkhorn_exact_backward(const double* z_res, const double* dH, double* dz_res) const {
  const std::int64_t nn = n_ * n_;
  std::vector<double> states, S;
  sinkhorn_states(z_res, states, S);
  const double eps = s_.resmap == ResMap::sinkhorn ? s_.eps_sk : 0.0;
  std::vector<double> g(dH, dH + nn), g_in(static_cast<std::size_t>(nn));
  for (int st = sinkhorn_steps() - 1; st >= 0; --st) {
    normalise_backward(states.data() + st * nn, states.data() + (st + 1) * nn, g.data(), g_in.data(), n_,
                       step_is_row(st), eps);
    g.swap(g_in);
  }
  if (s_.resmap == ResMap::sinkhorn) {
    // P0 = softmax_row(Z) + eps: g_Z = (g - sum_row(g . S)) . S.
    for (std::int64_t i = 0; i < n_; ++i) {
      double dot = 0;
      for (std::int64_t j = 0; j < n_; ++j) dot += g[i * n_ + j] * S[i * n_ + j];
      for (std::int64_t j = 0; j < n_; ++j) dz_res[i * n_ + j] = (g[i * n_ + j] - dot) * S[i * n_ + j];
    }
  } else {
    for (std::int64_t e = 0; e < nn; ++e) dz_res[e] = g[e] * states[e];  // d exp(Z) = exp(Z) dZ
  }
}

}  // namespace mhc::ref
