#!/bin/sh
# tests/golden/run.sh KILN [--update]: golden tests of the IR dumps.
#
# For each tests/golden/NAME.onnx, `kiln compile --dump graph` and
# `--dump kernel` (scheduled for --arch x86-64-avx2, so the dumps are the
# same on every machine) must print exactly NAME.graph and NAME.kernel, the
# generated C must build without a single compiler warning, and compiling
# twice must give the same files byte for byte. For the cases in
# $llvm_cases, `--dump llvm` (the kernels' LLVM module before optimization,
# no target triple: the same on every machine) must print NAME.llvm, and
# the --target llvm build (its C host side) must be warning-free too; a
# kiln built without LLVM skips these with a note on stderr. With --update
# the dumps are rewritten instead (review the diff before committing).
kiln=${1:-build/kiln}
update=${2:-}
dir=$(dirname "$0")
status=0
tmp=$(mktemp -d)
llvm_cases="arena_reuse compress_dynamic gemm_bias_relu residual shape_chain"
if "$kiln" compile "$dir/gemm_bias_relu.onnx" --dump llvm >/dev/null 2>"$tmp/err" ||
    ! grep -q "built without LLVM" "$tmp/err"; then
    has_llvm=1
else
    has_llvm=0
    echo "note: $kiln was built without LLVM: the golden/*.llvm cases are skipped" >&2
fi
for m in "$dir"/*.onnx; do
    name=$(basename "$m" .onnx)
    whats="graph kernel"
    case " $llvm_cases " in
        *" $name "*) [ $has_llvm -eq 0 ] || whats="$whats llvm" ;;
    esac
    for what in $whats; do
        if ! "$kiln" compile "$m" --arch x86-64-avx2 --dump "$what" >"$tmp/$name.$what" 2>"$tmp/err"; then
            echo "FAIL golden/$name.$what: $(head -n 1 "$tmp/err")"
            status=1
        elif [ "$update" = "--update" ]; then
            cp "$tmp/$name.$what" "$dir/$name.$what"
            echo "PASS golden/$name.$what (updated)"
        elif cmp -s "$tmp/$name.$what" "$dir/$name.$what"; then
            echo "PASS golden/$name.$what"
        else
            echo "FAIL golden/$name.$what: dump differs from $dir/$name.$what:"
            diff "$dir/$name.$what" "$tmp/$name.$what" | head -n 20 | sed 's/^/    /'
            status=1
        fi
    done
    # the generated C must build warning-free with -Wall -Wextra
    if "$kiln" compile "$m" -o "$tmp/$name" >/dev/null 2>"$tmp/err"; then
        if [ -s "$tmp/$name/build.log" ]; then
            echo "FAIL golden/$name.build: warnings: $(head -n 1 "$tmp/$name/build.log")"
            status=1
        else
            echo "PASS golden/$name.build"
        fi
        "$kiln" compile "$m" -o "$tmp/$name.again" --emit src >/dev/null 2>&1
        same=PASS
        for f in model.c model.h weights.bin weights.S build.sh; do
            cmp -s "$tmp/$name/$f" "$tmp/$name.again/$f" || same="FAIL golden/$name.deterministic: $f differs between two compiles"
        done
        [ "$same" = PASS ] && echo "PASS golden/$name.deterministic" || { echo "$same"; status=1; }
    else
        echo "FAIL golden/$name.build: $(head -n 1 "$tmp/err")"
        status=1
    fi
    case "$whats" in
        *llvm*)
            if "$kiln" compile "$m" -o "$tmp/$name.llvmout" --target llvm >/dev/null 2>"$tmp/err"; then
                if [ -s "$tmp/$name.llvmout/build.log" ]; then
                    echo "FAIL golden/$name.llvm-build: warnings: $(head -n 1 "$tmp/$name.llvmout/build.log")"
                    status=1
                else
                    echo "PASS golden/$name.llvm-build"
                fi
            else
                echo "FAIL golden/$name.llvm-build: $(head -n 1 "$tmp/err")"
                status=1
            fi ;;
    esac
done
rm -rf "$tmp"
exit $status
