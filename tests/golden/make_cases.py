"""make_cases.py: the small models of kiln's golden --dump tests.

Each model isolates one thing a pass must do; its expected Graph IR and
Kernel IR dumps are NAME.graph and NAME.kernel beside it (written by
`sh tests/golden/run.sh KILN --update`, reviewed, committed).

    python3 tests/golden/make_cases.py     (onnx >= 1.12, numpy)
"""
import os

import numpy as np
from onnx import TensorProto, helper, numpy_helper, save

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(7)


def tensor(name, shape):
    return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)


def model(name, nodes, inputs, outputs, inits=(), opset=13):
    graph = helper.make_graph(nodes, name, inputs, outputs, list(inits))
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="kiln-golden")
    m.ir_version = 7
    save(m, os.path.join(HERE, name + ".onnx"))


def vi(name, shape, t=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, t, shape)


# Gemm -> Add(bias) -> Relu: one kernel, no intermediate in the arena.
model("gemm_bias_relu",
      [helper.make_node("Gemm", ["x", "w"], ["g"], name="fc", transB=1),
       helper.make_node("Add", ["g", "b"], ["s"], name="bias"),
       helper.make_node("Relu", ["s"], ["y"], name="relu")],
      [vi("x", [2, 4])], [vi("y", [2, 3])], [tensor("w", [3, 4]), tensor("b", [3])])

# Conv -> BatchNormalization -> Relu: BN folded into the conv's weights,
# Relu fused into its epilogue.
scale = np.abs(rng.standard_normal(4)).astype(np.float32) + 0.5
var = np.abs(rng.standard_normal(4)).astype(np.float32) + 0.5
model("conv_bn_relu",
      [helper.make_node("Conv", ["x", "w", "cb"], ["c"], name="conv", pads=[1, 1, 1, 1]),
       helper.make_node("BatchNormalization", ["c", "scale", "bias", "mean", "var"], ["n"], name="bn"),
       helper.make_node("Relu", ["n"], ["y"], name="relu")],
      [vi("x", [1, 3, 6, 6])], [vi("y", [1, 4, 6, 6])],
      [tensor("w", [4, 3, 3, 3]), tensor("cb", [4]), numpy_helper.from_array(scale, "scale"),
       tensor("bias", [4]), tensor("mean", [4]), numpy_helper.from_array(var, "var")])

# The Shape -> Gather -> Unsqueeze -> Concat chain PyTorch exports for a
# flatten: folded to a constant; the Reshape is a view of x.
model("shape_chain",
      [helper.make_node("Shape", ["x"], ["s"], name="shape"),
       helper.make_node("Constant", [], ["zero"], name="zero",
                        value=numpy_helper.from_array(np.array(0, dtype=np.int64))),
       helper.make_node("Gather", ["s", "zero"], ["n"], name="batch", axis=0),
       helper.make_node("Unsqueeze", ["n", "axes"], ["n1"], name="unsq"),
       helper.make_node("Constant", [], ["minus1"], name="minus1",
                        value=numpy_helper.from_array(np.array([-1], dtype=np.int64))),
       helper.make_node("Concat", ["n1", "minus1"], ["target"], name="cat", axis=0),
       helper.make_node("Reshape", ["x", "target"], ["r"], name="flatten"),
       helper.make_node("Exp", ["r"], ["y"], name="exp")],
      [vi("x", [2, 3, 4])], [vi("y", [2, 12])],
      [numpy_helper.from_array(np.array([0], dtype=np.int64), "axes")])

# Two branches joined by Add: the Add fuses into the conv that ends last,
# and runs where its other input is ready.
model("residual",
      [helper.make_node("Conv", ["x", "wa"], ["a"], name="conv_a", pads=[1, 1, 1, 1]),
       helper.make_node("Conv", ["x", "wb"], ["b"], name="conv_b"),
       helper.make_node("Add", ["a", "b"], ["s"], name="add"),
       helper.make_node("Relu", ["s"], ["y"], name="relu")],
      [vi("x", [1, 2, 5, 5])], [vi("y", [1, 2, 5, 5])],
      [tensor("wa", [2, 2, 3, 3]), tensor("wb", [2, 2, 1, 1])])

# A chain whose intermediates must exist (each is read twice): each dies
# in the kernel after the one making it, which reads it only at the element
# it stores, so it is written over it (kernel/inplace.c): one arena slot
# serves the whole chain, the other buffers are `unused`.
model("arena_reuse",
      [helper.make_node("Exp", ["x"], ["a"], name="e1"),
       helper.make_node("Mul", ["a", "a"], ["b"], name="m1"),
       helper.make_node("Add", ["b", "a"], ["c"], name="a1"),
       helper.make_node("Mul", ["c", "c"], ["d"], name="m2"),
       helper.make_node("Sub", ["d", "c"], ["e"], name="s1"),
       helper.make_node("Mul", ["e", "e"], ["f"], name="m3"),
       helper.make_node("Sub", ["f", "e"], ["y"], name="s2")],
      [vi("x", [64])], [vi("y", [64])])

# Pointwise -> depthwise -> pointwise (a MobileNet block): the
# intermediates are stored channels-last (`stored(0,2,3,1)` in the graph
# dump, [1, 6, 6, 16] buffers in the kernel dump), the depthwise Conv's
# input with a one-pixel zero border (`halo(0,0,1,1)`, written by the
# first kernel) that it reads in place of a padded copy, the depthwise
# weights tap-major, and the depthwise Conv is register blocked along
# channels with both operands read as vectors; the graph's input and
# output stay NCHW, converted by the first and last Conv's loads and
# stores.
model("depthwise_nhwc",
      [helper.make_node("Conv", ["x", "wa"], ["a"], name="expand"),
       helper.make_node("Relu", ["a"], ["ar"], name="relu_a"),
       helper.make_node("Conv", ["ar", "wd"], ["d"], name="depthwise", group=16, pads=[1, 1, 1, 1]),
       helper.make_node("Relu", ["d"], ["dr"], name="relu_d"),
       helper.make_node("Conv", ["dr", "wp"], ["y"], name="project")],
      [vi("x", [1, 8, 6, 6])], [vi("y", [1, 8, 6, 6])],
      [tensor("wa", [16, 8, 1, 1]), tensor("wd", [16, 1, 3, 3]), tensor("wp", [8, 16, 1, 1])])

# Compress along axis 1: a data-dependent extent (`dyn(1)` in the graph
# dump). The output's buffer has the upper bound [2x5]; the kernel counts
# the condition's true entries, stores the count in the length buffer
# (`dim 1 at most 5: length in b3`) and writes each kept column at
# row * count + j, dense for the actual shape; the buffer is live past the
# last kernel, where model_output_shape reads it.
model("compress_dynamic",
      [helper.make_node("Compress", ["x", "c"], ["y"], name="compress", axis=1)],
      [vi("x", [2, 5]), vi("c", [5], TensorProto.BOOL)], [vi("y", None)], opset=11)
