#!/usr/bin/python3
"""Burgers PINN in the setting of Raissi et al. (2019):
u_t + u u_x - (0.01/pi) u_xx = 0, x in [-1,1], t in [0,1], u(0,x) = -sin(pi x),
u(t,-1) = u(t,1) = 0 -- the defaults of `pdesrc pde=burgers-1d`.

Raissi's network (8 hidden tanh layers of 20). The initial and boundary
conditions are built in (u = -sin(pi x) + t (1 - x^2) N(x, t)), so the loss
is the residual alone; collocation points are refined where the residual is
large (the shock at x = 0), then L-BFGS.

    meson devenv -C build /usr/bin/python3 ../models/train_burgers_pinn.py
"""
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

NU = 0.01 / math.pi
torch.manual_seed(2)
np.random.seed(2)
torch.set_num_threads(2)


class BurgersPINN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = common.mlp([2] + [20] * 8 + [1])

    def forward(self, coords):
        x = coords[:, 0:1]
        t = coords[:, 1:2]
        return -torch.sin(math.pi * x) + t * (1.0 - x * x) * self.net(coords)


def residual(model, pts):
    pts = pts.clone().requires_grad_(True)
    u = model(pts)
    g = torch.autograd.grad(u.sum(), pts, create_graph=True)[0]
    u_x, u_t = g[:, 0:1], g[:, 1:2]
    u_xx = torch.autograd.grad(u_x.sum(), pts, create_graph=True)[0][:, 0:1]
    return u_t + u * u_x - NU * u_xx


def sample(n):
    p = torch.rand(n, 2)
    p[:, 0] = p[:, 0] * 2 - 1
    return p


def main():
    model = BurgersPINN()
    with common.Timer() as timer:
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        for it in range(6000):
            pts = sample(2048)
            loss = residual(model, pts).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            if it % 500 == 0:
                print(f"adam {it:5d} loss {loss.item():.3e}", flush=True)
        pts = sample(8000)
        for rnd in range(4):
            # residual-based refinement: add the worst points of a large pool
            pool = sample(40000)
            r = residual(model, pool).detach().abs().squeeze(1)
            worst = pool[torch.topk(r, 1000).indices]
            pts = torch.cat([pts, worst])
            lbfgs = torch.optim.LBFGS(model.parameters(), lr=1.0, max_iter=2500,
                                      tolerance_grad=1e-12,
                                      tolerance_change=1e-15, history_size=50,
                                      line_search_fn="strong_wolfe")

            def closure():
                lbfgs.zero_grad()
                loss = residual(model, pts).pow(2).mean()
                loss.backward()
                return loss
            lbfgs.step(closure)
            print(f"lbfgs round {rnd} points {len(pts)} loss "
                  f"{closure().item():.3e}", flush=True)
    print(f"training took {timer.seconds:.0f} s")

    path = os.path.join(common.HERE, "burgers_pinn.onnx")
    common.export_onnx(model, (sample(8),), ["coords"], path, {
        "physnn.coords": "x,t",
        "physnn.outputs": "u",
        "physnn.pde": "u_t + u*u_x - 0.0031830988618379*u_xx",
        "physnn.domain": "x=-1:1,t=0:1",
        "physnn.description": "Burgers PINN, Raissi et al. 2019 setting "
                              "(nu = 0.01/pi), 8x20 tanh, hard initial/boundary "
                              "constraints",
    })
    print("wrote", path)


if __name__ == "__main__":
    main()
