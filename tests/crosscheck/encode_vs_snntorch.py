#!/usr/bin/python3
"""Spike encoders against snnTorch's spikegen and Norse's encoders, the
packages themselves (PyPI, in the build's venv on Debian's PyTorch).

Deterministic encoders (latency, delta) must give the same spikes; random
ones (rate, Poisson, population) cannot share a generator with PyTorch, so
their spike counts must agree with the packages' to within five standard
deviations of the two binomial counts, on every neuron, and be exact where
the probability is 0 or 1. On every device the engine offers."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import snnvenv  # noqa: E402

snnvenv.reexec(["snntorch", "norse==1.0.0"])

import numpy as np  # noqa: E402
import gi  # noqa: E402

gi.require_version("Physnn", "1.0")
from gi.repository import Physnn  # noqa: E402

import torch  # noqa: E402

HAVE_SNNTORCH = snnvenv.have("snntorch.spikegen")
HAVE_NORSE = snnvenv.have("norse.torch.functional.encode")
if HAVE_SNNTORCH:
    from snntorch import spikegen
if HAVE_NORSE:
    from norse.torch.functional import encode as nenc

M = Physnn.EncodeMethod
failures = []
checked = []


def devices():
    out = [Physnn.Device.new("cpu")]
    try:
        out.append(Physnn.Device.new("opencl"))
    except Exception as e:  # noqa: BLE001
        print("no OpenCL device (%s): C path only" % e)
    return out


def ours(dev, method, x, steps, **props):
    """x: [samples][N] float array -> spikes [samples*steps][N*P]."""
    enc = Physnn.Encoder.new(method)
    enc.set_property("num-steps", steps)
    for k, v in props.items():
        enc.set_property(k.replace("_", "-"), v)
    x = np.asarray(x, dtype=np.float32)
    t = Physnn.Tensor.new_from_doubles(Physnn.DType.FLOAT32, list(x.shape),
                                       x.ravel().astype(float).tolist())
    out = enc.encode_new(dev, t, x.shape[0])
    shape = list(out.get_shape())
    return np.frombuffer(out.get_bytes().get_data(), dtype=np.uint8).reshape(shape)


def check(name, ok, detail=""):
    checked.append(name)
    if not ok:
        failures.append("%s: %s" % (name, detail))
        print("FAIL", name, detail)
    else:
        print("ok  ", name, detail)


def counts_agree(name, c_ours, c_ref, n, p):
    """Two binomial(n, p) counts: their difference has variance 2np(1-p)."""
    p = np.asarray(p, dtype=float)
    sd = np.sqrt(2 * n * p * (1 - p))
    diff = np.abs(np.asarray(c_ours, float) - np.asarray(c_ref, float))
    exact = (p <= 0) | (p >= 1)
    ok = np.all(diff[~exact] <= 5 * sd[~exact] + 1) and np.all(diff[exact] == 0)
    check(name, ok, "max |Δcount| %.0f (5σ bound %.0f) over %d neurons" %
          (diff.max(), (5 * sd).max(), len(p)))


def main():
    rng = np.random.default_rng(1)
    x = np.concatenate([[0.0, 1.0], rng.random(62)]).astype(np.float32)
    steps = 4000
    for dev in devices():
        tag = dev.get_spec()
        if HAVE_SNNTORCH:
            # rate: Bernoulli(clamp(x*gain + offset, 0, 1))
            gain, offset = 1.5, -0.2
            s = ours(dev, M.RATE, x[None], steps, gain=gain, offset=offset, seed=5)
            ref = spikegen.rate(torch.tensor(x), num_steps=steps, gain=gain,
                                offset=offset).numpy()
            p = np.clip(x * gain + offset, 0, 1)
            counts_agree("rate vs snntorch [%s]" % tag, s.sum(0), ref.sum(0), steps, p)

            # latency: log and linear, with and without normalize / clip
            xs = np.linspace(0, 1, 301).astype(np.float32)
            for linear in (False, True):
                for normalize in (False, True):
                    for clip in (False, True):
                        kw = dict(num_steps=25, threshold=0.02, tau=5.0, linear=linear,
                                  normalize=normalize, clip=clip)
                        if not normalize and not linear:
                            kw["tau"] = 3.0
                        ref = spikegen.latency(torch.tensor(xs), bypass=True, **kw).numpy()
                        ref = ref[:25] if ref.shape[0] >= 25 else np.pad(
                            ref, ((0, 25 - ref.shape[0]), (0, 0)))
                        st, _ = spikegen.latency_code(
                            torch.tensor(xs), num_steps=25, threshold=0.02,
                            tau=kw["tau"], normalize=normalize, linear=linear)
                        st = st.numpy().astype(np.float64)
                        near_half = np.abs(st - np.floor(st) - 0.5) < 1e-4
                        s = ours(dev, M.LATENCY, xs[None], 25, threshold=0.02,
                                 tau=kw["tau"], linear=linear, normalize=normalize,
                                 clip=clip)
                        same = np.all(s[:, ~near_half] == ref[:, ~near_half])
                        check("latency linear=%d normalize=%d clip=%d vs snntorch [%s]"
                              % (linear, normalize, clip, tag), same,
                              "%d inputs, %d spikes, %d near a rounding tie skipped"
                              % (len(xs), s.sum(), near_half.sum()))

            # delta over a time series, on and off spikes, padding
            series = np.cumsum(rng.normal(0, 0.08, (200, 32)), axis=0).astype(np.float32)
            for off in (False, True):
                for pad in (False, True):
                    ref = spikegen.delta(torch.tensor(series), threshold=0.1, padding=pad,
                                         off_spike=off).numpy()
                    s = ours(dev, M.DELTA, series, 1, threshold=0.1, off_spikes=off,
                             padding=pad).astype(np.int16)
                    mine = s[:, :32] - (s[:, 32:] if off else 0)
                    check("delta off=%d padding=%d vs snntorch [%s]" % (off, pad, tag),
                          np.array_equal(mine, ref.astype(np.int16)),
                          "%d spikes" % np.abs(mine).sum())
        if HAVE_NORSE:
            # Poisson: rand < dt * f_max * x
            f_max, dt = 150.0, 2e-3
            xp = np.concatenate([[0.0, 1 / (f_max * dt)], rng.random(30)]).astype(np.float32)
            s = ours(dev, M.POISSON, xp[None], steps, f_max=f_max, dt=dt, seed=3)
            ref = nenc.poisson_encode(torch.tensor(xp), steps, f_max=f_max, dt=dt).numpy()
            p = np.clip(dt * f_max * xp, 0, 1)
            counts_agree("poisson vs norse [%s]" % tag, s.sum(0), ref.sum(0), steps, p)

            # population: Norse's Gaussian RBF fields (centres linspace(0,
            # scale, M), exp(-(x-c)^2 scale / 2)) are ours with min 0, max
            # scale, sigma 1/sqrt(scale); rate coding them with gain dt*f_max
            # is Norse's poisson_encode of the intensities.
            scale, m = 4.0, 6
            xv = (rng.random(20) * scale).astype(np.float32)
            pop = nenc.population_encode(torch.tensor(xv), m, scale=scale)
            ref = nenc.poisson_encode(pop, steps, f_max=f_max, dt=dt).numpy()
            s = ours(dev, M.POPULATION, xv[None], steps, population_size=m,
                     population_min=0.0, population_max=scale,
                     population_sigma=1 / np.sqrt(scale), gain=dt * f_max, seed=9)
            p = np.clip(pop.numpy().ravel() * dt * f_max, 0, 1)
            counts_agree("population vs norse [%s]" % tag, s.sum(0),
                         ref.reshape(steps, -1).sum(0), steps, p)

    if not checked:
        snnvenv.banner("neither snntorch nor norse could be imported: nothing was compared")
        sys.exit(77)
    if failures:
        print("\n".join(failures))
        sys.exit(1)
    print("%d comparisons passed" % len(checked))


if __name__ == "__main__":
    main()
