"""tests/random/make_cases.py: the random ops' cases, against numpy.

Writes tests/random/cases/<case>/model.onnx and test_data_set_0/ (inputs
and expected outputs as TensorProto .pb files). The expected outputs are
what ONNX's reference implementation (onnx.reference) computes, which
draws from numpy.random.RandomState(seed): kiln's generator (docs/usage.md,
"Random numbers") must give the same stream. The cases are larger than the
ONNX node tests (several MT19937 twists of 624 words) and cover p = 0 and
p = 1, a training_mode known only at run time, and every output type.

    python3 tests/random/make_cases.py     (rewrites tests/random/cases/)
"""
import shutil
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

HERE = Path(__file__).resolve().parent / "cases"


def write(name, node, inputs, outputs, feeds, opset=22, want=None):
    graph = helper.make_graph([node], name, inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 10
    onnx.checker.check_model(model)
    if want is None:
        want = ReferenceEvaluator(model).run(None, feeds)
    d = HERE / name
    (d / "test_data_set_0").mkdir(parents=True)
    onnx.save(model, str(d / "model.onnx"))
    for i, (k, v) in enumerate(feeds.items()):
        t = numpy_helper.from_array(np.asarray(v), k)
        (d / "test_data_set_0" / f"input_{i}.pb").write_bytes(t.SerializeToString())
    for i, (o, v) in enumerate(zip(outputs, want)):
        t = numpy_helper.from_array(np.asarray(v), o.name)
        (d / "test_data_set_0" / f"output_{i}.pb").write_bytes(t.SerializeToString())


def vi(name, t, shape):
    return helper.make_tensor_value_info(name, t, shape)


def main():
    shutil.rmtree(HERE, ignore_errors=True)
    rng = np.random.RandomState(1234)  # the inputs only
    # Dropout in training, training_mode and ratio given at run time
    x = rng.randn(7, 13, 29).astype(np.float32)
    write("dropout_training_seed7",
          helper.make_node("Dropout", ["x", "r", "t"], ["y", "m"], seed=7),
          [vi("x", TensorProto.FLOAT, x.shape), vi("r", TensorProto.FLOAT, []), vi("t", TensorProto.BOOL, [])],
          [vi("y", TensorProto.FLOAT, x.shape), vi("m", TensorProto.BOOL, x.shape)],
          {"x": x, "r": np.float32(0.3), "t": np.bool_(True)})
    # the same model with training_mode false: y = x, mask all true
    write("dropout_inference_runtime",
          helper.make_node("Dropout", ["x", "r", "t"], ["y", "m"], seed=7),
          [vi("x", TensorProto.FLOAT, x.shape), vi("r", TensorProto.FLOAT, []), vi("t", TensorProto.BOOL, [])],
          [vi("y", TensorProto.FLOAT, x.shape), vi("m", TensorProto.BOOL, x.shape)],
          {"x": x, "r": np.float32(0.3), "t": np.bool_(False)})
    # Bernoulli: p over [0, 1] with exact 0s and 1s, f64 output from f32 p
    p = rng.uniform(0, 1, 1500).astype(np.float32)
    p[::97] = 0
    p[5::89] = 1
    write("bernoulli_seed3",
          helper.make_node("Bernoulli", ["p"], ["y"], seed=3.0, dtype=TensorProto.DOUBLE),
          [vi("p", TensorProto.FLOAT, p.shape)], [vi("y", TensorProto.DOUBLE, p.shape)], {"p": p})
    # Bernoulli without a seed: kiln uses seed 0 (the reference draws from
    # an unseeded generator, so the expected output is numpy's for seed 0)
    q = rng.uniform(0, 1, (20, 31)).astype(np.float64)
    write("bernoulli_noseed_i32",
          helper.make_node("Bernoulli", ["p"], ["y"], dtype=TensorProto.INT32),
          [vi("p", TensorProto.DOUBLE, q.shape)], [vi("y", TensorProto.INT32, q.shape)], {"p": q},
          want=[np.random.RandomState(0).binomial(1, q).astype(np.int32)])
    # RandomUniform: f32, shape from the attribute (no input: folded at
    # compile time, the same values)
    write("random_uniform_f32",
          helper.make_node("RandomUniform", [], ["y"], seed=11.0, low=0.5, high=1.5, shape=[17, 40]),
          [], [vi("y", TensorProto.FLOAT, [17, 40])], {})
    # RandomUniformLike, f64 from an f32 input's shape
    z = np.zeros((3, 250), np.float32)
    write("random_uniform_like_f64",
          helper.make_node("RandomUniformLike", ["z"], ["y"], seed=5.0, low=-2.0, high=3.5, dtype=TensorProto.DOUBLE),
          [vi("z", TensorProto.FLOAT, z.shape)], [vi("y", TensorProto.DOUBLE, z.shape)], {"z": z})


if __name__ == "__main__":
    main()
