#!/usr/bin/python3
"""PDE residuals and attributions of physnn (Physnn.Pde, Physnn.Explainer)
against PyTorch, on the shipped models and on random PyTorch-exported ones.

References, written here from PyTorch alone:
  - residuals: the PDE text is evaluated by Python (after '^' -> '**') on
    torch tensors whose derivatives come from torch.autograd.grad in
    float64; shipped models run through a small torch interpreter of their
    ONNX graph (weights as stored, float32 values promoted to float64);
  - integrated gradients: Captum's IntegratedGradients (PyPI, in the
    build's venv; skipped LOUDLY when it cannot be installed), and a plain
    implementation here with nodes from numpy's Gauss-Legendre (leggauss)
    or the Riemann rules as Captum defines them, gradients by autograd;
    saliency |grad|; SmoothGrad with sigma = 0 equals the gradient, and its
    mean over many noisy copies agrees with torch's Monte Carlo mean within
    5 standard errors.

Bounds (normwise relative, max|ours - ref| / max|ref|):
  residuals 1e-4 of the residual on the reference C path; on OpenCL
  (float32) 1e-4 of the PDE's largest term (a trained model's residual is a
  cancellation of terms ~1e3 times larger, below float32's resolution), the
  residual-relative figure printed beside it;
  attributions 1e-4; completeness delta with 50 Gauss-Legendre steps
  <= 1e-3 |F(x) - F(baseline)| at every point.

usage: residual_vs_torch.py [--quick] [--seed N] [--device SPEC ...]
"""
import argparse
import math
import os
import re
import sys
import tempfile

import numpy as np
import onnx
from onnx import numpy_helper
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import snnvenv  # noqa: E402

if __name__ == "__main__":
    snnvenv.reexec(["captum==0.7.0"])

import gi  # noqa: E402

gi.require_version("Physnn", "1.0")
from gi.repository import GLib, Physnn  # noqa: E402

torch.set_num_threads(2)
SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

failures = []


def check(name, err, bound, extra=""):
    ok = err <= bound
    print(f"{'ok  ' if ok else 'FAIL'} {name}: {err:.2e} (bound {bound:.0e}){extra}",
          flush=True)
    if not ok:
        failures.append(name)


def T(a):
    a = np.ascontiguousarray(a, np.float32)
    return Physnn.Tensor.new_from_bytes(Physnn.DType.FLOAT32, list(a.shape),
                                        GLib.Bytes.new(a.tobytes()))


def npy(t):
    return np.frombuffer(t.get_bytes().get_data(), np.float32).reshape(
        list(t.get_shape())).astype(np.float64)


def rel(a, b, scale=None):
    s = np.max(np.abs(b)) if scale is None else scale
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / max(s, 1e-300))


# ---------------------------------------------------------------------------
# A torch interpreter of the ONNX graphs the shipped models use.

def torch_onnx(path):
    m = onnx.load(path)
    init = {i.name: torch.tensor(numpy_helper.to_array(i).astype(np.float64)
                                 if numpy_helper.to_array(i).dtype.kind == "f"
                                 else numpy_helper.to_array(i))
            for i in m.graph.initializer}

    def attrs(n):
        return {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}

    def run(*feeds):
        env = dict(init)
        for inp, v in zip([i for i in m.graph.input if i.name not in init], feeds):
            env[inp.name] = v
        un = {"Tanh": torch.tanh, "Sin": torch.sin, "Cos": torch.cos,
              "Exp": torch.exp, "Neg": torch.neg, "Sigmoid": torch.sigmoid,
              "Identity": lambda v: v, "Log": torch.log,
              "Softplus": torch.nn.functional.softplus, "Relu": torch.relu,
              "Sqrt": torch.sqrt, "Abs": torch.abs}
        bi = {"Add": torch.add, "Sub": torch.sub, "Mul": torch.mul,
              "Div": torch.div, "MatMul": torch.matmul, "Pow": torch.pow}
        for n in m.graph.node:
            a = attrs(n)
            x = [env[i] if i else None for i in n.input]
            op = n.op_type
            if op in un:
                y = un[op](x[0])
            elif op in bi:
                y = bi[op](x[0], x[1])
            elif op == "Constant":
                v = numpy_helper.to_array(a["value"])
                y = torch.tensor(v.astype(np.float64) if v.dtype.kind == "f" else v)
            elif op == "Gemm":
                A = x[0].T if a.get("transA", 0) else x[0]
                B = x[1].T if a.get("transB", 0) else x[1]
                y = a.get("alpha", 1.0) * A @ B
                if len(x) > 2 and x[2] is not None:
                    y = y + a.get("beta", 1.0) * x[2]
            elif op == "Slice":
                starts, ends = x[1].tolist(), x[2].tolist()
                axes = x[3].tolist() if len(x) > 3 and x[3] is not None else list(range(len(starts)))
                steps = x[4].tolist() if len(x) > 4 and x[4] is not None else [1] * len(starts)
                idx = [slice(None)] * x[0].dim()
                for s, e, ax, st in zip(starts, ends, axes, steps):
                    dim = x[0].shape[ax]
                    e = min(e, dim) if e >= 0 else e + dim
                    s = s if s >= 0 else s + dim
                    idx[ax] = slice(s, e, st)
                y = x[0][tuple(idx)]
            elif op == "Concat":
                y = torch.cat(x, dim=a["axis"])
            elif op == "Reshape":
                y = x[0].reshape([int(v) for v in x[1].tolist()])
            elif op in ("ReduceSum", "ReduceMean"):
                axes = (x[1].tolist() if len(x) > 1 and x[1] is not None
                        else a.get("axes"))
                keep = bool(a.get("keepdims", 1))
                fn = torch.sum if op == "ReduceSum" else torch.mean
                y = fn(x[0], dim=tuple(axes), keepdim=keep) if axes else (
                    fn(x[0]).reshape([1] * x[0].dim()) if keep else fn(x[0]))
            elif op == "Unsqueeze":
                axes = x[1].tolist() if len(x) > 1 else a["axes"]
                y = x[0]
                for ax in sorted(v if v >= 0 else v + y.dim() + 1 for v in axes):
                    y = y.unsqueeze(ax)
            elif op == "Squeeze":
                axes = x[1].tolist() if len(x) > 1 else a.get("axes")
                y = x[0].squeeze() if not axes else x[0].squeeze(
                    *[v if v >= 0 else v + x[0].dim() for v in axes])
            elif op == "Transpose":
                y = x[0].permute(*a.get("perm", range(x[0].dim() - 1, -1, -1)))
            elif op == "Flatten":
                ax = a.get("axis", 1)
                y = x[0].reshape(int(np.prod(x[0].shape[:ax])), -1)
            else:
                raise ValueError(f"{path}: op {op} not in the test's interpreter")
            env[n.output[0]] = y
        return [env[o.name] for o in m.graph.output]
    meta = {p.key: p.value for p in m.metadata_props}
    return run, meta, [i.name for i in m.graph.input if i.name not in init]


# ---------------------------------------------------------------------------
# The reference residual: the PDE text evaluated by Python on torch tensors.

FUNCS = {"sin": torch.sin, "cos": torch.cos, "tan": torch.tan, "exp": torch.exp,
         "log": torch.log, "sqrt": torch.sqrt, "abs": torch.abs,
         "tanh": torch.tanh, "pi": math.pi}


def torch_residual(pde, params, forward, inputs, coord_input, coords, comps):
    """forward(*inputs) -> list of outputs; coords: names of the columns of
    inputs[coord_input]; comps: name -> (output, column). Returns [E, N]
    residuals and the largest |term| per point."""
    ts = [torch.tensor(a, dtype=torch.float64, requires_grad=(i == coord_input))
          for i, a in enumerate(inputs)]
    outs = forward(*ts)
    env = dict(FUNCS)
    env.update(params)
    for j, c in enumerate(coords):
        env[c] = ts[coord_input][:, j]
    for c, (o, col) in comps.items():
        env[c] = outs[o][:, col]
    for name in set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", pde)):
        if name in env or "_" not in name:
            continue
        comp, suffix = name.rsplit("_", 1) if name.count("_") == 1 else (None, None)
        if comp not in comps:
            continue
        v = env[comp]
        for letter in suffix:
            g = torch.autograd.grad(v.sum(), ts[coord_input], create_graph=True)[0]
            v = g[:, coords.index(letter)]
        env[name] = v
    res, terms = [], []
    for eq in pde.split(";"):
        eq = eq.replace("^", "**")
        if "=" in eq:
            lhs, rhs = eq.split("=")
            eq = f"({lhs}) - ({rhs})"
        r = eval(eq, {"__builtins__": {}}, env)  # the test's own input
        res.append(torch.as_tensor(r).expand(len(inputs[coord_input])).detach().numpy())
    return np.array(res)


def check_residual(name, pde_text, params, model, forward, inputs, coord_input,
                   coords, comps, devices):
    ref = torch_residual(pde_text, params, forward, inputs, coord_input, coords,
                         comps)
    pde = Physnn.Pde.new(pde_text)
    for k, v in params.items():
        pde.set_parameter(k, v)
    for dev in devices:
        r, scale = pde.residual(model, Physnn.Device.new(dev), [T(a) for a in inputs])
        ours = npy(r).reshape(ref.shape)
        e_res = rel(ours, ref)
        e_term = rel(ours, ref, np.max(npy(scale)))
        if dev == "cpu":
            check(f"residual {name} [{dev}]", e_res, 1e-4,
                  f"; of the largest term {e_term:.1e}")
        else:
            check(f"residual {name} [{dev}] of the largest term", e_term, 1e-4,
                  f"; of the residual {e_res:.1e}")


# ---------------------------------------------------------------------------

class MLP(torch.nn.Module):
    def __init__(self, d, width, depth, k):
        super().__init__()
        layers, n = [], d
        for _ in range(depth):
            layers += [torch.nn.Linear(n, width), torch.nn.Tanh()]
            n = width
        layers.append(torch.nn.Linear(n, k))
        self.net = torch.nn.Sequential(*layers)

    def forward(self, coords):
        return self.net(coords)


class DeepONet(torch.nn.Module):
    def __init__(self, m, d, width, p):
        super().__init__()
        self.branch = torch.nn.Sequential(torch.nn.Linear(m, width), torch.nn.Tanh(),
                                          torch.nn.Linear(width, p))
        self.trunk = torch.nn.Sequential(torch.nn.Linear(d, width), torch.nn.Tanh(),
                                         torch.nn.Linear(width, p), torch.nn.Tanh())

    def forward(self, branch, coords):
        return (self.trunk(coords) * self.branch(branch)).sum(1, keepdim=True)


def export(model, args, names, path, coords, outputs):
    dyn = {n: {0: "N"} for n in names if n != "branch"}
    dyn["u"] = {0: "N"}
    torch.onnx.export(model, args, path, input_names=names, output_names=["u"],
                      dynamic_axes=dyn, opset_version=13)
    m = onnx.load(path)
    for k, v in (("physnn.coords", coords), ("physnn.outputs", outputs)):
        p = m.metadata_props.add()
        p.key, p.value = k, v
    onnx.save(m, path)
    return Physnn.Model.new_from_file(path)


def forward_of(torch_model):
    m64 = torch_model.double()
    return lambda *xs: [m64(*xs)]


# ---------------------------------------------------------------------------
# Attributions

def rule_nodes(rule, n):
    if rule == Physnn.IntegrationRule.GAUSS_LEGENDRE:
        x, w = np.polynomial.legendre.leggauss(n)
        return 0.5 * (x + 1), 0.5 * w
    if rule == Physnn.IntegrationRule.RIEMANN_LEFT:
        return np.arange(n) / n, np.full(n, 1 / n)
    if rule == Physnn.IntegrationRule.RIEMANN_RIGHT:
        return np.arange(1, n + 1) / n, np.full(n, 1 / n)
    if rule == Physnn.IntegrationRule.RIEMANN_MIDDLE:
        return (np.arange(n) + 0.5) / n, np.full(n, 1 / n)
    w = np.full(n, 1 / (n - 1))
    w[0] = w[-1] = 0.5 / (n - 1)
    return np.arange(n) / (n - 1), w


def torch_grads(forward, inputs, which, x):
    """Per point p, d u_p / d inputs[which] (rows shared when it has one
    row): [N, m]."""
    ts = [torch.tensor(a, dtype=torch.float64) for a in inputs]
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    ts[which] = xt
    u = forward(*ts)[0][:, 0]
    if xt.shape[0] == u.shape[0]:
        return torch.autograd.grad(u.sum(), xt)[0].numpy(), u.detach().numpy()
    rows = [torch.autograd.grad(u[p], xt, retain_graph=True)[0][0].numpy()
            for p in range(u.shape[0])]
    return np.array(rows), u.detach().numpy()


def torch_ig(forward, inputs, which, baseline, rule, n):
    alpha, w = rule_nodes(rule, n)
    x = inputs[which].astype(np.float64)
    acc = 0
    for a, wk in zip(alpha, w):
        g, _ = torch_grads(forward, inputs, which, baseline + a * (x - baseline))
        acc = acc + wk * g
    diff = (x - baseline) if x.shape[0] == acc.shape[0] else (x - baseline)[0]
    return acc * diff


CAPTUM_RULES = {
    Physnn.IntegrationRule.GAUSS_LEGENDRE: "gausslegendre",
    Physnn.IntegrationRule.RIEMANN_LEFT: "riemann_left",
    Physnn.IntegrationRule.RIEMANN_RIGHT: "riemann_right",
    Physnn.IntegrationRule.RIEMANN_MIDDLE: "riemann_middle",
    Physnn.IntegrationRule.RIEMANN_TRAPEZOID: "riemann_trapezoid",
}


def captum_ig(forward, inputs, which, baseline, rule, n):
    """Captum's IntegratedGradients: one example per point, the attributed
    input repeated per point when it has one row (a DeepONet's sensors)."""
    from captum.attr import IntegratedGradients
    npts = max(a.shape[0] for a in inputs)
    rows = np.broadcast_to(inputs[which], (npts, inputs[which].shape[1]))
    # the other inputs travel as additional arguments, which Captum repeats
    # for every node of the path as it does the attributed input
    others = [torch.tensor(np.broadcast_to(a, (npts, a.shape[1])).copy(),
                           dtype=torch.float64)
              for i, a in enumerate(inputs) if i != which]

    def f(x, *rest):
        args = list(rest)
        args.insert(which, x)
        return forward(*args)[0][:, 0]
    ig = IntegratedGradients(f)
    attr, delta = ig.attribute(
        torch.tensor(rows.copy(), dtype=torch.float64),
        baselines=torch.tensor(np.broadcast_to(baseline, rows.shape).copy(),
                               dtype=torch.float64),
        additional_forward_args=tuple(others) if others else None,
        n_steps=n, method=CAPTUM_RULES[rule], return_convergence_delta=True)
    return attr.detach().numpy(), delta.detach().numpy()


def check_attributions(name, model, forward, inputs, which, devices, rng):
    ex = Physnn.Explainer.new(model, None, None)
    assert ex.get_input_index() == which, (ex.get_input(), which)
    m = inputs[which].shape[1]
    base = rng.uniform(-0.5, 0.5, m)
    for dev in devices:
        d = Physnn.Device.new(dev)
        pin = [T(a) for a in inputs]
        for rule, n in ((Physnn.IntegrationRule.GAUSS_LEGENDRE, 50),
                        (Physnn.IntegrationRule.RIEMANN_LEFT, 30),
                        (Physnn.IntegrationRule.RIEMANN_RIGHT, 30),
                        (Physnn.IntegrationRule.RIEMANN_MIDDLE, 30),
                        (Physnn.IntegrationRule.RIEMANN_TRAPEZOID, 30)):
            bt = Physnn.Tensor.new_from_bytes(Physnn.DType.FLOAT64, [m],
                                              GLib.Bytes.new(base.tobytes()))
            ours, delta = ex.integrated_gradients(d, pin, bt, n, rule)
            ref = torch_ig(forward, inputs, which, np.broadcast_to(base, inputs[which].shape),
                           rule, n)
            check(f"IG {name} {rule.value_nick} n={n} [{dev}]", rel(npy(ours), ref), 1e-4)
            if HAVE_CAPTUM:
                cref, cdelta = captum_ig(forward, inputs, which, base, rule, n)
                if rule == Physnn.IntegrationRule.RIEMANN_TRAPEZOID:
                    # Captum's trapezoid weights are 1/n (halved at the ends)
                    # on n nodes spaced 1/(n-1): they sum to (n-1)/n. physnn
                    # uses the trapezoid rule's 1/(n-1); Captum's numbers
                    # are scaled to it, and its delta recomputed.
                    # delta = sum(attr) - (F(x) - F(b)) with the rescaled sum
                    cdelta = cdelta + cref.sum(1) / (n - 1)
                    cref = cref * n / (n - 1)
                check(f"IG vs Captum {name} {rule.value_nick} n={n} [{dev}]",
                      rel(npy(ours), cref), 1e-4)
                check(f"completeness delta vs Captum {name} {rule.value_nick} [{dev}]",
                      rel(npy(delta), cdelta, np.max(np.abs(cref.sum(1)))), 1e-4)
            if rule == Physnn.IntegrationRule.GAUSS_LEGENDRE:
                _, fx = torch_grads(forward, inputs, which, inputs[which])
                _, fb = torch_grads(forward, inputs, which,
                                    np.broadcast_to(base, inputs[which].shape).copy())
                ratio = np.max(np.abs(npy(delta)) / np.maximum(np.abs(fx - fb), 1e-6))
                check(f"IG {name} completeness |delta|/|F(x)-F(b)| [{dev}]", ratio, 1e-3)
        g, _ = torch_grads(forward, inputs, which, inputs[which])
        check(f"saliency {name} [{dev}]", rel(npy(ex.saliency(d, pin)), np.abs(g)), 1e-4)
        check(f"SmoothGrad sigma=0 {name} [{dev}]",
              rel(npy(ex.smoothgrad(d, pin, 3, 0.0, 1)), g), 1e-4)
        # statistical: physnn's noise mean against torch's Monte Carlo mean
        sigma, ns = 0.1, 400
        ours = npy(ex.smoothgrad(d, pin, ns, sigma, 7))
        samples = []
        for _ in range(ns):
            x = inputs[which] + rng.normal(0, sigma, inputs[which].shape)
            samples.append(torch_grads(forward, inputs, which, x)[0])
        samples = np.array(samples)
        mean, se = samples.mean(0), samples.std(0) / math.sqrt(ns)
        # both are means of ns samples: the difference has sqrt(2) se
        z = np.max(np.abs(ours - mean) / (math.sqrt(2) * se + 1e-9))
        check(f"SmoothGrad n={ns} sigma={sigma} {name} [{dev}] max z", z, 5.0)


# ---------------------------------------------------------------------------

HAVE_CAPTUM = False


def main():
    global HAVE_CAPTUM
    HAVE_CAPTUM = snnvenv.have("captum")
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seed", type=int, default=20261125)
    ap.add_argument("--device", action="append")
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    devices = args.device or [d.get_spec() for d in Physnn.Device.enumerate()]
    print("devices:", ", ".join(devices))
    n = 64 if args.quick else 257

    # The shipped models, their own PDE, on their training domain.
    for name in [b.strip().removeprefix("builtin:")
                 for b in Physnn.Model.list_builtins().split(",") if b.strip()]:
        path = os.path.join(SRC, "models", name.replace("-", "_") + ".onnx")
        if not os.path.exists(path):
            print(f"skip {name}: {path} not found")
            continue
        forward, meta, in_names = torch_onnx(path)
        model = Physnn.Model.new_builtin(name)
        coords = model.get_coordinate_names().split(",")
        cin = in_names.index(model.get_coordinate_input())
        lo_hi = dict(kv.split("=") for kv in meta.get("physnn.domain", "").split(",") if kv)
        pts = np.stack([rng.uniform(*map(float, lo_hi.get(c, "0:1").split(":")), n)
                        for c in coords], 1)
        inputs = [pts if i == cin else
                  rng.uniform(-1, 1, [d if d > 0 else 1
                                      for d in model.get_input_shape(i)])
                  for i in range(len(in_names))]
        comps = {c: (0, j) for j, c in enumerate(model.get_output_names().split(","))}
        check_residual(f"builtin:{name} {meta['physnn.pde']}", meta["physnn.pde"], {},
                       model, forward, inputs, cin, coords, comps, devices)

    with tempfile.TemporaryDirectory() as tmp:
        # Random networks, PDEs with every construct of the language.
        mlp = MLP(2, 32, 3, 1)
        model = export(mlp, (torch.zeros(4, 2),), ["coords"], f"{tmp}/a.onnx", "x,t", "u")
        pts = rng.uniform(-1, 1, (n, 2))
        fw = forward_of(mlp)
        for pde, params in (("u_t + u*u_x - nu*u_xx", {"nu": 0.00318}),
                            ("u_t = alpha*u_xx + sin(pi*x)*exp(-t)", {"alpha": 0.7}),
                            ("u_xt + tanh(u)^2 - abs(u_x)/(1 + u^2) + sqrt(1 + x^2)", {}),
                            ("u_tt - 2^-1*u_xx*cos(t); log(2 + u^2) - x*u_t", {})):
            check_residual(pde, pde, params, model, fw, [pts], 0, ["x", "t"],
                           {"u": (0, 0)}, devices)
        mlp3 = MLP(3, 24, 2, 1)
        model3 = export(mlp3, (torch.zeros(4, 3),), ["coords"], f"{tmp}/b.onnx", "x,y,t", "u")
        pde = "u_tt - c^2*(u_xx + u_yy)"
        check_residual(pde, pde, {"c": 1.5}, model3, forward_of(mlp3),
                       [rng.uniform(-1, 1, (n, 3))], 0, ["x", "y", "t"], {"u": (0, 0)},
                       devices)
        mlp2 = MLP(2, 24, 2, 2)
        model2 = export(mlp2, (torch.zeros(4, 2),), ["coords"], f"{tmp}/c.onnx", "x,t", "u,v")
        pde = "u_t - v; v_t - 0.5*u_xx + u*v"
        check_residual(pde, pde, {}, model2, forward_of(mlp2), [pts], 0, ["x", "t"],
                       {"u": (0, 0), "v": (0, 1)}, devices)

        # Attributions: to the coordinates of a PINN, and to the sensors of a
        # DeepONet (one row of sensors shared by every point).
        small = pts[:16]
        check_attributions("MLP coords", model, fw, [small], 0, devices, rng)
        don = DeepONet(8, 2, 24, 10)
        dmodel = export(don, (torch.zeros(1, 8), torch.zeros(4, 2)), ["branch", "coords"],
                        f"{tmp}/d.onnx", "x,t", "u")
        check_attributions("DeepONet sensors", dmodel, forward_of(don),
                           [rng.uniform(-1, 1, (1, 8)), small[:6]], 0, devices, rng)

    print(f"{len(failures)} failure(s)" if failures else "PASS")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
