#!/usr/bin/env python3
"""tests/dynamic/run.py KILN [--target T]: outputs of data-dependent shape
(issue 17) on many inputs per build.

Builds each model below once with `kiln compile` (NonZero, Compress along
an axis and flattened, Unique sorted / unsorted / along an axis,
NonMaxSuppression in both box formats) and runs the one executable on
TRIALS pseudo-random inputs (seeded: the same every run), comparing each
output, its shape included, with onnxruntime's. This is what the ONNX node
tests cannot show: the compiled program works for any input values of the
compiled shapes, not only for the test's. Prints one line per model,
"PASS dynamic/<model>" or "FAIL dynamic/<model>: <why>"; exits 1 if any
failed. Without onnxruntime it prints one SKIP line.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper
from onnx import numpy_helper as nh

TRIALS = 20


def model(nodes, ins, outs, opset=11):
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(n, t, s) for n, t, s in ins],
                          [helper.make_tensor_value_info(n, t, None) for n, t in outs])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 7
    return m


def cases(rng):
    """(name, model, feeds() -> {input: array})"""
    def nms_feeds():
        c = rng.rand(2, 10, 2).astype(np.float32)
        b = np.concatenate([c, c + rng.rand(2, 10, 2).astype(np.float32) * 0.6], axis=2).astype(np.float32)
        return {"b": b, "s": rng.rand(2, 3, 10).astype(np.float32),
                "m": np.array([rng.randint(0, 12)], dtype=np.int64),
                "iou": np.array([rng.rand() * 0.7], dtype=np.float32),
                "st": np.array([rng.rand() * 0.5], dtype=np.float32)}
    nms_in = [("b", T.FLOAT, [2, 10, 4]), ("s", T.FLOAT, [2, 3, 10]), ("m", T.INT64, [1]),
              ("iou", T.FLOAT, [1]), ("st", T.FLOAT, [1])]
    uq_out = [("y", T.FLOAT), ("i", T.INT64), ("v", T.INT64), ("c", T.INT64)]
    return [
        ("nonzero", model([helper.make_node("NonZero", ["x"], ["y"])], [("x", T.FLOAT, [3, 4, 2])],
                          [("y", T.INT64)], 13),
         lambda: {"x": (rng.rand(3, 4, 2) < rng.rand()).astype(np.float32)}),
        ("compress-axis", model([helper.make_node("Compress", ["x", "c"], ["y"], axis=1)],
                                [("x", T.FLOAT, [2, 5, 3]), ("c", T.BOOL, [5])], [("y", T.FLOAT)]),
         lambda: {"x": rng.rand(2, 5, 3).astype(np.float32), "c": rng.rand(5) < 0.5}),
        ("compress-flat", model([helper.make_node("Compress", ["x", "c"], ["y"])],
                                [("x", T.FLOAT, [2, 5, 3]), ("c", T.BOOL, [17])], [("y", T.FLOAT)]),
         lambda: {"x": rng.rand(2, 5, 3).astype(np.float32), "c": rng.rand(17) < 0.5}),
        ("unique-sorted", model([helper.make_node("Unique", ["x"], ["y", "i", "v", "c"], sorted=1)],
                                [("x", T.INT64, [12])], [("y", T.INT64)] + uq_out[1:]),
         lambda: {"x": rng.randint(0, 6, size=12).astype(np.int64)}),
        ("unique-axis", model([helper.make_node("Unique", ["x"], ["y", "i", "v", "c"], sorted=1, axis=1)],
                              [("x", T.FLOAT, [2, 6, 2])], uq_out),
         lambda: {"x": rng.randint(0, 2, size=(2, 6, 2)).astype(np.float32)}),
        ("unique-unsorted", model([helper.make_node("Unique", ["x"], ["y", "i", "v", "c"], sorted=0)],
                                  [("x", T.FLOAT, [10])], uq_out),
         lambda: {"x": rng.randint(0, 5, size=10).astype(np.float32)}),
        ("nms-corners", model([helper.make_node("NonMaxSuppression", ["b", "s", "m", "iou", "st"], ["y"])],
                              nms_in, [("y", T.INT64)]), nms_feeds),
        ("nms-center", model([helper.make_node("NonMaxSuppression", ["b", "s", "m", "iou", "st"], ["y"],
                                               center_point_box=1)], nms_in, [("y", T.INT64)]), nms_feeds),
    ]


def check(kiln, target, name, m, feeds, tmp):
    import onnxruntime as ort
    path = os.path.join(tmp, name + ".onnx")
    onnx.save(m, path)
    out = os.path.join(tmp, name)
    cmd = [kiln, "compile", path, "-o", out] + (["--target", target] if target else [])
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        return "kiln compile failed: " + (r.stderr.strip().splitlines() or ["?"])[0]
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    for t in range(TRIALS):
        f = feeds()
        args = []
        for i, (k, v) in enumerate(f.items()):
            p = os.path.join(tmp, "%s_in%d.pb" % (name, i))
            with open(p, "wb") as fh:
                fh.write(nh.from_array(v, k).SerializeToString())
            args += ["--in", p]
        res = os.path.join(tmp, name + "_res")
        os.makedirs(res, exist_ok=True)
        r = subprocess.run([os.path.join(out, "model")] + args + ["--out", res, "--quiet"], capture_output=True,
                           text=True)
        if r.returncode:
            return "trial %d: the program failed: %s" % (t, r.stderr.strip())
        for o, want in enumerate(sess.run(None, f)):
            got = nh.to_array(onnx.load_tensor(os.path.join(res, "output_%d.pb" % o)))
            if got.shape != want.shape or not np.array_equal(got, want):
                return "trial %d: output %d is %s of shape %s, onnxruntime's %s of shape %s" % (
                    t, o, got.tolist(), got.shape, want.tolist(), want.shape)
    return None


def main():
    args = sys.argv[1:]
    kiln = os.path.abspath(args[0] if args else "build/kiln")
    target = args[args.index("--target") + 1] if "--target" in args else None
    tag = " --target " + target if target else ""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        print("SKIP dynamic: python3 has no onnxruntime (pip install onnxruntime)")
        return 0
    failed = 0
    rng = np.random.RandomState(17)
    with tempfile.TemporaryDirectory() as tmp:
        for name, m, feeds in cases(rng):
            why = check(kiln, target, name, m, feeds, tmp)
            if why:
                failed += 1
                print("FAIL dynamic/%s%s: %s" % (name, tag, why))
            else:
                print("PASS dynamic/%s%s (%d inputs, one build)" % (name, tag, TRIALS))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
