#!/usr/bin/python3
"""Training from Python through GObject introspection: losses and their
gradients (checked against central differences computed here), Hessian
traces, and a PhysnnTrainer run with progress signals, history, saving
and its errors as GLib.Error."""
import math
import os
import tempfile
import unittest

import gi

gi.require_version("Physnn", "1.0")
from gi.repository import GLib, Physnn  # noqa: E402


def points(n, seed):
    # a fixed low-discrepancy-ish set in [0,1]^2, no numpy needed
    vals = []
    for i in range(n):
        vals.append(((i + 1) * 0.6180339887498949 + seed * 0.1) % 1.0)
        vals.append(((i + 1) * 0.7548776662466927 + seed * 0.3) % 1.0)
    return Physnn.Tensor.new_from_doubles(Physnn.DType.FLOAT64, [n, 2], vals)


def heat_exact(x, t):
    return math.exp(-0.1 * math.pi ** 2 * t) * math.sin(math.pi * x)


class Loss(unittest.TestCase):
    def setUp(self):
        self.model = Physnn.Model.new_mlp("x,t", "u", "6,6", "tanh", None, 5)

    def test_gradient_matches_differences(self):
        loss = Physnn.Loss.new(self.model)
        self.assertEqual(loss.add_residual("pde", "u_t = 0.1*u_xx",
                                           [points(24, 1)], 1.0), 0)
        self.assertEqual(loss.add_residual("initial", "u - sin(pi*x)",
                                           [points(12, 2)], 2.0), 1)
        ok, value, grad = loss.evaluate()
        self.assertTrue(ok)
        self.assertGreater(value, 0)
        g = list(grad.to_doubles())
        n = loss.get_n_parameters()
        self.assertEqual(len(g), n)
        self.assertEqual(n, 2 * 6 + 6 + 6 * 6 + 6 + 6 + 1)
        base = list(loss.get_parameters().to_doubles())
        h = 1e-6
        for i in range(0, n, 7):
            vals = []
            for s in (1, -1):
                p = list(base)
                p[i] += s * h
                loss.set_parameters(Physnn.Tensor.new_from_doubles(
                    Physnn.DType.FLOAT64, [n], p))
                vals.append(loss.evaluate()[1])
            fd = (vals[0] - vals[1]) / (2 * h)
            self.assertAlmostEqual(g[i], fd, delta=1e-6 * (1 + abs(fd)),
                                   msg=f"parameter {i}")
        loss.set_parameters(Physnn.Tensor.new_from_doubles(
            Physnn.DType.FLOAT64, [n], base))
        self.assertEqual(loss.get_term_name(1), "initial")
        self.assertEqual(loss.get_term_derivatives(0), "u_t,u_xx")

    def test_hessian_traces(self):
        loss = Physnn.Loss.new(self.model)
        loss.add_residual(None, "u_t - 0.1*u_xx", [points(16, 3)], 1.0)
        ok, traces, errs = loss.hutchinson(64, 7)
        self.assertTrue(ok)
        self.assertEqual(traces.get_n_elements(), loss.get_n_tensors())
        self.assertEqual(errs.get_n_elements(), loss.get_n_tensors())
        # the exact trace of one tensor from H e_i, i over its entries
        n = loss.get_n_parameters()
        k = loss.get_n_tensors() - 1    # the output bias: one entry
        off = loss.get_tensor_offset(k)
        self.assertEqual(loss.get_tensor_size(k), 1)
        e = [0.0] * n
        e[off] = 1.0
        hv = loss.hessian_vector_product(Physnn.Tensor.new_from_doubles(
            Physnn.DType.FLOAT64, [n], e))
        exact = hv.to_doubles()[off]
        # one entry: every Rademacher sample gives exactly the diagonal
        self.assertAlmostEqual(traces.to_doubles()[k], exact,
                               delta=1e-4 * (1 + abs(exact)))

    def test_errors(self):
        loss = Physnn.Loss.new(self.model)
        with self.assertRaises(GLib.Error) as ctx:
            loss.add_residual(None, "u_t - 0.1*", [points(4, 0)], 1.0)
        self.assertEqual(ctx.exception.code, int(Physnn.Error.PARSE))
        self.assertIn("column 11", ctx.exception.message)
        with self.assertRaises(GLib.Error) as ctx:
            loss.add_residual(None, "u_t - u_yy", [points(4, 0)], 1.0)
        self.assertIn("yy", ctx.exception.message)
        with self.assertRaises(GLib.Error):
            loss.evaluate()    # no terms


class Trainer(unittest.TestCase):
    def test_trains_heat_with_progress(self):
        model = Physnn.Model.new_mlp("x,t", "u", "16,16", "tanh",
                                     "sin(pi*x) + t*x*(1-x)*N", 1)
        tr = Physnn.Trainer.new(model)
        tr.set_domain("x=0:1,t=0:1")
        tr.define("alpha", 0.1)
        self.assertEqual(tr.add_pde("u_t - alpha*u_xx", 256, 1.0), 0)
        tr.props.adam_iterations = 150
        tr.props.learning_rate = 5e-3
        tr.props.lbfgs_iterations = 30
        tr.props.seed = 3
        tr.props.progress_interval = 50
        seen = []
        tr.connect("progress", lambda t, it, planned, phase, loss:
                   seen.append((it, planned, phase, loss)))
        self.assertTrue(tr.train(None))
        self.assertTrue(any(s[2] == "adam" for s in seen))
        self.assertTrue(any(s[2] == "lbfgs" for s in seen))
        self.assertEqual(seen[0][1], 150 + 30)
        hist = tr.get_history()
        rows, cols = hist.get_shape()
        self.assertEqual(cols, 3)
        h = hist.to_doubles()
        self.assertGreater(h[1], 10 * tr.get_final_loss())
        self.assertGreater(tr.get_iterations(), 150)

        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "heat.onnx")
            tr.save(path)
            trained = Physnn.Model.new_from_file(path)
            xs = [i / 10 for i in range(11)]
            ts = [0.25, 0.5, 1.0]
            vals, exact = [], []
            for t in ts:
                for x in xs:
                    vals += [x, t]
                    exact.append(heat_exact(x, t))
            cpu = Physnn.Device.new("cpu")
            out = trained.run(cpu, [Physnn.Tensor.new_from_doubles(
                Physnn.DType.FLOAT32, [len(exact), 2], vals)])
            u = out[0].to_doubles()
            err = math.sqrt(sum((a - b) ** 2 for a, b in zip(u, exact)) /
                            sum(b * b for b in exact))
            # 180 iterations of a small network: well below the untrained
            # ansatz's error (N = 0 gives about 0.3 here)
            self.assertLess(err, 0.05)
            plot = os.path.join(d, "loss.png")
            tr.write_loss_plot(plot)
            with open(plot, "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")

    def test_bad_input(self):
        model = Physnn.Model.new_mlp("x,t", "u", "4", "tanh", None, 0)
        tr = Physnn.Trainer.new(model)
        with self.assertRaises(GLib.Error) as ctx:
            tr.set_domain("x=1:0,t=0:1")
        self.assertIn("empty", ctx.exception.message)
        with self.assertRaises(GLib.Error):
            tr.train(None)    # nothing to train on
        with self.assertRaises(GLib.Error):
            Physnn.Model.new_mlp("x,x", "u", "4", "tanh", None, 0)


if __name__ == "__main__":
    unittest.main()
