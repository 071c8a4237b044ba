#!/usr/bin/env python3
"""Checks a PyTorch implementation of mHC with `mhc-verify check`: the workflow for any kernel.

    mhc-verify golden --op pre --preset deepseek -T 64 -n 4 -C 256 --dump case.safetensors
    python3 examples/check_torch.py case.safetensors mine.safetensors [--bug NAME]
    mhc-verify check mine.safetensors

The same script is a program backend, which runs it on every case of a sweep (and on the random
shapes of `--random`); pipe: starts it once per verifier thread, exec: once per call:

    mhc-verify --shapes examples/quick.yaml --backend 'pipe:python3 examples/check_torch.py'

The case file holds the inputs and upstream gradients (and the golden's results, which are not
read); a forward call of a program backend gives no upstream gradients, and the script then
computes the forward only. This script stands for "your implementation": PyTorch eager with bf16 activations, f32
parameters and autograd for the backward, as a training framework computes. It writes the inputs
and its outputs and gradients under the names `check` reads, with the case's metadata (op, preset,
semantics); docs/check.md describes that file. `--bug` reproduces a bug of public mHC code
(BUGS.md) to show how a failure reads. Every residual map and orientation of MATH.md; exit 77
when torch is not installed.
"""
import argparse
import itertools
import os
import sys

try:
    import torch
except ImportError:
    print("torch is not installed; skipping the PyTorch example", file=sys.stderr)
    sys.exit(77)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients", "python"))
from mhc_verify_client import serve_kernel  # noqa: E402

BUGS = {
    "sinkhorn_r_minus_1": "pre: the Sinkhorn loop runs R - 1 iterations (Megatron-LM #5106)",
    "orientation": "post: H x where the convention is H^T x, or the reverse (Megatron-LM #4957)",
}


class Semantics:
    """The semantics fields of the case file's metadata (core/semantics.hpp names)."""

    def __init__(self, md):
        self.resmap = md["resmap"]
        self.orientation = md["orientation"]
        self.repeats = int(md["repeats"])
        self.eps_rms, self.eps_pre, self.eps_sk = (float(md[k]) for k in ("eps_rms", "eps_pre", "eps_sk"))
        self.post_mult = float(md["post_mult"])
        self.merged_residual = md.get("merged_residual") == "true"
        if md.get("sinkhorn_grad") == "implicit":
            raise ValueError("this example implements the exact Sinkhorn gradient only (sinkhorn_grad=exact)")


def resmap(z_res, n, s, bug):
    """H from the res logits: MATH.md "Residual maps"."""
    if s.resmap == "permutations":  # n! logits weigh the permutation matrices, itertools order
        perms = list(itertools.permutations(range(n)))
        P = torch.zeros(len(perms), n, n)
        for k, perm in enumerate(perms):
            P[k, torch.arange(n), torch.tensor(perm)] = 1.0
        return torch.einsum("tk,kij->tij", torch.softmax(z_res, -1), P)
    Z = z_res.reshape(-1, n, n)
    if s.resmap == "identity":
        return Z
    rows, cols = -1, -2  # P.sum(rows) sums each row, P.sum(cols) each column
    repeats = s.repeats - (bug == "sinkhorn_r_minus_1")
    if s.resmap == "sinkhorn":
        P = torch.softmax(Z, -1) + s.eps_sk
        P = P / (P.sum(cols, keepdim=True) + s.eps_sk)
        for _ in range(repeats - 1):
            P = P / (P.sum(rows, keepdim=True) + s.eps_sk)
            P = P / (P.sum(cols, keepdim=True) + s.eps_sk)
        return P
    P = torch.exp(Z)  # sinkhorn-exp
    for _ in range(repeats):
        P = P / P.sum(rows, keepdim=True)
        P = P / P.sum(cols, keepdim=True)
    return P


def pre(t, s, bug):
    """Forward and autograd backward of pre; returns the results by name."""
    x = t["x"].detach().requires_grad_()
    params = {k: t[k].detach().requires_grad_() for k in ("phi", "gamma", "alpha", "bias") if k in t}
    T, n, C = x.shape
    M = params["phi"].shape[0]
    xf = x.float()  # widened once, so autograd rounds dx to bf16 once
    v = xf.reshape(T, n * C)
    phi = params["phi"] * params["gamma"] if "gamma" in params else params["phi"]
    m = v @ phi.t()
    # The inverse RMS in f64: in f32, autograd's d rsqrt(q)/dq = -q^-1.5/2 underflows to 0 for rows
    # near the top of the bf16 range (--dist large) and dx loses its norm term, the bug
    # docs/cuda.md tells of in our own first CUDA kernel.
    r = torch.rsqrt(v.double().pow(2).mean(-1, keepdim=True) + s.eps_rms).float()
    a = params["alpha"]
    alpha_e = torch.cat([a[0].expand(n), a[1].expand(n), a[2].expand(M - 2 * n)])
    z = alpha_e * (r * m) + params["bias"]
    h_pre = torch.sigmoid(z[:, :n]) + s.eps_pre
    h_post = s.post_mult * torch.sigmoid(z[:, n:2 * n])
    H = resmap(z[:, 2 * n:], n, s, bug)
    if s.merged_residual:  # mHC-lite: H - h_post (x) h_pre, output stream index first
        H = H - h_post[:, :, None] * h_pre[:, None, :]
    y = (h_pre[:, :, None] * xf).sum(1).to(torch.bfloat16)
    if "dy" not in t:  # a forward call of a program backend
        return {"y": y, "h_post": h_post, "h_res": H}
    torch.autograd.backward([y, h_post, H], [t["dy"], t["dh_post"], t["dh_res"]])
    grads = {"d" + k: p.grad for k, p in params.items()}
    return {"y": y, "h_post": h_post, "h_res": H, "dx": x.grad, **grads}


def post(t, s, bug):
    """Forward and autograd backward of post; returns the results by name."""
    leaves = {k: t[k].detach().requires_grad_() for k in ("x", "f", "h_post", "h_res")}
    x, f, h_post, H = (leaves[k] for k in ("x", "f", "h_post", "h_res"))
    transposed = (s.orientation == "transposed") != (bug == "orientation")
    mix = "tij,tic->tjc" if transposed else "tij,tjc->tic"
    out = (h_post[:, :, None] * f.float()[:, None, :] + torch.einsum(mix, H, x.float())).to(torch.bfloat16)
    if "dout" not in t:  # a forward call of a program backend
        return {"out": out}
    out.backward(t["dout"])
    return {"out": out, "dx": x.grad, "df": f.grad, "dh_post": h_post.grad, "dh_res": H.grad}


def implementation(arrays, md, bug):
    """The inputs and this implementation's results for one case: the file `check` reads, or the
    answer to an exec:/pipe: call (which ignores the inputs)."""
    op, s = md.get("op"), Semantics(md)
    if op not in ("pre", "post"):
        raise ValueError(f"metadata op is {op!r}; write the case with `mhc-verify golden --op pre|post --dump`")
    if bug == "orientation" and op != "post" or bug == "sinkhorn_r_minus_1" and (
            op != "pre" or not s.resmap.startswith("sinkhorn") or s.repeats < 2):
        raise ValueError(f"--bug {bug} does not apply to this case ({op}, resmap {s.resmap}, R = {s.repeats}): "
                         f"{BUGS[bug]}")
    names = {"pre": ("x", "phi", "gamma", "alpha", "bias", "dy", "dh_post", "dh_res"),
             "post": ("x", "f", "h_post", "h_res", "dout")}[op]
    activations = {"x", "f", "dy", "dout"}  # bf16 in the case file, as in a model
    inputs = {k: torch.from_numpy(arrays[k].copy()).to(torch.bfloat16 if k in activations else torch.float32)
              for k in names if k in arrays}
    results = (pre if op == "pre" else post)(inputs, s, bug)
    md["producer"] = "examples/check_torch.py" + (f" --bug {bug}" if bug else "")
    return {**inputs, **{k: v.detach() for k, v in results.items()}}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="*", metavar="CASE OUT",
                    help="a case file from `mhc-verify golden --dump` and the file to write for `mhc-verify check` "
                         "(exec: calls give IN and OUT the same way); none: serve pipe: calls")
    ap.add_argument("--bug", choices=sorted(BUGS), help="; ".join(f"{k}: {v}" for k, v in sorted(BUGS.items())))
    args = ap.parse_args()
    if len(args.files) not in (0, 2):
        ap.error("give CASE and OUT, or nothing (pipe:)")
    try:
        serve_kernel(lambda arrays, md: implementation(arrays, md, args.bug), args.files)
    except ValueError as e:
        sys.exit(f"{args.files[0]}: {e}")
    if args.files:
        print(f"wrote {args.files[1]}; now run: mhc-verify check {args.files[1]}")


if __name__ == "__main__":
    main()
