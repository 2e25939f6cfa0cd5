"""Shared helpers of the physnn model scripts: export to ONNX with physnn
metadata, atomically, and evaluation through physnn itself.

Run the scripts with Debian's interpreter inside the build environment:
    meson devenv -C build /usr/bin/python3 ../models/train_heat_pinn.py
"""
import os
import tempfile
import time

import numpy as np
import onnx
import torch

import gi

gi.require_version("Physnn", "1.0")
from gi.repository import GLib, Physnn  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def export_onnx(model, example_inputs, input_names, path, metadata):
    """torch.onnx.export with a symbolic number of points, physnn metadata,
    the ONNX checker, and an atomic rename."""
    model.eval()
    dyn = {n: {0: "N"} for n in input_names if n != "branch"}
    dyn["u"] = {0: "N"}
    fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=os.path.dirname(path))
    os.close(fd)
    try:
        torch.onnx.export(model, example_inputs, tmp, input_names=input_names,
                          output_names=["u"], dynamic_axes=dyn, opset_version=13)
        m = onnx.load(tmp)
        for k, v in metadata.items():
            entry = m.metadata_props.add()
            entry.key, entry.value = k, v
        onnx.checker.check_model(m)
        onnx.save(m, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def physnn_tensor(a):
    a = np.ascontiguousarray(a, dtype=np.float32)
    return Physnn.Tensor.new_from_bytes(Physnn.DType.FLOAT32, list(a.shape),
                                        GLib.Bytes.new(a.tobytes()))


def numpy_of(t):
    return np.frombuffer(t.get_bytes().get_data(), dtype=np.float32).reshape(
        list(t.get_shape()))


def physnn_eval(path, inputs, device="cpu", derivatives=None):
    """Runs an ONNX model through physnn; returns the list of outputs."""
    m = Physnn.Model.new_from_file(path)
    if derivatives:
        m.set_derivatives(derivatives)
    outs = m.run(Physnn.Device.new(device), [physnn_tensor(a) for a in inputs])
    return [numpy_of(t) for t in outs]


def simulate(pde, times, **props):
    """Fields of the physnn simulator (the pdesrc ground truth) at `times`;
    returns (x grid, list of fields)."""
    sim = Physnn.Simulator.new(pde)
    for k, v in props.items():
        sim.set_property(k.replace("_", "-"), v)
    sim.reset()
    n = sim.get_grid_size(0)
    xs = np.array([sim.get_coordinate(0, i) for i in range(n)])
    fields = []
    for t in times:
        sim.advance(float(t))
        fields.append(np.array(sim.get_field().to_doubles()))
    return xs, fields


def rel_l2(a, b):
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


class Timer:
    def __enter__(self):
        self.t0 = time.time()
        return self

    def __exit__(self, *a):
        self.seconds = time.time() - self.t0


def mlp(widths, act=torch.nn.Tanh):
    layers = []
    for i in range(len(widths) - 1):
        layers.append(torch.nn.Linear(widths[i], widths[i + 1]))
        if i < len(widths) - 2:
            layers.append(act())
    return torch.nn.Sequential(*layers)
