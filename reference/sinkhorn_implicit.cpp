// The implicit (fixed-point) Sinkhorn backward that some kernels use instead of unrolling the
// iterations. It treats the last iterate H as the exact balancing H = diag(u) K diag(v) of
// K = P0 (softmax + eps, or exp(Z)) with unit row and column sums, and differentiates that fixed
// point. For a finite R it is an approximation; the golden offers it so a report can say how far
// a kernel's implicit gradient is from the exact one (BUGS.md "Sinkhorn backward").
//
// With theta = log K, f = log u, g = log v: dH = H . (df 1^T + 1 dg^T + dtheta). The balancing
// constraints [H1 - 1; H^T 1 - 1] = 0 have the Jacobian A = [[diag(H1), H], [H^T, diag(H^T 1)]]
// in (f, g), so dL/dtheta = H . (G - lambda_f 1^T - 1 lambda_g^T) with
// A [lambda_f; lambda_g] = [rowsum(H . G); colsum(H . G)]. A is symmetric positive semidefinite
// with the null vector (1, -1) and the right side is orthogonal to it, so conjugate gradients
// converge; the gradient does not depend on which solution they reach.
#include <cmath>
#include <vector>

#include "reference/resmap.hpp"

namespace mhc::ref {
namespace {

// y = A x for A = [[diag(rs), H], [H^T, diag(cs)]], x = [f (n); g (n)].
void apply_A(const std::vector<double>& H, const std::vector<double>& rs, const std::vector<double>& cs,
             const std::vector<double>& x, std::vector<double>& y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) {
    double acc = rs[i] * x[i];
    for (std::int64_t j = 0; j < n; ++j) acc += H[i * n + j] * x[n + j];
    y[i] = acc;
  }
  for (std::int64_t j = 0; j < n; ++j) {
    double acc = cs[j] * x[n + j];
    for (std::int64_t i = 0; i < n; ++i) acc += H[i * n + j] * x[i];
    y[n + j] = acc;
  }
}

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// Conjugate gradients from x = 0 on the consistent semidefinite system A x = b.
std::vector<double> conjugate_gradient(const std::vector<double>& H, const std::vector<double>& rs,
                                       const std::vector<double>& cs, const std::vector<double>& b, std::int64_t n) {
  std::vector<double> x(b.size(), 0.0), r = b, p = b, Ap(b.size());
  const double bb = dot(b, b);
  double rr = bb;
  // In exact arithmetic CG ends within rank(A) <= 2n - 1 steps; extra steps absorb rounding.
  for (std::int64_t it = 0; it < 8 * n && rr > 1e-30 * bb; ++it) {
    apply_A(H, rs, cs, p, Ap, n);
    const double pAp = dot(p, Ap);
    if (!(pAp > 0)) break;
    const double a = rr / pAp;
    for (std::size_t k = 0; k < x.size(); ++k) {
      x[k] += a * p[k];
      r[k] -= a * Ap[k];
    }
    const double rr_next = dot(r, r);
    for (std::size_t k = 0; k < x.size(); ++k) p[k] = r[k] + (rr_next / rr) * p[k];
    rr = rr_next;
  }
  return x;
}

}  // namespace

void ResMapPlan::sinkhorn_implicit_backward(const double* z_res, const double* dH, double* dz_res) const {
  const std::int64_t n = n_, nn = n * n;
  std::vector<double> states, S;
  sinkhorn_states(z_res, states, S);
  const std::vector<double> H(states.end() - nn, states.end());
  std::vector<double> rs(n, 0.0), cs(n, 0.0), b(2 * n, 0.0), W(nn);
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t j = 0; j < n; ++j) {
      const std::int64_t e = i * n + j;
      W[e] = H[e] * dH[e];
      rs[i] += H[e];
      cs[j] += H[e];
      b[i] += W[e];
      b[n + j] += W[e];
    }
  }
  const std::vector<double> lambda = conjugate_gradient(H, rs, cs, b, n);
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t j = 0; j < n; ++j) {
      const std::int64_t e = i * n + j;
      const double dtheta = W[e] - H[e] * (lambda[i] + lambda[n + j]);
      // theta = log P0: exp start gives dZ = dtheta; softmax + eps start gives dP0 = dtheta / P0.
      dz_res[e] = s_.resmap == ResMap::sinkhorn ? dtheta / states[e] : dtheta;
    }
  }
  if (s_.resmap == ResMap::sinkhorn) {
    for (std::int64_t i = 0; i < n; ++i) {
      double d = 0;
      for (std::int64_t j = 0; j < n; ++j) d += dz_res[i * n + j] * S[i * n + j];
      for (std::int64_t j = 0; j < n; ++j) dz_res[i * n + j] = (dz_res[i * n + j] - d) * S[i * n + j];
    }
  }
}

}  // namespace mhc::ref
