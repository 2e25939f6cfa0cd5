#!/usr/bin/python3
"""Plasticity against its closed forms, evaluated here in float64 from the
spike trains the network produced (numpy, no physnn code):

- STDP: the pair rule summed over every pre/post pair, applied in time
  order with soft bounds: at a presynaptic spike at step t,
  w -= A-·(w - w_min)·sum over earlier post spikes s < t of e^(-(t-s)dt/tau-);
  at a postsynaptic spike at t,
  w += A+·(w_max - w)·sum over pre spikes s <= t of e^(-(t-s)dt/tau+)
  (a pre and a post spike in the same step count as pre before post).
- Intrinsic plasticity: at each homeostasis interval the rate estimate
  r <- r + lambda·(count/interval - r), lambda = min(1, interval/rate-tau),
  starting at the target; theta <- theta·(1 + eta·(r - target)), clamped
  to [ip-min-factor, ip-max-factor] times the file's threshold.
- Synaptic scaling: w_ij <- w_ij·clamp((target/r_j)^alpha, 1/max, max).
- Sleep: every sleep-interval w <- w·downscale, and weights below the prune
  threshold become 0 for good.
Plus the purpose of homeostasis: a network firing far above the target
rate is brought close to it. On every device."""
import sys

import numpy as np
import gi

gi.require_version("Physnn", "1.0")
from gi.repository import Physnn  # noqa: E402

DT = 1e-3
failures = []


def check(name, ok, detail=""):
    print("%s %s: %s" % ("ok  " if ok else "FAIL", name, detail), flush=True)
    if not ok:
        failures.append(name)


def devices():
    out = [Physnn.Device.new("cpu")]
    try:
        out.append(Physnn.Device.new("opencl"))
    except Exception as e:  # noqa: BLE001
        print("no OpenCL device (%s): C path only" % e)
    return out


def T(a, dtype=Physnn.DType.FLOAT32):
    a = np.asarray(a, dtype=float)
    return Physnn.Tensor.new_from_doubles(dtype, list(a.shape), a.ravel().tolist())


def arr(t, dtype=np.float32):
    return np.frombuffer(t.get_bytes().get_data(), dtype=dtype).reshape(
        list(t.get_shape()))


def network(w, tau=0.01, r=8.0, thr=1.0):
    n, n_in = w.shape
    g = Physnn.NirGraph.new()
    i = g.add_node("input", "Input")
    g.set_param(i, "shape", T([n_in], Physnn.DType.INT64))
    i = g.add_node("fc", "Linear")
    g.set_param(i, "weight", T(w))
    i = g.add_node("lif", "LIF")
    for k, v in dict(tau=tau, r=r, v_leak=0.0, v_threshold=thr, v_reset=0.0).items():
        g.set_param(i, k, T(np.full(n, v)))
    i = g.add_node("output", "Output")
    g.set_param(i, "shape", T([n], Physnn.DType.INT64))
    g.add_edge("input", "fc")
    g.add_edge("fc", "lif")
    g.add_edge("lif", "output")
    return Physnn.Snn.new(g)


def run(snn, dev, x):
    return arr(snn.run_new(dev, T(x), x.shape[0], Physnn.SnnRecord.OUTPUT)) != 0


def stdp_case(dev, rng):
    n_in, n, steps = 24, 10, 600
    ap, am, tp, tm, wmin, wmax = 0.02, 0.025, 0.02, 0.03, -0.1, 1.0
    w0 = rng.uniform(0.1, 0.6, (n, n_in))
    x = rng.random((steps, n_in)) < 0.12
    snn = network(w0)
    for k, v in {"stdp": True, "stdp-a-plus": ap, "stdp-a-minus": am,
                 "stdp-tau-plus": tp, "stdp-tau-minus": tm,
                 "stdp-w-min": wmin, "stdp-w-max": wmax}.items():
        snn.set_property(k, v)
    # three buffers: traces persist across them
    post = np.concatenate([run(snn, dev, x[a:b]) for a, b in
                           ((0, 150), (150, 420), (420, steps))])
    w_ours = arr(snn.get_weights("fc")).astype(float)
    w = w0.astype(np.float32).astype(float)
    pre_t = [np.nonzero(x[:, i])[0] for i in range(n_in)]
    post_t = [np.nonzero(post[:, j])[0] for j in range(n)]
    for t in range(steps):
        for i in np.nonzero(x[t])[0]:
            for j in range(n):
                s = post_t[j][post_t[j] < t]
                w[j, i] -= am * (w[j, i] - wmin) * np.exp(-(t - s) * DT / tm).sum()
        for j in np.nonzero(post[t])[0]:
            for i in range(n_in):
                s = pre_t[i][pre_t[i] <= t]
                w[j, i] += ap * (wmax - w[j, i]) * np.exp(-(t - s) * DT / tp).sum()
    err = np.abs(w_ours - w).max()
    moved = np.abs(w - w0).max()
    up, down = (w > w0 + 1e-3).sum(), (w < w0 - 1e-3).sum()
    check("STDP vs the pair rule %s" % dev.get_name(),
          err < 2e-5 and moved > 0.05 and up > 0 and down > 0,
          "max |w - closed form| %.1e; %d post spikes, %d weights up, %d down, "
          "largest change %.3f" % (err, post.sum(), up, down, moved))


def homeostasis_case(dev, rng):
    n_in, n, steps = 30, 12, 700
    target, eta, lo, hi, interval, rate_tau = 20.0, 0.004, 0.5, 3.0, 0.05, 0.2
    alpha, maxf = 0.5, 1.5
    w0 = rng.uniform(0.0, 0.5, (n, n_in))
    x = rng.random((steps, n_in)) < 0.15
    snn = network(w0)
    for k, v in {"intrinsic": True, "ip-eta": eta, "ip-min-factor": lo,
                 "ip-max-factor": hi, "scaling": True, "scaling-alpha": alpha,
                 "scaling-max-factor": maxf, "target-rate": target,
                 "rate-tau": rate_tau, "homeostasis-interval": interval}.items():
        snn.set_property(k, v)
    post = np.concatenate([run(snn, dev, x[a:b]) for a, b in
                           ((0, 333), (333, steps))])
    every = int(round(interval / DT))
    lam = min(1.0, interval / rate_tau)
    r = np.full(n, target)
    th = np.ones(n, np.float32)
    w = w0.astype(np.float32)
    for b in range(every, steps + 1, every):
        obs = post[b - every:b].sum(axis=0) / (every * DT)
        r = r + lam * (obs - r)
        th = np.clip(th.astype(float) * (1 + eta * (r - target)), lo, hi).astype(np.float32)
        f = np.clip((target / np.maximum(r, 1e-3 * target)) ** alpha, 1 / maxf, maxf)
        w = (w * f.astype(np.float32)[:, None]).astype(np.float32)
    th_ours = arr(snn.get_thresholds("lif"))
    r_ours = arr(snn.get_rates("lif"), np.float64)
    w_ours = arr(snn.get_weights("fc"))
    check("intrinsic plasticity and rates %s" % dev.get_name(),
          np.abs(th_ours - th).max() <= 1e-6 and np.abs(r_ours - r).max() < 1e-9
          and np.abs(th - 1).max() > 0.05,
          "max |theta - closed form| %.1e, |r - closed form| %.1e; thresholds "
          "%.3f..%.3f" % (np.abs(th_ours - th).max(), np.abs(r_ours - r).max(),
                          th.min(), th.max()))
    rel = np.abs(w_ours - w).max() / np.abs(w).max()
    check("synaptic scaling %s" % dev.get_name(),
          rel < 1e-6 and np.abs(w / w0 - 1).max() > 0.05,
          "max relative |w - closed form| %.1e; factors %.3f..%.3f" % (
              rel, (w / w0.astype(np.float32)).min(), (w / w0.astype(np.float32)).max()))


def sleep_case(dev, rng):
    n_in, n, steps = 16, 6, 500
    w0 = rng.uniform(0.0, 0.3, (n, n_in))
    x = rng.random((steps, n_in)) < 0.1
    snn = network(w0)
    for k, v in {"sleep": True, "sleep-interval": 0.1, "sleep-downscale": 0.7,
                 "prune-threshold": 0.02}.items():
        snn.set_property(k, v)
    run(snn, dev, x)
    w = w0.astype(np.float32)
    pruned = np.zeros_like(w, bool)
    for _ in range(steps // 100):
        w = (w * np.float32(0.7)).astype(np.float32)
        pruned |= np.abs(w) < 0.02
        w[pruned] = 0
    w_ours = arr(snn.get_weights("fc"))
    check("sleep downscale and prune %s" % dev.get_name(),
          np.array_equal(w_ours, w) and 0 < pruned.sum() < w.size,
          "%d of %d weights pruned, max |w - closed form| %.1e" % (
              pruned.sum(), w.size, np.abs(w_ours - w).max()))


def regulation_case(dev, rng):
    """Synaptic scaling pulls a network firing at ~100 Hz toward 20 Hz."""
    n_in, n = 40, 20
    w0 = rng.uniform(0.2, 0.9, (n, n_in))
    snn = network(w0)
    for k, v in {"scaling": True, "target-rate": 20.0, "homeostasis-interval": 0.1,
                 "rate-tau": 0.3, "scaling-alpha": 0.7}.items():
        snn.set_property(k, v)
    x = rng.random((6000, n_in)) < 0.1
    post = run(snn, dev, x)
    before = post[:500].mean() / DT
    after = post[-1000:].mean() / DT
    check("scaling regulates the rate %s" % dev.get_name(),
          before > 60 and abs(after - 20) < 6,
          "mean rate %.1f Hz in the first 0.5 s, %.1f Hz in the last 1 s "
          "(target 20 Hz)" % (before, after))


def main():
    for dev in devices():
        rng = np.random.default_rng(11)
        stdp_case(dev, rng)
        homeostasis_case(dev, rng)
        sleep_case(dev, rng)
        regulation_case(dev, rng)
    if failures:
        print("FAILED: " + ", ".join(failures))
        sys.exit(1)
    print("all agree")


if __name__ == "__main__":
    main()
