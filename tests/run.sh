#!/bin/sh
# tests/run.sh: kiln's whole test suite, the command README.md and .ci/run use.
#
#   sh tests/run.sh            install what is missing, build, run every suite
#   sh tests/run.sh --no-install
#
# Each suite prints one line per case, "PASS name" or "FAIL name: reason";
# this script runs them all and ends with the line "N passed, N failed".
# Suites: C unit tests (tests/unit), golden --dump files (tests/golden),
# bad-input diagnostics (tests/errors), bundled and PyTorch-exported models
# (tests/models), and the ONNX node conformance suite (tests/onnx: every
# test listed in tests/onnx/expected_pass.txt must pass; docs/conformance.md
# is rewritten with the result of all 1802).
set -u
cd "$(dirname "$0")/.."
[ "${1:-}" = "--no-install" ] || sh tests/install.sh || exit 1
sh tests/build.sh || { echo "0 passed, 1 failed"; exit 1; }

log=$(mktemp)
run_suite() {
    echo "== $1" >&2
    shift
    "$@" 2>&1 | tee -a "$log" | grep -E '^(FAIL|==)' >&2
}
run_suite unit      sh tests/unit/run.sh build
run_suite golden    sh tests/golden/run.sh build/kiln
run_suite errors    sh tests/errors/run.sh build/kiln
run_suite models    sh tests/models/run.sh build/kiln
run_suite onnx      python3 tests/onnx/run_conformance.py --kiln build/kiln

passed=$(grep -c '^PASS ' "$log")
failed=$(grep -c '^FAIL ' "$log")
rm -f "$log"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
