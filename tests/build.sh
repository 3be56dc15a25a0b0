#!/bin/sh
# tests/build.sh: configure build/ (once) and build kiln in it, quietly; on
# failure print what meson or ninja said, leave no half-configured build/
# behind, and exit 1. Used by tests/demo.sh and tests/run.sh.
set -u
cd "$(dirname "$0")/.."
log=$(mktemp)
fail() {
    cat "$log" >&2
    rm -f "$log"
    echo "kiln: $1" >&2
    exit 1
}
if [ ! -f build/build.ninja ]; then
    rm -rf build
    meson setup build >"$log" 2>&1 || { rm -rf build; fail "meson setup failed (see above)"; }
fi
ninja -C build >"$log" 2>&1 || fail "build failed (see above)"
rm -f "$log"
