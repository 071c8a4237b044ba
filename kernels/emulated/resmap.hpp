// Residual maps H = resmap(Z) and their backward, per token, in f32 (MATH.md "Residual maps").
//
// The Sinkhorn forward keeps every iterate ([repeats + 1, n, n]: k = 0 before any normalisation,
// k >= 1 after the k-th column step, the last is H) because the exact backward walks them in
// reverse. `repeats` is a parameter, not read from the semantics, so that a caller can run a
// different number of iterations than the semantics names (the dropped-iteration mutant).
#pragma once

#include "kernels/emulated/problem.hpp"

namespace mhc::emulated {

// z_res: the res block of z ([n*n] or [n!]); iterates: [repeats + 1, n, n] for the Sinkhorn maps,
// [n, n] (just H) otherwise.
void resmap_forward(const Problem& p, const float* z_res, int repeats, float* iterates);

// The Sinkhorn normalisations from the start matrix iterates[0] (softmax + eps_sk, or exp(Z)):
// fills iterates[1 .. repeats] as resmap_forward does (for the mutant whose start differs).
void sinkhorn_iterations(const Problem& p, int repeats, float* iterates);

// dZ for the given dH: the exact unrolled gradient, or the implicit (fixed-point) gradient of the
// Sinkhorn maps when the semantics asks for SinkhornGrad::implicit.
void resmap_backward(const Problem& p, const float* z_res, int repeats, const float* iterates, const float* dH,
                     float* dz_res);

// The implicit Sinkhorn gradient (as reference/sinkhorn_implicit.cpp): H = iterates[repeats] is
// taken as the exact balancing diag(u) P0 diag(v); d/dlog P0 = H * (G - a 1^T - 1 b^T) with a, b
// chosen so that it has zero row and column sums; then back through P0 (exp, or softmax + eps).
void sinkhorn_backward_implicit(const Problem& p, const float* z_res, int repeats, const float* iterates,
                                const float* dH, float* dz_res);

}  // namespace mhc::emulated
