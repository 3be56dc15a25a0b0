#!/bin/sh
# tests/unit/run.sh BUILD: run the C unit tests built in BUILD/tests/unit.
# Each prints PASS/FAIL lines; a test binary that crashes is a FAIL too.
build=${1:-build}
status=0
for t in "$build"/tests/unit/test_*; do
    [ -f "$t" ] && [ -x "$t" ] || continue
    name=$(basename "$t")
    out=$("$t" 2>&1)
    rc=$?
    printf '%s\n' "$out"
    if [ $rc -ne 0 ] && ! printf '%s\n' "$out" | grep -q '^FAIL'; then
        echo "FAIL unit/$name: exited with status $rc"
    fi
    [ $rc -eq 0 ] || status=1
done
exit $status
