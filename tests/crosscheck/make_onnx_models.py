#!/usr/bin/python3
"""Reference ONNX models for the physnn reader, made by tools no one here
wrote: PyTorch's exporter (torch.onnx.export) and the onnx package's helpers.

usage: make_onnx_models.py OUTDIR

Writes OUTDIR/<name>.onnx for each model and OUTDIR/models.json, which
describes every file as the onnx package itself reads it back (onnx.load):
producer, opset, metadata, graph inputs (initializers excluded, as the ONNX
IR defines graph inputs with a default), outputs, value_info shapes with
symbolic dimensions, initializers with every value, and nodes with every
attribute. The C test (tests/unit/test-onnx.c) loads each file with physnn
and compares it with this description; onnx_writer_check.py uses the same
description to compare what physnn writes back.

Values are written as strings (repr of the Python float or int) so that
64-bit integers and float specials survive JSON exactly.

Exit status 77 (skip) when torch or onnx cannot be imported.
"""
import io
import json
import math
import os
import sys

try:
    import numpy as np
    import onnx
    import torch
    from onnx import TensorProto, helper, numpy_helper
except ImportError as e:  # pragma: no cover - depends on the machine
    print(f"SKIP: make_onnx_models.py needs /usr/bin/python3 with torch, "
          f"numpy and onnx (Debian python3-torch python3-onnx): {e}",
          file=sys.stderr)
    sys.exit(77)

ATTR_TYPES = {
    onnx.AttributeProto.FLOAT: "FLOAT",
    onnx.AttributeProto.INT: "INT",
    onnx.AttributeProto.STRING: "STRING",
    onnx.AttributeProto.TENSOR: "TENSOR",
    onnx.AttributeProto.FLOATS: "FLOATS",
    onnx.AttributeProto.INTS: "INTS",
    onnx.AttributeProto.STRINGS: "STRINGS",
}


def value_str(v):
    """Exact text of a value: repr of a float (round-trips binary64, hence
    binary32 and binary16 too), decimal of an integer."""
    if isinstance(v, (bool, np.bool_)):
        return str(int(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    f = float(v)
    if math.isnan(f):
        return "nan"
    return repr(f)


def describe_tensor(t):
    a = numpy_helper.to_array(t)
    return {
        "name": t.name,
        "data_type": TensorProto.DataType.Name(t.data_type),
        "storage": "raw_data" if t.HasField("raw_data") else "typed",
        "dims": [int(d) for d in t.dims],
        "values": [value_str(v) for v in a.reshape(-1).tolist()],
    }


def describe_value_info(v):
    tt = v.type.tensor_type
    out = {
        "name": v.name,
        "elem_type": TensorProto.DataType.Name(tt.elem_type),
        "has_shape": tt.HasField("shape"),
        "dims": [],
    }
    for d in tt.shape.dim:
        if d.HasField("dim_value"):
            out["dims"].append(int(d.dim_value))
        elif d.HasField("dim_param"):
            out["dims"].append(d.dim_param)
        else:
            out["dims"].append(None)
    return out


def describe_attribute(a):
    kind = ATTR_TYPES.get(a.type, "OTHER")
    out = {"name": a.name, "type": kind}
    if kind == "FLOAT":
        out["value"] = value_str(np.float32(a.f))
    elif kind == "INT":
        out["value"] = value_str(a.i)
    elif kind == "STRING":
        out["value"] = a.s.decode("utf-8")
    elif kind == "TENSOR":
        out["value"] = describe_tensor(a.t)
    elif kind == "FLOATS":
        out["value"] = [value_str(np.float32(f)) for f in a.floats]
    elif kind == "INTS":
        out["value"] = [value_str(i) for i in a.ints]
    elif kind == "STRINGS":
        out["value"] = [s.decode("utf-8") for s in a.strings]
    return out


def describe(model):
    g = model.graph
    init_names = [t.name for t in g.initializer]
    opset = 0
    domains = {}
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx"):
            opset = int(o.version)
        else:
            domains[o.domain] = int(o.version)
    return {
        "ir_version": int(model.ir_version),
        "opset": opset,
        "domains": domains,
        "producer_name": model.producer_name,
        "producer_version": model.producer_version,
        "doc_string": model.doc_string,
        "graph_name": g.name,
        "metadata": {p.key: p.value for p in model.metadata_props},
        "inputs": [describe_value_info(v) for v in g.input
                   if v.name not in init_names],
        "outputs": [describe_value_info(v) for v in g.output],
        "value_infos": [describe_value_info(v) for v in g.value_info],
        "initializers": [describe_tensor(t) for t in g.initializer],
        "nodes": [{
            "name": n.name,
            "op_type": n.op_type,
            "domain": n.domain,
            "inputs": list(n.input),
            "outputs": list(n.output),
            "attributes": [describe_attribute(a) for a in n.attribute],
        } for n in g.node],
    }


# ---------------------------------------------------------------------------
# The models


class MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = torch.nn.Linear(2, 16)
        self.l2 = torch.nn.Linear(16, 16)
        self.l3 = torch.nn.Linear(16, 1)

    def forward(self, coords):
        h = torch.tanh(self.l1(coords))
        h = torch.sigmoid(self.l2(h))
        return self.l3(h)


def torch_mlp(params_as_inputs):
    torch.manual_seed(1)
    f = io.BytesIO()
    torch.onnx.export(MLP(), (torch.rand(4, 2),), f, input_names=["coords"],
                      output_names=["u"], opset_version=13,
                      dynamic_axes={"coords": {0: "N"}, "u": {0: "N"}},
                      keep_initializers_as_inputs=params_as_inputs)
    return onnx.load_from_string(f.getvalue())


# One edge-heavy set of values per type: extremes, signs, specials.
DTYPE_VALUES = {
    TensorProto.FLOAT: (np.float32, [0.0, -1.5, 3.4028235e38, 1e-45,
                                     float("inf"), -float("inf"), 0.1]),
    TensorProto.DOUBLE: (np.float64, [math.pi, -0.0, 1e-308, 5e-324,
                                      -1.7976931348623157e308, 2.5]),
    TensorProto.FLOAT16: (np.float16, [1.0, -2.0, 65504.0, 6e-08, 0.1,
                                       float("inf"), -0.0, 0.333]),
    TensorProto.INT8: (np.int8, [-128, 127, 0, -1, 5, 100]),
    TensorProto.UINT8: (np.uint8, [0, 255, 1, 128]),
    TensorProto.INT16: (np.int16, [-32768, 32767, -2, 300]),
    TensorProto.UINT16: (np.uint16, [0, 65535, 40000, 7]),
    TensorProto.INT32: (np.int32, [-2147483648, 2147483647, -3, 70000]),
    TensorProto.UINT32: (np.uint32, [0, 4294967295, 3000000000, 9]),
    TensorProto.INT64: (np.int64, [-9223372036854775808,
                                   9223372036854775807, -5, 2 ** 53 + 1]),
    TensorProto.UINT64: (np.uint64, [0, 18446744073709551615,
                                     2 ** 63 + 12345, 2 ** 53 + 1]),
    TensorProto.BOOL: (np.bool_, [True, False, True, True]),
}


def dtype_model(raw):
    """Initializers of every supported type, in raw_data (raw=True) or the
    typed repeated fields the ONNX spec assigns to each type (raw=False:
    float_data, double_data, int32_data for the small integers, bool and
    float16 bits, int64_data, uint64_data for uint32 and uint64)."""
    inits = []
    for dt, (npt, vals) in DTYPE_VALUES.items():
        name = "t_" + TensorProto.DataType.Name(dt).lower()
        a = np.array(vals, dtype=npt)
        # make shapes of rank 2 where the count allows, to test dim order
        shape = [2, len(vals) // 2] if len(vals) % 2 == 0 else [len(vals)]
        a = a.reshape(shape)
        if raw:
            t = numpy_helper.from_array(a, name)
        else:
            t = helper.make_tensor(name, dt, shape, a.reshape(-1).tolist(),
                                   raw=False)
        assert t.HasField("raw_data") == raw, name
        inits.append(t)
    # a scalar and an empty tensor
    inits.append(numpy_helper.from_array(np.array(7.25, np.float32),
                                         "scalar"))
    inits.append(helper.make_tensor("empty", TensorProto.FLOAT, [0, 3],
                                    b"" if raw else [], raw=raw))
    node = helper.make_node("Identity", ["x"], ["y"], name="id")
    graph = helper.make_graph(
        [node], "dtypes_" + ("raw" if raw else "typed"),
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])], inits)
    return helper.make_model(graph, producer_name="onnx.helper",
                             opset_imports=[helper.make_opsetid("", 13)])


def subgraph_model():
    """A standard If whose then/else branches are GRAPH attributes, which
    physnn keeps by name only (and refuses to write back)."""
    body_then = helper.make_graph(
        [helper.make_node("Constant", [], ["t_out"],
                          value=helper.make_tensor("tv", TensorProto.FLOAT,
                                                   [1], [1.0]))],
        "then_body", [],
        [helper.make_tensor_value_info("t_out", TensorProto.FLOAT, [1])])
    body_else = helper.make_graph(
        [helper.make_node("Constant", [], ["e_out"],
                          value_floats=[-1.0])],
        "else_body", [],
        [helper.make_tensor_value_info("e_out", TensorProto.FLOAT, [1])])
    cond = helper.make_node("Greater", ["s", "zero"], ["cond"], name="gt")
    iff = helper.make_node("If", ["cond"], ["branch"], name="if",
                           then_branch=body_then, else_branch=body_else)
    graph = helper.make_graph(
        [cond, iff], "subgraph",
        [helper.make_tensor_value_info("s", TensorProto.FLOAT, [])],
        [helper.make_tensor_value_info("branch", TensorProto.FLOAT, [1])],
        [helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0])])
    return helper.make_model(graph, producer_name="onnx.helper",
                             opset_imports=[helper.make_opsetid("", 13)])


def attrs_model():
    """Every attribute type the reader keeps (float, int, string, tensor,
    floats, ints, strings) on a custom-domain node, and standard ops with
    their usual attributes, one of them unnamed."""
    every = helper.make_node(
        "Everything", ["x"], ["e"], name="every", domain="test.physnn",
        alpha=0.125, count=-42, mode="reflect",
        weights=helper.make_tensor("w", TensorProto.FLOAT, [2, 2],
                                   [1.0, -2.0, 0.5, 4.0]),
        scales=[1.5, -0.25, 3.0], axes=[0, -1, 2 ** 40],
        labels=["a", "bé", ""])
    gemm = helper.make_node("Gemm", ["x", "W", "B"], ["g"], name="gemm",
                            alpha=0.5, beta=2.0, transB=1)
    cat = helper.make_node("Concat", ["g", "g"], ["c"], axis=1)  # unnamed
    graph = helper.make_graph(
        [every, gemm, cat], "attrs",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2])],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, ["N", 6]),
         helper.make_tensor_value_info("e", TensorProto.FLOAT, ["N", 2])],
        [helper.make_tensor("W", TensorProto.FLOAT, [3, 2],
                            [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]),
         helper.make_tensor("B", TensorProto.FLOAT, [3], [1.0, 2.0, 3.0])])
    return helper.make_model(
        graph, producer_name="onnx.helper",
        opset_imports=[helper.make_opsetid("", 13),
                       helper.make_opsetid("test.physnn", 1)])


def symbolic_model():
    """Symbolic, fixed and unknown dimensions on inputs, outputs and
    value_info; metadata_props; doc string; producer; opset 14."""
    n1 = helper.make_node("Tanh", ["x"], ["h"], name="tanh")
    n2 = helper.make_node("Mul", ["h", "k"], ["u"], name="scale")
    unknown = helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                            ["batch", 3, None])
    graph = helper.make_graph(
        [n1, n2], "symbolic", [unknown],
        [helper.make_tensor_value_info("u", TensorProto.FLOAT,
                                       ["batch", 3, "width"])],
        [helper.make_tensor("k", TensorProto.FLOAT, [1], [2.0])],
        doc_string="graph doc",
        value_info=[
            helper.make_tensor_value_info("h", TensorProto.FLOAT,
                                          ["batch", 3, "width"]),
            # no shape at all (rank unknown)
            helper.make_tensor_value_info("u", TensorProto.FLOAT, None)])
    m = helper.make_model(graph, producer_name="make_onnx_models",
                          producer_version="1.2.3",
                          doc_string="A model with symbolic dimensions.",
                          opset_imports=[helper.make_opsetid("", 14)])
    helper.set_model_props(m, {"physnn.coords": "x,y,t",
                               "physnn.note": "ünïcode ✓",
                               "empty": ""})
    return m


def ai_onnx_model():
    """The default domain imported under its explicit name "ai.onnx" (which
    the IR allows but onnx 1.12's checker does not accept), next to a
    custom domain's opset that must not be taken for it."""
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])], "ai_onnx",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    return helper.make_model(
        graph, opset_imports=[helper.make_opsetid("com.example", 3),
                              helper.make_opsetid("ai.onnx", 15)])


UNCHECKED = {"ai_onnx"}


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    models = {
        "mlp": torch_mlp(False),
        "mlp_params_as_inputs": torch_mlp(True),
        "dtypes_raw": dtype_model(True),
        "dtypes_typed": dtype_model(False),
        "attrs": attrs_model(),
        "subgraph": subgraph_model(),
        "symbolic": symbolic_model(),
        "ai_onnx": ai_onnx_model(),
    }
    index = {}
    for name, m in models.items():
        path = os.path.join(out, name + ".onnx")
        onnx.save(m, path)
        # describe the file as onnx reads it, not the objects built here
        back = onnx.load(path)
        if name not in UNCHECKED:
            onnx.checker.check_model(back)
        index[name] = describe(back)
    with open(os.path.join(out, "models.json"), "w", encoding="utf-8") as f:
        json.dump(index, f, indent=1, ensure_ascii=False)
    print(f"make_onnx_models: wrote {len(models)} models and models.json "
          f"to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
