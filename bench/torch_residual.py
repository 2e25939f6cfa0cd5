#!/usr/bin/python3
"""PyTorch side of the residual benchmark: the same ONNX model (run by a
small torch interpreter of its graph, float32 weights as stored) and the
residual u_t - 0.1 u_xx by torch.autograd.grad (create_graph for the second
derivative), on the same 256x256 x-t grid per frame as residual-bench, and
on N random points. Prints one JSON object.

usage: torch_residual.py --onnx models/heat1d_pinn.onnx [--device cuda]
       [--grid 256x256] [--frames 200] [--points 4194304] [--repeat 5]
"""
import argparse
import json
import time

import numpy as np
import torch


def graph(path):
    """(nodes, tensors): nodes as (op, inputs, outputs, attributes), from
    the ONNX file, or from PATH.npz (written by --dump where the onnx
    package exists) on machines without it."""
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        z = np.load(path + ".npz", allow_pickle=False)
        nodes = json.loads(str(z["__graph__"]))
        return nodes, {k: z[k] for k in z.files if k != "__graph__"}
    m = onnx.load(path)
    tensors = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    nodes = []
    for n in m.graph.node:
        a = {}
        for at in n.attribute:
            v = onnx.helper.get_attribute_value(at)
            if n.op_type == "Constant":
                tensors[n.output[0]] = numpy_helper.to_array(v)
            elif isinstance(v, (int, float)):
                a[at.name] = v
        nodes.append((n.op_type, list(n.input), list(n.output), a))
    nodes.append(("__io__", [m.graph.input[0].name], [m.graph.output[0].name], {}))
    return nodes, tensors


def load(path, device):
    nodes, tensors = graph(path)
    init = {k: torch.tensor(v).to(device) for k, v in tensors.items()}
    io = nodes[-1]

    def run(x):
        env = dict(init)
        env[io[1][0]] = x
        for op, ins, outs, a in nodes[:-1]:
            i = [env.get(k) for k in ins]
            if op == "Constant":
                continue
            if op == "Gemm":
                y = (i[0].T if a.get("transA") else i[0]) @ (
                    i[1].T if a.get("transB") else i[1])
                y = a.get("alpha", 1.0) * y + (a.get("beta", 1.0) * i[2]
                                               if len(i) > 2 else 0)
            elif op == "Slice":
                s, e = int(i[1][0]), int(i[2][0])
                ax = int(i[3][0]) if len(i) > 3 else 0
                y = i[0].narrow(ax, s, min(e, i[0].shape[ax]) - s)
            else:
                y = {"Tanh": torch.tanh, "Sin": torch.sin, "Cos": torch.cos,
                     "Exp": torch.exp, "Neg": torch.neg}.get(op, None)
                y = y(i[0]) if y else {"Add": torch.add, "Sub": torch.sub,
                                       "Mul": torch.mul, "Div": torch.div,
                                       "MatMul": torch.matmul}[op](i[0], i[1])
            env[outs[0]] = y
        return env[io[2][0]]
    return run


def residual(run, x):
    x = x.detach().requires_grad_(True)
    u = run(x)
    g = torch.autograd.grad(u.sum(), x, create_graph=True)[0]
    u_xx = torch.autograd.grad(g[:, 0].sum(), x)[0][:, 0]
    return (g[:, 1] - 0.1 * u_xx).detach()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--onnx", required=True)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--grid", default="256x256")
    ap.add_argument("--frames", type=int, default=50)
    ap.add_argument("--points", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--dump", action="store_true",
                    help="write ONNX.npz for machines without the onnx package")
    args = ap.parse_args()
    if args.dump:
        nodes, tensors = graph(args.onnx)
        np.savez(args.onnx + ".npz", __graph__=json.dumps(nodes), **tensors)
        return
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    run = load(args.onnx, dev)
    out = {"bench": "torch-residual", "device": args.device,
           "torch": torch.__version__}
    nx, nt = (int(v) for v in args.grid.split("x"))
    xs, ts = np.meshgrid(np.linspace(0, 1, nx), np.linspace(0, 1, nt))
    grid = torch.tensor(np.stack([xs.ravel(), ts.ravel()], 1), dtype=torch.float32,
                        device=dev)
    r = residual(run, grid).cpu()     # warm-up
    t0 = time.perf_counter()
    for _ in range(args.frames):
        r = residual(run, grid).cpu()  # to host memory, as residual-bench
    out["grid"] = args.grid
    out["residual_fps"] = args.frames / (time.perf_counter() - t0)
    out["residual_rms"] = float(r.double().pow(2).mean().sqrt())
    if args.points:
        x = torch.rand(args.points, 2, device=dev)
        residual(run, x)
        sync()
        best = float("inf")
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            residual(run, x).cpu()
            best = min(best, time.perf_counter() - t0)
        out["points"] = args.points
        out["mpts_per_s"] = args.points / best / 1e6
    print(json.dumps(out))


if __name__ == "__main__":
    main()
