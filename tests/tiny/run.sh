#!/bin/sh
# tests/tiny/run.sh KILN: the four MLPerf Tiny models (ResNet-8, DS-CNN,
# MobileNetV1 0.25, the dense autoencoder), float32 and int8, on the boards
# of targets/boards/ under their emulators. One line per case,
# "PASS tiny/...", "FAIL tiny/...: reason" or "SKIP tiny/...: reason".
#
# The models are made first, into out/tiny/models/ (git-ignored; remade on
# every run):
#   tiny/make/float   /usr/bin/python3 models/bench/make_bench_models.py
#                     (Debian's torch and onnx) --out out/tiny/models/float
#   tiny/make/int8    python3 models/tiny/make_tiny.py (onnxruntime's static
#                     quantization, QOperator: QLinearConv, QLinearMatMul,
#                     QuantizeLinear, DequantizeLinear; the reference output
#                     is ONNX Runtime's on the int8 model)
#   tiny/make/qdq     the same quantization in QDQ format (float Conv,
#                     MatMul, Add, pooling between DequantizeLinear and
#                     QuantizeLinear), which kiln's graph/qdq.c compiles to
#                     integer ops
# A missing torch or onnxruntime.quantization is one SKIP line naming it.
# Then:
#   tiny/cortex-m4/<float|int8|qdq>/<model>
#                                         kiln check --arch cortex-m4 under
#                                         qemu-system-arm, all twelve models
#   tiny/qdq-graph/<model>                kiln compile --dump graph of the QDQ
#                                         model has no float Conv, MatMul,
#                                         Gemm, Add or average pool left, and
#                                         QLinearConv/QLinearMatMul on i8
#                                         weights
#   tiny/aarch64-linux/..., tiny/riscv64-linux/...
#                                         kiln check under qemu-user on
#                                         float resnet8 and int8 dscnn
#   tiny/cortex-m4/lib/<float|int8>/<model>
#                                         --emit lib: libmodel.a needs no heap,
#                                         stdio or file I/O (tests/boards/
#                                         symbols.sh) and compile reports
#                                         model_run's worst-case stack
#   tiny/lib-check-fails                  that symbol check rejects an archive
#                                         calling malloc and printf
# Tolerance: float --rtol 1e-3 --atol 1e-4 (as tests/boards: kiln may sum
# in another order than PyTorch). int8 --rtol 1e-5 --atol 1e-6: the integer
# part (QLinearConv, QLinearMatMul, requantization) must give the same
# integers as ONNX Runtime, and only the float tail (DequantizeLinear, the
# bias Add, Softmax) may differ, by float rounding. One step of the last
# requantization moves a Softmax output by about p(1-p) times the logits'
# scale (6e-5 to 1.5e-4 for the three classifiers; 2.3e-3, the scale itself,
# for the autoencoder), which the float tolerance would let pass; this one
# does not. Measured, kiln's int8 outputs are
# within 1e-7 of ONNX Runtime's on the host and the boards. qdq: --rtol 0
# --atol one quantization step of the output (make_tiny.py's
# output_step.txt): ONNX Runtime (optimizations off) runs the float ops
# between DequantizeLinear and QuantizeLinear, kiln the integer ops with
# the same requantization, so a value within float rounding of a half step
# may land one step away. Measured: 0 difference on the host.
# Exits 1 if any case failed. Run from the repository root (tests/run.sh
# does). Takes about 3-4 minutes on 2 loaded cores, a minute of it making
# the models.
kiln=${1:-build/kiln}
case $kiln in
    */*) ;;
    *) kiln=./$kiln ;;
esac
if [ ! -x "$kiln" ]; then
    echo "FAIL tiny: kiln not found at $kiln"
    exit 1
fi
. tests/boards/symbols.sh
names="resnet8 dscnn mobilenetv1 autoencoder"
models=out/tiny/models
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
key() { sed -n "s/^$2 *= *//p" "targets/boards/$1/board.txt" | head -n 1; }

# --- the models
kinds=""
rm -rf "$models"
mkdir -p "$models"
if ! /usr/bin/python3 -c 'import torch, onnx' >/dev/null 2>&1; then
    echo "SKIP tiny: /usr/bin/python3 has no torch and onnx (apt-get install python3-torch python3-onnx)"
    exit 0
fi
# shellcheck disable=SC2086
if /usr/bin/python3 models/bench/make_bench_models.py --out "$models/float" $names >/dev/null 2>"$err"; then
    pass tiny/make/float
    kinds=float
else
    fail tiny/make/float "$(tail -n 1 "$err")"
fi
if [ -n "$kinds" ]; then
    if ! python3 -c 'import onnxruntime.quantization' >/dev/null 2>&1; then
        echo "SKIP tiny/make/int8: python3 has no onnxruntime.quantization (pip install onnxruntime)"
    elif python3 models/tiny/make_tiny.py --float "$models/float" --out "$models/int8" >"$tmp/int8.log" 2>"$err"; then
        pass tiny/make/int8
        kinds="float int8"
    else
        fail tiny/make/int8 "$(grep -v '^WARNING' "$err" | tail -n 1)"
    fi
    case " $kinds " in
        *" int8 "*)
            if python3 models/tiny/make_tiny.py --float "$models/float" --out "$models/qdq" --format qdq \
                >"$tmp/qdq.log" 2>"$err"; then
                pass tiny/make/qdq
                kinds="$kinds qdq"
            else
                fail tiny/make/qdq "$(grep -v '^WARNING' "$err" | tail -n 1)"
            fi
            ;;
    esac
fi

# check BOARD KIND NAME: kiln check --arch BOARD under its emulator
check() {
    name=tiny/$1/$2/$3
    case " $kinds " in
        *" $2 "*) ;;
        *) echo "SKIP $name: no $2 models"; return ;;
    esac
    case $2 in
        float) tol="--rtol 1e-3 --atol 1e-4" ;;
        int8) tol="--rtol 1e-5 --atol 1e-6" ;;
        *) tol="--rtol 0 --atol $(cat "$models/$2/$3/output_step.txt")" ;;
    esac
    # shellcheck disable=SC2086
    if "$kiln" check --arch "$1" "$models/$2/$3/model.onnx" "$models/$2/$3/test_data_set_0" \
        $tol >/dev/null 2>"$err" </dev/null; then
        pass "$name"
    else
        fail "$name" "$(first_line "$err" "kiln check exited $? with no message")"
    fi
}
# board_ready BOARD: its cross compiler and emulator are installed
board_ready() {
    cc=$(key "$1" cc)
    emu=$(key "$1" run)
    for t in "${cc%% *}" "${emu%% *}"; do
        if ! command -v "$t" >/dev/null 2>&1; then
            echo "SKIP tiny/$1: $t not installed (tests/install.sh installs it)"
            return 1
        fi
    done
    return 0
}

# the QDQ models compile to integer ops with int8 weights
for m in $names; do
    name=tiny/qdq-graph/$m
    case " $kinds " in
        *" qdq "*) ;;
        *) echo "SKIP $name: no qdq models"; continue ;;
    esac
    if ! "$kiln" compile "$models/qdq/$m/model.onnx" -o "$tmp/g" --dump graph >"$tmp/graph" 2>"$err"; then
        fail "$name" "$(first_line "$err" "kiln compile exited with no message")"
    elif float=$(grep -E "= (Conv|MatMul|Gemm|Add|AveragePool|GlobalAveragePool)\(" "$tmp/graph"); then
        fail "$name" "float op left: $(echo "$float" | head -n 1 | cut -c1-100)"
    elif ! grep -qE "= QLinear(Conv|MatMul)\(" "$tmp/graph"; then
        fail "$name" "no QLinearConv or QLinearMatMul in the graph"
    elif grep -E "^const .*_quantized' " "$tmp/graph" | grep -qv "' i8\[\|' i32\["; then
        fail "$name" "a quantized weight is not int8 (or an int32 bias)"
    else
        pass "$name"
    fi
done

if board_ready cortex-m4; then
    for k in float int8 qdq; do
        for m in $names; do
            check cortex-m4 "$k" "$m"
        done
    done
    nm=$(key cortex-m4 cc)
    nm=${nm%% *}
    nm=${nm%gcc}nm
    for km in float/resnet8 int8/resnet8 int8/dscnn int8/mobilenetv1 int8/autoencoder qdq/resnet8; do
        name=tiny/cortex-m4/lib/$km
        case " $kinds " in
            *" ${km%/*} "*) ;;
            *) echo "SKIP $name: no ${km%/*} models"; continue ;;
        esac
        out=$tmp/lib
        rm -rf "$out"
        if ! "$kiln" compile --arch cortex-m4 --emit lib "$models/$km/model.onnx" -o "$out" >/dev/null 2>"$err"; then
            fail "$name" "$(first_line "$err" "kiln compile exited with no message")"
            continue
        fi
        stack=$(sed -n 's/.*stack of model_run \([0-9][0-9]*\) bytes worst case.*/\1/p' "$err")
        if [ ! -f "$out/libmodel.a" ] || [ ! -f "$out/model.h" ]; then
            fail "$name" "no libmodel.a and model.h"
        elif ! why=$(check_symbols "$nm" "$out/libmodel.a" "$tmp"); then
            fail "$name" "$why"
        elif [ -z "$stack" ] || [ "$stack" -le 0 ]; then
            fail "$name" "compile reports no worst-case stack of model_run: $(first_line "$err" "")"
        else
            pass "$name"
        fi
    done
    # the shared check must reject what the inference path may not call
    name=tiny/lib-check-fails
    printf '#include <stdio.h>\n#include <stdlib.h>\nint model_run(void) { void *p = malloc(8); printf("%%p", p); free(p); return 0; }\n' \
        >"$tmp/bad.c"
    cc=$(key cortex-m4 cc)
    ar=$(key cortex-m4 ar)
    # shellcheck disable=SC2086
    if ${cc%% *} -c "$tmp/bad.c" -o "$tmp/bad.o" 2>"$err" && ${ar%% *} rcs "$tmp/bad.a" "$tmp/bad.o" 2>>"$err"; then
        if why=$(check_symbols "$nm" "$tmp/bad.a" "$tmp"); then
            fail "$name" "an archive calling malloc and printf passed the symbol check"
        else
            case $why in
                *malloc*) pass "$name" ;;
                *) fail "$name" "rejected for another reason: $why" ;;
            esac
        fi
    else
        fail "$name" "cannot build the test archive: $(first_line "$err" "")"
    fi
fi
for b in aarch64-linux riscv64-linux; do
    board_ready $b || continue
    check $b float resnet8
    check $b int8 dscnn
done
exit $status
