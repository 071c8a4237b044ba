#!/usr/bin/python3
"""Golden vs PyTorch CPU autograd, side by side in one run.

Runs mhc_bench_golden (the f64 golden: pre forward + backward, all five gradients, gamma on) and
then the same formulas (MATH.md "Forward pre", deepseek Sinkhorn) in PyTorch float64 with autograd,
both with the same thread count, and prints both timings and their ratio.

    /usr/bin/python3 bench/golden/golden_vs_torch.py --bench build/golden/bench/golden/mhc_bench_golden --threads 2

With --check it instead runs both on the same small inputs (the golden dumps them) and prints
the largest relative difference per tensor: an independent float64 implementation of MATH.md.

    /usr/bin/python3 bench/golden/golden_vs_torch.py --bench build/golden/bench/golden/mhc_bench_golden --check

Needs Debian's python3-torch (apt-get install -y python3-torch); run it with /usr/bin/python3.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

import torch


def torch_pre(x, phi, gamma, alpha, bias, n, p, eps, repeats):
    T, _, C = x.shape
    K = n * C
    v = x.reshape(T, K)
    m = v @ (phi * gamma).T
    r = torch.rsqrt(v.pow(2).mean(-1, keepdim=True) + eps)
    alpha_e = torch.cat([alpha[0].expand(n), alpha[1].expand(n), alpha[2].expand(phi.shape[0] - 2 * n)])
    z = (m * r) * alpha_e + bias
    h_pre = torch.sigmoid(z[:, :n]) + eps
    h_post = p * torch.sigmoid(z[:, n:2 * n])
    P = torch.softmax(z[:, 2 * n:].reshape(T, n, n), dim=-1) + eps
    P = P / (P.sum(-2, keepdim=True) + eps)
    for _ in range(repeats - 1):
        P = P / (P.sum(-1, keepdim=True) + eps)
        P = P / (P.sum(-2, keepdim=True) + eps)
    y = (h_pre.unsqueeze(-1) * x).sum(1)
    return y, h_post, P


def time_torch(T, n, C, repeats, reps):
    g = torch.Generator().manual_seed(1)
    K, M = n * C, 2 * n + n * n
    f64 = dict(dtype=torch.float64)
    x = torch.randn(T, n, C, generator=g, **f64).bfloat16().double().requires_grad_()
    phi = (torch.randn(M, K, generator=g, **f64) / K ** 0.5).float().double().requires_grad_()
    gamma = (0.1 * torch.randn(K, generator=g, **f64)).float().double().requires_grad_()
    alpha = torch.randn(3, generator=g, **f64).float().double().requires_grad_()
    bias = (0.5 * torch.randn(M, generator=g, **f64)).float().double().requires_grad_()
    dy = torch.randn(T, C, generator=g, **f64).bfloat16().double()
    dh_post = torch.randn(T, n, generator=g, **f64).float().double()
    dh_res = torch.randn(T, n, n, generator=g, **f64).float().double()
    best = float("inf")
    for rep in range(reps + 1):  # rep 0 warms up
        for t in (x, phi, gamma, alpha, bias):
            t.grad = None
        t0 = time.perf_counter()
        y, h_post, H = torch_pre(x, phi, gamma, alpha, bias, n, 2.0, 1e-6, repeats)
        torch.autograd.backward([y, h_post, H], [dy, dh_post, dh_res])
        dt = time.perf_counter() - t0
        if rep > 0:
            best = min(best, dt)
    return best


def check(a):
    """Golden vs PyTorch autograd on the golden's own inputs; exit status 1 past 1e-10."""
    T, n, C, M = 37, a.streams, 29, 2 * a.streams + a.streams ** 2
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([a.bench, "--tokens", str(T), "--streams", str(n), "--hidden", str(C), "--repeats",
                        str(a.repeats), "--reps", "1", "--dump", d], check=True, capture_output=True)
        shapes = dict(x=(T, n, C), phi=(M, n * C), gamma=(n * C,), alpha=(3,), bias=(M,), dy=(T, C),
                      dh_post=(T, n), dh_res=(T, n, n), y=(T, C), h_post=(T, n), h_res=(T, n, n),
                      dx=(T, n, C), dphi=(M, n * C), dalpha=(3,), dbias=(M,), dgamma=(n * C,))
        t = {k: torch.from_numpy(np.fromfile(f"{d}/{k}.f64", dtype="<f8").reshape(s)) for k, s in shapes.items()}
    inputs = {k: t[k].clone().requires_grad_() for k in ("x", "phi", "gamma", "alpha", "bias")}
    y, h_post, H = torch_pre(*inputs.values(), n, 2.0, 1e-6, a.repeats)
    torch.autograd.backward([y, h_post, H], [t["dy"], t["dh_post"], t["dh_res"]])
    ref = dict(y=y, h_post=h_post, h_res=H, **{"d" + k: v.grad for k, v in inputs.items()})
    worst = 0.0
    for name, expected in ref.items():
        err = ((t[name] - expected.detach()).abs().max() / expected.detach().abs().max()).item()
        worst = max(worst, err)
        print(f"{name:8s} max |golden - torch| / max |torch| = {err:.2e}")
    print(f"T={T} n={n} C={C} deepseek R={a.repeats} gamma: worst {worst:.2e} ({'OK' if worst <= 1e-10 else 'FAIL'})")
    return 0 if worst <= 1e-10 else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", required=True, help="path to mhc_bench_golden")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=4096)
    ap.add_argument("--streams", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=1024)
    ap.add_argument("--repeats", type=int, default=20, help="Sinkhorn iterations R")
    ap.add_argument("--reps", type=int, default=5, help="timed repetitions; the best is reported")
    ap.add_argument("--check", action="store_true", help="compare values on small inputs instead of timing")
    a = ap.parse_args()
    if a.check:
        sys.exit(check(a))

    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
    cmd = [a.bench, "--tokens", str(a.tokens), "--streams", str(a.streams), "--hidden", str(a.hidden),
           "--repeats", str(a.repeats), "--reps", str(a.reps)]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    golden = None
    for line in out.splitlines():
        if line.startswith("json: "):
            golden = json.loads(line[len("json: "):])
        else:
            print(line)

    torch.set_num_threads(a.threads)
    torch_s = time_torch(a.tokens, a.streams, a.hidden, a.repeats, a.reps)
    print(f"pytorch {torch.__version__} float64 autograd  threads={torch.get_num_threads()}  best {torch_s:.3f} s")
    print(f"golden {golden['best_s']:.3f} s vs pytorch {torch_s:.3f} s: golden is {torch_s / golden['best_s']:.2f}x faster")


if __name__ == "__main__":
    main()
