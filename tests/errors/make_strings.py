#!/usr/bin/env python3
"""make_strings.py: the string-tensor cases of tests/errors (cases_strings.txt).

Called by make_cases.py as main(out_dir), with out_dir tests/errors/cases/strings/.
Models and test data with string tensors: ops that do not take strings,
regex syntax kiln's engine does not support, data-dependent extents the model
does not declare, run-time failures model_run reports (a full string pool, a
data-dependent extent that differs from the compiled one), and small models
whose expected outputs are computed here (Python's re.fullmatch, str.split,
str.upper) that kiln check must match. Deterministic, byte for byte.
"""
import os
import re

from onnx import TensorProto, helper

S, B, I64 = TensorProto.STRING, TensorProto.BOOL, TensorProto.INT64


def model(nodes, inputs, outputs, inits=(), opset=20, ml=False):
    g = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs],
        initializer=list(inits))
    ops = [helper.make_opsetid("", opset)]
    if ml:
        ops.append(helper.make_opsetid("ai.onnx.ml", 4))
    m = helper.make_model(g, producer_name="kiln-tests", opset_imports=ops)
    m.ir_version = 9
    return m.SerializeToString()


def strings(name, dims, values):
    t = TensorProto()
    t.name = name
    t.data_type = S
    t.dims.extend(dims)
    t.string_data.extend(v.encode() for v in values)
    return t


def bools(name, values):
    t = TensorProto()
    t.name = name
    t.data_type = B
    t.dims.extend([len(values)])
    t.int32_data.extend(int(v) for v in values)
    return t


def ints(name, dims, values):
    t = TensorProto()
    t.name = name
    t.data_type = I64
    t.dims.extend(dims)
    t.int64_data.extend(values)
    return t


def main(out):
    os.makedirs(out, exist_ok=True)

    def write(name, data):
        path = os.path.join(out, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data if isinstance(data, bytes) else data.SerializeToString())

    # ops that do not take strings
    write("add_strings.onnx", model([helper.make_node("Add", ["a", "b"], ["c"], name="add_1")],
                                    [("a", S, [2]), ("b", S, [2])], [("c", S, [2])]))
    # a constant string tensor (kiln takes constant strings only as attributes)
    write("equal_const.onnx", model([helper.make_node("Equal", ["a", "k"], ["c"], name="eq_1")],
                                    [("a", S, [2])], [("c", B, [2])], inits=[strings("k", [2], ["x", "y"])]))
    # regex syntax the engine does not support
    for name, pat in [("regex_lookahead", "(?=a)b"), ("regex_backref", r"(a)\1"), ("regex_lazy", "a+?"),
                      ("regex_unclosed", "[abc")]:
        write(name + ".onnx", model([helper.make_node("RegexFullMatch", ["x"], ["y"], name="re_1", pattern=pat)],
                                    [("x", S, [2])], [("y", B, [2])]))
    # StringSplit whose output width the model leaves open
    write("split_open.onnx", model(
        [helper.make_node("StringSplit", ["x"], ["s", "n"], name="split_1", delimiter=",")],
        [("x", S, [2])], [("s", S, [2, "w"]), ("n", I64, [2])]))
    # StringNormalizer with stopwords and an open output length
    write("normalizer_open.onnx", model(
        [helper.make_node("StringNormalizer", ["x"], ["y"], name="norm_1", stopwords=["a"])],
        [("x", S, [3])], [("y", S, ["n"])], opset=10))
    # LabelEncoder string -> string
    write("label_string_values.onnx", model(
        [helper.make_node("LabelEncoder", ["x"], ["y"], name="le_1", domain="ai.onnx.ml",
                          keys_strings=["a"], values_strings=["b"])],
        [("x", S, [2])], [("y", S, [2])], ml=True))

    # StringConcat: runs, and with a pool too small for what it makes
    write("concat.onnx", model([helper.make_node("StringConcat", ["x", "y"], ["z"], name="cat_1")],
                               [("x", S, [3]), ("y", S, [1])], [("z", S, [3])]))
    xs = ["alpha", "", "gamma delta"]
    write("concat/input_0.pb", strings("x", [3], xs))
    write("concat/input_1.pb", strings("y", [1], ["-suffix"]))
    write("concat/output_0.pb", strings("z", [3], [x + "-suffix" for x in xs]))
    # an input that is also a graph output (copied by a routine)
    write("passthru.onnx", model([helper.make_node("StringConcat", ["x", "x"], ["y"], name="cat_1")],
                                 [("x", S, [2])], [("y", S, [2]), ("x", S, [2])]))
    write("passthru/input_0.pb", strings("x", [2], ["ab", "c"]))
    write("passthru/output_0.pb", strings("y", [2], ["abab", "cc"]))
    write("passthru/output_1.pb", strings("x", [2], ["ab", "c"]))
    # a string tensor whose values are in raw_data
    bad = TensorProto()
    bad.name = "x"
    bad.data_type = S
    bad.dims.extend([3])
    bad.raw_data = b"abc"
    write("concat_raw/input_0.pb", bad)
    write("concat_raw/input_1.pb", strings("y", [1], ["-"]))
    write("concat_raw/output_0.pb", strings("z", [3], ["a-", "b-", "c-"]))

    # StringSplit: declared width 3, data with 3 pieces at most (ok), then
    # data with 4 (the extent differs: model_run fails)
    write("split.onnx", model(
        [helper.make_node("StringSplit", ["x"], ["s", "n"], name="split_1", delimiter=", ", maxsplit=5)],
        [("x", S, [3])], [("s", S, [3, 3]), ("n", I64, [3])]))
    xs = ["a, b, c", "", "one, two"]
    parts = [x.split(", ", 5) for x in xs]
    write("split/input_0.pb", strings("x", [3], xs))
    write("split/output_0.pb", strings("s", [3, 3], [p[i] if i < len(p) else "" for p in parts for i in range(3)]))
    write("split/output_1.pb", ints("n", [3], [len(p) for p in parts]))
    xs = ["a, b, c, d", "", "one"]
    write("split_wider/input_0.pb", strings("x", [3], xs))
    write("split_wider/output_0.pb", strings("s", [3, 3], [""] * 9))
    write("split_wider/output_1.pb", ints("n", [3], [4, 1, 1]))

    # StringNormalizer: stopwords folded, upper case, compared with Python
    write("normalizer.onnx", model(
        [helper.make_node("StringNormalizer", ["x"], ["y"], name="norm_1", stopwords=["the", "A"],
                          case_change_action="UPPER", is_case_sensitive=0)],
        [("x", S, [5])], [("y", S, [3])], opset=10))
    xs = ["The", "quick", "a", "brown", "fox"]
    keep = [x.upper() for x in xs if x.lower() not in ("the", "a")]
    write("normalizer/input_0.pb", strings("x", [5], xs))
    write("normalizer/output_0.pb", strings("y", [3], keep))

    # RegexFullMatch: a pattern with alternation, classes, counted repeats
    # and anchors, against Python's re.fullmatch (same meaning on ASCII)
    pat = r"(?:[A-Z][a-z]{1,3}|\d+)(-(x|yz)*)?\b\.?"
    xs = ["Abc", "Abcde", "123-xyzx", "123-xy", "Q.", "9-.", "", "Ab-yzyz."]
    write("regex.onnx", model([helper.make_node("RegexFullMatch", ["x"], ["y"], name="re_1", pattern=pat)],
                              [("x", S, [len(xs)])], [("y", B, [len(xs)])]))
    write("regex/input_0.pb", strings("x", [len(xs)], xs))
    write("regex/output_0.pb", bools("y", [re.fullmatch(pat, x) is not None for x in xs]))


if __name__ == "__main__":
    main(os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases", "strings"))
