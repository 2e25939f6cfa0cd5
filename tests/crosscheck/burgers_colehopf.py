#!/usr/bin/python3
"""Crosscheck: the Burgers simulator against the Cole–Hopf solution.

u_t + u u_x = nu u_xx on [-1, 1], u(0, x) = -sin(pi x), u(+-1, t) = 0,
nu = 0.01/pi: the classical test whose shock forms at t = 1/pi and is
steepest near t = 0.51 (Basdevant et al., Computers & Fluids 14, 1986).

The Cole–Hopf transform turns the problem into the heat equation, so

    u(x, t) = -∫ sin(pi (x - a z)) f(x - a z) e^{-z^2} dz
              / ∫ f(x - a z) e^{-z^2} dz,
    f(y) = exp(-cos(pi y) / (2 pi nu)),   a = sqrt(4 nu t),

evaluated here with Gauss–Hermite quadrature as Basdevant et al. did. f
spans e^{±50}, so the sums are formed from logarithms shifted by their
maximum. The reference is checked against a second, independent rule (the
periodic trapezoidal rule over one period of the 2-periodic odd extension)
before the simulator is judged against it.

Run with Debian's /usr/bin/python3 (numpy, python3-gi) and the Physnn
typelib on GI_TYPELIB_PATH. Exits non-zero when the relative L2 error on the
default 256-point output grid exceeds 1e-3 at any of the checked times.
"""

import sys
import time

try:
    import numpy as np
    from numpy.polynomial.hermite import hermgauss
except ImportError as e:  # not this test's failure: the environment's
    print(f"SKIP: numpy is missing ({e})")
    sys.exit(77)

import gi

gi.require_version("Physnn", "1.0")
from gi.repository import Physnn  # noqa: E402

NU = 0.01 / np.pi
TIMES = (0.25, 0.5, 0.75, 1.0)
TOLERANCE = 1e-3
FPS = 20  # advance frame by frame, as pdesrc does


def cole_hopf_hermite(x, t, n=100):
    """Gauss–Hermite quadrature of the Cole–Hopf integrals."""
    z, w = hermgauss(n)
    y = x[:, None] - np.sqrt(4.0 * NU * t) * z[None, :]
    log_terms = np.log(w)[None, :] - np.cos(np.pi * y) / (2.0 * np.pi * NU)
    weights = np.exp(log_terms - log_terms.max(axis=1, keepdims=True))
    return -(np.sin(np.pi * y) * weights).sum(axis=1) / weights.sum(axis=1)


def cole_hopf_periodic(x, t, m=8192, images=3):
    """The same integrals over one period of y, the Gaussian kernel summed
    over periodic images: a smooth periodic integrand, for which the
    trapezoidal rule converges geometrically."""
    y = -1.0 + 2.0 * np.arange(m) / m
    d = x[:, None] - y[None, :]
    kernel = np.stack([-(d + 2.0 * k) ** 2 / (4.0 * NU * t)
                       for k in range(-images, images + 1)])
    log_terms = kernel - np.cos(np.pi * y)[None, None, :] / (2.0 * np.pi * NU)
    shift = log_terms.max(axis=(0, 2), keepdims=True)
    weights = np.exp(log_terms - shift).sum(axis=0)
    return -(np.sin(np.pi * y)[None, :] * weights).sum(axis=1) \
        / weights.sum(axis=1)


def relative_l2(u, ref):
    return float(np.linalg.norm(u - ref) / np.linalg.norm(ref))


def main():
    failures = []

    sim = Physnn.Simulator.new(Physnn.PdeKind.BURGERS_1D)
    if abs(sim.props.nu - NU) > 1e-15 * NU:
        failures.append(f"default nu is {sim.props.nu}, expected 0.01/pi")
    sim.reset()
    n = sim.get_grid_size(0)
    x = np.array([sim.get_coordinate(0, i) for i in range(n)])
    if n != 256 or np.abs(x - np.linspace(-1.0, 1.0, 256)).max() > 1e-15:
        failures.append(f"default grid is {n} points on [{x[0]}, {x[-1]}], "
                        "expected 256 on [-1, 1]")
    print(f"scheme: {sim.get_scheme()}")

    u0 = np.array(sim.peek_field())
    if np.abs(u0 + np.sin(np.pi * x)).max() > 1e-12:
        failures.append("initial state is not -sin(pi x)")

    frame = 0
    cpu = 0.0
    for t in TIMES:
        last = round(t * FPS)
        start = time.process_time()
        while frame < last:
            frame += 1
            sim.advance(frame / FPS)
        cpu += time.process_time() - start
        if sim.get_time() != t:
            failures.append(f"simulator is at t = {sim.get_time()}, not {t}")
        u = np.array(sim.peek_field())

        ref = cole_hopf_hermite(x, t)
        ref_check = cole_hopf_periodic(x, t)
        ref_gap = float(np.abs(ref - ref_check).max())
        if ref_gap > 1e-10:
            failures.append(f"t = {t}: the two Cole-Hopf quadratures differ "
                            f"by {ref_gap:.1e}; the reference is unreliable")

        err = relative_l2(u, ref)
        worst = int(np.abs(u - ref).argmax())
        print(f"t = {t:4.2f} s: relative L2 = {err:.3e}, max |error| = "
              f"{abs(u[worst] - ref[worst]):.2e} at x = {x[worst]:+.4f}, "
              f"max |u_x| = {np.abs(np.gradient(ref, x)).max():6.1f}, "
              f"reference quadratures agree to {ref_gap:.1e}")
        if not err <= TOLERANCE:
            failures.append(f"t = {t}: relative L2 {err:.3e} > {TOLERANCE}")

    steps = sim.get_steps()
    print(f"{steps} internal steps, {cpu:.3f} s of CPU for "
          f"{TIMES[-1]} simulated seconds at {FPS} frames per second")

    field = sim.get_field()
    if field.get_rank() != 1 or field.get_dim(0) != n:
        failures.append("get_field() shape is not [256]")

    if failures:
        for f in failures:
            print(f"FAIL: {f}")
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
