#!/bin/sh
# tests/control/run.sh KILN [TARGET]: control flow (If, Loop, Scan: nested,
# reading outer-scope values, ending early) against onnxruntime's answers.
# For each tests/control/<name>/ it runs
#
#   KILN check tests/control/<name>/model.onnx tests/control/<name>/test_data_set_0
#
# at -O2, then at -O0 and with --threads 2, and prints one line each:
# "PASS control/<name> [flags]" or "FAIL control/<name> [flags]: <first line
# of kiln's stderr>". With TARGET (llvm), every check runs with --target
# TARGET. The models and their data come from make_control.py. Exits 1 if
# any failed. Run from anywhere.
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
for dir in tests/control/*/; do
    dir=${dir%/}
    [ -d "$dir/test_data_set_0" ] || continue
    found=1
    for flags in "" "-O0" "--threads 2"; do
        name="control/${dir##*/}${flags:+ $flags}${target:+ --target $target}"
        # shellcheck disable=SC2086
        if "$kiln" check "$dir/model.onnx" "$dir/test_data_set_0" $flags \
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
