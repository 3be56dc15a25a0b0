#!/bin/sh
# tests/boards/run.sh KILN [TARGET]: kiln on the boards of targets/boards/,
# under their emulators. One line per case, "PASS boards/..." or
# "FAIL boards/...: reason"; a board whose cross compiler or emulator is
# not installed gets one "SKIP boards/<board>: ..." line naming the package
# (tests/install.sh installs them). Cases, per board:
#   boards/<b>/models/<name>   kiln check --arch <b> on each bundled model
#   boards/<b>/node/<test>     kiln check --arch <b> on a few ONNX node tests
#                              (f32 f64 f16 bf16 i8 i16 i64 u8 u64 bool; conv,
#                              pooling, matmul, LSTM, libm functions, ...)
#   boards/<b>/lib/<name>      --emit lib: the archive's undefined symbols are
#                              only memcpy/memset/memmove/memcmp, libm and the
#                              compiler's arithmetic helpers (no malloc, free,
#                              printf, file I/O); and compile reports the
#                              worst-case stack of model_run, with every
#                              kernel's frame counted
#   boards/<b>/lib-check-fails the same symbol check rejects an object that
#                              calls malloc and printf (it is not vacuous)
# and once: boards/fit (inspect --arch cortex-m4 says the model fits, and a
# copy of the board with 64K of flash says by how much it does not, and its
# link fails), boards/folder-errors (a bad board folder is one clear line,
# exit 2), boards/bench (bench --arch riscv64-linux ends with its summary
# line), boards/arch-names (the machine names still work).
# With TARGET (llvm), the cases per board (models, node, lib) run with
# --target TARGET, their lines ending " --target TARGET"; the cases of the
# board machinery itself (lib-check-fails and the ones run once) are the
# C run's and are left out; with llvm, boards/no-llvm-triple checks that
# a board folder without llvm_triple is one clear line, exit 1. Exits 1 if
# any failed. Run from the repository root (tests/run.sh does).
kiln=${1:-build/kiln}
target=${2:-}
suffix=${target:+ --target $target}
case $kiln in
    */*) ;;
    *) kiln=./$kiln ;;
esac
if [ ! -x "$kiln" ]; then
    echo "FAIL boards: kiln not found at $kiln"
    exit 1
fi
# the node tests: $KILN_ONNX_TESTS as run_conformance.py takes it (a
# worktree that has no ../shared beside it), else ../shared beside the tree
node=${KILN_ONNX_TESTS:-../shared/onnx-tests/node}
nodetests="test_add test_conv_with_strides_padding test_maxpool_2d_default test_matmul_2d test_softmax_axis_1
test_lstm_defaults test_erf test_tanh test_layer_normalization_2d_axis0 test_cast_FLOAT_to_DOUBLE
test_cast_FLOAT_to_FLOAT16 test_cast_FLOAT_to_BFLOAT16 test_div_int8 test_mul_int16 test_argmax_default_axis_example
test_add_uint8 test_sub_uint64 test_equal test_where_example"
libmodels="lenet bert lstm opsmix"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
err=$tmp/err
status=0

pass() { echo "PASS $1"; }
fail() {
    echo "FAIL $1: $2"
    status=1
}
# first non-empty line of the file, or a default
first_line() {
    line=$(sed -n '/./{p;q;}' "$1")
    [ -n "$line" ] || line=$2
    echo "$line"
}
# value of key in board.txt
key() { sed -n "s/^$2 *= *//p" "targets/boards/$1/board.txt" | head -n 1; }

# check_symbols NM ARCHIVE: every symbol the archive needs and does not
# define is allowed; prints the first one that is not.
allowed='^(memcpy|memset|memmove|memcmp)$'
allowed_libm='^(exp|expm1|exp2|log|log1p|log2|log10|pow|sqrt|cbrt|sin|cos|tan|asin|acos|atan|atan2|sinh|cosh|tanh|asinh|acosh|atanh|erf|erfc|tgamma|lgamma|fabs|floor|ceil|round|roundeven|trunc|rint|nearbyint|lrint|llrint|lround|llround|fmod|remainder|fmin|fmax|fma|copysign|hypot|ldexp|frexp|modf|nextafter)[fl]?$'
# libgcc's arithmetic helpers (__aeabi_* on Arm; __divdi3, __extendhfsf2, ...)
allowed_helpers='^(__aeabi_[a-z0-9_]+|__(add|sub|mul|div|neg|extend|trunc|fix|fixuns|float|floatun|cmp|eq|ne|lt|le|gt|ge|unord|pow|popcount|clz|ctz|ashl|ashr|lshr|udiv|umod|mod|udivmod|divmod|bswap)[a-z0-9]*)$'
check_symbols() {
    "$1" "$2" >"$tmp/nm" 2>"$err" || { echo "nm failed: $(first_line "$err" "")"; return 1; }
    awk '$1 == "U" { print $2 }' "$tmp/nm" | sort -u >"$tmp/undef"
    awk 'NF >= 3 && $2 ~ /^[TDRBCVWtdrb]$/ { print $3 }' "$tmp/nm" | sort -u >"$tmp/def"
    bad=$(comm -23 "$tmp/undef" "$tmp/def" | grep -Ev "$allowed" | grep -Ev "$allowed_libm" |
          grep -Ev "$allowed_helpers" | head -n 5 | tr '\n' ' ')
    if [ -n "$bad" ]; then
        echo "needs symbols outside memcpy/memset/libm: $bad"
        return 1
    fi
    if ! [ -s "$tmp/def" ] || ! grep -qx model_run "$tmp/def"; then
        echo "the archive defines no model_run"
        return 1
    fi
    return 0
}

for b in cortex-m4 aarch64-linux riscv64-linux; do
    cc=$(key $b cc)
    cc=${cc%% *}
    emu=$(key $b run)
    emu=${emu%% *}
    case $b in
        cortex-m4) pkgs="gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm" ;;
        aarch64-linux) pkgs="gcc-aarch64-linux-gnu qemu-user" ;;
        riscv64-linux) pkgs="gcc-riscv64-linux-gnu qemu-user" ;;
    esac
    missing=""
    command -v "$cc" >/dev/null 2>&1 || missing="$cc"
    command -v "$emu" >/dev/null 2>&1 || missing="$missing $emu"
    if [ -n "$missing" ]; then
        echo "SKIP boards/$b: not installed:$missing (apt-get install $pkgs; tests/install.sh does)"
        continue
    fi
    for dir in models/*/; do
        dir=${dir%/}
        [ -d "$dir/test_data_set_0" ] || continue
        name="boards/$b/models/${dir#models/}$suffix"
        if "$kiln" check --arch $b ${target:+--target "$target"} "$dir/model.onnx" "$dir/test_data_set_0" \
            --rtol 1e-3 --atol 1e-4 >/dev/null 2>"$err" </dev/null; then
            pass "$name"
        else
            fail "$name" "$(first_line "$err" "kiln check exited $? with no message")"
        fi
    done
    for t in $nodetests; do
        name="boards/$b/node/$t$suffix"
        if [ ! -d "$node/$t" ]; then
            fail "$name" "no $node/$t"
            continue
        fi
        if "$kiln" check --arch $b ${target:+--target "$target"} "$node/$t/model.onnx" "$node/$t/test_data_set_0" \
            >/dev/null 2>"$err" </dev/null; then
            pass "$name"
        else
            fail "$name" "$(first_line "$err" "kiln check exited $? with no message")"
        fi
    done
    nm=${cc%gcc}nm
    ar=$(key $b ar)
    for m in $libmodels; do
        name="boards/$b/lib/$m$suffix"
        out=$tmp/lib-$b-$m
        if ! "$kiln" compile --arch $b ${target:+--target "$target"} --emit lib "models/$m/model.onnx" -o "$out" \
            >/dev/null 2>"$err"; then
            fail "$name" "$(first_line "$err" "kiln compile exited with no message")"
            continue
        fi
        # compile's report: "stack of model_run N bytes worst case (...)"
        stack=$(sed -n 's/.*stack of model_run \([0-9][0-9]*\) bytes worst case.*/\1/p' "$err")
        frame=$(sed -n 's/.*:model_run[[:space:]]\([0-9][0-9]*\)[[:space:]].*/\1/p' "$out/model.su")
        if [ ! -f "$out/libmodel.a" ] || [ ! -f "$out/model.h" ]; then
            fail "$name" "no libmodel.a and model.h in $out"
        elif [ -n "$target" ] && ! ${ar%% *} t "$out/libmodel.a" | grep -qx model_kernels.o; then
            fail "$name" "libmodel.a holds no model_kernels.o: $(${ar%% *} t "$out/libmodel.a" | tr '\n' ' ')"
        elif ! why=$(check_symbols "$nm" "$out/libmodel.a"); then
            fail "$name" "$why"
        elif [ -z "$stack" ] || [ -z "$frame" ] || [ "$stack" -lt "$frame" ]; then
            fail "$name" "no worst-case stack of model_run at least its own frame (${frame:-?} bytes) in: $(first_line "$err" "")"
        elif grep -q "not counted, outside the build:.* model_k" "$err"; then
            fail "$name" "the kernels' frames are not counted: $(grep 'stack of model_run' "$err")"
        else
            pass "$name"
        fi
    done
    [ -z "$target" ] || continue
    # the check itself must reject what the inference path may not call
    name=boards/$b/lib-check-fails
    printf '#include <stdio.h>\n#include <stdlib.h>\nint model_run(void) { void *p = malloc(8); printf("%%p", p); free(p); return 0; }\n' \
        >"$tmp/bad.c"
    if "$cc" -c "$tmp/bad.c" -o "$tmp/bad.o" 2>"$err" && ${ar%% *} rcs "$tmp/bad.a" "$tmp/bad.o" 2>>"$err"; then
        if why=$(check_symbols "$nm" "$tmp/bad.a"); then
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
    rm -f "$tmp/bad.o" "$tmp/bad.a"
done

# --target llvm on a board folder without llvm_triple: one line, exit 1
if [ "$target" = llvm ]; then
    name="boards/no-llvm-triple$suffix"
    mkdir -p "$tmp/nollvm"
    grep -v '^llvm_' targets/boards/aarch64-linux/board.txt >"$tmp/nollvm/board.txt"
    "$kiln" compile --arch "$tmp/nollvm" --target llvm models/mlp/model.onnx -o "$tmp/nollvm-out" >/dev/null 2>"$err"
    rc=$?
    if [ $rc -ne 1 ] || [ "$(wc -l <"$err")" -ne 1 ] || ! grep -q "board nollvm has no llvm_triple" "$err"; then
        fail "$name" "exit $rc, expected 1 and one line saying the board has no llvm_triple: $(first_line "$err" "")"
    elif [ -e "$tmp/nollvm-out/model" ]; then
        fail "$name" "a model was built"
    else
        pass "$name"
    fi
fi

# the cases that follow test the board machinery, the same for every target
[ -z "$target" ] || exit $status

# --- fit: measured flash and RAM against the board's, and a board too small
if command -v arm-none-eabi-gcc >/dev/null 2>&1 && command -v qemu-system-arm >/dev/null 2>&1; then
    name=boards/fit
    if ! "$kiln" inspect --arch cortex-m4 models/lenet/model.onnx >"$tmp/fit" 2>"$err"; then
        fail "$name" "$(first_line "$err" "kiln inspect failed with no message")"
    elif ! grep -Eq '^flash +[0-9]+ of 4194304 bytes .*: fits, [0-9]+ bytes free$' "$tmp/fit" ||
         ! grep -Eq '^ram +[0-9]+ of 4194304 bytes .*: fits, [0-9]+ bytes free$' "$tmp/fit" ||
         ! grep -Eq '^stack +[1-9][0-9]* bytes worst case: model_run' "$tmp/fit"; then
        fail "$name" "inspect says no fit or stack for lenet on cortex-m4: $(tr '\n' '|' <"$tmp/fit" | tail -c 300)"
    else
        # the same board with 64K of flash: lenet's 247K of weights do not fit
        mkdir -p "$tmp/small"
        cp targets/boards/cortex-m4/* "$tmp/small/"
        sed 's/^flash = .*/flash = 64K/' targets/boards/cortex-m4/board.txt >"$tmp/small/board.txt"
        "$kiln" inspect --arch "$tmp/small" models/lenet/model.onnx >"$tmp/fit" 2>"$err"
        if ! grep -Eq '^flash +[0-9]+ of 65536 bytes: does not fit, [0-9]+ bytes over$' "$tmp/fit"; then
            fail "$name" "inspect on a 64K-flash board does not say lenet is over: $(grep '^flash' "$tmp/fit")"
        elif "$kiln" compile --arch "$tmp/small" models/lenet/model.onnx -o "$tmp/small-out" >/dev/null 2>"$err"; then
            fail "$name" "lenet linked for a board with 64K of flash"
        elif ! grep -q "overflowed" "$err"; then
            fail "$name" "the failed link does not say what overflowed: $(first_line "$err" "")"
        else
            pass "$name"
        fi
    fi
else
    echo "SKIP boards/fit: arm-none-eabi-gcc or qemu-system-arm not installed"
fi

# --- bench under an emulator ends with its machine-readable line
name=boards/bench
if command -v riscv64-linux-gnu-gcc >/dev/null 2>&1 && command -v qemu-riscv64 >/dev/null 2>&1; then
    if ! "$kiln" bench --arch riscv64-linux models/mlp/model.onnx --iters 3 >"$tmp/bench" 2>"$err" </dev/null; then
        fail "$name" "$(first_line "$err" "kiln bench failed with no message")"
    elif ! tail -n 1 "$tmp/bench" | grep -Eq '^median_ms=[0-9.]+ p10_ms=[0-9.]+ p90_ms=[0-9.]+ iters=3 threads=1$'; then
        fail "$name" "last line: $(tail -n 1 "$tmp/bench")"
    else
        pass "$name"
    fi
else
    echo "SKIP boards/bench: riscv64-linux-gnu-gcc or qemu-riscv64 not installed"
fi

# --- a bad board folder: one line naming the file, exit 2
name=boards/folder-errors
mkdir -p "$tmp/badboard"
cp targets/boards/aarch64-linux/board.txt "$tmp/badboard/"
echo "flsh = 1M" >>"$tmp/badboard/board.txt"
"$kiln" compile --arch "$tmp/badboard" models/mlp/model.onnx -o "$tmp/bad-out" >/dev/null 2>"$err"
rc=$?
if [ $rc -ne 2 ] || [ "$(wc -l <"$err")" -ne 1 ] || ! grep -q "badboard/board.txt:[0-9]*: unknown key 'flsh'" "$err"; then
    fail "$name" "exit $rc, expected 2 and one line naming board.txt's line: $(first_line "$err" "")"
elif "$kiln" compile --arch 'cortex-m4;true' models/mlp/model.onnx -o "$tmp/bad-out" >/dev/null 2>"$err"; then
    fail "$name" "--arch 'cortex-m4;true' was accepted"
elif ! grep -q "unknown --arch 'cortex-m4;true'" "$err"; then
    fail "$name" "--arch 'cortex-m4;true': $(first_line "$err" "")"
else
    pass "$name"
fi

# --- the machine names schedule without a board (built with the host cc)
name=boards/arch-names
ok=1
for a in host generic aarch64; do
    "$kiln" compile --arch $a --emit src models/mlp/model.onnx -o "$tmp/arch-$a" >/dev/null 2>"$err" || {
        fail "$name" "--arch $a: $(first_line "$err" "")"
        ok=0
    }
done
[ $ok -eq 0 ] || pass "$name"
exit $status
