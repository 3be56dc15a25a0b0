#!/bin/sh
# tests/errors/run.sh KILN: kiln's bad-input diagnostics.
#
# Runs every case of tests/errors/cases.txt (inputs in tests/errors/cases/,
# written by make_cases.py) and prints one line per case,
# "PASS errors/<case>" or "FAIL errors/<case>: <why>"; exits 1 if any failed.
# A case passes when kiln
#   - exits with the expected code, and never by a signal (status >= 128);
#   - writes exactly one non-empty line to stderr (for exit code 2, usage
#     errors, the usage text may follow that first line);
#   - that first line matches every `stderr` regex of the case (grep -E);
#   - writes a line to stdout matching each `stdout` regex of the case;
#   - after a failed run with `-o DIR`, leaves no DIR/model or DIR/libmodel.a
#     (a folder that looks like a successful build);
#   - leaves each path named by an `exists` line, and none named by an
#     `absent` line (what injected code or a followed symlink would create).
# Cases come from cases.txt and every cases_<topic>.txt beside it.
# POSIX sh and standard tools only. Run from anywhere.

kiln=${1:-build/kiln}
case $kiln in
    /*) ;;
    *) kiln=$(pwd)/$kiln ;;
esac
cd "$(dirname "$0")/../.." || exit 1
if [ ! -x "$kiln" ]; then
    echo "FAIL errors: kiln not found at $kiln"
    exit 1
fi
cases=tests/errors/cases.txt
limit=120   # seconds a case may take (a hang is a failure too)
if command -v timeout >/dev/null 2>&1; then
    to="timeout $limit"
else
    to=
fi

work=$(mktemp -d) || exit 1
trap 'rm -rf "$work"' EXIT
nl='
'
status=0
count=0

# expand WORDS...: sets $args to the words with KILN and TMP replaced, one a
# line, and $outdir to the word after -o (empty if none). No word has spaces.
expand() {
    args=
    outdir=
    prev=
    for w in "$@"; do
        case $w in
            KILN) w=$kiln ;;
            TMP | TMP/*) w=$tmp${w#TMP} ;;
        esac
        [ "$prev" = "-o" ] && outdir=$w
        prev=$w
        args=$args$w$nl
    done
}

# invoke: runs the command in $args (one word a line) with the timeout.
invoke() {
    oldifs=$IFS
    IFS=$nl
    set -f
    # shellcheck disable=SC2086
    set -- $args
    set +f
    IFS=$oldifs
    $to "$@" </dev/null
}

fail() {
    echo "FAIL errors/$name: $*"
    status=1
}

run_case() {
    [ -n "$name" ] || return 0
    count=$((count + 1))
    if [ -z "$cmd" ] || [ -z "$want" ]; then
        fail "cases.txt: case needs a run and an exit line"
        return
    fi
    tmp=$work/$name
    rm -rf "$tmp"
    mkdir -p "$tmp"
    if [ -n "$setup" ]; then
        set -f
        # shellcheck disable=SC2086
        expand $setup
        set +f
        if ! invoke >"$work/setup.out" 2>&1; then
            fail "setup failed: $setup: $(sed -n '/./{p;q;}' "$work/setup.out")"
            return
        fi
    fi
    set -f
    # shellcheck disable=SC2086
    expand $cmd
    set +f
    invoke >"$work/out" 2>"$work/err"
    rc=$?
    first=$(sed -n '1p' "$work/err")
    nlines=$(awk 'END { print NR }' "$work/err")
    show=$(printf '%s' "$first" | cut -c1-300 | tr -c '[:print:]\n' '?')
    show=${show:-<empty stderr>}
    if [ -n "$to" ] && [ $rc -eq 124 ]; then
        fail "timed out after ${limit}s"
        return
    fi
    if [ $rc -ge 128 ]; then
        fail "crashed: exit status $rc (signal $((rc - 128))): $show"
        return
    fi
    if [ "$rc" != "$want" ]; then
        fail "exit $rc, expected $want: $show"
        return
    fi
    if [ -n "$outdir" ] && [ "$want" != 0 ]; then
        for f in model libmodel.a; do
            if [ -e "$outdir/$f" ]; then
                fail "failed with exit $rc but left ${outdir#"$tmp"/}/$f behind, as if it had succeeded"
                return
            fi
        done
    fi
    for p in $absent; do
        case $p in
            TMP | TMP/*) p=$tmp${p#TMP} ;;
        esac
        if [ -e "$p" ] || [ -L "$p" ]; then
            fail "${p#"$work"/} exists after the run, but must not"
            return
        fi
    done
    for p in $exists; do
        case $p in
            TMP | TMP/*) p=$tmp${p#TMP} ;;
        esac
        if [ ! -e "$p" ]; then
            fail "expected ${p#"$work"/} to exist after the run"
            return
        fi
    done
    if [ -n "$errres" ] || [ "$want" != 0 ]; then
        if [ -z "$first" ]; then
            fail "exit $rc but the first stderr line is empty"
            return
        fi
        if [ "$nlines" -ne 1 ] && [ "$want" != 2 ]; then
            fail "stderr has $nlines lines, expected one: $(tr '\n' '|' <"$work/err" | cut -c1-300 | tr -c '[:print:]\n' '?')"
            return
        fi
        # each stderr regex must match the first line
        bad=$(printf '%s' "$errres" | while IFS= read -r re; do
            printf '%s\n' "$first" | grep -Eq -- "$re" || { printf '%s' "$re"; break; }
        done)
        if [ -n "$bad" ]; then
            fail "stderr line does not match /$bad/: $show"
            return
        fi
    fi
    bad=$(printf '%s' "$outres" | while IFS= read -r re; do
        grep -Eq -- "$re" "$work/out" || { printf '%s' "$re"; break; }
    done)
    if [ -n "$bad" ]; then
        fail "no stdout line matches /$bad/: $(tr '\n' '|' <"$work/out" | cut -c1-300 | tr -c '[:print:]\n' '?')"
        return
    fi
    echo "PASS errors/$name"
}

if [ ! -f "$cases" ]; then
    echo "FAIL errors: $cases not found"
    exit 1
fi
name=
for cases in tests/errors/cases.txt tests/errors/cases_*.txt; do
[ -f "$cases" ] || continue
lineno=0
while IFS= read -r line || [ -n "$line" ]; do
    lineno=$((lineno + 1))
    case $line in
        '' | '#'*) continue ;;
    esac
    key=${line%%[ 	]*}
    val=${line#"$key"}
    val=${val#"${val%%[! 	]*}"}   # strip leading blanks
    case $key in
        case)
            run_case
            name=$val cmd='' setup='' want='' errres='' outres='' exists='' absent='' ;;
        run) cmd=$val ;;
        setup) setup=$val ;;
        exit) want=$val ;;
        stderr) errres=$errres$val$nl ;;
        stdout) outres=$outres$val$nl ;;
        exists) exists="$exists $val" ;;
        absent) absent="$absent $val" ;;
        *)
            echo "FAIL errors: $cases:$lineno: unknown key '$key'"
            status=1 ;;
    esac
done <"$cases"
run_case
name=
done
if [ $count -eq 0 ]; then
    echo "FAIL errors: no cases in tests/errors"
    status=1
fi
exit $status
