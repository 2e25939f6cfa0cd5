#!/usr/bin/python3
"""Quantized models against references physnn did not write.

Models: the shipped heat PINN (builtin:heat1d_pinn) and a small MLP and CNN
trained here by PyTorch on sklearn's digits (quant_digits.py). Plans:
uniform fp16/int8/int4, per-tensor asymmetric int8, asymmetric int4, a
mixed plan, a bias-corrected int4 plan, fine-tuned int4 and mixed plans
(integers, scales, fp16/fp32 weights and biases refitted; PINN: physics
loss, digits: the float model's outputs), and int8 weights with int8
activations calibrated from data.

For each plan physnn writes the QDQ ONNX model, and
  - ONNX Runtime (PyPI, in the build's venv; >= 1.18 for int4) runs it: the
    outputs of the `qinfer` element (GStreamer pipeline, on the CPU
    reference path and on device=auto) must be within 1e-5 relative of
    ONNX Runtime's for weight-only plans;
  - PyTorch's fake_quantize_per_channel_affine, given physnn's scales and
    zero points, must reproduce physnn's dequantized weights (differences
    allowed only at exact rounding ties, where float32 and float64 may round
    differently); fine-tuned integers are not the originals' rounding, so
    for those plans only their range is checked (and the share that moved
    printed);
  - a float64 PyTorch forward pass with those dequantized weights (the
    fake-quantization reference) must match physnn's reference path within
    1e-6 and OpenCL within 1e-5 relative (fp32 rounding);
  - int8 activations: against ONNX Runtime operator by operator (its graph
    optimizations fuse Q/DQ into integer kernels that depart from the QDQ
    semantics on this CPU; the size of that departure is printed).
Also: qinfer mode=calibrate writes a plan with progress messages on the
bus; pinninfer runs a plan and its derivatives give the physics loss the
objective measured; `physnn quantize` end to end (also --fine-tune and
--layer-precisions, its QDQ file in ONNX Runtime) and its errors.
"""
import math
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import snnvenv  # noqa: E402

snnvenv.reexec(["onnxruntime"])

import numpy as np  # noqa: E402
import torch  # noqa: E402
import gi  # noqa: E402

gi.require_version("Physnn", "1.0")
gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst, Physnn  # noqa: E402

import quant_digits  # noqa: E402

# torch.onnx.export aborts once onnx or onnxruntime is imported (two
# protobuf runtimes in one process): train and export the digits models
# first.
TMP = tempfile.TemporaryDirectory()
DIGITS = quant_digits.make(TMP.name, epochs=8)

Gst.init(None)
failures = []
checks = 0


def check(name, err, bound):
    global checks
    checks += 1
    ok = err <= bound
    print(f"{'ok  ' if ok else 'FAIL'} {name}: {err:.3g} (bound {bound:.0e})",
          flush=True)
    if not ok:
        failures.append(name)


def rel(a, b):
    a = np.asarray(a, np.float64).ravel()
    b = np.asarray(b, np.float64).ravel()
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def Tf(a):
    a = np.ascontiguousarray(a, np.float32)
    return Physnn.Tensor.new_from_bytes(Physnn.DType.FLOAT32, list(a.shape),
                                        GLib.Bytes.new(a.tobytes()))


def arr(t):
    n = t.get_n_elements()
    return np.array(t.to_doubles(), np.float64)[:n]


HAVE_ORT = snnvenv.have("onnxruntime")
ORT_INT4 = False
if HAVE_ORT:
    import onnxruntime as ort
    v = tuple(int(p) for p in ort.__version__.split(".")[:2])
    ORT_INT4 = v >= (1, 18)
    print(f"onnxruntime {ort.__version__}", flush=True)
    if not ORT_INT4:
        snnvenv.banner("onnxruntime %s < 1.18 cannot run int4 models: int4 "
                       "ORT comparisons SKIPPED" % ort.__version__)
else:
    snnvenv.banner("onnxruntime unavailable: every ONNX Runtime comparison "
                   "is SKIPPED")

import onnx  # noqa: E402  (Debian's; reads the QDQ files)
from onnx import numpy_helper  # noqa: E402


def ort_run(path, x, optimize=True):
    so = ort.SessionOptions()
    if not optimize:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    return s.run(None, {s.get_inputs()[0].name: x})[0]


def gst_run(desc, x, dims, timeout=120):
    """Pushes x as one buffer through appsrc ! DESC ! appsink; returns the
    first output tensor, the element messages and any error."""
    pipe = Gst.parse_launch(f"appsrc name=src format=time ! {desc} ! "
                            "appsink name=sink sync=false")
    src = pipe.get_by_name("src")
    src.set_property("caps", Gst.Caps.from_string(
        "other/tensors,format=static,types=float32,"
        f"dimensions=(string){dims},framerate=(fraction)0/1"))
    sink = pipe.get_by_name("sink")
    pipe.set_state(Gst.State.PLAYING)
    buf = Gst.Buffer.new_wrapped(np.ascontiguousarray(x, np.float32)
                                 .tobytes())
    buf.pts = 0
    src.emit("push-buffer", buf)
    src.emit("end-of-stream")
    # appsink holds EOS back until its samples are pulled: pull first
    out = None
    sample = sink.emit("try-pull-sample", timeout * Gst.SECOND)
    if sample is not None:
        b = sample.get_buffer()
        mem = b.peek_memory(0)
        ok, info = mem.map(Gst.MapFlags.READ)
        out = np.frombuffer(bytes(info.data), np.float32).copy()
        mem.unmap(info)
    bus = pipe.get_bus()
    msgs, error = [], None
    while True:
        m = bus.timed_pop_filtered(timeout * Gst.SECOND, Gst.MessageType.EOS |
                                   Gst.MessageType.ERROR |
                                   Gst.MessageType.ELEMENT)
        if m is None:
            error = "timeout"
            break
        if m.type == Gst.MessageType.ELEMENT:
            msgs.append(m.get_structure().copy())
            continue
        if m.type == Gst.MessageType.ERROR:
            error = m.parse_error()[0].message
        break
    pipe.set_state(Gst.State.NULL)
    return out, msgs, error


def int4_values(t):
    raw = np.frombuffer(t.raw_data, np.uint8)
    n = int(np.prod(t.dims)) if len(t.dims) else 1
    v = np.empty(2 * len(raw), np.int16)
    v[0::2] = raw & 15
    v[1::2] = raw >> 4
    v = v[:n]
    if t.data_type == 22:       # INT4: sign-extend
        v = np.where(v >= 8, v - 16, v)
    return v.reshape(tuple(t.dims))


def dequantized_weights(qdq_path):
    """{weight name: (stored ints, scales, zero points, axis, bits, signed,
    DequantizeLinear result in float32)} from the QDQ file, plus fp16
    weights (float16 values)."""
    m = onnx.load(qdq_path)
    inits = {t.name: t for t in m.graph.initializer}
    out, fp16 = {}, {}
    for n in m.graph.node:
        if n.op_type == "Cast" and n.input[0] in inits:
            fp16[n.output[0]] = numpy_helper.to_array(inits[n.input[0]])
        if n.op_type != "DequantizeLinear" or n.input[0] not in inits:
            continue
        t = inits[n.input[0]]
        four = t.data_type in (21, 22)
        q = int4_values(t) if four else numpy_helper.to_array(t)
        s = numpy_helper.to_array(inits[n.input[1]]).astype(np.float32)
        if len(n.input) > 2:
            zt = inits[n.input[2]]
            z = (int4_values(zt) if zt.data_type in (21, 22)
                 else numpy_helper.to_array(zt)).astype(np.int32)
        else:
            z = np.zeros_like(s, np.int32)
        axis = next((a.i for a in n.attribute if a.name == "axis"), 1)
        signed = t.data_type in (3, 22)
        bits = 4 if four else 8
        sh = [1] * q.ndim
        if s.ndim:
            sh[axis] = -1
        deq = ((q.astype(np.float32) - z.reshape(sh).astype(np.float32))
               * s.reshape(sh)).astype(np.float32)
        out[n.output[0]] = (q, s, z, axis, bits, signed, deq)
    # float initializers (biases, possibly corrected by the plan)
    for name, t in inits.items():
        if t.data_type == 1 and name not in out:
            fp16.setdefault("float:" + name, numpy_helper.to_array(t))
    return out, fp16


def check_weights_vs_torch(label, orig_path, qdq_path, tuned=False):
    orig = {t.name: numpy_helper.to_array(t)
            for t in onnx.load(orig_path).graph.initializer}
    dq, fp16 = dequantized_weights(qdq_path)
    worst = 0.0
    for name, (q, s, z, axis, bits, signed, deq) in dq.items():
        w = torch.from_numpy(orig[name].astype(np.float32))
        qmax = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1
        qmin = -qmax if signed else 0
        if s.ndim == 0:
            ref = torch.fake_quantize_per_tensor_affine(
                w, float(s), int(z), qmin, qmax)
            ratio = orig[name] / float(s)
        else:
            ref = torch.fake_quantize_per_channel_affine(
                w, torch.from_numpy(s), torch.from_numpy(z), axis, qmin, qmax)
            sh = [1] * w.dim()
            sh[axis] = -1
            ratio = orig[name] / s.reshape(sh)
        ref = ref.numpy()
        if tuned:
            # fine-tuned integers are rounded from adapted weights, so
            # they need not equal the originals' rounding; they must be
            # in range and stay near it
            over = int(np.sum((q < qmin) | (q > qmax)))
            check(f"{label} {name}: stored integers in [{qmin}, {qmax}]",
                  over, 0)
            moved = float(np.mean(ref != deq))
            print(f"info {label} {name}: {100 * moved:.1f} % of the "
                  "weights moved off the originals' rounding", flush=True)
            continue
        diff = ref != deq
        # rounding ties: float32 (torch) and float64 (physnn) may differ
        tie = np.abs(np.abs(ratio - np.floor(ratio)) - 0.5) < 1e-4
        bad = int(np.sum(diff & ~tie))
        worst = max(worst, bad)
    for name, h in fp16.items():
        if name.startswith("float:") or tuned:
            continue
        ref = torch.from_numpy(orig[name].astype(np.float32)).half().numpy()
        worst = max(worst, int(np.sum(ref != h)))
    if not tuned:
        check(f"{label}: dequantized weights equal torch fake-quantization "
              "(mismatches outside rounding ties)", worst, 0)
    return dq, fp16


def torch_fakequant_forward(kind, module, dq, fp16, x):
    """float64 forward of the torch module with physnn's dequantized
    weights."""
    import copy
    mod = copy.deepcopy(module).double()
    names = {"mlp": {"fc1.weight", "fc2.weight", "fc3.weight"},
             "cnn": {"conv1.weight", "conv2.weight", "fc.weight"}}[kind]
    with torch.no_grad():
        for pname, p in mod.named_parameters():
            if pname in dq:
                p.copy_(torch.from_numpy(dq[pname][6].astype(np.float64)))
            elif pname in fp16:
                p.copy_(torch.from_numpy(fp16[pname].astype(np.float64)))
            elif "float:" + pname in fp16:
                # a bias as the QDQ file stores it (corrected or not)
                p.copy_(torch.from_numpy(fp16["float:" + pname]
                                         .astype(np.float64)))
            elif pname in names:
                pass            # fp32 layer
        return mod(torch.from_numpy(x.astype(np.float64))).numpy()


def plans(model, calib_x):
    P = Physnn.Precision
    out = []
    for name, prec in (("fp16", P.FP16), ("int8", P.INT8), ("int4", P.INT4)):
        p = Physnn.QuantPlan.new(model)
        p.set_all(prec)
        out.append((name, p, False))
    p = Physnn.QuantPlan.new(model)
    p.set_per_channel(False)
    p.set_symmetric(False)
    p.set_weight_calibration(Physnn.Calibration.MINMAX, 99.99)
    p.set_all(P.INT8)
    out.append(("int8-per-tensor-asym-minmax", p, False))
    p = Physnn.QuantPlan.new(model)
    p.set_symmetric(False)
    p.set_weight_calibration(Physnn.Calibration.PERCENTILE, 99.9)
    p.set_all(P.INT4)
    out.append(("int4-asym-percentile", p, False))
    p = Physnn.QuantPlan.new(model)
    cycle = [P.INT4, P.INT8, P.FP16, P.FP32]
    for i in range(p.get_n_layers()):
        p.set_precision(i, cycle[i % 4])
    out.append(("mixed", p, False))
    # int4 with biases refitted to the float model's outputs
    p = Physnn.QuantPlan.new(model)
    p.set_all(P.INT4)
    xs = calib_x if calib_x is not None else None
    if xs is not None:
        y = model.run(Physnn.Device.new("cpu"), [Tf(xs)])[0]
        obj = Physnn.QuantObjective.new_regression(model, [Tf(xs)], y)
        ok, before, _ = obj.evaluate(p)
        ok, after = obj.correct_biases(p, 20)
        check(f"bias correction lowers the output error ({before:.3g} -> "
              f"{after:.3g})", 0 if after < before else 1, 0)
        out.append(("int4-bias-corrected", p, False))
    # fine-tuned (integers, scales, fp16/fp32 values and biases refitted):
    # int4 everywhere, and the mixed plan with every precision
    for name, mixed in (("int4-fine-tuned", False),
                        ("mixed-fine-tuned", True)):
        p = Physnn.QuantPlan.new(model)
        for i in range(p.get_n_layers()):
            p.set_precision(i, cycle[i % 4] if mixed else P.INT4)
        if model.get_metadata("physnn.pde"):
            # a PINN: its physics loss (default collocation points)
            obj = Physnn.QuantObjective.new_physics(model, None, None, None)
        else:
            y = model.run(Physnn.Device.new("cpu"), [Tf(xs)])[0]
            obj = Physnn.QuantObjective.new_regression(model, [Tf(xs)], y)
        ok, before, _ = obj.evaluate(p)
        ok, after = obj.fine_tune(p, 10)
        check(f"fine-tuning lowers the loss ({before:.3g} -> {after:.3g})",
              0 if after < before else 1, 0)
        check("fine-tuning marks every layer",
              sum(not p.get_fine_tuned(i) for i in range(p.get_n_layers())),
              0)
        out.append((name, p, False))
    if calib_x is not None:
        p = Physnn.QuantPlan.new(model)
        p.set_all(P.INT8)
        cal = Physnn.QuantCalibrator.new(model)
        cal.add_batch([Tf(calib_x)])
        cal.apply(p, Physnn.Calibration.PERCENTILE, 99.99)
        out.append(("int8+activations", p, True))
    return out


def run_case(tmp, label, model_spec, orig_path, x, dims, kind=None,
             module=None, labels=None):
    model = (Physnn.Model.new_builtin(model_spec[8:])
             if model_spec.startswith("builtin:")
             else Physnn.Model.new_from_file(model_spec))
    cpu = Physnn.Device.new("cpu")
    try:
        ocl = Physnn.Device.new("opencl")
    except GLib.Error:
        ocl = None
        snnvenv.banner("no OpenCL device: OpenCL comparisons SKIPPED")
    for pname, plan, acts in plans(model, x[: len(x) // 2]):
        tag = f"{label} {pname}"
        qpath = os.path.join(tmp, f"{label}-{pname}.onnx")
        jpath = os.path.join(tmp, f"{label}-{pname}.json")
        plan.export_onnx(qpath)
        plan.save(jpath)
        has4 = "int4" in pname or pname.startswith("mixed")
        tuned = pname.endswith("fine-tuned")
        q = plan.apply()
        y_cpu = arr(q.run(cpu, [Tf(x)])[0])
        y_ocl = arr(q.run(ocl, [Tf(x)])[0]) if ocl else None
        y_qi, _, err = gst_run(f"qinfer model={model_spec} plan={jpath} "
                               "device=cpu", x, dims)
        y_qa, _, err2 = gst_run(f"qinfer model={model_spec} plan={jpath} "
                                "device=auto", x, dims)
        if err or err2:
            print(f"FAIL {tag}: qinfer error: {err or err2}")
            failures.append(tag + " qinfer")
            continue
        check(f"{tag}: qinfer (cpu) equals the quantized model's run",
              rel(y_qi, y_cpu), 0)
        if HAVE_ORT and (ORT_INT4 or not has4):
            y_ort = ort_run(qpath, x.astype(np.float32))
            if not acts:
                check(f"{tag}: qinfer cpu vs ONNX Runtime", rel(y_qi, y_ort),
                      1e-5)
                check(f"{tag}: qinfer device=auto vs ONNX Runtime",
                      rel(y_qa, y_ort), 1e-5)
            else:
                # With its graph optimizations ONNX Runtime fuses Q/DQ pairs
                # into integer kernels (on this x86 CPU u8s8 products whose
                # int16 pair sums can saturate), which departs from the QDQ
                # semantics; operator by operator it computes what the
                # graph says. Compare with that, and report the fused one.
                y_sem = ort_run(qpath, x.astype(np.float32), optimize=False)
                # An activation whose value sits within float rounding of a
                # quantization boundary may land one int8 step apart (the
                # reference path holds activations in float64, ORT in
                # float32): most outputs agree to 1e-5, a few move by one
                # step's effect.
                for dev, y in (("cpu", y_qi), ("auto", y_qa)):
                    d = np.abs(y - y_sem.ravel()) / np.max(np.abs(y_sem))
                    check(f"{tag}: qinfer {dev} vs ONNX Runtime (operator by "
                          "operator): share of outputs off by more than 1e-5",
                          float(np.mean(d > 1e-5)), 0.01)
                    check(f"{tag}: qinfer {dev} vs ONNX Runtime (operator by "
                          "operator): largest difference", float(d.max()),
                          1e-2)
                print(f"info {tag}: ONNX Runtime with graph optimizations "
                      f"(fused int8 kernels) differs from its own "
                      f"operator-by-operator result by {rel(y_ort, y_sem):.3g}"
                      " relative", flush=True)
        elif has4:
            print(f"SKIP {tag}: ONNX Runtime cannot run int4", flush=True)
        if acts:
            continue
        dq, fp16 = check_weights_vs_torch(tag, orig_path, qpath, tuned)
        if module is not None:
            ref = torch_fakequant_forward(kind, module, dq, fp16, x)
            check(f"{tag}: reference path vs float64 torch fake-quant",
                  rel(y_cpu, ref), 1e-6)
            # the classification objective: cross-entropy and accuracy of
            # the quantized model vs torch's on the fake-quantized module
            obj = Physnn.QuantObjective.new_classification(
                model, [Tf(x)], Tf(labels.astype(np.float32)))
            ok, loss, acc = obj.evaluate(plan)
            lt = torch.nn.functional.cross_entropy(
                torch.from_numpy(ref), torch.from_numpy(labels)).item()
            check(f"{tag}: objective cross-entropy vs torch", abs(loss / lt - 1),
                  1e-6)
            check(f"{tag}: objective accuracy vs torch",
                  abs(acc - float(np.mean(ref.argmax(1) == labels))), 0)
            if y_ocl is not None:
                check(f"{tag}: OpenCL vs float64 torch fake-quant",
                      rel(y_ocl, ref), 1e-5)
        elif y_ocl is not None:
            check(f"{tag}: OpenCL vs reference path", rel(y_ocl, y_cpu), 1e-5)


def calibrate_element(tmp, model_path, x, dims):
    path = os.path.join(tmp, "calibrated.json")
    _, msgs, err = gst_run(f"qinfer model={model_path} mode=calibrate "
                           f"plan={path} target-bits=6.5 device=cpu", x, dims,
                           timeout=600)
    prog = [m for m in msgs if m.get_name() == "physnn-quant-progress"]
    done = [m for m in msgs if m.get_name() == "physnn-quant-plan"]
    check("qinfer mode=calibrate: no error", 0 if err is None else 1, 0)
    check("qinfer mode=calibrate: progress messages on the bus",
          0 if prog else 1, 0)
    check("qinfer mode=calibrate: plan message on the bus and a file",
          0 if done and os.path.exists(path) else 1, 0)
    if done:
        check("calibrated plan meets target-bits 6.5",
              done[0].get_value("average-bits"), 6.5)
    return path


def pinninfer_plan(tmp):
    model = Physnn.Model.new_builtin("heat1d_pinn")
    obj = Physnn.QuantObjective.new_physics(model, None, None, None)
    plan = Physnn.QuantPlan.new(model)
    plan.set_all(Physnn.Precision.INT8)
    ok, loss, _ = obj.evaluate(plan)
    path = os.path.join(tmp, "heat-int8.json")
    plan.save(path)
    rng = np.random.default_rng(3)
    pts = rng.random((4096, 2)).astype(np.float32)
    outs = []
    for p in (None, path):
        planarg = f" plan={path}" if p else ""
        pipe = Gst.parse_launch(
            "appsrc name=src ! pinninfer model=builtin:heat1d_pinn "
            f"derivatives=u_t,u_xx{planarg} ! appsink name=sink sync=false")
        src = pipe.get_by_name("src")
        src.set_property("caps", Gst.Caps.from_string(
            "other/tensors,format=static,types=float32,"
            "dimensions=(string)2:4096,framerate=(fraction)0/1"))
        pipe.set_state(Gst.State.PLAYING)
        b = Gst.Buffer.new_wrapped(pts.tobytes())
        b.pts = 0
        src.emit("push-buffer", b)
        s = pipe.get_by_name("sink").emit("try-pull-sample", 60 * Gst.SECOND)
        buf = s.get_buffer()
        t = []
        for k in range(3):
            ok_, info = buf.peek_memory(k).map(Gst.MapFlags.READ)
            t.append(np.frombuffer(bytes(info.data), np.float32)
                     .astype(np.float64))
            buf.peek_memory(k).unmap(info)
        outs.append(t)
        pipe.set_state(Gst.State.NULL)
    r_f = outs[0][1] - 0.1 * outs[0][2]
    r_q = outs[1][1] - 0.1 * outs[1][2]
    # the quantized residual differs from the float one and its mean square
    # is the physics loss the objective measured on other points
    check("pinninfer plan=int8 changes the derivatives",
          0 if rel(r_q, r_f) > 1e-4 else 1, 0)
    check("pinninfer plan=int8: physics loss vs the objective's (other "
          "points)", abs(np.mean(r_q ** 2) / loss - 1), 0.25)
    qpath = os.path.join(tmp, "heat-int8.onnx")
    plan.export_onnx(qpath)
    if HAVE_ORT:
        check("pinninfer plan=int8 u vs ONNX Runtime on the QDQ model",
              rel(outs[1][0], ort_run(qpath, pts)), 1e-5)


def cli(tmp, d):
    """physnn quantize end to end: files written, the plan reads back, ONNX
    Runtime runs the QDQ file like the plan's model; errors exit non-zero
    naming the problem."""
    import subprocess
    exe = os.path.join(os.environ["PHYSNN_BUILD_DIR"], "tools", "physnn")
    np.save(os.path.join(tmp, "x.npy"), d["x_train"][:300])
    np.save(os.path.join(tmp, "y.npy"), d["y_train"][:300])
    plan, qonnx = os.path.join(tmp, "cli.json"), os.path.join(tmp, "cli.onnx")
    front, png = os.path.join(tmp, "front.json"), os.path.join(tmp, "f.png")
    r = subprocess.run([exe, "quantize", d["mlp"], "--data",
                        os.path.join(tmp, "x.npy"), "--labels",
                        os.path.join(tmp, "y.npy"), "--target-bits", "6.5",
                        "--greedy", "-q", "-o", plan, "--onnx", qonnx,
                        "--front", front, "--plot", png],
                       capture_output=True, text=True)
    print(r.stdout + r.stderr, flush=True)
    check("physnn quantize exits 0", r.returncode, 0)
    check("physnn quantize wrote plan, ONNX, front and plot",
          sum(not os.path.exists(f) for f in (plan, qonnx, front, png)), 0)
    if r.returncode == 0:
        m = Physnn.Model.new_from_file(d["mlp"])
        p = Physnn.QuantPlan.new_from_file(m, plan)
        check("CLI plan meets --target-bits 6.5", p.get_average_bits(), 6.5)
        x = d["x_test"][:64]
        y = arr(p.apply().run(Physnn.Device.new("cpu"), [Tf(x)])[0])
        if HAVE_ORT:
            check("CLI QDQ file in ONNX Runtime vs the plan's model",
                  rel(y, ort_run(qonnx, x)), 1e-5)
    # fine-tuning from the command line: the plan reads back fine-tuned,
    # its QDQ file runs in ONNX Runtime like the plan's model
    plan, qonnx = os.path.join(tmp, "ft.json"), os.path.join(tmp, "ft.onnx")
    r = subprocess.run([exe, "quantize", "builtin:heat1d-pinn", "--uniform",
                        "int4", "--fine-tune", "10", "-q", "-o", plan,
                        "--onnx", qonnx], capture_output=True, text=True)
    print(r.stdout + r.stderr, flush=True)
    check("physnn quantize --fine-tune exits 0", r.returncode, 0)
    if r.returncode == 0:
        m = Physnn.Model.new_builtin("heat1d_pinn")
        p = Physnn.QuantPlan.new_from_file(m, plan)
        check("CLI --fine-tune plan is fine-tuned",
              sum(not p.get_fine_tuned(i) for i in range(p.get_n_layers())),
              0)
        x = np.random.default_rng(5).random((256, 2)).astype(np.float32)
        y = arr(p.apply().run(Physnn.Device.new("cpu"), [Tf(x)])[0])
        if HAVE_ORT and ORT_INT4:
            check("CLI --fine-tune QDQ file in ONNX Runtime vs the plan's "
                  "model", rel(y, ort_run(qonnx, x)), 1e-5)
    # a plan fixed by hand, layer by layer: int8 ends, int4 hidden, per
    # tensor, asymmetric -- within fp32 bytes / 5 (1792 of 8964): 64 + 32
    # int8 and 2 x 512 int4 bytes, 4 scales and zero points, 97 float
    # biases: 96 + 1024 + 4 x 5 + 388 = 1528
    plan, qonnx = os.path.join(tmp, "lp.json"), os.path.join(tmp, "lp.onnx")
    r = subprocess.run([exe, "quantize", "builtin:heat1d-pinn",
                        "--layer-precisions", "int8,int4,int4,int8",
                        "--per-tensor", "--asymmetric", "--max-bytes", "1792",
                        "--fine-tune", "5", "-q", "-o", plan, "--onnx",
                        qonnx], capture_output=True, text=True)
    print(r.stdout + r.stderr, flush=True)
    check("physnn quantize --layer-precisions exits 0", r.returncode, 0)
    if r.returncode == 0:
        m = Physnn.Model.new_builtin("heat1d_pinn")
        p = Physnn.QuantPlan.new_from_file(m, plan)
        check("CLI --layer-precisions plan has the given precisions",
              0 if [p.get_precision(i).value_nick for i in range(4)] ==
              ["int8", "int4", "int4", "int8"] and not p.get_per_channel()
              and not p.get_symmetric() else 1, 0)
        ok, f, b, ratio, _ = p.estimate_compression()
        check("CLI --layer-precisions plan bytes (1528 expected)",
              abs(b - 1528), 0)
        x = np.random.default_rng(6).random((256, 2)).astype(np.float32)
        y = arr(p.apply().run(Physnn.Device.new("cpu"), [Tf(x)])[0])
        if HAVE_ORT and ORT_INT4:
            check("CLI --layer-precisions QDQ file in ONNX Runtime vs the "
                  "plan's model", rel(y, ort_run(qonnx, x)), 1e-5)
    bad = [([exe, "quantize", "builtin:heat1d-pinn", "--target-bits", "6.5",
             "--pin", "*net.2*,*net.4*", "-q"], "impossible"),
           ([exe, "quantize", "builtin:heat1d-pinn", "--layer-precisions",
             "int8,int4,int4", "-q"], "the model has 4 layers"),
           ([exe, "quantize", "builtin:heat1d-pinn", "--layer-precisions",
             "int8,int4,int4,int8", "--max-bytes", "1792", "-q"],
            "above --max-bytes 1792"),
           ([exe, "quantize", d["mlp"], "--data", os.path.join(tmp, "y.npy"),
             "--uniform", "int8", "--activations", "minmax"], "expects"),
           ([exe, "quantize", "builtin:heat1d-pinn", "--target-bits", "6.5",
             "--hardware", "rx9000", "-q"], "rx9000"),
           ([exe, "quantize", "builtin:heat1d-pinn", "--uniform", "int8",
             "--fine-tune", "-5", "-q"], "non-negative")]
    for cmd, needle in bad:
        r = subprocess.run(cmd, capture_output=True, text=True)
        check(f"physnn quantize error mentions \"{needle}\"",
              0 if r.returncode != 0 and needle in r.stderr else 1, 0)


def main():
    with TMP as tmp:
        d = DIGITS
        rng = np.random.default_rng(1)
        heat_x = rng.random((512, 2)).astype(np.float32)
        heat_onnx = os.path.join(tmp, "heat.onnx")
        Physnn.QuantPlan.new(Physnn.Model.new_builtin("heat1d_pinn")) \
            .export_onnx(heat_onnx)     # all fp32: the original weights
        run_case(tmp, "heat", "builtin:heat1d_pinn", heat_onnx, heat_x,
                 "2:512")
        xm = d["x_test"][:256]
        ym = d["y_test"][:256]
        run_case(tmp, "mlp", d["mlp"], d["mlp"], xm, "64:256", "mlp",
                 d["torch"]["mlp"], ym)
        xc = d["x_test"][:256].reshape(-1, 1, 8, 8)
        run_case(tmp, "cnn", d["cnn"], d["cnn"], xc, "8:8:1:256", "cnn",
                 d["torch"]["cnn"], ym)
        plan = calibrate_element(tmp, d["mlp"], d["x_train"][:512], "64:512")
        if os.path.exists(plan) and HAVE_ORT:
            m = Physnn.Model.new_from_file(d["mlp"])
            p = Physnn.QuantPlan.new_from_file(m, plan)
            qpath = os.path.join(tmp, "calibrated.onnx")
            p.export_onnx(qpath)
            y, _, err = gst_run(f"qinfer model={d['mlp']} plan={plan} "
                                "device=auto", xm, "64:256")
            yo = ort_run(qpath, xm).reshape(len(xm), -1)
            check("calibrated plan: qinfer vs ONNX Runtime, share of "
                  "differing classes",
                  float(np.mean(y.reshape(len(xm), -1).argmax(1)
                                != yo.argmax(1))), 0.01)
        pinninfer_plan(tmp)
        cli(tmp, d)
    print(f"{checks} checks, {len(failures)} failures")
    if failures:
        print("FAILED: " + "; ".join(failures))
        sys.exit(1)


main()
