#!/usr/bin/env python3
"""tests/tiny/table.py: the MLPerf Tiny table of docs/embedded.md.

    python3 tests/tiny/table.py [--kiln build/kiln] [--models out/tiny/models]
                                [--boards cortex-m4,aarch64-linux,riscv64-linux]
                                [--doc docs/embedded.md]

Needs the models tests/tiny/run.sh makes (out/tiny/models/{float,int8,qdq}/
<name>/); makes them the same way if they are missing. For each model,
float and int8, and each board it runs

    kiln inspect --arch BOARD MODEL        flash (code, constants, weights),
                                           RAM, arena, worst-case stack
    kiln check --arch BOARD MODEL TESTDIR  under the board's emulator, with
                                           tests/tiny/run.sh's tolerances

and computes the model's peak live set from the ONNX graph with
tests/bench/run.py's peak_live_bytes (imported). It rewrites the part of
--doc between the lines TABLE_BEGIN and TABLE_END (below), and prints it.
No timings: an emulator's time says nothing of the board's.
"""
import argparse
import datetime
import importlib.util
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NAMES = ["resnet8", "dscnn", "mobilenetv1", "autoencoder"]
KINDS = ["float", "int8", "qdq"]
TOL = {"float": ["--rtol", "1e-3", "--atol", "1e-4"], "int8": ["--rtol", "1e-5", "--atol", "1e-6"],
       "qdq": ["--rtol", "0"]}  # qdq: --atol one step of the output (output_step.txt, tests/tiny/run.sh)
TABLE_BEGIN = "<!-- tiny-table: begin (written by tests/tiny/table.py) -->"
TABLE_END = "<!-- tiny-table: end -->"


def bench_module():
    spec = importlib.util.spec_from_file_location("kiln_bench", os.path.join(ROOT, "tests", "bench", "run.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def run(cmd):
    p = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr


def first_line(text):
    return next((ln for ln in text.splitlines() if ln.strip()), "(no message)")


def make_models(models):
    names = NAMES
    rc, _, err = run(["/usr/bin/python3", "models/bench/make_bench_models.py", "--out",
                      os.path.join(models, "float")] + names)
    if rc != 0:
        sys.exit(f"table.py: making the float models failed: {err.strip().splitlines()[-1:]}")
    rc, _, err = run([sys.executable, "models/tiny/make_tiny.py", "--float", os.path.join(models, "float"),
                      "--out", os.path.join(models, "int8")])
    if rc != 0:
        sys.exit(f"table.py: making the int8 models failed: {err.strip().splitlines()[-1:]}")
    rc, _, err = run([sys.executable, "models/tiny/make_tiny.py", "--float", os.path.join(models, "float"),
                      "--out", os.path.join(models, "qdq"), "--format", "qdq"])
    if rc != 0:
        sys.exit(f"table.py: making the qdq models failed: {err.strip().splitlines()[-1:]}")


def number(pattern, text, what, model):
    m = re.search(pattern, text, re.M)
    if not m:
        sys.exit(f"table.py: {model}: kiln inspect printed no {what}")
    return int(m.group(1))


def inspect(kiln, board, path):
    rc, out, err = run([kiln, "inspect", "--arch", board, path])
    if rc != 0:
        sys.exit(f"table.py: kiln inspect --arch {board} {path}: {first_line(err)}")
    return {
        "code": number(r"^code +(\d+) bytes of code and constants, (\d+) of data", out, "code", path),
        "weights": number(r"^weights +(\d+) bytes in flash", out, "weights in flash", path),
        "flash": number(r"^flash +(\d+) of \d+ bytes", out, "flash", path),
        "ram": number(r"^ram +(\d+) of \d+ bytes", out, "ram", path),
        "arena": number(r"^io .*arena (\d+) bytes", out, "arena", path),
        "stack": number(r"^stack +(\d+) bytes worst case", out, "stack", path),
    }


def check(kiln, board, kind, d):
    tol = TOL[kind]
    if kind == "qdq":
        with open(os.path.join(d, "output_step.txt")) as f:
            tol = tol + ["--atol", f.read().strip()]
    rc, out, err = run([kiln, "check", "--arch", board, os.path.join(d, "model.onnx"),
                      os.path.join(d, "test_data_set_0")] + tol)
    m = re.search(r"max abs error ([0-9.e+-]+)", out + err)
    if rc == 0:
        return "yes" + (f" ({m.group(1)})" if m else "")
    return "**no**: " + first_line(err).replace("|", "/")[:80]


def kib(n):
    return f"{n / 1024:.1f}K"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kiln", default="build/kiln")
    ap.add_argument("--models", default="out/tiny/models")
    ap.add_argument("--boards", default="cortex-m4,aarch64-linux,riscv64-linux")
    ap.add_argument("--doc", default="docs/embedded.md")
    a = ap.parse_args()
    kiln = os.path.abspath(a.kiln)
    models = os.path.abspath(a.models)
    boards = [b for b in a.boards.split(",") if b]
    if not all(os.path.isfile(os.path.join(models, k, n, "model.onnx")) for k in KINDS for n in NAMES):
        make_models(models)
    bench = bench_module()

    rows = []
    for name in NAMES:
        for kind in KINDS:
            d = os.path.join(models, kind, name)
            path = os.path.join(d, "model.onnx")
            peak, unknown = bench.peak_live_bytes(path)
            for board in boards:
                print(f"table.py: {kind} {name} on {board}", file=sys.stderr)
                i = inspect(kiln, board, path)
                ok = check(kiln, board, kind, d)
                ratio = f"{i['arena'] / peak:.2f}" if peak and not unknown else "-"
                rows.append(f"| {name} | {kind} | {board} | {i['flash']} ({kib(i['code'])} + {kib(i['weights'])}) "
                            f"| {i['ram']} | {i['arena']} | {peak}{'?' if unknown else ''} | {ratio} "
                            f"| {i['stack']} | {ok} |")

    today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    cmd = "python3 tests/tiny/table.py" + ("" if a.boards == ap.get_default("boards") else f" --boards {a.boards}")
    lines = [
        TABLE_BEGIN,
        "",
        f"Generated {today} by `{cmd}` (kiln `-O` defaults, one thread) on the models",
        "`tests/tiny/run.sh` makes: float32 from `models/bench/make_bench_models.py`, int8 from",
        "`models/tiny/make_tiny.py` (onnxruntime static quantization, QOperator, per-channel), qdq",
        "the same quantization in QDQ format (`--format qdq`), which kiln's QDQ pass compiles to",
        "integer ops (int8 weights, int32 sums, requantized in the epilogue).",
        "flash = code and constants + weights (+ data), from `kiln inspect --arch BOARD`'s measured",
        "objects (K = 1024 bytes); RAM = arena + input and output buffers + worst-case stack + data",
        "+ bss; peak live = the largest total of intermediate tensors alive at once in the ONNX",
        "graph's node order (`peak_live_bytes` of tests/bench/run.py: graph inputs, outputs and",
        "weights excluded, views share storage); arena/peak < 1: kiln's plan (fusion, in-place",
        "writes) needs less than the graph's own peak; > 1: what the graph does not count, as a",
        "zero border stored around a tensor that a padded Conv reads in place; stack = `model_run`'s",
        "worst case from gcc's call graphs (libm and libgcc not counted); matched = `kiln check",
        "--arch BOARD` under the board's emulator agrees with the reference (float: PyTorch, rtol 1e-3 atol 1e-4; int8:",
        "ONNX Runtime on the int8 model, rtol 1e-5 atol 1e-6; qdq: ONNX Runtime on the QDQ model,",
        "within one quantization step of the output), with the max abs error. No times:",
        "qemu's time is not the board's (qemu-system-arm does not model the M4's cycles).",
        "",
        "| model | type | board | flash bytes (code + weights) | RAM bytes | arena | peak live | arena/peak | stack | matched |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ] + rows + ["", TABLE_END]
    section = "\n".join(lines)
    print(section)

    doc = os.path.join(ROOT, a.doc) if not os.path.isabs(a.doc) else a.doc
    with open(doc) as f:
        text = f.read()
    if TABLE_BEGIN in text and TABLE_END in text:
        head, rest = text.split(TABLE_BEGIN, 1)
        tail = rest.split(TABLE_END, 1)[1]
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n## MLPerf Tiny on the boards\n\n" + section + "\n"
    with open(doc, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
