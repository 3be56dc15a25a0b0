#!/usr/bin/env python3
"""tests/control/make_control.py: models with control flow (If, Loop, Scan),
nested and reading outer-scope values, checked by tests/control/run.sh.

Run with the python3 that has onnx and onnxruntime:

    python3 tests/control/make_control.py

For each case it writes tests/control/<name>/model.onnx and
tests/control/<name>/test_data_set_0/{input,output}_N.pb. Inputs are seeded
random data; the reference outputs are onnxruntime's. Each model passes
onnx.checker.check_model(full_check=True).
"""
import os

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
F = TensorProto.FLOAT
I64 = TensorProto.INT64
B = TensorProto.BOOL


def vi(name, t, shape):
    return helper.make_tensor_value_info(name, t, shape)


def const(name, arr):
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.asarray(arr), name + "_v"))


def save(name, graph, feeds, opset=17):
    m = helper.make_model(graph, producer_name="kiln-tests", opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    onnx.checker.check_model(m, full_check=True)
    d = os.path.join(HERE, name)
    os.makedirs(os.path.join(d, "test_data_set_0"), exist_ok=True)
    data = m.SerializeToString()
    with open(os.path.join(d, "model.onnx"), "wb") as f:
        f.write(data)
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    outs = sess.run(None, feeds)
    for i, inp in enumerate(graph.input):
        t = numpy_helper.from_array(feeds[inp.name], inp.name)
        with open(os.path.join(d, "test_data_set_0", "input_%d.pb" % i), "wb") as f:
            f.write(t.SerializeToString())
    for i, (o, arr) in enumerate(zip(graph.output, outs)):
        t = numpy_helper.from_array(np.asarray(arr), o.name)
        with open(os.path.join(d, "test_data_set_0", "output_%d.pb" % i), "wb") as f:
            f.write(t.SerializeToString())


def nested_loop(rng):
    """Loop in a Loop: the inner body reads the graph input w, the outer
    body's iteration number and one of its values; both have scan outputs."""
    inner = helper.make_graph(
        [
            helper.make_node("Identity", ["icond"], ["icond_out"]),
            helper.make_node("Cast", ["i"], ["i_f"], to=F),   # outer iteration number
            helper.make_node("Cast", ["j"], ["j_f"], to=F),   # inner iteration number
            helper.make_node("Mul", ["i_f", "j_f"], ["ij"]),
            helper.make_node("Mul", ["w", "ij"], ["wij"]),
            helper.make_node("Add", ["acc", "wij"], ["acc1"]),
            helper.make_node("Add", ["acc1", "bias"], ["acc_out"]),  # bias: the outer body's value
            helper.make_node("ReduceSum", ["acc_out"], ["row"], keepdims=0),
        ],
        "inner",
        [vi("j", I64, []), vi("icond", B, []), vi("acc", F, [2, 3])],
        [vi("icond_out", B, []), vi("acc_out", F, [2, 3]), vi("row", F, [])],
    )
    outer = helper.make_graph(
        [
            helper.make_node("Identity", ["ocond"], ["ocond_out"]),
            helper.make_node("Sin", ["state"], ["bias"]),
            const("two", np.array(2, np.int64)),
            const("yes", np.array(True)),
            helper.make_node("Loop", ["two", "yes", "state"], ["state2", "rows"], body=inner),
            helper.make_node("Mul", ["state2", "half"], ["state_out"]),
            helper.make_node("ReduceMax", ["rows"], ["best"], keepdims=0),
        ],
        "outer",
        [vi("i", I64, []), vi("ocond", B, []), vi("state", F, [2, 3])],
        [vi("ocond_out", B, []), vi("state_out", F, [2, 3]), vi("best", F, [])],
    )
    g = helper.make_graph(
        [
            const("three", np.array(3, np.int64)),
            const("go", np.array(True)),
            helper.make_node("Loop", ["three", "go", "x"], ["y", "bests"], body=outer),
        ],
        "nested_loop",
        [vi("x", F, [2, 3]), vi("w", F, [2, 3])],
        [vi("y", F, [2, 3]), vi("bests", F, [3])],
        initializer=[numpy_helper.from_array(np.float32(0.5), "half")],
    )
    feeds = {"x": rng.standard_normal((2, 3)).astype(np.float32), "w": rng.standard_normal((2, 3)).astype(np.float32)}
    save("nested_loop", g, feeds)


def loop_if_exit(rng):
    """A Loop whose body branches on run-time data (If) and ends early on a
    condition it computes; two carried values swap places each iteration."""
    then_b = helper.make_graph(
        [helper.make_node("Mul", ["a", "k"], ["t_out"])], "then",
        [], [vi("t_out", F, [4])])
    else_b = helper.make_graph(
        [helper.make_node("Sub", ["a", "x"], ["e_out"])], "else",
        [], [vi("e_out", F, [4])])
    body = helper.make_graph(
        [
            helper.make_node("ReduceSum", ["a"], ["s"], keepdims=0),
            helper.make_node("Greater", ["s", "zero"], ["pos"]),
            helper.make_node("If", ["pos"], ["a2"], then_branch=then_b, else_branch=else_b),
            helper.make_node("Add", ["a2", "b"], ["b_out"]),
            helper.make_node("Identity", ["b"], ["a_out"]),
            helper.make_node("ReduceSum", ["b_out"], ["bs"], keepdims=0),
            helper.make_node("Less", ["bs", "limit"], ["cond_out"]),
        ],
        "body",
        [vi("i", I64, []), vi("cond", B, []), vi("a", F, [4]), vi("b", F, [4])],
        [vi("cond_out", B, []), vi("a_out", F, [4]), vi("b_out", F, [4])],
    )
    g = helper.make_graph(
        [helper.make_node("Loop", ["m", "", "x", "y"], ["a_final", "b_final"], body=body)],
        "loop_if_exit",
        [vi("x", F, [4]), vi("y", F, [4])],
        [vi("a_final", F, [4]), vi("b_final", F, [4])],
        initializer=[
            numpy_helper.from_array(np.array(6, np.int64), "m"),
            numpy_helper.from_array(np.float32(0.0), "zero"),
            numpy_helper.from_array(np.float32(7.0), "limit"),
            numpy_helper.from_array(np.float32(1.5), "k"),
        ],
    )
    feeds = {"x": np.array([0.5, -1.0, 2.0, 0.25], np.float32), "y": np.array([1.0, 0.5, -0.5, 1.0], np.float32)}
    save("loop_if_exit", g, feeds)


def scan_axes(rng):
    """Scan (opset 16) over axis 1 of one input, backwards over another,
    with a MatMul on a captured weight, a scan output along axis 1 written
    in reverse, and a second state."""
    body = helper.make_graph(
        [
            helper.make_node("MatMul", ["h", "wt"], ["hw"]),
            helper.make_node("Add", ["hw", "xt"], ["pre"]),
            helper.make_node("Add", ["pre", "zt"], ["pre2"]),
            helper.make_node("Tanh", ["pre2"], ["h_out"]),
            helper.make_node("Add", ["cnt", "one"], ["cnt_out"]),
            helper.make_node("Mul", ["h_out", "cnt_out"], ["y_t"]),
        ],
        "body",
        [vi("h", F, [2, 3]), vi("cnt", F, []), vi("xt", F, [2, 3]), vi("zt", F, [2, 3])],
        [vi("h_out", F, [2, 3]), vi("cnt_out", F, []), vi("y_t", F, [2, 3])],
    )
    g = helper.make_graph(
        [helper.make_node("Scan", ["h0", "c0", "x", "z"], ["h_last", "c_last", "ys"], body=body,
                          num_scan_inputs=2, scan_input_axes=[1, 0], scan_input_directions=[0, 1],
                          scan_output_axes=[1], scan_output_directions=[1])],
        "scan_axes",
        [vi("h0", F, [2, 3]), vi("c0", F, []), vi("x", F, [2, 5, 3]), vi("z", F, [5, 2, 3])],
        [vi("h_last", F, [2, 3]), vi("c_last", F, []), vi("ys", F, [2, 5, 3])],
        initializer=[
            numpy_helper.from_array((rng.standard_normal((3, 3)) * 0.5).astype(np.float32), "wt"),
            numpy_helper.from_array(np.float32(1.0), "one"),
        ],
    )
    feeds = {
        "h0": rng.standard_normal((2, 3)).astype(np.float32),
        "c0": np.float32(0.0),
        "x": rng.standard_normal((2, 5, 3)).astype(np.float32),
        "z": rng.standard_normal((5, 2, 3)).astype(np.float32),
    }
    feeds["c0"] = np.array(0.0, np.float32)
    save("scan_axes", g, feeds, opset=16)


def scan8_batch(rng):
    """Scan of opset 8: a batch axis before the sequence axis (an outer loop
    over the batch), the scan input read backwards."""
    body = helper.make_graph(
        [
            helper.make_node("Mul", ["s", "decay"], ["sd"]),
            helper.make_node("Add", ["sd", "xt"], ["s_out"]),
            helper.make_node("Identity", ["s_out"], ["y_t"]),
        ],
        "body",
        [vi("s", F, [3]), vi("xt", F, [3])],
        [vi("s_out", F, [3]), vi("y_t", F, [3])],
    )
    g = helper.make_graph(
        [helper.make_node("Scan", ["", "s0", "x"], ["s_last", "ys"], body=body, num_scan_inputs=1,
                          directions=[1])],
        "scan8_batch",
        [vi("s0", F, [2, 3]), vi("x", F, [2, 4, 3])],
        [vi("s_last", F, [2, 3]), vi("ys", F, [2, 4, 3])],
        initializer=[numpy_helper.from_array(np.float32(0.75), "decay")],
    )
    feeds = {"s0": rng.standard_normal((2, 3)).astype(np.float32),
             "x": rng.standard_normal((2, 4, 3)).astype(np.float32)}
    save("scan8_batch", g, feeds, opset=8)


def loop_seq(rng, name="loop_seq", const_cond=False):
    """A Loop carrying a sequence that grows by one element each iteration
    (kiln expands it into its iterations): element i is a slice of the
    graph input x ending at the iteration number, times a captured weight;
    a scan output too, and the sequence concatenated after the loop. The
    body passes its condition on, or (const_cond) makes a constant true."""
    body = helper.make_graph(
        [
            const("cond_out", np.array(True)) if const_cond else helper.make_node("Identity", ["cond"], ["cond_out"]),
            helper.make_node("Add", ["i", "one"], ["i1"]),
            helper.make_node("Unsqueeze", ["i1", "axes"], ["end"]),
            helper.make_node("Slice", ["x", "start", "end"], ["piece"]),
            helper.make_node("Mul", ["piece", "w"], ["scaled"]),
            helper.make_node("SequenceInsert", ["seq", "scaled"], ["seq_out"]),
            helper.make_node("ReduceSum", ["scaled"], ["total"], keepdims=0),
        ],
        "body",
        [vi("i", I64, []), vi("cond", B, []), helper.make_tensor_sequence_value_info("seq", F, None)],
        [vi("cond_out", B, []), helper.make_tensor_sequence_value_info("seq_out", F, None), vi("total", F, [])],
    )
    g = helper.make_graph(
        [
            helper.make_node("SequenceEmpty", [], ["empty"], dtype=F),
            helper.make_node("Loop", ["m", "go", "empty"], ["seq_final", "totals"], body=body),
            helper.make_node("ConcatFromSequence", ["seq_final"], ["y"], axis=0),
        ],
        name,
        [vi("x", F, [5]), vi("w", F, [])],
        [vi("y", F, [10]), vi("totals", F, [4])],
        initializer=[
            numpy_helper.from_array(np.array(4, np.int64), "m"),
            numpy_helper.from_array(np.array(True), "go"),
            numpy_helper.from_array(np.array(1, np.int64), "one"),
            numpy_helper.from_array(np.array([0], np.int64), "start"),
            numpy_helper.from_array(np.array([0], np.int64), "axes"),
        ],
    )
    feeds = {"x": rng.standard_normal(5).astype(np.float32), "w": np.array(1.5, np.float32)}
    save(name, g, feeds)


def seq_map(rng):
    """SequenceMap over a sequence split from a graph input, with a tensor
    as its second input: each element scaled by that tensor's sum, and its
    maximum; both result sequences concatenated back into tensors."""
    body = helper.make_graph(
        [
            helper.make_node("ReduceSum", ["t"], ["ts"], keepdims=0),
            helper.make_node("Mul", ["e", "ts"], ["scaled"]),
            helper.make_node("ReduceMax", ["e"], ["top"], keepdims=1),
        ],
        "body",
        [vi("e", F, ["n"]), vi("t", F, [3])],
        [vi("scaled", F, ["n"]), vi("top", F, [1])],
    )
    g = helper.make_graph(
        [
            helper.make_node("SplitToSequence", ["x", "split"], ["parts"]),
            helper.make_node("SequenceMap", ["parts", "t"], ["scaled_seq", "tops"], body=body),
            helper.make_node("ConcatFromSequence", ["scaled_seq"], ["y"], axis=0),
            helper.make_node("ConcatFromSequence", ["tops"], ["z"], axis=0),
        ],
        "seq_map",
        [vi("x", F, [6]), vi("t", F, [3])],
        [vi("y", F, [6]), vi("z", F, [3])],
        initializer=[numpy_helper.from_array(np.array([1, 2, 3], np.int64), "split")],
    )
    feeds = {"x": rng.standard_normal(6).astype(np.float32), "t": rng.standard_normal(3).astype(np.float32)}
    save("seq_map", g, feeds)


def main():
    rng = np.random.default_rng(17)
    nested_loop(rng)
    loop_if_exit(rng)
    scan_axes(rng)
    scan8_batch(rng)
    loop_seq(rng)
    seq_map(rng)
    loop_seq(rng, "loop_seq_const", const_cond=True)


if __name__ == "__main__":
    main()
