#!/usr/bin/python3
"""physnn's ONNX writer judged by the onnx package.

Reference models are made by PyTorch and onnx.helper (make_onnx_models.py);
physnn reads each and writes it back (the onnx-rewrite tool); then
  - onnx.load and onnx.checker.check_model(full_check=True) must accept what
    physnn wrote;
  - the onnx package's description of the rewritten file must equal its
    description of the original, up to what the data model documents:
    initializers are written as raw_data, BOOL is held (and written) as
    UINT8, tensor attributes lose their (unused) name;
  - the model with If branches (kept by name only) is refused with a
    message naming the node and attribute, not written without them;
  - a model built in memory by physnn (writer defaults) passes the checker
    and holds the weights it was given.

usage: onnx_writer_check.py PATH/TO/onnx-rewrite
Exit status 77 (skip) when torch or onnx cannot be imported.
"""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
try:
    import numpy as np
    import onnx
    from onnx import numpy_helper
    import make_onnx_models as mk
except ImportError as e:  # pragma: no cover - depends on the machine
    print(f"SKIP: onnx_writer_check.py needs /usr/bin/python3 with torch, "
          f"numpy and onnx (python3-torch python3-onnx): {e}")
    sys.exit(77)


def normalized(desc):
    """The original's description as physnn's writer documents it."""
    d = json.loads(json.dumps(desc))

    def tensor(t, attribute=False):
        t["storage"] = "raw_data"
        if t["data_type"] == "BOOL":
            t["data_type"] = "UINT8"
        if attribute:
            t["name"] = ""

    for t in d["initializers"]:
        tensor(t)
    for vi in d["inputs"] + d["outputs"] + d["value_infos"]:
        if vi["elem_type"] == "BOOL":
            vi["elem_type"] = "UINT8"
    for n in d["nodes"]:
        for a in n["attributes"]:
            if a["type"] == "TENSOR":
                tensor(a["value"], attribute=True)
    return d


def diff(a, b, path=""):
    """Lists where two JSON values differ."""
    if type(a) is not type(b):
        return [f"{path}: {a!r} != {b!r}"]
    if isinstance(a, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                out.append(f"{path}.{k}: only in one")
            else:
                out += diff(a[k], b[k], f"{path}.{k}")
        return out
    if isinstance(a, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items != {len(b)}"]
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            out += diff(x, y, f"{path}[{i}]")
        return out
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    tool = sys.argv[1]
    failures = 0
    with tempfile.TemporaryDirectory() as d:
        ref = os.path.join(d, "ref")
        out = os.path.join(d, "out")
        os.makedirs(out)
        subprocess.run(["/usr/bin/python3", os.path.join(
            HERE, "make_onnx_models.py"), ref], check=True)
        with open(os.path.join(ref, "models.json"), encoding="utf-8") as f:
            index = json.load(f)
        for name, desc in index.items():
            src = os.path.join(ref, name + ".onnx")
            dst = os.path.join(out, name + ".onnx")
            r = subprocess.run([tool, src, dst], capture_output=True,
                               text=True)
            if name == "subgraph":
                # kept by name only: refused, naming node and attribute
                ok = (r.returncode == 1 and 'node "if" (If): attribute' in
                      r.stderr and "cannot be written" in r.stderr and
                      not os.path.exists(dst))
                print(f"{name}: refused as expected: {r.stderr.strip()}"
                      if ok else f"FAIL {name}: {r.returncode} {r.stderr}")
                failures += not ok
                continue
            if r.returncode != 0:
                print(f"FAIL {name}: onnx-rewrite: {r.stderr}")
                failures += 1
                continue
            m = onnx.load(dst)
            try:
                onnx.checker.check_model(m, full_check=True)
            except Exception as e:  # noqa: BLE001 - report any checker error
                print(f"FAIL {name}: onnx.checker: {e}")
                failures += 1
                continue
            problems = diff(normalized(desc), mk.describe(m))
            if problems:
                print(f"FAIL {name}: the rewritten model differs:")
                for p in problems[:20]:
                    print("   ", p)
                failures += 1
            else:
                print(f"{name}: checker accepts physnn's file; "
                      f"{len(desc['initializers'])} initializers, "
                      f"{len(desc['nodes'])} nodes identical")

        # a model built in memory: the writer's defaults must be valid
        built = os.path.join(out, "built.onnx")
        subprocess.run([tool, "--build", built], check=True)
        m = onnx.load(built)
        onnx.checker.check_model(m, full_check=True)
        w = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
        expect = {
            "W1": 0.25 * np.arange(8, dtype=np.float32).reshape(2, 4) - 1,
            "b1": 0.5 * np.arange(4, dtype=np.float32),
            "W2": -0.125 * np.arange(4, dtype=np.float32).reshape(4, 1),
            "b2": np.array([3.0], np.float32),
        }
        ok = (set(w) == set(expect) and
              all(np.array_equal(w[k], v) for k, v in expect.items()) and
              m.producer_name == "physnn" and m.graph.name and
              [n.op_type for n in m.graph.node] == ["Gemm", "Tanh", "Gemm"]
              and m.graph.input[0].type.tensor_type.shape.dim[0].dim_param
              == "N" and {p.key: p.value for p in m.metadata_props} ==
              {"physnn.coords": "x,t"})
        print("built: checker accepts it; weights and structure as built"
              if ok else f"FAIL built: {m}")
        failures += not ok
    print("PASS" if failures == 0 else f"{failures} FAILURES")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
