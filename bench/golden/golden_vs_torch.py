#!/usr/bin/python3
"""Golden vs PyTorch CPU autograd, side by side in one run.

Runs mhc_bench_golden (the f64 golden: pre forward + backward, all five gradients, gamma on) and
then the same formulas (MATH.md "Forward pre", deepseek Sinkhorn) in PyTorch float64 with autograd,
both with the same thread count, and prints both timings and their ratio.

    /usr/bin/python3 bench/golden/golden_vs_torch.py --bench build/golden/bench/golden/mhc_bench_golden --threads 2

Needs Debian's python3-torch (apt-get install -y python3-torch); run it with /usr/bin/python3.
"""
import argparse
import json
import os
import subprocess
import time

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


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", required=True, help="path to mhc_bench_golden")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=4096)
    ap.add_argument("--streams", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=1024)
    ap.add_argument("--repeats", type=int, default=20, help="Sinkhorn iterations R")
    ap.add_argument("--reps", type=int, default=5, help="timed repetitions; the best is reported")
    a = ap.parse_args()

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
