#!/bin/sh
# tests/errors/setup_files.sh WHAT [KILN] TMP: the hostile paths of
# cases_files.txt, which a run line cannot spell (its words have no spaces).
# Run from the repository root (tests/errors/run.sh does). Exits 0 when all
# is as it should be, else 1 with one line on stderr saying what is not.
#
#   plant TMP           TMP/out/ with symlinks under the names kiln writes
#                       (model.c, model, build.sh, build.log, output_0.pb,
#                       kiln_rt.c) pointing at TMP/victim_* files that do
#                       not exist, and TMP/out/model.h -> TMP/victim, a file
#                       that does (its text must survive)
#   symlinks KILN TMP   plant, then compile and check -o TMP/out: every
#                       planted name ends a regular file, TMP/victim
#                       unchanged
#   fifo-data TMP       TMP/data: add.onnx's check_ok/ with input_0.pb a FIFO
#   linkdir TMP         TMP/link, a symlink to the folder TMP/real
#   quote-o KILN TMP    compile, run and `--emit src` + `sh build.sh` into an
#                       -o folder whose name holds quotes, spaces, $(...),
#                       backquotes and a newline
#   quote-check-o KILN TMP   kiln check -o into such a folder
#   quote-tmpdir KILN TMP    kiln check, passing and failing, with TMPDIR
#                       such a folder, which must be empty afterwards
#   board-nollvm TMP    TMP/board/, a copy of the aarch64-linux board without
#                       its llvm_* lines (a board --target llvm cannot build for)
# Every injected command would create TMP/pwned: the cases say `absent
# TMP/pwned`.

what=$1
shift
cases=tests/errors/cases

die() {
    echo "setup_files.sh $what: $*" >&2
    exit 1
}

# a folder name that a shell would run code from if kiln pasted it into a
# command line, inside TMP (the payloads all touch TMP/pwned)
hostile() {
    printf '%s/o%s\n' "$1" "ut'x \$(touch $1/pwned)\`touch $1/pwned\`;touch $1/pwned;\"
z"
}

case $what in
board-nollvm)
    tmp=$1
    mkdir -p "$tmp/board" || die "mkdir failed"
    grep -v '^llvm_' targets/boards/aarch64-linux/board.txt >"$tmp/board/board.txt" || die "no aarch64-linux board.txt"
    ;;
plant)
    tmp=$1
    mkdir -p "$tmp/out" || die "mkdir failed"
    echo "victim text" >"$tmp/victim"
    for f in model.c model build.sh build.log output_0.pb kiln_rt.c; do
        ln -s "$tmp/victim_$f" "$tmp/out/$f" || die "ln failed"
    done
    ln -s "$tmp/victim" "$tmp/out/model.h" || die "ln failed"
    ;;
symlinks)
    kiln=$1 tmp=$2
    sh "$0" plant "$tmp" || exit 1
    "$kiln" compile "$cases/add.onnx" -o "$tmp/out" 2>"$tmp/err" || die "compile failed: $(head -c 300 "$tmp/err")"
    for f in model.c model.h model build.sh build.log kiln_rt.c; do
        [ -f "$tmp/out/$f" ] && [ ! -L "$tmp/out/$f" ] || die "compile: out/$f is not a regular file"
    done
    rm -f "$tmp/out/model.h" "$tmp/out/output_0.pb"
    ln -s "$tmp/victim" "$tmp/out/model.h" && ln -s "$tmp/victim" "$tmp/out/output_0.pb" || die "ln failed"
    "$kiln" check "$cases/add.onnx" "$cases/check_ok" -o "$tmp/out" >/dev/null 2>"$tmp/err" ||
        die "check failed: $(head -c 300 "$tmp/err")"
    for f in model.h output_0.pb; do
        [ -f "$tmp/out/$f" ] && [ ! -L "$tmp/out/$f" ] || die "check: out/$f is not a regular file"
    done
    [ "$(cat "$tmp/victim")" = "victim text" ] || die "TMP/victim was written through a planted symlink"
    ;;
fifo-data)
    tmp=$1
    mkdir -p "$tmp/data" || die "mkdir failed"
    cp "$cases/check_ok/input_1.pb" "$cases/check_ok/output_0.pb" "$tmp/data/" || die "cp failed"
    mkfifo "$tmp/data/input_0.pb" || die "mkfifo failed"
    ;;
linkdir)
    tmp=$1
    mkdir -p "$tmp/real" && ln -s real "$tmp/link" || die "cannot make the link"
    ;;
quote-o)
    kiln=$1 tmp=$2
    dir=$(hostile "$tmp")
    "$kiln" compile "$cases/add.onnx" -o "$dir" 2>"$tmp/err" || die "compile failed: $(head -c 300 "$tmp/err")"
    "$dir/model" --in "$cases/check_ok/input_0.pb" --in "$cases/check_ok/input_1.pb" --out "$dir" --quiet ||
        die "the model did not run"
    [ -f "$dir/output_0.pb" ] || die "no output_0.pb"
    "$kiln" compile "$cases/add.onnx" -o "$dir/src" --emit src 2>"$tmp/err" ||
        die "--emit src failed: $(head -c 300 "$tmp/err")"
    [ ! -e "$dir/src/model" ] || die "--emit src built a model"
    (cd / && sh "$dir/src/build.sh" >/dev/null 2>&1) || die "sh build.sh failed"
    [ -x "$dir/src/model" ] || die "sh build.sh made no model"
    "$kiln" compile "$cases/add.onnx" -o "$dir/lib" --emit lib 2>"$tmp/err" ||
        die "--emit lib failed: $(head -c 300 "$tmp/err")"
    [ -f "$dir/lib/libmodel.a" ] || die "no libmodel.a"
    ;;
quote-check-o)
    kiln=$1 tmp=$2
    dir=$(hostile "$tmp")
    "$kiln" check "$cases/add.onnx" "$cases/check_ok" -o "$dir" >/dev/null 2>"$tmp/err" ||
        die "check failed: $(head -c 300 "$tmp/err")"
    [ -x "$dir/model" ] && [ -f "$dir/output_0.pb" ] || die "no model or output_0.pb in the -o folder"
    ;;
quote-tmpdir)
    kiln=$1 tmp=$2
    dir=$(hostile "$tmp")
    mkdir -p "$dir" || die "mkdir failed"
    TMPDIR=$dir "$kiln" check "$cases/add.onnx" "$cases/check_ok" >/dev/null 2>"$tmp/err" ||
        die "check failed: $(head -c 300 "$tmp/err")"
    TMPDIR=$dir "$kiln" check "$cases/add.onnx" "$cases/check_output_shape" >/dev/null 2>"$tmp/err" &&
        die "a failing check passed"
    TMPDIR=$dir "$kiln" bench "$cases/add.onnx" --iters 2 >/dev/null 2>"$tmp/err" ||
        die "bench failed: $(head -c 300 "$tmp/err")"
    [ -z "$(ls -A "$dir")" ] || die "TMPDIR is not empty afterwards: $(ls -A "$dir" | tr '\n' ' ')"
    ;;
*)
    die "unknown WHAT"
    ;;
esac
exit 0
