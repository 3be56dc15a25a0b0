#!/usr/bin/env python3
"""make_packed.py: the packed-type cases of tests/errors (cases_packed.txt).

Called by make_cases.py as main(out_dir), with out_dir tests/errors/cases/packed/.
Models and test data with ONNX's packed types (int4, uint2, ...): ops that do
not take them, bad attributes, tensors whose bytes do not match their shape,
and small Casts and QuantizeLinears whose packed outputs (an odd number of
elements, a byte holding elements of two rows) kiln check must match exactly,
with expected values computed here from the spec's formulas. Tensors are
written field by field (raw_data packed as ONNX packs it), so the files do
not depend on the onnx version's helpers. Deterministic, byte for byte.
"""
import os

import numpy as np
from onnx import TensorProto, helper

F = TensorProto.FLOAT
U2, I4, U4, F8 = 25, 22, 21, 17  # TensorProto codes (onnx >= 1.17 names them)


def model(nodes, inputs, outputs, inits=(), opset=25):
    g = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs],
        initializer=list(inits))
    m = helper.make_model(g, producer_name="kiln-tests",
                          opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 11
    return m.SerializeToString()


def packed(name, dtype, dims, codes, bits, nbytes=None):
    """A TensorProto of a packed type: codes packed 8/bits to a byte, the first low."""
    per = 8 // bits
    data = bytearray((len(codes) + per - 1) // per)
    for i, c in enumerate(codes):
        data[i // per] |= (int(c) & ((1 << bits) - 1)) << (i % per * bits)
    t = TensorProto()
    t.name = name
    t.data_type = dtype
    t.dims.extend(dims)
    t.raw_data = bytes(data[:nbytes] if nbytes is not None else data)
    return t


def floats(name, arr):
    t = TensorProto()
    t.name = name
    t.data_type = F
    t.dims.extend(arr.shape)
    t.raw_data = np.asarray(arr, "<f4").tobytes()
    return t


def f8_values(E, M, bias, max_code):
    """The magnitudes of a float8 format's codes 0..max_code, from its definition."""
    out = []
    for c in range(max_code + 1):
        e, m = c >> M, c & ((1 << M) - 1)
        out.append((1 + m / 2**M) * 2.0**(e - bias) if e else m / 2**M * 2.0**(1 - bias))
    return out


def f8_encode(x, E, M, bias, max_code, saturate, ieee):
    """Cast's code of x (finite, not NaN): the nearest value, ties to the even
    code; past the largest (rounded with an unbounded exponent) +-max when
    saturating, else +-inf (ieee: e5m2) or NaN with the sign (e4m3fn)."""
    vals = f8_values(E, M, bias, max_code)
    s = 0x80 if np.signbit(x) else 0
    ax, top, ulp = abs(float(x)), vals[-1], vals[-1] - vals[-2]
    if ax > top + ulp / 2 or (ax == top + ulp / 2 and max_code & 1):
        return (max_code if saturate else max_code + 1 if ieee else 0x7f) | s
    best = min(range(max_code + 1), key=lambda c: (abs(ax - vals[c]), c & 1))
    return best | s


def main(out_dir):
    def write(name, data):
        p = os.path.join(out_dir, name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)

    # an op that does not take packed types
    write("add_int4.onnx", model(
        [helper.make_node("Add", ["a", "b"], ["y"], name="add_1")],
        [("a", I4, [4]), ("b", I4, [4])], [("y", I4, [4])]))
    # Cast to f8e8m0 with a rounding mode the spec does not have
    write("cast_round_mode.onnx", model(
        [helper.make_node("Cast", ["x"], ["y"], name="cast_1", to=24, round_mode="sideways")],
        [("x", F, [4])], [("y", 24, [4])]))
    # an int4 initializer of 5 elements needs 3 bytes; this one has 2
    write("int4_short_raw.onnx", model(
        [helper.make_node("Cast", ["w"], ["y"], name="cast_1", to=F)],
        [], [("y", F, [5])], [packed("w", I4, [5], [1, 2, 3, 4, 5], 4, nbytes=2)]))

    # float -> int4 on 7 elements (the last byte half used): integers wrap to 4 bits
    x = np.array([-9, -8, -1, 0, 7, 8, 15], np.float32)
    write("cast_int4_odd.onnx", model(
        [helper.make_node("Cast", ["x"], ["y"], name="cast_1", to=I4)],
        [("x", F, [7])], [("y", I4, [7])]))
    write("cast_int4_odd/input_0.pb", floats("x", x).SerializeToString())
    write("cast_int4_odd/output_0.pb", packed("y", I4, [7], x.astype(np.int64) & 15, 4).SerializeToString())
    # the same test data with input_0 two bytes short of its shape
    write("cast_int4_short/input_0.pb",
          packed("x", I4, [7], [0] * 7, 4, nbytes=2).SerializeToString())
    write("cast_int4_short/output_0.pb", packed("y", I4, [7], [0] * 7, 4).SerializeToString())

    # QuantizeLinear to uint2 per row of a 3x3 x: bytes hold elements of two rows
    x = np.array([[0, 1, 2], [3, 4, 5], [-6, 6, 12]], np.float32)
    scale = np.array([1, 2, 4], np.float32)
    zp = np.array([1, 0, 2], np.int64)
    q = np.clip(np.rint(x / scale[:, None]) + zp[:, None], 0, 3).astype(np.int64)
    write("quantize_uint2.onnx", model(
        [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["y"], name="q_1", axis=0)],
        [("x", F, [3, 3])], [("y", U2, [3, 3])],
        [floats("s", scale), packed("z", U2, [3], zp, 2)]))
    write("quantize_uint2/input_0.pb", floats("x", x).SerializeToString())
    write("quantize_uint2/output_0.pb", packed("y", U2, [3, 3], q.ravel(), 2).SerializeToString())

    # Cast to float8 in the generated C, from f64 (through u64 bits) and from
    # f32 (u32): values on, halfway between and near each representable one,
    # and past the largest
    rng = np.random.RandomState(17)
    for name, src, np_src, to, (E, M, bias, mx), sat, ieee in [
            ("cast_f64_e4m3fn", TensorProto.DOUBLE, np.float64, F8, (4, 3, 7, 0x7e), 1, 0),
            ("cast_f32_e5m2", F, np.float32, 19, (5, 2, 15, 0x7b), 0, 1)]:
        vals = f8_values(E, M, bias, mx)
        mids = [(a + b) / 2 for a, b in zip(vals, vals[1:])]
        x = np.array(vals + mids + [v * 1.0001 for v in mids] + [v * 0.9999 for v in mids]
                     + list(rng.standard_normal(200) * 2.0**rng.randint(-12, 12, 200))
                     + [vals[-1] * 1.2, vals[-1] * 4], np_src)
        x = np.concatenate([x, -x])
        codes = [f8_encode(v, E, M, bias, mx, sat, ieee) for v in x]
        write(name + ".onnx", model(
            [helper.make_node("Cast", ["x"], ["y"], name="cast_1", to=to, saturate=sat)],
            [("x", src, [len(x)])], [("y", to, [len(x)])]))
        t = TensorProto()
        t.name, t.data_type = "x", src
        t.dims.append(len(x))
        t.raw_data = x.astype(np.dtype(np_src).newbyteorder("<")).tobytes()
        write(name + "/input_0.pb", t.SerializeToString())
        write(name + "/output_0.pb", packed("y", to, [len(x)], codes, 8).SerializeToString())


if __name__ == "__main__":
    main(os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases", "packed"))
