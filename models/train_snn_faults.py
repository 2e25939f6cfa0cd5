#!/usr/bin/python3
"""Trains the shipped spiking fault detector, models/snn_faults.nir: a small
LIF network that tells faulty from healthy windows of `pdesrc` sensor
streams, as the pipeline

    pdesrc pde=heat-1d sensors=8 outputs=sensors framerate=100/1 ...
      ! spikeenc method=sigma-delta threshold=0.004 off-spikes=true
                 padding=true num-steps=10
      ! snninfer model=models/snn_faults.nir output=membrane   (dt 1 ms)

computes it. Run with Debian's interpreter inside the build environment:

    meson devenv -C build /usr/bin/python3 ../models/train_snn_faults.py

Data. Every episode is one simulated stream of 1 s (100 sensor readings of
8 sensors on the heat-1d sine decay, amplitude 0.5-1.5, noise sigma 0.002-
0.01), made by physnn's own simulator and sensors through GObject
introspection (the code behind pdesrc, same seeds, same readings); half of
them fault-free, the others with one of: a stuck sensor, a drifting sensor (±0.3-1 units/s), a spike
(±0.2-0.5 units, one reading), an unmodelled heat source (1-3 units/s, near
a random sensor); onset 0.2-0.6 s. The ground-truth fault mask of the
simulator labels every reading.

Encoding. The readings go through physnn's PhysnnEncoder (the code behind
spikeenc) with the settings above: sigma-delta with on and off spikes, one
spike per 0.004 units of change, 10 steps per reading. 16 inputs. The
threshold is below the noise: every healthy sensor flickers, a stuck one
(a constant reading) goes silent. (A first run with 0.01 and class-balanced
loss weights scored 75.6 % of held-out windows against 79.0 %, with more
false alarms late in healthy streams, where the slow decay gives few
spikes.) A healthy
sine decay gives off spikes in proportion to each sensor's reading; a stuck
sensor goes silent, drift, a source and a spike add on (or extra off)
spikes.

Network. 16 -> Affine -> 32 LIF (tau 30 ms, threshold 1, reset 0) ->
Affine -> 2 LI (tau 100 ms; a LIF that never fires, read as membrane):
output 0 "healthy", output 1 "faulty". It is
simulated in torch with the engine's update (exact integration, dt 1 ms:
v <- a v + (1 - a) (W x + b), spike where v > 1, then v <- 0), trained by
backpropagation through time with a fast-sigmoid surrogate gradient for the
spike (per-step cross-entropy on the two potentials, unweighted; the 3
readings after an onset are not scored, a spike fault counts as faulty for
5 readings), and written as NIR through physnn's NirGraph writer.

Evaluation. The NIR file is loaded by physnn's SNN engine (PhysnnSnn, the
code behind snninfer) and run on held-out streams (seeds never used in
training). A window is 10 readings (0.1 s, 100 network steps); it is called
faulty when the mean of output 1 minus output 0 over its steps is positive,
and it is faulty in truth when the mask marks any reading in it. Windows in
which a stuck, drift or source fault begins are left out (half healthy,
half not). One stream is also run through a real gst pipeline (pdesrc !
spikeenc ! snninfer) to check that it gives the engine's numbers.
"""
import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import gi  # noqa: E402

gi.require_version("Physnn", "1.0")
from gi.repository import GLib, Physnn  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
N_SENSORS = 8
FPS = 100
N_BUFFERS = 100
STEPS = 10                # spikeenc num-steps: 10 network steps per reading
DT = 1e-3                 # snninfer dt: 10 steps of 1 ms = one 10 ms reading
THETA = 0.004             # sigma-delta threshold in field units
N_IN = 2 * N_SENSORS      # on plane, then off plane
N_HIDDEN = 32
TAU_HIDDEN = 0.03
TAU_OUT = 0.1
READOUT_THRESHOLD = 1e6   # the readout LIF never fires: an LI read as membrane
WINDOW = 10               # readings per evaluated window
KINDS = ["none", "stuck", "drift", "spike", "source"]
SPIKE_HOLD = 5            # a spike fault's label lasts this many readings
GRACE = 3                 # readings after an onset not scored in training
ENCODER_PROPS = {"num-steps": STEPS, "threshold": THETA, "off-spikes": True,
                 "padding": True}
SPIKEENC = (f"spikeenc method=sigma-delta threshold={THETA} off-spikes=true "
            f"padding=true num-steps={STEPS}")


def episode_params(rng, seed):
    # half the streams fault-free: with a fault in 4 of 5 streams, late
    # windows were mostly faulty and the network learned "late = faulty"
    # (a first run flagged 76-98 % of healthy windows after 0.7 s)
    kind = "none" if rng.random() < 0.5 else KINDS[1 + int(rng.integers(0, 4))]
    p = {"kind": kind, "seed": seed,
         "amplitude": float(rng.uniform(0.5, 1.5)),
         "noise": float(rng.uniform(0.002, 0.01)),
         "onset": round(float(rng.uniform(0.2, 0.6)) * FPS) / FPS,
         "sensor": int(rng.integers(0, N_SENSORS))}
    sign = 1.0 if rng.random() < 0.5 else -1.0
    if kind == "drift":
        p["magnitude"] = sign * float(rng.uniform(0.3, 1.0))
    elif kind == "spike":
        p["magnitude"] = sign * float(rng.uniform(0.2, 0.5))
    elif kind == "source":
        p["source_amplitude"] = float(rng.uniform(1.0, 3.0))
        x = (p["sensor"] + 1) / (N_SENSORS + 1)
        p["source_x"] = float(x + rng.uniform(-0.05, 0.05))
    return p


def pdesrc_props(p):
    """The episode as pdesrc properties (for the pipeline check and docs)."""
    s = (f"pde=heat-1d sensors={N_SENSORS} framerate={FPS}/1 "
         f"num-buffers={N_BUFFERS} seed={p['seed']} amplitude={p['amplitude']!r} "
         f"noise-sigma={p['noise']!r}")
    if p["kind"] != "none":
        s += f" fault={p['kind']} fault-start={p['onset']!r}"
    if p["kind"] in ("stuck", "drift", "spike"):
        s += f" fault-sensor={p['sensor']}"
    if "magnitude" in p:
        s += f" fault-magnitude={p['magnitude']!r}"
    if p["kind"] == "source":
        s += (f" source-x={p['source_x']!r} source-start={p['onset']!r}"
              f" source-amplitude={p['source_amplitude']!r} source-width=0.05")
    return s


def simulate(p):
    """Readings [buffers][sensors] and mask of one episode, as pdesrc makes
    them: simulator and sensors seeded alike, reading n at t = n / fps."""
    sim = Physnn.Simulator.new(Physnn.PdeKind.HEAT_1D)
    sim.set_property("amplitude", p["amplitude"])
    sim.set_property("seed", p["seed"])
    if p["kind"] == "source":
        sim.set_property("source-x", p["source_x"])
        sim.set_property("source-start", p["onset"])
        sim.set_property("source-amplitude", p["source_amplitude"])
        sim.set_property("source-width", 0.05)
    sim.reset()
    sens = Physnn.Sensors.new_evenly(sim, N_SENSORS)
    sens.set_property("noise-sigma", p["noise"])
    if p["kind"] != "none":
        sens.set_property("fault", getattr(Physnn.FaultKind, p["kind"].upper()))
        sens.set_property("fault-start", p["onset"])
        sens.set_property("fault-sensor", p["sensor"])
        if "magnitude" in p:
            sens.set_property("fault-magnitude", p["magnitude"])
    sens.set_property("seed", p["seed"])
    sens.reset()
    values = np.zeros((N_BUFFERS, N_SENSORS), np.float32)
    mask = np.zeros((N_BUFFERS, N_SENSORS), np.uint8)
    for n in range(N_BUFFERS):
        # pdesrc: t = PTS in ns / 1e9, PTS = n * 1e9 / fps
        sim.advance((n * 1000000000 // FPS) / 1e9)
        v, m = sens.read(sim)
        values[n] = v
        mask[n] = np.frombuffer(bytes(m), np.uint8) if not isinstance(m, list) else m
    return values, mask


_device = None


def device():
    global _device
    if _device is None:
        _device = Physnn.Device.new("cpu")
    return _device


def tensor(a, dtype=Physnn.DType.FLOAT32):
    a = np.ascontiguousarray(a)
    return Physnn.Tensor.new_from_bytes(dtype, list(a.shape),
                                        GLib.Bytes.new(a.tobytes()))


def encode(values):
    """spikeenc's spikes for one stream: uint8 [buffers*STEPS][N_IN]."""
    enc = Physnn.Encoder.new(Physnn.EncodeMethod.SIGMA_DELTA)
    for k, v in ENCODER_PROPS.items():
        enc.set_property(k, v)
    out = enc.encode_new(device(), tensor(values.astype(np.float32)),
                         values.shape[0])
    return np.frombuffer(out.get_bytes().get_data(), np.uint8).reshape(
        values.shape[0] * STEPS, N_IN).copy()


def labels(p, mask):
    """Per reading: 1 faulty, 0 healthy; and the training weight (0 in the
    grace readings after an onset)."""
    y = (mask.max(axis=1) > 0).astype(np.int64)
    w = np.ones(N_BUFFERS, np.float32)
    on = int(round(p["onset"] * FPS))
    if p["kind"] == "spike":
        y[on:on + SPIKE_HOLD] = 1
    elif p["kind"] != "none":
        w[on:on + GRACE] = 0
    return y, w


def dataset(n, seed0, rng):
    xs, ys, ws, ps = [], [], [], []
    for e in range(n):
        p = episode_params(rng, seed0 + e)
        values, mask = simulate(p)
        y, w = labels(p, mask)
        xs.append(encode(values))
        ys.append(y)
        ws.append(w)
        ps.append((p, mask))
    return np.stack(xs), np.stack(ys), np.stack(ws), ps


class SpikeFn(torch.autograd.Function):
    """Heaviside forward, fast-sigmoid derivative backward."""
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g / (1.0 + 10.0 * x.abs()) ** 2


class Net(torch.nn.Module):
    """The parameters are kept in units of the threshold per step (the
    weights times 1 - a): Adam moves every parameter by about the learning
    rate, and the NIR weights, 1/(1 - a) = 30 times larger, would barely
    move otherwise. weight1()/weight2() give the NIR values."""
    def __init__(self):
        super().__init__()
        self.a_h = float(np.exp(-DT / TAU_HIDDEN))
        self.a_o = float(np.exp(-DT / TAU_OUT))
        self.w1 = torch.nn.Parameter(torch.randn(N_HIDDEN, N_IN) * 0.5)
        self.b1 = torch.nn.Parameter(torch.zeros(N_HIDDEN))
        self.w2 = torch.nn.Parameter(torch.randn(2, N_HIDDEN) * 0.05)
        self.b2 = torch.nn.Parameter(torch.zeros(2))

    def weight1(self):
        return self.w1 / (1.0 - self.a_h), self.b1 / (1.0 - self.a_h)

    def weight2(self):
        return self.w2 / (1.0 - self.a_o), self.b2 / (1.0 - self.a_o)

    def forward(self, x):
        """x: [T][B][N_IN] -> LI potentials [T][B][2], hidden spike count."""
        w, b = self.weight1()
        # the engine's order: (1 - a) times the current W x + b
        cur = (1.0 - self.a_h) * torch.nn.functional.linear(x, w, b)
        v = torch.zeros_like(cur[0])
        spikes = []
        for t in range(cur.shape[0]):
            v = self.a_h * v + cur[t]
            s = SpikeFn.apply(v - 1.0)
            v = v * (1.0 - s.detach())
            spikes.append(s)
        s = torch.stack(spikes)
        w, b = self.weight2()
        i_o = (1.0 - self.a_o) * torch.nn.functional.linear(s, w, b)
        # the LI readout is linear: v_t = sum_k a^(t-k) i_k, as a causal
        # convolution instead of a second loop of T steps
        T, B, C = i_o.shape
        kern = self.a_o ** torch.arange(T - 1, -1, -1, dtype=i_o.dtype)
        seq = i_o.permute(1, 2, 0).reshape(B * C, 1, T)
        out = torch.nn.functional.conv1d(
            torch.nn.functional.pad(seq, (T - 1, 0)), kern.view(1, 1, T))
        return out.reshape(B, C, T).permute(2, 0, 1), s.sum()


def export_nir(net, path):
    """The trained network as NIR through physnn's writer, atomically."""
    def t(a, dtype=Physnn.DType.FLOAT32):
        a = np.asarray(a, np.float64)
        return Physnn.Tensor.new_from_doubles(dtype, list(a.shape),
                                              a.ravel().tolist())
    g = Physnn.NirGraph.new()
    g.set_param(g.add_node("input", "Input"), "shape",
                t([N_IN], Physnn.DType.INT64))
    w1, b1 = (a.detach().double().numpy() for a in net.weight1())
    w2, b2 = (a.detach().double().numpy() for a in net.weight2())
    n = g.add_node("fc1", "Affine")
    g.set_param(n, "weight", t(w1))
    g.set_param(n, "bias", t(b1))
    n = g.add_node("lif1", "LIF")
    for k, v in dict(tau=TAU_HIDDEN, r=1.0, v_leak=0.0, v_threshold=1.0,
                     v_reset=0.0).items():
        g.set_param(n, k, t(np.full(N_HIDDEN, v)))
    n = g.add_node("fc2", "Affine")
    g.set_param(n, "weight", t(w2))
    g.set_param(n, "bias", t(b2))
    # The readout is a LIF that never fires (threshold 1e6; its potential
    # stays within a few units): exactly an LI, read with snninfer
    # output=membrane. An LI node would do the same in snninfer, but the
    # neuromorphic exports (Loihi, SpiNNaker 2) refuse non-spiking readouts.
    n = g.add_node("lif2", "LIF")
    for k, v in dict(tau=TAU_OUT, r=1.0, v_leak=0.0, v_threshold=READOUT_THRESHOLD,
                     v_reset=0.0).items():
        g.set_param(n, k, t(np.full(2, v)))
    g.set_param(g.add_node("output", "Output"), "shape",
                t([2], Physnn.DType.INT64))
    for a, b in [("input", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"),
                 ("fc2", "lif2"), ("lif2", "output")]:
        g.add_edge(a, b)
    # NirGraph.save writes to a temporary name and renames (nir.c)
    g.save(path)
    return path


def load_nir(net, path):
    """Weights of an earlier file of this script into net (to re-export)."""
    g = Physnn.NirGraph.load(path)

    def get(node, name):
        t = g.get_param(g.find_node(node), name)
        return torch.tensor(np.array(t.to_doubles()).reshape(list(t.get_shape())),
                            dtype=torch.float32)
    with torch.no_grad():
        net.w1.copy_(get("fc1", "weight") * (1.0 - net.a_h))
        net.b1.copy_(get("fc1", "bias") * (1.0 - net.a_h))
        net.w2.copy_(get("fc2", "weight") * (1.0 - net.a_o))
        net.b2.copy_(get("fc2", "bias") * (1.0 - net.a_o))


def save(net, path):
    fd, tmp = tempfile.mkstemp(suffix=".nir", dir=os.path.dirname(path))
    os.close(fd)
    try:
        export_nir(net, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def engine_run(snn, spikes):
    snn.reset()
    out = snn.run_new(device(), tensor(spikes, Physnn.DType.UINT8),
                      spikes.shape[0], Physnn.SnnRecord.MEMBRANE)
    return np.frombuffer(out.get_bytes().get_data(), np.float32).reshape(
        spikes.shape[0], 2)


def windows(p, mask, out):
    """(truth, predicted) per evaluated window of one stream."""
    on = int(round(p["onset"] * FPS)) if p["kind"] != "none" else -1
    res = []
    for w0 in range(0, N_BUFFERS, WINDOW):
        if p["kind"] not in ("none", "spike") and w0 < on < w0 + WINDOW:
            continue
        truth = int(mask[w0:w0 + WINDOW].max() > 0)
        o = out[w0 * STEPS:(w0 + WINDOW) * STEPS]
        res.append((truth, int((o[:, 1] - o[:, 0]).mean() > 0)))
    return res


def evaluate(path, eval_set, label):
    snn = Physnn.Snn.new_from_file(path)
    snn.set_property("dt", DT)
    xs, _, _, ps = eval_set
    per_kind = {k: [] for k in KINDS}
    healthy_by_time = []
    for x, (p, mask) in zip(xs, ps):
        w = windows(p, mask, engine_run(snn, x))
        per_kind[p["kind"]] += w
        if p["kind"] == "none":
            healthy_by_time.append([y for _, y in w])
    allw = np.array([r for k in KINDS for r in per_kind[k]])
    conf = np.zeros((2, 2), int)
    for t, y in allw:
        conf[t, y] += 1
    acc = float((allw[:, 0] == allw[:, 1]).mean())
    print(f"\n{label}: {len(xs)} streams, {len(allw)} windows of {WINDOW} "
          f"readings, accuracy {100 * acc:.1f} %", flush=True)
    print("confusion (rows truth, columns predicted; healthy, faulty):")
    print(f"  healthy  {conf[0, 0]:6d} {conf[0, 1]:6d}")
    print(f"  faulty   {conf[1, 0]:6d} {conf[1, 1]:6d}")
    for k in KINDS:
        r = np.array(per_kind[k]) if per_kind[k] else np.zeros((0, 2), int)
        h = r[r[:, 0] == 0]
        f = r[r[:, 0] == 1]
        fa = f"{100 * h[:, 1].mean():.1f} %" if len(h) else "-"
        det = f"{100 * f[:, 1].mean():.1f} %" if len(f) else "-"
        print(f"  {k:7s} healthy windows {len(h):4d} (false alarms {fa}), "
              f"faulty windows {len(f):4d} (detected {det})")
    fa = np.mean(healthy_by_time, axis=0) if healthy_by_time else []
    print("  false alarms on fault-free streams by window (0.1 s each): " +
          " ".join(f"{100 * f:.0f}%" for f in fa))
    return acc, conf


def pipeline_check(path, p, x):
    """One stream through pdesrc ! spikeenc ! snninfer, against the engine
    on this script's encoding of the same stream."""
    gi.require_version("Gst", "1.0")
    from gi.repository import Gst
    Gst.init(None)
    desc = (f"pdesrc {pdesrc_props(p)} outputs=sensors ! {SPIKEENC} device=cpu "
            f"! snninfer model={path} device=cpu output=membrane ! appsink "
            f"name=sink sync=false")
    pipe = Gst.parse_launch(desc)
    sink = pipe.get_by_name("sink")
    pipe.set_state(Gst.State.PLAYING)
    chunks = []
    while True:
        s = sink.emit("pull-sample")
        if s is None:
            break
        b = s.get_buffer()
        chunks.append(b.extract_dup(0, b.get_size()))
    pipe.set_state(Gst.State.NULL)
    got = np.frombuffer(b"".join(chunks), np.float32).reshape(-1, 2)
    snn = Physnn.Snn.new_from_file(path)
    snn.set_property("dt", DT)
    ref = engine_run(snn, x)
    diff = float(np.max(np.abs(got - ref))) if got.shape == ref.shape else None
    print(f"\npipeline check ({p['kind']} stream): gst-launch-1.0 pdesrc "
          f"{pdesrc_props(p)} outputs=sensors ! {SPIKEENC} ! snninfer "
          f"model={os.path.basename(path)} output=membrane: {got.shape[0]} steps, "
          f"max |pipeline - engine| = {diff}", flush=True)
    return diff


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", type=int, default=320, help="training streams")
    ap.add_argument("--test", type=int, default=200, help="held-out streams")
    ap.add_argument("--epochs", type=int, default=14)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", default=os.path.join(HERE, "snn_faults.nir"))
    ap.add_argument("--eval-only", action="store_true",
                    help="evaluate the existing --out file, no training")
    ap.add_argument("--from-nir",
                    help="no training: take the weights of this file (an "
                    "earlier run's), write --out, evaluate")
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(int(os.environ.get("PHYSNN_TORCH_THREADS", "1")))
    rng = np.random.default_rng(args.seed)
    t0 = time.time()
    # training seeds 1..; held-out seeds 1 000 000.. (never seen in training)
    test = dataset(args.test, 1_000_000, np.random.default_rng(args.seed + 1))
    if args.from_nir:
        net = Net()
        load_nir(net, args.from_nir)
        save(net, args.out)
        print(f"wrote {args.out} from the weights of {args.from_nir}")
    elif not args.eval_only:
        train = dataset(args.train, 1, rng)
        print(f"data: {args.train} training and {args.test} held-out streams "
              f"in {time.time() - t0:.1f} s; input spikes per step "
              f"{train[0].mean() * N_IN:.2f}", flush=True)
        xs = torch.tensor(train[0], dtype=torch.float32).transpose(0, 1)
        ys = torch.tensor(np.repeat(train[1], STEPS, axis=1)).transpose(0, 1)
        ws = torch.tensor(np.repeat(train[2], STEPS, axis=1)).transpose(0, 1)
        net = Net()
        opt = torch.optim.Adam(net.parameters(), lr=1e-2)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.epochs)
        n = xs.shape[1]
        for ep in range(args.epochs):
            perm = torch.randperm(n)
            tot, correct, cnt, hs = 0.0, 0.0, 0.0, 0.0
            for b0 in range(0, n, args.batch):
                idx = perm[b0:b0 + args.batch]
                out, nspk = net(xs[:, idx])
                y, w = ys[:, idx], ws[:, idx]
                ce = torch.nn.functional.cross_entropy(
                    out.reshape(-1, 2), y.reshape(-1),
                    reduction="none").reshape(y.shape)
                loss = (ce * w).sum() / w.sum()
                opt.zero_grad()
                loss.backward()
                opt.step()
                tot += float(loss) * len(idx)
                pred = out.argmax(-1)
                correct += float(((pred == y).float() * w).sum())
                cnt += float(w.sum())
                hs += float(nspk)
            sched.step()
            print(f"epoch {ep + 1:3d}: loss {tot / n:.4f}, step accuracy "
                  f"{100 * correct / cnt:.1f} %, hidden spikes per step "
                  f"{hs / (n * xs.shape[0]):.2f}, {time.time() - t0:.0f} s",
                  flush=True)
            # after every epoch: an interrupted run still leaves a model
            save(net, args.out)
        print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes)")
        # the engine must compute what torch trained
        with torch.no_grad():
            ref, _ = net(torch.tensor(test[0][:4], dtype=torch.float32)
                         .transpose(0, 1))
        snn = Physnn.Snn.new_from_file(args.out)
        snn.set_property("dt", DT)
        d = max(float(np.max(np.abs(engine_run(snn, test[0][i]) -
                                    ref[:, i].numpy()))) for i in range(4))
        print(f"physnn engine vs torch on 4 held-out streams: max |diff| of "
              f"the outputs {d:.2e}")
    acc, conf = evaluate(args.out, test, "held-out streams (physnn SNN engine)")
    k = next(i for i, (p, _) in enumerate(test[3]) if p["kind"] == "drift")
    pipeline_check(args.out, test[3][k][0], test[0][k])
    print(f"total {time.time() - t0:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
