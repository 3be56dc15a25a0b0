#!/usr/bin/env python3
"""make_files.py: inputs of the files-and-folders cases (cases_files.txt).

Called by tests/errors/make_cases.py as main(out_dir), out_dir being
tests/errors/cases/files/. Most of these cases use add.onnx and check_ok/
of make_cases.py, with the hostile paths, symlinks and FIFOs made at run
time by setup_files.sh; here are the models whose names are hostile to
`kiln check`'s reading of a run's results:

  long_name.onnx       y = Relu(x), x float [2,3], y named by 10,000 'n's
  long_name_ok/        its test data (check passes)
  long_name_bad/       the same with a wrong expected output (check fails,
                       naming the output in one line)
  newline_name.onnx    the same with y named "y\\nFAKE kiln check: ok"
  newline_name_bad/    a wrong expected output for it
Output is deterministic, byte for byte.
"""
import os

import numpy as np
from onnx import TensorProto, helper, numpy_helper

F = TensorProto.FLOAT


def relu_model(out_name):
    g = helper.make_graph(
        [helper.make_node("Relu", ["x"], [out_name], name="relu_1")], "g",
        [helper.make_tensor_value_info("x", F, [2, 3])],
        [helper.make_tensor_value_info(out_name, F, [2, 3])])
    m = helper.make_model(g, producer_name="kiln-tests",
                          opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 7
    return m.SerializeToString()


def main(out_dir):
    def write(name, data):
        p = os.path.join(out_dir, name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)

    def tensor(arr):
        return numpy_helper.from_array(arr).SerializeToString()

    x = (np.arange(6, dtype=np.float32) - 2.5).reshape(2, 3)
    y = np.maximum(x, 0)
    write("long_name.onnx", relu_model("n" * 10000))
    write("newline_name.onnx", relu_model("y\nFAKE kiln check: ok"))
    for d, want in (("long_name_ok", y), ("long_name_bad", y + 1), ("newline_name_bad", y + 1)):
        write(d + "/input_0.pb", tensor(x))
        write(d + "/output_0.pb", tensor(want))


if __name__ == "__main__":
    main(os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases", "files"))
