#!/usr/bin/env python3
"""make_cases.py: writes the bad inputs of tests/errors/ into tests/errors/cases/.

    python3 tests/errors/make_cases.py

The files it writes are committed, so the suite never needs onnx to run; run
this again only to change a case. Uses only onnx.helper / onnx.numpy_helper /
protobuf APIs that exist in onnx 1.12 (Debian's python3-onnx). Nothing here is
validated by onnx.checker: most of these models are wrong on purpose. Output
is deterministic, byte for byte.
"""
import os
import shutil

import numpy as np
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "cases")
F = TensorProto.FLOAT


def path(name):
    return os.path.join(OUT, name)


def write(name, data):
    p = path(name)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        f.write(data)


def model(nodes, inputs, outputs, inits=(), opset=13, name="g"):
    """A ModelProto (bytes) of one graph; inputs/outputs are (name, dtype, shape)."""
    g = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs],
        initializer=list(inits))
    m = helper.make_model(g, producer_name="kiln-tests",
                          opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 7
    return m.SerializeToString()


def tensor(arr):
    return numpy_helper.from_array(arr).SerializeToString()


def node(op, ins, outs, name, **attrs):
    return helper.make_node(op, ins, outs, name=name, **attrs)


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)

    # ---------------------------------------------------------- good models
    # add.onnx: c = a + b, float [2,3]; the base of the flag and check cases.
    add = model([node("Add", ["a", "b"], ["c"], "add_1")],
                [("a", F, [2, 3]), ("b", F, [2, 3])], [("c", F, [2, 3])])
    write("add.onnx", add)
    # symbolic.onnx: y = Relu(x), x float [N,3]: needs --shape x=... to compile.
    write("symbolic.onnx", model([node("Relu", ["x"], ["y"], "relu_1")],
                                 [("x", F, ["N", 3])], [("y", F, ["N", 3])]))

    # ---------------------------------------------------------- not a model
    write("empty.onnx", b"")
    write("text.onnx", b"this is not an onnx model, just some text\n")
    write("random.onnx", np.random.RandomState(7).bytes(256))
    # truncated.onnx: a valid model with a 64-float initializer, cut in half
    # (the cut lands inside the initializer's raw_data).
    w = np.arange(64, dtype=np.float32).reshape(8, 8)
    full = model([node("MatMul", ["x", "w"], ["y"], "mm_1")],
                 [("x", F, [1, 8])], [("y", F, [1, 8])],
                 [numpy_helper.from_array(w, "w")])
    write("truncated.onnx", full[: len(full) // 2])

    # ---------------------------------------------------------- unsupported ops
    write("unsupported_op.onnx", model(
        [node("Relu", ["x"], ["t"], "relu_1"), node("Frobnicate", ["t"], ["y"], "frob_1")],
        [("x", F, [2, 3])], [("y", F, [2, 3])]))
    custom = helper.make_node("Wibble", ["x"], ["y"], name="mystery", domain="com.example")
    g = helper.make_graph([custom], "g", [helper.make_tensor_value_info("x", F, [2, 3])],
                          [helper.make_tensor_value_info("y", F, [2, 3])])
    m = helper.make_model(g, producer_name="kiln-tests",
                          opset_imports=[helper.make_opsetid("", 13),
                                         helper.make_opsetid("com.example", 1)])
    m.ir_version = 7
    write("custom_domain_op.onnx", m.SerializeToString())
    write("two_unsupported.onnx", model(
        [node("Frobnicate", ["x"], ["t"], "frob_a"), node("Relu", ["t"], ["u"], "relu_1"),
         node("Wibble", ["u"], ["y"], "wib_b")],
        [("x", F, [2, 3])], [("y", F, [2, 3])]))

    # ---------------------------------------------------------- broken graphs
    # two nodes feeding each other: t1 = Add(x, t2), t2 = Relu(t1)
    write("two_node_loop.onnx", model(
        [node("Add", ["x", "t2"], ["t1"], "loop_add"), node("Relu", ["t1"], ["t2"], "loop_relu")],
        [("x", F, [2, 3])], [("t1", F, [2, 3])]))
    # 'ghost' is neither a graph input, an initializer nor any node's output
    write("dangling_input.onnx", model(
        [node("Add", ["x", "ghost"], ["y"], "add_1")],
        [("x", F, [2, 3])], [("y", F, [2, 3])]))
    # graph output 'nowhere' is produced by no node
    write("output_not_produced.onnx", model(
        [node("Relu", ["x"], ["y"], "relu_1")],
        [("x", F, [2, 3])], [("y", F, [2, 3]), ("nowhere", F, [2, 3])]))
    # two nodes write the same value 'y'
    write("duplicate_output.onnx", model(
        [node("Relu", ["x"], ["y"], "relu_1"), node("Neg", ["x"], ["y"], "neg_2")],
        [("x", F, [2, 3])], [("y", F, [2, 3])]))
    # a node writes the graph input 'x'
    write("output_shadows_input.onnx", model(
        [node("Relu", ["x"], ["y"], "relu_1"), node("Neg", ["y"], ["x"], "neg_2")],
        [("x", F, [2, 3])], [("y", F, [2, 3])]))
    write("too_few_inputs.onnx", model(
        [node("Add", ["x"], ["y"], "add_1")],
        [("x", F, [2, 3])], [("y", F, [2, 3])]))
    # a required input left empty ("") while a later one is given
    write("empty_required_input.onnx", model(
        [node("Gather", ["", "i"], ["y"], "gather_1")],
        [("i", helper.TensorProto.INT64, [2])], [("y", F, [2])]))
    write("too_many_inputs.onnx", model(
        [node("Relu", ["x", "x"], ["y"], "relu_1")],
        [("x", F, [2, 3])], [("y", F, [2, 3])]))
    # a bad node without a name: the message must still point at it
    write("unnamed_node.onnx", model(
        [node("Relu", ["x"], ["t"], "relu_1"), helper.make_node("Add", ["t"], ["y"])],
        [("x", F, [2, 3])], [("y", F, [2, 3])]))

    # ---------------------------------------------------------- attributes
    write("perm_float.onnx", model(
        [node("Transpose", ["x"], ["y"], "tr_1", perm=1.0)],
        [("x", F, [2, 3])], [("y", F, [3, 2])]))
    write("transa_string.onnx", model(
        [node("Gemm", ["a", "b"], ["y"], "gemm_1", transA="yes")],
        [("a", F, [2, 3]), ("b", F, [3, 4])], [("y", F, [2, 4])]))

    # ---------------------------------------------------------- shapes
    write("matmul_inner.onnx", model(
        [node("MatMul", ["a", "b"], ["y"], "mm_1")],
        [("a", F, [2, 3]), ("b", F, [4, 5])], [("y", F, [2, 5])]))
    write("add_broadcast.onnx", model(
        [node("Add", ["a", "b"], ["y"], "add_1")],
        [("a", F, [2, 3]), ("b", F, [4])], [("y", F, [2, 3])]))

    # ---------------------------------------------------------- initializers
    # data_location EXTERNAL, location names a file that does not exist
    ext = TensorProto()
    ext.name = "w"
    ext.data_type = F
    ext.dims.extend([2, 3])
    ext.data_location = TensorProto.EXTERNAL
    for k, v in (("location", "missing_weights.bin"), ("offset", "0"), ("length", "24")):
        e = ext.external_data.add()
        e.key, e.value = k, v
    write("external_missing.onnx", model(
        [node("Add", ["x", "w"], ["y"], "add_1")],
        [("x", F, [2, 3])], [("y", F, [2, 3])], [ext]))
    # raw_data of 10 bytes for a float [2,3] (24 bytes)
    bad = TensorProto()
    bad.name = "w"
    bad.data_type = F
    bad.dims.extend([2, 3])
    bad.raw_data = bytes(range(10))
    write("raw_data_length.onnx", model(
        [node("Add", ["x", "w"], ["y"], "add_1")],
        [("x", F, [2, 3])], [("y", F, [2, 3])], [bad]))

    # ---------------------------------------------------------- test data for add.onnx
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.full((2, 3), 0.5, dtype=np.float32)
    c = a + b
    ok = [("input_0.pb", a), ("input_1.pb", b), ("output_0.pb", c)]
    for f, t in ok:
        write("check_ok/" + f, tensor(t))
    for f, t in [("input_0.pb", a.reshape(3, 2))] + ok[1:]:
        write("check_wrong_shape/" + f, tensor(t))
    for f, t in [("input_0.pb", a.astype(np.int32))] + ok[1:]:
        write("check_wrong_dtype/" + f, tensor(t))
    for f, t in ok[:2]:
        write("check_no_output/" + f, tensor(t))
    for f, t in [ok[0], ok[2]]:
        write("check_missing_input/" + f, tensor(t))
    for f, t in ok[1:]:
        write("check_not_tensor/" + f, tensor(t))
    write("check_not_tensor/input_0.pb", b"this is not a TensorProto\n")
    for f, t in ok[:2] + [("output_0.pb", c.reshape(6))]:
        write("check_output_shape/" + f, tensor(t))


def topics():
    """Run every tests/errors/make_<topic>.py: each has main(out_dir) and
    writes its cases into cases/<topic>/ (their run lines are in
    cases_<topic>.txt)."""
    import glob
    import importlib.util
    for f in sorted(glob.glob(os.path.join(HERE, "make_*.py"))):
        topic = os.path.basename(f)[len("make_"):-len(".py")]
        if topic == "cases":
            continue
        spec = importlib.util.spec_from_file_location("make_" + topic, f)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        mod.main(os.path.join(OUT, topic))


if __name__ == "__main__":
    main()
    topics()
