#!/usr/bin/python3
"""Python users reach the engine through GObject introspection: devices,
tensors, operations and the simulator, with errors as GLib.Error."""
import math
import unittest

import gi

gi.require_version("Physnn", "1.0")
from gi.repository import GLib, Physnn  # noqa: E402


class Devices(unittest.TestCase):
    def test_enumerate(self):
        devices = Physnn.Device.enumerate()
        self.assertGreaterEqual(len(devices), 1)
        self.assertEqual(devices[0].get_spec(), "cpu")
        self.assertEqual(devices[0].props.kind, int(Physnn.DeviceKind.CPU))
        for d in devices[1:]:
            self.assertTrue(d.get_spec().startswith("opencl:"))
            self.assertTrue(d.props.name)

    def test_bad_spec_raises(self):
        with self.assertRaises(GLib.Error) as ctx:
            Physnn.Device.new("gpu7")
        self.assertIn('"gpu7"', ctx.exception.message)
        self.assertEqual(ctx.exception.domain, "physnn-error-quark")
        self.assertEqual(ctx.exception.code, int(Physnn.Error.INVALID_ARGUMENT))


class Tensors(unittest.TestCase):
    def test_create_and_read(self):
        values = [0.5 * i for i in range(6)]
        t = Physnn.Tensor.new_from_doubles(Physnn.DType.FLOAT32, [2, 3], values)
        self.assertEqual(list(t.get_shape()), [2, 3])
        self.assertEqual(t.get_dtype(), Physnn.DType.FLOAT32)
        self.assertEqual(t.get_nbytes(), 24)
        self.assertEqual(list(t.to_doubles()), values)
        self.assertEqual(t.describe(), "float32[2,3]")
        self.assertEqual(len(t.get_bytes().get_data()), 24)

    def test_view_shares_storage(self):
        t = Physnn.Tensor.new(Physnn.DType.FLOAT64, [4])
        v = t.view(2, [2])
        v.set_value(0, 7.25)
        self.assertEqual(t.get_value(2), 7.25)

    def test_shape_error(self):
        with self.assertRaises(GLib.Error) as ctx:
            Physnn.Tensor.new_from_doubles(Physnn.DType.FLOAT32, [2, 2], [1.0])
        self.assertIn("1 values", ctx.exception.message)

    def test_axpy_on_auto_device(self):
        dev = Physnn.Device.new("auto")
        x = Physnn.Tensor.new_from_doubles(Physnn.DType.FLOAT32, [5], [1, 2, 3, 4, 5])
        y = Physnn.Tensor.new_from_doubles(Physnn.DType.FLOAT32, [5], [1, 1, 1, 1, 1])
        Physnn.ops_axpy(dev, 2.0, x, y)
        self.assertEqual(list(y.to_doubles()), [3, 5, 7, 9, 11])


class Models(unittest.TestCase):
    def test_builtin_heat_pinn(self):
        m = Physnn.Model.new_builtin("heat1d-pinn")
        self.assertEqual(m.get_coordinate_names(), "x,t")
        self.assertEqual(m.get_metadata("physnn.pde"), "u_t - 0.1*u_xx")
        m.set_derivatives("u_t,u_xx")
        self.assertEqual(m.get_n_derivatives(), 2)
        xs = [i / 10 for i in range(11)]
        flat = []
        for x in xs:
            flat += [x, 0.0]
        pts = Physnn.Tensor.new_from_doubles(Physnn.DType.FLOAT32, [11, 2], flat)
        for spec in ("cpu", "auto"):
            u, u_t, u_xx = m.run(Physnn.Device.new(spec), [pts])
            self.assertEqual(list(u.get_shape()), [11, 1])
            self.assertEqual(list(u_t.get_shape()), [11])
            # the initial condition is built into this model
            for x, v in zip(xs, u.to_doubles()):
                self.assertAlmostEqual(v, math.sin(math.pi * x), places=5)
            # and the PDE holds: u_t = 0.1 u_xx
            for a, b in zip(u_t.to_doubles(), u_xx.to_doubles()):
                self.assertLess(abs(a - 0.1 * b), 1e-3)

    def test_errors(self):
        with self.assertRaises(GLib.Error) as ctx:
            Physnn.Model.new_builtin("no-such-model")
        self.assertIn("heat1d-pinn", ctx.exception.message)
        m = Physnn.Model.new_builtin("heat1d-pinn")
        with self.assertRaises(GLib.Error) as ctx:
            m.set_derivatives("u_q")
        self.assertIn('"q" is not a coordinate', ctx.exception.message)


class Simulator(unittest.TestCase):
    def test_heat_against_exact(self):
        sim = Physnn.Simulator.new(Physnn.PdeKind.HEAT_1D)
        sim.reset()
        sim.advance(0.5)
        field = sim.get_field().to_doubles()
        alpha = sim.props.alpha
        n = sim.get_grid_size(0)
        err = num = 0.0
        for i in range(n):
            x = sim.get_coordinate(0, i)
            exact = math.exp(-alpha * math.pi ** 2 * 0.5) * math.sin(math.pi * x)
            err += (field[i] - exact) ** 2
            num += exact ** 2
        self.assertLess(math.sqrt(err / num), 1e-4)

    def test_bad_property_raises(self):
        sim = Physnn.Simulator.new(Physnn.PdeKind.HEAT_1D)
        sim.props.nx = 2
        with self.assertRaises(GLib.Error) as ctx:
            sim.reset()
        self.assertIn("nx", ctx.exception.message)


if __name__ == "__main__":
    unittest.main(verbosity=2)
