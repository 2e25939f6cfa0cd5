#!/usr/bin/python3
"""Burgers PINN in the setting of Raissi, Perdikaris & Karniadakis (2019):
u_t + u u_x - (0.01/pi) u_xx = 0, x in [-1,1], t in [0,1], u(0,x) = -sin(pi x),
u(t,-1) = u(t,1) = 0 -- the defaults of `pdesrc pde=burgers-1d`.

Raissi's network: 8 hidden tanh layers of 20, inputs scaled to [-1,1]. The
initial and boundary conditions are built in (hard constraints, exported
inside the ONNX graph):
    u = -sin(pi x) + t (1 - x^2) N(x, 2 t - 1),
so the loss is the PDE residual alone. Adam on freshly drawn points, then
rounds of L-BFGS on a growing collocation set: each round adds points drawn
from a large uniform pool with probability proportional to the squared
residual plus a floor (residual-based adaptive refinement; they gather along
the shock at x = 0). The simulator is used only to PRINT the error while
training, never in the loss.

    cd /work/main && nohup meson devenv -C build-models /usr/bin/python3 \\
        ../models/train_burgers_pinn.py > burgers.log 2>&1 &

On 2 CPU cores this takes about two hours. The same training runs on a GPU
machine that has only PyTorch (no GLib, no onnx package) in minutes; the
export and every check then run here:

    # here: the simulator's field for the training monitor
    meson devenv -C build /usr/bin/python3 ../models/train_burgers_pinn.py \\
        --write-monitor monitor.npz
    # there:
    python3 train_burgers_pinn.py --device cuda --monitor monitor.npz \\
        --save-state burgers_state.pt
    # here: export, verify against torch and physnn, evaluate
    meson devenv -C build /usr/bin/python3 ../models/train_burgers_pinn.py \\
        --from-state burgers_state.pt
"""
import argparse
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402  (first: it sets up the OpenMP environment)
from common import Physnn  # noqa: E402
try:
    import evaluate_models  # noqa: E402
    BURGERS_TIMES = evaluate_models.BURGERS_TIMES
except ImportError:             # a training-only machine: no onnx/physnn
    evaluate_models = None
    BURGERS_TIMES = [i / 100.0 for i in range(101)]

import numpy as np  # noqa: E402
import torch  # noqa: E402

NU = 0.01 / math.pi
SEED = 2
ADAM_ITERS = 5000
ADAM_POINTS = 2000
BASE_POINTS = 5000
ROUNDS = 6
ADDED_PER_ROUND = 1000
POOL = 20000
LBFGS_ITERS = 800


class BurgersPINN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = common.mlp([2] + [20] * 8 + [1])
        # (x, t) -> (x, 2 t - 1): both inputs on [-1, 1], as in Raissi's code
        self.register_buffer("scale", torch.tensor([[1.0, 2.0]]))
        self.register_buffer("shift", torch.tensor([[0.0, -1.0]]))

    def forward(self, coords):
        x = coords[:, 0:1]
        t = coords[:, 1:2]
        n = self.net(coords * self.scale + self.shift)
        return -torch.sin(math.pi * x) + t * (1.0 - x * x) * n


def residual(model, pts, create_graph=True):
    pts = pts.clone().requires_grad_(True)
    u = model(pts)
    g = torch.autograd.grad(u.sum(), pts, create_graph=True)[0]
    u_x, u_t = g[:, 0:1], g[:, 1:2]
    u_xx = torch.autograd.grad(u_x.sum(), pts, create_graph=create_graph)[0][:, 0:1]
    return u_t + u * u_x - NU * u_xx


DEVICE = torch.device("cpu")


def sample(n):
    # drawn on the CPU generator, so a seed gives the same points anywhere
    p = torch.rand(n, 2)
    p[:, 0] = p[:, 0] * 2 - 1
    return p.to(DEVICE)


def monitor_data(path):
    """(x grid, fields) of the simulator at BURGERS_TIMES, from physnn or
    from a file written by --write-monitor."""
    if path:
        z = np.load(path)
        return z["xs"], z["fields"]
    xs, fields = common.simulate(Physnn.PdeKind.BURGERS_1D, BURGERS_TIMES)
    return xs, np.array(fields)


def main():
    global DEVICE
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu", help="torch device")
    ap.add_argument("--monitor", help="simulator fields (.npz) instead of "
                    "physnn, for a machine without it")
    ap.add_argument("--write-monitor", metavar="NPZ",
                    help="write the simulator fields for --monitor and exit")
    ap.add_argument("--save-state", metavar="PT",
                    help="train, save the weights, skip export and checks")
    ap.add_argument("--from-state", metavar="PT",
                    help="skip training: export and check these weights")
    args = ap.parse_args()
    if args.write_monitor:
        xs, fields = monitor_data(None)
        np.savez(args.write_monitor, xs=xs, fields=fields)
        print("wrote", args.write_monitor)
        return
    DEVICE = torch.device(args.device)
    common.setup_torch(SEED)
    # monitoring only: the simulator's field on its grid at t = 0, 0.01, .., 1
    xs, truth = monitor_data(args.monitor)
    grid = torch.tensor(np.concatenate(
        [np.stack([xs, np.full_like(xs, t)], axis=1)
         for t in BURGERS_TIMES]), dtype=torch.float32).to(DEVICE)

    def monitor():
        with torch.no_grad():
            return common.rel_l2(model(grid).cpu().numpy().ravel(), truth)

    model = BurgersPINN().to(DEVICE)
    if args.from_state:
        model.load_state_dict(torch.load(args.from_state, map_location="cpu"))
        print(f"weights from {args.from_state}: rel L2 vs simulator "
              f"{monitor():.2e}", flush=True)
        export_and_check(model)
        return
    train(model, monitor)
    if args.save_state:
        torch.save(model.state_dict(), args.save_state)
        print("wrote", args.save_state, flush=True)
        return
    export_and_check(model.cpu())


def train(model, monitor):
    with common.Timer() as timer:
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        sched = torch.optim.lr_scheduler.ExponentialLR(
            opt, (0.1) ** (1.0 / ADAM_ITERS))
        for it in range(ADAM_ITERS + 1):
            loss = residual(model, sample(ADAM_POINTS)).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            if it % 500 == 0:
                print(f"adam {it:5d} residual^2 {loss.item():.3e} "
                      f"(monitor: rel L2 vs simulator {monitor():.2e}, "
                      f"{timer.elapsed():.0f} s)", flush=True)
        pts = sample(BASE_POINTS)
        for rnd in range(ROUNDS):
            pool = sample(POOL)
            r2 = residual(model, pool, create_graph=False).detach().pow(2).squeeze(1)
            prob = (r2 / r2.mean() + 1.0).cpu()
            pick = torch.multinomial(prob, ADDED_PER_ROUND, replacement=False).to(DEVICE)
            added = pool[pick]
            pts = torch.cat([pts, added])
            lbfgs = torch.optim.LBFGS(model.parameters(), lr=1.0,
                                      max_iter=LBFGS_ITERS,
                                      tolerance_grad=1e-9,
                                      tolerance_change=1e-12, history_size=50,
                                      line_search_fn="strong_wolfe")

            def closure():
                lbfgs.zero_grad()
                loss = residual(model, pts).pow(2).mean()
                loss.backward()
                return loss
            lbfgs.step(closure)
            near = (added[:, 0].abs() < 0.1).float().mean().item()
            print(f"lbfgs round {rnd} points {len(pts)} "
                  f"({100 * near:.0f}% of the added within 0.1 of x=0) "
                  f"residual^2 {closure().item():.3e} "
                  f"(monitor: rel L2 vs simulator {monitor():.2e}, "
                  f"{timer.elapsed():.0f} s)", flush=True)
    print(f"training took {timer.seconds:.0f} s wall, "
          f"{timer.cpu_seconds:.0f} s CPU", flush=True)


def export_and_check(model):
    global DEVICE
    DEVICE = torch.device("cpu")
    path = os.path.join(common.HERE, "burgers_pinn.onnx")
    common.export_onnx(model, (sample(8),), ["coords"], path, {
        "physnn.coords": "x,t",
        "physnn.outputs": "u",
        "physnn.pde": "u_t + u*u_x - 0.0031830988618379*u_xx",
        "physnn.domain": "x=-1:1,t=0:1",
        "physnn.description": "Burgers PINN, Raissi et al. 2019 setting "
                              "(nu=0.01/pi, u(0,x)=-sin(pi x), u(t,+-1)=0 "
                              "built in), MLP 2-20x8-1 tanh",
    })
    print("wrote", path, flush=True)

    check = sample(1000).numpy()
    common.verify_export(model, path, [check], 0, "u_t,u_x,u_xx")
    for dev in ("cpu", "opencl"):
        e_sim, m_sim = evaluate_models.eval_burgers(path, dev)
        print(f"through physnn {dev}: rel L2 vs simulator {e_sim:.2e}, "
              f"max |error| {m_sim:.2e} (target 1e-2)", flush=True)


if __name__ == "__main__":
    main()
