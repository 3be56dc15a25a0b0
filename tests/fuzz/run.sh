#!/bin/sh
# tests/fuzz/run.sh: kiln's fuzzing, in one command (docs/reliability.md).
#
#   sh tests/fuzz/run.sh [--seconds N | --runs N] [--jobs N] [--keep-going]
#                        [--mutate N] [--kiln KILN] [--build DIR] [--findings DIR]
#                        [--no-libfuzzer]
#
#   --seconds N     run libFuzzer for N seconds (default 180)
#   --runs N        run libFuzzer for N executions instead (the long run:
#                   --runs 1000000 --jobs 2)
#   --jobs N        libFuzzer worker processes (-fork=N; default 1, one process)
#   --keep-going    go on after a finding (fork mode, -ignore_crashes etc.)
#                   and report every finding at the end, grouped by stack
#   --mutate N      then run N structural mutants (tests/fuzz/mutate.py) on
#                   KILN (default 0: none)
#   --kiln KILN     kiln for the mutator (default build-asan/kiln: build it
#                   with -Db_sanitize=address,undefined, as tests/run.sh does)
#   --build DIR     where the fuzz target is built (default build-fuzz)
#   --findings DIR  where grouped findings and reproducers go (default
#                   out/fuzz/findings)
#   --no-libfuzzer  only the structural mutator
#
# Steps: build tests/fuzz/fuzz_compile.c with clang
# (-fsanitize=fuzzer,address,undefined) in DIR, collect the seed corpus
# (tests/fuzz/make_seeds.py -> out/fuzz/seeds), run libFuzzer with the
# dictionary tests/fuzz/onnx.dict on the persistent corpus out/fuzz/corpus
# (crashes, timeouts and out-of-memory inputs land in out/fuzz/artifacts),
# then the structural mutator. Prints
#   PASS fuzz/libfuzzer (N execs, no finding)   or   FAIL fuzz/libfuzzer: ...
#   PASS fuzz/mutate (N mutants)                or   FAIL fuzz/mutate...: ...
# and exits 1 if anything failed. Findings are grouped and saved with a
# reproducer under out/fuzz/findings/ (tests/fuzz/triage.py, mutate.py).
set -u
cd "$(dirname "$0")/../.." || exit 1

seconds=180
runs=
jobs=1
keep=0
mutate=0
kiln="build-asan/kiln"
build="build-fuzz"
findings="out/fuzz/findings"
libfuzzer=1
while [ $# -gt 0 ]; do
    case $1 in
        --seconds) seconds=$2; runs=; shift 2 ;;
        --runs) runs=$2; shift 2 ;;
        --jobs) jobs=$2; shift 2 ;;
        --keep-going) keep=1; shift ;;
        --mutate) mutate=$2; shift 2 ;;
        --kiln) kiln=$2; shift 2 ;;
        --build) build=$2; shift 2 ;;
        --findings) findings=$2; shift 2 ;;
        --no-libfuzzer) libfuzzer=0; shift ;;
        *) echo "usage: sh tests/fuzz/run.sh [--seconds N | --runs N] [--jobs N] [--keep-going] [--mutate N] [--kiln KILN] [--build DIR] [--findings DIR] [--no-libfuzzer]" >&2
           exit 2 ;;
    esac
done

status=0
out=out/fuzz
mkdir -p "$out/corpus" "$out/artifacts" "$out/seeds"
log=$(mktemp) || exit 1
trap 'rm -f "$log"' EXIT

# the symbolizer gives the sanitizers' stacks file:line
for s in llvm-symbolizer llvm-symbolizer-14 llvm-symbolizer-19; do
    if command -v "$s" >/dev/null 2>&1; then
        ASAN_SYMBOLIZER_PATH=$(command -v "$s")
        export ASAN_SYMBOLIZER_PATH
        break
    fi
done

python3 tests/fuzz/make_seeds.py "$out/seeds" >&2 || { echo "FAIL fuzz/seeds: tests/fuzz/make_seeds.py failed"; status=1; }

if [ $libfuzzer -eq 1 ]; then
    built=1
    if ! command -v clang >/dev/null 2>&1; then
        echo "FAIL fuzz/libfuzzer: clang not found (tests/install.sh installs it)"
        built=0
    elif [ ! -f "$build/build.ninja" ]; then
        rm -rf "$build"
        if ! CC=clang meson setup "$build" -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false >"$log" 2>&1; then
            sed 's/^/    /' "$log" | tail -n 20 >&2
            echo "FAIL fuzz/libfuzzer: meson setup $build failed (see above)"
            rm -rf "$build"
            built=0
        fi
    fi
    if [ $built -eq 1 ] && ! ninja -C "$build" fuzz_compile >"$log" 2>&1; then
        sed 's/^/    /' "$log" | tail -n 20 >&2
        echo "FAIL fuzz/libfuzzer: building $build/fuzz_compile failed (see above)"
        built=0
    fi
    if [ $built -eq 0 ]; then
        status=1
    else
        if [ -n "$runs" ]; then
            limit="-runs=$runs"
        else
            limit="-max_total_time=$seconds"
        fi
        mode=
        [ "$jobs" -gt 1 ] && mode="-fork=$jobs"
        [ $keep -eq 1 ] && mode="-fork=$jobs -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1"
        start=$(mktemp) || exit 1
        echo "fuzz: $build/fuzz_compile $limit $mode (log: $out/libfuzzer.log)" >&2
        # -timeout: a run over 10 s is a hang; -rss_limit_mb/-malloc_limit_mb:
        # kiln must reject a model rather than allocate gigabytes for it
        # shellcheck disable=SC2086
        UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        "$build/fuzz_compile" $limit $mode -dict=tests/fuzz/onnx.dict -timeout=10 \
            -rss_limit_mb=2048 -malloc_limit_mb=2048 -print_final_stats=1 \
            -artifact_prefix="$out/artifacts/" "$out/corpus" "$out/seeds" >"$out/libfuzzer.log" 2>&1
        rc=$?
        # executions: the final stats, or the last progress line (#N ...)
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/libfuzzer.log" | tail -n 1)
        [ -n "$execs" ] || execs=$(sed -n 's/^#\([0-9][0-9]*\)[: ].*/\1/p' "$out/libfuzzer.log" | tail -n 1)
        execs=${execs:-0}
        new=$(find "$out/artifacts" -type f -newer "$start" | sort)
        rm -f "$start"
        if [ -z "$new" ] && [ $rc -eq 0 ]; then
            echo "PASS fuzz/libfuzzer ($execs execs, no finding)"
        elif [ -z "$new" ]; then
            echo "FAIL fuzz/libfuzzer: fuzz_compile exited with status $rc and no artifact ($execs execs): $(grep -m1 -E 'ERROR|error' "$out/libfuzzer.log")"
            status=1
        else
            n=$(printf '%s\n' "$new" | wc -l)
            # one FAIL line per stack, reproducers under $findings
            # shellcheck disable=SC2086
            python3 tests/fuzz/triage.py --fuzzer "$build/fuzz_compile" --findings "$findings" $new
            echo "FAIL fuzz/libfuzzer: $n finding(s) in $out/artifacts ($execs execs; reproducers in $findings)"
            status=1
        fi
    fi
fi

if [ "$mutate" -gt 0 ]; then
    if [ ! -x "$kiln" ]; then
        echo "FAIL fuzz/mutate: kiln not found at $kiln (build it with -Db_sanitize=address,undefined)"
        status=1
    elif ! python3 -c 'import onnx, numpy' 2>/dev/null; then
        echo "FAIL fuzz/mutate: python3 lacks onnx or numpy (tests/install.sh installs python3-onnx)"
        status=1
    else
        python3 tests/fuzz/mutate.py --kiln "$kiln" --seeds "$out/seeds" --count "$mutate" \
            --seed "${FUZZ_SEED:-$(date +%j)}" --jobs 2 --timeout 60 --findings "$findings" || status=1
    fi
fi
exit $status
