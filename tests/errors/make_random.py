"""make_random.py: bad random ops for tests/errors (cases_random.txt).

main(out_dir) writes the models into out_dir (tests/errors/cases/random/).
"""
import os

from onnx import TensorProto, helper

F = TensorProto.FLOAT


def model(node, inputs, outputs, opset=22, inits=()):
    g = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs],
        initializer=list(inits))
    m = helper.make_model(g, producer_name="kiln-tests", opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m.SerializeToString()


def main(out):
    os.makedirs(out, exist_ok=True)
    cases = {
        # numpy's RandomState takes seeds in [0, 2^32) only
        "bernoulli_negative_seed.onnx": model(
            helper.make_node("Bernoulli", ["p"], ["y"], name="bern_1", seed=-3.0),
            [("p", F, [4])], [("y", F, [4])]),
        "dropout_big_seed.onnx": model(
            helper.make_node("Dropout", ["x", "r", "t"], ["y"], name="drop_1", seed=1 << 40),
            [("x", F, [4]), ("r", F, []), ("t", TensorProto.BOOL, [])], [("y", F, [4])]),
        # RandomUniform needs its shape
        "uniform_no_shape.onnx": model(
            helper.make_node("RandomUniform", [], ["y"], name="uni_1"),
            [], [("y", F, [4])]),
        # a constant ratio of 1 would scale by infinity
        "dropout_ratio_one.onnx": model(
            helper.make_node("Dropout", ["x", "r"], ["y"], name="drop_2"),
            [("x", F, [4])], [("y", F, [4])], inits=[helper.make_tensor("r", F, [], [1.0])]),
        # Bernoulli's output type must be a number
        "bernoulli_string_dtype.onnx": model(
            helper.make_node("Bernoulli", ["p"], ["y"], name="bern_2", dtype=TensorProto.STRING),
            [("p", F, [4])], [("y", TensorProto.STRING, [4])]),
    }
    for name, data in cases.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
