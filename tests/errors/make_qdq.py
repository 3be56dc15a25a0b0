#!/usr/bin/env python3
"""make_qdq.py: the quantized contrib ops' cases of tests/errors (cases_qdq.txt).

Called by make_cases.py as main(out_dir), with out_dir tests/errors/cases/qdq/.
Writes models using the com.microsoft ops kiln defines for its QDQ pass
(QLinearAdd, QLinearAveragePool, QLinearGlobalAveragePool) with inputs they
do not take: mixed int8/uint8, a non-f32 scale, per-channel parameters, NHWC.
Deterministic, byte for byte.
"""
import os

import numpy as np
from onnx import TensorProto, helper, numpy_helper

I8 = TensorProto.INT8
U8 = TensorProto.UINT8


def model(nodes, inputs, outputs, inits=()):
    g = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs],
        initializer=list(inits))
    m = helper.make_model(g, producer_name="kiln-tests",
                          opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("com.microsoft", 1)])
    m.ir_version = 7
    return m.SerializeToString()


def c(name, value, dtype):
    return numpy_helper.from_array(np.array(value, dtype=dtype), name)


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)

    def write(name, data):
        with open(os.path.join(out_dir, name), "wb") as f:
            f.write(data)

    def add(a_type, scale_dtype=np.float32):
        inits = [c("sa", 0.1, scale_dtype), c("za", 0, np.int8 if a_type == I8 else np.uint8),
                 c("sb", 0.1, np.float32), c("zb", 0, np.int8), c("sc", 0.2, np.float32), c("zc", 0, np.int8)]
        return model([helper.make_node("QLinearAdd", ["a", "sa", "za", "b", "sb", "zb", "sc", "zc"], ["y"],
                                       name="qadd_1", domain="com.microsoft")],
                     [("a", a_type, [2, 3]), ("b", I8, [2, 3])], [("y", I8, [2, 3])], inits)

    # A uint8, B int8
    write("qlinearadd_mixed.onnx", add(U8))
    # an f16 scale (kiln takes f32)
    write("qlinearadd_f16_scale.onnx", add(I8, np.float16))

    pool_inits = [c("sx", 0.1, np.float32), c("zx", 0, np.int8), c("sy", 0.1, np.float32), c("zy", 0, np.int8)]
    # NHWC input
    write("qlinearaveragepool_nhwc.onnx", model(
        [helper.make_node("QLinearAveragePool", ["x", "sx", "zx", "sy", "zy"], ["y"], name="qpool_1",
                          domain="com.microsoft", kernel_shape=[2, 2], channels_last=1)],
        [("x", I8, [1, 4, 4, 3])], [("y", I8, [1, 2, 2, 3])], pool_inits))
    # a scale per channel
    write("qlinearglobalaveragepool_vector_scale.onnx", model(
        [helper.make_node("QLinearGlobalAveragePool", ["x", "sx", "zx", "sy", "zy"], ["y"], name="qgap_1",
                          domain="com.microsoft", channels_last=0)],
        [("x", I8, [1, 3, 4, 4])], [("y", I8, [1, 3, 1, 1])],
        [c("sx", [0.1, 0.2, 0.3], np.float32)] + pool_inits[1:]))


if __name__ == "__main__":
    main(os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases", "qdq"))
