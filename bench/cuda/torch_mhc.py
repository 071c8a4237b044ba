#!/usr/bin/env python3
"""PyTorch eager implementation of the same mHC formulas (MATH.md, deepseek preset) timed the way
mhc_bench_cuda times the CUDA kernels: median of RUNS runs after warm-up, L2 flushed before each.

Forward and autograd backward with bf16 activations and f32 parameters (the kernels' precision),
plus the pre forward+backward entirely in f32. Writes {"T,n,C": {"pre_fwd": ms, ...}} as JSON for
`mhc_bench_cuda --torch FILE`.

    python3 bench/cuda/torch_mhc.py --out torch.json [--shape 65536,4,1024 ...] [--runs 50]
"""
import argparse
import json
import math

import torch

EPS = 1e-6
POST_MULT = 2.0


def pre_forward(x, phi, gamma, alpha, bias, n, repeats):
    T = x.shape[0]
    v = x.reshape(T, -1).float()
    phi_f = phi * gamma if gamma is not None else phi
    m = v @ phi_f.t()
    r = torch.rsqrt(v.pow(2).mean(-1, keepdim=True) + EPS)
    m_hat = r * m
    alpha_e = torch.cat([alpha[0].expand(n), alpha[1].expand(n), alpha[2].expand(n * n)])
    z = alpha_e * m_hat + bias
    h_pre = torch.sigmoid(z[:, :n]) + EPS
    h_post = POST_MULT * torch.sigmoid(z[:, n:2 * n])
    P = torch.softmax(z[:, 2 * n:].reshape(T, n, n), -1) + EPS
    P = P / (P.sum(-2, keepdim=True) + EPS)
    for _ in range(repeats - 1):
        P = P / (P.sum(-1, keepdim=True) + EPS)
        P = P / (P.sum(-2, keepdim=True) + EPS)
    y = (h_pre.unsqueeze(-1) * x.float()).sum(1).to(x.dtype)
    return y, h_post, P


def post_forward(x, f, h_post, H):
    # Transposed orientation: out[j] = h_post[j] f + sum_i H[i, j] x[i].
    out = h_post.unsqueeze(-1) * f.float().unsqueeze(1) + torch.einsum("tij,tic->tjc", H, x.float())
    return out.to(x.dtype)


def bench(fn, runs, warmup, flush):
    start = [torch.cuda.Event(enable_timing=True) for _ in range(runs + warmup)]
    stop = [torch.cuda.Event(enable_timing=True) for _ in range(runs + warmup)]
    for i in range(runs + warmup):
        flush.zero_()
        start[i].record()
        fn()
        stop[i].record()
    torch.cuda.synchronize()
    times = sorted(s.elapsed_time(e) for s, e in zip(start[warmup:], stop[warmup:]))
    return times[len(times) // 2]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--shape", action="append", help="T,n,C")
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    shapes = [tuple(int(v) for v in s.split(",")) for s in (args.shape or ["65536,4,1024", "16384,4,7168"])]
    dev = torch.device("cuda")
    flush = torch.empty(2 * torch.cuda.get_device_properties(dev).L2_cache_size // 4 + (64 << 20), device=dev)
    results = {}
    for T, n, C in shapes:
        K, M = n * C, 2 * n + n * n
        g = torch.Generator(device=dev).manual_seed(0)
        x = torch.randn(T, n, C, device=dev, generator=g).to(torch.bfloat16)
        phi = torch.randn(M, K, device=dev, generator=g) / math.sqrt(K)
        alpha = torch.rand(3, device=dev, generator=g) + 0.5
        bias = 0.1 * torch.randn(M, device=dev, generator=g)
        dy = torch.randn(T, C, device=dev, generator=g).to(torch.bfloat16)
        dh_post = torch.randn(T, n, device=dev, generator=g)
        dh_res = torch.randn(T, n, n, device=dev, generator=g)
        f = torch.randn(T, C, device=dev, generator=g).to(torch.bfloat16)
        h_post = POST_MULT * torch.sigmoid(torch.randn(T, n, device=dev, generator=g))
        H = torch.softmax(torch.randn(T, n, n, device=dev, generator=g), -1)
        dout = torch.randn(T, n, C, device=dev, generator=g).to(torch.bfloat16)
        row = {}

        with torch.no_grad():
            row["pre_fwd"] = bench(lambda: pre_forward(x, phi, None, alpha, bias, n, args.repeats),
                                   args.runs, args.warmup, flush)
            row["post_fwd"] = bench(lambda: post_forward(x, f, h_post, H), args.runs, args.warmup, flush)

        def pre_fwd_bwd(xx, up_dy):
            leaves = [xx.detach().requires_grad_(), phi.detach().requires_grad_(),
                      alpha.detach().requires_grad_(), bias.detach().requires_grad_()]
            y, hp, P = pre_forward(leaves[0], leaves[1], None, leaves[2], leaves[3], n, args.repeats)
            torch.autograd.backward([y, hp, P], [up_dy, dh_post, dh_res])

        def post_fwd_bwd():
            leaves = [x.detach().requires_grad_(), f.detach().requires_grad_(),
                      h_post.detach().requires_grad_(), H.detach().requires_grad_()]
            out = post_forward(*leaves)
            out.backward(dout)

        row["pre_fwd_bwd"] = bench(lambda: pre_fwd_bwd(x, dy), args.runs, args.warmup, flush)
        x32, dy32 = x.float(), dy.float()
        row["pre_fwd_bwd_f32"] = bench(lambda: pre_fwd_bwd(x32, dy32), args.runs, args.warmup, flush)
        row["post_fwd_bwd"] = bench(post_fwd_bwd, args.runs, args.warmup, flush)
        results[f"{T},{n},{C}"] = row
        print(f"torch {T},{n},{C}: " + ", ".join(f"{k} {v:.3f} ms" for k, v in row.items()), flush=True)
        del x, dy, f, dout, x32, dy32
        torch.cuda.empty_cache()
    with open(args.out, "w") as fh:
        json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
