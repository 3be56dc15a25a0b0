#!/bin/sh
# tests/install/run.sh BUILD: `meson install` gives a kiln that works from
# any directory. One line per case, "PASS install/..." or
# "FAIL install/...: reason".
#
#   install/meson-install   meson install -C BUILD --destdir TMP/dest puts an
#                           executable bin/kiln under the prefix
#   install/compile-run     from a folder outside the repository, with only
#                           TMP/dest/PREFIX/bin on PATH before the system's,
#                           `kiln compile` of models/lenet (copied there) and
#                           the program it wrote run on the sample input
#   install/check           `kiln check` of the copy against its test data
#   install/board           `kiln compile --arch cortex-m4 --emit src` writes
#                           the board's files (startup.c, board.ld): kiln
#                           carries the runtime and the boards inside itself
#                           (compiler/tools/embed.c), nothing is read from the
#                           source tree
# Exits 1 if any case failed. Run from the repository root (tests/run.sh
# does); BUILD defaults to build.
build=${1:-build}
root=$(pwd)
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
err=$tmp/err
status=0
pass() { echo "PASS $1"; }
fail() {
    echo "FAIL $1: $2"
    status=1
}
first_line() {
    line=$(sed -n '/./{p;q;}' "$1")
    [ -n "$line" ] || line=$2
    echo "$line"
}

if ! meson install -C "$build" --destdir "$tmp/dest" >"$err" 2>&1; then
    fail install/meson-install "$(grep -i error "$err" | head -n 1)"
    exit 1
fi
kiln=$(find "$tmp/dest" -path '*/bin/kiln' -type f | head -n 1)
if [ -z "$kiln" ] || [ ! -x "$kiln" ]; then
    fail install/meson-install "no executable bin/kiln under $tmp/dest"
    exit 1
fi
pass install/meson-install
bindir=$(dirname "$kiln")

mkdir -p "$tmp/work"
cp models/lenet/model.onnx models/lenet/sample_input.pb "$tmp/work/"
cp -r models/lenet/test_data_set_0 "$tmp/work/"
cd "$tmp/work" || exit 1
# the installed kiln, found on PATH; nothing of the repository reachable by
# a relative path from here
if [ "$(PATH="$bindir:$PATH" command -v kiln)" != "$kiln" ]; then
    fail install/compile-run "kiln on PATH is not the installed one"
elif ! PATH="$bindir:$PATH" kiln compile model.onnx -o out >/dev/null 2>"$err"; then
    fail install/compile-run "$(first_line "$err" "kiln compile exited with no message")"
elif ! mkdir res || ! ./out/model --in sample_input.pb --out res >"$tmp/run.log" 2>"$err"; then
    fail install/compile-run "$(first_line "$err" "the compiled model exited with no message")"
elif [ -z "$(ls res)" ]; then
    fail install/compile-run "the compiled model wrote no output file"
else
    pass install/compile-run
fi
if PATH="$bindir:$PATH" kiln check model.onnx test_data_set_0 >/dev/null 2>"$err"; then
    pass install/check
else
    fail install/check "$(first_line "$err" "kiln check exited with no message")"
fi
if ! PATH="$bindir:$PATH" kiln compile --arch cortex-m4 --emit src model.onnx -o m4 >/dev/null 2>"$err"; then
    fail install/board "$(first_line "$err" "kiln compile exited with no message")"
elif [ ! -f m4/startup.c ] || [ ! -f m4/board.ld ] || [ ! -f m4/kiln_rt.c ]; then
    fail install/board "no startup.c, board.ld or kiln_rt.c in the output: $(ls m4 | tr '\n' ' ')"
else
    pass install/board
fi
cd "$root" || exit 1
exit $status
