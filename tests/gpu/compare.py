#!/usr/bin/env python3
"""tests/gpu/compare.py: output comparison and the report for tests/gpu/run.sh
(python3 with numpy and onnx; run on the GPU machine).

  compare.py node ROOT NAMES_FILE
      for each NAME: ROOT/NAME/output_N.pb (expected) against
      ROOT/NAME/got/output_N.pb (the CUDA build's), as kiln check compares
      (floats within atol 1e-5 + rtol 1e-3 * |want|, NaN matches NaN, the
      rest exactly); ROOT/NAME/status holds the build/run step that failed,
      if any; ROOT/NAME/tolerance, if there, "RTOL ATOL" for that folder (the
      bundled models'). Prints PASS/FAIL gpu-node/NAME lines and a summary line
      "node: P of N pass".
  compare.py outputs WANT_DIR GOT_DIR [RTOL ATOL]
      one line: "max_abs=... max_rel=... match=yes|no" over every output
  compare.py matmul DIR
      DIR/A.pb, B.pb (written by `compare.py matmul-inputs N DIR`) and
      DIR/got/output_0.pb: C = A @ B against numpy (float64)
  compare.py matmul-inputs N DIR
  compare.py report RESULTS DOC
      rewrite DOC's text between <!-- gpu-results --> and
      <!-- /gpu-results --> from RESULTS (key=value lines)
"""
import os
import sys

import numpy as np
from onnx import TensorProto, numpy_helper


def read(path):
    t = TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return numpy_helper.to_array(t)


def outputs(d):
    out, i = [], 0
    while os.path.exists(f"{d}/output_{i}.pb"):
        out.append(read(f"{d}/output_{i}.pb"))
        i += 1
    return out


def diff(want, got, rtol, atol):
    """(max abs error, max relative error, matches) of two arrays."""
    if want.shape != got.shape:
        return float("inf"), float("inf"), False
    if want.dtype.kind not in "fc":
        same = bool(np.array_equal(want, got))
        return (0.0 if same else float("inf")), (0.0 if same else float("inf")), same
    w, g = want.astype(np.float64), got.astype(np.float64)
    nan = np.isnan(w) & np.isnan(g)
    inf = np.isinf(w) & (w == g)
    with np.errstate(invalid="ignore"):
        d = np.where(nan | inf, 0.0, np.abs(w - g))
    d = np.where(np.isnan(d), np.inf, d)
    ok = bool(np.all(d <= atol + rtol * np.abs(np.where(nan | inf, 0.0, w))))
    mabs = float(d.max()) if d.size else 0.0
    rel = d / np.maximum(np.abs(np.where(nan | inf, 1.0, w)), 1e-12)
    return mabs, float(rel.max()) if rel.size else 0.0, ok


def node(root, names_file):
    names = [n.strip() for n in open(names_file) if n.strip()]
    npass = 0
    for n in names:
        d = f"{root}/{n}"
        status = open(f"{d}/status").read().strip() if os.path.exists(f"{d}/status") else "no status"
        if status != "ok":
            print(f"FAIL gpu-node/{n}: {status}")
            continue
        want, got = outputs(d), outputs(f"{d}/got")
        if len(want) != len(got):
            print(f"FAIL gpu-node/{n}: {len(got)} outputs written, {len(want)} expected")
            continue
        bad = None
        rtol, atol = 1e-3, 1e-5
        if os.path.exists(f"{d}/tolerance"):
            rtol, atol = (float(x) for x in open(f"{d}/tolerance").read().split())
        for i, (w, g) in enumerate(zip(want, got)):
            mabs, _, ok = diff(w, g, rtol, atol)
            if not ok:
                bad = f"output {i} differs (max abs error {mabs:.3g})"
                break
        if bad:
            print(f"FAIL gpu-node/{n}: {bad}")
        else:
            npass += 1
            print(f"PASS gpu-node/{n}")
    print(f"node: {npass} of {len(names)} pass")


def compare_outputs(want_dir, got_dir, rtol=1e-3, atol=1e-4):
    want, got = outputs(want_dir), outputs(got_dir)
    if not want or len(want) != len(got):
        print(f"max_abs=inf max_rel=inf match=no ({len(got)} outputs, {len(want)} expected)")
        return
    mabs = mrel = 0.0
    ok = True
    for w, g in zip(want, got):
        a, r, o = diff(w, g, rtol, atol)
        mabs, mrel, ok = max(mabs, a), max(mrel, r), ok and o
    print(f"max_abs={mabs:.3g} max_rel={mrel:.3g} match={'yes' if ok else 'no'}")


def matmul_inputs(n, d):
    rng = np.random.RandomState(n)
    for name in "AB":
        a = (rng.standard_normal((n, n)) / 8).astype(np.float32)
        with open(f"{d}/{name}.pb", "wb") as f:
            f.write(numpy_helper.from_array(a, name).SerializeToString())


def matmul(d):
    a, b = read(f"{d}/A.pb").astype(np.float64), read(f"{d}/B.pb").astype(np.float64)
    got = outputs(f"{d}/got")
    if len(got) != 1:
        print("max_abs=inf match=no (no output)")
        return
    mabs, mrel, ok = diff(a @ b, got[0], 1e-3, 1e-4)
    print(f"max_abs={mabs:.3g} match={'yes' if ok else 'no'}")


def report(results, doc):
    kv = {}
    for line in open(results):
        if "=" in line:
            k, v = line.rstrip("\n").split("=", 1)
            if k in ("models", "matmul") and k in kv:
                v = kv[k] + " " + v  # run.sh --append: one line per pack
            kv[k] = v
    g = kv.get
    lines = [f"Measured by `sh tests/gpu/run.sh` on **{g('device', '?')}** (driver {g('driver', '?')}, "
             f"nvcc {g('nvcc', '?')}), {g('date', '?')}; kiln {g('kiln', '?')}.", ""]
    if "node" in kv:
        lines += ["### ONNX node tests on the GPU", "",
                  f"{g('node')} (built with nvcc, run on the GPU, outputs compared as `kiln check` does; "
                  f"the failures are listed in node.log).", ""]
    models = list(dict.fromkeys(m for m in g("models", "").split() if m))
    if models:
        lines += ["### Models, batch 1, fp32", "",
                  "| model | kiln run (copies in and out) ms | kiln kernels ms (CUDA events) | PyTorch eager ms "
                  "(GPU) | kiln vs PyTorch GPU: max abs error | kiln vs PyTorch CPU: max abs error |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for m in models:
            lines.append(f"| {m} | {g(m + '.run_ms', '-')} | {g(m + '.gpu_ms', '-')} | {g(m + '.torch_ms', '-')} | "
                         f"{g(m + '.err_gpu', '-')} | {g(m + '.err_cpu', '-')} |")
        lines.append("")
    sizes = list(dict.fromkeys(n for n in g("matmul", "").split() if n))
    if sizes:
        lines += ["### MatMul, fp32, square N x N", "",
                  "| N | kiln ms | kiln GFLOP/s | cuBLAS ms | cuBLAS GFLOP/s | kiln / cuBLAS |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for n in sizes:
            k, c = g(f"mm{n}.kiln_ms"), g(f"mm{n}.cublas_ms")
            kf = f"{2 * int(n) ** 3 / (float(k) * 1e6):.0f}" if k and k != "-" else "-"
            cf = f"{2 * int(n) ** 3 / (float(c) * 1e6):.0f}" if c and c != "-" else "-"
            share = f"{100 * float(c) / float(k):.1f}%" if kf != "-" and cf != "-" else "-"
            lines.append(f"| {n} | {k or '-'} | {kf} | {c or '-'} | {cf} | {share} |")
        lines += ["", f"MatMul 1024 output against numpy (float64): {g('mm1024.check', '-')}.", ""]
    if "ptx.tests" in kv:
        # tests/gpu/run_ptx.sh: the PTX target's node tests and bundled models
        lines += ["### The PTX target (--target ptx)", "",
                  f"Node tests and bundled models: {g('ptx.tests')} (built with cc, run through the CUDA driver, "
                  f"outputs compared as `kiln check` does; the failures are listed in ptx.log).", ""]
        pm = sorted({k.split(".")[1] for k in kv if k.startswith("ptx.") and k.endswith(".gpu_ms")})
        if pm:
            lines += ["| bundled model | kiln run (copies in and out) ms | kiln kernels ms (CUDA events) |",
                      "| --- | --- | --- |"]
            lines += [f"| {m} | {g('ptx.' + m + '.run_ms') or '-'} | {g('ptx.' + m + '.gpu_ms') or '-'} |" for m in pm]
            lines.append("")
    text = open(doc).read()
    start, end = "<!-- gpu-results -->", "<!-- /gpu-results -->"
    i, j = text.find(start), text.find(end)
    if i < 0 or j < 0:
        sys.exit(f"compare.py: no {start} ... {end} in {doc}")
    text = text[:i + len(start)] + "\n" + "\n".join(lines) + "\n" + text[j:]
    with open(doc, "w") as f:
        f.write(text)


if __name__ == "__main__":
    a = sys.argv[1:]
    if len(a) == 3 and a[0] == "node":
        node(a[1], a[2])
    elif len(a) in (3, 5) and a[0] == "outputs":
        compare_outputs(a[1], a[2], *(float(x) for x in a[3:]))
    elif len(a) == 2 and a[0] == "matmul":
        matmul(a[1])
    elif len(a) == 3 and a[0] == "matmul-inputs":
        matmul_inputs(int(a[1]), a[2])
    elif len(a) == 3 and a[0] == "report":
        report(a[1], a[2])
    else:
        sys.exit(__doc__)
