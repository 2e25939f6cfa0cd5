#!/usr/bin/python3
"""Heat 1-D PINN: u_t = 0.1 u_xx on x in [0,1], t in [0,1], u(0,x) = sin(pi x),
u(t,0) = u(t,1) = 0 -- the defaults of `pdesrc pde=heat-1d`.

The initial and boundary conditions are built into the network (hard
constraints): u = sin(pi x) + t x (1 - x) N(x, t), so the loss is the PDE
residual alone. Adam, then L-BFGS, on resampled collocation points.

    meson devenv -C build /usr/bin/python3 ../models/train_heat_pinn.py
"""
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

ALPHA = 0.1
torch.manual_seed(1)
np.random.seed(1)
torch.set_num_threads(2)


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
    model = HeatPINN()
    with common.Timer() as timer:
        opt = torch.optim.Adam(model.parameters(), lr=2e-3)
        for it in range(3000):
            pts = torch.rand(2048, 2)
            loss = residual(model, pts).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            if it % 500 == 0:
                print(f"adam {it:5d} loss {loss.item():.3e}", flush=True)
        pts = torch.rand(4096, 2)
        lbfgs = torch.optim.LBFGS(model.parameters(), lr=1.0, max_iter=3000,
                                  tolerance_grad=1e-11, tolerance_change=1e-14,
                                  history_size=50, line_search_fn="strong_wolfe")

        def closure():
            lbfgs.zero_grad()
            loss = residual(model, pts).pow(2).mean()
            loss.backward()
            return loss
        lbfgs.step(closure)
        print(f"lbfgs loss {closure().item():.3e}")
    print(f"training took {timer.seconds:.0f} s")

    path = os.path.join(common.HERE, "heat1d_pinn.onnx")
    common.export_onnx(model, (torch.rand(8, 2),), ["coords"], path, {
        "physnn.coords": "x,t",
        "physnn.outputs": "u",
        "physnn.pde": "u_t - 0.1*u_xx",
        "physnn.domain": "x=0:1,t=0:1",
        "physnn.description": "heat 1-D PINN, alpha=0.1, u(0,x)=sin(pi x), "
                              "zero Dirichlet; hard initial/boundary constraints",
    })
    print("wrote", path)


if __name__ == "__main__":
    main()
