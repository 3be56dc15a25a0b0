#!/usr/bin/env python3
"""kiln's ONNX node conformance runner.

Runs `kiln check model.onnx test_data_set_0` on every folder of the ONNX
node test suite (default: ../shared/onnx-tests/node beside the repository)
and reports the results:

  * one line per test listed in tests/onnx/expected_pass.txt, either
    "PASS onnx/<test>" or "FAIL onnx/<test>: <reason>", where the reason is
    the first line of kiln's stderr (or a timeout or crash message); tests
    that are not listed print nothing here;
  * one summary line, "conformance: N of M node tests pass (...)";
  * a progress line on stderr every 100 tests;
  * docs/conformance.md, rewritten after a full run (not with --only or
    --no-doc): the count, a table by operator and one row per test.

It exits 1 if any listed test failed, else 0. The list only grows: after a
run, `--update` appends every newly passing test to expected_pass.txt.

`--compile-only` (--target cuda or ptx) needs no GPU: kiln check writes the
sources it would build (`--emit src`); for cuda `nvcc -O3 -arch=sm_90 -c
model.cu` compiles them and cc the C of the kernels placed on the host
(the run is skipped when there is no nvcc), for ptx `sh build.sh`
builds the host side with cc and `ptxas -arch=sm_90` assembles model.ptx
(--ptxas, default the one on PATH or /usr/local/cuda/bin/ptxas; without one
the summary says the PTX was not assembled). A test passes when every step
succeeds; lines read "PASS onnx/<test> --target ptx --compile-only".
On the GPU targets, kernels on string tensors or calling a runtime routine
(ImageDecoder's decoder) are placed on the host (docs/gpu.md): such tests
compile like any other.

`--target T` passes --target T to every `kiln check` (lines read "PASS
onnx/<test> --target T"). The list and docs/conformance.md are the C
target's: with another target the doc is never rewritten and --update is
refused. `--listed` runs only the listed tests (the question "does every
test the C target passes also pass with --target llvm"), `--every K` only
every K-th of them in name order (a sample for CI; --every 1 is all),
starting at the I-th with `--offset I`: K runs with offsets 0..K-1 cover
the list once (a long run split in parts). Failures are also printed on
stderr as they happen ("failed: onnx/<test> ..."), for a long run.
`--results FILE` writes one tab-separated line per listed test (test,
target, arch, PASS/FAIL, reason), after a "# flags ..." line:
tests/onnx/targets_doc.py makes docs/targets.md from such files.
`--arch A` passes --arch A (a board: the program runs under its emulator)
the same way, with the same rules (lines end " --arch A").

  python3 tests/onnx/run_conformance.py --kiln build/kiln
  python3 tests/onnx/run_conformance.py --only 'test_(abs|relu)' --no-doc
  python3 tests/onnx/run_conformance.py --update
  python3 tests/onnx/run_conformance.py --target llvm --listed
  python3 tests/onnx/run_conformance.py --target llvm --arch aarch64-linux --listed --every 20
  python3 tests/onnx/run_conformance.py --target cuda --compile-only --listed --jobs 2
  python3 tests/onnx/run_conformance.py --target ptx --compile-only --listed
  python3 tests/onnx/run_conformance.py --target cuda --compile-only --listed --every 2 --offset 1 --results r.tsv

Standard library only (CI has Debian's python3 and nothing else).
"""
import argparse
import concurrent.futures
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
EXPECTED = ROOT / "tests/onnx/expected_pass.txt"
DOC = ROOT / "docs/conformance.md"
HEADER = """\
# ONNX node tests that kiln must pass; tests/onnx/run_conformance.py (and so
# tests/run.sh) fails if any of them fails. One name a line, sorted; lines
# starting with # are ignored. The list only grows: never remove a test to
# make the suite pass, fix kiln instead. To add the tests that pass now, run
#   python3 tests/onnx/run_conformance.py --kiln build/kiln --update
"""


def find_nvcc():
    """nvcc on PATH, in $CUDA_HOME/bin or /usr/local/cuda/bin (as build.sh looks), or None."""
    found = shutil.which("nvcc")
    if found:
        return found
    cand = Path(os.environ.get("CUDA_HOME") or "/usr/local/cuda") / "bin/nvcc"
    return str(cand) if os.access(cand, os.X_OK) else None


def compile_cu(nvcc, src, timeout):
    """nvcc -c of a --target cuda folder's model.cu (device and host code, as
    its build.sh compiles it), and cc -c of the C it holds for the kernels
    placed on the host (model_host.c and the runtime routines they call);
    None if everything compiled, else the reason."""
    cmds = [[nvcc, "-O3", "-arch=sm_90", "-c", str(src / "model.cu"), "-o", str(src / "model.o")]]
    for c in ("model_host.c", "kiln_str.c", "kiln_img.c"):
        if (src / c).exists():
            cmds.append(["cc", "-std=c99", "-O2", "-fwrapv", "-Wall", "-Wextra", "-c", str(src / c), "-o",
                         str(src / (c[:-2] + ".o"))])
    for cmd in cmds:
        try:
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout,
                               start_new_session=True)
        except subprocess.TimeoutExpired:
            return f"{Path(cmd[0]).name} timed out after {timeout:g} s"
        if p.returncode != 0:
            lines = [line.strip() for line in p.stdout.decode(errors="replace").splitlines() if "error" in line]
            return f"{Path(cmd[0]).name} failed: " + (lines[0] if lines else f"exit {p.returncode}")
    return None


def build_ptx(ptxas, src, timeout):
    """A --target ptx folder built by its build.sh (cc: the host side and the
    driver glue) and its model.ptx assembled by ptxas -arch=sm_90 (when there
    is a ptxas); None if both succeeded, else the reason."""
    try:
        b = subprocess.run(["sh", "build.sh"], cwd=src, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout, start_new_session=True)
    except subprocess.TimeoutExpired:
        return f"build.sh timed out after {timeout:g} s"
    if b.returncode != 0:
        lines = [line.strip() for line in b.stdout.decode(errors="replace").splitlines() if "error" in line]
        return "build.sh failed: " + (lines[0] if lines else f"exit {b.returncode}")
    if not ptxas:
        return None
    try:
        r = subprocess.run([ptxas, "-arch=sm_90", str(src / "model.ptx"), "-o", os.devnull],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"ptxas timed out after {timeout:g} s"
    if r.returncode != 0:
        lines = [line.strip() for line in r.stdout.decode(errors="replace").splitlines() if line.strip()]
        return "ptxas failed: " + (lines[0] if lines else f"exit {r.returncode}")
    return None


def run_test(kiln, tests, name, timeout, target=None, arch=None, compile_only=False, tool=None,
             data="test_data_set_0", extra=()):
    """Runs kiln check on one test (its data set `data`, with the options
    `extra` added); returns None if it passed, else the reason.
    With compile_only, check only writes the sources it would build (--emit
    src), and for --target cuda nvcc (tool) compiles them, for --target ptx
    build.sh builds them and ptxas (tool) assembles the PTX: no GPU needed."""
    folder = tests / name
    with tempfile.TemporaryDirectory(prefix="kiln-conf-") as tmp:
        cmd = [str(kiln), "check", str(folder / "model.onnx"), str(folder / data)] + list(extra)
        if target:
            cmd += ["--target", target]
        if arch:
            cmd += ["--arch", arch]
        if compile_only:
            cmd += ["--emit", "src", "-o", f"{tmp}/src"]
        try:
            # A session of its own, so that a timeout kills the C compiler and
            # the generated program too, not only kiln.
            p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 env=dict(os.environ, TMPDIR=tmp), start_new_session=True)
        except OSError as e:
            return f"cannot run {kiln}: {e.strerror}"
        try:
            _, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill(p)
            p.communicate()
            return f"timed out after {timeout:g} s"
        finally:
            if p.poll() is None:
                kill(p)
                p.wait()
        if p.returncode == 0 and compile_only and target == "cuda":
            return compile_cu(tool, Path(tmp) / "src", timeout)
        if p.returncode == 0 and compile_only and target == "ptx":
            return build_ptx(tool, Path(tmp) / "src", timeout)
    if p.returncode == 0:
        return None
    lines = [line.strip() for line in err.decode(errors="replace").splitlines() if line.strip()]
    first = clean(lines[0] if lines else "(no message)", tests, tmp)
    if p.returncode < 0:
        return f"kiln crashed ({signal.Signals(-p.returncode).name}): {first}"
    if p.returncode != 1:
        return f"kiln exited with status {p.returncode}: {first}"
    return first


def kill(p):
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def clean(msg, tests, tmp):
    """The message without machine-dependent parts: folders and temp names."""
    msg = msg.replace(f"{tmp}/", "").replace(tmp, "$TMPDIR")
    msg = msg.replace(f"{tests}/", "").replace(f"{ROOT}/", "")
    return re.sub(r"kiln-[A-Za-z0-9_]{6}", "kiln-XXXXXX", msg)


def read_expected(path=EXPECTED):
    if not path.exists():
        return set()
    lines = (line.strip() for line in path.read_text().splitlines())
    return {line for line in lines if line and not line.startswith("#")}


def write_expected(names, path=EXPECTED, header_text=HEADER):
    """Rewrites the list sorted, keeping the file's own comment header
    (header_text for a new file)."""
    old = path.read_text().splitlines() if path.exists() else []
    header = [line for line in old if line.startswith("#")]
    text = "\n".join(header) + "\n" if header else header_text
    path.write_text(text + "".join(f"{n}\n" for n in sorted(names)))


def read_varint(buf, i):
    value = shift = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return value, i


def proto_fields(buf):
    """(field number, value) pairs of a protobuf message; enough for op_type."""
    i = 0
    while i < len(buf):
        key, i = read_varint(buf, i)
        kind = key & 7
        if kind == 0:
            value, i = read_varint(buf, i)
        elif kind in (1, 5):
            n = 8 if kind == 1 else 4
            value, i = buf[i:i + n], i + n
        elif kind == 2:
            n, i = read_varint(buf, i)
            value, i = buf[i:i + n], i + n
        else:
            raise ValueError(f"unsupported protobuf wire type {kind}")
        yield key >> 3, value


def operator(tests, name):
    """The op a test exercises: its single node's op_type (ModelProto.graph = 7,
    GraphProto.node = 1, NodeProto.op_type = 4); an "_expanded" test (a
    function body of many nodes) counts for the op of the test it expands."""
    name = re.sub(r"_expanded(_ver\d+)?$", "", name)
    try:
        model = (tests / name / "model.onnx").read_bytes()
        graph = next(v for f, v in proto_fields(model) if f == 7)
        nodes = [v for f, v in proto_fields(graph) if f == 1]
        ops = {bytes(v).decode() for n in nodes for f, v in proto_fields(n) if f == 4}
    except (OSError, StopIteration, ValueError, IndexError):
        return "(unreadable)"
    return ops.pop() if len(ops) == 1 else "(several)"


def write_doc(tests, results):
    npass = sum(r is None for r in results.values())
    by_op = {}
    for name, reason in results.items():
        counts = by_op.setdefault(operator(tests, name), [0, 0])
        counts[0] += reason is None
        counts[1] += 1
    out = [
        "# ONNX conformance",
        "",
        "Generated by `tests/onnx/run_conformance.py` from a full run of the",
        "ONNX node test suite (`kiln check` on each test's `test_data_set_0`);",
        "do not edit by hand.",
        "",
        f"**{npass} of {len(results)} node tests pass.**",
        "",
        "## By operator",
        "",
        "| operator | pass | tests |",
        "|---|---:|---:|",
    ]
    out += [f"| {op} | {p} | {n} |" for op, (p, n) in sorted(by_op.items(), key=lambda kv: kv[0].lower())]
    out += ["", "## By test", "", "| test | result |", "|---|---|"]
    for name in sorted(results):
        reason = results[name]
        text = "pass" if reason is None else reason.replace("|", "\\|")
        out.append(f"| {name} | {text} |")
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text("\n".join(out) + "\n")


def write_results(path, listed, results, target, arch, tests, suffix):
    """One line per listed test: name, target, arch (empty for the host), PASS,
    or FAIL, reason (tabs and newlines in it made spaces). A line reading
    "# flags <suffix>" comes first, so that a reader can tell the runs apart."""
    out = [f"# flags{suffix}"]
    for name in listed:
        reason = results.get(name, f"no such test in {tests}")
        state = "PASS" if reason is None else "FAIL"
        text = "" if reason is None else reason
        text = re.sub(r"[\t\n]", " ", text)
        out.append(f"{name}\t{target}\t{arch}\t{state}\t{text}")
    path.write_text("\n".join(out) + "\n")


def regex(text):
    try:
        return re.compile(text)
    except re.error as e:
        raise argparse.ArgumentTypeError(f"bad regular expression: {e}")


def find_tests(given):
    """The node test folder: --tests, else $KILN_ONNX_TESTS, else
    ../shared/onnx-tests/node beside the repository, else the tests shipped
    inside the installed onnx package (older wheels carry them). Returns
    the folder, or the list of places looked at when none holds tests."""
    places = [given] if given else []
    if not given:
        if os.environ.get("KILN_ONNX_TESTS"):
            places.append(Path(os.environ["KILN_ONNX_TESTS"]))
        places.append(ROOT / "../shared/onnx-tests/node")
        try:
            import onnx  # noqa: PLC0415 - optional: only to find its test data
            places.append(Path(onnx.__file__).parent / "backend/test/data/node")
        except ImportError:
            pass
    for p in places:
        if p.is_dir() and any((d / "model.onnx").is_file() for d in p.iterdir()):
            return p.resolve()
    return [p.resolve() for p in places]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kiln", default=ROOT / "build/kiln", type=Path, help="kiln executable (default: build/kiln)")
    ap.add_argument("--tests", type=Path,
                    help="ONNX node test folder (default: $KILN_ONNX_TESTS, else ../shared/onnx-tests/node "
                         "beside the repository, else the node tests of the installed onnx package)")
    ap.add_argument("--jobs", type=int, default=2, help="tests run at once (default: 2)")
    ap.add_argument("--timeout", type=float, default=120, help="seconds per test (default: 120)")
    ap.add_argument("--only", metavar="REGEX", type=regex, help="run only the tests whose name matches (re.search); no doc")
    ap.add_argument("--update", action="store_true", help="append newly passing tests to expected_pass.txt")
    ap.add_argument("--no-doc", action="store_true", help="do not rewrite docs/conformance.md")
    ap.add_argument("--target", help="code generator passed to kiln check (default: kiln's, c)")
    ap.add_argument("--arch", help="--arch passed to kiln check (a board runs under its emulator; default: the host)")
    ap.add_argument("--listed", action="store_true", help="run only the tests listed in expected_pass.txt")
    ap.add_argument("--every", type=int, default=1, metavar="K",
                    help="with --listed: only every K-th listed test, in name order (default: 1, all)")
    ap.add_argument("--offset", type=int, default=0, metavar="I",
                    help="with --every K: start at the I-th listed test (0 <= I < K; default 0), so that "
                         "K runs with offsets 0..K-1 cover the list once")
    ap.add_argument("--results", type=Path, metavar="FILE",
                    help="also write every test's result to FILE, one tab-separated line each "
                         "(test, target, arch, PASS/FAIL, reason): what tests/onnx/targets_doc.py reads")
    ap.add_argument("--compile-only", action="store_true",
                    help="--target cuda: check writes the sources (--emit src) and nvcc -c compiles model.cu; "
                         "--target ptx: check writes the sources, build.sh builds them with cc and ptxas "
                         "assembles model.ptx; nothing runs (no GPU needed)")
    ap.add_argument("--ptxas", help="ptxas for --compile-only --target ptx (default: on PATH, else "
                                    "/usr/local/cuda/bin/ptxas)")
    args = ap.parse_args()
    if args.compile_only and args.target not in ("cuda", "ptx"):
        ap.error("--compile-only is for --target cuda or ptx")
    if args.compile_only and args.target == "cuda" and not find_nvcc():
        print("SKIP onnx --target cuda --compile-only: nvcc not found (on PATH, in $CUDA_HOME/bin or "
              "/usr/local/cuda/bin)")
        return 0
    other = args.target not in (None, "c")
    if other and args.update:
        ap.error("--update keeps the C target's list: not with --target " + args.target)
    if args.arch and args.update:
        ap.error("--update keeps the host's list: not with --arch " + args.arch)
    if args.every < 1 or (args.every > 1 and not args.listed):
        ap.error("--every needs --listed and a count from 1")
    if not 0 <= args.offset < args.every:
        ap.error("--offset needs --every K and 0 <= offset < K")
    suffix = (f" --target {args.target}" if other else "") + (f" --arch {args.arch}" if args.arch else "")
    tool = find_nvcc() if args.target == "cuda" else None
    if args.compile_only:
        suffix += " --compile-only"
        if args.target == "ptx":
            tool = args.ptxas or shutil.which("ptxas") or "/usr/local/cuda/bin/ptxas"
            if not Path(tool).is_file():
                tool = None

    kiln, tests = args.kiln.resolve(), find_tests(args.tests)
    if not kiln.is_file():
        print(f"FAIL onnx: {kiln} not found")
        return 1
    if not isinstance(tests, Path):
        print("FAIL onnx: no ONNX node tests in " + ", ".join(str(t) for t in tests) + ": they are the folder "
              "onnx/backend/test/data/node of the ONNX sources (https://github.com/onnx/onnx, the tag of "
              "your onnx version); give it with --tests DIR or KILN_ONNX_TESTS=DIR")
        return 1
    names = sorted(d.name for d in tests.iterdir() if (d / "model.onnx").is_file())
    if args.only:
        names = [n for n in names if args.only.search(n)]
    expected = read_expected()
    listed = sorted(expected if not args.only else {n for n in expected if args.only.search(n)})
    if args.listed:
        listed = listed[args.offset::args.every]
        names = [n for n in names if n in set(listed)]

    results = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = {pool.submit(run_test, kiln, tests, n, args.timeout, args.target, args.arch, args.compile_only,
                               tool): n for n in names}
        for done, future in enumerate(concurrent.futures.as_completed(futures), 1):
            name = futures[future]
            results[name] = future.result()
            if results[name] is not None:
                # At once, so that a long run's failures can be looked at while it goes on.
                print(f"failed: onnx/{name}{suffix}: {results[name]}", file=sys.stderr, flush=True)
            if done % 100 == 0 or done == len(names):
                npass = sum(r is None for r in results.values())
                print(f"conformance progress: {done} of {len(names)} run, {npass} pass", file=sys.stderr, flush=True)

    failed = 0
    for name in listed:
        reason = results.get(name, f"no such test in {tests}")
        if reason is None:
            print(f"PASS onnx/{name}{suffix}")
        else:
            failed += 1
            print(f"FAIL onnx/{name}{suffix}: {reason}")
    if args.results:
        write_results(args.results, listed, results, args.target or "c", args.arch or "", tests, suffix)
    passing = {n for n, r in results.items() if r is None}
    new = sorted(passing - expected)
    if args.update and new:
        write_expected(expected | passing)

    what = f"{len(passing)} of {len(names)} node tests pass"
    if args.only:
        what += f" (--only {args.only.pattern!r})"
    if args.listed:
        what += " (listed only" + (f", every {args.every}th" if args.every > 1 else "") + ")"
    what += suffix
    if args.compile_only and args.target == "ptx":
        what += f" (PTX assembled by {tool})" if tool else " (no ptxas: PTX not assembled)"
    state = "all pass" if not failed else f"{failed} fail"
    news = f"newly passing: {len(new)}"
    if new:
        news += " (added to the list)" if args.update else " (run with --update to add them)"
    print(f"conformance: {what} (expected list: {len(listed)}, {state}); {news}")

    if not args.only and not args.no_doc and not args.listed and not other and not args.arch:
        write_doc(tests, results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
