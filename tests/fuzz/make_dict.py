#!/usr/bin/env python3
"""tests/fuzz/make_dict.py: rewrite tests/fuzz/onnx.dict, the libFuzzer
dictionary: op types from compiler/ops/ops.h, attribute names and domains
of the ONNX node tests and bundled models, protobuf field keys of the ONNX
messages, hostile varints, floats and strings. Needs pip's onnx.

  python3 tests/fuzz/make_dict.py
"""
import glob
import re
import struct
from pathlib import Path

import onnx

ROOT = Path(__file__).resolve().parent.parent.parent

# (name, field number, wire type) of the ModelProto fields kiln reads
KEYS = [
    ("model.ir_version", 1, 0), ("model.producer_name", 2, 2), ("model.graph", 7, 2),
    ("model.opset_import", 8, 2), ("graph.node", 1, 2), ("graph.name", 2, 2),
    ("graph.initializer", 5, 2), ("graph.input", 11, 2), ("graph.output", 12, 2),
    ("graph.value_info", 13, 2), ("node.input", 1, 2), ("node.output", 2, 2), ("node.name", 3, 2),
    ("node.op_type", 4, 2), ("node.attribute", 5, 2), ("node.domain", 7, 2), ("attr.name", 1, 2),
    ("attr.f", 2, 5), ("attr.i", 3, 0), ("attr.s", 4, 2), ("attr.t", 5, 2), ("attr.g", 6, 2),
    ("attr.floats", 7, 2), ("attr.ints", 8, 2), ("attr.ints_unpacked", 8, 0), ("attr.strings", 9, 2),
    ("attr.type", 20, 0), ("tensor.dims", 1, 0), ("tensor.dims_packed", 1, 2),
    ("tensor.data_type", 2, 0), ("tensor.float_data", 4, 2), ("tensor.int32_data", 5, 2),
    ("tensor.int64_data", 7, 2), ("tensor.name", 8, 2), ("tensor.raw_data", 9, 2),
    ("tensor.double_data", 10, 2), ("tensor.uint64_data", 11, 2), ("tensor.external_data", 13, 2),
    ("tensor.data_location", 14, 0), ("type.tensor_type", 1, 2), ("tensor_type.elem_type", 1, 0),
    ("tensor_type.shape", 2, 2), ("shape.dim", 1, 2), ("dim.dim_value", 1, 0),
    ("dim.dim_param", 2, 2), ("value_info.name", 1, 2), ("value_info.type", 2, 2),
    ("opset.domain", 1, 2), ("opset.version", 2, 0), ("entry.key", 1, 2), ("entry.value", 2, 2),
]
VARINTS = [("v_0", 0), ("v_1", 1), ("v_m1", -1), ("v_2p31", 1 << 31), ("v_2p32", 1 << 32),
           ("v_2p62", 1 << 62), ("v_i64max", (1 << 63) - 1), ("v_i64min", -(1 << 63)),
           ("v_i32max", (1 << 31) - 1), ("v_m2p31", -(1 << 31))]
FLOATS = [("f_nan", float("nan")), ("f_inf", float("inf")), ("f_minf", float("-inf")),
          ("f_huge", 3.4e38), ("f_m0", -0.0)]
STRINGS = [b"location", b"offset", b"length", b"checksum", b"../", b"/dev/zero", b"/dev/stdin",
           b"/proc/self/mem", b"/etc/passwd", b"??/", b"*/", b"/*", b"%s", b"%n", b"\\", b"\"",
           b"\n", b"NAN", b"INFINITY", b"HUGE_VAL", b"int", b"restrict", b"NULL", b"main",
           b"model_run", b"batch", b"N", b"?"]


def esc(b):
    out = ""
    for c in b:
        if c in (0x22, 0x5C):
            out += "\\" + chr(c)
        elif 0x20 <= c < 0x7F:
            out += chr(c)
        else:
            out += "\\x%02X" % c
    return '"' + out + '"'


def varint(v):
    v &= (1 << 64) - 1
    out = bytearray()
    while True:
        b, v = v & 0x7F, v >> 7
        out.append(b | 0x80 if v else b)
        if not v:
            return bytes(out)


def main():
    ops = re.findall(r'^OP\(\s*\w+,\s*"([^"]+)"', (ROOT / "compiler/ops/ops.h").read_text(), re.M)
    attrs, domains = set(), {"ai.onnx", "ai.onnx.ml", "com.microsoft"}
    for f in glob.glob(str(ROOT / "../shared/onnx-tests/node/*/model.onnx")) + \
            glob.glob(str(ROOT / "models/*/model.onnx")):
        m = onnx.load(f, load_external_data=False)
        for n in m.graph.node:
            attrs.update(a.name for a in n.attribute)
            if n.domain:
                domains.add(n.domain)
    lines = ["# tests/fuzz/onnx.dict: a libFuzzer dictionary for ONNX ModelProto inputs,",
             "# written by tests/fuzz/make_dict.py (do not edit by hand).", "", "# op types"]
    lines += [esc(o.encode()) for o in ops]
    lines += ["# attribute names"] + [esc(a.encode()) for a in sorted(attrs)]
    lines += ["# domains"] + [esc(d.encode()) for d in sorted(domains)]
    lines += ["# protobuf field keys (field << 3 | wire type)"]
    lines += ["%s=%s" % (n.replace(".", "_"), esc(varint(f << 3 | w))) for n, f, w in KEYS]
    lines += ["# varints"] + ["%s=%s" % (n, esc(varint(v))) for n, v in VARINTS]
    lines += ["# floats (fixed32, little-endian)"]
    lines += ["%s=%s" % (n, esc(struct.pack("<f", v))) for n, v in FLOATS]
    lines += ["# strings: external data keys, paths, C and format hazards"]
    lines += [esc(s) for s in STRINGS]
    (ROOT / "tests/fuzz/onnx.dict").write_text("\n".join(lines) + "\n")
    print(f"tests/fuzz/onnx.dict: {len(ops)} ops, {len(attrs)} attributes")


if __name__ == "__main__":
    main()
