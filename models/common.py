"""Shared helpers of the physnn model scripts: export to ONNX with physnn
metadata, atomically, and evaluation through physnn itself.

Run the scripts with Debian's interpreter inside the build environment:
    meson devenv -C build /usr/bin/python3 ../models/train_heat_pinn.py
"""
import os
import tempfile
import time

# libgomp's default spin-waiting makes torch's 2 threads up to 8x slower than
# 1 when anything else runs on this 2-core machine (measured); passive
# waiting costs nothing when it is idle. Read once, when torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

# Export and evaluation need onnx and physnn (GI); training alone needs
# neither, so the training loop also runs on a GPU machine that has only
# PyTorch (train_burgers_pinn.py --save-state).
try:
    import onnx  # noqa: E402
    import onnx_numpy  # noqa: E402
except ImportError:
    onnx = onnx_numpy = None
try:
    import gi

    gi.require_version("Physnn", "1.0")
    from gi.repository import GLib, Physnn  # noqa: E402
except (ImportError, ValueError):
    GLib = Physnn = None

HERE = os.path.dirname(os.path.abspath(__file__))


def setup_torch(seed):
    """Deterministic seeds; 2 threads unless PHYSNN_TORCH_THREADS says."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    threads = int(os.environ.get("PHYSNN_TORCH_THREADS", "2"))
    torch.set_num_threads(threads)
    print(f"torch {torch.__version__}, {threads} thread(s), seed {seed}",
          flush=True)


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
        # refuses ops outside the physnn model op set before anything ships
        print(f"{os.path.basename(path)} ops: {onnx_numpy.op_summary(m)}",
              flush=True)
        onnx.save(m, tmp)
        os.chmod(tmp, 0o644)   # mkstemp makes it private; a shipped file is not
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


_models = {}
_devices = {}


def physnn_eval(path, inputs, device="cpu", derivatives=None):
    """Runs an ONNX model through physnn; returns the list of outputs (the
    model outputs, then the requested derivatives). Models and devices are
    cached: loading and OpenCL program building happen once per process."""
    key = (path, os.stat(path).st_mtime_ns, derivatives or "")
    if key not in _models:
        m = Physnn.Model.new_from_file(path)
        if derivatives:
            m.set_derivatives(derivatives)
        _models[key] = m
    if device not in _devices:
        _devices[device] = Physnn.Device.new(device)
    outs = _models[key].run(_devices[device],
                            [physnn_tensor(a) for a in inputs])
    return [numpy_of(t) for t in outs]


def torch_derivatives(model, inputs, coord_index, names):
    """u and the requested derivatives (names like "u_t", "u_xx" over the
    columns x, t of inputs[coord_index]) by torch.autograd, float64."""
    model = model.double()
    args = [torch.tensor(np.asarray(a, np.float64)) for a in inputs]
    pts = args[coord_index].requires_grad_(True)
    u = model(*args)
    col = {"x": 0, "t": 1}
    out = [u.detach().numpy()]
    for name in names:
        d = u
        for c in name.split("_", 1)[1]:
            d = torch.autograd.grad(d.sum(), pts, create_graph=True)[0][:, col[c]:col[c] + 1]
        out.append(d.detach().numpy())
    model.float()
    return out


def verify_export(model, path, inputs, coord_index, derivatives="u_t,u_x,u_xx"):
    """Runs the exported file through physnn on "cpu" and "opencl" and
    compares the values and derivatives with the torch model (float64
    autograd); prints and returns the largest absolute differences."""
    names = derivatives.split(",")
    ref = torch_derivatives(model, inputs, coord_index, names)
    worst = {}
    # the file re-run by a NumPy interpreter that shares no code with torch
    graph = onnx.load(path)
    feeds = {i.name: a for i, a in zip(graph.graph.input, inputs)}
    u_np = onnx_numpy.run(graph, feeds)[0]
    worst["numpy"] = [float(np.max(np.abs(u_np - ref[0])))]
    print(f"NumPy ONNX interpreter vs torch (float64), max |diff| of u: "
          f"{worst['numpy'][0]:.2e} (max |u| {np.max(np.abs(ref[0])):.2e})",
          flush=True)
    for device in ("cpu", "opencl"):
        try:
            got = physnn_eval(path, inputs, device, derivatives)
        except GLib.Error as e:
            print(f"physnn {device}: not available ({e.message})", flush=True)
            continue
        diffs = [float(np.max(np.abs(g.reshape(r.shape) - r)))
                 for g, r in zip(got, ref)]
        scale = [float(np.max(np.abs(r))) for r in ref]
        print(f"physnn {device} vs torch, max |diff| (max |value|): " +
              ", ".join(f"{n} {d:.2e} ({s:.2e})" for n, d, s in
                        zip(["u"] + names, diffs, scale)), flush=True)
        worst[device] = diffs
    return worst


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
    """Wall and CPU seconds of a block; CPU time is the fairer figure when
    other jobs share the machine."""
    def __enter__(self):
        self.t0 = time.time()
        self.c0 = time.process_time()
        return self

    def __exit__(self, *a):
        self.seconds = time.time() - self.t0
        self.cpu_seconds = time.process_time() - self.c0

    def elapsed(self):
        return time.time() - self.t0


def mlp(widths, act=torch.nn.Tanh):
    layers = []
    for i in range(len(widths) - 1):
        layers.append(torch.nn.Linear(widths[i], widths[i + 1]))
        if i < len(widths) - 2:
            layers.append(act())
    return torch.nn.Sequential(*layers)


def device_name(spec):
    """A human name of the physnn device a spec resolves to."""
    if spec not in _devices:
        _devices[spec] = Physnn.Device.new(spec)
    d = _devices[spec]
    return f"{d.get_kind().value_nick}: {d.get_name()}"
