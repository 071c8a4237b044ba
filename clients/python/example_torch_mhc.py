"""Verifies a PyTorch implementation of mHC post against the mhc-verify golden through the service.

The implementation is written the way a training framework would: bf16 activations, autograd for
the backward. Usage:

    /usr/bin/python3 clients/python/example_torch_mhc.py --target 127.0.0.1:50051 [--token-file F]

Exit status: 0 when the service says pass, 1 when it says anything else, 77 when torch is absent.
"""

import argparse
import sys

try:
    import torch
except ImportError:
    print("torch is not installed; skipping the PyTorch example", file=sys.stderr)
    sys.exit(77)

from mhc_verify_client import Client


def mhc_post(x, f, h_post, h_res):
    """out[t,j,c] = h_post[t,j] f[t,c] + sum_i H[t,i,j] x[t,i,c]  (transposed orientation), computed in
    f32 and rounded to the activation dtype, as a fused kernel would."""
    out = h_post[:, :, None] * f.float()[:, None, :] + torch.einsum("tij,tic->tjc", h_res, x.float())
    return out.to(x.dtype)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="127.0.0.1:50051")
    parser.add_argument("--token-file")
    parser.add_argument("--stub-dir")
    args = parser.parse_args()
    token = open(args.token_file).read().strip() if args.token_file else None

    T, n, C = 13, 4, 64
    g = torch.Generator().manual_seed(0)
    x = torch.randn(T, n, C, generator=g).to(torch.bfloat16).requires_grad_()
    f = torch.randn(T, C, generator=g).to(torch.bfloat16).requires_grad_()
    h_post = (2 * torch.sigmoid(torch.randn(T, n, generator=g))).requires_grad_()
    h_res = torch.softmax(torch.randn(T, n, n, generator=g), dim=-1).requires_grad_()
    dout = torch.randn(T, n, C, generator=g).to(torch.bfloat16)

    out = mhc_post(x, f, h_post, h_res)
    out.backward(dout)
    tensors = {"x": x, "f": f, "h_post": h_post, "h_res": h_res, "dout": dout, "out": out,
               "dx": x.grad, "df": f.grad, "dh_post": h_post.grad, "dh_res": h_res.grad}
    with Client(args.target, token=token, stub_dir=args.stub_dir) as client:
        report = client.check_tensors({k: v.detach() for k, v in tensors.items()}, op="post", preset="deepseek",
                                      label="torch mhc_post")
    for t in report["tensors"]:
        print(f"{t['name']:8s} {t['verdict']:4s} {t.get('reason', '')}")
    print("verdict:", report["verdict"])
    return 0 if report["verdict"] == "pass" else 1


if __name__ == "__main__":
    sys.exit(main())
