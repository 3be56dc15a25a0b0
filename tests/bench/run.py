#!/usr/bin/env python3
"""tests/bench/run.py: kiln against ONNX Runtime and OpenBLAS (issue 13).

    python3 tests/bench/run.py [--kiln build/kiln] [--models a,b,...] [--threads 1,2]
                               [--llvm-threads 1] [--iters N] [--budget S] [--quick]
                               [--kiln-args "-O3"] [--doc PATH]

Not part of tests/run.sh: tests assert behaviour, speed is measured here.
Needs the pyenv python3 with onnx, numpy, onnxruntime and matplotlib (pip),
Debian's python3-torch (the suite is made by models/bench/make_bench_models.py
under /usr/bin/python3), cc and libopenblas-dev.

For every model of the suite (models/bench/make_bench_models.py) and every
thread count it
  1. compiles the model (`kiln compile M -o DIR --threads N`, wall clock,
     the C build included) and reads the arena size from kiln's message;
  2. runs kiln's executable and ONNX Runtime (CPU provider, ORT_ENABLE_ALL,
     intra_op_num_threads N, inter_op 1, sequential) on the same seeded
     inputs and checks that they agree (|kiln - ort| <= atol + rtol |ort|,
     rtol 1e-3, atol 1e-4), reporting the worst absolute and relative error;
  3. times both interleaved: R rounds of (kiln executable --bench k, then k
     ONNX Runtime runs), a warm-up before each batch, and reports for each
     side the median of the batch medians (at least --iters timed runs per
     side; more, up to a time budget per model, when runs are fast); for
     the thread counts of --llvm-threads (default 1) the model is also
     compiled with `--target llvm`, checked against ONNX Runtime the same
     way, and its executable is a third side of the same rounds (C kiln,
     LLVM kiln, ONNX Runtime), so that kiln-llvm/ORT and llvm/C come from
     the same interleaved timings;
  4. computes the model's peak live set from the ONNX graph (below) and
     sets kiln's arena against it.
The pseudo-models "gemm" and "conv" are the micro-benchmark: kiln-compiled
single-MatMul models (n = 64 .. 2048, B a constant initializer, and A@B
with both as inputs) and single-Conv models of ResNet-18's distinct
convolution shapes, timed interleaved against OpenBLAS (tests/bench/
blasbench.c: cblas_sgemm, im2col + cblas_sgemm) and set against the FMA
peak measured on the machine.

All generated files go under out/bench/ (git-ignored): models/, builds
build/, micro-benchmark models micro/, results.json, and the report of a
partial run. A full run (every model, threads 1 and 2, not --quick)
rewrites docs/performance.md and docs/performance.png; other runs write
out/bench/performance.md unless --doc says where.
"""
import argparse
import datetime
import json
import math
import os
import platform
import re
import resource
import shlex
import shutil
import subprocess
import sys
import time

import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference, TensorProto

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "out", "bench")
MODEL_SCRIPT = os.path.join(ROOT, "models", "bench", "make_bench_models.py")
BLAS_SRC = os.path.join(ROOT, "tests", "bench", "blasbench.c")

SUITE = ["resnet8", "dscnn", "mobilenetv1", "autoencoder", "resnet18", "mobilenetv2", "squeezenet",
         "bert", "gpt", "lstm", "unet"]
MLPERF_TINY = {"resnet8", "dscnn", "mobilenetv1", "autoencoder"}
MICRO = ["gemm", "conv"]
GEMM_SIZES = [64, 128, 256, 512, 1024, 2048]
GEMM_TARGET_SIZES = {512, 1024, 2048}
DESCRIPTION = {
    "resnet8": "MLPerf Tiny IC: ResNet-8, CIFAR 1x3x32x32",
    "dscnn": "MLPerf Tiny KWS: DS-CNN small, 1x1x49x10",
    "mobilenetv1": "MLPerf Tiny VWW: MobileNetV1 0.25, 1x3x96x96",
    "autoencoder": "MLPerf Tiny AD: dense autoencoder, 1x640",
    "resnet18": "ResNet-18, 1x3x224x224",
    "mobilenetv2": "MobileNetV2 1.0, 1x3x224x224",
    "squeezenet": "SqueezeNet 1.1, 1x3x224x224",
    "bert": "BERT encoder: 4 layers, hidden 256, seq 128, mask",
    "gpt": "GPT decoder: 4 layers, hidden 256, seq 64, causal",
    "lstm": "LSTM: 2 layers, hidden 256, seq 64",
    "unet": "U-Net: 16/32/64/128, 1x3x128x128",
}
RTOL, ATOL = 1e-3, 1e-4
MACHINE_MD_PEAK = {1: 99.0, 2: 196.0}  # ../shared/MACHINE.md, AVX2 FMA on the reference AMD Zen


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ------------------------------------------------------------ helpers

def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else 0.5 * (xs[n // 2 - 1] + xs[n // 2])


def run(cmd, timeout=None, env=None, cwd=None):
    """Run cmd, returning (rc, stdout, stderr, seconds)."""
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout,
                           env=env, cwd=cwd)
        return p.returncode, p.stdout, p.stderr, time.perf_counter() - t0
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        return 124, out, "timed out after %.0f s" % timeout, time.perf_counter() - t0


def first_line(text, limit=200):
    lines = [l for l in (text or "").strip().splitlines() if l.strip()]
    s = lines[-1] if lines else ""
    return s if len(s) <= limit else s[:limit] + "..."


def parse_bench(text):
    """The last 'median_ms=... p10_ms=...' line of a kiln executable or blasbench."""
    for line in reversed((text or "").splitlines()):
        if line.startswith("median_ms="):
            return {k: float(v) for k, v in re.findall(r"(\w+)=([0-9.eE+-]+)", line)}
    return None


def write_pb(path, arr, name):
    with open(path, "wb") as f:
        f.write(numpy_helper.from_array(arr, name).SerializeToString())


def read_pb(path):
    t = TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return numpy_helper.to_array(t)


def compare(got, want):
    """(ok, max_abs, max_rel) over all outputs."""
    ok, max_abs, max_rel = True, 0.0, 0.0
    for g, w in zip(got, want):
        if g.shape != w.shape:
            return False, float("inf"), float("inf")
        if not np.issubdtype(w.dtype, np.floating):
            if not np.array_equal(g, w):
                ok, max_abs, max_rel = False, max(max_abs, float("inf")), max(max_rel, float("inf"))
            continue
        g64, w64 = g.astype(np.float64), w.astype(np.float64)
        if not np.all(np.isfinite(g64) == np.isfinite(w64)):
            ok = False
        fin = np.isfinite(g64) & np.isfinite(w64)
        d = np.abs(g64[fin] - w64[fin])
        if d.size:
            max_abs = max(max_abs, float(d.max()))
            max_rel = max(max_rel, float((d / (np.abs(w64[fin]) + ATOL)).max()))
            if np.any(d > ATOL + RTOL * np.abs(w64[fin])):
                ok = False
    return ok, max_abs, max_rel


def git(*args):
    rc, out, _, _ = run(["git", "-C", ROOT] + list(args))
    return out.strip() if rc == 0 else ""


def cpu_info():
    model, flags = platform.processor() or "?", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and model in ("?", "", "x86_64"):
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and not flags:
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal"):
                    mem = "%.0f GiB" % (int(line.split()[1]) / 1048576)
    except OSError:
        pass
    return model, flags, mem


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


# ------------------------------------------------------------ ONNX Runtime

class Ort:
    """One ONNX Runtime session, inputs and outputs bound once (IOBinding),
    so that a timed run is sess.run_with_iobinding and nothing else."""

    def __init__(self, path, threads, feeds):
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        self.outputs = [o.name for o in self.sess.get_outputs()]
        self.feeds = feeds
        self.binding = self.sess.io_binding()
        self.keep = []  # the bound OrtValues and the arrays under them
        for name, arr in feeds.items():
            arr = np.ascontiguousarray(arr)
            v = ort.OrtValue.ortvalue_from_numpy(arr)
            self.keep += [arr, v]
            self.binding.bind_ortvalue_input(name, v)
        self.ref = self.sess.run(None, feeds)
        for name, arr in zip(self.outputs, self.ref):
            buf = np.empty_like(arr)
            v = ort.OrtValue.ortvalue_from_numpy(buf)
            self.keep += [buf, v]
            self.binding.bind_ortvalue_output(name, v)

    def time_runs(self, k):
        ms = []
        self.sess.run_with_iobinding(self.binding)  # warm-up of the batch, as kiln's executable does
        for _ in range(k):
            t0 = time.perf_counter()
            self.sess.run_with_iobinding(self.binding)
            ms.append((time.perf_counter() - t0) * 1e3)
        return ms


# ------------------------------------------------------------ peak live set

VIEW_OPS = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout"}
DTYPE_BYTES = {TensorProto.FLOAT: 4, TensorProto.DOUBLE: 8, TensorProto.FLOAT16: 2, TensorProto.BFLOAT16: 2,
               TensorProto.INT8: 1, TensorProto.UINT8: 1, TensorProto.BOOL: 1, TensorProto.INT16: 2,
               TensorProto.UINT16: 2, TensorProto.INT32: 4, TensorProto.UINT32: 4, TensorProto.INT64: 8,
               TensorProto.UINT64: 8}


def peak_live_bytes(path):
    """The largest total size of intermediate tensors live at once, walking
    the graph in its (topological) node order: a tensor is live from the
    node that produces it to its last consumer, both included. Graph inputs,
    initializers, Constant outputs and what is computed from constants only
    (Shape of a static shape included) are not intermediates; nor are the
    graph outputs, which the caller's buffers hold. The outputs of Reshape,
    Flatten, Squeeze, Unsqueeze, Identity and Dropout share the storage of
    their input (the input lives as long as either is read). Returns
    (bytes, number of tensors of unknown size)."""
    m = onnx.load(path)
    try:
        m = shape_inference.infer_shapes(m, data_prop=True)
    except Exception:  # noqa: BLE001 - a failed inference leaves sizes unknown
        pass
    g = m.graph
    sizes = {}
    for vi in list(g.value_info) + list(g.output) + list(g.input):
        tt = vi.type.tensor_type
        if not tt.HasField("shape"):
            continue
        dims = [d.dim_value if d.HasField("dim_value") else -1 for d in tt.shape.dim]
        if any(d < 0 for d in dims):
            continue
        sizes[vi.name] = int(np.prod(dims, dtype=np.int64)) * DTYPE_BYTES.get(tt.elem_type, 4)
    static = {vi.name for vi in list(g.value_info) + list(g.input) if vi.name in sizes}
    const = {i.name for i in g.initializer}
    graph_inputs = {i.name for i in g.input}
    outputs = {o.name for o in g.output}
    nodes = list(g.node)
    # constant-foldable values
    for n in nodes:
        ins = [i for i in n.input if i]
        if n.op_type == "Constant" or (n.op_type == "Shape" and ins and ins[0] in static) or \
                (ins and all(i in const for i in ins) and n.op_type not in ("RandomNormal", "RandomUniform")):
            const.update(o for o in n.output if o)
    # storage: views point at their source's storage
    root = {}

    def storage(name):
        while name in root:
            name = root[name]
        return name

    for n in nodes:
        if n.op_type in VIEW_OPS and n.input and n.input[0] and n.output[0] not in const:
            root[n.output[0]] = n.input[0]
    first, last = {}, {}
    unknown = set()
    for i, n in enumerate(nodes):
        for o in n.output:
            if not o or o in const or o in graph_inputs:
                continue
            s = storage(o)
            if s in const or s in graph_inputs or s in outputs or o in outputs:
                continue
            first.setdefault(s, i)
            last[s] = max(last.get(s, i), i)
        for x in n.input:
            if not x:
                continue
            s = storage(x)
            if s in first:
                last[s] = max(last[s], i)
    peak = 0
    for i in range(len(nodes)):
        live = 0
        for s, f in first.items():
            if f <= i <= last[s]:
                if s in sizes:
                    live += sizes[s]
                else:
                    unknown.add(s)
        peak = max(peak, live)
    return peak, len(unknown)


# ------------------------------------------------------------ the harness

class Bench:
    def __init__(self, args):
        self.args = args
        self.kiln = os.path.abspath(args.kiln)
        self.kiln_args = shlex.split(args.kiln_args)
        self.results = {"models": [], "gemm": [], "conv": [], "problems": []}
        self.blas = None
        self.blas_env = None

    # ---------------- kiln
    def compile(self, model, outdir, threads, extra=()):
        if os.path.isdir(outdir):
            shutil.rmtree(outdir)
        cmd = [self.kiln, "compile", model, "-o", outdir, "--threads", str(threads)] + self.kiln_args + list(extra)
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        rc, out, err, secs = run(cmd, timeout=self.args.compile_timeout)
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
        res = {"cmd": " ".join(shlex.quote(c) for c in cmd), "compile_s": secs, "compile_cpu_s": cpu, "ok": rc == 0}
        msg = (out + err).strip()
        m = re.search(r"arena (\d+) bytes", msg)
        res["arena"] = int(m.group(1)) if m else None
        m = re.search(r"weights (\d+) bytes", msg)
        res["weights"] = int(m.group(1)) if m else None
        m = re.search(r"\((\d+) kernels", msg)
        res["kernels"] = int(m.group(1)) if m else None
        if rc != 0:
            res["error"] = "kiln compile exit %d: %s" % (rc, first_line(msg))
        return res

    def kiln_once(self, exe, in_files, outdir, nout):
        """One run writing outputs: (outputs, ms of that run) or raises."""
        os.makedirs(outdir, exist_ok=True)
        for f in os.listdir(outdir):
            os.unlink(os.path.join(outdir, f))
        cmd = [exe] + sum([["--in", f] for f in in_files], []) + ["--out", outdir]
        rc, out, err, secs = run(cmd, timeout=self.args.run_timeout)
        if rc != 0:
            raise RuntimeError("executable exit %d: %s" % (rc, first_line(err or out)))
        m = re.search(r"ran in ([0-9.]+) ms", out)
        outs = [read_pb(os.path.join(outdir, "output_%d.pb" % i)) for i in range(nout)]
        return outs, float(m.group(1)) if m else secs * 1e3

    def kiln_batch(self, exe, in_files, k, est_ms):
        cmd = [exe] + sum([["--in", f] for f in in_files], []) + ["--bench", str(k), "--quiet"]
        rc, out, err, _ = run(cmd, timeout=max(60.0, (k + 3) * est_ms / 1e3 * 5 + 30))
        b = parse_bench(out)
        if rc != 0 or not b:
            raise RuntimeError("executable --bench exit %d: %s" % (rc, first_line(err or out)))
        return b["median_ms"]

    def schedule(self, est_ms, least):
        """(rounds, runs per batch) for a case whose kiln + reference run
        takes est_ms: at least `least` timed runs per side, more up to
        --budget seconds, in 2..10 rounds of at least 5 runs (each kiln
        batch is a process whose first three runs are not timed); one round
        when fewer than 10 runs are asked for (the micro-benchmark)."""
        a = self.args
        n = int(a.budget * 1e3 / max(est_ms, 1e-3))
        n = max(least, min(n, 100 * least))
        rounds = max(1 if n < 10 else 2, min(10, n // 5))
        return rounds, int(math.ceil(n / rounds))

    def interleave(self, est_ms, least, kiln_batch, ref_batch, *more):
        """Rounds of one batch of each side in turn: kiln_batch, the batches
        of `more` (other kiln builds), ref_batch. The medians of the batch
        medians: kiln_ms, ref_ms and more_ms (a list, one per extra side)."""
        rounds, k = self.schedule(est_ms, least)
        sides = [kiln_batch] + list(more) + [ref_batch]
        ms = [[] for _ in sides]
        for _ in range(rounds):
            for i, batch in enumerate(sides):
                ms[i].append(batch(k))
                time.sleep(0.05)  # let the other side's threads go idle
        return {"kiln_ms": median(ms[0]), "ref_ms": median(ms[-1]), "rounds": rounds, "per_round": k,
                "kiln_rounds": ms[0], "ref_rounds": ms[-1], "more_ms": [median(m) for m in ms[1:-1]],
                "more_rounds": ms[1:-1]}

    # ---------------- models
    def ensure_models(self, names):
        models_dir = os.path.join(OUT, "models")
        stamp = os.path.getmtime(MODEL_SCRIPT)
        missing = [n for n in names
                   if not os.path.exists(os.path.join(models_dir, n, "model.onnx"))
                   or os.path.getmtime(os.path.join(models_dir, n, "model.onnx")) < stamp]
        if missing:
            log("making models: %s" % " ".join(missing))
            py = self.args.torch_python
            rc, out, err, _ = run([py, MODEL_SCRIPT, "--out", models_dir] + missing)
            sys.stderr.write(out)
            if rc != 0:
                raise SystemExit("models/bench/make_bench_models.py failed:\n" + err)
        return models_dir

    def bench_model(self, name, models_dir):
        path = os.path.join(models_dir, name, "model.onnx")
        data = os.path.join(models_dir, name, "test_data_set_0")
        m = onnx.load(path, load_external_data=False)
        init = {i.name for i in m.graph.initializer}
        in_names = [i.name for i in m.graph.input if i.name not in init]
        in_files = [os.path.join(data, "input_%d.pb" % i) for i in range(len(in_names))]
        feeds = {n: read_pb(f) for n, f in zip(in_names, in_files)}
        torch_ref = []
        i = 0
        while os.path.exists(os.path.join(data, "output_%d.pb" % i)):
            torch_ref.append(read_pb(os.path.join(data, "output_%d.pb" % i)))
            i += 1
        peak, unknown = peak_live_bytes(path)
        flops = None
        row = {"model": name, "description": DESCRIPTION.get(name, name), "peak_live": peak,
               "peak_unknown": unknown, "params_bytes": os.path.getsize(path), "threads": {}}
        for t in self.args.threads:
            log("== %s, %d thread%s" % (name, t, "" if t == 1 else "s"))
            r = {}
            row["threads"][t] = r
            build = os.path.join(OUT, "build", "%s-t%d" % (name, t))
            c = self.compile(path, build, t)
            r.update(c)
            log("   compile %.2f s (CPU %.2f s), arena %s, %s" % (c["compile_s"], c["compile_cpu_s"], c["arena"],
                                                             "ok" if c["ok"] else c["error"]))
            if not c["ok"]:
                self.problem(name, t, c["error"], c["cmd"])
                continue
            try:
                ort_s = Ort(path, t, feeds)
            except Exception as e:  # noqa: BLE001
                r["error"] = "onnxruntime: %s" % first_line(str(e))
                self.problem(name, t, r["error"], "")
                continue
            ok_t, abs_t, rel_t = compare(ort_s.ref, torch_ref) if torch_ref else (True, 0, 0)
            r["ort_vs_torch"] = {"ok": ok_t, "max_abs": abs_t, "max_rel": rel_t}
            exe = os.path.join(build, "model")
            try:
                outs, first_ms = self.kiln_once(exe, in_files, os.path.join(build, "outputs"), len(ort_s.outputs))
            except Exception as e:  # noqa: BLE001
                r["error"] = str(e)
                self.problem(name, t, r["error"], "%s %s --out DIR" % (
                    exe, " ".join("--in " + f for f in in_files)))
                continue
            ok, mabs, mrel = compare(outs, ort_s.ref)
            r.update({"agree": ok, "max_abs": mabs, "max_rel": mrel})
            if not ok:
                self.problem(name, t, "kiln and ONNX Runtime disagree: max abs %.3g, max rel %.3g" % (mabs, mrel),
                             "%s; compare %s/outputs/output_N.pb with ONNX Runtime on %s" % (
                                 c["cmd"], build, data))
            ort_ms = min(ort_s.time_runs(2)[1:] or [1.0])
            est = first_ms + ort_ms
            log("   first kiln run %.2f ms, ORT %.3f ms, %s (max abs %.3g, max rel %.3g)" % (
                first_ms, ort_ms, "agree" if ok else "DISAGREE", mabs, mrel))
            more = []
            if t in self.args.llvm_threads:
                lv = self.llvm_build(name, path, t, in_files, ort_s, data)
                r["llvm"] = lv
                if lv.get("exe"):
                    lexe, lfirst = lv["exe"], lv["first_ms"]
                    more.append(lambda k: self.kiln_batch(lexe, in_files, k, lfirst))
                    est += lfirst
            try:
                tm = self.interleave(est, self.args.iters, lambda k: self.kiln_batch(exe, in_files, k, first_ms),
                                     lambda k: median(ort_s.time_runs(k)), *more)
            except Exception as e:  # noqa: BLE001
                r["error"] = str(e)
                self.problem(name, t, r["error"], "")
                continue
            if more:
                lv = r["llvm"]
                lv.update({"kiln_ms": tm["more_ms"][0], "kiln_rounds": tm["more_rounds"][0],
                           "ratio": tm["more_ms"][0] / tm["ref_ms"], "vs_c": tm["more_ms"][0] / tm["kiln_ms"]})
            del tm["more_ms"], tm["more_rounds"]
            r.update(tm)
            r["ratio"] = tm["kiln_ms"] / tm["ref_ms"]
            log("   kiln %.3f ms, ORT %.3f ms, ratio %.2f (%d x %d runs)" % (
                tm["kiln_ms"], tm["ref_ms"], r["ratio"], tm["rounds"], tm["per_round"]))
            if more:
                log("   kiln --target llvm %.3f ms, ratio %.2f, llvm/C %.2f" % (
                    r["llvm"]["kiln_ms"], r["llvm"]["ratio"], r["llvm"]["vs_c"]))
        self.results["models"].append(row)
        self.save()

    def llvm_build(self, name, path, t, in_files, ort_s, data):
        """The model built with --target llvm, run once and compared with
        ONNX Runtime: a dict with its compile figures, agreement, and exe
        and first_ms when it can be timed."""
        build = os.path.join(OUT, "build", "%s-t%d-llvm" % (name, t))
        c = self.compile(path, build, t, ["--target", "llvm"])
        lv = {k: c[k] for k in ("cmd", "compile_s", "compile_cpu_s", "ok")}
        log("   --target llvm: compile %.2f s (CPU %.2f s), %s" % (c["compile_s"], c["compile_cpu_s"],
                                                                "ok" if c["ok"] else c["error"]))
        if not c["ok"]:
            lv["error"] = c["error"]
            self.problem(name + " --target llvm", t, c["error"], c["cmd"])
            return lv
        exe = os.path.join(build, "model")
        try:
            outs, first_ms = self.kiln_once(exe, in_files, os.path.join(build, "outputs"), len(ort_s.outputs))
        except Exception as e:  # noqa: BLE001
            lv["error"] = str(e)
            self.problem(name + " --target llvm", t, lv["error"], c["cmd"])
            return lv
        ok, mabs, mrel = compare(outs, ort_s.ref)
        lv.update({"agree": ok, "max_abs": mabs, "max_rel": mrel, "exe": exe, "first_ms": first_ms})
        if not ok:
            self.problem(name + " --target llvm", t, "kiln and ONNX Runtime disagree: max abs %.3g, max rel %.3g" % (
                mabs, mrel), "%s; compare %s/outputs/output_N.pb with ONNX Runtime on %s" % (c["cmd"], build, data))
        return lv

    def problem(self, name, threads, what, repro):
        self.results["problems"].append({"case": name, "threads": threads, "what": what, "repro": repro})

    # ---------------- micro-benchmark
    def build_blas(self):
        if self.blas:
            return
        exe = os.path.join(OUT, "blasbench")
        cmd = ["cc", "-O3", "-march=native", "-std=c99", BLAS_SRC, "-o", exe, "-lopenblas", "-lpthread", "-lm"]
        rc, out, err, _ = run(cmd)
        if rc != 0:
            raise SystemExit("cannot build %s (apt-get install libopenblas-dev):\n%s" % (BLAS_SRC, err))
        self.blas = exe
        env = dict(os.environ)
        _, flags, _ = cpu_info()
        # OpenBLAS 0.3.21's DYNAMIC_ARCH does not know recent CPUs and falls
        # back to its Prescott (SSE3) kernels: name the right ones.
        if "OPENBLAS_CORETYPE" not in env:
            if {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= flags:
                env["OPENBLAS_CORETYPE"] = "SkylakeX"
            elif {"avx2", "fma"} <= flags:
                env["OPENBLAS_CORETYPE"] = "Haswell"
        self.blas_env = env
        info = {}
        rc0, out0, _, _ = run([exe, "info"], env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))
        rc, out, _, _ = run([exe, "info"], env=dict(env, OPENBLAS_NUM_THREADS="1"))
        for line in out.splitlines():
            k, _, v = line.partition("=")
            info[k] = v
        info["detected_core"] = dict(l.partition("=")[::2] for l in out0.splitlines()).get("core", "?")
        info["coretype_env"] = env.get("OPENBLAS_CORETYPE", "")
        peaks = {}
        for t in self.args.threads:
            rc, out, _, _ = run([exe, "peak", str(t)])
            p = dict(l.split("=") for l in out.split() if "=" in l)
            peaks[t] = {"avx2": float(p.get("avx2_fma_gflops", 0)), "avx512": float(p.get("avx512_fma_gflops", 0))}
        info["peaks"] = peaks
        self.results["blas"] = info
        log("OpenBLAS: %s, core %s (detected %s); FMA peak %s" % (
            info.get("config", "?"), info.get("core"), info["detected_core"], peaks))

    def peak(self, t):
        p = self.results["blas"]["peaks"][t]
        return max(p["avx2"], p["avx512"]) or MACHINE_MD_PEAK.get(t, 99.0 * t)

    def micro_case(self, kind, label, model_path, in_arrays, flops, blas_args, threads):
        """kiln's single-op model against blasbench, interleaved."""
        case_dir = os.path.dirname(model_path)
        in_files = []
        for i, (n, a) in enumerate(in_arrays):
            f = os.path.join(case_dir, "input_%d.pb" % i)
            if not os.path.exists(f):
                write_pb(f, a, n)
            in_files.append(f)
        r = {"label": label, "threads": threads, "flops": flops}
        build = os.path.join(OUT, "build", "micro", "%s-t%d" % (os.path.basename(case_dir), threads))
        c = self.compile(model_path, build, threads)
        r.update({"compile_s": c["compile_s"], "ok": c["ok"]})
        if not c["ok"]:
            r["error"] = c["error"]
            self.problem("%s %s" % (kind, label), threads, c["error"], c["cmd"])
            return r
        exe = os.path.join(build, "model")
        feeds = {n: a for n, a in in_arrays}
        try:
            ort_s = Ort(model_path, threads, feeds)
            outs, first_ms = self.kiln_once(exe, in_files, os.path.join(build, "outputs"), 1)
        except Exception as e:  # noqa: BLE001
            r["error"] = str(e)
            self.problem("%s %s" % (kind, label), threads, r["error"], c["cmd"])
            return r
        # a reduction of length K: allow the rounding error such a sum has
        red = blas_args[-1]
        g, w = outs[0].astype(np.float64), ort_s.ref[0].astype(np.float64)
        d = np.abs(g - w)
        tol = 1e-5 * red + RTOL * np.abs(w)
        r.update({"agree": bool(np.all(d <= tol)), "max_abs": float(d.max()),
                  "max_rel": float((d / (np.abs(w) + 1e-5 * red)).max())})
        if not r["agree"]:
            self.problem("%s %s" % (kind, label), threads, "kiln and ONNX Runtime disagree: max abs %.3g" %
                         r["max_abs"], c["cmd"])
        env = dict(self.blas_env, OPENBLAS_NUM_THREADS=str(threads))
        blas_cmd = [self.blas] + [str(x) for x in blas_args[:-1]]

        def blas_batch(k):
            rc, out, err, _ = run(blas_cmd + [str(k)], env=env, timeout=600)
            b = parse_bench(out)
            if rc != 0 or not b:
                raise RuntimeError("blasbench: %s" % first_line(err or out))
            return b["median_ms"]

        if first_ms > self.args.micro_cap * 1e3:
            # too slow to repeat: that one run is the figure, OpenBLAS gets its usual batches
            r.update({"kiln_ms": first_ms, "ref_ms": median([blas_batch(5) for _ in range(2)]),
                      "rounds": 1, "per_round": 1, "single_run": True})
        else:
            b0 = blas_batch(1)
            try:
                r.update(self.interleave(first_ms + b0, self.args.micro_iters,
                                         lambda k: self.kiln_batch(exe, in_files, k, first_ms), blas_batch))
            except Exception as e:  # noqa: BLE001
                r["error"] = str(e)
                self.problem("%s %s" % (kind, label), threads, r["error"], c["cmd"])
                return r
        r["kiln_gflops"] = flops / (r["kiln_ms"] * 1e6)
        r["blas_gflops"] = flops / (r["ref_ms"] * 1e6)
        r["ratio_blas"] = r["blas_gflops"] and r["kiln_gflops"] / r["blas_gflops"]
        r["peak"] = self.peak(threads)
        log("   %-28s t%d kiln %9.3f ms %7.2f GFLOP/s | OpenBLAS %8.3f ms %7.2f GFLOP/s | kiln/OpenBLAS %.2f%s" % (
            label, threads, r["kiln_ms"], r["kiln_gflops"], r["ref_ms"], r["blas_gflops"], r["ratio_blas"],
            " (1 run)" if r.get("single_run") else ""))
        return r

    def bench_gemm(self):
        self.build_blas()
        sizes = [n for n in GEMM_SIZES if n <= (512 if self.args.quick else 4096)]
        for t in self.args.threads:
            log("== gemm, %d thread%s" % (t, "" if t == 1 else "s"))
            for n in sizes:
                for variant in ("const", "input"):
                    d = os.path.join(OUT, "micro", "matmul%d-%s" % (n, variant))
                    os.makedirs(d, exist_ok=True)
                    path = os.path.join(d, "model.onnx")
                    rng = np.random.RandomState(n)
                    A = rng.uniform(-1, 1, (n, n)).astype(np.float32)
                    B = rng.uniform(-1, 1, (n, n)).astype(np.float32)
                    ins = [("A", A)] if variant == "const" else [("A", A), ("B", B)]
                    if not os.path.exists(path):
                        inputs = [helper.make_tensor_value_info("A", TensorProto.FLOAT, [n, n])]
                        inits = [numpy_helper.from_array(B, "B")]
                        if variant == "input":
                            inputs.append(helper.make_tensor_value_info("B", TensorProto.FLOAT, [n, n]))
                            inits = []
                        g = helper.make_graph([helper.make_node("MatMul", ["A", "B"], ["Y"])], "matmul", inputs,
                                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [n, n])], inits)
                        onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), path)
                    label = "%d^3, B %s" % (n, "constant" if variant == "const" else "input")
                    r = self.micro_case("gemm", label, path, ins, 2.0 * n ** 3, ["gemm", n, n], t)
                    r.update({"n": n, "variant": variant})
                    self.results["gemm"].append(r)
                    self.save()

    def conv_shapes(self, models_dir):
        """ResNet-18's distinct convolutions: (cin, cout, h, w, kh, kw, sh, sw, ph, pw)."""
        m = shape_inference.infer_shapes(onnx.load(os.path.join(models_dir, "resnet18", "model.onnx")))
        shapes = {vi.name: [d.dim_value for d in vi.type.tensor_type.shape.dim]
                  for vi in list(m.graph.value_info) + list(m.graph.input)}
        inits = {i.name: list(i.dims) for i in m.graph.initializer}
        seen = []
        for n in m.graph.node:
            if n.op_type != "Conv":
                continue
            a = {x.name: helper.get_attribute_value(x) for x in n.attribute}
            _, cin, h, w = shapes[n.input[0]]
            cout, _, kh, kw = inits[n.input[1]]
            sh, sw = a.get("strides", [1, 1])
            pads = a.get("pads", [0, 0, 0, 0])
            if a.get("group", 1) != 1 or pads[0] != pads[2] or pads[1] != pads[3]:
                continue
            key = (cin, cout, h, w, kh, kw, sh, sw, pads[0], pads[1])
            if key not in seen:
                seen.append(key)
        return seen

    def bench_conv(self, models_dir):
        self.build_blas()
        shapes = self.conv_shapes(models_dir)
        if self.args.quick:
            shapes = shapes[:3]
        for t in self.args.threads:
            log("== conv, %d thread%s" % (t, "" if t == 1 else "s"))
            for cin, cout, h, w, kh, kw, sh, sw, ph, pw in shapes:
                oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
                name = "conv%dx%d-s%d-%dto%d-%dx%d" % (kh, kw, sh, cin, cout, h, w)
                d = os.path.join(OUT, "micro", name)
                os.makedirs(d, exist_ok=True)
                path = os.path.join(d, "model.onnx")
                rng = np.random.RandomState(cin * 7 + cout + h)
                X = rng.uniform(-1, 1, (1, cin, h, w)).astype(np.float32)
                if not os.path.exists(path):
                    W = (rng.standard_normal((cout, cin, kh, kw)) * math.sqrt(2.0 / (cin * kh * kw))).astype(np.float32)
                    Bv = rng.uniform(-0.1, 0.1, cout).astype(np.float32)
                    node = helper.make_node("Conv", ["X", "W", "B"], ["Y"], kernel_shape=[kh, kw], strides=[sh, sw],
                                            pads=[ph, pw, ph, pw])
                    g = helper.make_graph([node], "conv",
                                          [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, cin, h, w])],
                                          [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, cout, oh, ow])],
                                          [numpy_helper.from_array(W, "W"), numpy_helper.from_array(Bv, "B")])
                    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), path)
                label = "%dx%d/%d %d->%d @%dx%d" % (kh, kw, sh, cin, cout, h, w)
                flops = 2.0 * cout * oh * ow * cin * kh * kw
                r = self.micro_case("conv", label, path, [("X", X)], flops,
                                    ["conv", cin, cout, h, w, kh, kw, sh, sw, ph, pw, cin * kh * kw], t)
                r.update({"shape": [cin, cout, h, w, kh, kw, sh, sw, ph, pw], "out": [oh, ow]})
                self.results["conv"].append(r)
                self.save()

    def save(self):
        with open(os.path.join(OUT, "results.json"), "w") as f:
            json.dump({"meta": None, "results": self.results}, f, indent=1, default=str)


# ------------------------------------------------------------ report

def fmt_ms(x):
    if x is None:
        return "—"
    return "%.3f" % x if x < 10 else "%.1f" % x if x < 1000 else "%.0f" % x


def fmt_bytes(x):
    if x is None:
        return "—"
    if x >= 1 << 20:
        return "%.2f MiB" % (x / 1048576)
    if x >= 1 << 10:
        return "%.1f KiB" % (x / 1024)
    return "%d B" % x


def fmt_compile(r):
    cpu = r.get("compile_cpu_s")
    return "%.2f" % r["compile_s"] + (" (%.2f)" % cpu if cpu is not None else "")


def mark(ok):
    return "✅" if ok else "❌"


def model_target(name, t):
    return 0.7 if (t == 1 and name in MLPERF_TINY) else 1.0


def plot(results, path, threads):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    models = results["models"]
    fig, axes = plt.subplots(1, 2, figsize=(14, 5.2), gridspec_kw={"width_ratios": [3, 2]})
    ax = axes[0]
    width = 0.8 / max(1, len(threads))
    names = [m["model"] for m in models]
    for j, t in enumerate(threads):
        vals = [m["threads"].get(t, {}).get("ratio") or 0 for m in models]
        xs = [i + (j - (len(threads) - 1) / 2) * width for i in range(len(models))]
        bars = ax.bar(xs, [v if v > 0 else float("nan") for v in vals], width, label="%d thread%s" % (
            t, "" if t == 1 else "s"))
        for x, v in zip(xs, vals):
            if v > 0:
                ax.text(x, v * 1.05, ("%.0f" if v >= 10 else "%.2f") % v, ha="center", va="bottom", fontsize=7)
    ax.axhline(1.0, color="k", lw=1, ls="--", label="ONNX Runtime (1.0)")
    ax.axhline(0.7, color="g", lw=1, ls=":", label="MLPerf Tiny target (0.7, 1 thread)")
    ax.set_yscale("log")
    top = max([m["threads"].get(t, {}).get("ratio") or 1.0 for m in models for t in threads] + [1.0])
    ax.set_ylim(0.3, top * 40)  # room for the legend above the bars
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=35, ha="right")
    ax.set_ylabel("latency kiln / ONNX Runtime (lower is better)")
    ax.set_title("kiln vs ONNX Runtime, batch 1, fp32")
    ax.legend(fontsize=8, loc="upper right", ncol=2)
    ax.grid(True, axis="y", which="both", alpha=0.3)
    ax = axes[1]
    gemm = results.get("gemm", [])
    for t in threads:
        for variant, style in (("const", "o-"), ("input", "s--")):
            rows = sorted([r for r in gemm if r["threads"] == t and r["variant"] == variant and r.get("kiln_gflops")],
                          key=lambda r: r["n"])
            if rows:
                ax.plot([r["n"] for r in rows], [r["kiln_gflops"] for r in rows], style,
                        label="kiln, B %s, %dT" % ("constant" if variant == "const" else "input", t))
        rows = sorted([r for r in gemm if r["threads"] == t and r["variant"] == "const" and r.get("blas_gflops")],
                      key=lambda r: r["n"])
        if rows:
            ax.plot([r["n"] for r in rows], [r["blas_gflops"] for r in rows], "^-", label="OpenBLAS, %dT" % t)
            ax.axhline(rows[0]["peak"], lw=0.8, ls=":", color="gray")
            ax.text(rows[0]["n"], rows[0]["peak"] * 1.03, "FMA peak %dT" % t, fontsize=7, color="gray")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("n (square sgemm)")
    ax.set_ylabel("GFLOP/s")
    ax.set_title("sgemm")
    if ax.get_lines():
        ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def report(results, meta, doc_path, png_name):
    threads = meta["threads"]
    L = []
    w = L.append
    w("# Performance")
    w("")
    w("Generated by `tests/bench/run.py` on %s; do not edit by hand. Reproduce with" % meta["date"])
    w("")
    w("```")
    w(meta["command"])
    w("```")
    w("")
    w("(the models are made by `models/bench/make_bench_models.py` under Debian's `/usr/bin/python3`;")
    w("everything generated goes to `out/bench/`, raw figures to `out/bench/results.json`).")
    w("")
    w("## Machine and versions")
    w("")
    w("| | |")
    w("| --- | --- |")
    for k, v in meta["machine"]:
        w("| %s | %s |" % (k, v))
    w("")
    w("The machine is shared: absolute times move with the load, so read the ratios, which come from "
      "kiln and its reference timed in alternation within one run.")
    loads = [float(x) for x in re.findall(r"[0-9.]+", meta.get("load", ""))]
    if loads and max(loads) > (os.cpu_count() or 1):
        w("")
        w("**During this run the load average (%s) exceeded the %d cores**: other processes shared the CPUs, "
          "so every run longer than a scheduler slice (a few ms) was stretched, kiln's and the references' "
          "alike. The ratios of interleaved timings stay comparable; absolute milliseconds, GFLOP/s and shares "
          "of peak are low (OpenBLAS's own GFLOP/s falls from its short runs to its long ones for this reason), "
          "and the wall-clock compile times are high (the CPU time of the compile is given beside them)." % (
              meta["load"], os.cpu_count() or 1))
    w("")

    # ---- targets summary
    models = results["models"]
    w("## Targets of issue 13")
    w("")

    def rows_for(t):
        return [(m, m["threads"].get(t)) for m in models if m["threads"].get(t)]

    lines = []
    if 1 in threads:
        rs = rows_for(1)
        good = [m["model"] for m, r in rs if r.get("ratio") and r.get("agree") and r["ratio"] <= model_target(m["model"], 1)]
        lines.append((len(good) == len(SUITE) and len(rs) == len(SUITE),
                      "every model at <= 1.0x ONNX Runtime on 1 thread, the four MLPerf Tiny models at <= 0.7x: "
                      "%d of %d models meet theirs%s" % (len(good), len(rs), (" (" + ", ".join(good) + ")") if good else "")))
    if 2 in threads:
        rs = rows_for(2)
        good = [m["model"] for m, r in rs if r.get("ratio") and r.get("agree") and r["ratio"] <= 1.0]
        lines.append((len(good) == len(SUITE) and len(rs) == len(SUITE),
                      "every model at <= 1.0x ONNX Runtime on 2 threads: %d of %d" % (len(good), len(rs))))
    g1 = [r for r in results.get("gemm", []) if r["threads"] == 1 and r["n"] in GEMM_TARGET_SIZES and
          r["variant"] == "const"]
    if g1:
        good = [r for r in g1 if r.get("ratio_blas") and r["ratio_blas"] >= 0.85 and r.get("agree")]
        lines.append((len(good) == len(GEMM_TARGET_SIZES),
                      "generated sgemm (B constant) at >= 85%% of OpenBLAS at n = 512, 1024, 2048 on 1 thread: %s" %
                      ", ".join("n=%d %.0f%%" % (r["n"], 100 * (r.get("ratio_blas") or 0))
                                for r in sorted(g1, key=lambda r: r["n"]))))
    rn = next((m for m in models if m["model"] == "resnet18"), None)
    if rn and rn["threads"].get(threads[0], {}).get("compile_s") is not None:
        cs = rn["threads"][threads[0]]["compile_s"]
        cpu = rn["threads"][threads[0]].get("compile_cpu_s")
        lines.append((cs < 3.0 and rn["threads"][threads[0]].get("ok"),
                      "`kiln compile` of ResNet-18, C build included, under 3 s: %.2f s wall%s" % (
                          cs, (" (%.2f s of CPU time)" % cpu) if cpu is not None else "")))
    for t in threads:
        lv = [(m["model"], r["llvm"]) for m, r in rows_for(t) if r.get("llvm")]
        if not lv:
            continue
        timed = [(n, x["vs_c"]) for n, x in lv if x.get("vs_c") is not None and x.get("agree")]
        good = [n for n, v in timed if v <= 1.0]
        worst = max(timed, key=lambda nv: nv[1]) if timed else None
        lines.append((len(good) == len(lv),
                      "`--target llvm` at least as fast as the C target on %d thread%s (llvm/C <= 1.0, same "
                      "rounds): %d of %d models%s" % (t, "" if t == 1 else "s", len(good), len(lv),
                                                      "; slowest %s at %.2f" % worst if worst else "")))
    agree = all(r.get("agree") for m in models for r in m["threads"].values())
    lines.append((agree, "kiln agrees with ONNX Runtime on every model and thread count (rtol %g, atol %g)" %
                  (RTOL, ATOL)))
    lagree = [r["llvm"].get("agree") for m in models for r in m["threads"].values() if r.get("llvm")]
    if lagree:
        lines.append((all(lagree), "kiln `--target llvm` agrees with ONNX Runtime: %d of %d builds" % (
            sum(1 for a in lagree if a), len(lagree))))
    arena_ok = [m["model"] for m in models if m["threads"].get(threads[0], {}).get("arena") is not None and
                m["peak_live"] and m["threads"][threads[0]]["arena"] <= 1.1 * m["peak_live"]]
    lines.append((len(arena_ok) == len(models),
                  "arena within 10%% of the peak live set: %d of %d models" % (len(arena_ok), len(models))))
    for ok, text in lines:
        w("- %s %s" % (mark(ok), text))
    w("")

    # ---- model tables
    for t in threads:
        w("## Models, %d thread%s" % (t, "" if t == 1 else "s"))
        w("")
        has_llvm = any(m["threads"].get(t, {}).get("llvm") for m in models)
        lhead, lrule = (" kiln-llvm ms | llvm/ORT | llvm/C |", " ---: | ---: | ---: |") if has_llvm else ("", "")
        w("| model | kiln ms | ORT ms | kiln/ORT | target |%s agree (max abs / rel err) | arena | peak live | "
          "arena/peak | compile s (CPU) | runs |" % lhead)
        w("| --- | ---: | ---: | ---: | :---: |%s --- | ---: | ---: | ---: | ---: | ---: |" % lrule)
        for m in models:
            r = m["threads"].get(t)
            if r is None:
                continue
            name = "%s<br><sub>%s</sub>" % (m["model"], m["description"])
            if not r.get("ok"):
                w("| %s | compile failed | | | ❌ |%s %s | | %s | | %s | |" % (
                    name, " | | |" if has_llvm else "", r.get("error", "").replace("|", "\\|"),
                    fmt_bytes(m["peak_live"]), fmt_compile(r)))
                continue
            lcells = ""
            if has_llvm:
                lv = r.get("llvm") or {}
                if lv.get("kiln_ms") is not None:
                    lcells = " %s | %.2f | %.2f%s |" % (fmt_ms(lv["kiln_ms"]), lv["ratio"], lv["vs_c"],
                                                       "" if lv.get("agree") else " (**disagrees**)")
                else:
                    lcells = " %s | | |" % ("—" if not lv else (lv.get("error") or "failed").replace("|", "\\|"))
            tgt = model_target(m["model"], t)
            ratio = r.get("ratio")
            agree = r.get("agree")
            agree_s = "—" if agree is None else "%s %.2g / %.2g" % ("yes" if agree else "**NO**", r["max_abs"],
                                                                   r["max_rel"])
            if r.get("error") and ratio is None:
                agree_s += " " + r["error"].replace("|", "\\|")
            met = ratio is not None and agree and ratio <= tgt
            ap = (r["arena"] / m["peak_live"]) if (r.get("arena") is not None and m["peak_live"]) else None
            w("| %s | %s | %s | %s | %s ≤%.1f |%s %s | %s | %s | %s | %s | %s |" % (
                name, fmt_ms(r.get("kiln_ms")), fmt_ms(r.get("ref_ms")),
                "%.2f" % ratio if ratio is not None else "—", mark(met), tgt, lcells, agree_s,
                fmt_bytes(r.get("arena")),
                fmt_bytes(m["peak_live"]) + ("*" if m["peak_unknown"] else ""),
                "%.2f %s" % (ap, "✅" if ap <= 1.1 else "❌") if ap is not None else "—", fmt_compile(r),
                "%d×%d" % (r["rounds"], r["per_round"]) if r.get("rounds") else "—"))
        w("")

    # ---- micro tables
    blas = results.get("blas")
    if results.get("gemm"):
        w("## GEMM (square sgemm, C = A·B)")
        w("")
        w("kiln compiles a one-node MatMul model: *B constant* has B as an initializer (a layer's weights, "
          "packable at compile time), *B input* takes both as inputs. OpenBLAS `cblas_sgemm` (row-major, "
          "same sizes) is the reference; peak is the FMA peak measured on this machine (see the machine table).")
        w("")
        w("| threads | n | B | kiln ms | kiln GFLOP/s | % peak | OpenBLAS ms | OpenBLAS GFLOP/s | % peak | "
          "kiln/OpenBLAS | target ≥0.85 | agree |")
        w("| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | :---: | :---: |")
        for r in results["gemm"]:
            w(micro_row(r, "%d | %d | %s" % (r["threads"], r["n"], "constant" if r["variant"] == "const" else "input"),
                        target=(r["threads"] == 1 and r["n"] in GEMM_TARGET_SIZES)))
        w("")
    if results.get("conv"):
        w("## ResNet-18's convolutions")
        w("")
        w("Each distinct Conv of the ResNet-18 above (with its bias, as after BatchNormalization folding) as a "
          "one-node model; the reference is im2col + OpenBLAS `cblas_sgemm` + bias, all timed. "
          "Shape: kernel/stride, channels in -> out, input H×W.")
        w("")
        w("| threads | conv | kiln ms | kiln GFLOP/s | % peak | OpenBLAS ms | OpenBLAS GFLOP/s | % peak | "
          "kiln/OpenBLAS | | agree |")
        w("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | :---: |")
        for r in results["conv"]:
            w(micro_row(r, "%d | %s" % (r["threads"], r["label"]), target=None))
        w("")
    if results.get("gemm") or results.get("conv"):
        w("Rows marked *1 run* took longer than the cap (%g s) on their first run; that one run is kiln's figure." %
          meta["micro_cap"])
        w("")

    if os.path.exists(os.path.join(os.path.dirname(doc_path), png_name)):
        w("## Plot")
        w("")
        w("![kiln / ONNX Runtime per model, and sgemm GFLOP/s](%s)" % png_name)
        w("")

    probs = results.get("problems", [])
    w("## Problems found")
    w("")
    if not probs:
        w("None: every model compiled, ran and agreed with ONNX Runtime.")
    for p in probs:
        w("- **%s** (%d thread%s): %s%s" % (p["case"], p["threads"], "" if p["threads"] == 1 else "s",
                                            p["what"].replace("\n", " "),
                                            ("<br>reproduce: `%s`" % p["repro"]) if p["repro"] else ""))
    torch_bad = [(m["model"], t, r["ort_vs_torch"]) for m in models for t, r in m["threads"].items()
                 if r.get("ort_vs_torch") and not r["ort_vs_torch"]["ok"]]
    for name, t, d in torch_bad:
        w("- note: ONNX Runtime itself differs from PyTorch's output on %s (%d threads): max abs %.3g, rel %.3g" %
          (name, t, d["max_abs"], d["max_rel"]))
    w("")

    w("## Method")
    w("")
    w("- **Models**: `models/bench/make_bench_models.py`, PyTorch modules written out in `torch.nn` "
      "(no torchvision), seeded random weights, BatchNorms with random statistics, batch 1, fp32, eval mode, "
      "opset 13 (17 for BERT and GPT), static shapes. The inputs are the seeded `test_data_set_0/input_N.pb` "
      "written beside each model; kiln and ONNX Runtime get the same ones.")
    w("- **kiln**: `kiln compile MODEL -o DIR --threads N%s`, timed wall-clock including the C build "
      "(the compile time in the tables; in parentheses the CPU time of kiln and the C compiler). The executable's `--bench k` runs the model once, twice more to warm "
      "up, then k timed runs, and prints their median." % (
          (" " + meta["kiln_args"]) if meta["kiln_args"] else ""))
    if meta.get("llvm_threads"):
        w("- **kiln, LLVM target** (%s thread%s): the same model compiled with `--target llvm` (the kernels built "
          "by LLVM 19 for the host CPU, the rest as the C target's), checked against ONNX Runtime like the C "
          "build, and timed as a third side of the same interleaved rounds (C kiln, LLVM kiln, ONNX Runtime): "
          "`llvm/ORT` is its median over ONNX Runtime's, `llvm/C` over the C build's." % (
              ",".join(str(t) for t in meta["llvm_threads"]), "" if meta["llvm_threads"] == [1] else "s"))
    w("- **ONNX Runtime** %s: CPU provider, `ORT_ENABLE_ALL`, `intra_op_num_threads = N`, "
      "`inter_op_num_threads = 1`, `ORT_SEQUENTIAL`, inputs and outputs bound once (IOBinding) so that a "
      "timed run is `run_with_iobinding` alone; a warm-up run before each batch." % meta["ort"])
    w("- **Agreement**: `|kiln - ORT| <= %g + %g·|ORT|` on every output element; the table gives the worst "
      "absolute error and the worst `|kiln - ORT| / (|ORT| + %g)`. Micro-benchmarks allow `1e-5·K` absolute "
      "for a reduction of length K." % (ATOL, RTOL, ATOL))
    w("- **Timing**: interleaved rounds: a batch of k kiln runs (one process), then k ONNX Runtime runs, "
      "R rounds (2 to 10); each side's figure is the median of its batch medians. At least %d timed runs per "
      "side, more when a model is fast (a budget of %g s per model and thread count). The `runs` column is R×k. "
      "The micro-benchmark does the same against `blasbench` with at least %d runs per side (one round when "
      "that is all)." % (meta["iters"], meta["budget"], meta.get("micro_iters", 5)))
    w("- **Peak live set**: from the ONNX graph alone, in its node order: a tensor is live from the node that "
      "makes it to its last reader, both included; graph inputs, initializers, Constant outputs and values "
      "computed only from constants (Shape of a static shape included) are not counted, nor the graph outputs "
      "(the caller's buffers). Reshape, Flatten, Squeeze, Unsqueeze, Identity and Dropout outputs share their "
      "input's storage. The peak is the largest sum of sizes live at one node. kiln's arena is read from "
      "`kiln compile`'s message; the target is arena ≤ 1.1 × peak.")
    w("- **Micro-benchmark**: `tests/bench/blasbench.c`, built with `cc -O3 -march=native ... -lopenblas`, "
      "`OPENBLAS_NUM_THREADS = N`. OpenBLAS is a reference only; kiln never links it. FLOPs: 2n³ for sgemm, "
      "2·Cout·Hout·Wout·Cin·KH·KW for a conv. The FMA peak is measured by the same program (12 independent "
      "FMA chains per thread, the best of 25 tries of a few ms) with 256-bit AVX2 and, where the CPU has it, 512-bit AVX-512; "
      "`% peak` is against the larger.")
    w("")
    with open(doc_path, "w") as f:
        f.write("\n".join(L))


def micro_row(r, head, target):
    if not r.get("ok") or r.get("kiln_ms") is None:
        return "| %s | %s |" % (head, (r.get("error") or "failed").replace("|", "\\|"))
    kp = 100 * r["kiln_gflops"] / r["peak"]
    bp = 100 * r["blas_gflops"] / r["peak"]
    t = "" if target is None else ((mark(r["ratio_blas"] >= 0.85 and r.get("agree"))) if target else "")
    agree = "yes" if r.get("agree") else "**NO** (%.2g)" % r.get("max_abs", float("nan"))
    return "| %s | %s%s | %.2f | %.1f%% | %s | %.2f | %.1f%% | %.3f | %s | %s |" % (
        head, fmt_ms(r["kiln_ms"]), " (1 run)" if r.get("single_run") else "", r["kiln_gflops"], kp,
        fmt_ms(r["ref_ms"]), r["blas_gflops"], bp, r["ratio_blas"], t, agree)


def machine_meta(bench, args, load_start):
    model, flags, mem = cpu_info()
    isa = " ".join(f for f in ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
                               "avx512_bf16", "avx512_fp16") if f in flags)
    commit = git("rev-parse", "--short=12", "HEAD")
    dirty = git("status", "--porcelain", "--untracked-files=no")
    subject = git("log", "-1", "--format=%s")
    rc, ccv, _, _ = run(["cc", "--version"])
    import onnxruntime as ort
    rows = [("CPU", "%s (%s)" % (model, platform.machine())),
            ("cores (nproc)", str(os.cpu_count())),
            ("ISA", isa),
            ("memory", mem),
            ("load average at start / end", "%s / %s" % (load_start, loadavg())),
            ("kiln", "commit `%s`%s (%s), `%s`" % (commit, " with uncommitted changes in the working tree" if dirty else "",
                                                subject[:80], args.kiln)),
            ("C compiler", first_line(ccv.splitlines()[0] if ccv else "?")),
            ("ONNX Runtime", "%s (pip), Python %s, onnx %s, numpy %s" % (ort.__version__, platform.python_version(),
                                                                         onnx.__version__, np.__version__))]
    blas = bench.results.get("blas")
    if blas:
        core = blas.get("core", "?")
        note = ""
        if blas.get("coretype_env"):
            note = " (its DYNAMIC_ARCH detected `%s` on this CPU; the harness sets `OPENBLAS_CORETYPE=%s`)" % (
                blas.get("detected_core"), blas["coretype_env"])
        rows.append(("OpenBLAS", "%s, kernels `%s`%s" % (blas.get("config", "?"), core, note)))
        for t, p in sorted(blas["peaks"].items(), key=lambda kv: int(kv[0])):
            rows.append(("FMA peak, %s thread%s" % (t, "" if int(t) == 1 else "s"),
                         "AVX2 %.1f GFLOP/s, AVX-512 %s (measured now; ../shared/MACHINE.md gives ~%.0f for its "
                         "AVX2 AMD Zen)" % (p["avx2"], ("%.1f GFLOP/s" % p["avx512"]) if p["avx512"] else "—",
                                            MACHINE_MD_PEAK.get(int(t), 0))))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kiln", default=os.path.join(ROOT, "build", "kiln"), help="the kiln binary (build/kiln)")
    ap.add_argument("--models", default=",".join(SUITE + MICRO),
                    help="comma-separated: %s, and gemm, conv (the micro-benchmark); default all" % ",".join(SUITE))
    ap.add_argument("--threads", default="1,2", help="thread counts, default 1,2")
    ap.add_argument("--llvm-threads", default="1",
                    help="thread counts (of --threads) also built with --target llvm and timed beside the C "
                         "build, default 1; '' for none")
    ap.add_argument("--iters", type=int, default=None, help="least timed runs per side (default 10, --quick 3)")
    ap.add_argument("--budget", type=float, default=None,
                    help="seconds of timed runs per model and thread count, beyond --iters (default 4, --quick 0.5)")
    ap.add_argument("--quick", action="store_true", help="a smoke run: few iterations, small GEMMs, 3 convs")
    ap.add_argument("--kiln-args", default="", help="more `kiln compile` options, e.g. \"-O3\"")
    ap.add_argument("--micro-iters", type=int, default=None,
                    help="least timed runs per side in the micro-benchmark (default 5, --quick 2)")
    ap.add_argument("--micro-cap", type=float, default=3.0,
                    help="a micro-benchmark whose first kiln run takes longer (s) is timed by that run alone")
    ap.add_argument("--doc", default=None, help="where to write the report (default: docs/performance.md for a "
                                                "full run, out/bench/performance.md otherwise)")
    ap.add_argument("--torch-python", default="/usr/bin/python3", help="interpreter with torch, for the models")
    ap.add_argument("--compile-timeout", type=float, default=900)
    ap.add_argument("--run-timeout", type=float, default=900)
    ap.add_argument("--report-only", action="store_true", help="rewrite the report from out/bench/results.json")
    args = ap.parse_args()
    args.threads = [int(t) for t in args.threads.split(",") if t]
    args.llvm_threads = [int(t) for t in args.llvm_threads.split(",") if t and int(t) in args.threads]
    if args.iters is None:
        args.iters = 3 if args.quick else 10
    if args.micro_iters is None:
        args.micro_iters = 2 if args.quick else 5
    if args.budget is None:
        args.budget = 0.5 if args.quick else 4.0
    names = [n for n in args.models.split(",") if n]
    bad = [n for n in names if n not in SUITE + MICRO]
    if bad:
        ap.error("unknown model %s (known: %s)" % (", ".join(bad), ", ".join(SUITE + MICRO)))
    if not os.path.exists(args.kiln) and not args.report_only:
        ap.error("no kiln at %s (build it: meson setup build && ninja -C build, or give --kiln)" % args.kiln)
    full = (set(names) == set(SUITE + MICRO) and sorted(args.threads) == [1, 2] and not args.quick)
    doc = args.doc or (os.path.join(ROOT, "docs", "performance.md") if full else os.path.join(OUT, "performance.md"))
    os.makedirs(OUT, exist_ok=True)
    png_name = os.path.splitext(os.path.basename(doc))[0] + ".png"

    bench = Bench(args)
    cmd = "python3 tests/bench/run.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    if args.report_only:
        with open(os.path.join(OUT, "results.json")) as f:
            saved = json.load(f)
        bench.results = saved["results"]
        meta = saved["meta"]
        if not meta:
            raise SystemExit("out/bench/results.json is from a run that did not finish")
        for m in bench.results["models"]:
            m["threads"] = {int(k): v for k, v in m["threads"].items()}
        if bench.results.get("blas"):
            bench.results["blas"]["peaks"] = {int(k): v for k, v in bench.results["blas"]["peaks"].items()}
    else:
        load_start = loadavg()
        t0 = time.time()
        suite = [n for n in SUITE if n in names]
        need = list(suite)
        if "conv" in names and "resnet18" not in need:
            need.append("resnet18")
        models_dir = bench.ensure_models(need) if need else os.path.join(OUT, "models")
        if "gemm" in names or "conv" in names:
            bench.build_blas()
        for n in suite:
            bench.bench_model(n, models_dir)
        if "gemm" in names:
            bench.bench_gemm()
        if "conv" in names:
            bench.bench_conv(models_dir)
        meta = {"date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M %Z").strip(),
                "command": cmd, "threads": args.threads, "iters": args.iters, "budget": args.budget,
                "micro_cap": args.micro_cap, "micro_iters": args.micro_iters, "kiln_args": args.kiln_args,
                "llvm_threads": args.llvm_threads,
                "machine": machine_meta(bench, args, load_start), "wall_s": time.time() - t0,
                "load": "%s / %s" % (load_start, loadavg())}
        import onnxruntime as ort
        meta["ort"] = ort.__version__
        meta["machine"].append(("harness wall time", "%.0f s" % meta["wall_s"]))
        with open(os.path.join(OUT, "results.json"), "w") as f:
            json.dump({"meta": meta, "results": bench.results}, f, indent=1, default=str)
    png = os.path.join(os.path.dirname(doc), png_name)
    try:
        plot(bench.results, png, meta["threads"])
    except ImportError:
        log("matplotlib is missing (pip install matplotlib): no plot")
    report(bench.results, meta, doc, png_name)
    log("wrote %s and %s" % (doc, png))
    failed = [p for p in bench.results["problems"]]
    for p in failed:
        log("PROBLEM %s (%d threads): %s" % (p["case"], p["threads"], p["what"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
