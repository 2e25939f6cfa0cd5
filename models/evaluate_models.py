#!/usr/bin/python3
"""Measures the shipped models against the physnn simulator (the `pdesrc`
ground truth) and the exact solution where one exists, evaluating each
.onnx file twice: with the NumPy ONNX interpreter of onnx_numpy.py (shares
no code with torch or physnn) and THROUGH PHYSNN (Physnn.Model, what
pinninfer runs). Prints the table quoted in README.md and exits non-zero
if a model is missing or misses its target.

    cd /work/main && meson devenv -C build /usr/bin/python3 \\
        ../models/evaluate_models.py [--device cpu|opencl|auto]
"""
import argparse
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import onnx  # noqa: E402
import onnx_numpy  # noqa: E402
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


_graphs = {}


def predict(path, inputs, device):
    """The model output for inputs (in the graph's input order): through
    physnn on `device`, or with the NumPy interpreter when device is
    "numpy" (float32 inputs, float64 arithmetic)."""
    if device != "numpy":
        return common.physnn_eval(path, inputs, device)[0]
    if path not in _graphs:
        _graphs[path] = onnx.load(path)
    g = _graphs[path]
    feeds = {i.name: np.asarray(a, np.float32)
             for i, a in zip(g.graph.input, inputs)}
    return onnx_numpy.run(g, feeds)[0]


def pinn_fields(path, device, xs, times):
    """The model's field on the grid xs at each time, one run."""
    coords = np.concatenate([np.stack([xs, np.full_like(xs, t)], axis=1)
                             for t in times])
    u = predict(path, [coords], device)
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
        pred = predict(path, [branch, coords], device)
        errs.append(common.rel_l2(pred, np.array(truth)))
    return np.array(errs)


def describe(path):
    """(parameter count, file size in bytes, op summary) of an .onnx file;
    the parameters are the floating-point initializers (the weights)."""
    g = onnx.load(path)
    params = sum(int(np.prod(t.dims)) for t in g.graph.initializer
                 if t.data_type == onnx.TensorProto.FLOAT)
    return params, os.path.getsize(path), onnx_numpy.op_summary(g)


def engine_agreement(path, inputs, device):
    """max |NumPy interpreter - physnn| and max |u| on the same inputs."""
    a = predict(path, inputs, "numpy")
    b = predict(path, inputs, device).reshape(a.shape)
    return float(np.max(np.abs(a - b))), float(np.max(np.abs(a)))


def measure(name, path, engine):
    """(value compared with the target, table cells) of one model."""
    if name == "heat1d_pinn":
        e_sim, e_ex, m_ex = eval_heat(path, engine)
        f_sim, f_ex, _ = eval_heat(path, engine, BURGERS_TIMES)
        return max(e_sim, e_ex), (f"{e_sim:.2e}", f"{e_ex:.2e}",
                                  f"{m_ex:.2e} (exact)",
                                  f"dt=0.01: sim {f_sim:.2e}, exact {f_ex:.2e}")
    if name == "burgers_pinn":
        e_sim, m_sim = eval_burgers(path, engine)
        q_sim, _ = eval_burgers(path, engine, QUARTERS)
        return e_sim, (f"{e_sim:.2e}", "-", f"{m_sim:.2e} (sim)",
                       f"quarters only: {q_sim:.2e}")
    errs = eval_deeponet(path, engine)
    fine = eval_deeponet(path, engine, times=BURGERS_TIMES)
    return float(errs.max()), (
        f"{errs.mean():.2e} mean, {errs.max():.2e} worst", "-", "-",
        f"{len(errs)} held-out seeds; dt=0.01: worst {fine.max():.2e}")


def agreement_inputs(name):
    rng = np.random.default_rng(7)
    pts = rng.random((4096, 2)).astype(np.float32)
    if name == "burgers_pinn":
        pts[:, 0] = 2 * pts[:, 0] - 1
        return [pts]
    if name == "heat1d_deeponet":
        sim = random_heat_state(HELD_OUT_SEEDS[0])
        return [deeponet_sensors(sim)[None, :].astype(np.float32), pts]
    return [pts]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu",
                    help="physnn device spec (cpu, opencl, auto, opencl:P.D)")
    args = ap.parse_args()
    dev = args.device
    engines = ("numpy", dev)

    print(f"engines: numpy = the NumPy ONNX interpreter (float64), "
          f"{dev} = physnn ({common.device_name(dev)})")
    print("relative L2 on the simulator grid (256 points); heat/DeepONet at "
          "t in {0, .25, .5, .75, 1}, Burgers at t = 0, 0.01, ..., 1")
    hdr = ("model", "engine", "rel L2 vs simulator", "rel L2 vs exact",
           "max |error|", "target", "status", "also")
    w = (16, 7, 34, 15, 18, 7, 7)
    print("  ".join(h.ljust(n) for h, n in zip(hdr, w)) + hdr[-1])
    ok = True
    facts = []
    for name in TARGETS:
        path = os.path.join(common.HERE, name + ".onnx")
        if not os.path.exists(path):
            ok = False
            print("  ".join(v.ljust(n) for v, n in zip(
                [name, "-", "missing", "", "", f"{TARGETS[name]:.0e}",
                 "MISSED"], w)))
            continue
        for engine in engines:
            value, c = measure(name, path, engine)
            good = value <= TARGETS[name]
            ok &= good
            print("  ".join(v.ljust(n) for v, n in zip(
                [name, engine, c[0], c[1], c[2], f"{TARGETS[name]:.0e}",
                 "ok" if good else "MISSED"], w)) + c[3], flush=True)
        diff, scale = engine_agreement(path, agreement_inputs(name), dev)
        params, size, ops = describe(path)
        facts.append((name, params, size, diff, scale, ops))
    print()
    for name, params, size, diff, scale, ops in facts:
        print(f"{name}: {params} parameters, {size} bytes; numpy vs physnn "
              f"{dev} on 4096 random points: max |diff| {diff:.2e} "
              f"(max |u| {scale:.2e})")
        print(f"    ops: {ops}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
