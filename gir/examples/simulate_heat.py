#!/usr/bin/python3
"""Run the heat-equation simulator behind `pdesrc` from Python and compare
it with the exact solution; optionally plot with matplotlib.

    meson devenv -C build /usr/bin/python3 ../gir/examples/simulate_heat.py [out.png]
"""
import math
import sys

import gi

gi.require_version("Physnn", "1.0")
from gi.repository import Physnn  # noqa: E402

sim = Physnn.Simulator(pde=Physnn.PdeKind.HEAT_1D, alpha=0.1, nx=129)
sim.reset()
print("scheme:", sim.get_scheme())
xs = [sim.get_coordinate(0, i) for i in range(sim.get_grid_size(0))]
snapshots = []
for t in (0.0, 0.5, 1.0, 2.0):
    sim.advance(t)
    u = sim.get_field().to_doubles()
    exact = [math.exp(-0.1 * math.pi ** 2 * t) * math.sin(math.pi * x) for x in xs]
    err = math.sqrt(sum((a - b) ** 2 for a, b in zip(u, exact)) /
                    max(sum(b * b for b in exact), 1e-300))
    print(f"t = {t:4.1f}  relative L2 error vs exact: {err:.2e}")
    snapshots.append((t, u))

if len(sys.argv) > 1:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    for t, u in snapshots:
        plt.plot(xs, u, label=f"t = {t}")
    plt.xlabel("x")
    plt.ylabel("u")
    plt.legend()
    plt.title("physnn simulator: heat 1-D, Crank-Nicolson")
    plt.savefig(sys.argv[1], dpi=100)
    print("wrote", sys.argv[1])
