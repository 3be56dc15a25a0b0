#!/bin/sh
# tests/run.sh: kiln's whole test suite, the command README.md and .ci/run use.
#
#   sh tests/run.sh            install what is missing, build, run every suite
#   sh tests/run.sh --no-install [--no-asan] [--no-fuzz]
#
# Each suite prints one line per case, "PASS name" or "FAIL name: reason"
# (only FAIL and SKIP lines and the conformance progress, a line every 100 node
# tests, show while it runs);
# this script runs them all and ends with the line "N passed, N failed".
# Suites: C unit tests (tests/unit), golden --dump files (tests/golden),
# bad-input diagnostics (tests/errors), outputs of data-dependent shape on
# many inputs per build against onnxruntime (tests/dynamic), bundled and PyTorch-exported models
# (tests/models), control flow (tests/control: If, Loop, Scan, nested, against
# onnxruntime), `meson install` and the installed kiln run from another
# folder (tests/install), the random ops against numpy's generator
# (tests/random), ImageDecoder against Pillow and its run-time header guard
# (tests/images), `kiln compare` against its references (tests/compare),
# graphs of 100,000 nodes compiled in under a minute
# (tests/scale), the decoder of models/llm against its hand-written
# forward pass (tests/llm), the embedded boards under their emulators
# (tests/boards: kiln check --arch cortex-m4|aarch64-linux|riscv64-linux on
# the bundled models and some node tests, the static library's symbols, the
# fit report), the MLPerf Tiny models, float and int8, on the boards
# (tests/tiny: made by models/bench/make_bench_models.py and
# models/tiny/make_tiny.py, kiln check --arch under the emulators, the
# library's symbols; QDQ models compiled to integer ops), small QDQ graphs
# against ONNX Runtime (tests/qdq, also with --target llvm), the LLVM
# target's vector math against the C target's (tests/math), and the ONNX
# node conformance suite (tests/onnx: every
# test listed in tests/onnx/expected_pass.txt must pass; docs/conformance.md
# is rewritten with the result of all 1802); models kiln was not written
# against, the ONNX package's other test sets (tests/onnx/run_other.py:
# every 4th listed model of simple, pytorch-converted and pytorch-operator on
# the host, every 20th under qemu-aarch64 and qemu-riscv64; the light
# networks and the doc are left to a full run, docs/conformance-other.md).
# The LLVM target gets the
# bundled models (models-llvm) and every 4th listed node test (onnx-llvm,
# a sample that keeps CI short; `python3 tests/onnx/run_conformance.py
# --target llvm --listed` runs them all); on the boards (boards-llvm: the
# per-board cases of tests/boards with --target llvm) and every 40th
# listed node test built by LLVM for aarch64-linux under qemu-aarch64
# (onnx-llvm-aarch64). The CUDA target (no GPU needed;
# a SKIP line without nvcc): tests/gpu/smoke.sh (cuda: builds with nvcc, the
# one-line messages without a GPU or without nvcc) and every 8th listed node
# test compiled by nvcc (onnx-cuda: run_conformance.py --target cuda
# --compile-only); tests/gpu/run.sh runs them on a GPU (docs/gpu.md). The
# PTX target, the same way without a GPU: tests/ptx (driver declarations
# against cuda.h, --dump ptx entries, goldens, every bundled model's PTX
# assembling with ptxas) and every 8th listed node test built with --target
# ptx and its PTX assembled (onnx-ptx, run_conformance.py --compile-only).
#
# Then the same suites again with kiln built with AddressSanitizer and
# UndefinedBehaviorSanitizer (build-asan/), their lines prefixed "asan/"
# ("PASS asan/errors/..."): any sanitizer report aborts kiln, which fails
# the case. Last, a short fuzzing run (tests/fuzz/run.sh: libFuzzer on the
# whole compiler, then structural mutants on build-asan/kiln), lines
# "PASS fuzz/...". docs/reliability.md says what these do.
set -u
cd "$(dirname "$0")/.." || exit 1
install=1 asan=1 fuzz=1
for arg in "$@"; do
    case $arg in
        --no-install) install=0 ;;
        --no-asan) asan=0 ;;
        --no-fuzz) fuzz=0 ;;
        *) echo "usage: sh tests/run.sh [--no-install] [--no-asan] [--no-fuzz]" >&2; exit 2 ;;
    esac
done
[ $install -eq 0 ] || sh tests/install.sh || exit 1
sh tests/build.sh || { echo "0 passed, 1 failed"; exit 1; }

log=$(mktemp)
run_suite() {
    echo "== $1" >&2
    shift
    "$@" 2>&1 | tee -a "$log" | grep -E '^(FAIL|SKIP|==|conformance progress)' >&2
}
run_suite unit      sh tests/unit/run.sh build
run_suite golden    sh tests/golden/run.sh build/kiln
run_suite errors    sh tests/errors/run.sh build/kiln
run_suite dynamic   python3 tests/dynamic/run.py build/kiln
run_suite models    sh tests/models/run.sh build/kiln
run_suite control   sh tests/control/run.sh build/kiln
run_suite install   sh tests/install/run.sh build
run_suite random    sh tests/random/run.sh build/kiln
run_suite images    sh tests/images/run.sh build/kiln
run_suite compare   sh tests/compare/run.sh build/kiln
run_suite scale     sh tests/scale/run.sh build/kiln
run_suite llm       sh tests/llm/run.sh build/kiln
run_suite boards    sh tests/boards/run.sh build/kiln
run_suite tiny      sh tests/tiny/run.sh build/kiln
run_suite qdq       python3 tests/qdq/run.py --kiln build/kiln
run_suite qdq-llvm  python3 tests/qdq/run.py --kiln build/kiln --target llvm
run_suite math      python3 tests/math/run.py --kiln build/kiln --target llvm
run_suite onnx      python3 tests/onnx/run_conformance.py --kiln build/kiln
run_suite other     python3 tests/onnx/run_other.py --kiln build/kiln --sets simple,pytorch-converted,pytorch-operator \
    --listed --every 4
run_suite other-aarch64 python3 tests/onnx/run_other.py --kiln build/kiln --arch aarch64-linux \
    --sets simple,pytorch-converted,pytorch-operator --listed --every 20
run_suite other-riscv64 python3 tests/onnx/run_other.py --kiln build/kiln --arch riscv64-linux \
    --sets simple,pytorch-converted,pytorch-operator --listed --every 20
run_suite models-llvm sh tests/models/run.sh build/kiln llvm
run_suite control-llvm sh tests/control/run.sh build/kiln llvm
run_suite random-llvm sh tests/random/run.sh build/kiln llvm
run_suite images-llvm sh tests/images/run.sh build/kiln llvm
run_suite onnx-llvm python3 tests/onnx/run_conformance.py --kiln build/kiln --target llvm --listed --every 4
run_suite boards-llvm sh tests/boards/run.sh build/kiln llvm
run_suite onnx-llvm-aarch64 python3 tests/onnx/run_conformance.py --kiln build/kiln --target llvm \
    --arch aarch64-linux --listed --every 40
run_suite cuda      sh tests/gpu/smoke.sh build/kiln
run_suite onnx-cuda python3 tests/onnx/run_conformance.py --kiln build/kiln --target cuda --compile-only --listed --every 8
run_suite ptx       sh tests/ptx/run.sh build/kiln
run_suite onnx-ptx  python3 tests/onnx/run_conformance.py --kiln build/kiln --target ptx --compile-only --listed --every 8

# --- the same suites on kiln built with ASan+UBSan
# A sanitizer report aborts (status 134), which every suite counts as a
# failure. Leaks are not checked: what kiln allocates lives until it exits.
sanitized() {
    ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:detect_stack_use_after_return=0 \
    UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1 \
        "$@" 2>&1 | sed -e 's/^PASS /PASS asan\//' -e 's/^FAIL /FAIL asan\//'
}
if [ $asan -eq 1 ]; then
    blog=$(mktemp)
    ok=1
    if [ ! -f build-asan/build.ninja ]; then
        rm -rf build-asan
        meson setup build-asan -Db_sanitize=address,undefined >"$blog" 2>&1 || { ok=0; rm -rf build-asan; }
    fi
    [ $ok -eq 1 ] && { ninja -C build-asan >"$blog" 2>&1 || ok=0; }
    if [ $ok -eq 1 ]; then
        run_suite asan-unit    sanitized sh tests/unit/run.sh build-asan
        run_suite asan-golden  sanitized sh tests/golden/run.sh build-asan/kiln
        run_suite asan-errors  sanitized sh tests/errors/run.sh build-asan/kiln
        run_suite asan-models  sanitized sh tests/models/run.sh build-asan/kiln
        run_suite asan-control sanitized sh tests/control/run.sh build-asan/kiln
        run_suite asan-compare sanitized sh tests/compare/run.sh build-asan/kiln
        run_suite asan-ptx     sanitized sh tests/ptx/run.sh build-asan/kiln
        run_suite asan-onnx    sanitized python3 tests/onnx/run_conformance.py --kiln build-asan/kiln --no-doc
    else
        tail -n 20 "$blog" >&2
        run_suite asan-build   echo "FAIL asan/build: building kiln with -Db_sanitize=address,undefined in build-asan failed (see above)"
    fi
    rm -f "$blog"
fi

# --- fuzzing: a short run (docs/reliability.md has the long one)
if [ $fuzz -eq 1 ]; then
    kiln=build-asan/kiln
    [ -x "$kiln" ] || kiln=build/kiln
    run_suite fuzz      sh tests/fuzz/run.sh --seconds 150 --mutate 150 --kiln "$kiln"
fi

passed=$(grep -c '^PASS ' "$log")
failed=$(grep -c '^FAIL ' "$log")
rm -f "$log"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
