#!/usr/bin/python3
"""Physics-informed DeepONet for the heat equation u_t = 0.1 u_xx on [0,1]
with zero boundaries: maps 16 sensor readings of the initial state,
at x_i = (i+1)/17 (what `pdesrc sensors=16` gives at t = 0), to the field
u(x, t) for t in [0, 1].

Training states are the simulator's random initial conditions (sums of four
sine modes); targets are simulator fields (data loss) plus the PDE residual
on the trunk coordinates (physics loss). The trunk output carries a factor
x (1 - x), so the boundary conditions hold exactly.

    meson devenv -C build /usr/bin/python3 ../models/train_deeponet_heat.py
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import Physnn  # noqa: E402

ALPHA = 0.1
M = 16
SENSORS = (np.arange(M) + 1) / (M + 1)
TIMES = np.linspace(0.0, 1.0, 11)
torch.manual_seed(3)
np.random.seed(3)
torch.set_num_threads(2)


def dataset(seeds):
    """Branch vectors and fields for each seed: (B [S,16], X [256], U [S,T,256])."""
    branches, fields = [], []
    xs = None
    for s in seeds:
        sim = Physnn.Simulator.new(Physnn.PdeKind.HEAT_1D)
        sim.props.alpha = ALPHA
        sim.props.initial = Physnn.InitialKind.RANDOM
        sim.props.modes = 4
        sim.props.seed = int(s)
        sim.reset()
        branches.append([sim.sample(float(x), 0.0) for x in SENSORS])
        f = []
        for t in TIMES:
            sim.advance(float(t))
            f.append(sim.get_field().to_doubles())
        fields.append(f)
        if xs is None:
            xs = np.array([sim.get_coordinate(0, i)
                           for i in range(sim.get_grid_size(0))])
    return (np.array(branches, np.float32), xs.astype(np.float32),
            np.array(fields, np.float32))


class DeepONet(torch.nn.Module):
    def __init__(self, p=32):
        super().__init__()
        self.branch = common.mlp([M, 64, 64, p])
        self.trunk = common.mlp([2, 64, 64, p])

    def forward(self, branch, coords):
        x = coords[:, 0:1]
        b = self.branch(branch)
        t = self.trunk(coords) * (x * (1.0 - x))
        return torch.sum(b * t, dim=1, keepdim=True)


def residual(model, branch, pts):
    pts = pts.clone().requires_grad_(True)
    u = model(branch, pts)
    g = torch.autograd.grad(u.sum(), pts, create_graph=True)[0]
    u_x, u_t = g[:, 0:1], g[:, 1:2]
    u_xx = torch.autograd.grad(u_x.sum(), pts, create_graph=True)[0][:, 0:1]
    return u_t - ALPHA * u_xx


def main():
    train_b, xs, train_u = dataset(range(1, 301))
    tb = torch.tensor(train_b)
    tu = torch.tensor(train_u)
    tx = torch.tensor(xs)
    tt = torch.tensor(TIMES, dtype=torch.float32)
    S, T, X = train_u.shape
    model = DeepONet()
    with common.Timer() as timer:
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        sched = torch.optim.lr_scheduler.StepLR(opt, 3000, 0.5)
        for it in range(12000):
            si = torch.randint(0, S, (1024,))
            ti = torch.randint(0, T, (1024,))
            xi = torch.randint(0, X, (1024,))
            coords = torch.stack([tx[xi], tt[ti]], dim=1)
            data = (model(tb[si], coords) - tu[si, ti, xi].unsqueeze(1))
            pts = torch.rand(512, 2)
            phys = residual(model, tb[torch.randint(0, S, (512,))], pts)
            loss = data.pow(2).mean() + 0.1 * phys.pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            if it % 1000 == 0:
                print(f"adam {it:5d} data {data.pow(2).mean().item():.3e} "
                      f"physics {phys.pow(2).mean().item():.3e}", flush=True)
    print(f"training took {timer.seconds:.0f} s")

    path = os.path.join(common.HERE, "heat1d_deeponet.onnx")
    common.export_onnx(model, (tb[0:1], torch.rand(8, 2)), ["branch", "coords"],
                       path, {
        "physnn.coords": "x,t",
        "physnn.outputs": "u",
        "physnn.pde": "u_t - 0.1*u_xx",
        "physnn.domain": "x=0:1,t=0:1",
        "physnn.branch": "u(0,x_i) at 16 sensors x_i=(i+1)/17, i=0..15 "
                         "(pdesrc sensors=16)",
        "physnn.description": "physics-informed DeepONet, heat 1-D, alpha=0.1, "
                              "zero Dirichlet; initial state from 16 sensors",
    })
    print("wrote", path)


if __name__ == "__main__":
    main()
