#!/usr/bin/python3
"""Spiking dynamics against Brian2 (Debian's python3-brian), which integrates
the same equations with its own code generation.

For LIF, IF, CubaLIF and a LIF -> LI readout chain, with exact and forward
Euler integration, physnn (every device) and Brian2 run the same network
on the same deterministic input spikes. Spike times must be identical (the
same step) over at least 100 000 neuron-steps per case (the spikes run as
two buffers, state carried across), and membrane traces
agree to 1e-5 relative (max |dv| / max |v| over the trace).

Mapping. physnn holds a node's input constant over a step and updates,
fires and resets within the step (NIR's semantics). In Brian2 the input
current is a parameter that synapses add to after the threshold slot and
that is zeroed right after the state update ('after_groups'); the update of
step k therefore sees the spikes emitted at step k-1 of a
SpikeGeneratorGroup, so input spikes of physnn step k are given to Brian2
at (k-1)·dt. A second layer is driven from Brian2's first layer the same
way (its spikes shifted back by one step). Brian2's `exact` method solves
the linear system (including CubaLIF's coupled current) symbolically; its
`euler` is forward Euler like physnn's option."""
import os
import sys
import time

import numpy as np
import gi

gi.require_version("Physnn", "1.0")
from gi.repository import Physnn  # noqa: E402

try:
    import brian2 as b2
except Exception as e:  # noqa: BLE001
    print("!" * 78 + "\n!! SKIP: cannot import brian2 (%s); install "
          "python3-brian\n" % e + "!" * 78)
    sys.exit(77)

b2.prefs.codegen.target = "numpy"
b2.prefs.core.default_float_dtype = np.float64

DT = 1e-3
STEPS = 1200
failures = []


def T(a, dtype=Physnn.DType.FLOAT32):
    a = np.asarray(a, dtype=float)
    return Physnn.Tensor.new_from_doubles(dtype, list(a.shape),
                                          a.ravel().tolist())


def arr(t):
    shape = list(t.get_shape())
    return np.frombuffer(t.get_bytes().get_data(), dtype=np.float32).reshape(shape)


def check(name, ok, detail):
    print("%s %s: %s" % ("ok  " if ok else "FAIL", name, detail), flush=True)
    if not ok:
        failures.append(name)


def devices():
    out = [Physnn.Device.new("cpu")]
    try:
        out.append(Physnn.Device.new("opencl"))
    except Exception as e:  # noqa: BLE001
        print("no OpenCL device (%s): C path only" % e)
    return out


def layer_params(kind, n, rng):
    p = {}
    if kind in ("LIF", "LI"):
        p["tau"] = rng.uniform(0.008, 0.05, n)
    if kind in ("CubaLIF", "CubaLI"):
        p["tau_mem"] = rng.uniform(0.01, 0.05, n)
        p["tau_syn"] = rng.uniform(0.002, 0.02, n)
        p["w_in"] = rng.uniform(0.5, 2.0, n)
    p["r"] = rng.uniform(0.5, 2.0, n)
    if kind != "IF":
        p["v_leak"] = rng.uniform(-0.2, 0.2, n)
    if kind in ("LIF", "IF", "CubaLIF"):
        p["v_threshold"] = rng.uniform(0.8, 1.2, n)
        p["v_reset"] = rng.uniform(-0.1, 0.1, n)
    return p


def nir_graph(layers, n_in):
    """layers: list of (weight [out][in], kind, params)."""
    g = Physnn.NirGraph.new()
    i = g.add_node("input", "Input")
    g.set_param(i, "shape", T([n_in], Physnn.DType.INT64))
    prev = "input"
    for k, (w, kind, p) in enumerate(layers):
        i = g.add_node("fc%d" % k, "Linear")
        g.set_param(i, "weight", T(w))
        g.add_edge(prev, "fc%d" % k)
        i = g.add_node("n%d" % k, kind)
        for name, v in p.items():
            g.set_param(i, name, T(v))
        g.add_edge("fc%d" % k, "n%d" % k)
        prev = "n%d" % k
    i = g.add_node("output", "Output")
    g.set_param(i, "shape", T([layers[-1][0].shape[0]], Physnn.DType.INT64))
    g.add_edge(prev, "output")
    return g


def brian_layer(kind, p, w, pre_spikes, method):
    """pre_spikes [steps][n_in] bool (spikes of physnn step k drive step k).
    Returns (spikes [steps][n] bool, v [steps][n] after reset)."""
    n = w.shape[0]
    b2.start_scope()
    b2.defaultclock.dt = DT * b2.second
    idx, steps = np.nonzero(pre_spikes.T)
    assert not pre_spikes[0].any()
    gen = b2.SpikeGeneratorGroup(w.shape[1], idx, (steps - 1) * DT * b2.second)
    params = "x : 1\nr : 1\n"
    if kind in ("LIF", "LI"):
        eqs = "dv/dt = (v_leak - v + r*x)/tau : 1\ntau : second\nv_leak : 1\n"
    elif kind == "IF":
        eqs = "dv/dt = r*x/second : 1\n"
    else:
        eqs = ("dv/dt = (v_leak - v + r*isyn)/tau_mem : 1\n"
               "disyn/dt = (-isyn + w_in*x)/tau_syn : 1\n"
               "tau_mem : second\ntau_syn : second\nv_leak : 1\nw_in : 1\n")
    fires = kind in ("LIF", "IF", "CubaLIF")
    if kind == "IF":
        method = "euler"  # Brian2's exact solver refuses v' = r·x; Euler is exact here
    extra = {}
    if fires:
        params += "v_threshold : 1\nv_reset : 1\n"
        extra = dict(threshold="v > v_threshold", reset="v = v_reset")
    grp = b2.NeuronGroup(n, eqs + params, method=method, **extra)
    for name, v in p.items():
        unit = b2.second if name.startswith("tau") else 1
        setattr(grp, name, v * unit)
    grp.v = p.get("v_leak", np.zeros(n)) if kind != "IF" else 0
    syn = b2.Synapses(gen, grp, "w : 1", on_pre="x_post += w")
    ii, jj = np.nonzero(w.T != 0)
    syn.connect(i=ii, j=jj)
    syn.w = w.T[ii, jj]
    grp.run_regularly("x = 0", when="after_groups")
    mon = b2.StateMonitor(grp, "v", record=True, when="end")
    sp = b2.SpikeMonitor(grp) if fires else None
    b2.run(pre_spikes.shape[0] * DT * b2.second, namespace={})
    v = np.asarray(mon.v).T
    s = np.zeros((pre_spikes.shape[0], n), dtype=bool)
    if sp is not None:
        s[np.rint(np.asarray(sp.t / b2.second) / DT).astype(int),
          np.asarray(sp.i)] = True
    return s, v


def compare(name, ours_s, ours_v, ref_s, ref_v):
    n_steps, n = ref_v.shape
    same = np.array_equal(ours_s, ref_s)
    where = np.argwhere(ours_s != ref_s)
    detail = "%d neuron-steps, %d spikes here, %d in Brian2" % (
        n_steps * n, ours_s.sum(), ref_s.sum())
    if not same:
        t, j = where[0]
        detail += "; first difference step %d neuron %d" % (t, j)
    check(name + " spike times", same and ref_s.sum() > n_steps * n * 0.01,
          detail)
    rel = np.abs(ours_v - ref_v).max() / np.abs(ref_v).max()
    check(name + " membrane", rel <= 1e-5, "max |dv|/max|v| = %.2e" % rel)


def run_case(kind, method, rng, dev_list):
    n_in, n = 200, 100
    p = layer_params(kind, n, rng)
    gain = {"LIF": 6.0, "IF": 40.0, "CubaLIF": 2.5}[kind]
    w = rng.normal(0.25, 0.5, (n, n_in)) * gain / 10
    x = rng.random((STEPS, n_in)) < 0.05
    x[0] = False
    g = nir_graph([(w, kind, p)], n_in)
    t0 = time.time()
    ref_s, ref_v = brian_layer(kind, p, w, x, method)
    tb = time.time() - t0
    for dev in dev_list:
        snn = Physnn.Snn.new(g)
        snn.set_property("integration", Physnn.SnnIntegration.EULER
                         if method == "euler" else Physnn.SnnIntegration.EXACT)
        # a stream is one long simulation: two buffers of uneven length
        cut = STEPS // 3 + 7
        s = np.concatenate([arr(snn.run_new(dev, T(x[a:b]), b - a,
                                            Physnn.SnnRecord.OUTPUT))
                            for a, b in ((0, cut), (cut, STEPS))]) != 0
        snn.reset()
        v = arr(snn.run_new(dev, T(x), STEPS, Physnn.SnnRecord.MEMBRANE))
        compare("%s %s %s" % (kind, method, dev.get_name()), s, v, ref_s, ref_v)
    print("     (Brian2 %.1f s)" % tb)


def run_chain(method, rng, dev_list):
    """Input -> Linear -> LIF -> Linear -> LI -> Output: the readout's
    potential against Brian2 layers driven one after the other."""
    n_in, n1, n2 = 200, 100, 90
    p1 = layer_params("LIF", n1, rng)
    p2 = layer_params("LI", n2, rng)
    w1 = rng.normal(0.25, 0.5, (n1, n_in)) * 0.6
    w2 = rng.normal(0.0, 1.0, (n2, n1))
    x = rng.random((STEPS, n_in)) < 0.05
    x[0] = False
    g = nir_graph([(w1, "LIF", p1), (w2, "LI", p2)], n_in)
    s1, _ = brian_layer("LIF", p1, w1, x, method)
    s1[0] = False
    _, v2 = brian_layer("LI", p2, w2, s1, method)
    for dev in dev_list:
        snn = Physnn.Snn.new(g)
        snn.set_property("integration", Physnn.SnnIntegration.EULER
                         if method == "euler" else Physnn.SnnIntegration.EXACT)
        y = arr(snn.run_new(dev, T(x), STEPS, Physnn.SnnRecord.OUTPUT))
        rel = np.abs(y - v2).max() / np.abs(v2).max()
        check("LIF->LI chain %s %s" % (method, dev.get_name()), rel <= 1e-5,
              "%d neuron-steps, %d hidden spikes, max |dv|/max|v| = %.2e" %
              (STEPS * n2, s1.sum(), rel))


def main():
    dev_list = devices()
    rng = np.random.default_rng(20261125)
    for kind in ("LIF", "IF", "CubaLIF"):
        for method in ("exact", "euler"):
            if kind == "IF" and method == "euler":
                continue  # IF's update is exact either way
            run_case(kind, method, rng, dev_list)
    for method in ("exact", "euler"):
        run_chain(method, rng, dev_list)
    if failures:
        print("FAILED: " + ", ".join(failures))
        sys.exit(1)
    print("all agree")


if __name__ == "__main__":
    main()
