#!/usr/bin/env python3
"""tests/math/run.py --kiln K [--target T]: kiln's f32 vector math, end to end.

One model applies Exp, Log, Tanh, Erf and Sigmoid to 16384 float32
values: uniform over the ranges where each function changes, logarithmically
spread magnitudes from 1e-44 to 3e38 of both signs, and the edges (0, -0, the
infinities, NaN, subnormals, the clamps and branch points of kiln_vec.h's
polynomials: 89, -104, 0.55, 0.875, 4, 9.5). It is compiled for the C target
and for --target T (default llvm: its math is built in line by
targets/llvm/lmath.c, the C target's comes from runtime/kiln_vec.h), both run
on the same input, and each output is checked:

  math/T/OP.agree  T's result is C's to 1 unit in the last place, NaN where
                   C's is NaN (the two may differ only where an FMA contracts
                   differently)
  math/T/OP.ulp    both are within 2 units in the last place of the float64
                   result rounded to float32, where that is a normal number
                   (Sigmoid within 4: two roundings more)

Lines read "PASS math/..." or "FAIL math/...: why". Needs numpy and onnx.
"""
import argparse
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

N = 16384
OPS = ("Exp", "Log", "Tanh", "Erf", "Sigmoid")
EDGES = [0.0, -0.0, math.inf, -math.inf, math.nan, 1e-45, -1e-45, 1e-40, 89.0, 88.72, -104.0, -103.9, 0.55,
         -0.55, 0.875, -0.875, 4.0, -4.0, 9.5, -9.5, 3e38, -3e38, 1.0, -1.0]


def inputs():
    rng = np.random.default_rng(7)
    mags = np.exp(rng.uniform(math.log(1e-44), math.log(3e38), 4000))
    v = np.concatenate([rng.uniform(-120, 120, 4000), rng.uniform(-6, 6, 4000), rng.uniform(-1, 1, 4000),
                        mags * rng.choice([-1.0, 1.0], 4000), EDGES])
    return np.pad(v, (0, N - len(v)), constant_values=0.25).astype(np.float32)


def reference(op, x):
    x = x.astype(np.float64)
    with np.errstate(all="ignore"):
        if op == "Exp":
            return np.exp(x)
        if op == "Log":
            return np.log(np.where(x >= 0, x, np.nan))
        if op == "Tanh":
            return np.tanh(x)
        if op == "Erf":
            return np.array([math.erf(v) if not math.isnan(v) else math.nan for v in x])
        return 1 / (1 + np.exp(-x))  # Sigmoid


def ulps(a, b):
    """|a - b| in units in the last place of float32 (same-sign finite)."""
    ai = a.view(np.int32).astype(np.int64)
    bi = b.view(np.int32).astype(np.int64)
    ai = np.where(ai < 0, -(ai & 0x7FFFFFFF), ai)
    bi = np.where(bi < 0, -(bi & 0x7FFFFFFF), bi)
    return np.abs(ai - bi)


def run(kiln, model, target, x, work):
    out = work / (target or "c")
    cmd = [kiln, "compile", str(model), "-o", str(out)] + (["--target", target] if target else [])
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode:
        return None, f"kiln compile{' --target ' + target if target else ''}: {p.stderr.strip()}"
    res = work / ((target or "c") + "-out")
    res.mkdir()
    p = subprocess.run([str(out / "model"), "--in", str(work / "x.pb"), "--out", str(res), "--quiet"],
                       capture_output=True, text=True)
    if p.returncode:
        return None, f"the {target or 'c'} build failed: {p.stderr.strip()}"
    return [numpy_helper.to_array(onnx.load_tensor(str(res / f"output_{i}.pb"))) for i in range(len(OPS))], None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kiln", default="build/kiln")
    ap.add_argument("--target", default="llvm")
    args = ap.parse_args()
    kiln = str(Path(args.kiln).resolve())
    x = inputs()
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        nodes = [helper.make_node(op, ["x"], [op.lower()]) for op in OPS]
        graph = helper.make_graph(nodes, "math", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [N])],
                                  [helper.make_tensor_value_info(op.lower(), TensorProto.FLOAT, [N]) for op in OPS])
        model = work / "math.onnx"
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(model))
        (work / "x.pb").write_bytes(numpy_helper.from_array(x, "x").SerializeToString())
        c, err = run(kiln, model, None, x, work)
        t, err2 = (None, None) if err else run(kiln, model, args.target, x, work)
        if err or err2:
            print(f"FAIL math/{args.target}: {err or err2}")
            return 1
        for i, op in enumerate(OPS):
            name = f"math/{args.target}/{op}"
            nan_c, nan_t = np.isnan(c[i]), np.isnan(t[i])
            d = ulps(c[i], t[i])
            d[nan_c & nan_t] = 0
            bad = np.flatnonzero((nan_c != nan_t) | (d > 1))
            if len(bad):
                j = bad[0]
                print(f"FAIL {name}.agree: {len(bad)} values differ, e.g. x={x[j]!r}: C {c[i][j]!r}, "
                      f"{args.target} {t[i][j]!r}")
                failed += 1
            else:
                print(f"PASS {name}.agree (max {int(d.max())} ulp)")
            ref = reference(op, x)
            with np.errstate(all="ignore"):
                r32 = ref.astype(np.float32)
            normal = np.isfinite(r32) & (np.abs(r32) >= np.finfo(np.float32).tiny)
            limit = 4 if op == "Sigmoid" else 2
            worst = max(int(ulps(side[i][normal], r32[normal]).max()) for side in (c, t))
            if worst > limit:
                print(f"FAIL {name}.ulp: {worst} ulp from the float64 result (at most {limit})")
                failed += 1
            else:
                print(f"PASS {name}.ulp (max {worst} ulp)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
