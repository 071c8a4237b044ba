// Names of the taps (forward intermediates), gradient components and stages a backend may
// expose for decomposition. Every tensor carries the token dimension first.
//
// Pre forward taps (MATH.md "Forward pre"):
//   tap.m        [T, M]     v . phi'^T
//   tap.inv_rms  [T]        r = 1/sqrt(s/K + eps_rms)
//   tap.m_hat    [T, M]     r . m
//   tap.z        [T, M]     alpha_e . m_hat + b
//   tap.h_pre    [T, n]     sigmoid(z_pre) + eps_pre
//   tap.h_post   [T, n]     p . sigmoid(z_post)
//   tap.h_res    [T, n, n]  H = resmap(Z) (before the optional lite merge)
//   tap.sinkhorn.<k> [T, n, n]  Sinkhorn iterate k = 0..R: k = 0 is the matrix before any
//                            normalisation (softmax + eps, or exp), k >= 1 the matrix after the k-th
//                            column normalisation; tap.sinkhorn.<R> == tap.h_res
//   tap.y        [T, C]
// Pre backward components:
//   part.dh_pre     [T, n]     sum_c X[i,c] dy[c]
//   part.dz         [T, M]     gradient at z (pre | post | res blocks)
//   part.dinv_rms   [T]        dr
//   part.dx_apply   [T, n, C]  h_pre[i] dy[c]
//   part.dx_mm      [T, n, C]  dm . phi'   (= dx_mm_pre + dx_mm_post + dx_mm_res)
//   part.dx_mm_pre / part.dx_mm_post / part.dx_mm_res  [T, n, C]  the same restricted to one block
//   part.dx_norm    [T, n, C]  -(dr r^3 / K) v
//   part.dphi_pre [n, K], part.dphi_post [n, K], part.dphi_res [M-2n, K]   row blocks of dphi
//   part.dbias_pre [n], part.dbias_post [n], part.dbias_res [M-2n]
//   part.dgamma_pre / part.dgamma_post / part.dgamma_res  [K]  dgamma restricted to one block
// dx = dx_apply + dx_mm + dx_norm; dalpha's three entries are its per-block components.
//
// Stages (Backend::run_stage), inputs -> outputs, keyed by the same names:
//   "norm_proj": x, phi, gamma?          -> tap.m, tap.inv_rms
//   "mix":       tap.m, tap.inv_rms, alpha, bias -> tap.m_hat, tap.z, tap.h_pre, tap.h_post
//   "resmap":    tap.z                   -> tap.h_res
//   "apply":     x, tap.h_pre            -> tap.y
//   "post":      x, f, h_post, h_res     -> out
#pragma once

#include <array>
#include <string>
#include <string_view>

namespace mhc::taps {

inline constexpr std::string_view m = "tap.m";
inline constexpr std::string_view inv_rms = "tap.inv_rms";
inline constexpr std::string_view m_hat = "tap.m_hat";
inline constexpr std::string_view z = "tap.z";
inline constexpr std::string_view h_pre = "tap.h_pre";
inline constexpr std::string_view h_post = "tap.h_post";
inline constexpr std::string_view h_res = "tap.h_res";
inline constexpr std::string_view y = "tap.y";
inline std::string sinkhorn(int k) { return "tap.sinkhorn." + std::to_string(k); }

inline constexpr std::string_view dh_pre = "part.dh_pre";
inline constexpr std::string_view dz = "part.dz";
inline constexpr std::string_view dinv_rms = "part.dinv_rms";
inline constexpr std::string_view dx_apply = "part.dx_apply";
inline constexpr std::string_view dx_mm = "part.dx_mm";
inline constexpr std::string_view dx_norm = "part.dx_norm";

// The three mix blocks, in the order of phi's rows.
inline constexpr std::array<std::string_view, 3> blocks = {"pre", "post", "res"};
inline std::string dx_mm_block(std::string_view b) { return "part.dx_mm_" + std::string(b); }
inline std::string dphi_block(std::string_view b) { return "part.dphi_" + std::string(b); }
inline std::string dbias_block(std::string_view b) { return "part.dbias_" + std::string(b); }
inline std::string dgamma_block(std::string_view b) { return "part.dgamma_" + std::string(b); }

inline constexpr std::array<std::string_view, 5> stages = {"norm_proj", "mix", "resmap", "apply", "post"};

}  // namespace mhc::taps
