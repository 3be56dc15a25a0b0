#!/usr/bin/env python3
"""make_import.py: the import-hardening cases of tests/errors (cases_import.txt).

Called by make_cases.py as main(out_dir), with out_dir tests/errors/cases/import/.
Writes models whose external data tries to leave the model's folder or is
described wrongly, tensors whose byte count overflows, and tensor files for
`kiln check` and for a built model's own reader (--in) whose values sit in the
wrong TensorProto field, whose counts overflow, or whose fields run past the
end. Cases that need a symbolic link or a FIFO are built at run time by
setup_import.sh from the files here. Deterministic, byte for byte; uses only
onnx APIs of onnx 1.12.
"""
import os
import struct

import numpy as np
from onnx import TensorProto, helper, numpy_helper

F = TensorProto.FLOAT
D = TensorProto.DOUBLE
I64 = TensorProto.INT64


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


def add_model(inits, w_shape=(2, 3)):
    """y = x + w, float [2,3]; w comes from `inits`."""
    return model([helper.make_node("Add", ["x", "w"], ["y"], name="add_1")],
                 [("x", F, [2, 3])], [("y", F, [2, 3])], inits)


def external(location, offset=None, length=None, dims=(2, 3), dtype=F):
    """Initializer 'w' whose data is in an external file."""
    t = TensorProto()
    t.name = "w"
    t.data_type = dtype
    t.dims.extend(dims)
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", offset), ("length", length)):
        if v is not None:
            e = t.external_data.add()
            e.key, e.value = k, v
    return t


def typed(name, dtype, dims, **fields):
    """A TensorProto with the given repeated fields set (wrong ones too)."""
    t = TensorProto()
    t.name = name
    t.data_type = dtype
    t.dims.extend(dims)
    for f, vals in fields.items():
        getattr(t, f).extend(vals)
    return t


# ------------------------------------------------- raw wire format (no onnx)

def varint(v):
    v &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def key(field, wire):
    return varint(field << 3 | wire)


def wire_tensor(dtype, dims, body=b"", name="x"):
    """A TensorProto by hand: dims unpacked (one field each), then `body`."""
    out = b"".join(key(1, 0) + varint(d) for d in dims)
    out += key(2, 0) + varint(dtype)
    out += key(8, 2) + varint(len(name)) + name.encode()
    return out + body


def main(out_dir):
    def write(name, data):
        p = os.path.join(out_dir, name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)

    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    wbytes = w.tobytes()  # 24 bytes

    # ------------------------------------------------------ external data
    # ext_ok/: a good model with its data in a file and in a subfolder
    write("ext_ok/model.onnx", add_model([external("w.bin", "0", "24")]))
    write("ext_ok/w.bin", wbytes)
    write("ext_subdir_ok/model.onnx", add_model([external("data/w.bin")]))
    write("ext_subdir_ok/data/w.bin", wbytes)
    # models for setup_import.sh (it adds the symlink or FIFO beside them)
    write("ext_file.onnx", add_model([external("w.bin")]))
    write("ext_subdir.onnx", add_model([external("data/w.bin")]))
    write("w.bin", wbytes)
    # '..' leaving the folder, to a file that would be read fine
    write("dotdot/m/model.onnx", add_model([external("../w.bin")]))
    write("dotdot/w.bin", wbytes)
    # '..' that comes back inside: refused all the same
    write("dotdot_inside/model.onnx", add_model([external("data/../w.bin")]))
    write("dotdot_inside/w.bin", wbytes)
    write("dotdot_inside/data/keep", b"")
    write("dot/model.onnx", add_model([external("./w.bin")]))
    write("dot/w.bin", wbytes)
    write("empty_component/model.onnx", add_model([external("data//w.bin")]))
    write("empty_component/data/w.bin", wbytes)
    write("absolute/model.onnx", add_model([external("/dev/zero")]))
    # offset + length past the end of the file
    write("past_end/model.onnx", add_model([external("w.bin", "8", "24")]))
    write("past_end/w.bin", wbytes)
    write("offset_huge/model.onnx", add_model([external("w.bin", "9223372036854775807")]))
    write("offset_huge/w.bin", wbytes)
    # offsets and lengths that are not plain decimal numbers
    for case, off, ln in (("offset_negative", "-8", None), ("offset_text", "8abc", None),
                          ("offset_plus", "+0", None), ("offset_overflow", "99999999999999999999", None),
                          ("length_negative", "0", "-24"), ("length_empty", "0", "")):
        write(case + "/model.onnx", add_model([external("w.bin", off, ln)]))
        write(case + "/w.bin", wbytes)
    # a length that is not what the shape needs
    write("length_wrong/model.onnx", add_model([external("w.bin", "0", "16")]))
    write("length_wrong/w.bin", wbytes)
    # a folder as the location
    write("location_dir/model.onnx", add_model([external("data")]))
    write("location_dir/data/keep", b"")

    # ------------------------------------------------------ sizes and counts
    # int64 [2^31, 2^31, 4]: 2^64 bytes, which wraps to 0 in int64 arithmetic
    big = typed("w", I64, [1 << 31, 1 << 31, 4])
    big.raw_data = b""
    write("huge_int64.onnx", model([helper.make_node("Identity", ["w"], ["y"], name="id_1")],
                                   [], [("y", I64, [1 << 31, 1 << 31, 4])], [big]))
    # the same through external data with length 0
    write("huge_external/model.onnx", model(
        [helper.make_node("Identity", ["w"], ["y"], name="id_1")], [], [("y", I64, [4])],
        [external("w.bin", "0", "0", dims=(1 << 31, 1 << 31, 4), dtype=I64)]))
    write("huge_external/w.bin", b"")
    neg = typed("w", F, [-1, 3])
    neg.raw_data = b""
    write("negative_dim.onnx", add_model([neg]))
    deep = typed("w", F, [1] * 9, float_data=[1.0])
    write("rank9_initializer.onnx", add_model([deep]))
    write("rank9_input.onnx", model([helper.make_node("Relu", ["x"], ["y"], name="relu_1")],
                                    [("x", F, [1] * 9)], [("y", F, [1] * 9)]))
    # a static input of 2^20 x 2^20 x 2^10 floats: 2^52 bytes
    write("huge_input.onnx", model([helper.make_node("Relu", ["x"], ["y"], name="relu_1")],
                                   [("x", F, [1 << 20, 1 << 20, 1 << 10])],
                                   [("y", F, [1 << 20, 1 << 20, 1 << 10])]))
    # data type 64 is kiln's own index type, not an ONNX one
    idx = typed("w", 64, [2, 3])
    idx.raw_data = bytes(48)
    write("dtype_index.onnx", add_model([idx]))

    # ------------------------------------------------------ values in the wrong field
    write("float_in_int32.onnx", add_model([typed("w", F, [2, 3], int32_data=range(6))]))
    write("double_in_float.onnx", model(
        [helper.make_node("Add", ["x", "w"], ["y"], name="add_1")],
        [("x", D, [2, 3])], [("y", D, [2, 3])], [typed("w", D, [2, 3], float_data=range(6))]))
    both = typed("w", F, [2, 3], float_data=range(6))
    both.raw_data = wbytes
    write("raw_and_typed.onnx", add_model([both]))
    # a Constant node with a long name whose tensor attribute is wrong
    long_name = "c" * 1000
    bad = typed("v", F, [2, 3])
    bad.raw_data = bytes(10)
    write("long_name_attr.onnx", model(
        [helper.make_node("Constant", [], ["w"], name=long_name, value=bad),
         helper.make_node("Add", ["x", "w"], ["y"], name="add_1")],
        [("x", F, [2, 3])], [("y", F, [2, 3])]))

    # ------------------------------------------------------ test data (kiln check, model --in)
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.full((2, 3), 0.5, dtype=np.float32)
    c = a + b
    ta, tb, tc = (numpy_helper.from_array(t, n).SerializeToString()
                  for t, n in ((a, "a"), (b, "b"), (c, "c")))
    float_bits = [struct.unpack("<I", struct.pack("<f", v))[0] for v in a.reshape(-1)]

    def check_dir(name, input_0, with_output=True):
        write(name + "/input_0.pb", input_0)
        write(name + "/input_1.pb", tb)
        if with_output:
            write(name + "/output_0.pb", tc)

    # float values in int32_data (as integers, and as the float's bit patterns)
    check_dir("float_in_int32", typed("a", F, [2, 3], int32_data=[0, 1, 2, 3, 4, 5]).SerializeToString())
    check_dir("float_bits_in_int32", wire_tensor(F, [2, 3], b"".join(key(5, 0) + varint(v) for v in float_bits),
                                                 name="a"))
    # count x size overflows size_t, and a count too large for KILN_MAX_BYTES
    check_dir("count_overflow", wire_tensor(F, [1 << 40, 1 << 40], name="a"))
    check_dir("count_huge", wire_tensor(F, [1 << 30, 1 << 30], name="a"))
    check_dir("dim_negative", wire_tensor(F, [-1, 3], name="a"))
    # raw_data says 1000 bytes, 24 follow
    check_dir("raw_past_end", wire_tensor(F, [2, 3], key(9, 2) + varint(1000) + a.tobytes(), name="a"))
    # a varint of 11 bytes
    check_dir("varint_long", wire_tensor(F, [2, 3], key(2, 0) + b"\xff" * 10 + b"\x01", name="a"))
    # float_data unpacked (one fixed32 field per value): valid protobuf
    check_dir("float_unpacked", wire_tensor(F, [2, 3], b"".join(key(4, 5) + struct.pack("<f", v)
                                                                for v in a.reshape(-1)), name="a"))
    # double model: a double input carried in float_data
    x = np.arange(6, dtype=np.float64).reshape(2, 3)
    write("add_f64.onnx", model([helper.make_node("Add", ["x", "z"], ["y"], name="add_1")],
                                [("x", D, [2, 3]), ("z", D, [2, 3])], [("y", D, [2, 3])]))
    write("double_in_float/input_0.pb",
          typed("x", D, [2, 3], float_data=x.reshape(-1).tolist()).SerializeToString())
    write("double_in_float/input_1.pb", numpy_helper.from_array(x, "z").SerializeToString())
    write("double_in_float/output_0.pb", numpy_helper.from_array(x + x, "y").SerializeToString())
    # double_data, unpacked: fine
    write("double_unpacked/input_0.pb", wire_tensor(D, [2, 3], b"".join(
        key(10, 1) + struct.pack("<d", v) for v in x.reshape(-1)), name="x"))
    write("double_unpacked/input_1.pb", numpy_helper.from_array(x, "z").SerializeToString())
    write("double_unpacked/output_0.pb", numpy_helper.from_array(x + x, "y").SerializeToString())


if __name__ == "__main__":
    main(os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases", "import"))
