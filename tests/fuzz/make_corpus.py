#!/usr/bin/python3
"""Regenerates the committed seed corpus of fuzz-onnx: small models made by
PyTorch and by hand, and truncated copies. Run once when the reader grows:
    /usr/bin/python3 tests/fuzz/make_corpus.py tests/fuzz/corpus-onnx
"""
import io
import os
import sys

import onnx
from onnx import TensorProto, helper
import torch


def torch_model(net, args, names):
    f = io.BytesIO()
    torch.onnx.export(net, args, f, input_names=names, output_names=["u"],
                      opset_version=13)
    return f.getvalue()


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    seeds = {}
    mlp = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(),
                              torch.nn.Linear(8, 1))
    seeds["mlp"] = torch_model(mlp, (torch.rand(3, 2),), ["coords"])
    conv = torch.nn.Sequential(torch.nn.Conv1d(1, 2, 3, padding=1),
                               torch.nn.MaxPool1d(2), torch.nn.Flatten(),
                               torch.nn.Linear(4, 1))
    seeds["conv"] = torch_model(conv, (torch.rand(1, 1, 4),), ["x"])
    # every attribute type, typed (not raw) data, a Constant, metadata
    node = helper.make_node("Gemm", ["x", "w", "b"], ["u"], alpha=0.5,
                            transB=1, name="g")
    cst = helper.make_node("Constant", [], ["c"], value_floats=[1.0, 2.0])
    graph = helper.make_graph(
        [cst, node], "typed",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2])],
        [helper.make_tensor_value_info("u", TensorProto.FLOAT, ["N", 1])],
        [helper.make_tensor("w", TensorProto.FLOAT, [1, 2], [0.1, 0.2]),
         helper.make_tensor("b", TensorProto.DOUBLE, [1], [0.3])])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    helper.set_model_props(m, {"physnn.coords": "x,t"})
    seeds["typed"] = m.SerializeToString()
    for name, data in seeds.items():
        with open(os.path.join(out, f"{name}.onnx"), "wb") as f:
            f.write(data)
        for cut in (len(data) // 3, len(data) - 7):
            with open(os.path.join(out, f"{name}-cut{cut}.onnx"), "wb") as f:
                f.write(data[:cut])
    print("wrote", len(os.listdir(out)), "seeds to", out)


if __name__ == "__main__":
    main()
