#!/usr/bin/python3
"""PyTorch side of the PINN benchmark: builds the benchmark MLP with a fixed
seed, exports it to ONNX for physnn, and times PyTorch on the same points:
the forward pass, and the heat-residual inputs (u, u_t, u_xx) by autograd.

usage: torch_pinn.py --widths 2,64,64,64,1 --points 262144 --onnx out.onnx
       [--device cpu|cuda] [--repeat 5] [--json out.json]
"""
import argparse
import json
import time

import torch


def build(widths, seed=0):
    torch.manual_seed(seed)
    layers = []
    for i in range(len(widths) - 1):
        layers.append(torch.nn.Linear(widths[i], widths[i + 1]))
        if i < len(widths) - 2:
            layers.append(torch.nn.Tanh())
    return torch.nn.Sequential(*layers)


def flops_forward(widths):
    return sum(2 * widths[i] * widths[i + 1] for i in range(len(widths) - 1))


def timed(fn, repeat, sync):
    fn()                       # warm-up
    sync()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--widths", default="2,64,64,64,1")
    ap.add_argument("--points", type=int, default=262144)
    ap.add_argument("--onnx")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json")
    ap.add_argument("--check", metavar="PREFIX",
                    help="compare PREFIX.{u,ut,uxx}.f32 written by pinn-bench "
                    "--dump with this model in float64 (relative max error)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    widths = [int(w) for w in args.widths.split(",")]
    model = build(widths).eval()
    if args.onnx:
        kw = dict(input_names=["coords"], output_names=["u"],
                  dynamic_axes={"coords": {0: "N"}, "u": {0: "N"}},
                  opset_version=13)
        try:        # the TorchScript exporter where PyTorch still has it
            torch.onnx.export(model, torch.rand(8, widths[0]), args.onnx,
                              dynamo=False, **kw)
        except TypeError:
            torch.onnx.export(model, torch.rand(8, widths[0]), args.onnx, **kw)
    dev = torch.device(args.device)
    model = model.to(dev)
    pts = torch.rand(args.points, widths[0], device=dev)
    sync = (torch.cuda.synchronize if dev.type == "cuda" else (lambda: None))

    def forward():
        with torch.no_grad():
            model(pts)

    def residual_inputs():
        p = pts.clone().requires_grad_(True)
        u = model(p)
        g = torch.autograd.grad(u.sum(), p, create_graph=True)[0]
        u_x, u_t = g[:, 0:1], g[:, 1:2]
        u_xx = torch.autograd.grad(u_x.sum(), p)[0][:, 0:1]
        return u, u_t, u_xx

    if args.check:
        import numpy as np
        x = np.fromfile(args.check + ".x.f32", dtype=np.float32).reshape(-1, widths[0])
        m64 = build(widths).double()
        p = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        u = m64(p)
        g = torch.autograd.grad(u.sum(), p, create_graph=True)[0]
        u_xx = torch.autograd.grad(g[:, 0].sum(), p)[0][:, 0]
        ref = {"u": u.detach().numpy().ravel(), "ut": g[:, 1].detach().numpy(),
               "uxx": u_xx.numpy()}
        ref["uf"] = ref["u"]   # values from physnn's forward-only kernel
        errs = {}
        for k, r in ref.items():
            ours = np.fromfile(f"{args.check}.{k}.f32", dtype=np.float32)
            errs[k] = float(np.max(np.abs(ours - r)) / np.max(np.abs(r)))
        print(json.dumps({"check": args.check, "relative_error": errs}))
    t_fwd = timed(forward, args.repeat, sync)
    t_res = timed(residual_inputs, args.repeat, sync)
    res = {
        "tool": f"pytorch {torch.__version__} ({args.device}, "
                f"{args.threads if dev.type == 'cpu' else 'gpu'} threads)",
        "widths": widths, "points": args.points,
        "forward_s": t_fwd, "forward_mpts": args.points / t_fwd / 1e6,
        "forward_gflops": args.points * flops_forward(widths) / t_fwd / 1e9,
        "residual_s": t_res, "residual_mpts": args.points / t_res / 1e6,
    }
    print(json.dumps(res))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f)


if __name__ == "__main__":
    main()
