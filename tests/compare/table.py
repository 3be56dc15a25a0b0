#!/usr/bin/env python3
"""tests/compare/table.py: the operator table of docs/compare.md.

Runs `kiln compare` on representative shapes (ResNet-18's convolutions,
BERT-base's matrix products, Softmax and LayerNorm at sequence 128, square
MatMul 64..2048) against the naive reference and against OpenBLAS, and
rewrites the part of docs/compare.md between the markers
"<!-- table begin -->" and "<!-- table end -->". Every figure in it comes
from a run of this script; the text around it is the guide.

    python3 tests/compare/table.py [--kiln build/kiln] [--doc docs/compare.md]
                                   [--threads 1] [--coretype auto|none|NAME]
                                   [--only REGEX]

OpenBLAS picks its kernels by CPUID; on a virtual machine that hides the
CPU model, Debian's DYNAMIC_ARCH build may fall back to old SSE3 kernels
("Prescott"). --coretype auto (the default) sets OPENBLAS_CORETYPE from the
instruction sets /proc/cpuinfo lists (SkylakeX for AVX-512, Haswell for
AVX2), none leaves OpenBLAS's choice; the table says which core ran.
"""
import argparse
import os
import re
import subprocess
import sys
import time

# (op, compare arguments, naive?) -- naive is skipped where one call would
# take tens of seconds
RESNET = [
    ("conv1 7x7/2 +Relu", "Conv+Relu --shape X=1x3x224x224 --shape W=64x3x7x7 --shape B=64 "
     "--attr strides=2,2 --attr pads=3,3,3,3", True),
    ("layer1 3x3 64", "Conv --shape X=1x64x56x56 --shape W=64x64x3x3 --shape B=64 --attr pads=1,1,1,1", True),
    ("layer2 3x3/2 64->128", "Conv --shape X=1x64x56x56 --shape W=128x64x3x3 --shape B=128 "
     "--attr pads=1,1,1,1 --attr strides=2,2", True),
    ("layer2 1x1/2 downsample", "Conv --shape X=1x64x56x56 --shape W=128x64x1x1 --shape B=128 "
     "--attr strides=2,2", True),
    ("layer2 3x3 128", "Conv --shape X=1x128x28x28 --shape W=128x128x3x3 --shape B=128 --attr pads=1,1,1,1", True),
    ("layer3 3x3 256", "Conv --shape X=1x256x14x14 --shape W=256x256x3x3 --shape B=256 --attr pads=1,1,1,1", True),
    ("layer4 3x3 512", "Conv --shape X=1x512x7x7 --shape W=512x512x3x3 --shape B=512 --attr pads=1,1,1,1", True),
    ("fc 512->1000", "Gemm --shape A=1x512 --shape B=1000x512 --shape C=1000 --attr transB=1", True),
    ("MobileNet depthwise 3x3 32", "Conv --shape X=1x32x112x112 --shape W=32x1x3x3 --shape B=32 "
     "--attr group=32 --attr pads=1,1,1,1", True),
    ("grouped 3x3 g=8 128", "Conv --shape X=1x128x28x28 --shape W=128x16x3x3 --shape B=128 "
     "--attr group=8 --attr pads=1,1,1,1", True),
]
BERT = [
    ("QKV/out proj 128x768x768", "Gemm --shape A=128x768 --shape B=768x768 --shape C=768", True),
    ("FFN up 128x768x3072 +Relu", "Gemm+Relu --shape A=128x768 --shape B=768x3072 --shape C=3072", True),
    ("FFN down 128x3072x768", "Gemm --shape A=128x3072 --shape B=3072x768 --shape C=768", True),
    ("scores 12x(128x64x128)", "MatMul --shape A=1x12x128x64 --shape B=1x12x64x128 --input B", True),
    ("context 12x(128x128x64)", "MatMul --shape A=1x12x128x128 --shape B=1x12x128x64 --input B", True),
    ("Softmax 12x128x128", "Softmax --shape input=1x12x128x128", True),
    ("LayerNorm 128x768", "LayerNormalization --shape X=1x128x768", True),
]
SQUARE = [("MatMul %d" % n, "MatMul --shape A=%dx%d --shape B=%dx%d" % (n, n, n, n), n <= 1024)
          for n in (64, 128, 256, 512, 1024, 2048)]
BLAS_OPS = ("MatMul", "Gemm", "Conv")


def coretype(choice):
    if choice == "none":
        return None
    if choice != "auto":
        return choice
    flags = ""
    try:
        with open("/proc/cpuinfo") as f:
            flags = " ".join(l for l in f if l.startswith("flags"))
    except OSError:
        return None
    if " avx512f" in flags:
        return "SkylakeX"
    if " avx2" in flags:
        return "Haswell"
    return None


def run(kiln, args, ref, threads, env):
    cmd = [kiln, "compare"] + args.split() + ["--ref", ref, "--threads", str(threads),
                                             "--iters", "21", "--warmup", "1", "--budget", "2"]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    out = p.stdout
    r = {"rc": p.returncode, "err": p.stderr.strip().splitlines()[:1]}
    m = re.search(r"^kiln_ms=(\S+) ref_ms=(\S+) ratio=(\S+) max_abs_err=(\S+) max_rel_err=(\S+)$", out, re.M)
    if not m:
        r["fail"] = (r["err"] or ["no result"])[0]
        return r
    r.update(kiln_ms=float(m[1]), ref_ms=float(m[2]), ratio=float(m[3]), abs=m[4], rel=m[5])
    k = re.search(r"^  kiln +\S+ ms +(\S+) (GFLOP/s|GB/s)(?: +(\S+)% of peak)?", out, re.M)
    if k:
        r["rate"], r["unit"], r["share"] = k[1], k[2], k[3]
    pk = re.search(r"^  peak +(\S+) GFLOP/s", out, re.M)
    r["peak"] = pk[1] if pk else None
    core = re.search(r"kernels for core (\S+)", out)
    r["core"] = core[1] if core else None
    return r


def peak_range(peaks):
    if not peaks:
        return "—"
    p = sorted(float(x) for x in peaks)
    return "%.0f" % p[0] if len(p) == 1 else "%.0f–%.0f" % (p[0], p[-1])


def fmt_ms(x):
    return "%.3f" % x if x < 100 else "%.0f" % x


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kiln", default="build/kiln")
    ap.add_argument("--doc", default="docs/compare.md")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--coretype", default="auto")
    ap.add_argument("--only")
    a = ap.parse_args()
    env = dict(os.environ)
    core = coretype(a.coretype)
    if core:
        env["OPENBLAS_CORETYPE"] = core
    rows, peaks, cores = [], set(), set()
    load0 = os.getloadavg()[0]
    for section, cases in (("ResNet-18 (batch 1)", RESNET), ("BERT-base (sequence 128)", BERT),
                           ("square MatMul", SQUARE)):
        rows.append("| **%s** | | | | | | | | |" % section)
        for name, args, naive in cases:
            if a.only and not re.search(a.only, name):
                continue
            op = args.split()[0].split("+")[0]
            nv = run(a.kiln, args, "naive", a.threads, env) if naive else None
            bl = run(a.kiln, args, "openblas", a.threads, env) if op in BLAS_OPS else None
            first = next((r for r in (bl, nv) if r and "fail" not in r), None)
            for r in (nv, bl):
                if r and "fail" in r:
                    print("FAIL %s: %s" % (name, r["fail"]), file=sys.stderr)
                if r and r.get("peak"):
                    peaks.add(r["peak"])
                if r and r.get("core"):
                    cores.add(r["core"])
            words, shown = args.split()[1:], []
            for i, w in enumerate(words):
                if w in ("--shape", "--attr", "--input"):
                    continue
                shown.append(w + " at run time" if i and words[i - 1] == "--input" else w)
            shape = " ".join(shown)
            if not first:
                rows.append("| %s | `%s` | failed | | | | | | |" % (name, shape))
                continue
            # each reference column comes from its own run; kiln's columns
            # from the OpenBLAS run where there is one: a naive call of
            # hundreds of ms between kiln's calls leaves kiln cold caches
            rate = "%s %s" % (first.get("rate", "?"), first.get("unit", ""))
            share = "%s%%" % first["share"] if first.get("share") else "—"

            def side(r):
                if r is None:
                    return "—", "—"
                if "fail" in r:
                    return "failed", ""
                return fmt_ms(r["ref_ms"]), "%.2f" % r["ratio"]

            nms, nratio = side(nv)
            bms, bratio = side(bl)
            err = nv["abs"] if nv and "fail" not in nv else (bl["abs"] if bl and "fail" not in bl else "—")
            rows.append("| %s | `%s` | %s | %s | %s | %s | %s | %s | %s |" % (
                name, shape, fmt_ms(first["kiln_ms"]), rate, share, nms, nratio, bms, bratio))
            print(rows[-1], file=sys.stderr)
    head = [
        "Generated by `python3 tests/compare/table.py` on %s (%d thread%s; OpenBLAS core %s%s; measured "
        "FMA peak %s GFLOP/s per run; load average %.1f at the start, %.1f at the end, on %d CPUs). The "
        "machine is shared and noisy: read ratios, not absolute times, and expect rows to move by tens of "
        "percent from one run to the next." % (
            time.strftime("%Y-%m-%d"), a.threads, "s" if a.threads > 1 else "",
            ", ".join(sorted(cores)) or "—",
            " forced by OPENBLAS_CORETYPE" if core else "",
            peak_range(peaks), load0, os.getloadavg()[0], os.cpu_count()),
        "",
        "kiln ms: median of kiln's time in the OpenBLAS run, or in the naive run for the operators OpenBLAS "
        "does not cover (a slow naive call between kiln's calls leaves kiln's data out of cache, so kiln's time "
        "in a naive run is often longer); "
        "× naive, × OpenBLAS: the reference's median time over kiln's, each from its own interleaved run "
        "(above 1, kiln is faster); —: not run (naive where one call takes tens of seconds; OpenBLAS for "
        "Softmax and LayerNorm).",
        "",
        "| operator | shapes and attributes | kiln ms | kiln rate | of peak | naive ms | × naive | OpenBLAS ms "
        "| × OpenBLAS |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    table = "\n".join(head + rows) + "\n"
    with open(a.doc) as f:
        doc = f.read()
    b, e = doc.find("<!-- table begin -->"), doc.find("<!-- table end -->")
    if b < 0 or e < b:
        sys.exit("table.py: %s has no <!-- table begin --> ... <!-- table end --> markers" % a.doc)
    doc = doc[:b] + "<!-- table begin -->\n" + table + doc[e:]
    with open(a.doc, "w") as f:
        f.write(doc)
    print("wrote %s" % a.doc, file=sys.stderr)


if __name__ == "__main__":
    main()
