#!/usr/bin/python3
"""List physnn compute devices, move a tensor through an OpenCL kernel and
read it back, from Python through GObject introspection.

    meson devenv -C build /usr/bin/python3 ../gir/examples/devices_and_tensors.py
"""
import gi

gi.require_version("Physnn", "1.0")
from gi.repository import GLib, Physnn  # noqa: E402

for dev in Physnn.Device.enumerate():
    print(dev.describe())

dev = Physnn.Device.new("auto")
if dev.get_fallback_reason():
    print("warning:", dev.get_fallback_reason())
print("computing on", dev.get_spec())

x = Physnn.Tensor.new_from_doubles(Physnn.DType.FLOAT32, [2, 3], [1, 2, 3, 4, 5, 6])
y = Physnn.Tensor.new(Physnn.DType.FLOAT32, [2, 3])
Physnn.ops_axpy(dev, 0.5, x, y)           # y = 0.5 x + y, on the device
print(y.describe(), list(y.to_doubles()))

try:
    Physnn.Device.new("opencl:9.9")
except GLib.Error as e:
    print("as expected:", e.message)
