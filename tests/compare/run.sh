#!/bin/sh
# tests/compare/run.sh KILN: `kiln compare` (docs/compare.md).
#
# One line per case, "PASS compare/<case>", "FAIL compare/<case>: <why>"
# or "SKIP compare/<case>: <why>"; exits 1 if any failed. Cases:
#   - each operator against the naive reference: exit 0, the last line
#     machine-readable, max_abs_err under 1e-3;
#   - MatMul and Conv against OpenBLAS when libopenblas.so.0 loads (SKIP
#     otherwise), and the one-line message when the library is missing
#     (KILN_OPENBLAS naming a file that is not there);
#   - a user's function (tests/compare/user_conv_relu.c) that is right
#     passes, one that forgets the Relu exits 1 with one line, one that
#     crashes exits 1 with one line; a file path with shell characters is
#     compiled as it is, running nothing;
#   - a model with an output of data-dependent shape (Relu -> NonZero,
#     tests/compare/user_dynamic.c): the right Relu agrees, one that
#     changes the output's shape exits 1 with one line;
#   - bad flags exit 2 with exactly one line on stderr;
#   - one kernel of a bundled model swapped for a user's function
#     (tests/compare/user_lenet.c, user_mobilenetv3.c): --kernel list names
#     the nodes and the conversions; a right function passes (a Conv+Relu
#     whose input and output kiln stores channels last, a Gemm+Relu on the
#     test's inputs, a chain whose output has a zero border and one that
#     reads a value inside its border, on 2 threads); a wrong one exits 1
#     with one line; a model and a file whose paths hold shell characters
#     run nothing. The bad-input cases of that mode are
#     tests/errors/cases_compare.txt.
# Timing is cut short (--iters 3 --budget 0.2): this checks behaviour, not
# speed. POSIX sh. Run from anywhere.

kiln=${1:-build/kiln}
case $kiln in
    /*) ;;
    *) kiln=$(pwd)/$kiln ;;
esac
cd "$(dirname "$0")/../.." || exit 1
root=$(pwd)
if [ ! -x "$kiln" ]; then
    echo "FAIL compare: kiln not found at $kiln"
    exit 1
fi
work=$(mktemp -d) || exit 1
trap 'rm -rf "$work"' EXIT
# compare's own temporary folders (kept after a failure) go here too
TMPDIR=$work
export TMPDIR
failed=0
fast="--iters 3 --warmup 0 --budget 0.2"
last_re='^kiln_ms=[0-9.]+ ref_ms=[0-9.]+ ratio=[0-9.]+ max_abs_err=[-0-9.e+]+ max_rel_err=[-0-9.e+]+$'

fail() { echo "FAIL compare/$1: $2"; failed=1; }

# agree NAME ARGS...: compare exits 0 with a well-formed last line and a
# small error
agree() {
    name=$1
    shift
    (cd "$work" && $kiln compare "$@" $fast) >"$work/out" 2>"$work/err"
    rc=$?
    last=$(tail -n 1 "$work/out")
    if grep -q 'OpenBLAS not found' "$work/err"; then
        echo "SKIP compare/$name: $(head -n 1 "$work/err")"
    elif [ $rc -ne 0 ]; then
        fail "$name" "exit $rc: $(head -n 1 "$work/err")"
    elif ! echo "$last" | grep -Eq "$last_re"; then
        fail "$name" "last line '$last'"
    elif ! echo "$last" | awk '{ split($4, e, "="); exit !(e[2] + 0 < 1e-3) }'; then
        fail "$name" "error too large: $last"
    else
        echo "PASS compare/$name"
    fi
}

# differ NAME PATTERN ARGS...: compare exits 1 with one line on stderr
# matching PATTERN
differ() {
    name=$1 pat=$2
    shift 2
    (cd "$work" && $kiln compare "$@" $fast) >"$work/out" 2>"$work/err"
    rc=$?
    if [ $rc -ne 1 ]; then
        fail "$name" "exit $rc, expected 1: $(head -n 1 "$work/err")"
    elif [ "$(wc -l <"$work/err")" -ne 1 ]; then
        fail "$name" "expected one line on stderr, got $(wc -l <"$work/err")"
    elif ! grep -Eq "$pat" "$work/err"; then
        fail "$name" "stderr '$(head -n 1 "$work/err")' does not match '$pat'"
    else
        echo "PASS compare/$name"
    fi
}

# usage NAME PATTERN ARGS...: exit 2, one line on stderr matching PATTERN
usage() {
    name=$1 pat=$2
    shift 2
    (cd "$work" && $kiln compare "$@") >"$work/out" 2>"$work/err"
    rc=$?
    if [ $rc -ne 2 ]; then
        fail "usage-$name" "exit $rc, expected 2"
    elif [ "$(wc -l <"$work/err")" -ne 1 ]; then
        fail "usage-$name" "expected one line on stderr, got $(wc -l <"$work/err")"
    elif ! grep -Eq "^kiln compare: .*$pat" "$work/err"; then
        fail "usage-$name" "stderr '$(head -n 1 "$work/err")' does not match '$pat'"
    else
        echo "PASS compare/usage-$name"
    fi
}

# --- each operator against the naive reference
agree matmul MatMul --shape A=48x40 --shape B=40x56
agree matmul-batched MatMul --shape A=3x1x17x24 --shape B=4x24x9
agree matmul-runtime-b MatMul --shape A=2x12x16x8 --shape B=2x12x8x16 --input B
agree gemm Gemm --shape A=40x24 --shape B=32x24 --shape C=32 --attr transB=1 --attr alpha=0.5 --attr beta=2
agree gemm-transa Gemm --shape A=24x40 --shape B=24x32 --attr transA=1
agree conv Conv --shape X=1x8x13x11 --shape W=16x8x3x3 --attr pads=1,1,1,1 --attr strides=2,2
agree conv-grouped Conv --shape X=2x8x9x9 --shape W=12x2x3x3 --shape B=12 --attr group=4 --attr auto_pad=SAME_UPPER --attr dilations=2,2
agree conv-depthwise Conv --shape X=1x32x14x14 --shape W=32x1x3x3 --shape B=32 --attr group=32 --attr pads=1,1,1,1
agree conv-relu Conv+Relu --shape X=1x16x12x12 --shape W=24x16x3x3 --shape B=24 --attr pads=1,1,1,1
agree gemm-relu Gemm+Relu --shape A=16x64 --shape B=64x48 --shape C=48
agree softmax Softmax --shape input=2x4x33x40
agree softmax-axis Softmax --shape input=4x10x6 --attr axis=1
agree layernorm LayerNormalization --shape X=2x17x96
agree layernorm-axis LayerNormalization --shape X=3x5x8x4 --attr axis=2 --attr epsilon=0.001

# --- OpenBLAS, found at run time
agree openblas-matmul MatMul --shape A=64x96 --shape B=96x80 --ref openblas
agree openblas-conv Conv+Relu --shape X=1x8x10x10 --shape W=16x4x3x3 --shape B=16 --attr group=2 --attr pads=1,1,1,1 --ref openblas

# a missing library: one line, exit 1
KILN_OPENBLAS=$work/no/libopenblas.so.0
export KILN_OPENBLAS
differ openblas-missing "^kiln compare: OpenBLAS not found: cannot load KILN_OPENBLAS" \
    MatMul --shape A=8x8 --shape B=8x8 --ref openblas
unset KILN_OPENBLAS

# --- the user's function
user=$root/tests/compare/user_conv_relu.c
conv="Conv+Relu --shape X=1x4x6x6 --shape W=8x4x3x3 --shape B=8 --attr pads=1,1,1,1"
agree user-right $conv --ref "$user:conv_relu"
differ user-wrong "kiln and conv_no_relu disagree: [0-9]+ of 288 elements" $conv --ref "$user:conv_no_relu"
differ user-crash "stopped by signal" $conv --ref "$user:conv_crash"
differ user-missing "undefined reference to .nosuch" $conv --ref "$user:nosuch"
# a path with shell characters is one argument of the compiler, nothing more
odd="$work/x \$(touch $work/INJECTED); y"
mkdir -p "$odd" && cp "$user" "$odd/a;b.c"
agree user-odd-path $conv --ref "$odd/a;b.c:conv_relu"
if [ -e "$work/INJECTED" ]; then
    fail user-odd-path-injection "a file name ran as a command"
fi

# --- one kernel of a model swapped for the user's function
lenet=$root/models/lenet/model.onnx
mine=$root/tests/compare/user_lenet.c
(cd "$work" && $kiln compare "$lenet" --kernel list) >"$work/out" 2>"$work/err"
rc=$?
if [ $rc -ne 0 ] || [ -s "$work/err" ]; then
    fail kernel-list "exit $rc: $(head -n 1 "$work/err")"
elif ! grep -q "^  k2_conv2_Conv_Relu_1\$" "$work/out" ||
    ! grep -q "nodes      '/conv2/Conv' (Conv) \[.*\] -> '/Relu_1' (Relu)" "$work/out" ||
    ! grep -q "input 0    '/pool1/MaxPool_output_0' f32\[1x6x14x14\]: kiln stores it with its dims in the order 0,2,3,1, copied to row-major" "$work/out" ||
    ! grep -q "input 1    'conv2.weight' f32\[16x6x5x5\]: a constant" "$work/out"; then
    fail kernel-list "the listing lacks k2's nodes or arguments"
else
    echo "PASS compare/kernel-list"
fi
agree kernel-conv-relu "$lenet" --kernel k2_conv2_Conv_Relu_1 --ref "$mine:conv2_relu"
differ kernel-conv-relu-wrong "the model with conv2_relu_wrong in kernel k2_conv2_Conv_Relu_1 disagrees with kiln's: [0-9]+ output elements" \
    "$lenet" --kernel k2 --ref "$mine:conv2_relu_wrong"
agree kernel-gemm-relu-data "$lenet" --kernel k5 --ref "$mine:fc1_relu" --data "$root/models/lenet/test_data_set_0"
agree kernel-threads "$lenet" --kernel k2 --ref "$mine:conv2_relu" --threads 2
agree kernel-halo "$root/models/mobilenetv3/model.onnx" --kernel k1_HardSigmoid_Mul \
    --ref "$root/tests/compare/user_mobilenetv3.c:hardswish"
agree kernel-halo-input "$root/models/mobilenetv3/model.onnx" --kernel k7_Mul_2_Add \
    --ref "$root/tests/compare/user_mobilenetv3.c:se_scale_add"
# the report says which arguments were converted
(cd "$work" && $kiln compare "$lenet" --kernel k2 --ref "$mine:conv2_relu" $fast) >"$work/out" 2>&1
if grep -q "^  layout     converted: input 0, output 0 " "$work/out"; then
    echo "PASS compare/kernel-layout-report"
else
    fail kernel-layout-report "no 'layout converted: input 0, output 0' line"
fi
# a model and a file whose paths hold shell characters: arguments, nothing more
cp "$lenet" "$odd/m;\$(touch x).onnx" && cp "$mine" "$odd/u \$(touch x).c"
agree kernel-odd-path "$odd/m;\$(touch x).onnx" --kernel k2 --ref "$odd/u \$(touch x).c:conv2_relu"
if [ -e "$work/INJECTED" ] || [ -e "$work/x" ]; then
    fail kernel-odd-path-injection "a path ran as a command"
fi

# --- a model whose output shape depends on the data (NonZero after the
# swapped Relu): both builds must give it one shape, and only its elements
# are compared; a function that changes the shape disagrees
dyn=$work/relu_nonzero.onnx
if python3 - "$dyn" <<'EOF' 2>"$work/err"
import sys
from onnx import TensorProto as T, helper, save
g = helper.make_graph([helper.make_node("Relu", ["x"], ["r"], name="relu"),
                       helper.make_node("NonZero", ["r"], ["y"], name="nz")], "g",
                      [helper.make_tensor_value_info("x", T.FLOAT, [4, 5])],
                      [helper.make_tensor_value_info("y", T.INT64, None)])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
m.ir_version = 7
save(m, sys.argv[1])
EOF
then
    agree kernel-dynamic-shape "$dyn" --kernel k0_relu --ref "$root/tests/compare/user_dynamic.c:relu"
    differ kernel-dynamic-shape-wrong "the two builds gave an output different shapes: y" \
        "$dyn" --kernel k0_relu --ref "$root/tests/compare/user_dynamic.c:relu_wrong"
else
    fail kernel-dynamic-shape "cannot write the model: $(head -n 1 "$work/err")"
fi

# --- bad flags: exit 2, one line
usage no-op "needs an OP"
usage unknown-op "unknown OP 'Foo'" Foo --shape A=2x2
usage unknown-chain "unknown chain" Conv+Tanh --shape X=1x1x3x3 --shape W=1x1x1x1
usage missing-shape "needs --shape for its input 'B'" MatMul --shape A=2x2
usage bad-shape "DIMS must be like" MatMul --shape A=2xx2 --shape B=2x2
usage wrong-input "NAME an input of the op" MatMul --shape Q=2x2 --shape B=2x2
usage mismatch "differs from B's" MatMul --shape A=2x3 --shape B=4x2
usage attr-unknown "attribute 'foo'" Conv --shape X=1x1x3x3 --shape W=1x1x1x1 --attr foo=1
usage attr-pads "pads needs 4 values" Conv --shape X=1x1x3x3 --shape W=1x1x1x1 --attr pads=1,1
usage group "group 3" Conv --shape X=1x4x3x3 --shape W=4x1x1x1 --attr group=3
usage dtype "f32 only" MatMul --shape A=2x2 --shape B=2x2 --dtype f16
usage iters "--iters expects" MatMul --shape A=2x2 --shape B=2x2 --iters 0
usage ref-openblas-softmax "covers MatMul, Gemm and Conv" Softmax --shape input=2x2 --ref openblas
usage ref-no-file "no C file" MatMul --shape A=2x2 --shape B=2x2 --ref nosuch.c:f
usage ref-bad-func "not a C function name" MatMul --shape A=2x2 --shape B=2x2 --ref "$user:a(b)"
usage unknown-option "unknown option '--bogus'" MatMul --shape A=2x2 --shape B=2x2 --bogus
usage rtol-inf "expects a number" MatMul --shape A=2x2 --shape B=2x2 --rtol inf
usage alpha-nan "expects a number" Gemm --shape A=2x2 --shape B=2x2 --attr alpha=nan
usage missing-value "needs a value" MatMul --shape A=2x2 --shape B=2x2 --iters

exit $failed
