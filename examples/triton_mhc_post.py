#!/usr/bin/env python3
"""mHC post forward and backward as Triton kernels on a CUDA GPU, verified by mhc-verify through its
exec backend (docs/check.md):

    mhc-verify --shapes examples/triton_post.yaml --backend 'pipe:python3 examples/triton_mhc_post.py'
    mhc-verify --shapes examples/triton_post.yaml --backend 'pipe:python3 examples/triton_mhc_post.py --bug orientation'

`pipe:` keeps one process per verifier thread (Python, torch and Triton start once); `exec:`
starts one per call (`triton_mhc_post.py [--bug orientation] IN.safetensors OUT.safetensors`). The kernels
(MATH.md "Forward post", "Backward post"): out[j] = h_post[j] f + sum_i Hm[i,j] x[i] with Hm = H in
the transposed orientation and H^T in the plain one, f32 accumulation, one bf16 rounding; the
backward is one program per token that loops over C, so dh_post and dH are summed in a fixed order
(no atomics: bitwise deterministic). `--bug orientation` flips the orientation, the most frequent
bug of public mHC code (BUGS.md). Post only: a pre case is an error naming that.
"""
import argparse
import os
import sys

import torch
import triton
import triton.language as tl

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients", "python"))
from mhc_verify_client import serve_kernel  # noqa: E402


@triton.jit
def _mix_weights(H_ptr, t, n, s, TRANSPOSED: tl.constexpr):
    """Hm[a, b], the weight of input stream a in output stream b, for streams s (masked past n)."""
    mask = (s[:, None] < n) & (s[None, :] < n)
    if TRANSPOSED:
        offsets = s[:, None] * n + s[None, :]
    else:
        offsets = s[None, :] * n + s[:, None]
    return tl.load(H_ptr + t * n * n + offsets, mask=mask, other=0.0).to(tl.float32), offsets, mask


@triton.jit
def post_forward_kernel(x_ptr, f_ptr, hp_ptr, H_ptr, out_ptr, n, C, TRANSPOSED: tl.constexpr,
                        BLOCK_N: tl.constexpr, BLOCK_C: tl.constexpr):
    t = tl.program_id(0)
    s = tl.arange(0, BLOCK_N)
    c = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    rows = (s[:, None] < n) & (c[None, :] < C)
    x = tl.load(x_ptr + (t * n + s[:, None]) * C + c[None, :], mask=rows, other=0.0).to(tl.float32)
    f = tl.load(f_ptr + t * C + c, mask=c < C, other=0.0).to(tl.float32)
    hp = tl.load(hp_ptr + t * n + s, mask=s < n, other=0.0).to(tl.float32)
    Hm, _, _ = _mix_weights(H_ptr, t, n, s, TRANSPOSED)
    out = tl.sum(Hm[:, :, None] * x[:, None, :], axis=0) + hp[:, None] * f[None, :]
    tl.store(out_ptr + (t * n + s[:, None]) * C + c[None, :], out.to(tl.bfloat16), mask=rows)


@triton.jit
def post_backward_kernel(x_ptr, f_ptr, hp_ptr, H_ptr, dout_ptr, dx_ptr, df_ptr, dhp_ptr, dH_ptr, n, C,
                         TRANSPOSED: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_C: tl.constexpr):
    t = tl.program_id(0)
    s = tl.arange(0, BLOCK_N)
    Hm, offsets, hmask = _mix_weights(H_ptr, t, n, s, TRANSPOSED)
    hp = tl.load(hp_ptr + t * n + s, mask=s < n, other=0.0).to(tl.float32)
    dhp = tl.zeros([BLOCK_N], dtype=tl.float32)
    dHm = tl.zeros([BLOCK_N, BLOCK_N], dtype=tl.float32)
    for c0 in range(0, C, BLOCK_C):
        c = c0 + tl.arange(0, BLOCK_C)
        rows = (s[:, None] < n) & (c[None, :] < C)
        at = (t * n + s[:, None]) * C + c[None, :]
        x = tl.load(x_ptr + at, mask=rows, other=0.0).to(tl.float32)
        dout = tl.load(dout_ptr + at, mask=rows, other=0.0).to(tl.float32)
        f = tl.load(f_ptr + t * C + c, mask=c < C, other=0.0).to(tl.float32)
        dx = tl.sum(Hm[:, :, None] * dout[None, :, :], axis=1)  # dx[a] = sum_b Hm[a, b] dout[b]
        tl.store(dx_ptr + at, dx.to(tl.bfloat16), mask=rows)
        df = tl.sum(hp[:, None] * dout, axis=0)
        tl.store(df_ptr + t * C + c, df.to(tl.bfloat16), mask=c < C)
        dhp += tl.sum(f[None, :] * dout, axis=1)
        dHm += tl.sum(x[:, None, :] * dout[None, :, :], axis=2)
    tl.store(dhp_ptr + t * n + s, dhp, mask=s < n)
    tl.store(dH_ptr + t * n * n + offsets, dHm, mask=hmask)  # the gradient of Hm[a, b] lands on H's element


def blocks(n, C):
    return max(2, triton.next_power_of_2(n)), min(128, max(16, triton.next_power_of_2(C)))


def post(arrays, md, bug):
    """The results of one exec/pipe call (docs/check.md) on the GPU."""
    if md.get("op") != "post":
        raise ValueError(f"this example implements post only, not {md.get('op')!r}")
    transposed = (md["orientation"] == "transposed") != (bug == "orientation")
    dev = torch.device("cuda")
    dtypes = {"x": torch.bfloat16, "f": torch.bfloat16, "dout": torch.bfloat16}
    t = {k: torch.from_numpy(v.copy()).to(dev).to(dtypes.get(k, torch.float32)).contiguous() for k, v in arrays.items()}
    T, n, C = t["x"].shape
    BLOCK_N, BLOCK_C = blocks(n, C)
    if md["mode"] == "forward":
        out = torch.empty(T, n, C, device=dev, dtype=torch.bfloat16)
        if T > 0:
            post_forward_kernel[(T, triton.cdiv(C, BLOCK_C))](t["x"], t["f"], t["h_post"], t["h_res"], out, n, C,
                                                              transposed, BLOCK_N, BLOCK_C)
        results = {"out": out}
    else:
        results = {"dx": torch.empty(T, n, C, device=dev, dtype=torch.bfloat16),
                   "df": torch.empty(T, C, device=dev, dtype=torch.bfloat16),
                   "dh_post": torch.empty(T, n, device=dev, dtype=torch.float32),
                   "dh_res": torch.empty(T, n, n, device=dev, dtype=torch.float32)}
        if T > 0:
            post_backward_kernel[(T,)](t["x"], t["f"], t["h_post"], t["h_res"], t["dout"], results["dx"], results["df"],
                                       results["dh_post"], results["dh_res"], n, C, transposed, BLOCK_N, BLOCK_C)
    torch.cuda.synchronize()
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bug", choices=["orientation"], help="flip the orientation (BUGS.md)")
    ap.add_argument("files", nargs="*", metavar="IN OUT", help="one exec: call; without, serve pipe: calls")
    args = ap.parse_args()
    if len(args.files) not in (0, 2):
        ap.error("give IN and OUT (exec:), or nothing (pipe:)")
    serve_kernel(lambda arrays, md: post(arrays, md, args.bug), args.files)


if __name__ == "__main__":
    main()
