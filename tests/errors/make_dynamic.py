#!/usr/bin/env python3
"""make_dynamic.py: the data-dependent output shape cases of tests/errors
(cases_dynamic.txt, issue 17).

Called by make_cases.py as main(out_dir), with out_dir
tests/errors/cases/dynamic/. Writes small models of NonZero, Compress,
Unique and NonMaxSuppression: bad inputs that must be rejected in one line
(a node reading a value of data-dependent shape, a condition longer than
its axis, wrong box shapes, a scalar NonZero), and valid models with test
data that `kiln check` must match, the expected outputs computed here with
numpy or onnx's reference evaluator: an empty result, a Compress along a
middle axis, NonMaxSuppression with a constant max_output_boxes_per_class
(the bound comes from it) over two batches and classes. Deterministic,
byte for byte.
"""
import os

import numpy as np
from onnx import TensorProto, helper, numpy_helper

F = TensorProto.FLOAT
I64 = TensorProto.INT64
B = TensorProto.BOOL


def model_proto(nodes, inputs, outputs, inits=(), opset=13):
    g = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs],
        initializer=list(inits))
    m = helper.make_model(g, producer_name="kiln-tests",
                          opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 7
    return m


def node(op, ins, outs, name, **attrs):
    return helper.make_node(op, ins, outs, name=name, **attrs)


class Writer:
    def __init__(self, out):
        self.out = out

    def write(self, name, data):
        p = os.path.join(self.out, name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)

    def model(self, name, m):
        self.write(name + ".onnx", m.SerializeToString())

    def data(self, folder, inputs, outputs):
        for i, (name, arr) in enumerate(inputs):
            self.write("%s/input_%d.pb" % (folder, i), numpy_helper.from_array(arr, name).SerializeToString())
        for i, (name, arr) in enumerate(outputs):
            self.write("%s/output_%d.pb" % (folder, i), numpy_helper.from_array(arr, name).SerializeToString())


def reference(m, feeds):
    from onnx.reference import ReferenceEvaluator
    return ReferenceEvaluator(m).run(None, feeds)


def main(out):
    w = Writer(out)
    # ------------------------------------------------- bad inputs
    # a value of data-dependent shape read by another node
    w.model("nonzero_into_transpose", model_proto(
        [node("NonZero", ["x"], ["nz"], "nz_1"), node("Transpose", ["nz"], ["y"], "tr_1")],
        [("x", F, [2, 3])], [("y", I64, None)]))
    # a condition longer than the axis it selects from
    w.model("compress_long_condition", model_proto(
        [node("Compress", ["x", "c"], ["y"], "compress_1", axis=0)],
        [("x", F, [3, 2]), ("c", B, [4])], [("y", F, None)], opset=11))
    # a condition that is not bool
    w.model("compress_float_condition", model_proto(
        [node("Compress", ["x", "c"], ["y"], "compress_1", axis=1)],
        [("x", F, [3, 2]), ("c", F, [2])], [("y", F, None)], opset=11))
    # boxes of 3 coordinates
    w.model("nms_bad_boxes", model_proto(
        [node("NonMaxSuppression", ["b", "s"], ["y"], "nms_1")],
        [("b", F, [1, 6, 3]), ("s", F, [1, 1, 6])], [("y", I64, None)], opset=11))
    # NonZero of a scalar
    w.model("nonzero_scalar", model_proto(
        [node("NonZero", ["x"], ["y"], "nz_1")], [("x", F, [])], [("y", I64, None)]))

    # ------------------------------------------------- valid: kiln check
    # no nonzero element at all: a [2, 0] result
    x = np.zeros((2, 3), dtype=np.float32)
    w.model("nonzero_none", model_proto(
        [node("NonZero", ["x"], ["y"], "nz_1")], [("x", F, [2, 3])], [("y", I64, None)]))
    w.data("nonzero_none", [("x", x)], [("y", np.array(np.nonzero(x), dtype=np.int64))])
    # Compress along the middle axis of a 3-D tensor, a condition shorter
    # than the axis
    x = np.arange(2 * 5 * 3, dtype=np.float32).reshape(2, 5, 3)
    c = np.array([True, False, True, True], dtype=bool)
    w.model("compress_middle_axis", model_proto(
        [node("Compress", ["x", "c"], ["y"], "compress_1", axis=1)],
        [("x", F, [2, 5, 3]), ("c", B, [4])], [("y", F, None)], opset=11))
    w.data("compress_middle_axis", [("x", x), ("c", c)], [("y", np.compress(c, x, axis=1))])
    # Unique of int64 slices along axis 1, first-occurrence order
    x = np.array([[3, 1, 3, 2, 1], [0, 4, 0, 2, 4]], dtype=np.int64)
    m = model_proto([node("Unique", ["x"], ["y", "idx", "inv", "cnt"], "unique_1", axis=1, sorted=0)],
                    [("x", I64, [2, 5])],
                    [("y", I64, None), ("idx", I64, None), ("inv", I64, None), ("cnt", I64, None)], opset=11)
    w.model("unique_unsorted_axis", m)
    # numpy's sorted answer put in first-occurrence order (onnx's reference
    # evaluator takes the unsorted slices along axis 0)
    _, idx, inv, cnt = np.unique(x, axis=1, return_index=True, return_inverse=True, return_counts=True)
    order = np.argsort(idx)
    place = np.empty_like(order)
    place[order] = np.arange(len(order))
    outs = [x[:, idx[order]], idx[order].astype(np.int64), place[inv.reshape(-1)].astype(np.int64),
            cnt[order].astype(np.int64)]
    w.data("unique_unsorted_axis", [("x", x)], list(zip(["y", "idx", "inv", "cnt"], outs)))
    # NonMaxSuppression, max_output_boxes_per_class a constant (2): two
    # batches, two classes, the thresholds given at run time
    rng = np.random.RandomState(17)
    corners = rng.uniform(0, 1, size=(2, 8, 2, 2)).astype(np.float32)
    boxes = np.concatenate([corners[:, :, 0, :], corners[:, :, 0, :] + np.abs(corners[:, :, 1, :]) * 0.5],
                           axis=2).astype(np.float32)
    scores = rng.uniform(0, 1, size=(2, 2, 8)).astype(np.float32)
    iou = np.array([0.3], dtype=np.float32)
    st = np.array([0.2], dtype=np.float32)
    m = model_proto([node("NonMaxSuppression", ["b", "s", "m", "iou", "st"], ["y"], "nms_1")],
                    [("b", F, [2, 8, 4]), ("s", F, [2, 2, 8]), ("iou", F, [1]), ("st", F, [1])],
                    [("y", I64, None)], inits=[numpy_helper.from_array(np.array([2], dtype=np.int64), "m")],
                    opset=11)
    w.model("nms_const_max", m)
    outs = reference(m, {"b": boxes, "s": scores, "iou": iou, "st": st})
    w.data("nms_const_max", [("b", boxes), ("s", scores), ("iou", iou), ("st", st)], [("y", outs[0])])


if __name__ == "__main__":
    main(os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases", "dynamic"))
