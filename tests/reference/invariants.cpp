#include "invariants.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include "kernels/taps.hpp"

namespace mhc::test {
namespace {

std::vector<std::vector<int>> lexicographic_permutations(int n) {
  std::vector<int> p(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) p[i] = i;
  std::vector<std::vector<int>> all;
  do all.push_back(p);
  while (std::next_permutation(p.begin(), p.end()));
  return all;
}

// src_row[row'] = the row of the original phi that becomes row' of the permuted one.
std::vector<std::int64_t> source_rows(const PreCase& c, const std::vector<int>& pi) {
  const std::int64_t n = c.n;
  std::vector<std::int64_t> src(static_cast<std::size_t>(c.M));
  for (std::int64_t i = 0; i < n; ++i) {
    src[i] = pi[i];
    src[n + i] = n + pi[i];
  }
  if (c.s.resmap == ResMap::permutations) {
    // H'[i,j] = H[pi i, pi j] = sum_k a_k [pi^-1 perm_k pi (i) == j]: logit k moves to the index
    // of the permutation pi^-1 . perm_k . pi.
    const auto perms = lexicographic_permutations(static_cast<int>(n));
    std::vector<int> inv(pi.size());
    for (std::size_t i = 0; i < pi.size(); ++i) inv[pi[i]] = static_cast<int>(i);
    std::map<std::vector<int>, std::int64_t> index;
    for (std::size_t k = 0; k < perms.size(); ++k) index[perms[k]] = static_cast<std::int64_t>(k);
    for (std::size_t k = 0; k < perms.size(); ++k) {
      std::vector<int> q(pi.size());
      for (std::size_t i = 0; i < pi.size(); ++i) q[i] = inv[perms[k][pi[i]]];
      src[2 * n + index.at(q)] = 2 * n + static_cast<std::int64_t>(k);
    }
  } else {
    for (std::int64_t i = 0; i < n; ++i) {
      for (std::int64_t j = 0; j < n; ++j) src[2 * n + i * n + j] = 2 * n + pi[i] * n + pi[j];
    }
  }
  return src;
}

// out[i, ...] = in[src[i], ...] along dimension `dim` of a row-major tensor.
Tensor gather(const Tensor& in, std::size_t dim, const std::vector<std::int64_t>& src) {
  Tensor out(in.dtype(), in.shape());
  std::int64_t outer = 1, inner = 1;
  for (std::size_t d = 0; d < dim; ++d) outer *= in.dim(d);
  for (std::size_t d = dim + 1; d < in.rank(); ++d) inner *= in.dim(d);
  const std::int64_t len = in.dim(dim);
  for (std::int64_t o = 0; o < outer; ++o) {
    for (std::int64_t i = 0; i < len; ++i) {
      for (std::int64_t k = 0; k < inner; ++k) out.set((o * len + i) * inner + k, in.get((o * len + src[i]) * inner + k));
    }
  }
  return out;
}

std::vector<std::int64_t> as_index(const std::vector<int>& pi) { return {pi.begin(), pi.end()}; }

std::vector<std::int64_t> source_cols(const PreCase& c, const std::vector<int>& pi) {
  std::vector<std::int64_t> src(static_cast<std::size_t>(c.n * c.C));
  for (std::int64_t i = 0; i < c.n; ++i) {
    for (std::int64_t ch = 0; ch < c.C; ++ch) src[i * c.C + ch] = pi[i] * c.C + ch;
  }
  return src;
}

Tensor combine(const Tensor& a, double wa, const Tensor& b, double wb) {
  Tensor out(DType::f64, a.shape());
  for (std::int64_t i = 0; i < a.numel(); ++i) out.set(i, wa * a.get(i) + wb * b.get(i));
  return out;
}

}  // namespace

double scaled_error(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) return INFINITY;
  double diff = 0, scale = 1;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double d = std::fabs(a[i] - b[i]);
    diff = std::isnan(d) ? INFINITY : std::max(diff, d);
    scale = std::max(scale, std::fabs(b[i]));
  }
  return diff / scale;
}

Marginals marginals(const Tensor& h_res) {
  const std::int64_t T = h_res.dim(0), n = h_res.dim(1);
  const std::vector<double> H = values(h_res);
  Marginals m;
  for (std::int64_t t = 0; t < T; ++t) {
    for (std::int64_t a = 0; a < n; ++a) {
      double row = 0, col = 0;
      for (std::int64_t b = 0; b < n; ++b) {
        row += H[(t * n + a) * n + b];
        col += H[(t * n + b) * n + a];
      }
      m.row = std::max(m.row, std::fabs(row - 1));
      m.col = std::max(m.col, std::fabs(col - 1));
    }
  }
  return m;
}

double equivariance_error(const PreCase& c, const std::vector<int>& pi) {
  const std::vector<std::int64_t> rows = source_rows(c, pi), cols = source_cols(c, pi), streams = as_index(pi);
  PreCase p = c;
  p.x = gather(c.x, 1, streams);
  p.phi = gather(gather(c.phi, 0, rows), 1, cols);
  if (c.gamma.defined()) p.gamma = gather(c.gamma, 0, cols);
  p.bias = gather(c.bias, 0, rows);
  p.dh_post = gather(c.dh_post, 1, streams);
  p.dh_res = gather(gather(c.dh_res, 1, streams), 2, streams);

  const ref::PreForward o = ref::pre_forward(c.s, c.args(), nullptr), po = ref::pre_forward(p.s, p.args(), nullptr);
  const ref::PreGradients g = ref::pre_backward(c.s, c.args(), c.upstream(), nullptr);
  const ref::PreGradients pg = ref::pre_backward(p.s, p.args(), p.upstream(), nullptr);
  double err = 0;
  auto check = [&](const Tensor& permuted, const Tensor& expected) {
    err = std::max(err, scaled_error(values(permuted), values(expected)));
  };
  check(po.y, o.y);
  check(po.h_post, gather(o.h_post, 1, streams));
  check(po.h_res, gather(gather(o.h_res, 1, streams), 2, streams));
  check(pg.dx, gather(g.dx, 1, streams));
  check(pg.dphi, gather(gather(g.dphi, 0, rows), 1, cols));
  check(pg.dalpha, g.dalpha);
  check(pg.dbias, gather(g.dbias, 0, rows));
  if (c.gamma.defined()) check(pg.dgamma, gather(g.dgamma, 0, cols));
  return err;
}

double linearity_error(const PreCase& c1, const PreCase& c2, double a, double b) {
  PreCase mixed = c1;
  mixed.dy = combine(c1.dy, a, c2.dy, b);
  mixed.dh_post = combine(c1.dh_post, a, c2.dh_post, b);
  mixed.dh_res = combine(c1.dh_res, a, c2.dh_res, b);
  PreCase second = c1;
  second.dy = c2.dy;
  second.dh_post = c2.dh_post;
  second.dh_res = c2.dh_res;
  const ref::PreGradients g1 = ref::pre_backward(c1.s, c1.args(), c1.upstream(), nullptr);
  const ref::PreGradients g2 = ref::pre_backward(c1.s, second.args(), second.upstream(), nullptr);
  const ref::PreGradients gm = ref::pre_backward(c1.s, mixed.args(), mixed.upstream(), nullptr);
  double err = 0;
  auto check = [&](const Tensor& got, const Tensor& t1, const Tensor& t2) {
    err = std::max(err, scaled_error(values(got), values(combine(t1, a, t2, b))));
  };
  check(gm.dx, g1.dx, g2.dx);
  check(gm.dphi, g1.dphi, g2.dphi);
  check(gm.dalpha, g1.dalpha, g2.dalpha);
  check(gm.dbias, g1.dbias, g2.dbias);
  if (c1.s.use_gamma) check(gm.dgamma, g1.dgamma, g2.dgamma);
  return err;
}

double components_error(const PreCase& c) {
  ref::Named parts;
  const ref::PreGradients g = ref::pre_backward(c.s, c.args(), c.upstream(), &parts);
  const auto part = [&](const std::string& name) { return values(parts.at(name)); };
  const auto sum = [](std::vector<std::vector<double>> terms) {
    std::vector<double> s(terms[0].size(), 0.0);
    for (const auto& t : terms) {
      for (std::size_t i = 0; i < s.size(); ++i) s[i] += t[i];
    }
    return s;
  };
  const auto concat = [](std::vector<std::vector<double>> terms) {
    std::vector<double> s;
    for (const auto& t : terms) s.insert(s.end(), t.begin(), t.end());
    return s;
  };
  std::vector<std::vector<double>> mm, dphi, dbias, dgamma;
  for (std::string_view b : taps::blocks) {
    mm.push_back(part(taps::dx_mm_block(b)));
    dphi.push_back(part(taps::dphi_block(b)));
    dbias.push_back(part(taps::dbias_block(b)));
    if (c.s.use_gamma) dgamma.push_back(part(taps::dgamma_block(b)));
  }
  double err = scaled_error(sum({part(std::string(taps::dx_apply)), part(std::string(taps::dx_mm)),
                                 part(std::string(taps::dx_norm))}),
                            values(g.dx));
  err = std::max(err, scaled_error(sum(mm), part(std::string(taps::dx_mm))));
  err = std::max(err, scaled_error(concat(dphi), values(g.dphi)));
  err = std::max(err, scaled_error(concat(dbias), values(g.dbias)));
  if (c.s.use_gamma) err = std::max(err, scaled_error(sum(dgamma), values(g.dgamma)));
  return err;
}

}  // namespace mhc::test
