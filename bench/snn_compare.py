#!/usr/bin/python3
"""Spiking-network throughput side by side, in one run, on this CPU: a
784-1000-10 LIF network (dt = 1 ms, exact integration) fed Bernoulli input
spikes at 5 % activity, run by

  physnn   the reference C path and OpenCL (PoCL here), event-driven
  Brian2   Debian's python3-brian, its cython and numpy code generation
  snnTorch (PyPI, in the build's venv) Linear + Leaky, dense, batch 1

Reported: synaptic events per second, where an event is one (presynaptic
spike, target neuron) pair: input spikes × 1000 + hidden spikes × 10, the
same count for every simulator since they run the same network on the same
spikes. Construction and code generation are not timed; the best of
--repeat runs is. The hidden layer's spike count is printed for each, as a
check that they simulate the same thing (Brian2's and physnn's agree
exactly: tests/crosscheck/snn_vs_brian2.py explains the step alignment).

  meson devenv -C build ../bench/snn_compare.py [--steps 1000] [--json FILE]
"""
import argparse
import json
import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tests", "crosscheck"))

N_IN, N_H, N_OUT = 784, 1000, 10
DEVS = ("cpu", "opencl")
DT = 1e-3
TAU, R, THR = 0.02, 20.0, 1.0


def network(seed):
    rng = np.random.default_rng(seed)
    w1 = rng.normal(0.005, 0.1, (N_H, N_IN)).astype(np.float32)
    w2 = rng.normal(0.01, 0.1, (N_OUT, N_H)).astype(np.float32)
    return w1, w2


def best(f, repeat):
    times = []
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t0)
    return min(times), out


def run_physnn(w1, w2, x, repeat):
    import gi
    gi.require_version("Physnn", "1.0")
    from gi.repository import Physnn

    def T(a, dtype=Physnn.DType.FLOAT32):
        a = np.asarray(a)
        return Physnn.Tensor.new_from_doubles(dtype, list(a.shape),
                                              a.astype(float).ravel().tolist())

    g = Physnn.NirGraph.new()
    i = g.add_node("input", "Input")
    g.set_param(i, "shape", T([N_IN], Physnn.DType.INT64))
    for name, w, n in (("1", w1, N_H), ("2", w2, N_OUT)):
        i = g.add_node("fc" + name, "Linear")
        g.set_param(i, "weight", T(w))
        i = g.add_node("lif" + name, "LIF")
        for k, v in dict(tau=TAU, r=R, v_leak=0.0, v_threshold=THR,
                         v_reset=0.0).items():
            g.set_param(i, k, T(np.full(n, v)))
    i = g.add_node("output", "Output")
    g.set_param(i, "shape", T([N_OUT], Physnn.DType.INT64))
    for a, b in (("input", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"),
                 ("fc2", "lif2"), ("lif2", "output")):
        g.add_edge(a, b)
    xt = T(x, Physnn.DType.UINT8)
    results = []
    for dev_name in DEVS:
        try:
            dev = Physnn.Device.new(dev_name)
        except Exception as e:  # noqa: BLE001
            print("physnn %s: unavailable (%s)" % (dev_name, e))
            continue
        snn = Physnn.Snn.new(g)
        snn.run_new(dev, xt, x.shape[0], Physnn.SnnRecord.OUTPUT)  # warm-up

        def once():
            snn.reset()
            snn.run_new(dev, xt, x.shape[0], Physnn.SnnRecord.OUTPUT)
            return snn.get_counter(Physnn.SnnCounter.SPIKES)

        t, spikes = best(once, repeat)
        results.append(dict(
            tool="physnn", backend="%s (%s)" % (dev_name, dev.get_name()),
            seconds=t, synops=snn.get_counter(Physnn.SnnCounter.SYNOPS),
            spikes=spikes,
            event_layers=snn.get_counter(Physnn.SnnCounter.EVENT_LAYERS)))
    return results


def run_brian2(w1, w2, x, repeat, target):
    import brian2 as b2
    b2.prefs.codegen.target = target
    b2.start_scope()
    b2.defaultclock.dt = DT * b2.second
    steps = x.shape[0]
    idx, ts = np.nonzero(x.T)
    # physnn step k's input drives Brian2's update of step k through the
    # synapse slot of step k-1 (see snn_vs_brian2.py)
    keep = ts > 0
    gen = b2.SpikeGeneratorGroup(N_IN, idx[keep], (ts[keep] - 1) * DT * b2.second)
    eqs = ("dv/dt = (-v + r*x)/tau : 1\nx : 1\nr : 1\ntau : second\n")
    layers = []
    for n in (N_H, N_OUT):
        grp = b2.NeuronGroup(n, eqs, threshold="v > %g" % THR, reset="v = 0",
                             method="exact")
        grp.r = R
        grp.tau = TAU * b2.second
        grp.run_regularly("x = 0", when="after_groups")
        layers.append(grp)
    s1 = b2.Synapses(gen, layers[0], "w : 1", on_pre="x_post += w")
    s1.connect()
    s1.w = w1.T.ravel()
    s2 = b2.Synapses(layers[0], layers[1], "w : 1", on_pre="x_post += w")
    s2.connect()
    s2.w = w2.T.ravel()
    m1 = b2.SpikeMonitor(layers[0])
    m2 = b2.SpikeMonitor(layers[1])
    net = b2.Network(gen, *layers, s1, s2, m1, m2)
    net.store()
    net.run(10 * DT * b2.second, namespace={})  # code generation, untimed
    times = []
    for _ in range(repeat):
        net.restore()
        t0 = time.perf_counter()
        net.run(steps * DT * b2.second, namespace={})
        times.append(time.perf_counter() - t0)
    hidden = int(m1.num_spikes)
    return dict(tool="brian2", backend=target, seconds=min(times),
                synops=int(x.sum()) * N_H + hidden * N_OUT,
                spikes=hidden + int(m2.num_spikes), hidden_spikes=hidden)


def run_snntorch(w1, w2, x, repeat):
    import snnvenv
    if not snnvenv.have("snntorch"):
        return None
    import torch
    import snntorch as snn
    torch.set_num_threads(os.cpu_count() or 1)
    beta = float(np.exp(-DT / TAU))
    fc1 = torch.nn.Linear(N_IN, N_H, bias=False)
    fc2 = torch.nn.Linear(N_H, N_OUT, bias=False)
    with torch.no_grad():
        # NIR LIF exact: v <- beta v + (1 - beta) r I
        fc1.weight.copy_(torch.from_numpy(w1) * (1 - beta) * R)
        fc2.weight.copy_(torch.from_numpy(w2) * (1 - beta) * R)
    l1 = snn.Leaky(beta=beta, threshold=THR, reset_mechanism="zero",
                   reset_delay=False)
    l2 = snn.Leaky(beta=beta, threshold=THR, reset_mechanism="zero",
                   reset_delay=False)
    xs = torch.from_numpy(x.astype(np.float32))

    def once():
        m1 = l1.reset_mem()
        m2 = l2.reset_mem()
        hidden = 0
        out = 0
        with torch.no_grad():
            for t in range(xs.shape[0]):
                s1, m1 = l1(fc1(xs[t]), m1)
                s2, m2 = l2(fc2(s1), m2)
                hidden += int(s1.sum())
                out += int(s2.sum())
        return hidden, out

    t, (hidden, out) = best(once, repeat)
    return dict(tool="snntorch", backend="torch %s CPU, dense, batch 1" %
                torch.__version__, seconds=t,
                synops=int(x.sum()) * N_H + hidden * N_OUT, spikes=hidden + out,
                hidden_spikes=hidden)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--activity", type=float, default=0.05)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", default=None)
    ap.add_argument("--brian2", default="cython,numpy",
                    help="Brian2 code generation targets to run")
    ap.add_argument("--no-venv", action="store_true")
    a = ap.parse_args()
    if not a.no_venv:
        import snnvenv
        snnvenv.reexec(["snntorch"])
    w1, w2 = network(1)
    x = (np.random.default_rng(2).random((a.steps, N_IN)) < a.activity).astype(np.uint8)
    x[0] = 0  # Brian2 cannot take step 0's input (see above)
    rows = run_physnn(w1, w2, x, a.repeat)
    print("physnn done", flush=True)
    for target in a.brian2.split(","):
        try:
            t0 = time.time()
            rows.append(run_brian2(w1, w2, x, a.repeat, target))
            print("brian2 %s: %.1f s with code generation" % (target, time.time() - t0),
                  flush=True)
        except Exception as e:  # noqa: BLE001
            print("brian2 %s: failed (%s)" % (target, e))
    try:
        r = run_snntorch(w1, w2, x, a.repeat)
        if r:
            rows.append(r)
    except Exception as e:  # noqa: BLE001
        print("snntorch: failed (%s)" % e)
    for r in rows:
        r["events_per_second"] = r["synops"] / r["seconds"]
    base = next((r for r in rows if r["tool"] == "brian2" and r["backend"] == "cython"),
                None) or next((r for r in rows if r["tool"] == "brian2"), None)
    print("784-1000-10 LIF, %d steps of 1 ms, input activity %.0f %%, %s, %d CPUs" %
          (a.steps, 100 * x.mean(), platform.processor() or platform.machine(),
           os.cpu_count()))
    print("%-9s %-40s %9s %12s %14s %10s" % ("tool", "backend", "seconds",
                                             "synops", "events/s", "vs Brian2"))
    for r in rows:
        r["vs_brian2"] = (r["events_per_second"] / base["events_per_second"]
                          if base else None)
        print("%-9s %-40s %9.4f %12d %14.3e %10s  spikes %d" % (
            r["tool"], r["backend"][:40], r["seconds"], r["synops"],
            r["events_per_second"],
            "%.1fx" % r["vs_brian2"] if base else "-", r["spikes"]))
    if a.json:
        with open(a.json + ".tmp", "w") as f:
            json.dump(dict(network="784-1000-10 LIF", steps=a.steps,
                           activity=float(x.mean()), dt=DT, cpus=os.cpu_count(),
                           results=rows), f, indent=1)
        os.replace(a.json + ".tmp", a.json)


if __name__ == "__main__":
    main()
