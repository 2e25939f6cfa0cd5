#!/usr/bin/python3
"""ONNX external data (what recent PyTorch exporters write): physnn loads
weights from the file beside the model, refuses locations outside the
model's directory and ranges beyond the file's end."""
import os
import sys
import tempfile

import numpy as np
import onnx
import torch

import gi

gi.require_version("Physnn", "1.0")
from gi.repository import GLib, Physnn  # noqa: E402


def run(path, x):
    m = Physnn.Model.new_from_file(path)
    t = Physnn.Tensor.new_from_bytes(Physnn.DType.FLOAT32, list(x.shape),
                                     GLib.Bytes.new(x.tobytes()))
    out = m.run(Physnn.Device.new("cpu"), [t])[0]
    return np.frombuffer(out.get_bytes().get_data(), np.float32)


def expect_error(path, needle):
    try:
        Physnn.Model.new_from_file(path)
    except GLib.Error as e:
        assert needle in e.message, e.message
        print("refused as expected:", e.message)
        return
    raise AssertionError(f"{path} loaded but should not have")


def main():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.Tanh(),
                              torch.nn.Linear(16, 1))
    x = np.random.default_rng(0).random((5, 2)).astype(np.float32)
    with tempfile.TemporaryDirectory() as d:
        inline = os.path.join(d, "inline.onnx")
        torch.onnx.export(net, torch.tensor(x), inline, input_names=["coords"],
                          output_names=["u"], opset_version=13)
        m = onnx.load(inline)
        ext = os.path.join(d, "ext.onnx")
        onnx.save_model(m, ext, save_as_external_data=True,
                        all_tensors_to_one_file=True, location="ext.bin",
                        size_threshold=0)
        ref = net(torch.tensor(x)).detach().numpy().ravel()
        got = run(ext, x)
        err = float(np.max(np.abs(got - ref)))
        print("external data model vs torch: max abs difference", err)
        assert err < 1e-5

        # a location outside the model's directory is refused
        m2 = onnx.load(ext, load_external_data=False)
        for t in m2.graph.initializer:
            for e in t.external_data:
                if e.key == "location":
                    e.value = "../ext.bin"
        bad = os.path.join(d, "escape.onnx")
        onnx.save_model(m2, bad)
        expect_error(bad, "must be a file name beside the model")

        # a truncated data file is refused with the range named
        with open(os.path.join(d, "ext.bin"), "r+b") as f:
            f.truncate(40)
        expect_error(ext, "beyond the end of ext.bin")
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
