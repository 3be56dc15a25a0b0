#!/usr/bin/env python3
"""tests/fuzz/triage.py: group libFuzzer findings by stack, save reproducers.

  python3 tests/fuzz/triage.py --fuzzer build-fuzz/fuzz_compile out/fuzz/artifacts/*
  python3 tests/fuzz/triage.py --fuzzer build-fuzz/fuzz_compile --findings DIR FILE...

Reruns fuzz_compile on each input (crash-*, timeout-*, oom-*, slow-unit-*:
libFuzzer's artifacts), reads the sanitizer's report and groups the inputs
by kind (the SUMMARY line's error, timeout, out-of-memory) and the first
three frames in kiln's own sources (file:line function). Prints one line a
group, most inputs first:

  FAIL fuzz/libfuzzer/ubsan-signed-integer-overflow: UBSan signed-integer-overflow
      at compiler/base/dtype.c:161 (shape_numel) <- ... (3 inputs, reproducer DIR)

and saves, for each group, the smallest input under --findings (default
tests/fuzz/findings) as lf-<kind>-<hash>/: input.onnx (the bytes),
report.txt (the sanitizer's report) and repro.sh (fuzz_compile on the
input, and the same model through `kiln compile`). Inputs that no longer
fail are counted as fixed. Standard library only.
"""
import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
FRAME = re.compile(r"^\s*#\d+ 0x[0-9a-f]+ in (\S+) (\S+?):(\d+)(?::\d+)?")


def rerun(fuzzer, path, timeout):
    env = dict(os.environ, UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1",
               ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") or "detect_leaks=1")
    cmd = [str(fuzzer), "-timeout=10", "-rss_limit_mb=2048", "-malloc_limit_mb=2048", str(path)]
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, timeout=timeout)
        return p.returncode, p.stdout.decode("utf-8", "replace")
    except subprocess.TimeoutExpired as e:
        return None, (e.stdout or b"").decode("utf-8", "replace") + "\n(triage: timed out)"


def ours(path):
    """A source path of kiln's own (compiler/, targets/, runtime/)."""
    m = re.search(r"((?:compiler|targets|runtime|tests)/\S+)", path)
    return m.group(1) if m else None


def classify(rc, out):
    """(kind, frames) of a run's report; kind None when it did not fail."""
    if rc is None or "ALARM: working on the last Unit for" in out or "SUMMARY: libFuzzer: timeout" in out:
        kind = "timeout"
    elif "out-of-memory" in out or "SUMMARY: libFuzzer: out-of-memory" in out:
        m = re.search(r"out-of-memory \((malloc\(\d+\)|used: \d+Mb)", out)
        kind = "oom " + ("malloc" if m and m.group(1).startswith("malloc") else "rss")
    elif rc == 0:
        return None, []
    else:
        m = re.search(r"SUMMARY: (\w+Sanitizer): (\S+)", out)
        if m:
            kind = f"{m.group(1).replace('AddressSanitizer', 'ASan').replace('UndefinedBehaviorSanitizer', 'UBSan')} {m.group(2)}"
        elif "runtime error:" in out:
            m = re.search(r"runtime error: ([a-z -]+)", out)
            kind = "UBSan " + (m.group(1).strip() if m else "runtime error")
        elif "deadly signal" in out:
            kind = "deadly signal"
        else:
            kind = f"exit {rc}"
    if "runtime error: signed integer overflow" in out:
        kind = "UBSan signed-integer-overflow"
    elif "runtime error:" in out and kind.startswith("UBSan"):
        m = re.search(r"runtime error: (.{0,60}?)(?::| \d|$)", out, re.M)
        kind = "UBSan " + re.sub(r"\s+", "-", m.group(1).strip()) if m else kind
    frames = []
    # the first report's stack (after the ERROR / runtime error line)
    start = 0
    for pat in ("runtime error:", "ERROR: AddressSanitizer", "ERROR: libFuzzer", "==ERROR"):
        i = out.find(pat)
        if i >= 0:
            start = i
            break
    for line in out[start:].splitlines():
        m = FRAME.match(line)
        if not m:
            if frames and not line.strip():
                break
            continue
        src = ours(m.group(2))
        if src and not src.startswith("tests/fuzz/"):
            frames.append(f"{src}:{m.group(3)} ({m.group(1)})")
        if len(frames) == 3:
            break
    if not frames:
        # a UBSan line without a stack still names the place
        m = re.search(r"((?:compiler|targets)/\S+?):(\d+):\d+: runtime error", out)
        if m:
            frames.append(f"{m.group(1)}:{m.group(2)}")
    return kind, frames


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fuzzer", type=Path, default=ROOT / "build-fuzz/fuzz_compile")
    ap.add_argument("--findings", type=Path, default=ROOT / "tests/fuzz/findings")
    ap.add_argument("--timeout", type=float, default=60, help="seconds per rerun (default 60)")
    ap.add_argument("inputs", nargs="+", type=Path)
    args = ap.parse_args()
    fuzzer = args.fuzzer.resolve()
    groups, fixed = {}, 0
    for path in args.inputs:
        if not path.is_file():
            continue
        rc, out = rerun(fuzzer, path, args.timeout)
        kind, frames = classify(rc, out)
        if kind is None:
            fixed += 1
            continue
        # timeouts and OOMs: the top frames are where it was, not why
        key = (kind, tuple(frames[:1] if kind.startswith(("timeout", "oom")) else frames))
        groups.setdefault(key, []).append((path.stat().st_size, path, out))
    args.findings.mkdir(parents=True, exist_ok=True)
    for (kind, frames), items in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        items.sort(key=lambda x: x[0])
        size, path, out = items[0]
        h = hashlib.sha1(f"{kind}|{'|'.join(frames)}".encode()).hexdigest()[:8]
        slug = re.sub(r"[^a-z0-9]+", "-", kind.lower()).strip("-")
        dest = args.findings / f"lf-{slug}-{h}"
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest / "input.onnx")
        (dest / "report.txt").write_text(out[-30000:])
        (dest / "repro.sh").write_text(
            "#!/bin/sh\n"
            f"# {kind} at {' <- '.join(frames) or '(no kiln frame)'}\n"
            f"# {len(items)} libFuzzer input(s) of this group; this is the smallest ({size} bytes).\n"
            "# FUZZER: tests/fuzz/run.sh builds it (build-fuzz/fuzz_compile); KILN: any kiln,\n"
            "# an ASan+UBSan one (build-asan/kiln) shows the same report.\n"
            'here=$(cd "$(dirname "$0")" && pwd)\n'
            f"FUZZER=${{FUZZER:-{ROOT}/build-fuzz/fuzz_compile}}\n"
            f"KILN=${{KILN:-{ROOT}/build-asan/kiln}}\n"
            "UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \"$FUZZER\" \"$here/input.onnx\"\n"
            "# the same model through the command line (symbolic input dims need --shape NAME=2x...)\n"
            "out=$(mktemp -d)\n"
            "UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \"$KILN\" compile \"$here/input.onnx\" -o \"$out\" --emit src\n"
            'echo "kiln exit status $?"\nrm -rf "$out"\n')
        where = os.path.relpath(dest, ROOT) if str(dest).startswith(str(ROOT)) else str(dest)
        print(f"FAIL fuzz/libfuzzer/{slug}: {kind} at {' <- '.join(frames) or '(no kiln frame)'} "
              f"({len(items)} inputs, reproducer {where})")
    if fixed:
        print(f"{fixed} input(s) no longer fail")
    return 1 if groups else 0


if __name__ == "__main__":
    sys.exit(main())
