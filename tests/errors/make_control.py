#!/usr/bin/env python3
"""make_control.py: the control-flow cases of tests/errors (cases_control.txt).

Called by make_cases.py as main(out_dir), with out_dir tests/errors/cases/control/.
Writes small models with If, Loop and Scan nodes that kiln must refuse with
one clear line: branches that disagree under a run-time condition, a Loop
without a trip count or with one known only at run time, scan outputs of a
loop that may end early, a carried value that changes shape, a carried sequence that is not a
list the body appends to, a body reading
a name nobody defines, a bad num_scan_inputs, a FlexAttention modifier that changes the
scores' shape. Deterministic, byte for byte.
"""
import os

import numpy as np
from onnx import TensorProto, helper, numpy_helper

F = TensorProto.FLOAT
I64 = TensorProto.INT64
B = TensorProto.BOOL


def vi(name, t, shape):
    return helper.make_tensor_value_info(name, t, shape)


def model(nodes, inputs, outputs, inits=(), opset=17):
    g = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    m = helper.make_model(g, producer_name="kiln-tests", opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m.SerializeToString()


def loop_body(nodes, carried_out_shape, scan=False):
    outs = [vi("cond_out", B, []), vi("v_out", F, carried_out_shape)]
    if scan:
        outs.append(vi("scan_out", F, carried_out_shape))
    return helper.make_graph(nodes, "body", [vi("i", I64, []), vi("cond", B, []), vi("v", F, [2])], outs)


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)

    def write(name, data):
        with open(os.path.join(out_dir, name), "wb") as f:
            f.write(data)

    m3 = numpy_helper.from_array(np.array(3, np.int64), "m")
    # If on a run-time condition whose branches make different shapes
    then_b = helper.make_graph([helper.make_node("Identity", ["x"], ["t"])], "then", [], [vi("t", F, [2])])
    else_b = helper.make_graph([helper.make_node("Concat", ["x", "x"], ["e"], axis=0)], "else", [],
                               [vi("e", F, [4])])
    write("if_branches_disagree.onnx", model(
        [helper.make_node("If", ["c"], ["y"], "if_1", then_branch=then_b, else_branch=else_b)],
        [vi("c", B, []), vi("x", F, [2])], [vi("y", F, None)]))
    # Loop without a trip count
    body = loop_body([helper.make_node("Identity", ["cond"], ["cond_out"]),
                      helper.make_node("Neg", ["v"], ["v_out"])], [2])
    write("loop_no_trip_count.onnx", model(
        [helper.make_node("Loop", ["", "c", "x"], ["y"], "loop_1", body=body)],
        [vi("c", B, []), vi("x", F, [2])], [vi("y", F, [2])]))
    # Loop whose trip count is a graph input (kiln compile cannot specialize it)
    write("loop_runtime_trip_count.onnx", model(
        [helper.make_node("Loop", ["n", "", "x"], ["y"], "loop_1", body=body)],
        [vi("n", I64, []), vi("x", F, [2])], [vi("y", F, [2])]))
    # scan outputs of a loop that may end early
    body = loop_body([helper.make_node("ReduceSum", ["v"], ["s"], keepdims=0),
                      helper.make_node("Less", ["s", "lim"], ["cond_out"]),
                      helper.make_node("Neg", ["v"], ["v_out"]),
                      helper.make_node("Identity", ["v_out"], ["scan_out"])], [2], scan=True)
    write("loop_scan_early_exit.onnx", model(
        [helper.make_node("Loop", ["m", "", "x"], ["y", "ys"], "loop_1", body=body)],
        [vi("x", F, [2])], [vi("y", F, [2]), vi("ys", F, [3, 2])],
        [m3, numpy_helper.from_array(np.float32(1.0), "lim")]))
    # a carried value that grows
    body = loop_body([helper.make_node("Identity", ["cond"], ["cond_out"]),
                      helper.make_node("Concat", ["v", "v"], ["v_out"], axis=0)], [4])
    write("loop_carried_grows.onnx", model(
        [helper.make_node("Loop", ["m", "", "x"], ["y"], "loop_1", body=body)],
        [vi("x", F, [2])], [vi("y", F, None)], [m3]))
    # a body reading a name defined nowhere
    body = loop_body([helper.make_node("Identity", ["cond"], ["cond_out"]),
                      helper.make_node("Add", ["v", "nowhere"], ["v_out"], name="add_1")], [2])
    write("body_unknown_name.onnx", model(
        [helper.make_node("Loop", ["m", "", "x"], ["y"], "loop_1", body=body)],
        [vi("x", F, [2])], [vi("y", F, [2])], [m3]))
    # Scan with more scan inputs than inputs
    sbody = helper.make_graph([helper.make_node("Add", ["s", "xt"], ["s_out"])], "body",
                              [vi("s", F, [2]), vi("xt", F, [2])], [vi("s_out", F, [2])])
    # a FlexAttention score_mod that changes the scores' shape
    mod = helper.make_graph([helper.make_node("ReduceSum", ["sc"], ["sc_out"], keepdims=1, axes=[3])], "score_mod",
                            [vi("sc", F, [1, 2, 3, 3])], [vi("sc_out", F, [1, 2, 3, 1])])
    g = helper.make_graph(
        [helper.make_node("FlexAttention", ["q", "k", "v"], ["y"], "flex_1", domain="ai.onnx.preview",
                          score_mod=mod)],
        "g", [vi(x, F, [1, 2, 3, 4]) for x in "qkv"], [vi("y", F, [1, 2, 3, 4])])
    m = helper.make_model(g, producer_name="kiln-tests", opset_imports=[
        helper.make_opsetid("", 11), helper.make_opsetid("ai.onnx.preview", 1)])
    m.ir_version = 8
    write("flex_score_mod_shape.onnx", m.SerializeToString())
    write("scan_bad_num_scan_inputs.onnx", model(
        [helper.make_node("Scan", ["s0", "x"], ["y"], "scan_1", body=sbody, num_scan_inputs=5)],
        [vi("s0", F, [2]), vi("x", F, [3, 2])], [vi("y", F, [2])]))
