#!/usr/bin/env python3
"""make_seq.py: the sequence and optional cases of tests/errors (cases_seq.txt).

Called by make_cases.py as main(out_dir), with out_dir tests/errors/cases/seq/.
Writes models whose sequences or optionals kiln cannot compile (a length or
a position not known at compile time, a sequence read by a tensor op, an
absent optional read or returned) and test data for `kiln check` and for a
built model's own reader (--in): a malformed SequenceProto, a sequence of
another length, an optional present where the model was compiled for it
absent. Deterministic, byte for byte; uses only onnx.helper and numpy_helper.
"""
import os

import numpy as np
from onnx import TensorProto, helper, numpy_helper

F = TensorProto.FLOAT
I64 = TensorProto.INT64


def seq_type(elem, shape=None):
    return helper.make_sequence_type_proto(helper.make_tensor_type_proto(elem, shape))


def opt_type(inner):
    return helper.make_optional_type_proto(inner)


def model(nodes, inputs, outputs, opset=18, inits=()):
    """inputs/outputs: (name, TypeProto)."""
    g = helper.make_graph(nodes, "g", [helper.make_value_info(n, t) for n, t in inputs],
                          [helper.make_value_info(n, t) for n, t in outputs], initializer=list(inits))
    m = helper.make_model(g, producer_name="kiln-tests", opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m.SerializeToString()


def tensor(arr, name=""):
    return numpy_helper.from_array(arr, name)


def seq_pb(arrs, name="s"):
    from onnx import SequenceProto
    s = SequenceProto()
    s.name = name
    s.elem_type = SequenceProto.TENSOR
    for a in arrs:
        s.tensor_values.append(tensor(a))
    return s.SerializeToString()


def opt_pb(arr, name="o"):
    from onnx import OptionalProto
    o = OptionalProto()
    o.name = name
    if arr is not None:
        o.elem_type = OptionalProto.TENSOR
        o.tensor_value.CopyFrom(tensor(arr))
    return o.SerializeToString()


def main(out):
    os.makedirs(out, exist_ok=True)

    def write(name, data):
        p = os.path.join(out, name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)

    n = helper.make_node
    f3 = helper.make_tensor_type_proto(F, [3])
    a = np.arange(3, dtype=np.float32)
    # y = x, x a sequence of f32[3]
    write("seq_identity.onnx", model([n("Identity", ["x"], ["y"], name="id")],
                                     [("x", seq_type(F, [3]))], [("y", seq_type(F, [3]))]))
    write("seq_identity_ok/input_0.pb", seq_pb([a, a + 1], "x"))
    write("seq_identity_ok/output_0.pb", seq_pb([a, a + 1], "y"))
    write("seq_three/input_0.pb", seq_pb([a, a, a], "x"))
    write("seq_garbage/input_0.pb", b"\x0a\x05x")  # name field running past the end
    write("seq_garbage/output_0.pb", seq_pb([a, a + 1], "y"))
    # y = SequenceAt(SequenceConstruct(a, b), p), p a graph input
    write("seq_at_input.onnx", model(
        [n("SequenceConstruct", ["a", "b"], ["s"], name="make"), n("SequenceAt", ["s", "p"], ["y"], name="at")],
        [("a", f3), ("b", f3), ("p", helper.make_tensor_type_proto(I64, []))], [("y", f3)]))
    # position 5 of a sequence of two
    write("seq_at_range.onnx", model(
        [n("SequenceConstruct", ["a", "b"], ["s"], name="make"), n("SequenceAt", ["s", "p"], ["y"], name="at")],
        [("a", f3), ("b", f3)], [("y", f3)], inits=[tensor(np.array(5, dtype=np.int64), "p")]))
    # Relu of a sequence
    write("seq_relu.onnx", model(
        [n("SequenceConstruct", ["a"], ["s"], name="make"), n("Relu", ["s"], ["y"], name="relu")],
        [("a", f3)], [("y", f3)]))
    # an i64 tensor inserted into a sequence of f32
    write("seq_insert_dtype.onnx", model(
        [n("SequenceConstruct", ["a"], ["s"], name="make"), n("SequenceInsert", ["s", "i"], ["t"], name="insert")],
        [("a", f3), ("i", helper.make_tensor_type_proto(I64, [3]))], [("t", seq_type(F))]))
    # ConcatFromSequence of SequenceEmpty
    write("seq_concat_empty.onnx", model(
        [n("SequenceEmpty", [], ["s"], name="empty"), n("ConcatFromSequence", ["s"], ["y"], name="cat", axis=0)],
        [], [("y", f3)]))
    # OptionalGetElement of an optional input, and Identity of one
    ot = opt_type(f3)
    write("opt_get.onnx", model([n("OptionalGetElement", ["o"], ["y"], name="get")], [("o", ot)], [("y", f3)]))
    write("opt_identity.onnx", model([n("Identity", ["o"], ["y"], name="id")], [("o", ot)], [("y", ot)]))
    write("opt_absent/input_0.pb", opt_pb(None, "o"))
    write("opt_absent/output_0.pb", tensor(a, "y").SerializeToString())
    write("opt_present/input_0.pb", opt_pb(a, "o"))
    # OptionalHasElement of an optional input: compiled absent, run present
    write("opt_has.onnx", model([n("OptionalHasElement", ["o"], ["y"], name="has")], [("o", ot)],
                                [("y", helper.make_tensor_type_proto(TensorProto.BOOL, []))]))
    write("opt_has_absent/input_0.pb", opt_pb(None, "o"))
    write("opt_has_absent/output_0.pb", tensor(np.array(False)).SerializeToString())
    # Loops carrying a sequence, expanded per iteration: 100 iterations (more
    # than kiln expands), and a body condition that may end the loop early
    sf = seq_type(F)
    b = helper.make_tensor_type_proto(TensorProto.BOOL, [])
    i64 = helper.make_tensor_type_proto(I64, [])

    def seq_loop(cond_nodes, name):
        body = helper.make_graph(
            cond_nodes + [n("SequenceInsert", ["s_in", "a"], ["s_out"], name="insert")], "body",
            [helper.make_value_info("i", i64), helper.make_value_info("c", b), helper.make_value_info("s_in", sf)],
            [helper.make_value_info("c_out", b), helper.make_value_info("s_out", sf)])
        return model([n("SequenceEmpty", [], ["e"], name="empty", dtype=F),
                      n("Loop", ["m", "", "e"], ["s"], name="loop", body=body),
                      n("ConcatFromSequence", ["s"], ["y"], name="cat", axis=0)],
                     [("a", f3)], [("y", helper.make_tensor_type_proto(F, None))],
                     inits=[tensor(np.array(100 if name == "long" else 4, dtype=np.int64), "m"),
                            tensor(np.array(2, dtype=np.int64), "two")])
    write("seq_loop_long.onnx", seq_loop([n("Identity", ["c"], ["c_out"], name="keep")], "long"))
    write("seq_loop_exit.onnx", seq_loop([n("Less", ["i", "two"], ["c_out"], name="less")], "exit"))
    # If on a graph input whose branches make sequences of 1 and 2 elements
    one = helper.make_graph([n("SequenceConstruct", ["a"], ["t1"], name="make1")], "then", [],
                            [helper.make_value_info("t1", sf)])
    two = helper.make_graph([n("SequenceConstruct", ["a", "a"], ["t2"], name="make2")], "else", [],
                            [helper.make_value_info("t2", sf)])
    write("seq_if_lengths.onnx", model([n("If", ["c"], ["s"], name="branch", then_branch=one, else_branch=two)],
                                       [("c", b), ("a", f3)], [("s", sf)]))

    # the controls: sequence ops that compile and match numpy (SplitToSequence,
    # SequenceErase, SequenceLength, ConcatFromSequence stacking at axis 1 and
    # at the new last axis, SequenceAt from the back, SequenceConstruct)
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    x1 = -np.arange(6, dtype=np.float32).reshape(2, 3)
    for tag, ax in (("mid", 1), ("end", -1)):
        nodes = [n("SplitToSequence", ["x"], ["s"], name="split", axis=0),
                 n("SequenceErase", ["s", "p"], ["s2"], name="erase"),
                 n("SequenceLength", ["s2"], ["L"], name="len"),
                 n("ConcatFromSequence", ["s2"], ["y"], name="stack", axis=ax, new_axis=1),
                 n("SequenceAt", ["s2", "q"], ["z"], name="at"),
                 n("SequenceConstruct", ["z", "x1"], ["c"], name="make"),
                 n("ConcatFromSequence", ["c"], ["w"], name="cat", axis=0)]
        write("seq_ops_%s.onnx" % tag, model(
            nodes, [("x", helper.make_tensor_type_proto(F, [4, 3])), ("x1", helper.make_tensor_type_proto(F, [2, 3]))],
            [("y", helper.make_tensor_type_proto(F, None)), ("L", helper.make_tensor_type_proto(I64, None)),
             ("z", helper.make_tensor_type_proto(F, None)), ("w", helper.make_tensor_type_proto(F, None))],
            opset=17, inits=[tensor(np.array(1, dtype=np.int64), "p"), tensor(np.array(-1, dtype=np.int64), "q")]))
        s2 = [x[0:1], x[2:3], x[3:4]]
        want = [np.stack(s2, axis=ax), np.array(3, dtype=np.int64), x[3:4], np.concatenate([x[3:4], x1], axis=0)]
        for i, arr in enumerate([x, x1]):
            write("seq_ops_%s_data/input_%d.pb" % (tag, i), tensor(arr).SerializeToString())
        for i, arr in enumerate(want):
            write("seq_ops_%s_data/output_%d.pb" % (tag, i), tensor(arr).SerializeToString())


if __name__ == "__main__":
    main(os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases", "seq"))
