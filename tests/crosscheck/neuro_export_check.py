#!/usr/bin/python3
"""physnn's neuromorphic exports judged by readers physnn did not write.

A network is built with the reference `nir` package (PyPI, in the build's
venv) and written with nir.write; `physnn export` turns it into every
format; then
  - nir.read loads our NIR export (with its type checking) and finds the
    same parameters, and re-importing that file into the engine snninfer
    uses gives identical spikes;
  - h5py reads the Lava-dl NetX file: layout and dtypes as REFERENCES.md
    gives them, Loihi's integer grid, and a NumPy simulation of Loihi's
    fixed-point CUBA neuron written here from the file alone reproduces
    physnn's Loihi simulation bit for bit; its agreement with the float
    run is reported;
  - jsonschema validates the spike JSON against docs/spike-json.schema.json,
    and its content matches the network and the recorded input;
  - onnx.checker accepts the Akida ONNX, its weights are 4-bit, and ONNX
    Runtime (PyPI, venv) runs it to the float network's rates within the
    quantization error.
Parts whose package cannot be installed are skipped LOUDLY."""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import snnvenv  # noqa: E402

snnvenv.reexec(["nir", "onnxruntime"])

import numpy as np  # noqa: E402
import gi  # noqa: E402

gi.require_version("Physnn", "1.0")
from gi.repository import Physnn  # noqa: E402

BUILD = os.environ["PHYSNN_BUILD_DIR"]
SRC = os.environ["PHYSNN_SOURCE_DIR"]
PHYSNN = os.path.join(BUILD, "tools", "physnn")
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def tensor(a, dtype=Physnn.DType.FLOAT32):
    a = np.asarray(a, dtype=np.float64)
    return Physnn.Tensor.new_from_doubles(dtype, list(a.shape), a.ravel().tolist())


def array(t):
    return np.array(t.to_doubles()).reshape(t.get_shape())


def make_reference_nir(path, rng):
    import nir
    sizes = [24, 32, 12]
    nodes = {"input": nir.Input(input_type={"input": np.array([sizes[0]])})}
    edges = []
    prev = "input"
    for k in range(1, len(sizes)):
        n_in, n = sizes[k - 1], sizes[k]
        w = (rng.uniform(-1, 1, (n, n_in)) * 3 * np.sqrt(3 / n_in)).astype(np.float32)
        nodes["fc%d" % k] = nir.Affine(weight=w, bias=np.zeros(n, np.float32))
        nodes["lif%d" % k] = nir.LIF(
            tau=np.full(n, 0.02, np.float32), r=np.full(n, 10, np.float32),
            v_leak=np.zeros(n, np.float32), v_threshold=np.ones(n, np.float32),
            v_reset=np.zeros(n, np.float32))
        edges += [(prev, "fc%d" % k), ("fc%d" % k, "lif%d" % k)]
        prev = "lif%d" % k
    nodes["output"] = nir.Output(output_type={"output": np.array([sizes[-1]])})
    edges.append((prev, "output"))
    g = nir.NIRGraph(nodes=nodes, edges=edges)
    nir.write(path, g)
    return g


def run_snn(path, x):
    snn = Physnn.Snn.new_from_file(path)
    snn.set_property("dt", 1e-3)
    out = snn.run_new(Physnn.Device.new("cpu"), tensor(x), x.shape[0],
                      Physnn.SnnRecord.OUTPUT)
    return array(out)


def check_nir(ref_graph, ref_path, base, x):
    if not snnvenv.have("nir"):
        return
    import nir
    g = nir.read(base + ".nir")
    check(set(g.nodes) == set(ref_graph.nodes), "nir.read: same nodes")
    check(sorted(g.edges) == sorted(ref_graph.edges), "nir.read: same edges")
    same = all(np.array_equal(getattr(g.nodes[k], a), getattr(ref_graph.nodes[k], a))
               for k in ref_graph.nodes if k.startswith(("fc", "lif"))
               for a in (("weight", "bias") if k.startswith("fc")
                         else ("tau", "r", "v_leak", "v_threshold", "v_reset")))
    check(same, "nir.read: parameters identical to what nir.write wrote")
    a, b = run_snn(ref_path, x), run_snn(base + ".nir", x)
    check(a.sum() > 50 and np.array_equal(a, b),
          "re-imported export gives identical spikes (%d spikes)" % a.sum())


def loihi_numpy(path, x):
    """Loihi's fixed-point CUBA neuron (REFERENCES.md) from the file alone."""
    import h5py
    with h5py.File(path, "r") as f:
        layers = []
        for i in range(len(f["layer"])):
            L = f["layer/%d" % i]
            n = L["neuron"]
            layers.append(dict(
                w=L["weight"][()].astype(np.int64),
                bias=(L["bias"][()].astype(np.int64) if "bias" in L
                      else np.zeros(int(L["outFeatures"][()]), np.int64))
                << int(f["physnn/%d/biasExp" % i][()]),
                du=int(n["iDecay"][()]), dv=int(n["vDecay"][()]),
                vth=int(n["vThMant"][()])))

    def decay(v, d):
        p = v * (4096 - d)
        return np.sign(p) * (np.abs(p) >> 12)

    u = [np.zeros(L["w"].shape[0], np.int64) for L in layers]
    v = [np.zeros(L["w"].shape[0], np.int64) for L in layers]
    out = np.zeros((x.shape[0], layers[-1]["w"].shape[0]), np.uint8)
    for t in range(x.shape[0]):
        s = (x[t] != 0).astype(np.int64)
        for i, L in enumerate(layers):
            cu = decay(u[i], L["du"]) + ((L["w"] @ s) << 6)
            cu = ((cu + (1 << 23)) & ((1 << 24) - 1)) - (1 << 23)
            u[i] = cu
            cv = decay(v[i], L["dv"]) + cu + L["bias"]
            cv = np.clip(cv, -(1 << 23) + 1, (1 << 23) - 1)
            s = (cv > (L["vth"] << 6)).astype(np.int64)
            v[i] = np.where(s == 1, 0, cv)
        out[t] = s
    return out


def check_netx(base, x):
    try:
        import h5py
    except ImportError as e:
        snnvenv.banner("h5py missing (%s): NetX checks SKIPPED" % e)
        return
    path = base + ".netx.h5"
    with h5py.File(path, "r") as f:
        check(sorted(f["layer"].keys()) == ["0", "1"], "netx: /layer/0 and /layer/1")
        for i, (n_in, n_out) in enumerate([(24, 32), (32, 12)]):
            L = f["layer/%d" % i]
            t = L["type"]
            check(t.dtype.kind == "S" and t[()] == b"dense",
                  "netx layer %d: type is fixed-length ASCII 'dense'" % i)
            check(L["shape"].dtype == np.int64 and list(L["shape"][()]) == [n_out],
                  "netx layer %d: shape int64 [%d]" % (i, n_out))
            check(int(L["inFeatures"][()]) == n_in and int(L["outFeatures"][()]) == n_out,
                  "netx layer %d: in/outFeatures" % i)
            w = L["weight"][()]
            check(w.dtype == np.float32 and w.shape == (n_out, n_in),
                  "netx layer %d: weight float32 (out, in)" % i)
            check(np.all(w == np.round(w)) and np.all(w % 2 == 0)
                  and w.min() >= -256 and w.max() <= 254 and np.abs(w).max() >= 250,
                  "netx layer %d: weights on Loihi's 8-bit grid, full range" % i)
            n = L["neuron"]
            check(n["type"][()] == b"CUBA" and all(k in n for k in
                  ("iDecay", "vDecay", "vThMant", "refDelay", "gradedSpike")),
                  "netx layer %d: CUBA neuron fields" % i)
            check(0 <= n["vDecay"][()] <= 4096 and n["iDecay"][()] == 4096,
                  "netx layer %d: 12-bit decays (LIF: current decays in a step)" % i)
        check("Ts" in f["simulation"] and "tSample" in f["simulation"], "netx: /simulation")
    ours = loihi_numpy(path, x)
    graph = Physnn.NirGraph.load(base + ".nir")
    net = Physnn.NeuroNet.new(graph, 1e-3)
    physnn_loihi = array(net.run_loihi(tensor(x)))
    check(np.array_equal(ours, physnn_loihi),
          "netx: NumPy Loihi simulation of the file == physnn's (%d spikes)" % ours.sum())
    flt = array(net.run(None, tensor(x)))
    both = (flt * ours).sum()
    dice = 2 * both / max(flt.sum() + ours.sum(), 1)
    print("     Loihi fixed point vs float: %d vs %d spikes, agreement %.3f"
          % (ours.sum(), flt.sum(), dice))
    check(dice >= 0.6, "netx: agreement with the float run >= 0.6 (two chaotic layers)")


def check_json(base, ref_graph, x):
    try:
        import jsonschema
    except ImportError as e:
        snnvenv.banner("jsonschema missing (%s): schema check SKIPPED" % e)
        jsonschema = None
    with open(base + ".spikes.json") as f:
        doc = json.load(f)
    with open(os.path.join(SRC, "docs", "spike-json.schema.json")) as f:
        schema = json.load(f)
    if jsonschema:
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
            jsonschema.Draft202012Validator(schema).validate(doc)
            check(True, "spike-json: valid against docs/spike-json.schema.json")
        except jsonschema.ValidationError as e:
            check(False, "spike-json: schema: %s" % e.message)
        bad = dict(doc, version=2)
        check(not jsonschema.Draft202012Validator(schema).is_valid(bad),
              "spike-json: the schema rejects version 2")
    w = np.array(doc["projections"][0]["weights"], np.float32)
    check(np.array_equal(w, ref_graph.nodes["fc1"].weight), "spike-json: weights of fc1")
    inp = doc["spikes"][0]
    dense = np.zeros_like(x)
    for j, steps in enumerate(inp["neurons"]):
        dense[steps, j] = 1
    check(inp["population"] == "input" and np.array_equal(dense, x),
          "spike-json: recorded input spikes")


def check_akida(base, ref_graph):
    import onnx
    from onnx import numpy_helper
    m = onnx.load(base + ".akida.onnx")
    onnx.checker.check_model(m, full_check=True)
    check(True, "akida: onnx.checker (full_check) accepts the model")
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    q = [v for k, v in inits.items() if k.endswith("_weight_q4")]
    check(len(q) == 2 and all(v.dtype == np.int8 and v.min() >= -7 and v.max() <= 7
                              for v in q), "akida: 4-bit weights (int8 storage, -7..7)")
    if not snnvenv.have("onnxruntime"):
        return
    import onnxruntime as ort
    sess = ort.InferenceSession(base + ".akida.onnx", providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(4)
    r = rng.uniform(0, 1, (1, 24)).astype(np.float32)
    got = sess.run(None, {"rates": r})[0]
    h = np.maximum(r @ ref_graph.nodes["fc1"].weight.T, 0)
    want = np.maximum(h @ ref_graph.nodes["fc2"].weight.T, 0)
    err = np.abs(got - want).max() / np.abs(want).max()
    print("     Akida ONNX vs float rates: max relative error %.3f" % err)
    check(err < 0.25, "akida: ONNX Runtime output within 4-bit quantization error")


def main():
    rng = np.random.default_rng(2)
    with tempfile.TemporaryDirectory() as d:
        ref_path = os.path.join(d, "ref.nir")
        if not snnvenv.have("nir"):
            snnvenv.banner("the nir package is not installable: NIR cross-checks SKIPPED")
            sys.exit(77)
        ref = make_reference_nir(ref_path, rng)
        base = os.path.join(d, "net")
        rec = os.path.join(d, "in.aer")
        report = os.path.join(d, "report.json")
        r = subprocess.run([PHYSNN, "export", ref_path, "-o", base, "--steps", "300",
                            "--rate", "0.2", "--record", rec, "--report", report,
                            "--format", "nir,lava-netx,spike-json,akida"],
                           capture_output=True, text=True)
        print(r.stdout)
        check(r.returncode == 0, "physnn export ran (%s)" % r.stderr.strip())
        if r.returncode != 0:
            sys.exit(1)
        x = array(Physnn.SpikeRecord.load(rec).to_dense())
        check(x.shape == (300, 24) and 0.15 < x.mean() < 0.25, "recorded input read back")
        check_nir(ref, ref_path, base, x)
        check_netx(base, x)
        check_json(base, ref, x)
        check_akida(base, ref)
        with open(report) as f:
            rep = json.load(f)
        check(rep["energy"]["estimate"] is True and
              all(t["source"] for t in rep["energy"]["targets"]),
              "report: energy marked as estimates, every target with a source")
        # A layer the platform cannot take: the message names layer, limit, value
        wide = os.path.join(d, "wide.nir")
        import nir
        nir.write(wide, nir.NIRGraph(nodes={
            "input": nir.Input(input_type={"input": np.array([5000])}),
            "fc": nir.Affine(weight=np.zeros((3, 5000), np.float32), bias=np.zeros(3, np.float32)),
            "lif": nir.LIF(tau=np.full(3, .02, np.float32), r=np.ones(3, np.float32),
                           v_leak=np.zeros(3, np.float32), v_threshold=np.ones(3, np.float32)),
            "output": nir.Output(output_type={"output": np.array([3])})},
            edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")]))
        r = subprocess.run([PHYSNN, "export", wide, "-o", os.path.join(d, "w"),
                            "--platform", "loihi"], capture_output=True, text=True)
        check(r.returncode == 1 and '"lif"' in r.stderr and "5000" in r.stderr
              and "4096" in r.stderr, "unfit layer: %s" % r.stderr.strip())
        check(not any(n.startswith("w.") for n in os.listdir(d)), "unfit layer: no file written")
    if failures:
        print("%d FAILED: %s" % (len(failures), "; ".join(failures)))
        sys.exit(1)


if __name__ == "__main__":
    main()
