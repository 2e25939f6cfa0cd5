#!/usr/bin/python3
"""Random physics networks exported by PyTorch, evaluated by physnn, checked
against PyTorch: values and first, second and mixed derivatives (forward-mode
jets in physnn) against torch.autograd in float64 with the same weights.

Bounds (normwise relative: max|ours - ref| / max|ref|):
  reference C path: values 1e-5, derivatives 1e-4
  OpenCL (float32): values 1e-4, derivatives 1e-4 (relative to the largest
                    derivative of the same order)

usage: model_vs_torch.py [--quick] [--seed N] [--device SPEC ...]
"""
import argparse
import os
import sys
import tempfile

import numpy as np
import torch

import gi

gi.require_version("Physnn", "1.0")
from gi.repository import GLib, Physnn  # noqa: E402

torch.set_num_threads(2)

ACTS = {
    "tanh": torch.tanh,
    "sin": torch.sin,
    "sigmoid": torch.sigmoid,
    "softplus": torch.nn.functional.softplus,
    "gelu": torch.nn.functional.gelu,      # exports as Erf
    "relu": torch.relu,
}
COORDS = ["x", "y", "z", "t"]


class MLP(torch.nn.Module):
    """An MLP on d coordinates (one [N,d] input or d inputs of [N,1]) with
    optional skip connections and k output columns (one output or k)."""

    def __init__(self, d, width, depth, act, k, skip, split_inputs, split_outputs):
        super().__init__()
        self.split_inputs = split_inputs
        self.split_outputs = split_outputs
        self.act = ACTS[act]
        self.skip = skip
        self.inp = torch.nn.Linear(d, width)
        self.hidden = torch.nn.ModuleList(
            [torch.nn.Linear(width, width) for _ in range(depth - 1)])
        self.out = torch.nn.Linear(width, k)

    def forward(self, *xs):
        x = torch.cat(xs, dim=1) if self.split_inputs else xs[0]
        h = self.act(self.inp(x))
        for layer in self.hidden:
            z = self.act(layer(h))
            h = h + z if self.skip else z
        y = self.out(h)
        if self.split_outputs:
            return tuple(y[:, i:i + 1] for i in range(y.shape[1]))
        return y


class DeepONet(torch.nn.Module):
    def __init__(self, m, d, width, p, act):
        super().__init__()
        self.act = ACTS[act]
        self.b1 = torch.nn.Linear(m, width)
        self.b2 = torch.nn.Linear(width, p)
        self.t1 = torch.nn.Linear(d, width)
        self.t2 = torch.nn.Linear(width, width)
        self.t3 = torch.nn.Linear(width, p)
        self.bias = torch.nn.Parameter(torch.tensor([0.3]))

    def forward(self, branch, coords):
        b = self.b2(self.act(self.b1(branch)))
        t = self.t3(self.act(self.t2(self.act(self.t1(coords)))))
        return torch.sum(b * t, dim=1, keepdim=True) + self.bias


class OpZoo(torch.nn.Module):
    """Per-point network through the rest of the op set: Cos, Exp, Log,
    Sqrt, Abs, Neg, LeakyRelu, Pow, Div, Sub, MatMul, Concat, Slice, Split,
    Transpose, ReduceMean/Sum."""

    def __init__(self, d, width):
        super().__init__()
        self.a = torch.nn.Linear(d, width)
        self.w = torch.nn.Parameter(torch.randn(7 * width, width) * 0.2)
        self.half = width // 2
        self.b = torch.nn.Linear(self.half, 2)

    def forward(self, x):
        h = self.a(x)
        parts = [torch.cos(h), torch.exp(-h * h), torch.log(1.0 + h * h),
                 torch.sqrt(1.0 + h * h), torch.abs(h) - 0.5 * h,
                 torch.nn.functional.leaky_relu(h, 0.1),
                 h ** 3 / (1.0 + h ** 2)]
        z = torch.cat(parts, dim=1)
        z = torch.matmul(z, self.w)
        z1, z2 = torch.split(z, [self.half, z.shape[1] - self.half], dim=1)
        y = self.b(torch.tanh(z1 - z2[:, :self.half]))
        m = torch.mean(z, dim=1, keepdim=True)
        t = torch.transpose(torch.stack([y[:, 0], y[:, 1]], dim=0), 0, 1)
        return t[:, 0:1] * m - torch.sum(t, dim=1, keepdim=True)


class TinyCNN(torch.nn.Module):
    """Coordinates lifted to a 1-D signal per point, then Conv1d, pooling and
    a dense head: Conv, MaxPool, AveragePool, Reshape/Flatten."""

    def __init__(self, d):
        super().__init__()
        self.lift = torch.nn.Linear(d, 32)
        self.conv = torch.nn.Conv1d(1, 4, 5, padding=2)
        self.conv2 = torch.nn.Conv1d(4, 4, 3, stride=1, padding=1, groups=2)
        self.head = torch.nn.Linear(4 * 8, 1)

    def forward(self, x):
        s = torch.tanh(self.lift(x)).reshape(-1, 1, 32)
        s = torch.tanh(self.conv(s))
        s = torch.nn.functional.max_pool1d(s, 2)
        s = torch.sin(self.conv2(s))
        s = torch.nn.functional.avg_pool1d(s, 2)
        return self.head(torch.flatten(s, 1))


def export(model, args, in_names, out_names, path):
    dyn = {n: {0: "N"} for n in in_names if n != "branch"}
    dyn.update({n: {0: "N"} for n in out_names})
    torch.onnx.export(model, args, path, input_names=in_names,
                      output_names=out_names, dynamic_axes=dyn, opset_version=13)


def to_physnn(a):
    a = np.ascontiguousarray(a, dtype=np.float32)
    return Physnn.Tensor.new_from_bytes(Physnn.DType.FLOAT32, list(a.shape),
                                        GLib.Bytes.new(a.tobytes()))


def from_physnn(t):
    shape = list(t.get_shape())
    return np.frombuffer(t.get_bytes().get_data(), dtype=np.float32).reshape(shape)


def torch_reference(model, inputs, coord_of, comps, derivs):
    """Values and derivatives in float64 by autograd. coord_of[name] =
    (input index, column); comps[name] = (output index, column)."""
    m64 = model.double()
    ts = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in inputs]
    outs = m64(*ts)
    if isinstance(outs, torch.Tensor):
        outs = (outs,)
    values = [o.detach().numpy() for o in outs]
    results = []
    for name in derivs:
        comp, suffix = name.split("_", 1)
        oi, col = comps[comp]
        u = outs[oi][:, col]
        # suffix: 1 or 2 coordinate letters (single-letter names here)
        c1 = coord_of[suffix[0]]
        g1 = torch.autograd.grad(u.sum(), ts[c1[0]], create_graph=True)[0][:, c1[1]]
        if len(suffix) == 1:
            results.append(g1.detach().numpy())
            continue
        c2 = coord_of[suffix[1]]
        g2 = torch.autograd.grad(g1.sum(), ts[c2[0]], retain_graph=True)[0][:, c2[1]]
        results.append(g2.detach().numpy())
    return values, results


def rel(ours, ref, scale=None):
    ref = np.asarray(ref, dtype=np.float64).ravel()
    ours = np.asarray(ours, dtype=np.float64).ravel()
    s = scale if scale is not None else np.max(np.abs(ref))
    return float(np.max(np.abs(ours - ref)) / max(s, 1e-30))


def configs(rng, quick):
    cases = []
    n = 8 if quick else 30
    for i in range(n):
        d = int(rng.integers(1, 5))
        cases.append(dict(
            kind="mlp", d=d,
            width=int(rng.choice([1, 3, 8, 16, 32, 64, 128])),
            depth=int(rng.integers(1, 7)),
            act=list(ACTS)[i % len(ACTS)],
            k=int(rng.integers(1, 4)),
            skip=bool(rng.integers(0, 2)),
            split_inputs=bool(d > 1 and rng.integers(0, 2)),
            split_outputs=bool(rng.integers(0, 2))))
    # plain dense chains: what the tiled GPU kernel runs
    for act, width, depth, k in (("tanh", 64, 3, 1), ("sin", 32, 2, 2),
                                 ("softplus", 128, 2, 1), ("sigmoid", 16, 4, 3)):
        cases.append(dict(kind="mlp", d=2, width=width, depth=depth, act=act,
                          k=k, skip=False, split_inputs=False,
                          split_outputs=False, plain=True))
    for act in (["tanh"] if quick else ["tanh", "sin", "gelu"]):
        cases.append(dict(kind="deeponet", m=16, d=2, width=32, p=16, act=act))
    cases.append(dict(kind="deeponet-sensors", m=16, d=2, width=32, p=16,
                      act="tanh"))
    cases.append(dict(kind="zoo", d=2, width=6))
    cases.append(dict(kind="cnn", d=2))
    return cases


def run_sensor_case(cfg, devices, rng, tmp, verbose):
    """Derivatives of every point's output by the 16 branch inputs (the
    sensors a DeepONet reads): 16 first-order directions."""
    npts = 64
    model = DeepONet(cfg["m"], cfg["d"], cfg["width"], cfg["p"], cfg["act"]).eval()
    br = rng.standard_normal((1, cfg["m"])).astype(np.float32)
    co = rng.uniform(-1, 1, (npts, 2)).astype(np.float32)
    path = os.path.join(tmp, "don.onnx")
    export(model, (torch.tensor(br), torch.tensor(co)), ["branch", "coords"],
           ["u"], path)
    m64 = model.double()
    b = torch.tensor(br, dtype=torch.float64, requires_grad=True)
    u = m64(b, torch.tensor(co, dtype=torch.float64))
    ref = np.stack([torch.autograd.grad(u[i, 0], b, retain_graph=True)[0]
                    .numpy()[0] for i in range(npts)])
    names = [f"s{i}" for i in range(cfg["m"])]
    worst = {}
    for spec in devices:
        if spec.endswith("/tc"):
            continue    # not a plain chain
        dev = Physnn.Device.new(spec.split("/")[0])
        pm = Physnn.Model.new_from_file(path)
        pm.set_fused(not spec.endswith("/nofuse"))
        os.environ["PHYSNN_MLP"] = "1" if spec.endswith("/mlp") else "0"
        pm.set_coordinates("branch", ",".join(names))
        pm.set_derivatives(",".join(f"u_{n}" for n in names))
        outs = pm.run(dev, [to_physnn(br), to_physnn(co)])
        ours = np.stack([from_physnn(t) for t in outs[1:]], axis=1)
        e = rel(ours, ref)
        worst[spec] = (0.0, e, e <= 1e-4)
        if e > 1e-4:
            print(f"FAIL {spec} sensor derivatives: {e:.2e}")
        if verbose:
            print(f"  {spec:17s} sensor derivatives {e:.1e} "
                  f"[{pm.get_execution() or 'reference'}]")
    return worst


def run_case(cfg, devices, rng, tmp, verbose):
    if cfg["kind"] == "deeponet-sensors":
        return run_sensor_case(cfg, devices, rng, tmp, verbose)
    npts = 257
    if cfg["kind"] == "deeponet":
        model = DeepONet(cfg["m"], cfg["d"], cfg["width"], cfg["p"], cfg["act"])
        in_names, out_names = ["branch", "coords"], ["u"]
        inputs = [rng.standard_normal((1, cfg["m"])).astype(np.float32),
                  rng.uniform(-1, 1, (npts, 2)).astype(np.float32)]
        coord_names = "x,t"
        coord_of = {"x": (1, 0), "t": (1, 1)}
        comps = {"u": (0, 0)}
        set_coords = ("coords", coord_names)
        derivs = ["u_x", "u_t", "u_xx", "u_xt", "u_tt"]
    elif cfg["kind"] in ("zoo", "cnn"):
        model = (OpZoo(cfg["d"], cfg["width"]) if cfg["kind"] == "zoo"
                 else TinyCNN(cfg["d"]))
        in_names, out_names = ["coords"], ["u"]
        inputs = [rng.uniform(-1, 1, (npts, 2)).astype(np.float32)]
        coord_of = {"x": (0, 0), "t": (0, 1)}
        comps = {"u": (0, 0)}
        set_coords = ("coords", "x,t")
        derivs = ["u_x", "u_t", "u_xx", "u_xt", "u_tt"]
    else:
        d, k = cfg["d"], cfg["k"]
        model = MLP(d, cfg["width"], cfg["depth"], cfg["act"], k, cfg["skip"],
                    cfg["split_inputs"], cfg["split_outputs"])
        names = COORDS[:d] if d < 4 else COORDS
        if cfg["split_inputs"]:
            in_names = list(names)
            inputs = [rng.uniform(-1, 1, (npts, 1)).astype(np.float32) for _ in names]
            coord_of = {c: (i, 0) for i, c in enumerate(names)}
            set_coords = (None, ",".join(names))
        else:
            in_names = ["coords"]
            inputs = [rng.uniform(-1, 1, (npts, d)).astype(np.float32)]
            coord_of = {c: (0, i) for i, c in enumerate(names)}
            set_coords = ("coords", ",".join(names))
        comp_names = ["u", "v", "w"][:k]
        if cfg["split_outputs"]:
            out_names = comp_names
            comps = {c: (i, 0) for i, c in enumerate(comp_names)}
        else:
            out_names = ["out"]
            comps = {c: (0, i) for i, c in enumerate(comp_names)}
        derivs = []
        for c in comp_names:
            a = names[int(rng.integers(0, len(names)))]
            b = names[int(rng.integers(0, len(names)))]
            derivs += [f"{c}_{a}", f"{c}_{a}{a}", f"{c}_{a}{b}"]
        derivs = list(dict.fromkeys(derivs))
    model.eval()
    path = os.path.join(tmp, "model.onnx")
    export(model, tuple(torch.tensor(a) for a in inputs), in_names, out_names, path)
    ref_vals, ref_ders = torch_reference(model, inputs, coord_of, comps, derivs)

    worst = {}
    for spec in devices:
        if spec.endswith(("/mlp", "/tc")) and not cfg.get("plain"):
            continue    # only plain dense chains reach the tiled kernel
        if spec.endswith("/tc") and cfg["width"] > 64:
            continue    # the emulation's exchange buffer leaves no room
        dev = Physnn.Device.new(spec.split("/")[0])
        pm = Physnn.Model.new_from_file(path)
        pm.set_fused(not spec.endswith("/nofuse"))
        os.environ["PHYSNN_MLP"] = "1" if spec.endswith(("/mlp", "/tc")) else "0"
        # /tc: the tensor-core kernel with mma emulated in OpenCL C (the
        # real one needs an NVIDIA GPU; fused-mlp.c says what this checks)
        os.environ["PHYSNN_MLP_TC"] = "emulate" if spec.endswith("/tc") else "0"
        pm.set_coordinates(*set_coords)
        if cfg["kind"] == "mlp":
            pm.set_output_names(",".join(comps))
        pm.set_derivatives(",".join(derivs))
        outs = pm.run(dev, [to_physnn(a) for a in inputs])
        vals = [from_physnn(t) for t in outs[:len(ref_vals)]]
        ders = [from_physnn(t) for t in outs[len(ref_vals):]]
        ref_path = dev.get_kind() == Physnn.DeviceKind.CPU
        vtol, dtol = (1e-5, 1e-4) if ref_path else (1e-4, 1e-4)
        ev = max(rel(v, r) for v, r in zip(vals, ref_vals))
        # Derivatives: relative to the largest derivative of the same order
        # and component, so near-zero mixed terms are judged fairly.
        scale = {}
        for name, r in zip(derivs, ref_ders):
            key = (name.split("_")[0], len(name.split("_", 1)[1]))
            scale[key] = max(scale.get(key, 0.0), float(np.max(np.abs(r))))
        ed = 0.0
        for name, o, r in zip(derivs, ders, ref_ders):
            key = (name.split("_")[0], len(name.split("_", 1)[1]))
            e = rel(o, r, scale[key])
            ed = max(ed, e)
            if e > dtol:
                print(f"FAIL {spec} {cfg} {name}: relative error {e:.2e} > {dtol}")
        if ev > vtol:
            print(f"FAIL {spec} {cfg}: values relative error {ev:.2e} > {vtol}")
        tiled_ok = True
        want = {"mlp": "fused (tiled MLP)",
                "tc": "fused (tiled MLP, tensor cores 3xTF32, emulated)"}
        kind = spec.rsplit("/", 1)[-1]
        if kind in want and pm.get_execution() != want[kind]:
            # a plain dense chain must reach the kernel asked for
            print(f"FAIL {spec} {cfg}: ran as {pm.get_execution()!r}, "
                  f"not {want[kind]!r}")
            tiled_ok = False
        worst[spec] = (ev, ed, ev <= vtol and ed <= dtol and tiled_ok)
        if verbose:
            print(f"  {spec:17s} values {ev:.1e}  derivatives {ed:.1e}  "
                  f"[{pm.get_execution() or 'reference'}] "
                  f"({len(derivs)}: {','.join(derivs)})")
    return worst


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seed", type=int, default=20261125)
    ap.add_argument("--device", action="append")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    # OpenCL devices as one fused kernel where the graph allows it, node by
    # node (/nofuse), as the tiled GPU kernel forced on any OpenCL device
    # (/mlp) and as the tensor-core variant of it with mma emulated (/tc)
    devices = args.device or [s for d in Physnn.Device.enumerate() for s in
                              ([d.get_spec()] if d.get_spec() == "cpu" else
                               [d.get_spec(), d.get_spec() + "/nofuse",
                                d.get_spec() + "/mlp", d.get_spec() + "/tc"])]
    print("devices:", ", ".join(devices))
    ok = True
    summary = {d: [0.0, 0.0] for d in devices}
    with tempfile.TemporaryDirectory() as tmp:
        for i, cfg in enumerate(configs(rng, args.quick)):
            if args.verbose:
                print(f"case {i}: {cfg}")
            res = run_case(cfg, devices, rng, tmp, args.verbose)
            for d, (ev, ed, good) in res.items():
                summary[d][0] = max(summary[d][0], ev)
                summary[d][1] = max(summary[d][1], ed)
                ok &= good
    for d, (ev, ed) in summary.items():
        print(f"{d}: worst values error {ev:.2e}, worst derivative error {ed:.2e}")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
