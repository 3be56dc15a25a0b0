#!/usr/bin/env python3
"""make_alias.py: the --alias cases of tests/errors (cases_alias.txt).

Called by make_cases.py as main(out_dir), with out_dir tests/errors/cases/alias/.
Writes cache.onnx, a key/value-cache update: cache_out = ScatterND(cache,
[[pos]], row), also read by a second output (peek = cache * 2, which makes
the input unsafe to alias) and an output made by Add from the update (not an update of an input).
Deterministic, byte for byte; uses only onnx APIs of onnx 1.12.
"""
import os

import numpy as np
from onnx import TensorProto, helper, numpy_helper

F = TensorProto.FLOAT


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    nodes = [
        helper.make_node("ScatterND", ["cache", "idx", "row"], ["cache_out"]),
        helper.make_node("ScatterND", ["cache2", "idx", "row"], ["cache2_out"]),
        helper.make_node("Mul", ["cache2", "two"], ["peek"]),
        helper.make_node("Add", ["cache_out", "row"], ["sum"]),
    ]
    g = helper.make_graph(
        nodes, "alias",
        [helper.make_tensor_value_info("cache", F, [4, 3]),
         helper.make_tensor_value_info("cache2", F, [4, 3]),
         helper.make_tensor_value_info("idx", TensorProto.INT64, [1, 1]),
         helper.make_tensor_value_info("row", F, [1, 3]),
         helper.make_tensor_value_info("small", F, [2, 3])],
        [helper.make_tensor_value_info("cache_out", F, [4, 3]),
         helper.make_tensor_value_info("cache2_out", F, [4, 3]),
         helper.make_tensor_value_info("peek", F, [4, 3]),
         helper.make_tensor_value_info("sum", F, [4, 3])],
        [numpy_helper.from_array(np.array(2.0, np.float32), "two")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 7
    with open(os.path.join(out_dir, "cache.onnx"), "wb") as f:
        f.write(m.SerializeToString())


if __name__ == "__main__":
    main(os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases", "alias"))
