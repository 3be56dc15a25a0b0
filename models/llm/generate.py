#!/usr/bin/env python3
"""models/llm/generate.py: kiln's compiled decoder against a hand-written one.

    python3 models/llm/generate.py [--tokens 128] [--rounds 3] [--threads 1,2]
                                   [--out out/llm] [--kiln build/kiln] [--doc FILE]
    python3 models/llm/generate.py --test [--out DIR]    (tests/llm/run.sh)

Makes the Llama-style decoder of make_decoder.py (one decode step in ONNX,
seeded random weights, the shape of the 15M-parameter "stories" models),
compiles it with `kiln compile --emit lib --alias ...` (each layer's key
and value cache updated in place), builds models/llm/generate.c against
the library and models/llm/hand.c (the same forward pass written by hand
in the style of llama2.c's run.c, built as its users build it for speed:
-Ofast -march=native -fopenmp), and for each thread count generates
--tokens tokens greedily both ways, --rounds times. It prints the tokens/s
of each (the best round), their ratio, whether the tokens are identical and
the worst logit difference; --doc FILE writes that as a markdown section
into FILE, between the markers <!-- decoder begin --> and <!-- decoder
end --> (docs/compare.md).

--test runs a small decoder (dim 64, 2 layers, vocab 512, context 32) for
24 tokens, twice: with the caches passed in place (one buffer for input
and output) and as two buffers (model_run copies the input first), and
prints "PASS llm/..." or "FAIL llm/...: why" for each and each thread count.
"""
import argparse
import os
import platform
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SMALL = ["--dim", "64", "--hidden", "160", "--layers", "2", "--heads", "4", "--kv-heads", "2",
         "--vocab", "512", "--context", "32"]


def run(cmd, env=None):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    return p.returncode, p.stdout


def last_fields(text):
    line = [l for l in text.strip().splitlines() if l.startswith("kiln_tok_s=")]
    if not line:
        return None
    return dict(kv.split("=", 1) for kv in line[-1].split())


def build(args, out, layers, threads, in_place, log):
    """Compile the decoder with kiln and link generate.c; returns the
    executable's path or None (the reason is logged)."""
    lib = os.path.join(out, "kiln-t%d" % threads)
    alias = []
    for l in range(layers):
        alias += ["--alias", "k_cache_out_%d=k_cache_%d" % (l, l), "--alias", "v_cache_out_%d=v_cache_%d" % (l, l)]
    rc, txt = run([args.kiln, "compile", os.path.join(out, "decoder.onnx"), "-o", lib, "--emit", "lib",
                   "--threads", str(threads)] + alias)
    if rc:
        log("kiln compile failed: " + txt.strip().splitlines()[-1] if txt.strip() else "kiln compile failed")
        return None
    exe = os.path.join(out, "generate-t%d%s" % (threads, "" if in_place else "-copy"))
    hand_o = os.path.join(out, "hand.o")
    gen_o = exe + ".o"
    steps = [
        ["cc", "-Ofast", "-march=native", "-fopenmp", "-c", "-o", hand_o, os.path.join(HERE, "hand.c")],
        ["cc", "-O3", "-march=native", "-I", lib, "-I", HERE, "-c", "-o", gen_o, os.path.join(HERE, "generate.c")] +
        (["-DKILN_ALIAS"] if in_place else []),
        ["cc", "-fopenmp", "-o", exe, gen_o, hand_o, os.path.join(lib, "libmodel.a"), "-lm", "-lpthread"],
    ]
    for cmd in steps:
        rc, txt = run(cmd)
        if rc:
            log("build failed: %s\n%s" % (" ".join(cmd), txt))
            return None
    return exe


def generate(exe, weights, tokens, rounds, threads):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OMP_PROC_BIND="false")
    rc, txt = run([exe, weights, str(tokens), str(rounds)], env)
    return rc, txt, last_fields(txt)


def make_model(out, small):
    rc, txt = run([sys.executable, os.path.join(HERE, "make_decoder.py"), "--out", out] + (SMALL if small else []))
    if rc:
        raise SystemExit("make_decoder.py failed:\n" + txt)


def test(args):
    out = args.out
    make_model(out, True)
    failed = 0
    for threads in (1, 2):
        for in_place in (True, False):
            name = "llm/decoder-t%d-%s" % (threads, "in-place" if in_place else "two-buffers")
            why = []
            exe = build(args, out, 2, threads, in_place, why.append)
            if not exe:
                print("FAIL %s: %s" % (name, why[0] if why else "build failed"))
                failed += 1
                continue
            rc, txt, f = generate(exe, os.path.join(out, "weights.bin"), 24, 1, threads)
            if rc or not f or f.get("same_tokens") != "1" or float(f.get("max_abs_err", "inf")) > 1e-3:
                tail = txt.strip().splitlines()[-1] if txt.strip() else "no output"
                print("FAIL %s: exit %d: %s" % (name, rc, tail))
                failed += 1
            else:
                print("PASS %s" % name)
    return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kiln", default=os.path.join(ROOT, "build", "kiln"))
    ap.add_argument("--out", default=os.path.join(ROOT, "out", "llm"))
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--doc", help="write the results as a markdown section into this file (between the markers "
                                  "<!-- decoder begin --> and <!-- decoder end -->, appended when absent)")
    ap.add_argument("--test", action="store_true", help="the small correctness run of tests/llm/run.sh")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    if args.test:
        return test(args)
    make_model(args.out, False)
    rows = []
    for threads in [int(t) for t in args.threads.split(",")]:
        exe = build(args, args.out, 6, threads, True, lambda m: print(m, file=sys.stderr))
        if not exe:
            return 1
        rc, txt, f = generate(exe, os.path.join(args.out, "weights.bin"), args.tokens, args.rounds, threads)
        sys.stdout.write(txt)
        if not f:
            return 1
        rows.append((threads, f))
        if rc:
            print("the tokens differ", file=sys.stderr)
    if args.doc:
        with open("/proc/loadavg") as fl:
            load = " ".join(fl.read().split()[:3])
        lines = [
            "## Decoder showcase: kiln against a hand-written forward pass",
            "",
            "Generated by `python3 models/llm/generate.py --doc FILE` on %s (%s, load average %s at the end); "
            "do not edit by hand." % (time.strftime("%Y-%m-%d %H:%M"), platform.machine(), load),
            "",
            "A Llama-style decoder (models/llm/make_decoder.py: dim 288, 6 layers, 6 query heads sharing 2 "
            "key/value heads, SwiGLU 768, vocab 32000, context 256; random seeded weights, 95 MB of float32) "
            "runs one token per step. kiln compiles the ONNX decode step with every layer's key/value cache "
            "updated in place (`--alias`); models/llm/hand.c is the same forward pass written by hand in the "
            "style of llama2.c's run.c and built as its users build it for speed (`-Ofast -march=native "
            "-fopenmp`). Each generates %d tokens greedily from token 1, best of %d rounds; the tokens must be "
            "identical." % (args.tokens, args.rounds),
            "",
            "| threads | kiln tokens/s | by hand tokens/s | kiln / by hand | same tokens | max logit difference |",
            "| ---: | ---: | ---: | ---: | :---: | ---: |",
        ]
        for threads, f in rows:
            lines.append("| %d | %s | %s | %s | %s | %s |" % (threads, f["kiln_tok_s"], f["hand_tok_s"], f["ratio"],
                                                           "yes" if f["same_tokens"] == "1" else "**no**",
                                                           f["max_abs_err"]))
        section = "<!-- decoder begin -->\n" + "\n".join(lines) + "\n<!-- decoder end -->\n"
        doc = open(args.doc).read() if os.path.exists(args.doc) else ""
        b, e = doc.find("<!-- decoder begin -->"), doc.find("<!-- decoder end -->")
        if b >= 0 and e > b:
            doc = doc[:b] + section + doc[e + len("<!-- decoder end -->\n"):]
        else:
            doc += ("\n" if doc else "") + section
        with open(args.doc, "w") as fd:
            fd.write(doc)
        print("wrote", args.doc)
    return 0 if all(f["same_tokens"] == "1" for _, f in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
