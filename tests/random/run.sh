#!/bin/sh
# tests/random/run.sh KILN [TARGET]: the random ops against numpy.
#
# For each tests/random/cases/<case>/ (made by make_cases.py: expected
# outputs from numpy.random.RandomState(seed), as ONNX's reference computes
# them) runs
#
#   KILN check cases/<case>/model.onnx cases/<case>/test_data_set_0
#
# and prints "PASS random/<case>" or "FAIL random/<case>: <kiln's last
# line>"; with TARGET (llvm) every check runs with --target TARGET and its
# lines end with " --target TARGET". Exits 1 if any failed.
kiln=${1:-build/kiln}
target=${2:-}
case $kiln in
    /*) ;;
    *) kiln=$(pwd)/$kiln ;;
esac
cd "$(dirname "$0")" || exit 1
if [ ! -x "$kiln" ]; then
    echo "FAIL random: kiln not found at $kiln"
    exit 1
fi
status=0
for dir in cases/*/; do
    dir=${dir%/}
    name=random/${dir#cases/}
    if [ -n "$target" ]; then
        out=$("$kiln" check "$dir/model.onnx" "$dir/test_data_set_0" --target "$target" 2>&1)
        rc=$?
        name="$name --target $target"
    else
        out=$("$kiln" check "$dir/model.onnx" "$dir/test_data_set_0" 2>&1)
        rc=$?
    fi
    if [ $rc -eq 0 ]; then
        echo "PASS $name"
    else
        echo "FAIL $name: $(printf '%s\n' "$out" | tail -n 1)"
        status=1
    fi
done
exit $status
