#!/usr/bin/python3
"""spikeenc ! snninfer on the pdesrc sensor stream, through
Gst.parse_launch as a user writes it:

- dense spikes: snninfer's output equals the engine (PhysnnSnn, C path)
  run on the spikes spikeenc produced (tapped with a tee), buffer after
  buffer with the state carried, and every buffer's `snninfer` message
  counts the encoder's spikes as its input spikes;
- address events out: the events decode to the same spikes, with step
  timestamps inside each buffer's [PTS, PTS + duration);
- online STDP with save-location: the learned network is written at EOS and
  loads back with changed weights.
"""
import os
import struct
import sys
import tempfile

import numpy as np
import gi

gi.require_version("Gst", "1.0")
gi.require_version("Physnn", "1.0")
from gi.repository import Gst, Physnn  # noqa: E402

Gst.init(None)
failures = []
N_IN, N_OUT, STEPS, BUFFERS = 16, 8, 20, 15


def check(name, ok, detail=""):
    print("%s %s: %s" % ("ok  " if ok else "FAIL", name, detail), flush=True)
    if not ok:
        failures.append(name)


def T(a, dtype=Physnn.DType.FLOAT32):
    a = np.asarray(a, dtype=float)
    return Physnn.Tensor.new_from_doubles(dtype, list(a.shape), a.ravel().tolist())


def write_model(path):
    rng = np.random.default_rng(4)
    g = Physnn.NirGraph.new()
    i = g.add_node("input", "Input")
    g.set_param(i, "shape", T([N_IN], Physnn.DType.INT64))
    i = g.add_node("fc", "Linear")
    g.set_param(i, "weight", T(rng.uniform(0, 0.6, (N_OUT, N_IN))))
    i = g.add_node("lif", "LIF")
    for k, v in dict(tau=0.01, r=1.0, v_leak=0.0, v_threshold=1.0, v_reset=0.0).items():
        g.set_param(i, k, T(np.full(N_OUT, v)))
    i = g.add_node("output", "Output")
    g.set_param(i, "shape", T([N_OUT], Physnn.DType.INT64))
    g.add_edge("input", "fc")
    g.add_edge("fc", "lif")
    g.add_edge("lif", "output")
    g.save(path)


def run(launch):
    """Runs to EOS; returns (buffers per appsink name, snninfer messages)."""
    pipe = Gst.parse_launch(launch)
    sinks = {}
    it = pipe.iterate_sinks()
    while True:
        res, e = it.next()
        if res != Gst.IteratorResult.OK:
            break
        if e.get_factory().get_name() == "appsink":
            sinks[e.get_name()] = e
    got = {n: [] for n in sinks}
    pipe.set_state(Gst.State.PLAYING)
    bus = pipe.get_bus()
    msgs = []
    err = None
    while True:
        for n, s in sinks.items():
            while True:
                smp = s.emit("try-pull-sample", 0)
                if smp is None:
                    break
                b = smp.get_buffer()
                got[n].append((b.pts, b.duration, b.extract_dup(0, b.get_size()),
                               smp.get_caps().to_string()))
        m = bus.timed_pop_filtered(10 * Gst.MSECOND, Gst.MessageType.EOS |
                                   Gst.MessageType.ERROR | Gst.MessageType.ELEMENT)
        if m is None:
            continue
        if m.type == Gst.MessageType.ELEMENT:
            if m.get_structure().get_name() == "snninfer":
                msgs.append(m.get_structure())
            continue
        if m.type == Gst.MessageType.ERROR:
            err = m.parse_error()[0].message
        break
    for n, s in sinks.items():
        while True:
            smp = s.emit("try-pull-sample", 0)
            if smp is None:
                break
            b = smp.get_buffer()
            got[n].append((b.pts, b.duration, b.extract_dup(0, b.get_size()),
                           smp.get_caps().to_string()))
    pipe.set_state(Gst.State.NULL)
    return got, msgs, err


def main():
    tmp = tempfile.mkdtemp(prefix="physnn-snnpipe-")
    model = os.path.join(tmp, "net.nir")
    learned = os.path.join(tmp, "learned.nir")
    write_model(model)
    src = ("pdesrc sensors=%d outputs=sensors num-buffers=%d framerate=50/1 "
           "! spikeenc method=rate num-steps=%d seed=3 gain=2.0 ! tee name=t "
           "t. ! queue ! appsink name=enc sync=false "
           "t. ! queue ! snninfer model=%s post-messages=true device=cpu "
           % (N_IN, BUFFERS, STEPS, model))

    got, msgs, err = run(src + "! appsink name=out sync=false")
    check("dense pipeline runs", err is None and len(got["out"]) == BUFFERS,
          err or "%d buffers" % len(got["out"]))
    if err is None:
        snn = Physnn.Snn.new_from_file(model)
        dev = Physnn.Device.new("cpu")
        same, in_spikes_ok = True, True
        for k, ((_, _, xb, _), (_, _, yb, _)) in enumerate(zip(got["enc"], got["out"])):
            x = np.frombuffer(xb, np.uint8).reshape(STEPS, N_IN)
            y = np.frombuffer(yb, np.uint8).reshape(STEPS, N_OUT)
            t = snn.run_new(dev, T(x, Physnn.DType.UINT8), STEPS, Physnn.SnnRecord.OUTPUT)
            want = np.frombuffer(t.get_bytes().get_data(), np.float32).reshape(STEPS, N_OUT)
            same &= np.array_equal(y, want != 0)
            if k < len(msgs):
                in_spikes_ok &= msgs[k].get_uint64("input-spikes")[1] == int(x.sum())
        total = sum(np.frombuffer(b[2], np.uint8).sum() for b in got["out"])
        check("snninfer output = engine on the encoder's spikes",
              same and 0 < total < BUFFERS * STEPS * N_OUT // 2,
              "%d output spikes over %d buffers" % (total, BUFFERS))
        check("snninfer messages count the encoder's spikes",
              in_spikes_ok and len(msgs) == BUFFERS, "%d messages" % len(msgs))

    got, _, err = run(src + "! application/x-spike-events ! appsink name=out sync=false")
    ok = err is None and len(got["out"]) == BUFFERS
    detail = err or ""
    if ok:
        n_ev = 0
        for pts, dur, data, caps in got["out"]:
            magic, ver, hs, n, steps, t0, d = struct.unpack_from("<IHHIIQQ", data)
            ok &= magic == 0x56455053 and steps == STEPS and t0 == pts and d == dur
            for e in range(n):
                ts, addr, sp = struct.unpack_from("<QII", data, hs + 16 * e)
                ok &= addr < N_OUT and pts <= ts < pts + dur
            n_ev += n
        detail = "%d events, caps %s" % (n_ev, got["out"][0][3])
        ok &= n_ev > 0
    check("address events out, timestamps inside their buffer", ok, detail)

    got, _, err = run(src.replace("post-messages=true",
                                  "post-messages=true stdp=true save-location=" + learned)
                      + "! appsink name=out sync=false")
    ok = err is None and os.path.exists(learned)
    detail = err or ""
    if ok:
        w0 = Physnn.Snn.new_from_file(model).get_weights("fc").get_bytes().get_data()
        w1 = Physnn.Snn.new_from_file(learned).get_weights("fc").get_bytes().get_data()
        changed = int((np.frombuffer(w0, np.float32) != np.frombuffer(w1, np.float32)).sum())
        ok = changed > 0
        detail = "%d of %d weights changed by STDP, saved at EOS" % (changed, N_IN * N_OUT)
    check("STDP learned network saved at EOS", ok, detail)

    for f in (model, learned):
        if os.path.exists(f):
            os.unlink(f)
    os.rmdir(tmp)
    if failures:
        print("FAILED: " + ", ".join(failures))
        sys.exit(1)
    print("all pass")


if __name__ == "__main__":
    main()
