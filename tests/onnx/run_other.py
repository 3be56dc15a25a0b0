#!/usr/bin/env python3
"""kiln on the ONNX project's other backend test sets: models it was not written against.

The pip package onnx ships, beside the node tests of run_conformance.py,
the folders onnx/backend/test/data/{simple,pytorch-converted,
pytorch-operator,light,real}. This runs `kiln check` on each of their
models (run_conformance.run_test, the same call the node tests get):

  * simple, pytorch-converted, pytorch-operator: one folder per model,
    model.onnx and test_data_set_N/ (each data set is checked);
  * light: light_<name>.onnx, a model zoo network whose weights were
    replaced by ConstantOfShape nodes, with light_<name>_output_N.pb but no
    inputs: the inputs are made as the ONNX runner makes them (each float
    input that is not an initializer: arange(n) / n in its shape, unknown
    extents 1), and the tolerances are those of real/test_<name>/data.json;
  * real: data.json only, naming a download (the network with its real
    weights) that is not shipped: one SKIP line each, saying which light
    model stands in for it. A light model whose weights are external data
    absent beside it, or that has a non-float input, is a SKIP too.

One line per model: "PASS other/<set>/<name>", "FAIL other/<set>/<name>:
<reason>" for a model listed in tests/onnx/expected_other.txt that fails
(the list holds what passes: it only grows), "KNOWN other/<set>/<name>:
<reason>" for a failure not listed (an op kiln does not support), "SKIP
other/<set>/<name>: <reason>" for what cannot run; then one summary line
with the pass rate of each set. Exits 1 if a listed model failed.

  python3 tests/onnx/run_other.py --kiln build/kiln            # every set
  python3 tests/onnx/run_other.py --doc                        # and rewrite docs/conformance-other.md
  python3 tests/onnx/run_other.py --sets simple --only sign    # a few
  python3 tests/onnx/run_other.py --arch riscv64-linux --sets simple,pytorch-operator --doc
  python3 tests/onnx/run_other.py --arch aarch64-linux --listed --every 6   # a sample (CI)
  python3 tests/onnx/run_other.py --update                     # add what passes now to the list

`--arch A` (and `--target T`) are passed to kiln check; lines end
" --arch A". `--doc` rewrites the section of docs/conformance-other.md
for this configuration (host, or the --target/--arch given) from a run of
the sets given (all but --only, --listed), keeping the other
configurations' sections; its table names the sets it ran. The sets are found
in --data DIR, else $KILN_ONNX_DATA, else the installed onnx package
(without one: a SKIP line, exit 0). Standard library only, apart from
finding the onnx package.
"""
import argparse
import concurrent.futures
import json
import os
import re
import shutil
import struct
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run_conformance as rc  # noqa: E402 - beside this file

SETS = ("simple", "pytorch-converted", "pytorch-operator", "light", "real")
EXPECTED = rc.ROOT / "tests/onnx/expected_other.txt"
DOC = rc.ROOT / "docs/conformance-other.md"
HEADER = """\
# Models of the ONNX package's other test sets (tests/onnx/run_other.py) that
# kiln must pass, as <set>/<name>; one a line, sorted. The list only grows: to
# add the ones that pass now, run
#   python3 tests/onnx/run_other.py --kiln build/kiln --update
"""
FLOAT = 1                                  # TensorProto.FLOAT
EXTERNAL = 1                               # TensorProto.DataLocation.EXTERNAL


def find_data(given):
    """The folder holding the sets, or None."""
    if given:
        return given.resolve()
    if os.environ.get("KILN_ONNX_DATA"):
        return Path(os.environ["KILN_ONNX_DATA"]).resolve()
    try:
        import onnx  # noqa: PLC0415 - optional: only to find its test data
    except ImportError:
        return None
    return Path(onnx.__file__).parent / "backend/test/data"


class Case:
    """One model: where its model.onnx and data sets are (folder/name/...),
    the options kiln check gets, or why it is skipped."""

    def __init__(self, set_, name, folder=None, extra=(), skip=None):
        self.set, self.name, self.folder, self.extra, self.skip = set_, name, folder, list(extra), skip

    @property
    def id(self):
        return f"{self.set}/{self.name}"

    def datasets(self):
        return sorted(d.name for d in (self.folder / self.name).glob("test_data_set_*") if d.is_dir())


def fields(buf, number):
    return [v for f, v in rc.proto_fields(buf) if f == number]


def text(buf, number, default=""):
    found = fields(buf, number)
    return bytes(found[-1]).decode() if found else default


def graph_inputs(model):
    """(name, elem_type, dims) of each graph input that no initializer
    feeds (ModelProto.graph 7; GraphProto.initializer 5, input 11;
    ValueInfoProto.name 1, type 2; TypeProto.tensor_type 1; elem_type 1,
    shape 2; TensorShapeProto.dim 1; dim_value 1), and the files that the
    initializers kept as external data read: their location, else their
    name (TensorProto.name 8, external_data 13, data_location 14;
    StringStringEntryProto key 1, value 2)."""
    graph = fields(model, 7)[0]
    inits, external = set(), []
    for t in fields(graph, 5):
        inits.add(text(t, 8))
        if EXTERNAL in fields(t, 14):
            where = [text(e, 2) for e in fields(t, 13) if text(e, 1) == "location"]
            external.append(where[0] if where else text(t, 8))
    inputs = []
    for vi in fields(graph, 11):
        name = text(vi, 1)
        if name in inits:
            continue
        tensor = (fields(fields(vi, 2)[0], 1) or [b""])[0] if fields(vi, 2) else b""
        elem = (fields(tensor, 1) or [0])[0]
        shape = (fields(tensor, 2) or [b""])[0]
        dims = [(fields(d, 1) or [1])[0] for d in fields(shape, 1)]
        inputs.append((name, elem, dims))
    return inputs, external


def varint(value):
    """Protobuf's base-128 encoding of value >= 0, low groups first."""
    groups = [(value >> shift) & 0x7F for shift in range(0, max(value.bit_length(), 1), 7)]
    return bytes([g | 0x80 for g in groups[:-1]] + groups[-1:])


def tensor_proto(name, dims, floats):
    """A float TensorProto: dims 1, data_type 2, name 8, raw_data 9."""
    raw = struct.pack(f"<{len(floats)}f", *floats)
    out = b"".join(varint(1 << 3) + varint(d) for d in dims)
    out += varint(2 << 3) + varint(FLOAT)
    out += varint(8 << 3 | 2) + varint(len(name.encode())) + name.encode()
    return out + varint(9 << 3 | 2) + varint(len(raw)) + raw


def light_case(data, path, work):
    """A light model as a Case: model.onnx linked into a folder of `work`
    with test_data_set_0 made beside it (the runner's inputs, the shipped
    outputs), tolerances from real/test_<name>/data.json."""
    name = path.name[len("light_"):-len(".onnx")]
    inputs, external = graph_inputs(path.read_bytes())
    missing = [e for e in external if not (path.parent / e).exists()]
    if missing:
        return Case("light", name, skip=f"weights absent: external data '{missing[0]}' is not shipped")
    outs = sorted(path.parent.glob(f"light_{name}_output_*.pb"))
    if not outs:
        return Case("light", name, skip="no expected outputs shipped (light_<name>_output_N.pb)")
    for iname, elem, _ in inputs:
        if elem != FLOAT:
            return Case("light", name, skip=f"input '{iname}' is not float: the ONNX runner makes float inputs only")
    folder = work / "light" / name
    ds = folder / "test_data_set_0"
    ds.mkdir(parents=True)
    os.symlink(path, folder / "model.onnx")
    for i, (iname, _, dims) in enumerate(inputs):
        n = 1
        for d in dims:
            n *= d
        (ds / f"input_{i}.pb").write_bytes(tensor_proto(iname, dims, [k / n for k in range(n)]))
    for o in outs:
        shutil.copy(o, ds / ("output_" + o.name.rsplit("_", 1)[1]))
    extra = []
    meta = data / "real" / f"test_{name}" / "data.json"
    if meta.is_file():
        js = json.loads(meta.read_text())
        extra = ["--rtol", str(js.get("rtol", 1e-3)), "--atol", str(js.get("atol", 1e-7))]
    return Case("light", name, folder.parent, extra)


def find_cases(data, sets, work):
    cases = []
    for s in sets:
        top = data / s
        if not top.is_dir():
            continue
        if s == "light":
            cases += [light_case(data, p, work) for p in sorted(top.glob("light_*.onnx"))]
            continue
        for d in sorted(p for p in top.iterdir() if p.is_dir()):
            if (d / "model.onnx").is_file():
                cases.append(Case(s, d.name, top))
            elif (d / "data.json").is_file():
                url = json.loads((d / "data.json").read_text()).get("url", "?")
                why = f"weights not shipped: data.json names the download {url}"
                light = re.match(r"onnx/backend/test/data/light/light_(\w+)\.onnx$", url)
                if light:
                    why += f", whose stand-in with constant weights runs as light/{light.group(1)}"
                cases.append(Case(s, d.name, skip=why))
            else:
                cases.append(Case(s, d.name, skip="no model.onnx in the folder"))
    return cases


def run_case(kiln, case, args):
    """None if every data set of the case matched, else the first reason."""
    sets = case.datasets()
    if not sets:
        return "no test_data_set_N folder"
    for ds in sets:
        why = rc.run_test(kiln, case.folder, case.name, args.timeout, args.target, args.arch,
                          data=ds, extra=case.extra)
        if why is not None:
            return why.replace(rc.SKIP, "")
    return None


def config_name(args):
    parts = ([f"--target {args.target}"] if args.target not in (None, "c") else []) + \
            ([f"--arch {args.arch}"] if args.arch else [])
    return " ".join(parts) or "host (C target)"


def rates(cases, results):
    """{set: (pass, run, skipped)} in SETS order."""
    out = {}
    for c in cases:
        p, n, k = out.get(c.set, (0, 0, 0))
        if c.skip:
            out[c.set] = (p, n, k + 1)
        else:
            out[c.set] = (p + (results[c.id] is None), n + 1, k)
    return {s: out[s] for s in SETS if s in out}


def write_doc(args, cases, results):
    """Rewrites this configuration's section of the doc, keeping the others."""
    title = f"## {config_name(args)}"
    sections = {}
    if DOC.exists():
        body = DOC.read_text().split("\n## ")[1:]
        sections = {"## " + b.split("\n", 1)[0]: "## " + b.rstrip("\n") for b in body}
    out = [title, "", "| set | pass | run | skipped | rate |", "|---|---:|---:|---:|---:|"]
    total = [0, 0, 0]
    for s, (p, n, k) in rates(cases, results).items():
        out.append(f"| {s} | {p} | {n} | {k} | {100 * p / n:.1f}% |" if n else f"| {s} | 0 | 0 | {k} | - |")
        total = [total[0] + p, total[1] + n, total[2] + k]
    p, n, k = total
    out.append(f"| all | {p} | {n} | {k} | {100 * p / n:.1f}% |" if n else f"| all | 0 | 0 | {k} | - |")
    out += ["", "| model | result |", "|---|---|"]
    for c in sorted(cases, key=lambda c: c.id):
        r = ("skipped: " + c.skip) if c.skip else ("pass" if results[c.id] is None else results[c.id])
        out.append(f"| {c.id} | {r.replace('|', chr(92) + '|')} |")
    sections[title] = "\n".join(out)
    head = [
        "# ONNX's other test sets",
        "",
        "Generated by `tests/onnx/run_other.py --doc` (one section per configuration,",
        "each rewritten by a run of the sets in its table); do not edit by hand. The sets",
        "are the folders onnx/backend/test/data/{simple,pytorch-converted,",
        "pytorch-operator,light,real} of the pip package onnx: models kiln was not",
        "written against. The script's docstring says how each set is run.",
        "",
    ]
    order = sorted(sections, key=lambda t: (t != "## host (C target)", t))
    DOC.write_text("\n".join(head) + "\n" + "\n\n".join(sections[t] for t in order) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kiln", default=rc.ROOT / "build/kiln", type=Path, help="kiln executable (default: build/kiln)")
    ap.add_argument("--data", type=Path, help="folder of the sets (default: $KILN_ONNX_DATA, else "
                                              "backend/test/data of the installed onnx package)")
    ap.add_argument("--sets", default=",".join(SETS), help="comma-separated sets to run (default: all)")
    ap.add_argument("--only", metavar="REGEX", type=rc.regex, help="only the models whose <set>/<name> matches")
    ap.add_argument("--listed", action="store_true", help="only the models listed in expected_other.txt")
    ap.add_argument("--every", type=int, default=1, metavar="K",
                    help="with --listed: every K-th listed model in name order (default: 1, all)")
    ap.add_argument("--jobs", type=int, default=2, help="models run at once (default: 2)")
    ap.add_argument("--timeout", type=float, default=300, help="seconds per data set (default: 300)")
    ap.add_argument("--target", help="code generator passed to kiln check")
    ap.add_argument("--arch", help="--arch passed to kiln check (a board: runs under its emulator)")
    ap.add_argument("--doc", action="store_true", help="rewrite this configuration's section of "
                                                       "docs/conformance-other.md (a run of whole sets)")
    ap.add_argument("--update", action="store_true", help="add the models that pass to expected_other.txt")
    args = ap.parse_args()
    sets = [s for s in args.sets.split(",") if s]
    bad = [s for s in sets if s not in SETS]
    if bad:
        ap.error(f"unknown set {bad[0]!r} (sets: {', '.join(SETS)})")
    if args.every < 1 or (args.every > 1 and not args.listed):
        ap.error("--every needs --listed and a count from 1")
    if args.doc and (args.only or args.listed):
        ap.error("--doc records a run of whole sets: not with --only or --listed")
    if args.update and (args.arch or args.target not in (None, "c")):
        ap.error("--update keeps the host's list: not with --arch or --target")
    suffix = (f" --target {args.target}" if args.target not in (None, "c") else "") + \
             (f" --arch {args.arch}" if args.arch else "")

    kiln, data = args.kiln.resolve(), find_data(args.data)
    if not kiln.is_file():
        print(f"FAIL other: {kiln} not found")
        return 1
    if data is None or not data.is_dir():
        print(f"SKIP other{suffix}: no test sets (the onnx package is not installed for {sys.executable}; "
              "give the folder onnx/backend/test/data with --data DIR or KILN_ONNX_DATA)")
        return 0
    expected = rc.read_expected(EXPECTED)
    with tempfile.TemporaryDirectory(prefix="kiln-other-") as work:
        cases = find_cases(data, sets, Path(work))
        if args.only:
            cases = [c for c in cases if args.only.search(c.id)]
        if args.listed:
            keep = set(sorted(c.id for c in cases if c.id in expected)[::args.every])
            cases = [c for c in cases if c.id in keep]
        results = {}
        run = [c for c in cases if not c.skip]
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            futures = {pool.submit(run_case, kiln, c, args): c for c in run}
            for future in concurrent.futures.as_completed(futures):
                results[futures[future].id] = future.result()

    failed = 0
    for c in sorted(cases, key=lambda c: c.id):
        if c.skip:
            print(f"SKIP other/{c.id}{suffix}: {c.skip}")
        elif results[c.id] is None:
            print(f"PASS other/{c.id}{suffix}")
        elif c.id in expected:
            failed += 1
            print(f"FAIL other/{c.id}{suffix}: {results[c.id]}")
        else:
            print(f"KNOWN other/{c.id}{suffix}: {results[c.id]}")
    passing = {i for i, r in results.items() if r is None}
    new = sorted(passing - expected)
    if args.update and new:
        rc.write_expected(expected | passing, EXPECTED, HEADER)
    per_set = ", ".join(f"{s} {p} of {n}" + (f" ({k} skipped)" if k else "")
                        for s, (p, n, k) in rates(cases, results).items())
    news = f"newly passing: {len(new)}" + ((" (added to the list)" if args.update else
                                            " (run with --update to add them)") if new else "")
    print(f"other: {len(passing)} of {len(run)} models pass{suffix}: {per_set}; "
          f"{'all listed pass' if not failed else f'{failed} listed fail'}; {news}")
    if args.doc:
        write_doc(args, cases, results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
