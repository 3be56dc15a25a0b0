#!/usr/bin/env python3
"""tests/fuzz/mutate.py: structural mutation fuzzing of kiln.

libFuzzer (fuzz_compile.c) mutates bytes; this script mutates models: it
loads seed models with the onnx package, applies one to three structural
mutations (hostile attribute values and list lengths, dropped, duplicated
and renamed inputs, names that are C keywords, macros or C-breaking
strings, bad dims and dtypes, external data with hostile locations, long
chains and wide graphs, hostile folder names), writes each mutant into a
folder of its own and runs

  kiln compile MUTANT/model.onnx -o OUT [--shape NAME=DIMS ...]

under a timeout, sometimes builds and runs the generated program (on zero
inputs written with onnx.numpy_helper, or on its own fill pattern), and
sometimes `kiln check` on the program's own outputs. Point --kiln at an
ASan+UBSan build (build-asan/kiln) so memory errors are caught; the
generated programs of mutants that are run are built with
-fsanitize=address,undefined too (CFLAGS).

Outcomes. Fine: kiln exits 0, or 1 with a one-line message and no
model/libmodel.a left behind. A finding:
  crash      kiln killed by a signal, or a sanitizer report
  usage      exit 2 (a usage error) for a command line that is valid
  hang       kiln ran past --timeout
  stale      a failed compile left OUT/model or OUT/libmodel.a
  build      kiln accepted the model but the generated C does not build
  inject     a canary file (PWNED) appeared: a name, path or folder ran code
  escape     a model whose external data lies outside its folder (.., an
             absolute path, a symlink, a device) compiled successfully
  run-crash  the generated program crashed or hit a sanitizer report
  run-hang   the generated program ran past the timeout
  check      `kiln check` on the program's own outputs crashed or hung
Each finding is saved under --findings (default tests/fuzz/findings) in a
folder with the mutant, kiln's stderr and repro.sh, the command that
reproduces it; findings are grouped by a key (the sanitizer's SUMMARY line,
the signal, the kind) and at most --keep of each group are saved.

Prints one line per group, "FAIL fuzz/mutate/<kind>: <key> (N mutants,
first: DIR)", then "PASS fuzz/mutate (N mutants)" when there was no
finding, else "FAIL fuzz/mutate: N findings in N groups (N mutants)".
Exits 1 on any finding.

  python3 tests/fuzz/mutate.py --kiln build-asan/kiln --seeds out/fuzz/seeds --count 200
  python3 tests/fuzz/mutate.py --kiln build-asan/kiln --count 20000 --jobs 2 --seed 7

Needs python3 with onnx and numpy (pip, or Debian's python3-onnx and
python3-numpy).
"""
import argparse
import concurrent.futures
import hashlib
import json
import os
import random
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parent.parent.parent
I64MAX, I64MIN = (1 << 63) - 1, -(1 << 63)
INT_EXTREMES = [0, -1, 1, 2, -2, 1 << 31, (1 << 31) - 1, -(1 << 31), 1 << 32, 1 << 62,
                -(1 << 62), I64MAX, I64MIN, I64MAX - 1, I64MIN + 1, 1 << 40, 65536, 1000000]
FLOAT_EXTREMES = [float("nan"), float("inf"), float("-inf"), 3.4e38, -3.4e38, 1e308, 0.0, -0.0,
                  1e-45, -1.0, 1e30, 2.0 ** 63, -(2.0 ** 63), 1e-38]
DIM_EXTREMES = [0, -1, -5, 1 << 31, 1 << 32, 1 << 40, 1 << 62, I64MAX, 100000, 3]
# what a name may collide with in the generated C
C_NAMES = ["int", "NAN", "INFINITY", "HUGE_VAL", "restrict", "ptrdiff_t", "expf", "NULL", "main",
           "model_run", "float", "double", "return", "static", "void", "if", "for", "while", "sizeof",
           "auto", "register", "signed", "unsigned", "char", "case", "default", "goto", "inline",
           "_Bool", "size_t", "int64_t", "uint8_t", "memcpy", "printf", "exit", "errno", "stdin",
           "EOF", "M_PI", "fabsf", "sqrtf", "isnan", "model", "kiln_rt", "arena", "weights", "in",
           "out", "n", "i", "k0", "v0", "_", "__LINE__", "assert", "abort", "model_arena",
           "MODEL_ARENA_BYTES", "bool", "true", "false", "complex", "I", "FLT_MAX", "__attribute__"]
# strings that break out of a C string, comment or line
C_BREAKERS = ["a??/", "??/", "a*/b", "*/", "/*", 'q"q', '"', "back\\slash", "\\", "new\nline", "\n#error x\n",
              "%s%s%s%n", "??=define", "a\rb", "tab\there", "x" * 5000, "", " ", "1abc", "-", "\u00e9",
              "\x7f", "a\x00b", "??)", "??'", "??!", "'", "`", "$(x)", "\\\n", "// c", "a\u2028b"]
# names that run code when pasted into C or a shell: the canary is PWNED
# in the current folder (the runs use the mutant's folder as cwd). In C, a
# constructor that calls system("touch PWNED"), spelled without quotes (a
# quote in a name is escaped) and, first, after a trigraph ??/ that turns
# the escape of the next quote into an escaped backslash.
PWN = ("int system(const char *); __attribute__((constructor)) static void pwn(void) "
       "{ system((const char[]){116, 111, 117, 99, 104, 32, 80, 87, 78, 69, 68, 0}); }")
PAYLOADS = [
    '??/"}}; ' + PWN + ' static const model_tensor pwn_t[] = { //',
    '??/"); ' + PWN + ' static void pwn2(void) { (void)(" //',
    '*/ ' + PWN + ' /*',
    '\n' + PWN + '\n',
    '\\"}}; ' + PWN + ' static const model_tensor pwn_t[] = { //',
    "'; touch PWNED; '",
    '"; touch PWNED; "',
    "$(touch PWNED)",
    "`touch PWNED`",
]
# folder names for the model and -o
HOSTILE_DIRS = ["a'b", 'x"y', "$(touch PWNED)", "`touch PWNED`", "sp ace", "new\nline", "*", "??=",
                "%s%n", "semi;colon", "'; touch PWNED; '", "-dash", "a\\b"]
ATTR_NAMES = ["kernel_shape", "strides", "pads", "dilations", "output_padding", "output_shape", "axes",
              "perm", "axis", "group", "size", "blocksize", "block_size", "sampling_ratio", "output_height",
              "output_width", "k", "keepdims", "alpha", "beta", "gamma", "epsilon", "to", "mode", "auto_pad",
              "ceil_mode", "count_include_pad", "storage_order", "transA", "transB", "num_outputs",
              "split", "starts", "ends", "value", "value_ints", "value_int", "value_float", "spatial_scale",
              "hidden_size", "direction", "num_heads", "batch_dims", "exclusive", "reverse", "largest",
              "sorted", "upper", "dtype", "seed", "ratio", "p", "lambd", "bias", "scale", "center_point_box"]
OP_NAMES = ["Relu", "Add", "Conv", "ConvTranspose", "MaxPool", "AveragePool", "Gemm", "MatMul", "Reshape",
            "Transpose", "Concat", "Split", "Slice", "Gather", "GatherND", "ScatterND", "Pad", "Tile",
            "Expand", "Resize", "LRN", "DepthToSpace", "SpaceToDepth", "RoiAlign", "TopK", "Softmax",
            "ReduceSum", "ReduceMax", "Cast", "Where", "Einsum", "LSTM", "GRU", "RNN", "CumSum", "Range",
            "ConstantOfShape", "OneHot", "NonZero", "Unique", "If", "Loop", "Foo", "", "Identity",
            "BatchNormalization", "InstanceNormalization", "LayerNormalization", "Flatten", "Squeeze",
            "Unsqueeze", "Shape", "Size", "ArgMax", "Trilu", "GridSample", "Col2Im", "MaxUnpool"]
NP_OF = {TensorProto.FLOAT: np.float32, TensorProto.DOUBLE: np.float64, TensorProto.FLOAT16: np.float16,
         TensorProto.INT8: np.int8, TensorProto.INT16: np.int16, TensorProto.INT32: np.int32,
         TensorProto.INT64: np.int64, TensorProto.UINT8: np.uint8, TensorProto.UINT16: np.uint16,
         TensorProto.UINT32: np.uint32, TensorProto.UINT64: np.uint64, TensorProto.BOOL: np.bool_}
SANITIZER = re.compile(r"(ERROR: AddressSanitizer|runtime error:|ERROR: UndefinedBehaviorSanitizer|"
                       r"ERROR: LeakSanitizer|SUMMARY: \w+Sanitizer|stack-overflow|AddressSanitizer:DEADLYSIGNAL)")
# kiln: a report aborts; one allocation over 4 GB is a report too (kiln
# must reject such a model, not try it). The generated program: malloc
# returns NULL over 4 GB (its input reader must say so, not crash).
SAN_ENV = {
    "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=1:max_allocation_size_mb=4096:detect_stack_use_after_return=0",
    "UBSAN_OPTIONS": "halt_on_error=1:abort_on_error=1:print_stacktrace=1",
}
RUN_ASAN = "detect_leaks=0:abort_on_error=1:max_allocation_size_mb=4096:allocator_may_return_null=1"
SAN_CFLAGS = "-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"


# ------------------------------------------------------------------ helpers

class Mutant:
    """A mutated model and what the run needs to know about it."""

    def __init__(self, model, seed_name):
        self.model = model
        self.seed_name = seed_name
        self.log = []            # mutations applied, one line each
        self.setup = []          # ("symlink", target, path) / ("fifo", path) / ("file", path, bytes)
        self.escape = None       # external data strategy that must not compile
        self.model_dir = "model" # folder of model.onnx, relative to the mutant root
        self.out_dir = "out"     # -o, relative to the mutant root
        self.emit = "exe"        # exe | src
        self.run = False         # build and run the generated program
        self.check = False       # then kiln check it on its own outputs
        self.zero_inputs = True  # --in files of zeros (else the program's fill)


def graph_names(g):
    """Every value name the graph uses."""
    names = set()
    for vi in list(g.input) + list(g.output) + list(g.value_info):
        names.add(vi.name)
    for t in g.initializer:
        names.add(t.name)
    for n in g.node:
        names.update(n.input)
        names.update(n.output)
    names.discard("")
    return sorted(names)


def rename(g, old, new):
    for vi in list(g.input) + list(g.output) + list(g.value_info):
        if vi.name == old:
            vi.name = new
    for t in g.initializer:
        if t.name == old:
            t.name = new
    for n in g.node:
        for i, x in enumerate(n.input):
            if x == old:
                n.input[i] = new
        for i, x in enumerate(n.output):
            if x == old:
                n.output[i] = new


def runtime_inputs(g):
    inits = {t.name for t in g.initializer}
    return [vi for vi in g.input if vi.name not in inits]


def pick(rng, seq):
    return seq[rng.randrange(len(seq))] if seq else None


# ---------------------------------------------------------------- mutations
# Each takes (mutant, rng) and returns a one-line description, or None when
# it does not apply to this model.

def m_attr_int(mu, rng):
    g = mu.model.graph
    cands = [(n, a) for n in g.node for a in n.attribute if a.type in (onnx.AttributeProto.INT, onnx.AttributeProto.INTS)]
    if not cands:
        return None
    n, a = pick(rng, cands)
    v = pick(rng, INT_EXTREMES)
    if a.type == onnx.AttributeProto.INT:
        a.i = v
    elif a.ints:
        if rng.random() < 0.5:
            a.ints[rng.randrange(len(a.ints))] = v
        else:
            a.ints[:] = [v] * len(a.ints)
    else:
        a.ints.append(v)
    return f"node {n.name!r} ({n.op_type}): {a.name} <- {v}"


def m_attr_float(mu, rng):
    g = mu.model.graph
    cands = [(n, a) for n in g.node for a in n.attribute if a.type in (onnx.AttributeProto.FLOAT, onnx.AttributeProto.FLOATS)]
    if not cands:
        return None
    n, a = pick(rng, cands)
    v = pick(rng, FLOAT_EXTREMES)
    if a.type == onnx.AttributeProto.FLOAT:
        a.f = v
    elif a.floats:
        a.floats[rng.randrange(len(a.floats))] = v
    else:
        a.floats.append(v)
    return f"node {n.name!r} ({n.op_type}): {a.name} <- {v}"


def m_attr_list_len(mu, rng):
    g = mu.model.graph
    cands = [(n, a) for n in g.node for a in n.attribute
             if a.type in (onnx.AttributeProto.INTS, onnx.AttributeProto.FLOATS, onnx.AttributeProto.STRINGS)]
    if not cands:
        return None
    n, a = pick(rng, cands)
    field = {onnx.AttributeProto.INTS: a.ints, onnx.AttributeProto.FLOATS: a.floats, onnx.AttributeProto.STRINGS: a.strings}[a.type]
    if rng.random() < 0.25:
        del field[:]
        return f"node {n.name!r} ({n.op_type}): {a.name} emptied"
    length = rng.randint(9, 64)
    fill = list(field) or ([1] if a.type == onnx.AttributeProto.INTS else [1.0] if a.type == onnx.AttributeProto.FLOATS else [b"x"])
    new = [fill[i % len(fill)] for i in range(length)]
    if a.type == onnx.AttributeProto.INTS and rng.random() < 0.3:
        new[rng.randrange(length)] = pick(rng, INT_EXTREMES)
    del field[:]
    field.extend(new)
    return f"node {n.name!r} ({n.op_type}): {a.name} has {length} entries"


def m_attr_add(mu, rng):
    g = mu.model.graph
    if not g.node:
        return None
    n = pick(rng, g.node)
    name = pick(rng, ATTR_NAMES)
    for i, a in enumerate(n.attribute):
        if a.name == name:
            del n.attribute[i]
            break
    kind = rng.randrange(5)
    if kind == 0:
        n.attribute.append(helper.make_attribute(name, pick(rng, INT_EXTREMES)))
    elif kind == 1:
        n.attribute.append(helper.make_attribute(name, [pick(rng, INT_EXTREMES) for _ in range(rng.randint(1, 40))]))
    elif kind == 2:
        n.attribute.append(helper.make_attribute(name, pick(rng, FLOAT_EXTREMES)))
    elif kind == 3:
        n.attribute.append(helper.make_attribute(name, pick(rng, C_BREAKERS + PAYLOADS).encode("utf-8", "replace")))
    else:
        a = onnx.AttributeProto()
        a.name = name
        a.type = rng.choice([0, 5, 9, 10, 11, 13, 99])  # undefined, graph, lists of odd kinds, unknown
        n.attribute.append(a)
    return f"node {n.name!r} ({n.op_type}): attribute {name} added (kind {kind})"


def m_input_drop(mu, rng):
    g = mu.model.graph
    cands = [n for n in g.node if n.input]
    if not cands:
        return None
    n = pick(rng, cands)
    i = rng.randrange(len(n.input))
    if rng.random() < 0.5:
        old = n.input[i]
        n.input[i] = ""
        return f"node {n.name!r} ({n.op_type}): input {i} ({old!r}) made absent"
    del n.input[i]
    return f"node {n.name!r} ({n.op_type}): input {i} removed"


def m_input_dup(mu, rng):
    g = mu.model.graph
    cands = [n for n in g.node if n.input]
    if not cands:
        return None
    n = pick(rng, cands)
    names = graph_names(g)
    what = rng.randrange(3)
    if what == 0:
        n.input.append(pick(rng, list(n.input)))
    elif what == 1:
        n.input[rng.randrange(len(n.input))] = pick(rng, names)
    else:
        for _ in range(rng.randint(2, 300)):
            n.input.append(pick(rng, names))
    return f"node {n.name!r} ({n.op_type}): inputs now {len(n.input)} (mode {what})"


def m_rename(mu, rng):
    g = mu.model.graph
    names = graph_names(g)
    if not names:
        return None
    old = pick(rng, names)
    r = rng.random()
    if r < 0.35:
        new = pick(rng, C_NAMES)
    elif r < 0.65:
        new = pick(rng, C_BREAKERS)
    elif r < 0.9:
        new = pick(rng, PAYLOADS)
    else:
        new = pick(rng, names)  # two values, one name
    rename(g, old, new)
    return f"value {old!r} renamed {new!r}"


def m_rename_node(mu, rng):
    g = mu.model.graph
    if rng.random() < 0.3:
        g.name = pick(rng, C_BREAKERS + PAYLOADS + C_NAMES)
        mu.model.producer_name = pick(rng, C_BREAKERS + PAYLOADS)
        mu.model.doc_string = pick(rng, C_BREAKERS + PAYLOADS)
        return f"graph renamed {g.name!r}"
    if not g.node:
        return None
    n = pick(rng, g.node)
    new = pick(rng, C_NAMES + C_BREAKERS + PAYLOADS)
    n.name = new
    return f"node renamed {new!r}"


def m_all_names(mu, rng):
    """Every value and node gets a hostile name (kernels are named after nodes)."""
    g = mu.model.graph
    pool = C_NAMES + PAYLOADS + ["??/", "*/", 'q"', "\\", "\n", "%s"]
    for k, old in enumerate(graph_names(g)):
        rename(g, old, pool[k % len(pool)] + ("" if k < len(pool) else str(k)))
    for k, n in enumerate(g.node):
        n.name = pool[(k + 7) % len(pool)]
    return "every value and node renamed"


def value_infos(g):
    return list(g.input) + list(g.output) + list(g.value_info)


def m_dims(mu, rng):
    g = mu.model.graph
    cands = [vi for vi in value_infos(g) if vi.type.HasField("tensor_type") and vi.type.tensor_type.HasField("shape")]
    if not cands:
        return None
    vi = pick(rng, cands)
    shape = vi.type.tensor_type.shape
    what = rng.randrange(4)
    if what == 0 and shape.dim:
        d = shape.dim[rng.randrange(len(shape.dim))]
        d.dim_value = pick(rng, DIM_EXTREMES)
    elif what == 1:
        for _ in range(rng.choice([1, 4, 9, 40])):
            shape.dim.add().dim_value = rng.choice([1, 2, 0])
    elif what == 2:
        del shape.dim[:]
    else:
        for d in shape.dim:
            d.dim_param = pick(rng, ["N", "batch", "", "?", "??/", "x" * 300] + C_NAMES)
    return f"{vi.name!r}: dims now {[d.dim_value if d.HasField('dim_value') else d.dim_param for d in shape.dim]}"


def m_init_dims(mu, rng):
    g = mu.model.graph
    if not g.initializer:
        return None
    t = pick(rng, g.initializer)
    what = rng.randrange(4)
    if what == 0 and t.dims:
        t.dims[rng.randrange(len(t.dims))] = pick(rng, DIM_EXTREMES)
    elif what == 1:
        t.dims.extend([rng.choice([1, 2, 1 << 20, 1 << 31])] * rng.randint(1, 9))
    elif what == 2:
        del t.dims[:]
    else:
        # huge dims, no data at all
        del t.dims[:]
        t.dims.extend([1 << 31, 1 << 31, rng.choice([1, 8, 1 << 20])])
        t.ClearField("raw_data")
        for f in ("float_data", "int32_data", "int64_data", "double_data", "uint64_data", "string_data"):
            t.ClearField(f)
    return f"initializer {t.name!r}: dims now {list(t.dims)}"


def m_init_values(mu, rng):
    """Integer initializers hold shapes, axes, pads, indices: set extremes."""
    g = mu.model.graph
    cands = [t for t in g.initializer if t.data_type in (TensorProto.INT64, TensorProto.INT32)]
    if not cands:
        return None
    t = pick(rng, cands)
    try:
        arr = numpy_helper.to_array(t).copy()
    except Exception:
        return None
    if arr.size == 0 or arr.size > 1 << 16:
        return None
    flat = arr.reshape(-1)
    info = np.iinfo(arr.dtype)
    for _ in range(rng.randint(1, 3)):
        v = pick(rng, INT_EXTREMES)
        flat[rng.randrange(flat.size)] = max(info.min, min(info.max, v))
    new = numpy_helper.from_array(arr, t.name)
    t.CopyFrom(new)
    return f"initializer {t.name!r}: values now {flat[:8].tolist()}"


def m_dtype(mu, rng):
    g = mu.model.graph
    code = rng.choice(list(range(0, 27)) + [99, -1, 1 << 20])
    what = rng.randrange(4)
    if what == 0 and g.input:
        vi = pick(rng, g.input)
        vi.type.tensor_type.elem_type = code
        return f"input {vi.name!r}: elem_type {code}"
    if what == 1 and g.initializer:
        t = pick(rng, g.initializer)
        t.data_type = code
        return f"initializer {t.name!r}: data_type {code}"
    if what == 2:
        for n in g.node:
            for a in n.attribute:
                if a.name in ("to", "dtype", "output_dtype") and a.type == onnx.AttributeProto.INT:
                    a.i = code
                    return f"node {n.name!r} ({n.op_type}): {a.name} <- {code}"
    vis = value_infos(g)
    if vis:
        vi = pick(rng, vis)
        vi.type.tensor_type.elem_type = code
        return f"value_info {vi.name!r}: elem_type {code}"
    return None


def m_node(mu, rng):
    g = mu.model.graph
    if not g.node:
        return None
    k = rng.randrange(len(g.node))
    n = g.node[k]
    what = rng.randrange(6)
    if what == 0:
        g.node.append(onnx.NodeProto())
        g.node[-1].CopyFrom(n)
        return f"node {n.name!r} ({n.op_type}) duplicated (two producers)"
    if what == 1:
        del g.node[k]
        return f"node {n.name!r} ({n.op_type}) removed"
    if what == 2 and n.output and n.input:
        n.input[0] = n.output[0]
        return f"node {n.name!r} ({n.op_type}) reads its own output (cycle)"
    if what == 3:
        n.op_type = pick(rng, OP_NAMES)
        return f"node {k} op_type now {n.op_type!r}"
    if what == 4:
        n.domain = pick(rng, ["ai.onnx.ml", "com.microsoft", "x", "ai.onnx.preview.training"])
        return f"node {n.name!r} domain now {n.domain!r}"
    order = list(g.node)
    rng.shuffle(order)
    del g.node[:]
    g.node.extend(order)
    return "nodes shuffled"


def m_opset(mu, rng):
    v = pick(rng, [0, 1, 6, 7, 11, 13, 17, 21, 23, 999, -1, 1 << 40, I64MAX])
    if mu.model.opset_import:
        mu.model.opset_import[0].version = v
    else:
        mu.model.opset_import.add().version = v
    if rng.random() < 0.2:
        mu.model.ir_version = pick(rng, [0, 1, 3, 99, I64MAX])
    return f"opset {v}"


def m_outputs(mu, rng):
    g = mu.model.graph
    names = graph_names(g)
    what = rng.randrange(4)
    if what == 0 and g.output:
        del g.output[rng.randrange(len(g.output))]
        return "a graph output removed"
    if what == 1 and names:
        o = g.output.add()
        o.CopyFrom(helper.make_tensor_value_info(pick(rng, names), TensorProto.FLOAT, None))
        return f"graph output {o.name!r} added"
    if what == 2 and g.output:
        g.output.append(g.output[0])
        return "a graph output twice"
    if g.input:
        g.input.append(g.input[0])
        return "a graph input twice"
    return None


def tensor_bytes(t):
    """The raw little-endian bytes of initializer t, or None."""
    try:
        return numpy_helper.to_array(t).tobytes()
    except Exception:
        return None


EXTERNAL = ["inside", "dotdot", "absolute", "symlink_file", "symlink_dir", "fifo", "devzero", "directory",
            "missing", "huge_length", "huge_offset", "negative", "hostile_name", "self"]


def m_external(mu, rng):
    g = mu.model.graph
    cands = [t for t in g.initializer if t.data_location != TensorProto.EXTERNAL]
    if not cands:
        return None
    t = pick(rng, cands)
    data = tensor_bytes(t)
    if data is None:
        return None
    how = pick(rng, EXTERNAL)
    for f in ("raw_data", "float_data", "int32_data", "int64_data", "double_data", "uint64_data", "string_data"):
        t.ClearField(f)
    t.data_location = TensorProto.EXTERNAL
    loc, extra = "w.bin", {}
    if how == "inside":
        mu.setup.append(("file", f"{mu.model_dir}/w.bin", data))
    elif how == "dotdot":
        loc = "../secret.bin"
        mu.setup.append(("file", "secret.bin", data))
        mu.escape = how
    elif how == "absolute":
        loc = "/dev/zero" if rng.random() < 0.5 else "/proc/self/environ"
        mu.escape = how
    elif how == "symlink_file":
        mu.setup.append(("file", "secret.bin", data))
        mu.setup.append(("symlink", "../secret.bin", f"{mu.model_dir}/w.bin"))
        mu.escape = how
    elif how == "symlink_dir":
        loc = "sub/w.bin"
        mu.setup.append(("file", "outside/w.bin", data))
        mu.setup.append(("symlink", "../outside", f"{mu.model_dir}/sub"))
        mu.escape = how
    elif how == "fifo":
        mu.setup.append(("fifo", f"{mu.model_dir}/w.bin"))
        mu.escape = how
    elif how == "devzero":
        mu.setup.append(("symlink", "/dev/zero", f"{mu.model_dir}/w.bin"))
        mu.escape = how
    elif how == "directory":
        loc = "."
    elif how == "missing":
        loc = "nope.bin"
    elif how == "huge_length":
        mu.setup.append(("file", f"{mu.model_dir}/w.bin", data))
        extra["length"] = str(pick(rng, [I64MAX, 1 << 62, 1 << 32, len(data) + 1]))
    elif how == "huge_offset":
        mu.setup.append(("file", f"{mu.model_dir}/w.bin", data))
        extra["offset"] = str(pick(rng, [I64MAX, 1 << 62, 1 << 32, len(data)]))
    elif how == "negative":
        mu.setup.append(("file", f"{mu.model_dir}/w.bin", data))
        extra[rng.choice(["offset", "length"])] = pick(rng, ["-1", "-9223372036854775808", "1e3", "0x10", "", " 1"])
    elif how == "hostile_name":
        loc = pick(rng, ["%s%n.bin", "a'b.bin", "w.bin\n", "..", "...", "w.bin/", "./../model/w.bin",
                         "x" * 4000, "\\..\\w.bin"])
        if "\n" not in loc and "/" not in loc and len(loc) < 200 and loc not in ("..", "..."):
            mu.setup.append(("file", f"{mu.model_dir}/{loc}", data))
        if loc.startswith("./.."):
            mu.setup.append(("file", f"{mu.model_dir}/w.bin", data))
            mu.escape = how
    elif how == "self":
        loc = "model.onnx"
    del t.external_data[:]
    for k, v in [("location", loc)] + list(extra.items()):
        e = t.external_data.add()
        e.key, e.value = k, v
    if rng.random() < 0.1:  # the same key twice
        e = t.external_data.add()
        e.key, e.value = "location", "/etc/passwd"
        mu.escape = mu.escape or "twice"
    return f"initializer {t.name!r}: external data {how} (location {loc!r}{', ' + str(extra) if extra else ''})"


def m_folders(mu, rng):
    mu.model_dir = "m/" + pick(rng, HOSTILE_DIRS)
    if rng.random() < 0.5:
        mu.model_dir += "/*"  # the path then holds "*/"
    mu.out_dir = "o/" + pick(rng, HOSTILE_DIRS)
    return f"model in {mu.model_dir!r}, -o {mu.out_dir!r}"


MUTATIONS = [
    (8, m_attr_int), (4, m_attr_float), (6, m_attr_list_len), (4, m_attr_add), (4, m_input_drop),
    (3, m_input_dup), (8, m_rename), (2, m_rename_node), (1, m_all_names), (5, m_dims), (4, m_init_dims),
    (6, m_init_values), (4, m_dtype), (4, m_node), (1, m_opset), (2, m_outputs), (6, m_external),
    (2, m_folders),
]


# ------------------------------------------------------ generated large graphs

def chain_model(rng):
    """A chain of n Relu/Add nodes (each Add also reads the input x)."""
    n = rng.choice([1000, 10000, 50000])
    nodes, prev = [], "x"
    for i in range(n):
        out = f"v{i}"
        if i % 2:
            nodes.append(helper.make_node("Add", [prev, "x"], [out], name=f"add{i}"))
        else:
            nodes.append(helper.make_node("Relu", [prev], [out], name=f"relu{i}"))
        prev = out
    graph = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
                              [helper.make_tensor_value_info(prev, TensorProto.FLOAT, [1, 8])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), f"chain of {n} Relu/Add nodes"


def wide_model(rng):
    """n values live at once: n Softmax outputs that one Concat reads."""
    n = rng.choice([1000, 10000])
    nodes = [helper.make_node("Softmax", ["x"], [f"s{i}"], name=f"sm{i}", axis=-1) for i in range(n)]
    nodes.append(helper.make_node("Concat", [f"s{i}" for i in range(n)], ["y"], name="cat", axis=0))
    graph = helper.make_graph(nodes, "wide", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [n, 4])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), f"{n} values live at once"


# ------------------------------------------------------------------- running

def make_mutant(seeds, rng, scale_prob):
    r = rng.random()
    if r < scale_prob:
        model, what = (chain_model if rng.random() < 0.6 else wide_model)(rng)
        mu = Mutant(model, "(generated)")
        mu.log.append(what)
        mu.emit = "src"  # kiln's own time and memory; a C build of 50,000 statements is gcc's
        return mu
    seed = pick(rng, seeds)
    model = onnx.ModelProto()
    model.ParseFromString(seed.read_bytes())
    mu = Mutant(model, seed.name)
    weights = [w for w, _ in MUTATIONS]
    funcs = [f for _, f in MUTATIONS]
    tries = 0
    while len(mu.log) < rng.choice([1, 1, 2, 3]) and tries < 20:
        tries += 1
        f = rng.choices(funcs, weights)[0]
        try:
            what = f(mu, rng)
        except (ValueError, TypeError, IndexError, OverflowError):
            what = None
        if what:
            mu.log.append(f"{f.__name__[2:]}: {what}")
    mu.run = rng.random() < 0.35
    mu.check = mu.run and rng.random() < 0.3
    mu.zero_inputs = rng.random() < 0.5
    return mu


def do_setup(root, mu):
    for step in mu.setup:
        path = root / step[-1] if step[0] != "file" else root / step[1]
        path.parent.mkdir(parents=True, exist_ok=True)
        if step[0] == "file":
            if not path.exists():
                path.write_bytes(step[2])
        elif step[0] == "symlink":
            if not path.exists() and not path.is_symlink():
                os.symlink(step[1], path)
        elif step[0] == "fifo":
            if not path.exists():
                os.mkfifo(path)


def setup_sh(mu):
    """Shell lines that recreate what do_setup made (for repro.sh)."""
    lines = []
    for step in mu.setup:
        if step[0] == "symlink":
            lines.append(f"mkdir -p {shlex.quote(os.path.dirname(step[2]) or '.')} && ln -sfn {shlex.quote(step[1])} {shlex.quote(step[2])}")
        elif step[0] == "fifo":
            lines.append(f"mkdir -p {shlex.quote(os.path.dirname(step[1]) or '.')} && rm -f {shlex.quote(step[1])} && mkfifo {shlex.quote(step[1])}")
    return lines


def shape_binds(g):
    """--shape NAME=DIMS for inputs with symbolic or unknown dims (each 2)."""
    args = []
    for vi in runtime_inputs(g):
        tt = vi.type.tensor_type
        if not tt.HasField("shape") or "=" in vi.name or "\x00" in vi.name or not vi.name:
            continue
        dims = [d.dim_value if d.HasField("dim_value") else -1 for d in tt.shape.dim]
        if any(d < 0 for d in dims) and 0 < len(dims) <= 8:
            args += ["--shape", vi.name + "=" + "x".join(str(d if d >= 0 else 2) for d in dims)]
    return args[:128]  # kiln takes at most 64 --shape options


def run(cmd, cwd, env, timeout):
    """(returncode or None on timeout, stderr text, seconds)."""
    t0 = time.monotonic()
    try:
        p = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, start_new_session=True)
    except OSError as e:
        return 127, f"cannot run {cmd[0]}: {e}", 0.0
    try:
        _, err = p.communicate(timeout=timeout)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _, err = p.communicate()
        rc = None
    finally:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
    return rc, err.decode("utf-8", "replace")[-20000:], time.monotonic() - t0


def summary_key(kind, err, extra=""):
    """What groups findings: the sanitizer SUMMARY line, or the signal and
    the first line of the message, without addresses and numbers."""
    m = re.search(r"SUMMARY: \S+ (.*)", err)
    if m:
        line = m.group(1)
    else:
        m = re.search(r"(.*runtime error:.*)", err)
        line = m.group(1) if m else next((x for x in err.splitlines() if x.strip()), "")
    line = re.sub(r"0x[0-9a-f]+", "ADDR", line)
    line = re.sub(r"(?<![:\w])-?\d+(?![:\w])", "N", line)
    line = re.sub(r"/\S*/(kiln-\w+|m\d+)\S*", "PATH", line)
    return f"{kind}: {extra}{line[:200]}"


def zero_inputs(g, folder):
    """input_<i>.pb of zeros (declared shapes, symbolic dims 2), or None."""
    files = []
    for i, vi in enumerate(runtime_inputs(g)):
        tt = vi.type.tensor_type
        if tt.elem_type not in NP_OF or not tt.HasField("shape"):
            return None
        dims = [d.dim_value if d.HasField("dim_value") else 2 for d in tt.shape.dim]
        if any(d < 0 for d in dims) or np.prod(dims, dtype=np.float64) > 1e7:
            return None
        t = numpy_helper.from_array(np.zeros(dims, NP_OF[tt.elem_type]), vi.name)
        path = folder / f"input_{i}.pb"
        path.write_bytes(t.SerializeToString())
        files.append(path)
    return files


def canary(root):
    for dirpath, dirnames, filenames in os.walk(root):
        if "PWNED" in filenames or "PWNED" in dirnames:
            return os.path.join(dirpath, "PWNED")
    if os.path.exists("/tmp/PWNED"):
        return "/tmp/PWNED"
    return None


def judge(args, mu, root, res):
    model_dir = root / mu.model_dir
    model_dir.mkdir(parents=True, exist_ok=True)
    model_path = model_dir / "model.onnx"
    model_path.write_bytes(mu.model.SerializeToString())
    do_setup(root, mu)
    out = root / mu.out_dir
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = root / "tmp" / pick(random.Random(res["index"]), ["t", "t'q", "t$(touch PWNED)"])
    tmp.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, **SAN_ENV, TMPDIR=str(tmp))
    if mu.run:
        env["CFLAGS"] = SAN_CFLAGS
    cmd = [str(args.kiln), "compile", str(model_path), "-o", str(out), "--emit", mu.emit]
    cmd += shape_binds(mu.model.graph)
    res["cmd"] = cmd
    res["env"] = {k: env[k] for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "CFLAGS", "TMPDIR") if k in env}
    rc, err, secs = run(cmd, root, env, args.timeout)
    res["rc"], res["secs"], res["stderr"] = rc, round(secs, 2), err
    find = res["findings"]
    if rc is None:
        find.append(summary_key("hang", "", f"kiln compile ran past {args.timeout:g} s ({mu.log[0][:60] if mu.log else ''})"))
    elif rc < 0 or SANITIZER.search(err):
        sig = f"signal {signal.Signals(-rc).name}: " if rc < 0 else ""
        find.append(summary_key("crash", err, sig))
    elif rc == 2:
        find.append(summary_key("usage", err, "exit 2: "))
    elif rc not in (0, 1):
        find.append(summary_key("crash", err, f"exit {rc}: "))
    elif rc == 1:
        if "building the generated code failed" in err:
            log = ""
            logf = out / "build.log"
            if logf.is_file():
                log = next((x for x in logf.read_text(errors="replace").splitlines() if "error" in x), "")
            find.append(summary_key("build", re.sub(r"^\S*model\.c:\d+:\d+: ", "", log)))
        if "out of memory" in err:
            find.append(summary_key("crash", err, "out of memory: "))
        for f in ("model", "libmodel.a"):
            if (out / f).exists():
                find.append(f"stale: a failed compile left {f}")
        if not err.strip():
            find.append("crash: exit 1 with no message")
    elif rc == 0 and mu.escape:
        find.append(f"escape: external data {mu.escape} compiled")
    pwned = canary(root)
    if pwned:
        find.append(f"inject: {os.path.relpath(pwned, root) if pwned.startswith(str(root)) else pwned} created")
        if pwned == "/tmp/PWNED":
            os.unlink(pwned)
    if rc != 0 or mu.emit != "exe" or not mu.run or find:
        return
    # run the generated program
    prog = out / "model"
    if not prog.is_file():
        return
    data = root / "data"
    data.mkdir(exist_ok=True)
    ins = zero_inputs(mu.model.graph, data) if mu.zero_inputs else None
    rcmd = [str(prog)] + [x for f in (ins or []) for x in ("--in", str(f))] + ["--out", str(data), "--quiet"]
    res["run_cmd"] = rcmd
    rc2, err2, _ = run(rcmd, root, dict(env, ASAN_OPTIONS=RUN_ASAN), args.timeout)
    res["run_rc"], res["run_stderr"] = rc2, err2
    if rc2 is None:
        find.append(summary_key("run-hang", "", "the generated program ran past the timeout"))
    elif rc2 < 0 or SANITIZER.search(err2):
        sig = f"signal {signal.Signals(-rc2).name}: " if rc2 < 0 else ""
        find.append(summary_key("run-crash", err2, sig))
    pwned = canary(root)
    if pwned:
        find.append(f"inject: the generated program created {os.path.relpath(pwned, root)}")
    if find or rc2 != 0 or not mu.check or not ins:
        return
    # kiln check on the program's own outputs must not crash or hang
    ccmd = [str(args.kiln), "check", str(model_path), str(data), "-o", str(root / "check")] + shape_binds(mu.model.graph)
    res["check_cmd"] = ccmd
    rc3, err3, _ = run(ccmd, root, env, args.timeout)
    res["check_rc"], res["check_stderr"] = rc3, err3
    if rc3 is None:
        find.append(summary_key("check", "", "kiln check ran past the timeout"))
    elif rc3 < 0 or SANITIZER.search(err3) or rc3 not in (0, 1):
        find.append(summary_key("check", err3, f"exit {rc3}: "))


def save(args, mu, root, res):
    """Copy the mutant (without FIFOs) with repro.sh under --findings."""
    key = res["findings"][0]
    name = f"{res['findings'][0].split(':')[0]}-{hashlib.sha1(key.encode()).hexdigest()[:8]}-m{res['index']}"
    dest = Path(args.findings) / name
    if dest.exists():
        shutil.rmtree(dest)

    def ignore(folder, names):
        return [n for n in names if not (os.path.isfile(os.path.join(folder, n)) or os.path.isdir(os.path.join(folder, n))
                                         or os.path.islink(os.path.join(folder, n)))]

    shutil.copytree(root, dest / "case", symlinks=True, ignore=ignore)
    shutil.rmtree(dest / "case" / mu.out_dir, ignore_errors=True)
    r = str(root)
    rel = lambda c: [x.replace(r, "$CASE") for x in c]  # noqa: E731
    lines = ["#!/bin/sh", f"# {key}", f"# mutant {res['index']} of --seed {args.seed}, from seed {mu.seed_name}:"]
    lines += [f"#   {m[:300]!r}" for m in mu.log]
    lines += ["# KILN: an ASan+UBSan build of kiln (default: build-asan/kiln of this checkout)",
              'set -u', 'here=$(cd "$(dirname "$0")" && pwd)', 'CASE=$here/case',
              f'KILN=${{KILN:-{ROOT}/build-asan/kiln}}', 'cd "$CASE"']
    lines += setup_sh(mu)
    lines += [f"export {k}={shlex.quote(v.replace(r, '$CASE'))}" for k, v in res["env"].items() if k != "TMPDIR"]
    lines += ['export TMPDIR="$CASE/tmp/t"', 'mkdir -p "$TMPDIR"']
    for c in ("cmd", "run_cmd", "check_cmd"):
        if c in res:
            words = rel(res[c])
            if c != "run_cmd":
                words[0] = "$KILN"
            lines.append(" ".join('"' + w.replace("\\", "\\\\").replace('"', '\\"').replace("`", "\\`").replace("$CASE\\", "$CASE")
                                  + '"' if w.startswith(("$CASE", "$KILN")) else shlex.quote(w) for w in words))
            lines.append('echo "exit status $?"')
    (dest / "repro.sh").write_text("\n".join(lines) + "\n")
    info = {k: v for k, v in res.items() if k not in ("findings",)}
    info["findings"] = res["findings"]
    (dest / "result.json").write_text(json.dumps(info, indent=1, default=str))
    return str(dest)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kiln", type=Path, default=ROOT / "build-asan/kiln", help="kiln to run (default: build-asan/kiln)")
    ap.add_argument("--seeds", type=Path, default=ROOT / "out/fuzz/seeds",
                    help="folder of seed models (tests/fuzz/make_seeds.py; default out/fuzz/seeds)")
    ap.add_argument("--count", type=int, default=100, help="mutants to run (default 100)")
    ap.add_argument("--seed", type=int, default=1, help="random seed: mutant i of seed S is always the same")
    ap.add_argument("--start", type=int, default=0, help="first mutant index (to rerun one: --start I --count 1)")
    ap.add_argument("--jobs", type=int, default=2, help="mutants run at once (default 2)")
    ap.add_argument("--timeout", type=float, default=60, help="seconds for each kiln or program run (default 60)")
    ap.add_argument("--scale", type=float, default=0.02, help="share of mutants that are long chains or wide graphs (default 0.02)")
    ap.add_argument("--findings", default=str(ROOT / "tests/fuzz/findings"), help="where findings are saved ('' for nowhere)")
    ap.add_argument("--keep", type=int, default=3, help="findings saved per group (default 3)")
    ap.add_argument("--work", default=None, help="scratch folder (default: a temporary one)")
    ap.add_argument("--verbose", action="store_true", help="one line per mutant on stderr")
    args = ap.parse_args()

    args.kiln = args.kiln.resolve()
    if not args.kiln.is_file():
        print(f"FAIL fuzz/mutate: kiln not found at {args.kiln}")
        return 1
    seeds = sorted(p for p in args.seeds.iterdir() if p.is_file()) if args.seeds.is_dir() else []
    if not seeds:
        print(f"FAIL fuzz/mutate: no seed models in {args.seeds} (run tests/fuzz/make_seeds.py)")
        return 1
    work = tempfile.mkdtemp(prefix="kiln-mutate-", dir=args.work)
    args.work = work
    if args.findings:
        Path(args.findings).mkdir(parents=True, exist_ok=True)
    groups, counts, lock = {}, {}, threading.Lock()
    n = 0
    t0 = time.monotonic()
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            todo = iter(range(args.start, args.start + args.count))
            running = {}
            for i in todo:
                running[pool.submit(one, args, seeds, i, groups, lock)] = i
                if len(running) >= 2 * args.jobs:
                    break
            while running:
                done, _ = concurrent.futures.wait(running, return_when=concurrent.futures.FIRST_COMPLETED)
                for fut in done:
                    del running[fut]
                    res = fut.result()
                    n += 1
                    for key in res["findings"]:
                        counts[key] = counts.get(key, 0) + 1
                    if args.verbose:
                        state = "; ".join(res["findings"]) or "ok"
                        print(f"mutant {res['index']}: rc {res.get('rc')} {res.get('secs')}s {state} "
                              f"[{res['seed'][:12]}: {' | '.join(m[:80] for m in res['mutations'])}]", file=sys.stderr)
                    if n % 100 == 0:
                        print(f"mutate progress: {n} of {args.count}, {sum(counts.values())} findings, "
                              f"{time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)
                    nxt = next(todo, None)
                    if nxt is not None:
                        running[pool.submit(one, args, seeds, nxt, groups, lock)] = nxt
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for key in sorted(counts):
        kind = key.split(":")[0]
        first = groups.get(key, [None])[0]
        where = f", first: {os.path.relpath(first, ROOT) if first and first.startswith(str(ROOT)) else first}" if first else ""
        print(f"FAIL fuzz/mutate/{kind}: {key[len(kind) + 2:]} ({counts[key]} mutants{where})")
    if counts:
        print(f"FAIL fuzz/mutate: {sum(counts.values())} findings in {len(counts)} groups ({n} mutants, --seed {args.seed})")
        return 1
    print(f"PASS fuzz/mutate ({n} mutants, --seed {args.seed})")
    return 0


def one(args, seeds, index, groups, lock):
    """Make, run and judge mutant `index`; save it under --findings when
    its first finding's group has fewer than --keep saved."""
    rng = random.Random(f"{args.seed}:{index}")
    mu = make_mutant(seeds, rng, args.scale)
    root = Path(tempfile.mkdtemp(prefix=f"m{index}-", dir=args.work))
    res = {"index": index, "seed": mu.seed_name, "mutations": mu.log, "findings": []}
    try:
        judge(args, mu, root, res)
    except Exception as e:  # a bug of this script, not of kiln: say so, go on
        res["findings"].append(f"mutate.py: {type(e).__name__}: {e}")
    finally:
        if res["findings"] and args.findings:
            with lock:
                saved = groups.setdefault(res["findings"][0], [])
                keep = len(saved) < args.keep
                if keep:
                    saved.append(save(args, mu, root, res))
        shutil.rmtree(root, ignore_errors=True)
    return res


if __name__ == "__main__":
    sys.exit(main())
