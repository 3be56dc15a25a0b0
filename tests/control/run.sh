#!/bin/sh
# tests/control/run.sh KILN [TARGET]: control flow (If, Loop, Scan: nested,
# reading outer-scope values, ending early) against onnxruntime's answers.
# For each data set of tests/control/<name>/ (made by
# tests/control/make_control.py, against onnxruntime) and of
# models/control/<name>/ (PyTorch models scripted with loops and ifs, made
# by models/control/make_control.py, against PyTorch) it runs
#
#   KILN check <dir>/<name>/model.onnx <dir>/<name>/test_data_set_N
#
# at -O2, then at -O0 and with --threads 2, and prints one line each:
# "PASS control/<name>[/test_data_set_N] [flags]" or "FAIL ...: <first
# line of kiln's stderr>" (the data set named when it is not the first).
# (models/control/unsupported/ holds exports kiln refuses, pinned by
# tests/errors/cases_control.txt: not run here.) With TARGET (llvm), every
# check runs with --target TARGET. Exits 1 if any failed. Run from anywhere.
kiln=${1:-build/kiln}
target=${2:-}
case $kiln in
    /*) ;;
    *) kiln=$(pwd)/$kiln ;;
esac
cd "$(dirname "$0")/../.." || exit 1
if [ ! -x "$kiln" ]; then
    echo "FAIL control: kiln not found at $kiln"
    exit 1
fi
err=$(mktemp) || exit 1
trap 'rm -f "$err"' EXIT
status=0
found=0
for data in tests/control/*/test_data_set_* models/control/*/test_data_set_*; do
    [ -d "$data" ] || continue
    dir=${data%/*}
    set=${data##*/}
    found=1
    for flags in "" "-O0" "--threads 2"; do
        name="control/${dir##*/}"
        [ "$set" = test_data_set_0 ] || name="$name/$set"
        name="$name${flags:+ $flags}${target:+ --target $target}"
        # shellcheck disable=SC2086
        if "$kiln" check "$dir/model.onnx" "$data" $flags \
            ${target:+--target "$target"} >/dev/null 2>"$err"; then
            echo "PASS $name"
        else
            rc=$?
            line=$(sed -n '/./{p;q;}' "$err")
            [ -n "$line" ] || line="kiln check exited with status $rc and no message"
            echo "FAIL $name: $line"
            status=1
        fi
    done
done
if [ $found -eq 0 ]; then
    echo "FAIL control: no tests/control/*/test_data_set_0 found"
    status=1
fi
exit $status
