#!/usr/bin/python3
"""physnn's PyNN export run by PyNN itself (Debian python3-pynn on the
pyNN.brian2 backend, python3-brian), compared with the spikes of the engine
snninfer uses on the same recorded input.

The exported script is a different simulator (continuous time, current
pulses, threshold crossings inside a step) of the same equations, so spikes
cannot agree exactly; docs/neuromorphic.md documents the unit mapping and
these figures:
  - agreement on the exact step, 2|A∩B|/(|A|+|B|) over (step, neuron)
  - agreement within ±1 step
  - output spike counts
Bounds below sit under the figures measured when this test was written
(printed on every run) so that a broken mapping fails."""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import gi

gi.require_version("Physnn", "1.0")
from gi.repository import Physnn  # noqa: E402

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def banner_skip(msg):
    line = "!" * 78
    print("%s\n!! SKIP: %s\n%s" % (line, msg, line), flush=True)
    sys.exit(77)


def tensor(a, dtype=Physnn.DType.FLOAT32):
    a = np.asarray(a, dtype=np.float64)
    return Physnn.Tensor.new_from_doubles(dtype, list(a.shape), a.ravel().tolist())


def array(t):
    return np.array(t.to_doubles()).reshape(t.get_shape())


def make(sizes, kinds, seed):
    rng = np.random.default_rng(seed)
    g = Physnn.NirGraph.new()
    i = g.add_node("input", "Input")
    g.set_param(i, "shape", tensor([sizes[0]], Physnn.DType.INT64))
    prev = "input"
    for k in range(1, len(sizes)):
        n_in, n = sizes[k - 1], sizes[k]
        a = g.add_node("fc%d" % k, "Affine")
        g.set_param(a, "weight", tensor(rng.uniform(-1, 1, (n, n_in)) * 3 * np.sqrt(3 / n_in)))
        g.set_param(a, "bias", tensor(np.zeros(n)))
        kind = kinds[k - 1]
        l = g.add_node("n%d" % k, kind)
        p = dict(r=np.full(n, 10.0), v_threshold=np.ones(n), v_reset=np.zeros(n))
        if kind == "LIF":
            p.update(tau=np.full(n, 0.02), v_leak=np.zeros(n))
        elif kind == "IF":
            p["r"] = np.full(n, 200.0)
        elif kind == "CubaLIF":
            p.update(tau_mem=np.full(n, 0.02), tau_syn=np.full(n, 0.005),
                     v_leak=np.zeros(n), r=np.full(n, 20.0))
        for key, v in p.items():
            g.set_param(l, key, tensor(v))
        g.add_edge(prev, "fc%d" % k)
        g.add_edge("fc%d" % k, "n%d" % k)
        prev = "n%d" % k
    o = g.add_node("output", "Output")
    g.set_param(o, "shape", tensor([sizes[-1]], Physnn.DType.INT64))
    g.add_edge(prev, "output")
    return g


def dice(a, b):
    return 2 * (a * b).sum() / max(a.sum() + b.sum(), 1)


def dice_pm1(a, b):
    def widen(x):
        y = x.copy()
        y[1:] = np.maximum(y[1:], x[:-1])
        y[:-1] = np.maximum(y[:-1], x[1:])
        return y
    return ((a * widen(b)).sum() + (b * widen(a)).sum()) / max(a.sum() + b.sum(), 1)


CASES = [
    # name, sizes, neuron kinds, min exact-step agreement, min ±1 agreement
    ("one LIF layer", [20, 30], ["LIF"], 0.85, 0.95),
    ("two LIF layers", [20, 30, 10], ["LIF", "LIF"], 0.45, 0.70),
    ("one CubaLIF layer", [20, 30], ["CubaLIF"], 0.60, 0.85),
]


def main():
    try:
        import pyNN.brian2  # noqa: F401
    except Exception as e:  # noqa: BLE001
        banner_skip("pyNN.brian2 cannot be imported (%s: %s); install python3-pynn "
                    "and python3-brian" % (type(e).__name__, e))
    steps = 300
    with tempfile.TemporaryDirectory() as d:
        for i, (name, sizes, kinds, lo, lo1) in enumerate(CASES):
            net = Physnn.NeuroNet.new(make(sizes, kinds, 10 + i), 1e-3)
            rng = np.random.default_rng(20 + i)
            x = (rng.random((steps, sizes[0])) < 0.2).astype(np.float64)
            ref = array(net.run(None, tensor(x)))
            script = os.path.join(d, "net%d.py" % i)
            net.export(Physnn.NeuroFormat.PYNN, script, tensor(x), None)
            out = os.path.join(d, "out%d.json" % i)
            r = subprocess.run([sys.executable, script, "--simulator", "brian2",
                                "--output", out], capture_output=True, text=True,
                               timeout=600)
            check(r.returncode == 0, "%s: the exported script runs under pyNN.brian2%s"
                  % (name, "" if r.returncode == 0 else ": " + r.stderr[-2000:]))
            if r.returncode != 0:
                continue
            with open(out) as f:
                res = json.load(f)
            got = np.zeros_like(ref)
            for j, st in enumerate(res["populations"][-1]["neurons"]):
                for s in st:
                    if s < steps:
                        got[s, j] = 1
            a, a1 = dice(ref, got), dice_pm1(ref, got)
            print("     %s: physnn %d spikes, PyNN %d; agreement %.3f on the step, "
                  "%.3f within ±1 step" % (name, ref.sum(), got.sum(), a, a1))
            check(ref.sum() > 50, "%s: the network is active" % name)
            check(abs(got.sum() - ref.sum()) <= 0.15 * ref.sum(),
                  "%s: spike counts within 15 %%" % name)
            check(a >= lo, "%s: agreement on the step >= %.2f" % (name, lo))
            check(a1 >= lo1, "%s: agreement within ±1 step >= %.2f" % (name, lo1))
    if failures:
        print("%d FAILED: %s" % (len(failures), "; ".join(failures)))
        sys.exit(1)


if __name__ == "__main__":
    main()
