#!/bin/sh
# tests/ptx/run.sh KILN [--update]: the PTX target's checks that need no GPU.
#
#   ptx/decls             runtime/kiln_cu.c's declarations of the CUDA driver
#                         functions match cuda.h (tests/ptx/decls.c, -Werror;
#                         only where the toolkit's cuda.h is installed)
#   ptx/NAME.dump         `--dump ptx` of tests/golden/NAME.onnx has one .entry
#                         per GPU launch of the host side (the names model.c
#                         looks up) and assembles with ptxas -arch=sm_90
#   ptx/NAME.golden       that dump is tests/ptx/NAME.ptx byte for byte, for the
#                         models without math (libdevice's code would tie the
#                         file to a CUDA release); --update rewrites it
#   ptx/NAME.build        --target ptx builds with cc, no warning (build.log
#                         empty), twice the same files
#   ptx/models/NAME       each bundled model's PTX assembles (the build too)
#   ptx/nogpu             without a CUDA driver the executable says so in one
#                         line and exits 1 (skipped where libcuda.so.1 loads)
#   ptx/nolibdevice       a model whose kernels need math, with KILN_LIBDEVICE
#                         naming no file, is refused in one line naming it
#   ptx/arch              --target ptx --arch cortex-m4 is refused in one line
#   ptx/host/NAME         node tests whose kernels are all placed on the host
#                         (string records, image decoding) pass `kiln check`
#                         on a stand-in driver that keeps device memory in host
#                         memory and runs no kernel (tests/ptx/fakecuda.c): the
#                         device block, copies both ways, the string pool's
#                         state on the device, the host kernels' copies
#   ptx/host/pool         on it, a string pool too small is said (its state
#                         read back from the device)
#   ptx/host/launch       on it, a GPU launch fails in one line (so the tests
#                         above ran no kernel on a launch)
#
# ptxas is the one on PATH, else /usr/local/cuda/bin/ptxas; without one the
# assembling is skipped with a note (the rest still runs). A kiln built
# without LLVM has no ptx target: every case is skipped with a note.
kiln=${1:-build/kiln}
update=${2:-}
dir=$(dirname "$0")
root=$dir/../..
case $kiln in
    */*) ;;
    *) kiln=./$kiln ;;
esac
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
status=0
fail() {
    echo "FAIL $1"
    status=1
}

if ! "$kiln" compile "$root/tests/golden/gemm_bias_relu.onnx" --dump ptx >/dev/null 2>"$tmp/err"; then
    if grep -q "built without LLVM" "$tmp/err"; then
        echo "note: $kiln was built without LLVM: the ptx cases are skipped" >&2
        exit 0
    fi
fi
ptxas=$(command -v ptxas || true)
[ -n "$ptxas" ] || [ ! -x /usr/local/cuda/bin/ptxas ] || ptxas=/usr/local/cuda/bin/ptxas
[ -n "$ptxas" ] || echo "note: no ptxas (CUDA toolkit): PTX is not assembled" >&2
assemble() { # FILE -> 0 if it assembles (or there is no ptxas)
    [ -z "$ptxas" ] || "$ptxas" -arch=sm_90 "$1" -o "$tmp/out.cubin" 2>"$tmp/ptxas.err"
}

# driver declarations against cuda.h
cuda_h=${CUDA_HOME:-/usr/local/cuda}/include
if [ -f "$cuda_h/cuda.h" ]; then
    if ${CC:-cc} -std=c99 -Wall -Wextra -Werror -I"$cuda_h" -c "$dir/decls.c" -o "$tmp/decls.o" 2>"$tmp/err"; then
        echo "PASS ptx/decls"
    else
        fail "ptx/decls: $(grep -m 1 error "$tmp/err")"
    fi
else
    echo "note: no $cuda_h/cuda.h: ptx/decls skipped" >&2
fi

golden_cases="gemm_bias_relu residual shape_chain"
for m in "$root"/tests/golden/*.onnx; do
    name=$(basename "$m" .onnx)
    if ! "$kiln" compile "$m" --target ptx --dump ptx >"$tmp/$name.ptx" 2>"$tmp/err"; then
        fail "ptx/$name.dump: $(head -n 1 "$tmp/err")"
        continue
    fi
    if ! "$kiln" compile "$m" --target ptx -o "$tmp/$name" >/dev/null 2>"$tmp/err"; then
        fail "ptx/$name.build: $(head -n 1 "$tmp/err")"
        continue
    fi
    # the entries model.c looks up, in order, and those the PTX defines
    sed -n '/kernel_syms\[/,/^};/p' "$tmp/$name/model.c" | sed -n 's/^ *"\([A-Za-z0-9_]*\)",$/\1/p' >"$tmp/want"
    sed -n 's/^\.visible \.entry \([A-Za-z0-9_]*\)(.*/\1/p' "$tmp/$name.ptx" | sort >"$tmp/got"
    sort "$tmp/want" >"$tmp/want.sorted"
    if [ ! -s "$tmp/want" ]; then
        fail "ptx/$name.dump: model.c looks up no entry"
    elif ! cmp -s "$tmp/want.sorted" "$tmp/got"; then
        fail "ptx/$name.dump: entries differ from the launches of model.c ($(wc -l <"$tmp/got") vs $(wc -l <"$tmp/want"))"
    elif ! cmp -s "$tmp/$name.ptx" "$tmp/$name/model.ptx"; then
        fail "ptx/$name.dump: --dump ptx differs from the compile's model.ptx"
    elif ! assemble "$tmp/$name.ptx"; then
        fail "ptx/$name.dump: ptxas: $(head -n 1 "$tmp/ptxas.err")"
    else
        echo "PASS ptx/$name.dump ($(wc -l <"$tmp/want") entries)"
    fi
    case " $golden_cases " in
        *" $name "*)
            if [ "$update" = "--update" ]; then
                cp "$tmp/$name.ptx" "$dir/$name.ptx"
                echo "PASS ptx/$name.golden (updated)"
            elif cmp -s "$tmp/$name.ptx" "$dir/$name.ptx"; then
                echo "PASS ptx/$name.golden"
            else
                fail "ptx/$name.golden: --dump ptx differs from $dir/$name.ptx:"
                diff "$dir/$name.ptx" "$tmp/$name.ptx" | head -n 20 | sed 's/^/    /'
            fi
            ;;
    esac
    if [ -s "$tmp/$name/build.log" ]; then
        fail "ptx/$name.build: warnings: $(head -n 1 "$tmp/$name/build.log")"
        continue
    fi
    "$kiln" compile "$m" --target ptx -o "$tmp/$name.again" --emit src >/dev/null 2>&1
    same=PASS
    for f in model.c model.h model.ptx model_ptx.c weights.bin build.sh; do
        cmp -s "$tmp/$name/$f" "$tmp/$name.again/$f" || same="FAIL ptx/$name.build: $f differs between two compiles"
    done
    if [ "$same" = PASS ]; then
        echo "PASS ptx/$name.build"
    else
        echo "$same"
        status=1
    fi
done

# the bundled models: built, and their PTX assembles
for d in "$root"/models/*/; do
    d=${d%/}
    name=$(basename "$d")
    [ -f "$d/model.onnx" ] && [ -d "$d/test_data_set_0" ] || continue
    out=$tmp/models/$name
    mkdir -p "$out"
    # the test data's shapes and values, as kiln check compiles: build only
    if ! TMPDIR=$out "$kiln" check "$d/model.onnx" "$d/test_data_set_0" --target ptx --keep >/dev/null 2>"$tmp/err" &&
        ! grep -q "the generated program failed" "$tmp/err"; then
        fail "ptx/models/$name: $(head -n 1 "$tmp/err")"
        continue
    fi
    ptx=$(ls "$out"/kiln-*/model.ptx 2>/dev/null | head -n 1)
    if [ -z "$ptx" ]; then
        fail "ptx/models/$name: no model.ptx built"
    elif ! assemble "$ptx"; then
        fail "ptx/models/$name: ptxas: $(head -n 1 "$tmp/ptxas.err")"
    else
        echo "PASS ptx/models/$name ($(grep -c '^\.visible \.entry' "$ptx") entries)"
    fi
    rm -rf "$out"
done

# without a driver: one line, exit 1
m=$root/tests/golden/gemm_bias_relu.onnx
if [ -x "$tmp/gemm_bias_relu/model" ]; then
    if python3 -c 'import ctypes; ctypes.CDLL("libcuda.so.1")' 2>/dev/null; then
        echo "note: libcuda.so.1 loads here: ptx/nogpu skipped" >&2
    else
        "$tmp/gemm_bias_relu/model" --bench 1 >"$tmp/out" 2>"$tmp/err"
        rc=$?
        if [ $rc -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "no CUDA driver" "$tmp/err"; then
            echo "PASS ptx/nogpu"
        else
            fail "ptx/nogpu: exit $rc, stderr: $(head -n 2 "$tmp/err" | tr '\n' ' ')"
        fi
    fi
fi

# libdevice missing: a model with math is refused, naming the function
e=$root/../shared/onnx-tests/node/test_exp/model.onnx
[ -f "$e" ] || e=${KILN_ONNX_TESTS:-/nonexistent}/test_exp/model.onnx
if [ -f "$e" ]; then
    KILN_LIBDEVICE=$tmp/none.bc "$kiln" compile "$e" --target ptx -o "$tmp/exp" >/dev/null 2>"$tmp/err"
    rc=$?
    if [ $rc -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "__nv_expf.*libdevice.*not found" "$tmp/err" &&
        [ ! -f "$tmp/exp/model" ]; then
        echo "PASS ptx/nolibdevice"
    else
        fail "ptx/nolibdevice: exit $rc, stderr: $(head -n 2 "$tmp/err" | tr '\n' ' ')"
    fi
else
    echo "note: no node test test_exp: ptx/nolibdevice skipped" >&2
fi

"$kiln" compile "$m" --target ptx --arch cortex-m4 -o "$tmp/arch" >/dev/null 2>"$tmp/err"
rc=$?
if [ $rc -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "ptx" "$tmp/err"; then
    echo "PASS ptx/arch"
else
    fail "ptx/arch: exit $rc, stderr: $(head -n 2 "$tmp/err" | tr '\n' ' ')"
fi
# the kernels placed on the host, end to end on the stand-in driver
fake=$tmp/fake
node=$root/../shared/onnx-tests/node
[ -d "$node" ] || node=${KILN_ONNX_TESTS:-/nonexistent}
if ! mkdir -p "$fake" ||
    ! ${CC:-cc} -shared -fPIC -O1 -Wall -Wextra -Werror -o "$fake/libcuda.so.1" "$dir/fakecuda.c" 2>"$tmp/err"; then
    fail "ptx/host: the stand-in driver does not build: $(head -n 1 "$tmp/err")"
elif [ ! -d "$node" ]; then
    echo "note: no ONNX node tests (../shared/onnx-tests): ptx/host skipped" >&2
else
    for t in test_string_concat test_string_split_basic test_regex_full_match_basic \
        test_strnormalizer_export_monday_casesensintive_upper test_ai_onnx_ml_label_encoder_string_int \
        test_equal_string_broadcast test_image_decoder_decode_png_rgb test_image_decoder_decode_jpeg_rgb; do
        if LD_LIBRARY_PATH=$fake "$kiln" check "$node/$t/model.onnx" "$node/$t/test_data_set_0" --target ptx \
            >"$tmp/out" 2>"$tmp/err" && grep -q "outputs match" "$tmp/out" "$tmp/err"; then
            echo "PASS ptx/host/$t"
        else
            fail "ptx/host/$t: $(head -n 1 "$tmp/err")"
        fi
    done
    t=$node/test_string_concat
    LD_LIBRARY_PATH=$fake "$kiln" check "$t/model.onnx" "$t/test_data_set_0" --target ptx --string-bytes 4 \
        >"$tmp/out" 2>"$tmp/err"
    rc=$?
    if [ $rc -eq 1 ] && grep -q "need more room" "$tmp/err"; then
        echo "PASS ptx/host/pool"
    else
        fail "ptx/host/pool: exit $rc, stderr: $(head -n 2 "$tmp/err" | tr '\n' ' ')"
    fi
    t=$node/test_relu
    LD_LIBRARY_PATH=$fake "$kiln" check "$t/model.onnx" "$t/test_data_set_0" --target ptx >"$tmp/out" 2>"$tmp/err"
    rc=$?
    if [ $rc -eq 1 ] && grep -q "runs no kernel" "$tmp/err"; then
        echo "PASS ptx/host/launch"
    else
        fail "ptx/host/launch: exit $rc, stderr: $(head -n 2 "$tmp/err" | tr '\n' ' ')"
    fi
fi
exit $status
