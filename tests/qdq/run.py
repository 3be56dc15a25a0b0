#!/usr/bin/env python3
"""tests/qdq/run.py: kiln's QDQ pass (compiler/graph/qdq.c) on small models.

    python3 tests/qdq/run.py [--kiln build/kiln] [--target c|llvm]

Each case is a QDQ graph (QuantizeLinear/DequantizeLinear around a float op)
built here with seeded random weights and input. The reference output is ONNX
Runtime's on the same model (CPU, graph optimizations off: the float ops
between DQ and Q, as the model says). For each case, one line
"PASS qdq/<target>/<case>" or "FAIL qdq/<target>/<case>: reason":

  - `kiln compile --dump graph` shows the integer ops the case expects (and
    none of the float ops it replaces, and no DequantizeLinear but the
    output's: no float tensor between quantized ops), or, for the case the
    pass must leave alone, the float op still there;
  - `kiln check` agrees with ONNX Runtime within one quantization step of
    the output (--rtol 0 --atol step): the integer ops requantize the int32
    sum where ONNX Runtime rounds a float one, so a value within float
    rounding of a half step may land one step away.

A missing onnxruntime is one SKIP line. Exits 1 if any case failed.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

try:
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper
except ImportError as e:
    print(f"SKIP qdq: python3 has no onnx/onnxruntime ({e})")
    sys.exit(0)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RNG = np.random.default_rng(20251205)
I8, U8 = np.int8, np.uint8


class Builder:
    def __init__(self):
        self.nodes, self.inits, self.n = [], [], 0

    def name(self, p):
        self.n += 1
        return f"{p}{self.n}"

    def const(self, arr, p="c"):
        nm = self.name(p)
        self.inits.append(numpy_helper.from_array(np.asarray(arr), nm))
        return nm

    def node(self, op, ins, **attrs):
        out = self.name(op.lower() + "_")
        self.nodes.append(helper.make_node(op, ins, [out], name=self.name(op), **attrs))
        return out

    def q(self, x, scale, zp, dt):
        return self.node("QuantizeLinear", [x, self.const(np.float32(scale)), self.const(dt(zp))])

    def dq(self, x, scale, zp, dt=None, axis=None):
        s = self.const(np.asarray(scale, np.float32))
        z = self.const(np.asarray(zp, dt) if dt else np.asarray(zp))
        kw = {} if axis is None else {"axis": axis}
        return self.node("DequantizeLinear", [x, s, z], **kw)

    def qdq(self, x, scale, zp, dt):
        """x (float) quantized and dequantized: the value the next op reads."""
        return self.dq(self.q(x, scale, zp, dt), scale, zp, dt)

    def weight(self, shape, axis, dt=I8, per_channel=True):
        w = RNG.integers(-127 if dt == I8 else 0, 128 if dt == I8 else 256, size=shape).astype(dt)
        n = shape[axis] if per_channel else 1
        s = (RNG.random(n) * 0.02 + 0.005).astype(np.float32)
        z = np.zeros(n, dt) if dt == I8 else RNG.integers(100, 150, n).astype(dt)
        if not per_channel:
            s, z = s[0], z[0]
        return self.dq(self.const(w, "w"), s, z, dt, axis if per_channel else None), s

    def model(self, x_shape, out):
        g = helper.make_graph(self.nodes, "qdq", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                              [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)], self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
        m.ir_version = 8
        onnx.checker.check_model(onnx.shape_inference.infer_shapes(m))
        return m


def conv_case(act, out_zp, dt=U8, bias=True):
    """DQ(x), DQ(w per channel), DQ(bias) -> Conv -> act -> Q."""
    b = Builder()
    xs, ys = 0.02, 0.03
    x = b.qdq("x", xs, 128 if dt == U8 else 0, dt)
    w, wsc = b.weight((6, 4, 3, 3), 0)
    ins = [x, w]
    if bias:
        bs = (xs * wsc).astype(np.float32)
        ins.append(b.dq(b.const(RNG.integers(-200, 200, 6).astype(np.int32), "b"), bs, np.zeros(6, np.int32),
                        axis=0))
    y = b.node("Conv", ins, pads=[1, 1, 1, 1], strides=[1, 1])
    if act == "relu":
        y = b.node("Relu", [y])
    elif act == "clip6":
        y = b.node("Clip", [y, b.const(np.float32(0)), b.const(np.float32(6))])
    elif act == "clip":
        y = b.node("Clip", [y, b.const(np.float32(-0.5)), b.const(np.float32(0.7))])
    out = b.dq(b.q(y, ys, out_zp, dt), ys, out_zp, dt)
    return b.model([1, 4, 7, 7], out), ys


def gemm_case(trans_b):
    b = Builder()
    x = b.qdq("x", 0.03, 3, I8)
    w, _ = b.weight((10, 16) if trans_b else (16, 10), 0 if trans_b else 1)
    y = b.node("Gemm", [x, w], transB=trans_b)
    out = b.dq(b.q(y, 0.05, -2, I8), 0.05, -2, I8)
    return b.model([3, 16], out), 0.05


def matmul_case():
    b = Builder()
    x = b.qdq("x", 0.025, 120, U8)
    w, _ = b.weight((12, 5), 1, U8, per_channel=False)
    y = b.node("MatMul", [x, w])
    out = b.dq(b.q(y, 0.04, 130, U8), 0.04, 130, U8)
    return b.model([2, 3, 12], out), 0.04


def add_case():
    b = Builder()
    xa = b.qdq("x", 0.02, 5, I8)
    cb = b.dq(b.const(RNG.integers(-128, 128, (4, 1, 1)).astype(I8), "c"), 0.01, -3, I8)
    y = b.node("Add", [xa, cb])
    out = b.dq(b.q(y, 0.025, 0, I8), 0.025, 0, I8)
    return b.model([2, 4, 3, 3], out), 0.025


def pool_case(op):
    b = Builder()
    x = b.qdq("x", 0.02, 128, U8)
    if op == "AveragePool":
        y = b.node(op, [x], kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2], ceil_mode=1)
    elif op == "MaxPool":
        y = b.node(op, [x], kernel_shape=[2, 2], strides=[2, 2])
    else:
        y = b.node(op, [x])
    ys, zy = (0.02, 128) if op == "MaxPool" else (0.015, 120)
    q = b.q(y, ys, zy, U8)
    if op == "MaxPool":  # then a Flatten between equal DQ and Q
        q = b.q(b.node("Flatten", [b.dq(q, ys, zy, U8)]), ys, zy, U8)
    out = b.dq(q, ys, zy, U8)
    return b.model([1, 3, 9, 9], out), ys


def float_pool_case():
    """A float AveragePool over whole 8x8 planes after an int8 residual Add
    (the tail of onnxruntime's QOperator ResNet-8): its tap count must not be
    counted per vector of taps."""
    b = Builder()
    x = b.qdq("x", 0.02, 0, I8)
    y = b.node("Relu", [b.dq(b.q(b.node("Add", [x, x]), 0.04, 0, I8), 0.04, 0, I8)])
    out = b.node("AveragePool", [y], kernel_shape=[8, 8], strides=[8, 8])
    return b.model([1, 64, 8, 8], out), 1e-5


def read_twice_case():
    """The Conv's float output is read twice (Q and a graph-level float Add):
    the pass leaves it float, and the model still runs as it says."""
    b = Builder()
    x = b.qdq("x", 0.02, 0, I8)
    w, _ = b.weight((2, 3, 1, 1), 0)
    y = b.node("Conv", [x, w])
    q = b.dq(b.q(y, 0.03, 0, I8), 0.03, 0, I8)
    out = b.node("Add", [q, y])
    return b.model([1, 3, 4, 4], out), 1e-5


# name: (model and output step, ops the graph must show, ops it must not)
CASES = {
    "conv-relu-u8-clamped": (lambda: conv_case("relu", 128), ["QLinearConv", "Clip"], ["Conv", "Relu"]),
    "conv-relu-i8-folded": (lambda: conv_case("relu", -128, I8), ["QLinearConv"], ["Conv", "Relu", "Clip"]),
    "conv-clip-range": (lambda: conv_case("clip", 10, I8), ["QLinearConv", "Clip"], ["Conv"]),
    "conv-nobias": (lambda: conv_case(None, 100, U8, bias=False), ["QLinearConv"], ["Conv"]),
    "gemm-transb": (lambda: gemm_case(1), ["QLinearMatMul"], ["Gemm"]),
    "gemm": (lambda: gemm_case(0), ["QLinearMatMul"], ["Gemm"]),
    "matmul-u8-per-tensor": (matmul_case, ["QLinearMatMul"], ["MatMul"]),
    "add-broadcast-const": (add_case, ["QLinearAdd"], ["Add"]),
    "averagepool": (lambda: pool_case("AveragePool"), ["QLinearAveragePool"], ["AveragePool"]),
    "globalaveragepool": (lambda: pool_case("GlobalAveragePool"), ["QLinearGlobalAveragePool"],
                          ["GlobalAveragePool"]),
    "maxpool-flatten": (lambda: pool_case("MaxPool"), ["MaxPool", "Flatten"], ["AveragePool"]),
    "float-read-twice": (read_twice_case, ["Conv"], ["QLinearConv"]),
    "float-averagepool-after-qlinearadd": (float_pool_case, ["QLinearAdd", "AveragePool"], ["Add"]),
}


def reference(path, x):
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = 1
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kiln", default="build/kiln")
    ap.add_argument("--target", default="c")
    a = ap.parse_args()
    kiln = os.path.abspath(a.kiln)
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, (make, want, forbid) in CASES.items():
            label = f"qdq/{a.target}/{name}"
            model, step = make()
            d = os.path.join(tmp, name)
            os.makedirs(os.path.join(d, "t"))
            path = os.path.join(d, "model.onnx")
            onnx.save(model, path)
            shape = [dd.dim_value for dd in model.graph.input[0].type.tensor_type.shape.dim]
            x = RNG.standard_normal(shape).astype(np.float32)
            y = reference(path, x)
            with open(os.path.join(d, "t", "input_0.pb"), "wb") as f:
                f.write(numpy_helper.from_array(x, "x").SerializeToString())
            with open(os.path.join(d, "t", "output_0.pb"), "wb") as f:
                f.write(numpy_helper.from_array(y, model.graph.output[0].name).SerializeToString())
            p = subprocess.run([kiln, "compile", "--target", a.target, path, "-o", os.path.join(d, "o"),
                                "--dump", "graph"], capture_output=True, text=True)
            ops = set(re.findall(r"= ([A-Za-z]+)\(", p.stdout))
            why = None
            if p.returncode != 0:
                why = "kiln compile: " + (p.stderr.strip().splitlines() or ["no message"])[0]
            else:
                missing = [o for o in want if o not in ops]
                present = [o for o in forbid if o in ops]
                ndq = p.stdout.count("= DequantizeLinear(")
                if missing or present:
                    why = f"graph has {' '.join(sorted(ops))}; expected {' '.join(want)}, not {' '.join(forbid)}"
                elif "QLinearConv" not in forbid and "AveragePool" not in want and ndq != 1:
                    why = f"{ndq} DequantizeLinear nodes left, expected only the output's"
            if not why:
                p = subprocess.run([kiln, "check", "--target", a.target, path, os.path.join(d, "t"), "--rtol", "0",
                                    "--atol", f"{step * 1.0001:.9g}"], capture_output=True, text=True)
                if p.returncode != 0:
                    why = "kiln check: " + ((p.stderr + p.stdout).strip().splitlines() or ["no message"])[0]
            if why:
                failed += 1
                print(f"FAIL {label}: {why}")
            else:
                print(f"PASS {label}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
