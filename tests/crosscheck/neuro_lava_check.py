#!/usr/bin/python3
"""Lava-dl's own NetX loader reads physnn's NetX export, when lava-dl can be
installed (PyPI, in the build's venv). lava-dl and lava-nc publish wheels
for Python < 3.11 only; on Debian 12 (Python 3.11) this test is SKIPPED
LOUDLY (exit 77) and the NetX layout is judged by h5py and a NumPy Loihi
simulation in neuro_export_check.py instead."""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import snnvenv  # noqa: E402

snnvenv.reexec(["lava-nc", "lava-dl"])

if not snnvenv.have("lava.lib.dl.netx"):
    snnvenv.banner("lava-dl is not installable here (Python %d.%d; its wheels need "
                   "Python < 3.11): Lava's NetX loader was NOT run on our export"
                   % sys.version_info[:2])
    sys.exit(77)

import numpy as np  # noqa: E402
from lava.lib.dl import netx  # noqa: E402
import gi  # noqa: E402

gi.require_version("Physnn", "1.0")
from gi.repository import Physnn  # noqa: E402


def tensor(a, dtype=Physnn.DType.FLOAT32):
    a = np.asarray(a, dtype=np.float64)
    return Physnn.Tensor.new_from_doubles(dtype, list(a.shape), a.ravel().tolist())


g = Physnn.NirGraph.new()
i = g.add_node("input", "Input")
g.set_param(i, "shape", tensor([16], Physnn.DType.INT64))
a = g.add_node("fc", "Affine")
g.set_param(a, "weight", tensor(np.random.default_rng(0).normal(0, 1, (8, 16))))
g.set_param(a, "bias", tensor(np.zeros(8)))
lif = g.add_node("lif", "LIF")
for k, v in dict(tau=0.02, r=10.0, v_leak=0.0, v_threshold=1.0, v_reset=0.0).items():
    g.set_param(lif, k, tensor(np.full(8, v)))
o = g.add_node("output", "Output")
g.set_param(o, "shape", tensor([8], Physnn.DType.INT64))
for s, t in (("input", "fc"), ("fc", "lif"), ("lif", "output")):
    g.add_edge(s, t)
with tempfile.TemporaryDirectory() as d:
    path = os.path.join(d, "net.netx.h5")
    Physnn.NeuroNet.new(g, 1e-3).export(Physnn.NeuroFormat.LAVA_NETX, path, None, None)
    net = netx.hdf5.Network(net_config=path)
    print("lava-dl netx loaded %d layers: %s" % (len(net.layers), net))
    if len(net.layers) != 1:
        print("FAIL: expected one layer")
        sys.exit(1)
