#!/usr/bin/python3
"""Explain a PINN from Python: where does the heat PINN break its PDE, and
what does its prediction at one point owe to each coordinate?

    meson devenv -C build /usr/bin/python3 ../gir/examples/attributions.py [out.png]

Prints the residual statistics of u_t - 0.1 u_xx on a grid, the integrated
gradients of u(x=0.3, t=0.5) with respect to x and t (baseline x=0, t=0;
50 Gauss-Legendre nodes) with their completeness delta, saliency and
SmoothGrad; with an argument, writes a plot of the attributions along x.
"""
import sys

import numpy as np
import gi

gi.require_version("Physnn", "1.0")
from gi.repository import GLib, Physnn  # noqa: E402


def tensor(a, dtype=Physnn.DType.FLOAT32, np_type=np.float32):
    a = np.ascontiguousarray(a, np_type)
    return Physnn.Tensor.new_from_bytes(dtype, list(a.shape), GLib.Bytes.new(a.tobytes()))


def array(t):
    return np.array(t.to_doubles()).reshape(list(t.get_shape()))


device = Physnn.Device.new("auto")
model = Physnn.Model.new_builtin("heat1d-pinn")
print(model.describe())
print(f"device: {device.get_name()}")

# Where does the model break u_t = 0.1 u_xx? A space-time grid.
xs, ts = np.linspace(0, 1, 101), np.linspace(0, 1, 51)
grid = np.array([(x, t) for t in ts for x in xs])
pde = Physnn.Pde.new("u_t - alpha*u_xx")
pde.set_parameter("alpha", 0.1)
residual, scale = pde.residual(model, device, [tensor(grid)])
stats = Physnn.ResidualStats.new(residual, 3, [len(xs), len(ts)])
print(f"residual: rms {stats.get_rms():.2e}, max {stats.get_max():.2e}, "
      f"99th percentile {stats.get_p99():.2e} (largest term rms "
      f"{np.sqrt(np.mean(array(scale) ** 2)):.2f})")
for k in range(stats.get_n_hotspots()):
    i = stats.get_hotspot_index(k)
    print(f"  hotspot {k}: x={grid[i, 0]:.2f} t={grid[i, 1]:.2f} "
          f"|r|={stats.get_hotspot_value(k):.2e}")

# What does u(0.3, 0.5) owe to x and to t?
ex = Physnn.Explainer.new(model, None, "u")
point = [tensor([[0.3, 0.5]])]
base = tensor([0.0, 0.0], Physnn.DType.FLOAT64, np.float64)
ig, delta = ex.integrated_gradients(device, point, base, 50,
                                    Physnn.IntegrationRule.GAUSS_LEGENDRE)
grad, value = ex.gradient(device, point)
print(f"u(0.3, 0.5) = {array(value)[0]:.6f}")
print(f"integrated gradients: x {array(ig)[0, 0]:+.6f}, t {array(ig)[0, 1]:+.6f}; "
      f"completeness delta {array(delta)[0]:.1e}")
print(f"saliency |du/dx|, |du/dt|: {np.abs(array(grad)[0])}")
print(f"SmoothGrad (sigma 0.05, 100 samples): "
      f"{array(ex.smoothgrad(device, point, 100, 0.05, 1))[0]}")

if len(sys.argv) > 1:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    line = np.stack([xs, np.full_like(xs, 0.5)], 1)
    ig_line, delta_line = ex.integrated_gradients(
        device, [tensor(line)], base, 50, Physnn.IntegrationRule.GAUSS_LEGENDRE)
    a = array(ig_line)
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 4))
    r = np.abs(array(residual)).reshape(len(ts), len(xs))
    im = ax0.imshow(np.log10(r + 1e-12), origin="lower", extent=(0, 1, 0, 1),
                    aspect="auto", cmap="inferno", vmin=-6)
    fig.colorbar(im, ax=ax0, label="log10 |u_t - 0.1 u_xx|")
    ax0.set(xlabel="x", ylabel="t", title="PDE residual of builtin:heat1d-pinn")
    ax1.plot(xs, a[:, 0], label="IG to x")
    ax1.plot(xs, a[:, 1], label="IG to t")
    ax1.plot(xs, a.sum(1), "k--", label="sum = u(x,0.5) - u(0,0)")
    ax1.set(xlabel="x", title="integrated gradients at t = 0.5 (baseline 0, 0)")
    ax1.legend()
    fig.tight_layout()
    fig.savefig(sys.argv[1] + ".tmp.png")
    import os
    os.replace(sys.argv[1] + ".tmp.png", sys.argv[1])
    print(f"wrote {sys.argv[1]}")
