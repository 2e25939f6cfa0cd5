#!/usr/bin/python3
"""NIR interoperability with the reference packages (PyPI, in the build's
venv on Debian's PyTorch):

1. Networks built in snnTorch (Linear -> Leaky -> Linear -> Synaptic, and
   a recurrent RLeaky, reset to zero without delay, as snnTorch's own NIR
   import builds them) exported with snnTorch's export_to_nir and written
   by the `nir` package run in physnn with dt = 1e-4 and semi-implicit
   integration (the mapping docs/snn.md gives) and spike exactly as
   snnTorch's forward pass, step for step.
2. Graphs built and written by the `nir` package with every node type
   physnn runs (Conv2d, SumPool2d, AvgPool2d, Flatten, Affine, Linear,
   Scale, Threshold, I, IF, LI, LIF, CubaLI, CubaLIF, Delay, a nested
   subgraph) load and run; a convolutional one matches a step-by-step
   evaluation with torch's conv2d/pooling and NIR's IF equations.
3. physnn's NIR output (after STDP and homeostasis) reads back with
   nir.read: same graph, learned weights and thresholds, metadata.
On every device physnn offers."""
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import snnvenv  # noqa: E402

snnvenv.reexec(["nir", "nirtorch", "snntorch"])

import numpy as np  # noqa: E402
import gi  # noqa: E402

gi.require_version("Physnn", "1.0")
from gi.repository import Physnn  # noqa: E402

import torch  # noqa: E402

if not snnvenv.have("nir"):
    sys.exit(77)
import nir  # noqa: E402

HAVE_SNNTORCH = snnvenv.have("snntorch") and snnvenv.have("snntorch.export_nir")
failures = []
tmp = tempfile.mkdtemp(prefix="physnn-nir-")


def check(name, ok, detail=""):
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


def T(a, dtype=Physnn.DType.FLOAT32):
    a = np.asarray(a, dtype=float)
    return Physnn.Tensor.new_from_doubles(dtype, list(a.shape), a.ravel().tolist())


def arr(t):
    return np.frombuffer(t.get_bytes().get_data(), dtype=np.float32).reshape(
        list(t.get_shape()))


def run(path, x, dev, **props):
    snn = Physnn.Snn.new_from_file(path)
    for k, v in props.items():
        snn.set_property(k.replace("_", "-"), v)
    return snn, arr(snn.run_new(dev, T(x), x.shape[0], Physnn.SnnRecord.OUTPUT))


def snntorch_case(devs):
    import snntorch as snn
    from snntorch import utils
    from snntorch.export_nir import export_to_nir

    torch.manual_seed(5)
    n_in, n_h, n_out, steps = 40, 60, 12, 400
    # per-neuron beta/threshold tensors: snnTorch 1.0 exports scalars as
    # shapeless arrays that nir's type inference rejects
    net = torch.nn.Sequential(
        torch.nn.Linear(n_in, n_h),
        snn.Leaky(beta=torch.rand(n_h) * 0.3 + 0.65, threshold=torch.ones(n_h),
                  init_hidden=True, reset_mechanism="zero", reset_delay=False),
        torch.nn.Linear(n_h, n_out),
        snn.Synaptic(alpha=torch.rand(n_out) * 0.3 + 0.6,
                     beta=torch.rand(n_out) * 0.2 + 0.75,
                     threshold=torch.ones(n_out), init_hidden=True,
                     reset_mechanism="zero", reset_delay=False, output=False))
    with torch.no_grad():
        net[0].weight.mul_(3.0)
        net[2].weight.mul_(2.0)
    g = export_to_nir(net, torch.zeros(1, n_in), ignore_dims=[0])
    path = os.path.join(tmp, "snntorch.nir")
    nir.write(path, g)
    x = (np.random.default_rng(3).random((steps, n_in)) < 0.15).astype(np.float32)
    utils.reset(net)
    ref = []
    with torch.no_grad():
        for t in range(steps):
            ref.append(net(torch.from_numpy(x[t])[None]).numpy()[0])
    ref = np.array(ref) != 0
    for dev in devs:
        _, y = run(path, x, dev, dt=1e-4,
                   integration=Physnn.SnnIntegration.SEMI_IMPLICIT)
        y = y != 0
        diff = np.argwhere(y != ref)
        check("snnTorch export %s" % dev.get_name(),
              len(diff) == 0 and ref.sum() > 50,
              "%d output spikes here, %d in snnTorch over %d neuron-steps%s" %
              (y.sum(), ref.sum(), ref.size,
               "" if len(diff) == 0 else "; first difference at step %d" % diff[0][0]))


def snntorch_recurrent_case(devs):
    """snnTorch's RLeaky (all-to-all recurrent weights on the previous
    step's spikes) exported as a LIF node and an Affine in a cycle: the
    cycle's edge carries the previous step, as snnTorch computes."""
    import snntorch as snn
    from snntorch import utils
    from snntorch.export_nir import export_to_nir

    torch.manual_seed(1)
    n_in, n_h, n_out, steps = 20, 30, 5, 400
    net = torch.nn.Sequential(
        torch.nn.Linear(n_in, n_h),
        snn.RLeaky(beta=torch.full((n_h,), 0.85), linear_features=n_h,
                   threshold=torch.ones(n_h), init_hidden=True,
                   reset_mechanism="zero", reset_delay=False),
        torch.nn.Linear(n_h, n_out),
        snn.Leaky(beta=torch.full((n_out,), 0.9), threshold=torch.ones(n_out),
                  init_hidden=True, reset_mechanism="zero", reset_delay=False,
                  output=False))
    with torch.no_grad():
        net[0].weight.mul_(3)
        net[1].recurrent.weight.mul_(2)
        net[2].weight.mul_(3)
    g = export_to_nir(net, torch.zeros(1, n_in), ignore_dims=[0])
    path = os.path.join(tmp, "rleaky.nir")
    nir.write(path, g)
    x = (np.random.default_rng(3).random((steps, n_in)) < 0.2).astype(np.float32)
    utils.reset(net)
    ref = []
    with torch.no_grad():
        for t in range(steps):
            ref.append(net(torch.from_numpy(x[t])[None]).numpy()[0])
    ref = np.array(ref) != 0
    for dev in devs:
        snn_, y = run(path, x, dev, dt=1e-4,
                      integration=Physnn.SnnIntegration.SEMI_IMPLICIT)
        y = y != 0
        check("snnTorch RLeaky (recurrent) export %s" % dev.get_name(),
              np.array_equal(y, ref) and ref.sum() > 50
              and "previous step" in snn_.describe(),
              "%d output spikes here, %d in snnTorch, %d differ" %
              (y.sum(), ref.sum(), (y != ref).sum()))


def conv_case(devs):
    """Input [2,8,8] -> Conv2d -> IF -> SumPool2d -> AvgPool2d... checked
    step by step against torch."""
    rng = np.random.default_rng(9)
    w = rng.normal(0.3, 0.5, (4, 2, 3, 3)).astype(np.float32)
    b = rng.normal(0, 0.1, 4).astype(np.float32)
    thr = np.full((4, 8, 8), 1.0, np.float32)
    nodes = {
        "input": nir.Input(input_type=np.array([2, 8, 8])),
        "conv": nir.Conv2d(input_shape=(8, 8), weight=w, stride=1, padding=1,
                           dilation=1, groups=1, bias=b),
        "if": nir.IF(r=np.full((4, 8, 8), 1000.0, np.float32), v_threshold=thr,
                     v_reset=np.zeros((4, 8, 8), np.float32)),
        "pool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                              padding=np.array([0, 0])),
        "avg": nir.AvgPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                             padding=np.array([0, 0])),
        "flat": nir.Flatten(input_type={"input": np.array([4, 2, 2])}, start_dim=0,
                            end_dim=-1),
        "fc": nir.Affine(weight=rng.normal(0, 1, (5, 16)).astype(np.float32),
                         bias=np.zeros(5, np.float32)),
        "output": nir.Output(output_type=np.array([5])),
    }
    edges = [("input", "conv"), ("conv", "if"), ("if", "pool"), ("pool", "avg"),
             ("avg", "flat"), ("flat", "fc"), ("fc", "output")]
    g = nir.NIRGraph(nodes=nodes, edges=edges)
    path = os.path.join(tmp, "conv.nir")
    nir.write(path, g)
    steps = 60
    x = (rng.random((steps, 2, 8, 8)) < 0.3).astype(np.float32)
    # reference: torch ops per step, IF with v += dt·r·I (dt = 1 ms)
    import torch.nn.functional as F
    v = torch.zeros(4, 8, 8)
    ref = []
    wt, bt = torch.from_numpy(w), torch.from_numpy(b)
    fcw = torch.from_numpy(nodes["fc"].weight)
    for t in range(steps):
        cur = F.conv2d(torch.from_numpy(x[t])[None], wt, bt, padding=1)[0]
        v = v + 1e-3 * 1000.0 * cur
        s = (v > 1.0).float()
        v = torch.where(s > 0, torch.zeros_like(v), v)
        p = F.avg_pool2d(F.avg_pool2d(s[None], 2) * 4, 2)[0]
        ref.append((fcw @ p.reshape(-1)).numpy())
    ref = np.array(ref)
    for dev in devs:
        _, y = run(path, x.reshape(steps, -1), dev)
        err = np.abs(y - ref).max()
        check("nir Conv2d/IF/SumPool2d/AvgPool2d/Flatten/Affine %s" % dev.get_name(),
              err < 1e-4 and np.abs(ref).max() > 0.5, "max |diff| %.1e" % err)


def conv_variants_case(devs):
    """Conv1d with stride and dilation, and Conv2d with 'same' padding,
    against torch's conv1d/conv2d, three steps each. (Grouped convolutions
    cannot be written: nir 1.0.8's type inference takes weight.shape[1] as
    the input channels and rejects them.)"""
    import torch.nn.functional as F
    rng = np.random.default_rng(21)
    cases = []
    w1 = rng.normal(0, 1, (6, 4, 3)).astype(np.float32)
    b1 = rng.normal(0, 1, 6).astype(np.float32)
    n1 = nir.Conv1d(input_shape=17, weight=w1, stride=2, padding=2, dilation=2,
                    groups=1, bias=b1)
    cases.append(("Conv1d stride 2 dilation 2 padding 2", n1, (4, 17),
                  lambda x: F.conv1d(x, torch.from_numpy(w1), torch.from_numpy(b1),
                                     stride=2, padding=2, dilation=2)))
    w2 = rng.normal(0, 1, (5, 4, 3, 3)).astype(np.float32)
    b2 = rng.normal(0, 1, 5).astype(np.float32)
    n2 = nir.Conv2d(input_shape=(6, 5), weight=w2, stride=1, padding="same",
                    dilation=1, groups=1, bias=b2)
    cases.append(("Conv2d same padding", n2, (4, 6, 5),
                  lambda x: F.conv2d(x, torch.from_numpy(w2), torch.from_numpy(b2),
                                     padding="same")))
    for name, node, shape, ref_fn in cases:
        x = rng.normal(0, 1, (3,) + shape).astype(np.float32)
        ref = ref_fn(torch.from_numpy(x)).numpy()
        g = nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array(shape)),
                                "conv": node,
                                "output": nir.Output(output_type=np.array(ref.shape[1:]))},
                         edges=[("input", "conv"), ("conv", "output")])
        path = os.path.join(tmp, "convv.nir")
        nir.write(path, g)
        for dev in devs:
            _, y = run(path, x.reshape(3, -1), dev)
            err = np.abs(y - ref.reshape(3, -1)).max()
            check("nir %s %s" % (name, dev.get_name()), err < 1e-5,
                  "output %s, max |diff| %.1e" % (list(ref.shape[1:]), err))


def grouped_conv_case(devs):
    """A grouped Conv2d with per-axis stride, padding and dilation (which
    the nir package cannot write, see above), built through physnn's own
    graph API, against torch's conv2d."""
    import torch.nn.functional as F
    rng = np.random.default_rng(3)
    w = rng.normal(0, 1, (6, 2, 3, 3)).astype(np.float32)
    b = rng.normal(0, 1, 6).astype(np.float32)
    x = rng.normal(0, 1, (2, 4, 7, 6)).astype(np.float32)
    ref = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b),
                   stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2).numpy()
    g = Physnn.NirGraph.new()
    i = g.add_node("input", "Input")
    g.set_param(i, "shape", T([4, 7, 6], Physnn.DType.INT64))
    i = g.add_node("conv", "Conv2d")
    g.set_param(i, "weight", T(w))
    g.set_param(i, "bias", T(b))
    for k, v in dict(stride=[2, 1], padding=[1, 2], dilation=[1, 2],
                     input_shape=[7, 6]).items():
        g.set_param(i, k, T(v, Physnn.DType.INT64))
    g.set_param(i, "groups", T(2, Physnn.DType.INT64))
    i = g.add_node("output", "Output")
    g.set_param(i, "shape", T(list(ref.shape[1:]), Physnn.DType.INT64))
    g.add_edge("input", "conv")
    g.add_edge("conv", "output")
    for dev in devs:
        snn = Physnn.Snn.new(g)
        y = arr(snn.run_new(dev, T(x.reshape(2, -1)), 2, Physnn.SnnRecord.OUTPUT))
        err = np.abs(y - ref.reshape(2, -1)).max()
        check("grouped Conv2d (groups 2, stride/padding/dilation per axis) %s" %
              dev.get_name(), err < 1e-5, "max |diff| %.1e" % err)


def zoo_case(devs):
    """Every other node type, written by nir, loads and runs; values that
    have closed forms are checked."""
    n = 6
    sub = nir.NIRGraph(nodes={
        "input": nir.Input(input_type=np.array([n])),
        "scale": nir.Scale(scale=np.linspace(0.5, 1.5, n).astype(np.float32)),
        "output": nir.Output(output_type=np.array([n]))},
        edges=[("input", "scale"), ("scale", "output")])
    ones = np.ones(n, np.float32)
    nodes = {
        "input": nir.Input(input_type=np.array([n])),
        "lin": nir.Linear(weight=np.eye(n, dtype=np.float32) * 2),
        "sub": sub,
        "delay": nir.Delay(delay=np.full(n, 0.003, np.float32)),
        "i": nir.I(r=ones),
        "li": nir.LI(tau=ones * 0.02, r=ones, v_leak=ones * 0),
        "cubali": nir.CubaLI(tau_syn=ones * 0.005, tau_mem=ones * 0.02, r=ones,
                             v_leak=ones * 0, w_in=ones),
        "cubalif": nir.CubaLIF(tau_syn=ones * 0.005, tau_mem=ones * 0.02,
                               r=ones * 50, v_leak=ones * 0, v_threshold=ones,
                               v_reset=ones * 0, w_in=ones),
        "lif": nir.LIF(tau=ones * 0.01, r=ones * 30, v_leak=ones * 0,
                       v_threshold=ones, v_reset=ones * 0),
        "thr": nir.Threshold(threshold=ones * 0.5),
        "output": nir.Output(output_type=np.array([n])),
    }
    edges = [("input", "lin"), ("lin", "sub"), ("sub", "delay"), ("delay", "i"),
             ("delay", "li"), ("delay", "cubali"), ("delay", "cubalif"),
             ("delay", "lif"), ("lif", "thr"), ("cubalif", "thr"),
             ("i", "thr"), ("li", "thr"), ("cubali", "thr"), ("thr", "output")]
    g = nir.NIRGraph(nodes=nodes, edges=edges)
    path = os.path.join(tmp, "zoo.nir")
    nir.write(path, g)
    steps = 50
    x = np.zeros((steps, n), np.float32)
    x[5] = 1.0
    for dev in devs:
        snn, y = run(path, x, dev)
        # the pulse reaches the delay at step 5 and leaves it at step 8
        first = np.argmax(y.any(axis=1)) if y.any() else -1
        check("nir zoo (subgraph, Delay, I, LI, CubaLI, CubaLIF, LIF, "
              "Threshold) %s" % dev.get_name(),
              first == 8 and not y[:8].any(),
              "first output at step %d, %d spikes; %d nodes: %s" % (
                  first, y.sum(), len(snn.describe().splitlines()),
                  snn.describe().replace("\n", "; ")))


def readback_case(devs):
    """STDP + intrinsic plasticity, saved, read by nir.read."""
    rng = np.random.default_rng(1)
    n_in, n = 30, 8
    w0 = rng.uniform(0.2, 0.8, (n, n_in)).astype(np.float32)
    g = nir.NIRGraph(nodes={
        "input": nir.Input(input_type=np.array([n_in])),
        "fc": nir.Linear(weight=w0),
        "lif": nir.LIF(tau=np.full(n, 0.01, np.float32), r=np.full(n, 8, np.float32),
                       v_leak=np.zeros(n, np.float32),
                       v_threshold=np.ones(n, np.float32),
                       v_reset=np.zeros(n, np.float32)),
        "output": nir.Output(output_type=np.array([n]))},
        edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")])
    path = os.path.join(tmp, "plastic.nir")
    nir.write(path, g)
    x = (rng.random((500, n_in)) < 0.2).astype(np.float32)
    snn = Physnn.Snn.new_from_file(path)
    snn.set_property("stdp", True)
    snn.set_property("intrinsic", True)
    snn.set_property("homeostasis-interval", 0.05)
    snn.run_new(devs[-1], T(x), 500, Physnn.SnnRecord.OUTPUT)
    out = os.path.join(tmp, "learned.nir")
    snn.save(out)
    back = nir.read(out)
    w_ours = arr(snn.get_weights("fc"))
    th_ours = arr(snn.get_thresholds("lif"))
    w_back = np.asarray(back.nodes["fc"].weight)
    th_back = np.asarray(back.nodes["lif"].v_threshold)
    check("our NIR read by nir.read",
          set(back.nodes) == set(g.nodes) and sorted(back.edges) == sorted(g.edges)
          and np.array_equal(w_back, w_ours) and np.array_equal(th_back, th_ours)
          and not np.array_equal(w_back, w0) and not np.allclose(th_back, 1.0),
          "%d nodes, weights changed by STDP (max |dw| %.3f), thresholds by IP "
          "(%.3f..%.3f)" % (len(back.nodes), np.abs(w_back - w0).max(),
                            th_back.min(), th_back.max()))
    md = back.nodes["lif"].metadata
    check("homeostasis snapshot in metadata", "physnn_rate_hz" in md,
          "lif metadata: %s" % sorted(md))


def main():
    devs = devices()
    if HAVE_SNNTORCH:
        snntorch_case(devs)
        snntorch_recurrent_case(devs)
    conv_case(devs)
    conv_variants_case(devs)
    grouped_conv_case(devs)
    zoo_case(devs)
    readback_case(devs)
    shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print("FAILED: " + ", ".join(failures))
        sys.exit(1)
    print("all agree")


if __name__ == "__main__":
    main()
