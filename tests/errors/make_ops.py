#!/usr/bin/env python3
"""make_ops.py: the operator-hardening cases of tests/errors (cases_ops.txt).

Called by make_cases.py as main(out_dir), with out_dir tests/errors/cases/ops/.
Writes small models whose attributes or constant inputs push kiln's operator
definitions (compiler/ops/) to their edges: attribute lists longer than kiln's
arrays, window geometry and block sizes that overflow 64-bit integers, loop
extents that would run for ever (LRN size, RoiAlign sampling_ratio, TfIdf
max_skip_count), constant indices out of range, integer division by zero, and
INT64 extremes that are valid and must still compute the right values (those
come with test data for `kiln check`, computed here with numpy). Deterministic,
byte for byte; uses only onnx APIs of onnx 1.12.
"""
import os

import numpy as np
from onnx import TensorProto, helper, numpy_helper

F = TensorProto.FLOAT
I32 = TensorProto.INT32
I64 = TensorProto.INT64
IMAX = 2**63 - 1
IMIN = -(2**63)


def model(nodes, inputs, outputs, inits=(), opset=13):
    """A ModelProto (bytes) of one graph; inputs/outputs are (name, dtype, shape)."""
    g = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs],
        initializer=list(inits))
    m = helper.make_model(g, producer_name="kiln-tests",
                          opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 7
    return m.SerializeToString()


def const(name, values, dtype=np.int64):
    return numpy_helper.from_array(np.array(values, dtype=dtype), name)


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

    def data(self, folder, inputs, outputs):
        """Test data for kiln check: input_N.pb, output_N.pb in folder."""
        for i, (name, arr) in enumerate(inputs):
            self.write("%s/input_%d.pb" % (folder, i), numpy_helper.from_array(arr, name).SerializeToString())
        for i, (name, arr) in enumerate(outputs):
            self.write("%s/output_%d.pb" % (folder, i), numpy_helper.from_array(arr, name).SerializeToString())


def lrn_reference(x, alpha, beta, bias, size):
    """ONNX LRN with a window that covers every channel (size >= 2C - 1)."""
    sq = (x.astype(np.float64) ** 2).sum(axis=1, keepdims=True)
    return (x / (bias + alpha / size * sq) ** beta).astype(np.float32)


def tfidf_tf_reference(x, grams, cols, max_skip):
    """TF counts of TfIdfVectorizer for each row of x [B, C]: n-gram g (a
    tuple) counts the starts s and distances 1..max_skip+1 (unigrams: once)
    that read its items."""
    out = np.zeros((x.shape[0], cols), dtype=np.float32)
    c = x.shape[1]
    for b in range(x.shape[0]):
        for g, col in grams:
            k = len(g)
            dists = [1] if k == 1 else range(1, min(max_skip + 1, c) + 1)
            for dist in dists:
                for s in range(c):
                    if s + (k - 1) * dist < c and all(x[b, s + j * dist] == g[j] for j in range(k)):
                        out[b, col] += 1
    return out


def main(out_dir):
    w = Writer(out_dir)

    # ------------------------------------------------- attribute lists longer than kiln's arrays
    w.write("maxpool_long_kernel.onnx", model(
        [node("MaxPool", ["x"], ["y"], "pool_1", kernel_shape=[2] * 12)],
        [("x", F, [1, 1, 4, 4])], [("y", F, [1, 1, 3, 3])]))
    w.write("convtranspose_long_output_padding.onnx", model(
        [node("ConvTranspose", ["x", "w"], ["y"], "convt_1", output_padding=[0] * 9)],
        [("x", F, [1, 1, 3, 3])], [("y", F, [1, 1, 5, 5])],
        [numpy_helper.from_array(np.ones((1, 1, 3, 3), np.float32), "w")]))
    w.write("transpose_long_perm.onnx", model(
        [node("Transpose", ["x"], ["y"], "tr_1", perm=list(range(9)))],
        [("x", F, [2, 3])], [("y", F, [3, 2])]))

    # ------------------------------------------------- window geometry that overflows
    w.write("maxpool_dilation_overflow.onnx", model(
        [node("MaxPool", ["x"], ["y"], "pool_1", kernel_shape=[2, 2], dilations=[IMAX, 1])],
        [("x", F, [1, 1, 4, 4])], [("y", F, [1, 1, 3, 3])], opset=12))
    w.write("conv_pads_overflow.onnx", model(
        [node("Conv", ["x", "w"], ["y"], "conv_1", pads=[IMAX, 0, IMAX, 0])],
        [("x", F, [1, 1, 4, 4])], [("y", F, [1, 1, 2, 2])],
        [numpy_helper.from_array(np.ones((1, 1, 3, 3), np.float32), "w")]))

    # ------------------------------------------------- loop extents from attributes
    # LRN size near INT64_MAX: the same as a window over every channel, and it
    # must end (kiln clamps the channel loop to 2C - 1)
    x = np.linspace(-2, 2, 2 * 5 * 3 * 3, dtype=np.float32).reshape(2, 5, 3, 3)
    w.write("lrn_huge_size.onnx", model(
        [node("LRN", ["x"], ["y"], "lrn_1", size=IMAX, alpha=1e-2, beta=0.75, bias=1.0)],
        [("x", F, [2, 5, 3, 3])], [("y", F, [2, 5, 3, 3])]))
    w.data("lrn_huge_size", [("x", x)], [("y", lrn_reference(x, 1e-2, 0.75, 1.0, float(IMAX)))])
    # MaxPool with a kernel of 2^40 taps padded as wide over a 3-pixel input:
    # one window, which reads x[..., 0] only; it must end (kiln drops the
    # taps that can only read padding)
    k = 2**40
    xp = (np.arange(6, dtype=np.float32) - 2).reshape(1, 2, 3)
    w.write("maxpool_huge_kernel_pads.onnx", model(
        [node("MaxPool", ["x"], ["y"], "pool_1", kernel_shape=[k], pads=[k - 1, k - 1], strides=[2 * k])],
        [("x", F, [1, 2, 3])], [("y", F, [1, 2, 1])]))
    w.data("maxpool_huge_kernel_pads", [("x", xp)], [("y", xp[..., :1].copy())])
    w.write("roialign_huge_sampling.onnx", model(
        [node("RoiAlign", ["x", "rois", "bi"], ["y"], "roi_1", sampling_ratio=IMAX,
              output_height=2, output_width=2)],
        [("x", F, [1, 1, 8, 8]), ("rois", F, [1, 4]), ("bi", I64, [1])], [("y", F, [1, 1, 2, 2])], opset=16))
    w.write("depthtospace_huge_blocksize.onnx", model(
        [node("DepthToSpace", ["x"], ["y"], "d2s_1", blocksize=IMAX)],
        [("x", F, [1, 4, 2, 2])], [("y", F, [1, 1, 4, 4])]))
    # TfIdf max_skip_count near INT64_MAX: every skip that fits in a row
    xt = np.array([[1, 1, 3, 3, 3, 7], [8, 6, 7, 5, 6, 8]], dtype=np.int32)
    pool = [2, 3, 5, 4, 5, 6, 7, 8, 6, 7]  # unigrams 2 3 5 4, bigrams (5,6) (7,8) (6,7)
    grams = [((2,), 0), ((3,), 1), ((5,), 2), ((4,), 3), ((5, 6), 4), ((7, 8), 5), ((6, 7), 6)]
    w.write("tfidf_huge_skip.onnx", model(
        [node("TfIdfVectorizer", ["x"], ["y"], "tfidf_1", mode="TF", min_gram_length=1, max_gram_length=2,
              max_skip_count=IMAX, ngram_counts=[0, 4], ngram_indexes=list(range(7)), pool_int64s=pool)],
        [("x", I32, [2, 6])], [("y", F, [2, 7])], opset=9))
    w.data("tfidf_huge_skip", [("x", xt)], [("y", tfidf_tf_reference(xt, grams, 7, IMAX))])

    # ------------------------------------------------- constant indices out of range
    w.write("gather_const_index.onnx", model(
        [node("Gather", ["x", "i"], ["y"], "gather_1", axis=1)],
        [("x", F, [3, 4])], [("y", F, [3, 2])], [const("i", [0, 7])]))
    w.write("gatherelements_const_index.onnx", model(
        [node("GatherElements", ["x", "i"], ["y"], "ge_1", axis=0)],
        [("x", F, [3, 2])], [("y", F, [2, 2])], [const("i", [[0, 1], [-4, 2]])]))
    w.write("scatternd_const_index.onnx", model(
        [node("ScatterND", ["x", "i", "u"], ["y"], "snd_1")],
        [("x", F, [4, 2]), ("u", F, [1, 2])], [("y", F, [4, 2])], [const("i", [[IMAX]])]))

    # ------------------------------------------------- INT64 extremes that are valid
    # Slice: starts, ends and steps at INT64_MIN / INT64_MAX clamp as the spec says
    xs = np.arange(12, dtype=np.float32).reshape(3, 4)
    w.write("slice_int64_extremes.onnx", model(
        [node("Slice", ["x", "starts", "ends", "axes", "steps"], ["y"], "slice_1")],
        [("x", F, [3, 4])], [("y", F, [3, 1])],
        [const("starts", [IMIN, IMAX]), const("ends", [IMAX, IMIN]), const("axes", [0, 1]),
         const("steps", [1, IMIN])]))
    w.data("slice_int64_extremes", [("x", xs)], [("y", xs[:, 3:4].copy())])
    # Range over the whole int64 line in three steps: limit - start overflows int64
    w.write("range_int64_extremes.onnx", model(
        [node("Range", ["start", "limit", "delta"], ["r"], "range_1"), node("Add", ["r", "z"], ["y"], "add_1")],
        [("z", I64, [3])], [("y", I64, [3])],
        [const("start", IMIN), const("limit", IMAX), const("delta", IMAX)], opset=11))
    z = np.zeros(3, dtype=np.int64)
    w.data("range_int64_extremes", [("z", z)], [("y", np.array([IMIN, -1, IMAX - 1], dtype=np.int64))])
    # integer division by 0 gives 0, and INT_MIN / -1 wraps: never a trap
    a = np.array([7, -2**31, 5, -9, 8], dtype=np.int32)
    b = np.array([0, -1, 2, 0, -3], dtype=np.int32)
    w.write("div_int_by_zero.onnx", model(
        [node("Div", ["a", "b"], ["y"], "div_1")],
        [("a", I32, [5]), ("b", I32, [5])], [("y", I32, [5])]))
    w.data("div_int_by_zero", [("a", a), ("b", b)], [("y", np.array([0, -2**31, 2, 0, -2], dtype=np.int32))])

    # ------------------------------------------------- shapes whose arithmetic overflows
    w.write("resize_huge_scale.onnx", model(
        [node("Resize", ["x", "", "scales"], ["y"], "resize_1", mode="nearest")],
        [("x", F, [1, 1, 2, 2])], [("y", F, [1, 1, 2, 2])],
        [const("scales", [1, 1, 1e30, 1], np.float32)]))
    w.write("pad_int64_min.onnx", model(
        [node("Pad", ["x", "pads"], ["y"], "pad_1")],
        [("x", F, [2, 3])], [("y", F, [2, 3])], [const("pads", [0, IMIN, 0, 0])]))
    w.write("reshape_overflow.onnx", model(
        [node("Reshape", ["x", "shape"], ["y"], "reshape_1")],
        [("x", F, [2, 8])], [("y", F, [2, 8])], [const("shape", [2**62, 8, -1])]))
    w.write("tile_overflow.onnx", model(
        [node("Tile", ["x", "reps"], ["y"], "tile_1")],
        [("x", F, [2, 3])], [("y", F, [2, 3])], [const("reps", [2**62, 1])]))
    w.write("range_huge_count.onnx", model(
        [node("Range", ["start", "limit", "delta"], ["y"], "range_1")],
        [], [("y", I64, [1])], [const("start", IMIN), const("limit", IMAX), const("delta", 1)], opset=11))


if __name__ == "__main__":
    main(os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases", "ops"))
