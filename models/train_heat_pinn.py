#!/usr/bin/python3
"""Heat 1-D PINN: u_t = 0.1 u_xx on x in [0,1], t in [0,1], u(0,x) = sin(pi x),
u(t,0) = u(t,1) = 0 -- the defaults of `pdesrc pde=heat-1d`; the exact
solution is exp(-0.1 pi^2 t) sin(pi x).

The initial and boundary conditions are built into the network (hard
constraints, exported inside the ONNX graph):
    u = sin(pi x) + t x (1 - x) N(x, t),   N a 2-32x3-1 tanh MLP,
so the loss is the PDE residual alone. Adam on freshly drawn collocation
points, then L-BFGS on a fixed set. Trained in float64 (the ansatz makes the
residual small enough that float32 round-off would stall L-BFGS), exported
in float32.

    cd /work/main && meson devenv -C build-models /usr/bin/python3 \\
        ../models/train_heat_pinn.py
"""
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402  (first: it sets up the OpenMP environment)
import evaluate_models  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

ALPHA = 0.1
SEED = 1


class HeatPINN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = common.mlp([2, 32, 32, 32, 1])

    def forward(self, coords):
        x = coords[:, 0:1]
        t = coords[:, 1:2]
        return torch.sin(math.pi * x) + t * x * (1.0 - x) * self.net(coords)


def residual(model, pts):
    pts = pts.clone().requires_grad_(True)
    u = model(pts)
    g = torch.autograd.grad(u.sum(), pts, create_graph=True)[0]
    u_x, u_t = g[:, 0:1], g[:, 1:2]
    u_xx = torch.autograd.grad(u_x.sum(), pts, create_graph=True)[0][:, 0:1]
    return u_t - ALPHA * u_xx


def main():
    common.setup_torch(SEED)
    torch.set_default_dtype(torch.float64)
    model = HeatPINN()
    with common.Timer() as timer:
        opt = torch.optim.Adam(model.parameters(), lr=2e-3)
        for it in range(2001):
            pts = torch.rand(1024, 2)
            loss = residual(model, pts).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            if it % 500 == 0:
                print(f"adam {it:5d} residual^2 {loss.item():.3e}", flush=True)
        pts = torch.rand(2048, 2)
        for rnd in range(2):
            lbfgs = torch.optim.LBFGS(model.parameters(), lr=1.0, max_iter=1000,
                                      tolerance_grad=1e-12,
                                      tolerance_change=1e-16, history_size=50,
                                      line_search_fn="strong_wolfe")

            def closure():
                lbfgs.zero_grad()
                loss = residual(model, pts).pow(2).mean()
                loss.backward()
                return loss
            lbfgs.step(closure)
            print(f"lbfgs round {rnd} residual^2 {closure().item():.3e} "
                  f"({timer.elapsed():.0f} s)", flush=True)
    print(f"training took {timer.seconds:.0f} s wall, "
          f"{timer.cpu_seconds:.0f} s CPU", flush=True)

    torch.set_default_dtype(torch.float32)
    model = model.float()
    path = os.path.join(common.HERE, "heat1d_pinn.onnx")
    common.export_onnx(model, (torch.rand(8, 2, dtype=torch.float32),),
                       ["coords"], path, {
        "physnn.coords": "x,t",
        "physnn.outputs": "u",
        "physnn.pde": "u_t - 0.1*u_xx",
        "physnn.domain": "x=0:1,t=0:1",
        "physnn.description": "heat 1-D PINN, alpha=0.1, u(0,x)=sin(pi x), "
                              "u(t,0)=u(t,1)=0 built in: "
                              "u=sin(pi x)+t x(1-x) MLP(x,t), MLP 2-32x3-1 tanh",
    })
    print("wrote", path, flush=True)

    rng = np.random.default_rng(SEED)
    check = rng.random((1000, 2)).astype(np.float32)
    common.verify_export(model, path, [check], 0, "u_t,u_x,u_xx")
    for dev in ("cpu", "opencl"):
        e_sim, e_ex, m_ex = evaluate_models.eval_heat(path, dev)
        print(f"through physnn {dev}: rel L2 vs simulator {e_sim:.2e}, "
              f"vs exact {e_ex:.2e}, max |error| {m_ex:.2e} (target 1e-3)",
              flush=True)


if __name__ == "__main__":
    main()
