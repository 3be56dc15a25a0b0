#!/usr/bin/env python3
"""models/tiny/make_tiny.py: int8 versions of the four MLPerf Tiny models.

Run with the pyenv python3 (onnx, numpy, onnxruntime with
onnxruntime.quantization):

    python3 models/tiny/make_tiny.py --float DIR --out DIR [--format qop|qdq] [NAME ...]

--float is a folder of the float models made by
`/usr/bin/python3 models/bench/make_bench_models.py --out DIR resnet8 dscnn
mobilenetv1 autoencoder` (DIR/<name>/model.onnx and test_data_set_0). For
each NAME (default: all four) it writes

    OUT/<name>/model.onnx               the int8 model
    OUT/<name>/test_data_set_0/         the float model's input_0.pb, and
                                        output_0.pb = what ONNX Runtime
                                        computes for the int8 model on it
    OUT/<name>/prepared.onnx            the float model it quantized (below)

Steps, the same for every model:
  1. prepare: each Gemm (transB=1, alpha=beta=1, constant weights) becomes
     MatMul + Add, and a BatchNormalization that is the only consumer of
     such a Gemm is folded into its weights and bias (the autoencoder);
     the prepared model must agree with the float model on the test input
     (|d| <= 1e-4 + 1e-4 |ref|) or the script fails;
  2. quantize: onnxruntime.quantization.quantize_static, activations and
     weights int8 (symmetric weights, asymmetric activations), per-channel
     weights, calibrated (MinMax) on 16 inputs drawn from a normal
     distribution with a fixed seed (not the test input);
     --format qop (default): QOperator format restricted to the ONNX
     standard operators: Conv -> QLinearConv, MatMul -> QLinearMatMul
     with QuantizeLinear/DequantizeLinear around them, a Relu that
     follows a quantized output folded into that output's range
     (zero point -128); Add, pooling, Softmax stay float (their
     quantized forms are com.microsoft ops), and so does a Relu after
     a float Add;
     --format qdq: QDQ format (QuantizeLinear/DequantizeLinear pairs
     around float Conv, MatMul, Add, ...; kiln's graph/qdq.c turns them
     into integer ops), and OUT/<name>/output_step.txt: one quantization
     step of the output (the scale of its DequantizeLinear);
  3. reference: ONNX Runtime (CPU, one thread, graph optimizations off)
     runs the int8 model on the float model's test input.
Prints per model the op types and the largest |int8 - float| output
difference (the quantization error, for information). Everything is
written under the given --out (tests/tiny/run.sh uses out/tiny/, git-ignored).
"""
import argparse
import os
import shutil
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper

try:
    import onnxruntime as ort
    from onnxruntime import quantization as oq
except ImportError as e:  # one line, exit 3 (tests/tiny/run.sh checks the import first and SKIPs)
    print(f"make_tiny.py: onnxruntime.quantization is not available: {e}", file=sys.stderr)
    sys.exit(3)

NAMES = ["resnet8", "dscnn", "mobilenetv1", "autoencoder"]
CALIBRATION_INPUTS = 16
SEED = 20240


def attr(node, name, default):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def prepare(model):
    """Gemm -> MatMul + Add, folding a following BatchNormalization."""
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    consumers = {}
    for n in g.node:
        for x in n.input:
            consumers.setdefault(x, []).append(n)
    outputs = {o.name for o in g.output}
    new_nodes, dropped, new_inits = [], set(), []
    for n in g.node:
        if id(n) in dropped:
            continue
        if n.op_type != "Gemm" or attr(n, "transA", 0) or not attr(n, "transB", 0) or \
                attr(n, "alpha", 1.0) != 1.0 or attr(n, "beta", 1.0) != 1.0 or \
                len(n.input) < 3 or n.input[1] not in inits or n.input[2] not in inits:
            new_nodes.append(n)
            continue
        w = numpy_helper.to_array(inits[n.input[1]]).astype(np.float64)  # [N, K]
        b = numpy_helper.to_array(inits[n.input[2]]).astype(np.float64)
        out = n.output[0]
        users = consumers.get(out, [])
        if len(users) == 1 and users[0].op_type == "BatchNormalization" and out not in outputs and \
                all(x in inits for x in users[0].input[1:5]):
            bn = users[0]
            s, beta, mean, var = (numpy_helper.to_array(inits[x]).astype(np.float64) for x in bn.input[1:5])
            k = s / np.sqrt(var + attr(bn, "epsilon", 1e-5))
            w = w * k[:, None]
            b = (b - mean) * k + beta
            out = bn.output[0]
            dropped.add(id(bn))
        wname, bname, mid = n.output[0] + "_wT", n.output[0] + "_b", n.output[0] + "_mm"
        new_inits += [numpy_helper.from_array(np.ascontiguousarray(w.T).astype(np.float32), wname),
                      numpy_helper.from_array(b.astype(np.float32), bname)]
        new_nodes += [helper.make_node("MatMul", [n.input[0], wname], [mid], name=n.name + "_matmul"),
                      helper.make_node("Add", [mid, bname], [out], name=n.name + "_add")]
    del g.node[:]
    g.node.extend(new_nodes)
    g.initializer.extend(new_inits)
    used = {x for n in g.node for x in n.input}
    keep = [i for i in g.initializer if i.name in used]
    del g.initializer[:]
    g.initializer.extend(keep)
    del g.value_info[:]
    return onnx.shape_inference.infer_shapes(model)


def session(path):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def read_pb(path):
    t = onnx.TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return numpy_helper.to_array(t)


def write_pb(path, arr, name):
    with open(path, "wb") as f:
        f.write(numpy_helper.from_array(arr, name).SerializeToString())


class Calibration(oq.CalibrationDataReader):
    def __init__(self, name, shape):
        rng = np.random.default_rng(SEED)
        self.feeds = iter([{name: rng.standard_normal(shape).astype(np.float32)}
                           for _ in range(CALIBRATION_INPUTS)])

    def get_next(self):
        return next(self.feeds, None)


def make(name, float_dir, out_dir, fmt):
    src = os.path.join(float_dir, name)
    dst = os.path.join(out_dir, name)
    if os.path.isdir(dst):
        shutil.rmtree(dst)
    os.makedirs(os.path.join(dst, "test_data_set_0"))
    model = onnx.load(os.path.join(src, "model.onnx"))
    inp = model.graph.input[0]
    shape = [d.dim_value for d in inp.type.tensor_type.shape.dim]
    x = read_pb(os.path.join(src, "test_data_set_0", "input_0.pb"))
    want = read_pb(os.path.join(src, "test_data_set_0", "output_0.pb"))

    prepared = os.path.join(dst, "prepared.onnx")
    onnx.save(prepare(model), prepared)
    onnx.checker.check_model(prepared, full_check=True)
    got = session(prepared).run(None, {inp.name: x})[0]
    if not np.all(np.abs(got - want) <= 1e-4 + 1e-4 * np.abs(want)):
        sys.exit(f"make_tiny.py: {name}: the prepared float model differs from the float model "
                 f"by {np.max(np.abs(got - want)):.3g}")

    qmodel = os.path.join(dst, "model.onnx")
    common = dict(activation_type=oq.QuantType.QInt8, weight_type=oq.QuantType.QInt8,
                  per_channel=True, calibrate_method=oq.CalibrationMethod.MinMax)
    if fmt == "qop":
        oq.quantize_static(prepared, qmodel, Calibration(inp.name, shape),
                           quant_format=oq.QuantFormat.QOperator,
                           op_types_to_quantize=["Conv", "MatMul", "Relu"], **common)
    else:
        oq.quantize_static(prepared, qmodel, Calibration(inp.name, shape),
                           quant_format=oq.QuantFormat.QDQ, **common)
    q = onnx.load(qmodel)
    onnx.checker.check_model(q, full_check=True)
    foreign = sorted({f"{n.domain}.{n.op_type}" for n in q.graph.node if n.domain not in ("", "ai.onnx")})
    if foreign:
        sys.exit(f"make_tiny.py: {name}: the int8 model uses non-standard operators: {' '.join(foreign)}")
    y = session(qmodel).run(None, {inp.name: x})[0]
    write_pb(os.path.join(dst, "test_data_set_0", "input_0.pb"), x, inp.name)
    write_pb(os.path.join(dst, "test_data_set_0", "output_0.pb"), y, q.graph.output[0].name)
    if fmt == "qdq":
        # one quantization step of the output: the scale of the
        # DequantizeLinear that makes it (tests/tiny/run.sh's tolerance)
        inits = {i.name: numpy_helper.to_array(i) for i in q.graph.initializer}
        made = [n for n in q.graph.node if n.output[0] == q.graph.output[0].name]
        if not made or made[0].op_type != "DequantizeLinear" or made[0].input[1] not in inits:
            sys.exit(f"make_tiny.py: {name}: the QDQ model's output is not a DequantizeLinear of a constant scale")
        with open(os.path.join(dst, "output_step.txt"), "w") as f:
            f.write(f"{float(np.max(inits[made[0].input[1]])):.9g}\n")
    ops = sorted({n.op_type for n in q.graph.node})
    print(f"{name:12s} {fmt}  {os.path.getsize(qmodel):8d} bytes  |int8 - float| max "
          f"{np.max(np.abs(y - want)):.4f}  {' '.join(ops)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--float", required=True, dest="float_dir", help="folder of the float models")
    ap.add_argument("--out", required=True, help="folder to write the int8 models to")
    ap.add_argument("--format", choices=["qop", "qdq"], default="qop")
    ap.add_argument("names", nargs="*", default=NAMES)
    a = ap.parse_args()
    for n in a.names:
        if n not in NAMES:
            ap.error(f"unknown model '{n}' (one of: {' '.join(NAMES)})")
        if not os.path.isfile(os.path.join(a.float_dir, n, "model.onnx")):
            sys.exit(f"make_tiny.py: no {os.path.join(a.float_dir, n, 'model.onnx')}")
    np.random.seed(SEED)
    for n in a.names:
        make(n, a.float_dir, a.out, a.format)


if __name__ == "__main__":
    main()
