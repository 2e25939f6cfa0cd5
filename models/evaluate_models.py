#!/usr/bin/python3
"""Measures the shipped models THROUGH PHYSNN (Physnn.Model, what pinninfer
runs) against the physnn simulator (the `pdesrc` ground truth), and the
exact solution where one exists; prints the table quoted in README.md and
exits non-zero if a model is missing or misses its target.

    cd /work/main && meson devenv -C build-models /usr/bin/python3 \\
        ../models/evaluate_models.py [--device cpu|opencl|auto]
"""
import argparse
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import Physnn  # noqa: E402

# The times of the targets in README.md: heat and DeepONet on the five
# quarter times, Burgers over the whole interval at dt = 0.01 (the shock
# forms around t = 0.3, so a coarse set of times would hide most of it).
QUARTERS = [0.0, 0.25, 0.5, 0.75, 1.0]
BURGERS_TIMES = [i / 100.0 for i in range(101)]
HELD_OUT_SEEDS = list(range(100001, 100041))   # training uses seeds < 100000
TARGETS = {"heat1d_pinn": 1e-3, "burgers_pinn": 1e-2, "heat1d_deeponet": 1e-2}


def heat_exact(x, t):
    return np.exp(-0.1 * math.pi ** 2 * t) * np.sin(math.pi * x)


def pinn_fields(path, device, xs, times):
    """The model's field on the grid xs at each time, one physnn run."""
    coords = np.concatenate([np.stack([xs, np.full_like(xs, t)], axis=1)
                             for t in times])
    u = common.physnn_eval(path, [coords], device)[0]
    return u.reshape(len(times), len(xs)).astype(np.float64)


def eval_heat(path, device="cpu", times=QUARTERS):
    """(rel L2 vs simulator, rel L2 vs exact, max abs error vs exact)."""
    xs, fields = common.simulate(Physnn.PdeKind.HEAT_1D, times, alpha=0.1)
    pred = pinn_fields(path, device, xs, times)
    exact = np.array([heat_exact(xs, t) for t in times])
    return (common.rel_l2(pred, np.array(fields)), common.rel_l2(pred, exact),
            float(np.max(np.abs(pred - exact))))


def eval_burgers(path, device="cpu", times=BURGERS_TIMES):
    """(rel L2 vs simulator, max abs error vs simulator)."""
    xs, fields = common.simulate(Physnn.PdeKind.BURGERS_1D, times)
    pred = pinn_fields(path, device, xs, times)
    fields = np.array(fields)
    return common.rel_l2(pred, fields), float(np.max(np.abs(pred - fields)))


def random_heat_state(seed, modes=4, amplitude=1.0):
    sim = Physnn.Simulator.new(Physnn.PdeKind.HEAT_1D)
    sim.props.alpha = 0.1
    sim.props.initial = Physnn.InitialKind.RANDOM
    sim.props.modes = modes
    sim.props.amplitude = amplitude
    sim.props.seed = int(seed)
    sim.reset()
    return sim


def deeponet_sensors(sim, n=16):
    """What `pdesrc sensors=16` reads from sim now (no noise): the field
    interpolated at x_i = x_min + (i + 1) L / (n + 1)."""
    sensors = Physnn.Sensors.new_evenly(sim, n)
    return np.array([sim.sample(sensors.get_x(i), 0.0) for i in range(n)])


def eval_deeponet(path, device="cpu", seeds=HELD_OUT_SEEDS, times=QUARTERS,
                  modes=4):
    """Per-seed rel L2 vs the simulator over the grid at `times`."""
    errs = []
    for s in seeds:
        sim = random_heat_state(s, modes)
        branch = deeponet_sensors(sim)[None, :]
        xs = np.array([sim.get_coordinate(0, i)
                       for i in range(sim.get_grid_size(0))])
        truth = []
        for t in times:
            sim.advance(t)
            truth.append(np.array(sim.get_field().to_doubles()))
        coords = np.concatenate([np.stack([xs, np.full_like(xs, t)], axis=1)
                                 for t in times])
        pred = common.physnn_eval(path, [branch, coords], device)[0]
        errs.append(common.rel_l2(pred, np.array(truth)))
    return np.array(errs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu",
                    help="physnn device spec (cpu, opencl, auto, opencl:P.D)")
    args = ap.parse_args()
    dev = args.device
    rows = []

    def row(name, measured, *cells):
        good = measured is not None and measured <= TARGETS[name]
        rows.append((name, good, cells))
        return good

    heat = os.path.join(common.HERE, "heat1d_pinn.onnx")
    if os.path.exists(heat):
        e_sim, e_ex, m_ex = eval_heat(heat, dev)
        f_sim, f_ex, _ = eval_heat(heat, dev, BURGERS_TIMES)
        row("heat1d_pinn", max(e_sim, e_ex),
            f"{e_sim:.2e}", f"{e_ex:.2e}", f"{m_ex:.2e} (exact)",
            f"sim {f_sim:.2e}, exact {f_ex:.2e}")
    else:
        row("heat1d_pinn", None, "missing", "", "", "")
    burgers = os.path.join(common.HERE, "burgers_pinn.onnx")
    if os.path.exists(burgers):
        e_sim, m_sim = eval_burgers(burgers, dev)
        q_sim, _ = eval_burgers(burgers, dev, QUARTERS)
        row("burgers_pinn", e_sim, f"{e_sim:.2e}", "-", f"{m_sim:.2e} (sim)",
            f"quarters only: {q_sim:.2e}")
    else:
        row("burgers_pinn", None, "missing", "", "", "")
    don = os.path.join(common.HERE, "heat1d_deeponet.onnx")
    if os.path.exists(don):
        errs = eval_deeponet(don, dev)
        fine = eval_deeponet(don, dev, times=BURGERS_TIMES)
        row("heat1d_deeponet", float(errs.max()),
            f"{errs.mean():.2e} mean, {errs.max():.2e} worst", "-", "-",
            f"{len(errs)} held-out seeds; dt=0.01: worst {fine.max():.2e}")
    else:
        row("heat1d_deeponet", None, "missing", "", "", "")

    print(f"physnn device: {dev} "
          f"({common.device_name(dev)}); relative L2 on the simulator grid")
    print("heat/DeepONet at t in {0, .25, .5, .75, 1}; Burgers at t = 0, "
          "0.01, ..., 1 (also shown at the quarters)")
    hdr = ("model", "rel L2 vs simulator", "rel L2 vs exact",
           "max |error|", "target", "status", "also")
    w = (16, 34, 15, 18, 7, 7)
    print("  ".join(h.ljust(n) for h, n in zip(hdr, w)) + hdr[-1])
    ok = True
    for name, good, cells in rows:
        ok &= good
        c = list(cells) + [""] * (4 - len(cells))
        print("  ".join(v.ljust(n) for v, n in zip(
            [name, c[0], c[1], c[2], f"{TARGETS[name]:.0e}",
             "ok" if good else "MISSED"], w)) + c[3])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
