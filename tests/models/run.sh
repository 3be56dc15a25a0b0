#!/bin/sh
# tests/models/run.sh KILN [TARGET]: check every bundled model against its reference
# data. For each models/<name>/ with a test_data_set_0 it runs
#
#   KILN check models/<name>/model.onnx models/<name>/test_data_set_0 --rtol 1e-3 --atol 1e-4
#
# and prints one line: "PASS models/<name>" or
# "FAIL models/<name>: <first line of kiln's stderr>"; then the same with
# --threads 2 (the generated code's parallel loops on kiln's thread pool):
# "PASS models/<name> --threads 2". With TARGET (llvm), every check runs
# with --target TARGET and its lines end with " --target TARGET".
# Exits 1 if any failed.
# Run from the repository root (tests/run.sh does).
kiln=${1:-build/kiln}
target=${2:-}
case $kiln in
    */*) ;;
    *) kiln=./$kiln ;;
esac
if [ ! -x "$kiln" ]; then
    echo "FAIL models: kiln not found at $kiln"
    exit 1
fi
err=$(mktemp) || exit 1
trap 'rm -f "$err"' EXIT
status=0
found=0
for dir in models/*/; do
    dir=${dir%/}
    [ -d "$dir/test_data_set_0" ] || continue
    found=1
    for threads in 1 2; do
        name=$dir
        [ $threads -eq 1 ] || name="$dir --threads $threads"
        [ -z "$target" ] || name="$name --target $target"
        if "$kiln" check "$dir/model.onnx" "$dir/test_data_set_0" --rtol 1e-3 --atol 1e-4 \
            --threads $threads ${target:+--target "$target"} >/dev/null 2>"$err"; then
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
    echo "FAIL models: no models/*/test_data_set_0 found (run from the repository root)"
    status=1
fi
exit $status
