#!/usr/bin/env python3
"""The PTX target on a GPU: node tests and bundled models, built here, run there.

Two steps, because the GPU machine has cc, python3 and a driver but no kiln:

  here:   python3 tests/gpu/ptx.py prepare OUT [--kiln build/kiln] [--every K] [--only REGEX]
  there:  python3 OUT/ptx.py run OUT [--jobs N] [--bench]

`prepare` writes, with `kiln check --target ptx --emit src` (the sources
check would build: the test data's shapes and specialized inputs), for every
ONNX node test
listed in tests/onnx/expected_pass.txt (the C target passes them all) and
every bundled model, and keeps of each build only the generated files
(model.c, model.h, model.ptx, model_ptx.c, weights.bin, weights.S,
build.sh) and the test data; the runtime is kept once in OUT/runtime/. It
copies this script into OUT, so OUT is all the GPU machine needs.

`run` copies the runtime into each folder, builds it with `sh build.sh`
(cc only), runs `./model --in input_N.pb ... --out DIR --quiet` and compares
each output_N.pb with the expected one as `kiln check` does: floats within
atol + rtol*|want| (node tests: rtol 1e-3, atol 1e-5, kiln check's defaults;
models: rtol 1e-3, atol 1e-4, as tests/models/run.sh), NaN matches NaN,
infinities exactly, integers and bool exactly, packed types byte for byte.
One line per case ("PASS ptx-gpu/NAME", "FAIL ptx-gpu/NAME: reason"), then
a count by the outputs' type (float32, float16, integer, other) and the
time taken. --bench also times each bundled model (`./model --bench 100`:
the runs' median, copies in and out included).

Standard library only, on both machines.
"""
import argparse
import concurrent.futures
import math
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
KEEP = ["model.c", "model.h", "model.ptx", "model_ptx.c", "weights.bin", "weights.S", "build.sh"]

# ----------------------------------------------------------------- TensorProto


def varint(buf, i):
    value = shift = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return value, i


def fields(buf):
    i = 0
    while i < len(buf):
        key, i = varint(buf, i)
        kind = key & 7
        if kind == 0:
            v, i = varint(buf, i)
        elif kind == 1:
            v, i = buf[i:i + 8], i + 8
        elif kind == 5:
            v, i = buf[i:i + 4], i + 4
        elif kind == 2:
            n, i = varint(buf, i)
            v, i = buf[i:i + n], i + n
        else:
            raise ValueError(f"protobuf wire type {kind}")
        yield key >> 3, kind, v


def varints(kind, v):
    if kind == 0:
        return [v]
    out, i = [], 0
    while i < len(v):
        x, i = varint(v, i)
        out.append(x)
    return out


def signed(x, bits=64):
    x &= (1 << bits) - 1
    return x - (1 << bits) if x >> (bits - 1) else x


RAW = {1: "f", 2: "B", 3: "b", 4: "H", 5: "h", 6: "i", 7: "q", 9: "B", 10: "e", 11: "d", 12: "I", 13: "Q"}


def bf16(bits):
    return struct.unpack("<f", struct.pack("<I", (bits & 0xFFFF) << 16))[0]


def read_tensor(path):
    """(dtype, dims, values or raw bytes for packed types)."""
    dims, dtype, raw = [], 0, None
    f32, i32, i64, f64, u64 = [], [], [], [], []
    for num, kind, v in fields(Path(path).read_bytes()):
        if num == 1:
            dims += [signed(x) for x in varints(kind, v)]
        elif num == 2:
            dtype = v
        elif num == 9:
            raw = bytes(v)
        elif num == 4:
            f32 += list(struct.unpack(f"<{len(v) // 4}f", v))
        elif num == 5:
            i32 += [signed(x) for x in varints(kind, v)]
        elif num == 7:
            i64 += [signed(x) for x in varints(kind, v)]
        elif num == 10:
            f64 += list(struct.unpack(f"<{len(v) // 8}d", v))
        elif num == 11:
            u64 += varints(kind, v)
    n = math.prod(dims)
    if dtype not in RAW and dtype != 16:
        return dtype, dims, raw if raw is not None else bytes(i32)  # packed types: their bytes
    if raw is not None:
        if dtype == 16:
            return dtype, dims, [bf16(b) for b in struct.unpack(f"<{n}H", raw)]
        return dtype, dims, list(struct.unpack(f"<{n}{RAW[dtype]}", raw))
    if dtype == 1:
        return dtype, dims, f32
    if dtype == 11:
        return dtype, dims, f64
    if dtype == 10:
        return dtype, dims, [struct.unpack("<e", struct.pack("<H", b & 0xFFFF))[0] for b in i32]
    if dtype == 16:
        return dtype, dims, [bf16(b) for b in i32]
    if dtype in (7,):
        return dtype, dims, i64
    if dtype in (12, 13):
        return dtype, dims, u64
    return dtype, dims, i32


FLOATS = {1, 10, 11, 16}


def compare(want_path, got_path, rtol, atol):
    """None if they match as kiln check says, else the reason."""
    wt, wd, wv = read_tensor(want_path)
    gt, gd, gv = read_tensor(got_path)
    if wt != gt or wd != gd:
        return f"wrote type {gt} {gd}, want {wt} {wd}"
    if isinstance(wv, bytes):
        return None if wv == gv else "packed bytes differ"
    bad, worst = 0, 0.0
    for e, x in zip(wv, gv):
        if wt in FLOATS:
            if math.isnan(e) or math.isnan(x):
                ok = math.isnan(e) and math.isnan(x)
            elif math.isinf(e) or math.isinf(x):
                ok = e == x
            else:
                worst = max(worst, abs(x - e))
                ok = abs(x - e) <= atol + rtol * abs(e)
        else:
            ok = e == x
        bad += not ok
    if bad:
        return f"{bad} of {len(wv)} elements differ (max abs error {worst:.3g})"
    return None


def kind_of(folder):
    """float32, float16, integer or other: the outputs' types."""
    types = {read_tensor(p)[0] for p in sorted((folder / "data").glob("output_*.pb"))}
    if types <= {1}:
        return "float32"
    if types <= {10, 16}:
        return "float16"
    if types <= {2, 3, 4, 5, 6, 7, 9, 12, 13}:
        return "integer"
    return "other"

# --------------------------------------------------------------------- prepare


def prepare_one(kiln, model, data, dest, timeout):
    """Compile one test into dest; None or the reason it could not."""
    with tempfile.TemporaryDirectory(prefix="kiln-gpu-") as tmp:
        src = Path(tmp) / "src"
        cmd = [str(kiln), "check", str(model), str(data), "--target", "ptx", "--emit", "src", "-o", str(src)]
        try:
            p = subprocess.run(cmd, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return "kiln timed out"
        if p.returncode or not (src / "model.ptx").is_file():
            lines = p.stderr.decode(errors="replace").strip().splitlines()
            return lines[0] if lines else f"kiln exited {p.returncode}"
        dest.mkdir(parents=True)
        for f in KEEP:
            shutil.copy(src / f, dest / f)
        dest.joinpath("data").mkdir()
        for f in Path(data).glob("*.pb"):
            shutil.copy(f, dest / "data" / f.name)
    return None


def prepare(args):
    out = Path(args.out).resolve()
    if out.exists():
        sys.exit(f"{out} exists: give a new folder")
    tests = Path(args.tests or ROOT / "../shared/onnx-tests/node").resolve()
    listed = sorted(line.strip() for line in (ROOT / "tests/onnx/expected_pass.txt").read_text().splitlines()
                    if line.strip() and not line.startswith("#"))
    if args.only:
        listed = [n for n in listed if re.search(args.only, n)]
    listed = listed[::args.every]
    jobs = []
    for n in listed:
        jobs.append((f"node/{n}", tests / n / "model.onnx", tests / n / "test_data_set_0"))
    if not args.no_models:
        for d in sorted((ROOT / "models").iterdir()):
            if (d / "model.onnx").is_file() and (d / "test_data_set_0").is_dir():
                jobs.append((f"models/{d.name}", d / "model.onnx", d / "test_data_set_0"))
    out.mkdir(parents=True)
    t0 = time.time()
    skipped = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futs = {pool.submit(prepare_one, Path(args.kiln).resolve(), m, d, out / name, args.timeout): name
                for name, m, d in jobs}
        for f in concurrent.futures.as_completed(futs):
            why = f.result()
            if why:
                skipped.append(f"{futs[f]}: {why}")
    # the runtime once (every build's copy is the same), and this script
    rt = out / "runtime"
    rt.mkdir()
    for f in (ROOT / "runtime").iterdir():
        shutil.copy(f, rt / f.name)
    shutil.copy(Path(__file__), out / "ptx.py")
    for s in sorted(skipped):
        print(f"not prepared: {s}")
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"prepared {len(jobs) - len(skipped)} of {len(jobs)} in {out} ({size / 1e6:.1f} MB, "
          f"{time.time() - t0:.0f} s)")
    return 0

# ------------------------------------------------------------------------- run


def run_one(folder, rtol, atol, timeout):
    for f in (folder.parent.parent / "runtime").iterdir():
        shutil.copy(f, folder / f.name)
    b = subprocess.run(["sh", "build.sh"], cwd=folder, capture_output=True, timeout=timeout)
    if b.returncode:
        lines = (b.stdout + b.stderr).decode(errors="replace").strip().splitlines()
        return "build failed: " + (next((x for x in lines if "error" in x), lines[-1] if lines else ""))
    ins = sorted((folder / "data").glob("input_*.pb"), key=lambda p: int(p.stem.split("_")[1]))
    res = folder / "result"
    shutil.rmtree(res, ignore_errors=True)
    res.mkdir()
    cmd = ["./model"]
    for p in ins:
        cmd += ["--in", str(p)]
    cmd += ["--out", str(res), "--quiet"]
    try:
        r = subprocess.run(cmd, cwd=folder, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"timed out after {timeout} s"
    if r.returncode:
        lines = r.stderr.decode(errors="replace").strip().splitlines()
        return f"exit {r.returncode}: " + (lines[0] if lines else "")
    for want in sorted((folder / "data").glob("output_*.pb")):
        got = res / want.name
        if not got.is_file():
            return f"no {want.name}"
        why = compare(want, got, rtol, atol)
        if why:
            return f"{want.name}: {why}"
    return None


def bench_one(folder, timeout):
    """The lines of `model --bench 100`: gpu_kernels (CUDA events) and the
    machine-readable last one (whole runs)."""
    r = subprocess.run(["./model", "--bench", "100", "--quiet"], cwd=folder, capture_output=True, timeout=timeout)
    lines = r.stdout.decode(errors="replace").strip().splitlines()
    if r.returncode or not lines:
        return [f"bench failed (exit {r.returncode})"]
    return [x for x in lines if x.startswith("gpu_kernels")] + [lines[-1]]


def run(args):
    out = Path(args.out).resolve()
    cases = sorted(p.parent for p in out.glob("*/*/model.ptx"))
    t0 = time.time()
    results = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futs = {}
        for c in cases:
            model = c.parent.name == "models"
            futs[pool.submit(run_one, c, 1e-3, 1e-4 if model else 1e-5, args.timeout)] = c
        for f in concurrent.futures.as_completed(futs):
            try:
                results[futs[f]] = f.result()
            except Exception as e:  # noqa: BLE001 - one line per case, whatever broke
                results[futs[f]] = f"error: {e}"
    counts = {}
    for c in cases:
        why = results[c]
        name = f"{c.parent.name}/{c.name}"
        print(f"PASS ptx-gpu/{name}" if why is None else f"FAIL ptx-gpu/{name}: {why}")
        k = "model" if c.parent.name == "models" else kind_of(c)
        n = counts.setdefault(k, [0, 0])
        n[0] += why is None
        n[1] += 1
    took = time.time() - t0
    if args.bench:
        for c in cases:
            if c.parent.name == "models" and results[c] is None:
                for line in bench_one(c, args.timeout):
                    print(f"bench ptx-gpu/models/{c.name}: {line}")
    total = sum(n[0] for n in counts.values())
    by = ", ".join(f"{k} {p}/{n}" for k, (p, n) in sorted(counts.items()))
    print(f"ptx-gpu: {total} of {len(cases)} pass ({by}) in {took:.0f} s")
    return 0 if total == len(cases) else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare", help="compile the folders (here, with kiln)")
    p.add_argument("out")
    p.add_argument("--kiln", default=str(ROOT / "build/kiln"))
    p.add_argument("--tests", help="node test folder (default ../shared/onnx-tests/node)")
    p.add_argument("--every", type=int, default=1, help="every K-th listed node test (default all)")
    p.add_argument("--only", help="node tests whose name matches REGEX")
    p.add_argument("--no-models", action="store_true", help="no bundled models")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--timeout", type=int, default=300)
    r = sub.add_parser("run", help="build, run and compare (on the GPU machine)")
    r.add_argument("out")
    r.add_argument("--jobs", type=int, default=8)
    r.add_argument("--timeout", type=int, default=60, help="seconds per build or run (default 60)")
    r.add_argument("--bench", action="store_true", help="also time each bundled model")
    args = ap.parse_args()
    if args.cmd == "prepare" and args.every < 1:
        ap.error("--every needs a count from 1")
    return prepare(args) if args.cmd == "prepare" else run(args)


if __name__ == "__main__":
    sys.exit(main())
