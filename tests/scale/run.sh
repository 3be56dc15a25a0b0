#!/bin/sh
# tests/scale/run.sh KILN: kiln on graphs of 100,000 nodes (issue 12: compile
# time and memory stay roughly linear). tests/scale/make_graph.py writes
#   chain: 100,000 elementwise nodes in one chain (one fused kernel of
#          100,000 statements)
#   wide:  50,000 values live at once, then summed in a chain of 50,000 Adds
#          (50,000 kernels, 100,000 buffers for the planner)
# and each is compiled with --emit src (kiln's own passes, planning and
# printing; the C compiler's time on 100,000 statements is gcc's) under a
# 60-second limit and 2 GiB of memory. Prints "PASS scale/<name>" or
# "FAIL scale/<name>: <reason>"; exits 1 if any failed.
kiln=${1:-build/kiln}
dir=$(mktemp -d) || exit 1
trap 'rm -rf "$dir"' EXIT
status=0
for shape in chain wide; do
    if ! python3 tests/scale/make_graph.py "$shape" 100000 "$dir/$shape.onnx"; then
        echo "FAIL scale/$shape: could not write the model"
        status=1
        continue
    fi
    start=$(date +%s)
    if (ulimit -v 2097152; timeout 60 "$kiln" compile "$dir/$shape.onnx" -o "$dir/out-$shape" --emit src) \
        >/dev/null 2>"$dir/err"; then
        echo "PASS scale/$shape ($(( $(date +%s) - start )) s)"
    else
        rc=$?
        line=$(sed -n '/./{p;q;}' "$dir/err")
        [ $rc -eq 124 ] && line="over 60 s"
        echo "FAIL scale/$shape: ${line:-kiln exited with status $rc}"
        status=1
    fi
done
exit $status
