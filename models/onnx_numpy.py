"""A tiny NumPy interpreter of ONNX graphs, used only to check the shipped
models: it needs neither torch nor physnn, so agreeing with both of them
shows that an export is faithful and that physnn reads it right.

It knows the op set physnn models are allowed to use (ALLOWED_OPS) with
opset-13 semantics (Slice/Split/Squeeze/Unsqueeze/ReduceSum take their
axes as inputs; ReduceMean as an attribute), and evaluates in float64 by
default so that its own round-off does not hide an export difference.
onnx 1.12 (Debian's) has no onnx.reference evaluator, hence this file.
"""
import math

import numpy as np
import onnx
from onnx import numpy_helper

ALLOWED_OPS = frozenset([
    "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Neg", "Pow", "Tanh",
    "Sigmoid", "Relu", "Sin", "Cos", "Exp", "Log", "Softplus", "Erf",
    "Concat", "Slice", "Split", "Reshape", "Flatten", "Unsqueeze", "Squeeze",
    "Transpose", "ReduceSum", "ReduceMean", "Constant", "Identity"])

_erf = np.vectorize(math.erf, otypes=[np.float64])


def _attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _axes(v, rank):
    return [int(a) + rank if int(a) < 0 else int(a) for a in np.atleast_1d(v)]


def _slice(x, starts, ends, axes=None, steps=None):
    axes = _axes(range(len(starts)) if axes is None else axes, x.ndim)
    steps = np.ones(len(starts), np.int64) if steps is None else steps
    idx = [slice(None)] * x.ndim
    for s, e, a, st in zip(starts, ends, axes, steps):
        # INT64 max/min stand for "to the end" and numpy clamps them itself
        idx[a] = slice(int(s), int(e), int(st))
    return x[tuple(idx)]


def _gemm(a, b, c=None, alpha=1.0, beta=1.0, transA=0, transB=0):
    a = a.T if transA else a
    b = b.T if transB else b
    y = alpha * (a @ b)
    return y if c is None else y + beta * c


def _split(x, split=None, axis=0, nout=1):
    axis = _axes(axis, x.ndim)[0]
    if split is None:
        split = [x.shape[axis] // nout] * nout
    cuts = np.cumsum(split)[:-1]
    return np.split(x, cuts, axis=axis)


def _reshape(x, shape):
    shape = [x.shape[i] if int(s) == 0 else int(s) for i, s in enumerate(shape)]
    return x.reshape(shape)


def _reduce(fn, x, axes, keepdims):
    axes = tuple(_axes(axes, x.ndim)) if axes is not None else None
    return fn(x, axis=axes, keepdims=bool(keepdims))


def check_ops(model):
    """The op types of the graph, in order; raises ValueError on an op
    outside ALLOWED_OPS or a Pow whose exponent is not a constant."""
    consts = {i.name for i in model.graph.initializer}
    ops = []
    for n in model.graph.node:
        if n.op_type not in ALLOWED_OPS:
            raise ValueError(f"node {n.name or n.output[0]}: op {n.op_type} "
                             "is outside the physnn model op set")
        if n.op_type == "Pow" and n.input[1] not in consts:
            raise ValueError(f"node {n.name}: Pow with a computed exponent")
        if n.op_type == "Constant":
            consts.update(n.output)
        ops.append(n.op_type)
    return ops


def op_summary(model):
    ops = check_ops(model)
    counts = {}
    for o in ops:
        counts[o] = counts.get(o, 0) + 1
    return ", ".join(f"{o} x{c}" if c > 1 else o for o, c in counts.items())


def run(model, feeds, dtype=np.float64):
    """Evaluates the graph; feeds maps input names to arrays. Returns the
    list of graph outputs (as `dtype`)."""
    if isinstance(model, str):
        model = onnx.load(model)
    check_ops(model)
    env = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    for k, v in env.items():
        if v.dtype.kind == "f":
            env[k] = v.astype(dtype)
    for name, v in feeds.items():
        env[name] = np.asarray(v, dtype=dtype)
    unary = {"Tanh": np.tanh, "Sin": np.sin, "Cos": np.cos, "Exp": np.exp,
             "Log": np.log, "Neg": np.negative, "Identity": lambda v: v,
             "Relu": lambda v: np.maximum(v, 0),
             "Sigmoid": lambda v: 1.0 / (1.0 + np.exp(-v)),
             "Softplus": lambda v: np.logaddexp(0.0, v),
             "Erf": lambda v: _erf(v).astype(v.dtype)}
    binary = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply,
              "Div": np.divide, "Pow": np.power, "MatMul": np.matmul}
    for n in model.graph.node:
        a = _attrs(n)
        x = [env[i] if i else None for i in n.input]
        op = n.op_type
        if op in unary:
            y = [unary[op](x[0])]
        elif op in binary:
            y = [binary[op](x[0], x[1])]
        elif op == "Constant":
            v = numpy_helper.to_array(a["value"])
            y = [v.astype(dtype) if v.dtype.kind == "f" else v]
        elif op == "Gemm":
            y = [_gemm(*x, **a)]
        elif op == "Slice":
            y = [_slice(*x)]
        elif op == "Concat":
            y = [np.concatenate(x, axis=a["axis"])]
        elif op == "Split":
            y = _split(x[0], x[1] if len(x) > 1 else None, a.get("axis", 0),
                       len(n.output))
        elif op == "Reshape":
            y = [_reshape(x[0], x[1])]
        elif op == "Flatten":
            ax = _axes(a.get("axis", 1), x[0].ndim + 1)[0]
            y = [x[0].reshape(int(np.prod(x[0].shape[:ax])), -1)]
        elif op == "Unsqueeze":
            out = x[0]
            for ax in sorted(_axes(x[1], x[0].ndim + len(x[1]))):
                out = np.expand_dims(out, ax)
            y = [out]
        elif op == "Squeeze":
            y = [np.squeeze(x[0], axis=None if len(x) < 2
                            else tuple(_axes(x[1], x[0].ndim)))]
        elif op == "Transpose":
            y = [np.transpose(x[0], a.get("perm"))]
        elif op == "ReduceSum":
            axes = x[1] if len(x) > 1 else None
            if axes is not None and len(axes) == 0:
                axes = None if not a.get("noop_with_empty_axes", 0) else ()
            y = [_reduce(np.sum, x[0], axes, a.get("keepdims", 1))]
        elif op == "ReduceMean":
            y = [_reduce(np.mean, x[0], a.get("axes"), a.get("keepdims", 1))]
        else:  # unreachable after check_ops
            raise ValueError(f"op {op}")
        for name, v in zip(n.output, y):
            env[name] = v
    return [env[o.name] for o in model.graph.output]
