"""mHC post (MATH.md "Forward post" / "Backward post", transposed orientation) in numpy: the
smallest honest "implementation under test" for the client's numpy path.

    out[j,c]     = h_post[j] f[c] + sum_i H[i,j] x[i,c]
    df[c]        = sum_j h_post[j] dout[j,c]
    dh_post[j]   = sum_c f[c] dout[j,c]
    dh_res[i,j]  = sum_c x[i,c] dout[j,c]
    dx[i,c]      = sum_j H[i,j] dout[j,c]
"""

import numpy as np


def post_case(T=13, n=4, C=64, seed=0):
    """Inputs and upstream gradient of one post case, as float32 arrays."""
    rng = np.random.default_rng(seed)
    h_res = np.exp(rng.standard_normal((T, n, n)))
    h_res /= h_res.sum(axis=2, keepdims=True)
    return {
        "x": rng.standard_normal((T, n, C)).astype(np.float32),
        "f": rng.standard_normal((T, C)).astype(np.float32),
        "h_post": (2.0 / (1.0 + np.exp(-rng.standard_normal((T, n))))).astype(np.float32),
        "h_res": h_res.astype(np.float32),
        "dout": rng.standard_normal((T, n, C)).astype(np.float32),
    }


def post_forward_backward(t, transpose_h=True):
    """Outputs and gradients (float32, computed in float64). transpose_h=False is the classic
    orientation bug (BUGS.md): H used as out[i] = sum_j H[i,j] x[j]."""
    x, f, hp, H, dout = (t[k].astype(np.float64) for k in ("x", "f", "h_post", "h_res", "dout"))
    Hm = H if transpose_h else np.swapaxes(H, 1, 2)
    out = hp[:, :, None] * f[:, None, :] + np.einsum("tij,tic->tjc", Hm, x)
    grads = {
        "df": np.einsum("tj,tjc->tc", hp, dout),
        "dh_post": np.einsum("tc,tjc->tj", f, dout),
        "dh_res": np.einsum("tic,tjc->tij", x, dout) if transpose_h else np.einsum("tjc,tic->tij", x, dout),
        "dx": np.einsum("tij,tjc->tic", Hm, dout),
    }
    result = {"out": out, **grads}
    return {k: v.astype(np.float32) for k, v in result.items()}
