#!/usr/bin/python3
"""Measures the shipped models through physnn against the physnn simulator
(and the exact solution where one exists); prints the table in README.md and
exits non-zero if a model misses its target.

    meson devenv -C build /usr/bin/python3 ../models/evaluate_models.py [--device SPEC]
"""
import argparse
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import Physnn  # noqa: E402

TIMES = [0.0, 0.25, 0.5, 0.75, 1.0]


def eval_pinn(path, device, pde, exact=None, **props):
    xs, fields = common.simulate(pde, TIMES, **props)
    errs_sim, errs_exact = [], []
    pred_all, sim_all, exact_all = [], [], []
    for t, f in zip(TIMES, fields):
        coords = np.stack([xs, np.full_like(xs, t)], axis=1)
        u = common.physnn_eval(path, [coords], device)[0].ravel()
        pred_all.append(u)
        sim_all.append(f)
        if exact is not None:
            exact_all.append(exact(xs, t))
    e_sim = common.rel_l2(np.concatenate(pred_all), np.concatenate(sim_all))
    e_exact = (common.rel_l2(np.concatenate(pred_all), np.concatenate(exact_all))
               if exact is not None else None)
    return e_sim, e_exact


def eval_deeponet(path, device, seeds):
    errs = []
    for s in seeds:
        sim = Physnn.Simulator.new(Physnn.PdeKind.HEAT_1D)
        sim.props.alpha = 0.1
        sim.props.initial = Physnn.InitialKind.RANDOM
        sim.props.modes = 4
        sim.props.seed = int(s)
        sim.reset()
        sensors = np.array([[sim.sample((i + 1) / 17.0, 0.0) for i in range(16)]])
        xs = np.array([sim.get_coordinate(0, i) for i in range(sim.get_grid_size(0))])
        preds, truth = [], []
        for t in TIMES:
            sim.advance(t)
            truth.append(np.array(sim.get_field().to_doubles()))
            coords = np.stack([xs, np.full_like(xs, t)], axis=1)
            preds.append(common.physnn_eval(path, [sensors, coords], device)[0].ravel())
        errs.append(common.rel_l2(np.concatenate(preds), np.concatenate(truth)))
    return float(np.mean(errs)), float(np.max(errs))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    ok = True
    rows = []
    heat = os.path.join(common.HERE, "heat1d_pinn.onnx")
    if os.path.exists(heat):
        e_sim, e_ex = eval_pinn(heat, args.device, Physnn.PdeKind.HEAT_1D,
                                exact=lambda x, t: np.exp(-0.1 * math.pi ** 2 * t)
                                * np.sin(math.pi * x), alpha=0.1)
        good = e_sim <= 1e-3 and e_ex <= 1e-3
        ok &= good
        rows.append(("heat1d_pinn", f"{e_sim:.2e}", f"{e_ex:.2e}", "1e-3", good))
    burgers = os.path.join(common.HERE, "burgers_pinn.onnx")
    if os.path.exists(burgers):
        e_sim, _ = eval_pinn(burgers, args.device, Physnn.PdeKind.BURGERS_1D)
        good = e_sim <= 1e-2
        ok &= good
        rows.append(("burgers_pinn", f"{e_sim:.2e}", "-", "1e-2", good))
    don = os.path.join(common.HERE, "heat1d_deeponet.onnx")
    if os.path.exists(don):
        mean, worst = eval_deeponet(don, args.device, range(1001, 1021))
        good = worst <= 1e-2
        ok &= good
        rows.append(("heat1d_deeponet", f"{mean:.2e} (worst {worst:.2e})",
                     "-", "1e-2", good))
    print(f"device: {args.device}; relative L2 over t in {TIMES} on the "
          f"simulator grid")
    print(f"{'model':18s} {'vs simulator':28s} {'vs exact':10s} {'target':7s}")
    for name, a, b, target, good in rows:
        print(f"{name:18s} {a:28s} {b:10s} {target:7s} {'ok' if good else 'MISSED'}")
    return 0 if ok and rows else 1


if __name__ == "__main__":
    sys.exit(main())
