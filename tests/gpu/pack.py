#!/usr/bin/env python3
"""tests/gpu/pack.py: the Python half of tests/gpu/prepare.sh (onnx, numpy).

  pack.py node-list TESTS EXPECTED EVERY   the listed node tests whose
      outputs are all float32/float16/float64, bool or integers (their
      comparison needs numpy alone), every EVERY-th, one name a line
  pack.py matmul N FILE                    an ONNX model C = A @ B, A and B
      float32 [N, N] inputs
"""
import sys

import onnx
from onnx import TensorProto, helper

PLAIN = {TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE, TensorProto.BOOL, TensorProto.INT8,
         TensorProto.INT16, TensorProto.INT32, TensorProto.INT64, TensorProto.UINT8, TensorProto.UINT16,
         TensorProto.UINT32, TensorProto.UINT64}


def node_list(tests, expected, every):
    names = sorted(line.strip() for line in open(expected) if line.strip() and not line.startswith("#"))
    names = names[::every]
    for name in names:
        data = f"{tests}/{name}/test_data_set_0"
        ok = True
        i = 0
        while True:
            try:
                with open(f"{data}/output_{i}.pb", "rb") as f:
                    t = TensorProto()
                    t.ParseFromString(f.read())
            except FileNotFoundError:
                break
            ok = ok and t.data_type in PLAIN
            i += 1
        if ok and i:
            print(name)


def matmul(n, path):
    a = helper.make_tensor_value_info("A", TensorProto.FLOAT, [n, n])
    b = helper.make_tensor_value_info("B", TensorProto.FLOAT, [n, n])
    c = helper.make_tensor_value_info("C", TensorProto.FLOAT, [n, n])
    g = helper.make_graph([helper.make_node("MatMul", ["A", "B"], ["C"], name="matmul")], f"matmul{n}", [a, b], [c])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, path)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "node-list":
        node_list(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif len(sys.argv) == 4 and sys.argv[1] == "matmul":
        matmul(int(sys.argv[2]), sys.argv[3])
    else:
        sys.exit(__doc__)
